%% @doc The process that owns the `py_port' OS process.
%%
%% DESIGN: callers never talk to this process. They find the port through
%% `persistent_term' (key `{py, port}', value `{Port, OwnerPid}'), encode
%% their own request, write it with `erlang:port_command/2' and monitor this
%% process with an alias as the reply address. This process reads every
%% frame the port writes: a reply frame starts with a small routing header
%% (the caller's alias, see docs/protocol.md), which is all it decodes; the
%% payload is forwarded as a sub-binary of the frame, never decoded or
%% copied. A frame with an empty header is an event for this process. Three
%% more headers come from Python code, handled by {@link py_flow}, which
%% bounds what Python can have in flight towards Erlang: `{py_callback,
%% Id}' (a call of an Erlang function, run in a new process, see
%% {@link py_callback}), `py_send' (`erlang.send', the one payload this
%% process decodes) and `py_output' (for {@link py_output}).
%%
%% It also starts and stops pools. It owns two ETS tables that callers
%% read directly: `py_pools' (`{Pool, Mode, [CtxPid], [CtxId]}') and
%% `py_contexts' (`{CtxPid, Pool, CtxId}'); a context pid (see
%% {@link py_context}) is linked to this process. Its own requests to the
%% port carry the routing header `{py_port_owner, Tag}'; the callers of
%% start_pool/stop_pool are parked until the port answers, never blocked in
%% a receive. The port sends a cast (header `cast') only its error, which a
%% process of its own decodes and logs: the owner decodes none of it.
%%
%% If the port dies this process stops with `{port_exited, Why}', where
%% `Why' is what py_port's monitor process reports (`{exit_status, N}' or
%% `{signal, N, Name}'), else the port's exit status or close reason; every
%% waiting caller gets that reason from its monitor, the context pids die
%% with it, and the supervisor starts a new owner and port. Start-up
%% (Python ready, default pool and the pools recorded in py_registry
%% started) happens in `init/1', bounded by the `start_timeout' app env,
%% before the port is published: no caller can reach a port that is not
%% ready.
%%
%% Liveness: every `ping_interval' ms this process sends `{ping, ...}',
%% which py_port's reader thread answers `pong' through its writer. A
%% port that has not answered within `ping_timeout' ms (stopped, wedged,
%% or its frames out of step after Python wrote to the protocol
%% descriptor) is taken for dead: this process stops with `{port_exited,
%% unresponsive}', so callers are answered and the supervisor starts a new
%% port; closing the port makes py_port's monitor kill the old one. A frame
%% that breaks the protocol (shorter than its header, a header or event
%% that does not decode) ends the port the same way, as `{bad_frame,
%% Size}'. Frames quoted in errors and reports are cut to ?QUOTE bytes.
%%
%% Preload (docs/environments.md): a pool whose options or the app env
%% name a `preload' is published only once every context has run it,
%% `{exec, _, {nested, CtxId}, Code}' each: at start-up waited for within
%% `start_timeout'; at run time parked like the start_pool (`preloads'),
%% cancelled after `start_timeout'. One that raises makes the port stop
%% the pool before anyone sees it ({@link py_preload}).
%%
%% Members of a process pool (docs/pools.md): started with `#{pool =>
%% Pool, index => I, opts => Opts}' by the pool's supervisor ({@link py_process_sup}),
%% the same process differs only in its start-up and its publishing. Not
%% registered, it starts no default pool and no recorded pool, only `Pool'
%% of one context, and publishes its port in the pool's routing rows
%% ({@link py_process_pool}) instead of `persistent_term'. Everything
%% else (liveness, py_flow, output, crash reporting) is the same.
-module(py_port_owner).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

%% API
-export([start_link/0]).
-export([start_link/1]).
-export([start_pool/4]).
-export([stop_pool/1]).

%% gen_server callbacks
-export([init/1]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).
-export([handle_continue/2]).
-export([terminate/2]).
-export([format_status/1]).

-define(PORT_KEY, {py, port}).
-define(INFO_KEY, {py, port_info}).
-define(PROTOCOL, 1).
%% Bytes of a frame quoted in an error or a report.
-define(QUOTE, 32).
%% A frame or request of this many bytes or more is let go as soon as it
%% is passed on: this process collects its heap (let_go/2).
-define(LET_GO_BYTES, 1 bsl 20).

-define(POOLS, py_pools).
-define(CONTEXTS, py_contexts).

-record(state, {
    port :: port(),
    os_pid :: integer(),
    python_version :: binary(),
    %% Requests of this process to the port, by tag, with their caller.
    pending = #{} :: #{reference() => {start, gen_server:from(), atom(), atom(), map()}
                                     | {stop, gen_server:from(), atom()}
                                     | {preload, reference()} | discard},
    %% Pools started at run time whose contexts run their preload, by key:
    %% the callers waiting, what to publish, the contexts still running it
    %% and the first error.
    preloads = #{} :: #{reference() => #{froms := [gen_server:from()], pool := atom(),
                                         mode := atom(), opts := map(), ids := [integer()],
                                         left := non_neg_integer(), result := ok | {error, term()},
                                         tags := [reference()], timer := reference()}},
    %% Context pids a stop_pool caller waits to see exit.
    stopping = #{} :: #{pid() => gen_server:from()},
    %% What Python sends towards Erlang: callbacks, erlang.send, output.
    flow :: py_flow:flow(),
    %% The tag of the ping the port has not answered yet, if any.
    ping :: reference() | undefined,
    ping_interval = 5000 :: pos_integer(),  % py_config's ping_interval
    ping_timeout = 15000 :: pos_integer(),  % and ping_timeout
    %% The pool and index of a process pool's member; undefined for the
    %% main port.
    member :: undefined | {atom(), non_neg_integer()}
}).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the owner, registered as `py_port_owner'. Returns once Python
%% runs and the default pool is started, or `{error, {python_start_failed,
%% Why}}'.
-spec start_link() -> gen_server:start_ret().
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, #{}, []).

%% @doc Starts a member of a process pool: `#{pool => Pool, index => I}'
%% (not registered; see the module doc).
-spec start_link(#{pool := atom(), index := non_neg_integer(), opts => map()}) ->
          gen_server:start_ret().
start_link(#{pool := _, index := _} = Opts) ->
    gen_server:start_link(?MODULE, Opts, []).

%% @doc Starts pool `Pool' of `Size' contexts, or returns the contexts of
%% the pool if it runs already, with the pool's options (arguments checked
%% by the caller, {@link py_context_router:start_pool/4}): its `preload'
%% runs in every context before the pool is returned, and the options are
%% recorded with the pool.
-spec start_pool(atom(), pos_integer(), atom(), map()) -> {ok, [pid()]} | {error, term()}.
start_pool(Pool, Size, Mode, Opts) ->
    call({start_pool, Pool, Size, Mode, Opts}).

%% @doc Stops pool `Pool': its queued and running requests are answered
%% with `{error, {pool_stopped, Pool}}', its context pids have exited when
%% this returns. `ok' also when the pool does not run.
-spec stop_pool(atom()) -> ok | {error, term()}.
stop_pool(Pool) ->
    call({stop_pool, Pool}).

%%% ==========================================================================
%%% gen_server callbacks
%%% ==========================================================================

%% @private
init(Opts) ->
    process_flag(trap_exit, true),
    Member = member(Opts),
    Member =:= undefined andalso create_tables(),
    Deadline = erlang:monotonic_time(millisecond) + env(start_timeout),
    Exe = env(port_executable),
    PoolOpts = maps:get(opts, Opts, #{}),
    case open(Exe, maps:get(venv, PoolOpts, env(venv))) of
        {ok, Port} ->
            case start_python(Port, Member, PoolOpts, Deadline) of
                {ok, State} ->
                    {ok, schedule_ping(State#state{ping_interval = env(ping_interval),
                                                   ping_timeout = env(ping_timeout)})};
                Stop ->
                    Stop
            end;
        {error, Why} ->
            {stop, {python_start_failed, Why}}
    end.

%% @private
handle_call({start_pool, Pool, Size, Mode, Opts}, From, #state{port = Port} = State) ->
    case {ets:lookup(?POOLS, Pool), preloading(Pool, State)} of
        {[{Pool, _Mode, Pids, _Ids}], _} ->
            {reply, {ok, Pids}, State};
        {[], {Key, P}} ->
            %% Its preload runs: answered with the first caller.
            Froms = maps:get(froms, P),
            {noreply, State#state{preloads = (State#state.preloads)#{Key := P#{froms := [From | Froms]}}}};
        {[], none} ->
            Tag = make_ref(),
            command(Port, {start_pool, {?MODULE, Tag}, Pool, Size, Mode}),
            {noreply, park(Tag, {start, From, Pool, Mode, Opts}, State)}
    end;
handle_call({stop_pool, Pool}, From, #state{port = Port} = State) ->
    Tag = make_ref(),
    command(Port, {stop_pool, {?MODULE, Tag}, Pool}),
    {noreply, park(Tag, {stop, From, Pool}, State)};
handle_call(Request, _From, State) ->
    {reply, {error, {unknown_call, Request}}, State}.

%% @private
%% After a big frame or request was passed on (let_go/2).
handle_continue(collect, State) ->
    erlang:garbage_collect(),
    {noreply, State}.

%% @private
handle_cast(Request, State) ->
    ?LOG_WARNING("py_port_owner: unexpected cast ~tp", [Request]),
    {noreply, State}.

%% @private
%% An event for this process (empty routing header).
handle_info({Port, {data, <<0:16, Event/binary>>}}, #state{port = Port} = State) ->
    event(decode(Event), State);
%% A reply: route it by its header, leave the payload to the caller. A
%% header that does not decode: the frames are out of step.
handle_info({Port, {data, <<HdrLen:16, Hdr:HdrLen/binary, Payload/binary>> = Frame}},
            #state{port = Port} = State) ->
    case decode(Hdr) of
        {undecodable, _} -> {stop, {port_exited, {bad_frame, byte_size(Frame)}}, State};
        To -> let_go(Frame, route(To, Payload, State))
    end;
%% A frame shorter than its header: the stream cannot be trusted.
handle_info({Port, {data, Frame}}, #state{port = Port} = State) ->
    {stop, {port_exited, {bad_frame, byte_size(Frame)}}, State};
%% The OS process exited; callers learn it from their monitors.
handle_info({Port, {exit_status, Status}}, #state{port = Port} = State) ->
    {stop, {port_exited, {exit_status, Status}}, State};
%% The port closed without an exit status.
handle_info({'EXIT', Port, Reason}, #state{port = Port} = State) ->
    {stop, {port_exited, Reason}, State};
%% Time for the next liveness check.
handle_info(ping, #state{port = Port, ping_timeout = Timeout} = State) ->
    Tag = make_ref(),
    command(Port, {ping, {?MODULE, Tag}}),
    erlang:start_timer(Timeout, self(), {ping, Tag}),
    {noreply, State#state{ping = Tag}};
%% The port has not answered a ping in ping_timeout: it is taken for dead.
handle_info({timeout, _, {ping, Tag}}, #state{ping = Tag} = State) ->
    {stop, {port_exited, unresponsive}, State};
%% The timer of a ping that was answered.
handle_info({timeout, _, {ping, _}}, State) ->
    {noreply, State};
%% A pool's preload has run for start_timeout ms: it is cancelled, the
%% pool stopped, its callers told.
handle_info({timeout, _, {preload, Key}}, State) ->
    {noreply, preload_timed_out(Key, State)};
%% A context pid of a stopped pool exited.
handle_info({'EXIT', Pid, _Reason}, #state{stopping = Stopping} = State)
  when is_map_key(Pid, Stopping) ->
    {noreply, context_exited(Pid, State)};
%% A context pid of a running pool was killed: a new one stands for the
%% context (a stop_pool would wait for it for ever).
handle_info({'EXIT', Pid, _Reason}, #state{member = Member} = State) when is_pid(Pid) ->
    replace_context(Pid, Member),
    {noreply, State};
%% A request of a caller on another node, for a pool with nodes
%% (py_remote): written as it came, never decoded.
handle_info({py_remote, Request}, #state{port = Port} = State) when is_binary(Request) ->
    catch erlang:port_command(Port, Request),
    let_go(Request, {noreply, State});
%% A callback process ended, or a check of held erlang.send messages
%% (py_flow); anything else is a stray message: log it, keep serving.
handle_info(Info, #state{port = Port, flow = Flow} = State) ->
    case py_flow:handle_info(Info, Port, Flow) of
        {ok, Flow1} ->
            {noreply, State#state{flow = Flow1}};
        unknown ->
            ?LOG_WARNING("py_port_owner: unexpected message ~tp", [Info]),
            {noreply, State}
    end.

%% @private
%% Reports quote at most ?QUOTE bytes of a frame: the last message may be
%% a frame of a gigabyte that broke the protocol.
format_status(Status) ->
    maps:map(fun(message, Msg) -> quote_term(Msg);
                (reason, Reason) -> quote_term(Reason);
                (_, Value) -> Value
             end, Status).

%% @private
terminate({port_exited, unresponsive}, #state{os_pid = OsPid} = State) ->
    %% Stopped or wedged: it would not read its end of input. Its monitor
    %% would kill it 2 s after the port closes; do not leave it that long.
    _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
    terminate(closed, State);
terminate(_Reason, #state{port = Port, member = Member}) ->
    unpublish(Port, Member),
    %% The port exits on end of input (within a second, protocol.md).
    catch erlang:port_close(Port),
    ok.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% Opens the port with a venv (the pool's or the app env's), the app
%% env's python_path, port_env and the switches of docs/debugging.md
%% (trace, record).
open(Exe, Venv0) ->
    Spin = ["--spin-us", integer_to_list(env(context_spin_us))],
    Queue = ["--max-queue", integer_to_list(env(max_queue))],
    Trace = case env(trace) of
                true -> ["--trace"];
                false -> []
            end,
    Record = case env(record) of
                 undefined -> [];
                 File -> ["--record", File]
             end,
    Venv = case Venv0 of
               undefined -> [];
               Dir -> ["--venv", Dir]
           end,
    None = ["--none-atom", atom_to_list(env(none_atom))],
    Args = Venv ++ lists:append([["--path", Dir] || Dir <- env(python_path)])
        ++ Spin ++ Queue ++ Trace ++ Record ++ None ++ py_flow:port_args(),
    Options = [{packet, 4}, binary, exit_status, use_stdio,
               {args, Args}, {env, env(port_env)}],
    try
        {ok, open_port({spawn_executable, Exe}, Options)}
    catch
        error:Reason -> {error, {open_port, Exe, Reason}}
    end.

member(#{pool := Pool, index := I}) when is_atom(Pool), is_integer(I), I >= 0 -> {Pool, I};
member(#{}) -> undefined.

create_tables() ->
    Options = [named_table, protected, set, {read_concurrency, true}],
    ?POOLS = ets:new(?POOLS, Options),
    ?CONTEXTS = ets:new(?CONTEXTS, Options),
    ok.

%% Waits for Python, starts the pools (the main port: the default pool and
%% the recorded pools; a member: its pool of one context), publishes the
%% port.
start_python(Port, Member, PoolOpts, Deadline) ->
    case await_ready(Port, Deadline) of
        {ok, #{os_pid := OsPid, python_version := Version} = Ready} ->
            case start_pools(Port, pools(Member, PoolOpts), Deadline) of
                ok ->
                    publish(Port, Member, Ready),
                    {ok, #state{port = Port, os_pid = OsPid, member = Member,
                                python_version = Version, flow = py_flow:new()}};
                {error, Why} ->
                    fail_start(Port, Why)
            end;
        {error, Why} ->
            fail_start(Port, Why)
    end.

%% The pools to start, as {Pool, Size, Mode, Opts}.
pools(undefined, _) ->
    [{default, env(default_pool_size), env(default_pool_mode), #{}}
     | [with_opts(Spec) || Spec <- py_registry:pool_specs()]];
pools({Pool, I}, Opts) ->
    [{{member, Pool, I}, 1, process, Opts}].

with_opts({Pool, Size, Mode}) -> {Pool, Size, Mode, #{}};
with_opts({_Pool, _Size, _Mode, _Opts} = Spec) -> Spec.

%% The main port: in persistent_term, for every caller. A member: in its
%% pool's routing rows, published with its context by start_pools/3.
publish(Port, undefined, #{os_pid := OsPid, python_version := Version} = Ready) ->
    persistent_term:put(?PORT_KEY, {Port, self()}),
    ok = py_registry:port_started(),
    Paths = maps:with([executable, prefix, base_prefix, stdlib, libpython, site_packages], Ready),
    persistent_term:put(?INFO_KEY, Paths#{python_version => Version, os_pid => OsPid,
                                          py_port => maps:get(version, Ready, <<>>),
                                          free_threaded => maps:get(free_threaded, Ready, false)});
publish(_Port, {_Pool, _I}, _Ready) ->
    ok.

start_pools(_Port, [], _Deadline) ->
    ok;
start_pools(Port, [{{member, Pool, I}, 1, process, Opts} | Rest], Deadline) ->
    %% A member's one context; its context pid goes in the pool's rows.
    case start_preloaded(Port, Pool, 1, worker, Opts, Deadline) of
        {ok, [CtxId]} ->
            Ctx = py_context:start_link(Pool, CtxId),
            ok = py_process_pool:publish(Pool, I, Port, Ctx, CtxId),
            start_pools(Port, Rest, Deadline);
        {ok, Other} ->
            {error, {pool, Pool, {unexpected_reply, Other}}};
        {error, Why} ->
            {error, {pool, Pool, Why}}
    end;
start_pools(Port, [{Pool, Size, process, Opts} | Rest], Deadline) ->
    %% A recorded process pool: its members are ports of their own, under
    %% py_process_sup; it runs already unless it gave up or the whole
    %% application restarted.
    %% One that cannot start must not keep the main port down, but the
    %% default pool (default_pool_mode process) must run, preload and all.
    case py_process_pool:start(Pool, Size, Opts) of
        {ok, _} ->
            start_pools(Port, Rest, Deadline);
        {error, Why} when Pool =:= default ->
            {error, {default_pool, Why}};
        {error, Why} ->
            ?LOG_ERROR("py_port_owner: process pool ~p not started: ~tp", [Pool, Why]),
            start_pools(Port, Rest, Deadline)
    end;
start_pools(Port, [{Pool, Size, Mode, Opts} | Rest], Deadline) ->
    case start_preloaded(Port, Pool, Size, Mode, Opts, Deadline) of
        {ok, CtxIds} ->
            _ = add_pool(Pool, Mode, CtxIds),
            start_pools(Port, Rest, Deadline);
        {error, Why} when Pool =:= default ->
            {error, {default_pool, Why}};
        {error, Why} ->
            {error, {pool, Pool, Why}}
    end.

%% Closing the port makes py_port's monitor kill a port that is stuck
%% (docs/reliability.md); a port_executable that is not py_port gets end of
%% input, and EPIPE on its next write.
fail_start(Port, Why) ->
    catch erlang:port_close(Port),
    {stop, {python_start_failed, Why}}.


%% Sends the next ping after ping_interval.
schedule_ping(#state{ping_interval = Interval} = State) ->
    erlang:send_after(Interval, self(), ping),
    State#state{ping = undefined}.

%% The first frame is the ready (or start_failed) event.
await_ready(Port, Deadline) ->
    case await_payload(Port, Deadline, event) of
        {ok, Event} ->
            case decode(Event) of
                {ready, #{protocol := ?PROTOCOL, os_pid := _,
                          python_version := _} = Info} ->
                    {ok, Info};
                {ready, #{protocol := Other}} ->
                    {error, {protocol, Other}};
                {start_failed, Message} when is_binary(Message) ->
                    {error, quote(Message, 4096)};
                _ ->
                    {error, {unexpected_event, quote(Event)}}
            end;
        {error, _} = Error ->
            Error
    end.

%% Starts a pool during start-up and runs its preload (the pool's
%% option, else the app env's) in each of its contexts, waiting for each.
start_preloaded(Port, Pool, Size, Mode, Opts, Deadline) ->
    case {start_pool_sync(Port, Pool, Size, Mode, Deadline), py_preload:code(Opts)} of
        {{ok, CtxIds}, {ok, undefined}} ->
            {ok, CtxIds};
        {{ok, CtxIds}, {ok, Code}} ->
            case preload_sync(Port, CtxIds, Code, Deadline) of
                ok -> {ok, CtxIds};
                {error, _} = Error -> Error
            end;
        {{ok, _}, {error, _} = Error} ->
            Error;
        {{error, _} = Error, _} ->
            Error
    end.

preload_sync(_Port, [], _Code, _Deadline) ->
    ok;
preload_sync(Port, [Id | Ids], Code, Deadline) ->
    Ref = make_ref(),
    command(Port, {exec, Ref, {nested, Id}, Code}),
    case await_payload(Port, Deadline, Ref) of
        {ok, Payload} ->
            case py_preload:result(decode(Payload)) of
                ok -> preload_sync(Port, Ids, Code, Deadline);
                Error -> Error
            end;
        {error, _} = Error ->
            Error
    end.

%% Starts a pool during start-up, waiting for the port's answer.
start_pool_sync(Port, Pool, Size, Mode, Deadline) ->
    Ref = make_ref(),
    %% If the port died since it was ready, await_frame/2 says how.
    command(Port, {start_pool, Ref, Pool, Size, Mode}),
    case await_payload(Port, Deadline, Ref) of
        {ok, Payload} ->
            case decode(Payload) of
                {ok, CtxIds} when is_list(CtxIds) -> {ok, CtxIds};
                {error, Reason} -> {error, Reason};
                Unexpected -> {error, {unexpected_reply, Unexpected}}
            end;
        {error, _} = Error ->
            Error
    end.

%% The payload of the next frame, which must be an event (Route = event)
%% or the reply routed to Route.
await_payload(Port, Deadline, Route) ->
    case await_frame(Port, Deadline) of
        {ok, <<0:16, Event/binary>>} when Route =:= event ->
            {ok, Event};
        {ok, <<HdrLen:16, Hdr:HdrLen/binary, Payload/binary>> = Frame} when HdrLen > 0 ->
            case decode(Hdr) of
                Route -> {ok, Payload};
                _ -> {error, {unexpected_frame, quote(Frame)}}
            end;
        {ok, Frame} ->
            {error, {unexpected_frame, quote(Frame)}};
        {error, _} = Error ->
            Error
    end.

%% The next frame from the port during start-up, or why there is none.
await_frame(Port, Deadline) ->
    receive
        {Port, {data, Frame}} -> {ok, Frame};
        {Port, {exit_status, Status}} -> {error, {exit_status, Status}};
        {'EXIT', Port, Reason} -> {error, {port_exited, Reason}}
    after remaining(Deadline) ->
        {error, timeout}
    end.

%% The monitor process of py_port reports how the Python process ended
%% ({exit_status, N} or {signal, N, Name}): callers learn it at once.
event({exited, How}, State) ->
    {stop, {port_exited, How}, State};
%% Python data made a new atom, which a later frame carries (py_flow).
event({atom, Name}, State) when is_binary(Name) ->
    py_flow:atom_admitted(Name),
    {noreply, State};
%% An event that does not decode: the channel cannot be trusted.
event({undecodable, Bin}, State) ->
    {stop, {port_exited, {bad_frame, 2 + byte_size(Bin)}}, State};
event(Event, State) ->
    ?LOG_WARNING("py_port: unexpected event ~tp", [quote_term(Event)]),
    {noreply, State}.

%% A reply to this process, to a cast, or to a caller. The payload goes
%% to the caller's alias; a caller that timed out has dropped its alias,
%% and the runtime drops the message.
route({?MODULE, Tag}, _Payload, #state{ping = Tag} = State) ->
    %% The port answered the liveness check.
    {noreply, schedule_ping(State)};
route({?MODULE, Tag}, Payload, #state{pending = Pending} = State) ->
    case maps:take(Tag, Pending) of
        {Parked, Rest} -> {noreply, answer(Parked, decode(Payload), State#state{pending = Rest})};
        error -> {noreply, State}
    end;
route(cast, Payload, State) ->
    %% The port sends a cast nothing but its error (it neither encodes nor
    %% sends a result); even that is decoded and logged in a process of
    %% its own, which gets the payload by reference, not copied.
    _ = spawn(fun() -> log_cast_error(Payload) end),
    {noreply, State};
route(Hdr, Payload, #state{port = Port, flow = Flow} = State)
  when Hdr =:= py_send; Hdr =:= py_output; element(1, Hdr) =:= py_callback ->
    %% From Python code: erlang.send, output, erlang.call (py_flow).
    {noreply, State#state{flow = py_flow:route(Hdr, Payload, Port, Flow)}};
route({{Tag}, Caller}, Payload, State) when is_reference(Tag), is_pid(Caller) ->
    %% A py:spawn_call's reply: to the caller, tagged, no alias (py.erl).
    erlang:send(Caller, {Tag, Payload}, [noconnect]),
    {noreply, State};
route({To, Caller}, Payload, State) when is_reference(To), is_pid(Caller) ->
    erlang:send(To, {To, Payload}, [noconnect]),
    {noreply, State};
route(To, Payload, State) when is_reference(To); is_pid(To) ->
    erlang:send(To, {To, Payload}, [noconnect]),
    {noreply, State};
route(Hdr, _Payload, State) ->
    ?LOG_ERROR("py_port: reply with a bad routing header ~tp", [Hdr]),
    {noreply, State}.

%% After passing on a big binary, collect this process's heap, once the
%% message that held it is gone: else the binary (a 1 GB reply, say) stays
%% in the node for as long as this process does nothing that collects.
let_go(Binary, {noreply, State}) when byte_size(Binary) >= ?LET_GO_BYTES ->
    {noreply, State, {continue, collect}};
let_go(_Binary, Result) ->
    Result.

%% Logs the reply to a cast: an error, since the port sends nothing else.
log_cast_error(Payload) ->
    case decode(Payload) of
        {error, {Name, Message}, Traceback} ->
            ?LOG_WARNING("py:cast: Python raised ~ts: ~ts~n~ts", [Name, Message, Traceback],
                         #{domain => [python]});
        {error, Reason} ->
            ?LOG_WARNING("py:cast failed: ~tp", [Reason], #{domain => [python]});
        _ ->
            ok
    end.

%% The port answered a start_pool or stop_pool of this process. The
%% port's answers come in the order of the requests, and the pool's spec
%% is recorded or forgotten here, in that order: the specs py_registry
%% keeps are always the pools that run, however starts and stops race.
answer({start, From, Pool, Mode, Opts}, {ok, CtxIds}, State) ->
    case {ets:lookup(?POOLS, Pool), preloading(Pool, State)} of
        {[], {Key, P}} -> % started twice at once, its preload runs
            State#state{preloads = (State#state.preloads)#{Key := P#{froms := [From | maps:get(froms, P)]}}};
        {[], none} ->
            case py_preload:code(Opts) of
                {ok, undefined} -> started([From], Pool, Mode, Opts, CtxIds, State);
                {ok, Code} -> preload(From, Pool, Mode, Opts, CtxIds, Code, State);
                {error, _} = Error -> start_failed([From], Pool, Error, State)
            end;
        {[_], _} ->
            started([From], Pool, Mode, Opts, CtxIds, State)
    end;
answer({start, From, _Pool, _Mode, _Opts}, {error, _} = Error, State) ->
    gen_server:reply(From, Error),
    State;
answer({preload, Key}, Reply, #state{preloads = Preloads} = State) ->
    #{left := Left, result := Result} = P = maps:get(Key, Preloads),
    Result1 = case Result of
                  ok -> py_preload:result(Reply);
                  {error, _} -> Result % the first error stands
              end,
    P1 = P#{left := Left - 1, result := Result1},
    preloaded(Key, P1, State#state{preloads = Preloads#{Key := P1}});
answer(discard, _Reply, State) ->
    State;
answer({stop, From, Pool}, _Result, #state{stopping = Stopping} = State) ->
    _ = py_registry:forget_pool(Pool),
    case ets:lookup(?POOLS, Pool) of
        [{Pool, _Mode, Pids, _Ids}] ->
            ets:delete(?POOLS, Pool),
            [ets:delete(?CONTEXTS, Pid) || Pid <- Pids],
            [py_context:stop(Pid) || Pid <- Pids],
            State#state{stopping = maps:merge(Stopping, maps:from_keys(Pids, From))};
        [] ->
            gen_server:reply(From, ok),
            State
    end.

%% The pool of a start_pool has started: its context pids are published,
%% its spec recorded, its callers answered.
started(Froms, Pool, Mode, Opts, CtxIds, State) ->
    Pids = case ets:lookup(?POOLS, Pool) of
               [{Pool, _, Running, _}] -> Running; % started twice at once
               [] -> add_pool(Pool, Mode, CtxIds)
           end,
    %% A registry that is down takes this process down too (rest_for_one).
    Reply = case py_registry:remember_pool(Pool, length(CtxIds), Mode, Opts) of
                ok -> {ok, Pids};
                {error, _} = Error -> Error
            end,
    [gen_server:reply(From, Reply) || From <- Froms],
    State.

%% The pool started in the port but must not run (its preload failed):
%% the port stops it, unpublished and unrecorded, and the callers get why.
start_failed(Froms, Pool, Error, #state{port = Port} = State) ->
    Tag = make_ref(),
    command(Port, {stop_pool, {?MODULE, Tag}, Pool}),
    [gen_server:reply(From, Error) || From <- Froms],
    park(Tag, discard, State).

%% Sends the preload to every context of a pool the port started (each
%% runs it in its __main__, before any request of the pool's callers, which
%% wait for start_pool), to be answered when all have run it.
preload(From, Pool, Mode, Opts, CtxIds, Code, #state{port = Port} = State) ->
    Key = make_ref(),
    Tags = [make_ref() || _ <- CtxIds],
    Timer = erlang:start_timer(env(start_timeout), self(), {preload, Key}),
    P = #{froms => [From], pool => Pool, mode => Mode, opts => Opts, ids => CtxIds,
          left => length(CtxIds), result => ok, tags => Tags, timer => Timer},
    lists:foldl(fun({Id, Tag}, S) ->
                        command(Port, {exec, {?MODULE, Tag}, {nested, Id}, Code}),
                        park(Tag, {preload, Key}, S)
                end, State#state{preloads = (State#state.preloads)#{Key => P}},
                lists:zip(CtxIds, Tags)).

%% The preload of pool start Key still runs after start_timeout: each
%% context's is cancelled (Python code gets erlang.Cancelled) and
%% forgotten, and the pool fails with {preload_failed, timeout}.
preload_timed_out(Key, #state{port = Port, preloads = Preloads, pending = Pending} = State) ->
    case maps:take(Key, Preloads) of
        {#{froms := Froms, pool := Pool, tags := Tags}, Rest} ->
            [command(Port, {cancel, {?MODULE, make_ref()}, {?MODULE, Tag}}) || Tag <- Tags],
            State1 = State#state{preloads = Rest, pending = maps:without(Tags, Pending)},
            start_failed(Froms, Pool, {error, {preload_failed, timeout}}, State1);
        error ->
            State
    end.

%% One more context ran the preload of pool start Key; when all have, the
%% pool starts or fails.
preloaded(_Key, #{left := Left}, State) when Left > 0 ->
    State;
preloaded(Key, #{froms := Froms, pool := Pool, mode := Mode, opts := Opts, ids := Ids,
                 result := Result} = P, #state{preloads = Preloads} = State) ->
    _ = erlang:cancel_timer(maps:get(timer, P)),
    State1 = State#state{preloads = maps:remove(Key, Preloads)},
    case Result of
        ok -> started(Froms, Pool, Mode, Opts, Ids, State1);
        {error, _} = Error -> start_failed(Froms, Pool, Error, State1)
    end.

%% The key and state of a running preload of Pool, or none.
preloading(Pool, #state{preloads = Preloads}) ->
    case [{Key, P} || {Key, #{pool := P0} = P} <- maps:to_list(Preloads), P0 =:= Pool] of
        [KP | _] -> KP;
        [] -> none
    end.

%% One more context pid of a stopped pool is gone; its caller is answered
%% when the last one is.
context_exited(Pid, #state{stopping = Stopping} = State) ->
    {From, Rest} = maps:take(Pid, Stopping),
    case lists:member(From, maps:values(Rest)) of
        true -> ok;
        false -> gen_server:reply(From, ok)
    end,
    State#state{stopping = Rest}.

%% Starts the context pids of a started pool and publishes them.
add_pool(Pool, Mode, CtxIds) ->
    Pids = [py_context:start_link(Pool, Id) || Id <- CtxIds],
    ets:insert(?CONTEXTS, [{Pid, Pool, Id} || {Pid, Id} <- lists:zip(Pids, CtxIds)]),
    ets:insert(?POOLS, {Pool, Mode, Pids, CtxIds}),
    Pids.

%% Starts a process for the context of Old, which died, and publishes it
%% in Old's place; a pid that was no context is left alone.
replace_context(Old, {Pool, I}) ->
    py_process_pool:replace_context(Pool, I, Old, fun(Id) -> py_context:start_link(Pool, Id) end);
replace_context(Old, undefined) ->
    case ets:lookup(?CONTEXTS, Old) of
        [{Old, Pool, Id}] ->
            New = py_context:start_link(Pool, Id),
            [{Pool, Mode, Pids, Ids}] = ets:lookup(?POOLS, Pool),
            ets:insert(?CONTEXTS, {New, Pool, Id}),
            ets:insert(?POOLS, {Pool, Mode, [swap(P, Old, New) || P <- Pids], Ids}),
            ets:delete(?CONTEXTS, Old);
        [] ->
            ?LOG_WARNING("py_port_owner: linked process ~p exited", [Old])
    end.

swap(Old, Old, New) -> New;
swap(Pid, _Old, _New) -> Pid.

park(Tag, Parked, #state{pending = Pending} = State) ->
    State#state{pending = Pending#{Tag => Parked}}.

%% Writes a request of this process; a dead port shows as its exit_status.
command(Port, Request) ->
    catch erlang:port_command(Port, term_to_binary(Request)),
    ok.

call(Request) ->
    try
        gen_server:call(?MODULE, Request, infinity)
    catch
        exit:{noproc, _} -> {error, not_started};
        exit:{Reason, _} -> {error, {port_exited, Reason}}
    end.

%% Decodes an event or a start-up reply. Not [safe]: the port is trusted,
%% and its atoms (bad_pool_size, ...) need not exist in this node yet.
decode(Bin) ->
    try
        binary_to_term(Bin)
    catch
        error:badarg -> {undecodable, Bin}
    end.

unpublish(_Port, {Pool, I}) ->
    py_process_pool:unpublish(Pool, I);
unpublish(Port, undefined) ->
    Self = self(),
    case persistent_term:get(?PORT_KEY, undefined) of
        {Port, Self} ->
            persistent_term:erase(?PORT_KEY),
            persistent_term:erase(?INFO_KEY); % py:version/0: not_started
        _ ->
            ok
    end.

%% {Size, the first ?QUOTE bytes} of a frame, for an error term.
quote(Bin) ->
    quote(Bin, ?QUOTE).

quote(Bin, Max) when byte_size(Bin) =< Max ->
    Bin;
quote(Bin, Max) ->
    {byte_size(Bin), binary:part(Bin, 0, Max)}.

%% Term with every binary longer than ?QUOTE bytes quoted.
quote_term(Bin) when is_binary(Bin) ->
    quote(Bin);
quote_term(Tuple) when is_tuple(Tuple) ->
    list_to_tuple(quote_term(tuple_to_list(Tuple)));
quote_term([H | T]) ->
    [quote_term(H) | quote_term(T)];
quote_term(Other) ->
    Other.

remaining(Deadline) ->
    max(0, Deadline - erlang:monotonic_time(millisecond)).

%% The app env, checked at the application's start (py_config).
env(Key) ->
    py_config:get(Key).
