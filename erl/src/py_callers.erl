%% @doc The callers of the port: the Python objects they hold by
%% reference, and the requests they leave behind when they exit.
%%
%% DESIGN: a result with no Erlang mapping arrives as a reference term
%% `{'$py_ref', Nonce, Id}' (docs/references.md), and belongs to the process
%% that received it. That process tells this server (a cast, no round
%% trip) which references it now owns; the server monitors it and, when it
%% exits, asks the port to release the objects it still owned. An explicit
%% `py:release/1' releases at once and disowns here. Started after the port
%% owner (rest_for_one): when the port restarts, every reference is stale
%% anyway and this server starts empty.
-module(py_callers).
-behaviour(gen_server).

%% API
-export([start_link/0]).
-export([own/3]).
-export([disown/3]).
-export([held/1]).
-export([watch/1]).

%% gen_server callbacks
-export([init/1]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).

-define(PORT_KEY, {py, port}).
%% Ids per release request sent when an owner exits.
-define(CHUNK, 10000).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the server, registered as `py_callers'.
-spec start_link() -> {ok, pid()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Records that `Pid' owns the objects `Ids' of the port `Nonce'.
-spec own(pid(), non_neg_integer(), [pos_integer()]) -> ok.
own(Pid, Nonce, Ids) ->
    gen_server:cast(?MODULE, {own, Pid, Nonce, Ids}).

%% @doc Records that `Pid' no longer owns `Ids' (it released them).
-spec disown(pid(), non_neg_integer(), [pos_integer()]) -> ok.
disown(Pid, Nonce, Ids) ->
    gen_server:cast(?MODULE, {disown, Pid, Nonce, Ids}).

%% @doc Watches `Pid', a process that makes requests: when it exits, its
%% requests still queued or running in the port are cancelled.
-spec watch(pid()) -> ok.
watch(Pid) ->
    gen_server:cast(?MODULE, {watch, Pid}).

%% @doc How many references `Pid' owns (for tests and stats).
-spec held(pid()) -> non_neg_integer().
held(Pid) ->
    gen_server:call(?MODULE, {held, Pid}).

%%% ==========================================================================
%%% gen_server callbacks
%%% ==========================================================================

%% @private
init([]) ->
    %% Pid => {MonitorRef, #{{Nonce, Id} => true}}
    {ok, #{}}.

%% @private
handle_call({held, Pid}, _From, Owners) ->
    Count = case Owners of
                #{Pid := {_, Refs}} -> map_size(Refs);
                #{} -> 0
            end,
    {reply, Count, Owners}.

%% @private
handle_cast({watch, Pid}, Owners) when is_map_key(Pid, Owners) ->
    {noreply, Owners};
handle_cast({watch, Pid}, Owners) ->
    {noreply, Owners#{Pid => {erlang:monitor(process, Pid), #{}}}};
handle_cast({own, Pid, Nonce, Ids}, Owners) ->
    {Mref, Refs} = case Owners of
                       #{Pid := Known} -> Known;
                       #{} -> {erlang:monitor(process, Pid), #{}}
                   end,
    New = maps:from_keys([{Nonce, Id} || Id <- Ids], true),
    {noreply, Owners#{Pid => {Mref, maps:merge(Refs, New)}}};
handle_cast({disown, Pid, Nonce, Ids}, Owners) ->
    case Owners of
        #{Pid := {Mref, Refs}} ->
            Left = maps:without([{Nonce, Id} || Id <- Ids], Refs),
            {noreply, Owners#{Pid => {Mref, Left}}};
        #{} ->
            {noreply, Owners}
    end.

%% @private
%% A caller exited: cancel its requests, release what it still held.
handle_info({'DOWN', Mref, process, Pid, _Reason}, Owners) ->
    case maps:take(Pid, Owners) of
        {{Mref, Refs}, Rest} ->
            cancel_requests(Pid),
            release(maps:keys(Refs)),
            {noreply, Rest};
        _ ->
            {noreply, Owners}
    end;
%% Anything else is a stray message.
handle_info(_Info, Owners) ->
    {noreply, Owners}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

cancel_requests(Pid) ->
    case persistent_term:get(?PORT_KEY, undefined) of
        {Port, _Owner} ->
            catch erlang:port_command(Port, term_to_binary({cancel_caller, cast, Pid})),
            ok;
        undefined ->
            ok
    end.

%% Asks the port to drop the objects, in requests of at most ?CHUNK ids,
%% on the default pool; nobody waits for the answer.
release([]) ->
    ok;
release(Refs) ->
    case persistent_term:get(?PORT_KEY, undefined) of
        {Port, _Owner} ->
            ByNonce = maps:groups_from_list(fun({N, _}) -> N end, fun({_, I}) -> I end, Refs),
            [send(Port, Nonce, Chunk)
             || {Nonce, Ids} <- maps:to_list(ByNonce), Chunk <- chunks(Ids)],
            ok;
        undefined ->
            ok
    end.

send(Port, Nonce, Ids) ->
    catch erlang:port_command(Port, term_to_binary({release, cast, default, Nonce, Ids})).

chunks(Ids) when length(Ids) =< ?CHUNK ->
    [Ids];
chunks(Ids) ->
    {Chunk, Rest} = lists:split(?CHUNK, Ids),
    [Chunk | chunks(Rest)].
