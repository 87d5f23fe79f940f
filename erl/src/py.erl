%% @doc Call Python from Erlang.
%%
%% Every function here runs in the calling process: it checks its
%% arguments, encodes the request, writes it to the port and waits for the
%% reply on a monitor alias of the port owner, so callers proceed in
%% parallel and a caller that gives up never receives a late reply. A
%% result is `{ok, Value}' (`ok' for {@link exec/1}) or `{error, Reason}';
%% docs/api.md lists the reasons and docs/types.md the conversions.
-module(py).

-include_lib("kernel/include/logger.hrl").

%% API
-export([call/3]).
-export([call/4]).
-export([call/5]).
-export([eval/1]).
-export([eval/2]).
-export([eval/3]).
-export([exec/1]).
-export([exec/2]).

-export_type([name/0]).
-export_type([code/0]).
-export_type([error_reason/0]).

-type name() :: atom() | binary().
%% A module name (dotted names such as `os.path' allowed) or a function
%% name (attribute paths such as `path.basename' allowed).

-type code() :: unicode:chardata().
%% Python source: a UTF-8 binary, a string or any `unicode:chardata()'.

-type error_reason() ::
        {ExceptionName :: atom(), Message :: binary()}
      | timeout
      | not_started
      | {port_exited, term()}
      | {badarg, module | function | args | kwargs | code | locals | timeout}
      | {bad_request, binary()}
      | {pool_not_started, atom()}.

-define(PORT_KEY, {py, port}).
-define(DEFAULT_CALL_TIMEOUT, 30000).
%% The largest timeout `receive ... after' accepts.
-define(MAX_TIMEOUT, 16#ffffffff).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Calls `Module.Function(*Args)' with the default timeout.
%% @equiv call(Module, Function, Args, #{})
-spec call(name(), name(), list()) -> {ok, term()} | {error, error_reason()}.
call(Module, Function, Args) ->
    call(Module, Function, Args, #{}).

%% @doc Calls `Module.Function(*Args, **Kwargs)' with the default timeout
%% (app env `call_timeout', 30000 ms if unset).
%%
%% `Module' is imported once per port and may be dotted (`` 'os.path' '');
%% `Function' may be an attribute path (`` 'path.basename' ''). Example:
%% `{ok, 255} = py:call(builtins, int, [<<"ff">>], #{base => 16})'.
-spec call(name(), name(), list(), #{name() => term()}) ->
          {ok, term()} | {error, error_reason()}.
call(Module, Function, Args, Kwargs) ->
    call(Module, Function, Args, Kwargs, default_timeout()).

%% @doc Calls `Module.Function(*Args, **Kwargs)', waiting at most `Timeout'
%% milliseconds (or `infinity') for the result.
%%
%% On `{error, timeout}' the call goes on running in Python until it
%% returns; its result is dropped.
-spec call(name(), name(), list(), #{name() => term()}, timeout()) ->
          {ok, term()} | {error, error_reason()}.
call(Module, Function, Args, Kwargs, Timeout) ->
    case check([{is_name(Module), module},
                {is_name(Function), function},
                {is_list(Args), args},
                {is_map(Kwargs), kwargs},
                {is_timeout(Timeout), timeout}]) of
        ok -> request(default, {call, Module, Function, Args, Kwargs}, Timeout);
        {error, _} = Error -> Error
    end.

%% @doc Evaluates the Python expression `Code' in the globals of
%% `__main__', with the default timeout.
%% @equiv eval(Code, #{})
-spec eval(code()) -> {ok, term()} | {error, error_reason()}.
eval(Code) ->
    eval(Code, #{}).

%% @doc Evaluates the Python expression `Code' in the globals of
%% `__main__' with `Locals' as its local variables, with the default
%% timeout. Example: `{ok, 5} = py:eval(<<"x + y">>, #{x => 2, y => 3})'.
-spec eval(code(), #{name() => term()}) -> {ok, term()} | {error, error_reason()}.
eval(Code, Locals) ->
    eval(Code, Locals, default_timeout()).

%% @doc Evaluates the Python expression `Code' in the globals of
%% `__main__' with `Locals' as its local variables, waiting at most
%% `Timeout' milliseconds (or `infinity').
-spec eval(code(), #{name() => term()}, timeout()) ->
          {ok, term()} | {error, error_reason()}.
eval(Code, Locals, Timeout) ->
    Bin = code_to_binary(Code),
    case check([{is_binary(Bin), code},
                {is_map(Locals), locals},
                {is_timeout(Timeout), timeout}]) of
        ok -> request(default, {eval, Bin, Locals}, Timeout);
        {error, _} = Error -> Error
    end.

%% @doc Runs the Python statements `Code' in the globals of `__main__',
%% with the default timeout. What they define is visible to every later
%% `exec', `eval' and call of `` '__main__' '', in every context:
%% after `ok = py:exec(<<"def double(x): return 2 * x">>)',
%% `{ok, 42} = py:call('__main__', double, [21])'.
-spec exec(code()) -> ok | {error, error_reason()}.
exec(Code) ->
    exec(Code, default_timeout()).

%% @doc Runs the Python statements `Code' in the globals of `__main__',
%% waiting at most `Timeout' milliseconds (or `infinity').
-spec exec(code(), timeout()) -> ok | {error, error_reason()}.
exec(Code, Timeout) ->
    Bin = code_to_binary(Code),
    case check([{is_binary(Bin), code}, {is_timeout(Timeout), timeout}]) of
        ok -> request(default, {exec, Bin}, Timeout);
        {error, _} = Error -> Error
    end.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% The one request path: Target is a pool name (a context target comes
%% with the next issue). The caller monitors the owner with an alias as the
%% reply address: a reply after a timeout is dropped by the runtime, and a
%% port that dies answers the caller through the monitor.
request(Target, Request, Timeout) ->
    case persistent_term:get(?PORT_KEY, undefined) of
        {Port, Owner} ->
            Mref = erlang:monitor(process, Owner, [{alias, reply_demonitor}]),
            case command(Port, envelope(Request, Mref, Target)) of
                true ->
                    receive
                        {Mref, Payload} ->
                            %% Flushes a 'DOWN' from an owner that died
                            %% right after forwarding the reply.
                            erlang:demonitor(Mref, [flush]),
                            result(binary_to_term(Payload));
                        {'DOWN', Mref, process, _, Reason} ->
                            {error, port_exit_reason(Reason)}
                    after Timeout ->
                        erlang:demonitor(Mref, [flush]),
                        %% A reply that arrived before the alias went away.
                        receive {Mref, _} -> ok after 0 -> ok end,
                        {error, timeout}
                    end;
                false ->
                    erlang:demonitor(Mref, [flush]),
                    {error, {port_exited, closed}}
            end;
        undefined ->
            {error, not_started}
    end.

envelope({call, Module, Function, Args, Kwargs}, ReplyTo, Target) ->
    {call, ReplyTo, Target, Module, Function, Args, Kwargs};
envelope({eval, Code, Locals}, ReplyTo, Target) ->
    {eval, ReplyTo, Target, Code, Locals};
envelope({exec, Code}, ReplyTo, Target) ->
    {exec, ReplyTo, Target, Code}.

%% Writes the request; false if the port is closed.
command(Port, Request) ->
    try
        erlang:port_command(Port, term_to_binary(Request))
    catch
        error:badarg -> false
    end.

result({ok, _} = Ok) ->
    Ok;
result(ok) ->
    ok;
result({error, {Name, Message}, Traceback}) ->
    ?LOG_DEBUG("Python raised ~ts: ~ts~n~ts", [Name, Message, Traceback],
               #{domain => [python]}),
    {error, {Name, Message}};
result({error, _} = Error) ->
    Error.

port_exit_reason({port_exited, _} = Reason) -> Reason;
port_exit_reason(Reason) -> {port_exited, Reason}.

%% Code as a UTF-8 binary, or error if it is not text.
code_to_binary(Code) ->
    try unicode:characters_to_binary(Code) of
        Bin when is_binary(Bin) -> Bin;
        _Invalid -> error
    catch
        error:badarg -> error
    end.

%% The first failed check, in argument order.
check([]) -> ok;
check([{true, _} | Rest]) -> check(Rest);
check([{false, What} | _]) -> {error, {badarg, What}}.

is_name(Name) -> is_atom(Name) orelse is_binary(Name).

is_timeout(infinity) -> true;
is_timeout(T) -> is_integer(T) andalso T >= 0 andalso T =< ?MAX_TIMEOUT.

default_timeout() ->
    application:get_env(erlang_python, call_timeout, ?DEFAULT_CALL_TIMEOUT).
