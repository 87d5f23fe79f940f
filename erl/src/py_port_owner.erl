%% @doc The process that owns the `py_port' OS process.
%%
%% DESIGN: callers never talk to this process. They find the port through
%% `persistent_term' (key `{py, port}', value `{Port, OwnerPid}'), encode
%% their own request, write it with `erlang:port_command/2' and monitor this
%% process with an alias as the reply address. This process reads every
%% frame the port writes: a reply frame starts with a small routing header
%% (the caller's alias, see docs/protocol.md), which is all it decodes; the
%% payload is forwarded as a sub-binary of the frame, never decoded or
%% copied. A frame with an empty header is an event for this process.
%%
%% If the port dies this process stops with `{port_exited, Why}'; every
%% waiting caller gets that reason from its monitor and the supervisor
%% starts a new owner and port. Start-up (Python ready, default pool
%% started) happens in `init/1', bounded by the `start_timeout' app env,
%% before the port is published: no caller can reach a port that is not
%% ready.
-module(py_port_owner).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

%% API
-export([start_link/0]).

%% gen_server callbacks
-export([init/1]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).
-export([terminate/2]).

-define(PORT_KEY, {py, port}).
-define(DEFAULT_START_TIMEOUT, 10000).
-define(PROTOCOL, 1).

-record(state, {
    port :: port(),
    os_pid :: integer(),
    python_version :: binary(),
    %% Pool name => the context ids start_pool returned.
    pools :: #{atom() => [non_neg_integer()]}
}).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the owner, registered as `py_port_owner'. Returns once Python
%% runs and the default pool is started, or `{error, {python_start_failed,
%% Why}}'.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%%% ==========================================================================
%%% gen_server callbacks
%%% ==========================================================================

%% @private
init([]) ->
    process_flag(trap_exit, true),
    Deadline = erlang:monotonic_time(millisecond)
        + env(start_timeout, ?DEFAULT_START_TIMEOUT),
    Exe = env(port_executable, filename:join(priv_dir(), "py_port")),
    case open(Exe) of
        {ok, Port} ->
            start_python(Port, Deadline);
        {error, Why} ->
            {stop, {python_start_failed, Why}}
    end.

%% @private
handle_call(Request, _From, State) ->
    {reply, {error, {unknown_call, Request}}, State}.

%% @private
handle_cast(Request, State) ->
    ?LOG_WARNING("py_port_owner: unexpected cast ~tp", [Request]),
    {noreply, State}.

%% @private
%% An event for this process (empty routing header).
handle_info({Port, {data, <<0:16, Event/binary>>}}, #state{port = Port} = State) ->
    ?LOG_WARNING("py_port: unexpected event ~tp", [decode(Event)]),
    {noreply, State};
%% A reply: route it by its header, leave the payload to the caller.
handle_info({Port, {data, <<HdrLen:16, Hdr:HdrLen/binary, Payload/binary>>}},
            #state{port = Port} = State) ->
    forward(Hdr, Payload),
    {noreply, State};
%% A frame shorter than its header: the stream cannot be trusted.
handle_info({Port, {data, Frame}}, #state{port = Port} = State) ->
    {stop, {port_exited, {bad_frame, byte_size(Frame)}}, State};
%% The OS process exited; callers learn it from their monitors.
handle_info({Port, {exit_status, Status}}, #state{port = Port} = State) ->
    {stop, {port_exited, {exit_status, Status}}, State};
%% The port closed without an exit status.
handle_info({'EXIT', Port, Reason}, #state{port = Port} = State) ->
    {stop, {port_exited, Reason}, State};
%% Anything else is a stray message: log it, keep serving.
handle_info(Info, State) ->
    ?LOG_WARNING("py_port_owner: unexpected message ~tp", [Info]),
    {noreply, State}.

%% @private
terminate(_Reason, #state{port = Port}) ->
    unpublish(Port),
    %% The port exits on end of input (within a second, protocol.md).
    catch erlang:port_close(Port),
    ok.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% Opens the port with the app env's python_path and port_env.
open(Exe) ->
    Args = lists:append([["--path", Dir] || Dir <- env(python_path, [])]),
    Options = [{packet, 4}, binary, exit_status, use_stdio,
               {args, Args}, {env, env(port_env, [])}],
    try
        {ok, open_port({spawn_executable, Exe}, Options)}
    catch
        error:Reason -> {error, {open_port, Exe, Reason}}
    end.

%% Waits for Python, starts the default pool, publishes the port.
start_python(Port, Deadline) ->
    case await_ready(Port, Deadline) of
        {ok, #{os_pid := OsPid, python_version := Version}} ->
            case start_default_pool(Port, Deadline) of
                {ok, CtxIds} ->
                    persistent_term:put(?PORT_KEY, {Port, self()}),
                    {ok, #state{port = Port, os_pid = OsPid,
                                python_version = Version,
                                pools = #{default => CtxIds}}};
                {error, Why} ->
                    fail_start(Port, {default_pool, Why})
            end;
        {error, Why} ->
            fail_start(Port, Why)
    end.

fail_start(Port, Why) ->
    catch erlang:port_close(Port),
    {stop, {python_start_failed, Why}}.

%% The first frame is the ready (or start_failed) event.
await_ready(Port, Deadline) ->
    case await_frame(Port, Deadline) of
        {ok, <<0:16, Event/binary>>} ->
            case decode(Event) of
                {ready, #{protocol := ?PROTOCOL, os_pid := _,
                          python_version := _} = Info} ->
                    {ok, Info};
                {ready, #{protocol := Other}} ->
                    {error, {protocol, Other}};
                {start_failed, Message} ->
                    {error, Message};
                Unexpected ->
                    {error, {unexpected_event, Unexpected}}
            end;
        {ok, Frame} ->
            {error, {unexpected_frame, Frame}};
        {error, _} = Error ->
            Error
    end.

start_default_pool(Port, Deadline) ->
    Size = env(default_pool_size, erlang:system_info(schedulers)),
    Ref = make_ref(),
    %% If the port died since it was ready, await_frame/2 says how.
    catch erlang:port_command(Port, term_to_binary({start_pool, Ref, default, Size})),
    case await_frame(Port, Deadline) of
        {ok, <<HdrLen:16, Hdr:HdrLen/binary, Payload/binary>> = Frame} ->
            case {decode(Hdr), decode(Payload)} of
                {Ref, {ok, CtxIds}} when is_list(CtxIds) -> {ok, CtxIds};
                {Ref, {error, Reason}} -> {error, Reason};
                _ -> {error, {unexpected_frame, Frame}}
            end;
        {ok, Frame} ->
            {error, {unexpected_frame, Frame}};
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

%% Sends the payload to the caller's alias. A caller that timed out has
%% dropped its alias, and the runtime drops the message.
forward(Hdr, Payload) ->
    try
        To = binary_to_term(Hdr),
        erlang:send(To, {To, Payload}, [noconnect])
    catch
        error:badarg ->
            ?LOG_ERROR("py_port: reply with a bad routing header ~p", [Hdr])
    end.

%% Decodes an event or a start-up reply. Not [safe]: the port is trusted,
%% and its atoms (bad_pool_size, ...) need not exist in this node yet.
decode(Bin) ->
    try
        binary_to_term(Bin)
    catch
        error:badarg -> {undecodable, Bin}
    end.

unpublish(Port) ->
    Self = self(),
    case persistent_term:get(?PORT_KEY, undefined) of
        {Port, Self} -> persistent_term:erase(?PORT_KEY);
        _ -> ok
    end.

remaining(Deadline) ->
    max(0, Deadline - erlang:monotonic_time(millisecond)).

priv_dir() ->
    case code:priv_dir(erlang_python) of
        {error, bad_name} -> "priv";
        Dir -> Dir
    end.

env(Key, Default) ->
    application:get_env(erlang_python, Key, Default).
