%% @doc What Python sends towards Erlang, bounded: the port owner's side of
%% `erlang.send', `erlang.call', Python's output and the atoms Python data
%% makes (docs/reliability.md, "What Python sends towards Erlang").
%%
%% DESIGN: {@link py_port_owner} hands this module the frames whose routing
%% header is `py_send', `py_output' or `{py_callback, Id}', the event
%% `{atom, Name}', and the messages that belong to them; the flow state
%% lives in the owner's state. Nothing here blocks or waits.
%%
%% - `erlang.send': py_port counts the bytes it sent that Erlang has not
%%   taken yet and makes Python wait beyond a window (app env
%%   `send_window'). The owner gives the bytes of a message back with the
%%   request `{send_credit, flow, Bytes}' once the message has left the
%%   target's mailbox: every ?CHECK_MS while messages are held (at most
%%   ?CHECK_CHUNK targets a time), the target's `message_queue_len' tells how many of the last messages sent
%%   to it can still be there; a dead target holds none. Credit leaves in
%%   batches (a quarter of the window, at most ?CREDIT_BATCH, or at the
%%   check).
%% - `erlang.call': each call runs in a process of its own; one that
%%   cannot be spawned (the node's process limit) is answered with
%%   `erlang.Error' (`error: system_limit') instead of crashing the owner.
%% - output: the bytes of the batches forwarded to `py_output' and not yet
%%   handled are counted in an atomic; beyond `max_output_backlog' a batch
%%   is dropped and counted, and `py_output' logs the count.
%% - atoms: the new atoms that Python data made are counted for the
%%   node's life (an atomic in `persistent_term', which outlives the port
%%   and the application); each port gets what is left of `max_new_atoms'.
-module(py_flow).

-include_lib("kernel/include/logger.hrl").

%% API
-export([new/0]).
-export([port_args/0]).
-export([route/4]).
-export([atom_admitted/1]).
-export([handle_info/3]).
-export([output_started/0]).
-export([output_handled/1]).
-export([take_output_dropped/0]).
-export([output_backlog/0]).
-export([atoms_used/0]).

-export_type([flow/0]).

-define(COUNTERS_KEY, {?MODULE, counters}).
%% Indices of the node-life atomics.
-define(OUTPUT_QUEUED, 1).
-define(OUTPUT_DROPPED, 2).
-define(ATOMS_USED, 3).

%% Bytes a message costs beyond its payload (bookkeeping here, the
%% message's envelope); py_port adds the same (FLOW_MESSAGE_COST).
-define(MESSAGE_COST, 256).
%% Credit owed to the port that leaves at once, at most, in bytes.
-define(CREDIT_BATCH, 1024 * 1024).
%% Held targets whose mailbox one check reads (a few microseconds each).
-define(CHECK_CHUNK, 500).
%% How often held messages are checked again, in ms.
-define(CHECK_MS, 20).

-record(flow, {
    %% Processes running an Erlang function for Python, by monitor.
    callbacks = #{} :: #{reference() => non_neg_integer()},
    %% Per local target, the messages sent to it that may still be in its
    %% mailbox: how many, their total cost, and each one's, oldest first.
    held = #{} :: #{pid() => held()},
    %% Bytes taken by their targets, not given back to the port yet, and
    %% how many are given back at once.
    owed = 0 :: non_neg_integer(),
    batch = ?CREDIT_BATCH :: pos_integer(),
    %% Where the next check goes on in `held' (none: from the start).
    cursor = none :: none | maps:iterator(pid(), held()),
    %% The timer of the next check, while anything is held or owed.
    timer = undefined :: undefined | reference()
}).

-type held() :: {non_neg_integer(), non_neg_integer(), queue:queue(pos_integer())}.
-opaque flow() :: #flow{}.

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc A new flow state, for a new port. Creates the node-life counters
%% on first use (py_output and the owner start one after the other).
-spec new() -> flow().
new() ->
    _ = counters(),
    Window = py_config:get(send_window),
    #flow{batch = max(1, min(?CREDIT_BATCH, Window div 4))}.

%% @doc The arguments of `py_port' that carry the limits of this module:
%% `--send-window', `--send-timeout-ms' and the atom budget left for this
%% port (`--atom-cap', `--atom-budget'). The values come through
%% {@link py_config}, which checked them at the start.
-spec port_args() -> [string()].
port_args() ->
    Cap = py_config:get(max_new_atoms),
    Left = max(0, Cap - atomics:get(counters(), ?ATOMS_USED)),
    ["--send-window", integer_to_list(py_config:get(send_window)),
     "--send-timeout-ms", integer_to_list(py_config:get(send_timeout)),
     "--atom-cap", integer_to_list(Cap), "--atom-budget", integer_to_list(Left)].

%% @doc Handles a frame from Python code whose routing header is `Hdr'
%% (`py_send', `py_output' or `{py_callback, Id}').
-spec route(py_send | py_output | {py_callback, non_neg_integer()}, binary(), port(), flow()) ->
          flow().
route(py_send, Payload, Port, Flow) ->
    send(Payload, Port, Flow);
route(py_output, Payload, _Port, Flow) ->
    output(Payload),
    Flow;
route({py_callback, Id}, Payload, Port, #flow{callbacks = Callbacks} = Flow) ->
    %% The function runs in a process of its own; at the node's process
    %% limit the call is answered, and the owner lives on.
    try spawn_monitor(py_callback, run, [Port, self(), Id, Payload]) of
        {_, Mon} -> Flow#flow{callbacks = Callbacks#{Mon => Id}}
    catch
        error:system_limit ->
            py_callback:refused(Port, Id, system_limit),
            Flow
    end.

%% @doc The port admitted the atom `Name' from Python data (event `{atom,
%% Name}', written before any frame that carries it): one more of the
%% node's budget is spent, unless the node has that atom already.
-spec atom_admitted(binary()) -> ok.
atom_admitted(Name) when is_binary(Name) ->
    try binary_to_existing_atom(Name) of
        _ -> ok
    catch
        error:badarg -> atomics:add(counters(), ?ATOMS_USED, 1)
    end.

%% @doc Handles a message that belongs to this module: `{ok, Flow}', or
%% `unknown'.
-spec handle_info(term(), port(), flow()) -> {ok, flow()} | unknown.
handle_info({'DOWN', Mon, process, _, Reason}, Port, #flow{callbacks = Callbacks} = Flow)
  when is_map_key(Mon, Callbacks) ->
    %% A callback process ended; one that died before it answered is
    %% answered for.
    {Id, Rest} = maps:take(Mon, Callbacks),
    Reason =:= normal orelse py_callback:died(Port, Id, Reason),
    {ok, Flow#flow{callbacks = Rest}};
handle_info({?MODULE, check}, Port, Flow) ->
    {ok, check(Port, Flow#flow{timer = undefined})};
handle_info(_Info, _Port, _Flow) ->
    unknown.

%% @doc A new `py_output' starts with an empty mailbox: nothing is queued
%% for it. Creates the node-life counters on first use.
-spec output_started() -> ok.
output_started() ->
    atomics:put(counters(), ?OUTPUT_QUEUED, 0).

%% @doc `py_output' handled a batch of `Bytes' bytes.
-spec output_handled(non_neg_integer()) -> ok.
output_handled(Bytes) ->
    atomics:sub(counters(), ?OUTPUT_QUEUED, Bytes).

%% @doc The number of output batches dropped since the last call, which
%% starts the count again.
-spec take_output_dropped() -> non_neg_integer().
take_output_dropped() ->
    atomics:exchange(counters(), ?OUTPUT_DROPPED, 0).

%% @doc Bytes of output batches forwarded to `py_output' and not handled
%% yet, and the bound beyond which batches are dropped.
-spec output_backlog() -> {non_neg_integer(), pos_integer()}.
output_backlog() ->
    {atomics:get(counters(), ?OUTPUT_QUEUED), max_output_backlog()}.

%% @doc How many new atoms Python data has made in this node, across every
%% port and application restart (the count `max_new_atoms' caps).
-spec atoms_used() -> non_neg_integer().
atoms_used() ->
    atomics:get(counters(), ?ATOMS_USED).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% erlang.send(Pid, Term). A node not connected yet is not connected to
%% here: the owner must not wait for it.
send(Payload, Port, Flow) ->
    Cost = byte_size(Payload) + ?MESSAGE_COST,
    case decode(Payload) of
        {To, Message} when is_pid(To), node(To) =:= node() ->
            erlang:send(To, Message, [noconnect]),
            hold(To, Cost, Flow);
        {To, Message} when is_pid(To) ->
            %% Remote: its mailbox cannot be read from here.
            erlang:send(To, Message, [noconnect]),
            credit(Port, Cost, Flow);
        _ ->
            ?LOG_ERROR("py_port: bad erlang.send event ~tp", [Payload]),
            credit(Port, Cost, Flow)
    end.

%% Records a message sent to To; the next check sees whether To has taken
%% it. Not here: reading another process's message_queue_len may wait for
%% that process to handle a signal, which a burst of sends must not do for
%% each message.
hold(To, Cost, #flow{held = Held} = Flow) ->
    {Count, Total, Queue} = maps:get(To, Held, {0, 0, queue:new()}),
    schedule(Flow#flow{held = Held#{To => {Count + 1, Total + Cost, queue:in(Cost, Queue)}}}).

%% Checks the next ?CHECK_CHUNK held targets, so that a check never keeps
%% the owner long, however many targets are held; the next check goes on
%% from there.
check(Port, #flow{held = Held, cursor = Cursor} = Flow) ->
    It = case Cursor of
             none -> maps:iterator(Held);
             _ -> Cursor
         end,
    {Taken, Next, Flow1} = check_some(?CHECK_CHUNK, It, 0, Flow),
    flush(Port, Flow1#flow{owed = Flow1#flow.owed + Taken, cursor = Next}).

check_some(0, It, Sum, Flow) ->
    {Sum, It, Flow};
check_some(N, It, Sum, #flow{held = Held} = Flow) ->
    case maps:next(It) of
        none ->
            {Sum, none, Flow};
        {To, _, Rest} when is_map_key(To, Held) -> % still held (the iterator is of an older map)
            {Taken, Left} = taken(To, maps:get(To, Held)),
            check_some(N - 1, Rest, Sum + Taken, store(To, Left, Flow));
        {_, _, Rest} ->
            check_some(N, Rest, Sum, Flow)
    end.

%% The cost of the messages held for To that have left its mailbox, and
%% what is still held: at most its message_queue_len last ones. Amortised
%% O(1) a message, however many are held.
taken(To, {Count, Total, _} = Held) ->
    case erlang:process_info(To, message_queue_len) of
        {message_queue_len, N} when N >= Count -> {0, Held};
        {message_queue_len, N} when N > 0 -> drop(Count - N, 0, Held);
        _ -> {Total, {0, 0, queue:new()}} % all read, or dead: its mailbox is gone
    end.

%% Drops the N oldest of Held, adding their cost to Sum.
drop(0, Sum, Held) ->
    {Sum, Held};
drop(N, Sum, {Count, Total, Queue}) ->
    {{value, Cost}, Rest} = queue:out(Queue),
    drop(N - 1, Sum + Cost, {Count - 1, Total - Cost, Rest}).

store(To, {0, _, _}, #flow{held = Held} = Flow) ->
    Flow#flow{held = maps:remove(To, Held)};
store(To, ToHeld, #flow{held = Held} = Flow) ->
    Flow#flow{held = Held#{To => ToHeld}}.

%% Owes Bytes more to the port. The credit leaves in batches, at a
%% quarter of the window (at most ?CREDIT_BATCH) or at the next check (20
%% ms): one request per message would cost a burst of small messages most
%% of its speed.
credit(Port, Bytes, #flow{owed = Owed, batch = Batch} = Flow) ->
    case Owed + Bytes of
        Due when Due >= Batch -> flush(Port, Flow#flow{owed = Due});
        Due -> schedule(Flow#flow{owed = Due})
    end.

%% Gives back what is owed; checks again later while anything is held.
flush(Port, #flow{owed = Owed} = Flow) when Owed > 0 ->
    catch erlang:port_command(Port, term_to_binary({send_credit, flow, Owed})),
    schedule(Flow#flow{owed = 0});
flush(_Port, Flow) ->
    schedule(Flow).

schedule(#flow{held = Held, owed = Owed, timer = undefined} = Flow)
  when map_size(Held) > 0; Owed > 0 ->
    Flow#flow{timer = erlang:send_after(?CHECK_MS, self(), {?MODULE, check})};
schedule(Flow) ->
    Flow.

%% Python's output, for py_output to log, unless the batches it has not
%% handled yet hold max_output_backlog bytes already.
output(Payload) ->
    Size = byte_size(Payload),
    Counters = counters(),
    case atomics:get(Counters, ?OUTPUT_QUEUED) + Size > max_output_backlog() of
        true ->
            %% The first drop since py_output last logged them: a notice,
            %% queued behind the backlog, has it log the count once that
            %% is handled.
            atomics:add_get(Counters, ?OUTPUT_DROPPED, 1) =:= 1 andalso
                catch erlang:send(py_output, {py_output, dropped}, [noconnect]),
            ok;
        false ->
            atomics:add(Counters, ?OUTPUT_QUEUED, Size),
            try
                erlang:send(py_output, {py_output, Payload}, [noconnect])
            catch
                error:badarg -> atomics:sub(Counters, ?OUTPUT_QUEUED, Size) % not running
            end
    end.

max_output_backlog() ->
    py_config:get(max_output_backlog).

%% The node-life atomics (output backlog, dropped batches, atoms used).
counters() ->
    case persistent_term:get(?COUNTERS_KEY, undefined) of
        undefined ->
            Counters = atomics:new(3, [{signed, true}]),
            persistent_term:put(?COUNTERS_KEY, Counters),
            Counters;
        Counters ->
            Counters
    end.

%% The port is trusted; its atoms are bounded by the atom cap.
decode(Bin) ->
    try binary_to_term(Bin)
    catch error:badarg -> undecodable
    end.

