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
-export([call/6]).
-export([eval/1]).
-export([eval/2]).
-export([eval/3]).
-export([eval/4]).
-export([exec/1]).
-export([exec/2]).
-export([exec/3]).
-export([spawn_call/3]).
-export([spawn_call/4]).
-export([spawn_call/5]).
-export([await/1]).
-export([await/2]).
-export([async_call/3]).
-export([async_call/4]).
-export([async_call/5]).
-export([async_await/1]).
-export([async_await/2]).
-export([cast/3]).
-export([cast/4]).
-export([cast/5]).
-export([register_pool/2]).
-export([unregister_pool/1]).
-export([call_method/3]).
-export([call_method/4]).
-export([call_method/5]).
-export([getattr/2]).
-export([to_term/1]).
-export([release/1]).
-export([stats/0]).
-export([version/0]).
-export([venv_info/0]).
-export([configure_logging/1]).
-export([configure_logging/0]).
-export([interrupt/1]).
-export([is_ref/1]).
-export([context/0]).
-export([context/1]).
-export([gc/0]).
-export([gc/1]).
-export([memory_stats/0]).
-export([register_function/2]).
-export([register_function/3]).
-export([unregister_function/1]).
-export([stream/3]).
-export([stream/4]).
-export([stream/5]).
-export([stream_eval/1]).
-export([stream_eval/2]).
-export([stream_eval/3]).
-export([stream_start/3]).
-export([stream_start/4]).
-export([stream_cancel/1]).
%% Internal, shared with py_stream.
-export([failure/1]).
-export([port_exit_reason/1]).
%% Internal, shared with py_remote.
-export([local_stats/0]).

-export_type([name/0]).
-export_type([code/0]).
-export_type([error_reason/0]).
-export_type([target/0]).
-export_type([handle/0]).
-export_type([ref/0]).
-export_type([stream_ref/0]).

-type name() :: atom() | binary().
%% A module name (dotted names such as `os.path' allowed) or a function
%% name (attribute paths such as `path.basename' allowed).

-type target() :: atom() | pid().
%% A pool name, or a context pid (from `py_context_router:contexts/1',
%% `start_pool/2,3' or `get_context/1').

-opaque handle() :: {py_call, pid(), reference() | {error, error_reason()}}.
%% What {@link spawn_call/3} returns, for {@link await/1} in the same process.

-type ref() :: {'$py_ref', non_neg_integer(), pos_integer()}.
%% A Python object with no Erlang mapping, held in the port for the
%% process that received it (docs/references.md).

-type stream_ref() :: reference().
%% What {@link stream_start/4} returns: the second element of the
%% `{py_stream, Ref, Event}' messages of that stream.

-type code() :: unicode:chardata().
%% Python source: a UTF-8 binary, a string or any `unicode:chardata()'.

-type error_reason() ::
        {ExceptionName :: atom(), Message :: binary()}
      | timeout
      | not_started
      | {port_exited, term()}
      | {badarg, module | function | args | kwargs | code | locals | timeout | ref | name | level
                 | options}
      | {bad_request, binary()}
      | {pool_not_started, atom()}
      | {pool_stopped, atom()}
      | {overloaded, atom() | context}
      | interrupted
      | {context_not_found, pid()}
      | not_owner
      | stale_ref
      | {nodedown, node()}
      | {pool_unavailable, atom()}
      | {remote_ref, node()}.

%% The replies of every request are decoded by one function (result/1), so
%% Dialyzer sees `ok | {ok, _} | {error, _}' for each: which of them a
%% request gets is the protocol's (docs/protocol.md), not a type.
-dialyzer({no_missing_return, [call/6, eval/4, exec/3, await/2, call_method/5, getattr/2,
                               to_term/1, stream/5, stream_eval/3]}).

-define(PORT_KEY, {py, port}).
%% Process dictionary: a spawn_call's route, by its monitor; the owners
%% whose py_callers watch this process already.
-define(CALL_KEY, '$py_call').
-define(WATCHED_KEY, '$py_watched_by').
%% How long an await that timed out waits for the port to drop its request.
-define(DROP_TIMEOUT, 5000).
%% The largest timeout `receive ... after' accepts.
-define(MAX_TIMEOUT, 16#ffffffff).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Calls `Module.Function(*Args)' on the pool registered for it
%% (see {@link register_pool/2}; `default' if none), with the default
%% timeout.
%% @equiv call(Module, Function, Args, #{})
-spec call(name(), name(), list()) -> {ok, term()} | {error, error_reason()}.
call(Module, Function, Args) ->
    call(Module, Function, Args, #{}).

%% @doc `call(Target, Module, Function, Args)' when the fourth argument is
%% a list: calls on the pool or context `Target'. `call(Module, Function,
%% Args, Kwargs)' when it is a map: `Module.Function(*Args, **Kwargs)' on
%% the registered pool. Both with the default timeout (app env
%% `call_timeout', 30000 ms if unset).
%%
%% `Module' is imported once per port and may be dotted (`` 'os.path' '');
%% `Function' may be an attribute path (`` 'path.basename' ''). Example:
%% `{ok, 255} = py:call(builtins, int, [<<"ff">>], #{base => 16})'.
-spec call(target(), name(), name(), list()) -> {ok, term()} | {error, error_reason()};
          (name(), name(), list(), #{name() => term()}) -> {ok, term()} | {error, error_reason()}.
call(Target, Module, Function, Args) when is_list(Args) ->
    call(Target, Module, Function, Args, #{}, default_timeout());
call(Module, Function, Args, Kwargs) ->
    call(Module, Function, Args, Kwargs, default_timeout()).

%% @doc `call(Target, Module, Function, Args, Kwargs)' when the fifth
%% argument is a map: on the pool or context `Target', default timeout.
%% `call(Module, Function, Args, Kwargs, Timeout)' otherwise: on the
%% registered pool, waiting at most `Timeout' milliseconds (or `infinity').
%%
%% On `{error, timeout}' the call goes on running in Python until it
%% returns; its result is dropped.
-spec call(target(), name(), name(), list(), #{name() => term()}) ->
          {ok, term()} | {error, error_reason()};
          (name(), name(), list(), #{name() => term()}, timeout()) ->
          {ok, term()} | {error, error_reason()}.
call(Target, Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    call(Target, Module, Function, Args, Kwargs, default_timeout());
call(Module, Function, Args, Kwargs, Timeout) ->
    call(route(Module, Function), Module, Function, Args, Kwargs, Timeout).

%% @doc Calls `Module.Function(*Args, **Kwargs)' on the pool or context
%% `Target', waiting at most `Timeout' milliseconds (or `infinity').
-spec call(target(), name(), name(), list(), #{name() => term()}, timeout()) ->
          {ok, term()} | {error, error_reason()}.
call(Target, Module, Function, Args, Kwargs, Timeout) ->
    case check_call(Target, Module, Function, Args, Kwargs, Timeout) of
        ok -> request(Target, {call, Module, Function, Args, Kwargs}, Timeout);
        {error, _} = Error -> Error
    end.

%% @doc Evaluates the Python expression `Code' in the globals of
%% `__main__', on the default pool, with the default timeout.
%% @equiv eval(Code, #{})
-spec eval(code()) -> {ok, term()} | {error, error_reason()}.
eval(Code) ->
    eval(Code, #{}).

%% @doc `eval(Target, Code)' when the first argument is a pool name or a
%% context pid: evaluates `Code' there. `eval(Code, Locals)' otherwise:
%% evaluates `Code' with `Locals' as its local variables, on the default
%% pool. Example: `{ok, 5} = py:eval(<<"x + y">>, #{x => 2, y => 3})'.
%%
%% On a context pid, `Code' runs in that context's own namespace (see
%% {@link exec/2}); on a pool, in the globals of `__main__'.
-spec eval(target(), code()) -> {ok, term()} | {error, error_reason()};
          (code(), #{name() => term()}) -> {ok, term()} | {error, error_reason()}.
eval(Target, Code) when is_atom(Target); is_pid(Target) ->
    eval(Target, Code, #{}, default_timeout());
eval(Code, Locals) ->
    eval(default, Code, Locals, default_timeout()).

%% @doc `eval(Target, Code, Locals)' when the first argument is a pool
%% name or a context pid; `eval(Code, Locals, Timeout)' otherwise, on the
%% default pool, waiting at most `Timeout' milliseconds (or `infinity').
-spec eval(target(), code(), #{name() => term()}) -> {ok, term()} | {error, error_reason()};
          (code(), #{name() => term()}, timeout()) -> {ok, term()} | {error, error_reason()}.
eval(Target, Code, Locals) when is_atom(Target); is_pid(Target) ->
    eval(Target, Code, Locals, default_timeout());
eval(Code, Locals, Timeout) ->
    eval(default, Code, Locals, Timeout).

%% @doc Evaluates `Code' with `Locals' on the pool or context `Target',
%% waiting at most `Timeout' milliseconds (or `infinity').
-spec eval(target(), code(), #{name() => term()}, timeout()) ->
          {ok, term()} | {error, error_reason()}.
eval(Target, Code, Locals, Timeout) ->
    Bin = code_to_binary(Code),
    case check([{is_target(Target), pool},
                {is_binary(Bin), code},
                {is_map(Locals), locals},
                {is_timeout(Timeout), timeout}]) of
        ok -> request(Target, {eval, Bin, Locals}, Timeout);
        {error, _} = Error -> Error
    end.

%% @doc Runs the Python statements `Code' in the globals of `__main__' on
%% the default pool, with the default timeout. What they define is visible
%% to every later `exec', `eval' and call of `` '__main__' '' on any pool:
%% after `ok = py:exec(<<"def double(x): return 2 * x">>)',
%% `{ok, 42} = py:call('__main__', double, [21])'.
-spec exec(code()) -> ok | {error, error_reason()}.
exec(Code) ->
    exec(default, Code, default_timeout()).

%% @doc `exec(Target, Code)' when the first argument is a pool name or a
%% context pid; `exec(Code, Timeout)' otherwise, on the default pool.
%%
%% On a context pid, `Code' runs in that context's own namespace: what it
%% defines is seen by later `eval'/`exec' on the same context, and by
%% `py:call(Ctx, '__main__', F, Args)', which looks there before it looks
%% in `__main__'. Other contexts do not see it.
-spec exec(target(), code()) -> ok | {error, error_reason()};
          (code(), timeout()) -> ok | {error, error_reason()}.
exec(Target, Code) when is_atom(Target); is_pid(Target) ->
    exec(Target, Code, default_timeout());
exec(Code, Timeout) ->
    exec(default, Code, Timeout).

%% @doc Runs `Code' on the pool or context `Target', waiting at most
%% `Timeout' milliseconds (or `infinity').
-spec exec(target(), code(), timeout()) -> ok | {error, error_reason()}.
exec(Target, Code, Timeout) ->
    Bin = code_to_binary(Code),
    case check([{is_target(Target), pool},
                {is_binary(Bin), code},
                {is_timeout(Timeout), timeout}]) of
        ok -> request(Target, {exec, Bin}, Timeout);
        {error, _} = Error -> Error
    end.

%% @doc Starts `Module.Function(*Args)' on the registered pool and returns
%% at once; {@link await/1} gives the result.
-spec spawn_call(name(), name(), list()) -> handle().
spawn_call(Module, Function, Args) ->
    spawn_call(Module, Function, Args, #{}).

%% @doc `spawn_call(Target, Module, Function, Args)' when the fourth
%% argument is a list, `spawn_call(Module, Function, Args, Kwargs)' when it
%% is a map, as for {@link call/4}.
-spec spawn_call(target(), name(), name(), list()) -> handle();
                (name(), name(), list(), #{name() => term()}) -> handle().
spawn_call(Target, Module, Function, Args) when is_list(Args) ->
    spawn_call(Target, Module, Function, Args, #{});
spawn_call(Module, Function, Args, Kwargs) ->
    spawn_call(route(Module, Function), Module, Function, Args, Kwargs).

%% @doc Starts `Module.Function(*Args, **Kwargs)' on the pool or context
%% `Target' and returns at once.
-spec spawn_call(target(), name(), name(), list(), #{name() => term()}) -> handle().
spawn_call(Target, Module, Function, Args, Kwargs) ->
    Sent = case check_call(Target, Module, Function, Args, Kwargs, infinity) of
               ok -> send_tagged(Target, {call, Module, Function, Args, Kwargs});
               {error, _} = Error -> Error
           end,
    {py_call, self(), Sent}.

%% @doc The result of a {@link spawn_call/3}, waiting at most the default
%% timeout.
-spec await(handle()) -> {ok, term()} | {error, error_reason()}.
await(Handle) ->
    await(Handle, default_timeout()).

%% @doc The result of a {@link spawn_call/3}, waiting at most `Timeout'
%% milliseconds (or `infinity'). Only the process that called `spawn_call'
%% may await its handle (`{error, not_owner}' otherwise), once.
-spec await(handle(), timeout()) -> {ok, term()} | {error, error_reason()}.
await({py_call, Owner, _}, _Timeout) when Owner =/= self() ->
    {error, not_owner};
await({py_call, _, {error, _} = Error}, _Timeout) ->
    Error;
await({py_call, _, Mref}, Timeout) when is_reference(Mref) ->
    case is_timeout(Timeout) of
        true -> await_tagged(Mref, Timeout);
        false -> {error, {badarg, timeout}}
    end.

%% @doc The name erlang_python gives {@link spawn_call/3}: starts
%% `Module.Function(*Args)', typically an `async def' function, and
%% returns at once. Any call whose result is awaitable is awaited on its
%% context's event loop (docs/asyncio.md); {@link async_await/1} gives the
%% result.
-spec async_call(name(), name(), list()) -> handle().
async_call(Module, Function, Args) ->
    spawn_call(Module, Function, Args).

%% @doc {@link spawn_call/4} under erlang_python's name.
-spec async_call(target(), name(), name(), list()) -> handle();
                (name(), name(), list(), #{name() => term()}) -> handle().
async_call(TargetOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs) ->
    spawn_call(TargetOrModule, ModuleOrFunction, FunctionOrArgs, ArgsOrKwargs).

%% @doc {@link spawn_call/5} under erlang_python's name.
-spec async_call(target(), name(), name(), list(), #{name() => term()}) -> handle().
async_call(Target, Module, Function, Args, Kwargs) ->
    spawn_call(Target, Module, Function, Args, Kwargs).

%% @doc {@link await/1} under erlang_python's name.
-spec async_await(handle()) -> {ok, term()} | {error, error_reason()}.
async_await(Handle) ->
    await(Handle).

%% @doc {@link await/2} under erlang_python's name.
-spec async_await(handle(), timeout()) -> {ok, term()} | {error, error_reason()}.
async_await(Handle, Timeout) ->
    await(Handle, Timeout).

%% @doc Runs `Module.Function(*Args)' on the registered pool, without
%% waiting for it. A Python exception is logged (warning, domain
%% `[python]').
-spec cast(name(), name(), list()) -> ok | {error, error_reason()}.
cast(Module, Function, Args) ->
    cast(Module, Function, Args, #{}).

%% @doc `cast(Target, Module, Function, Args)' when the fourth argument is
%% a list, `cast(Module, Function, Args, Kwargs)' when it is a map.
-spec cast(target(), name(), name(), list()) -> ok | {error, error_reason()};
          (name(), name(), list(), #{name() => term()}) -> ok | {error, error_reason()}.
cast(Target, Module, Function, Args) when is_list(Args) ->
    cast(Target, Module, Function, Args, #{});
cast(Module, Function, Args, Kwargs) ->
    cast(route(Module, Function), Module, Function, Args, Kwargs).

%% @doc Runs `Module.Function(*Args, **Kwargs)' on the pool or context
%% `Target', without waiting for it. Returns `ok' once the request is on
%% its way, or an error for bad arguments or a port that does not run.
-spec cast(target(), name(), name(), list(), #{name() => term()}) ->
          ok | {error, error_reason()}.
cast(Target, Module, Function, Args, Kwargs) ->
    case check_call(Target, Module, Function, Args, Kwargs, infinity) of
        ok ->
            case py_context_router:route(Target) of
                {ok, {Port, _Owner, Address, _} = Route} ->
                    %% Not counted in flight: nothing answers a cast.
                    ok = py_process_pool:done(Route),
                    command(Port, envelope({call, Module, Function, Args, Kwargs}, cast,
                                           Address));
                {error, _} = Error ->
                    Error
            end;
        {error, _} = Error -> Error
    end.

%% @doc Routes every call of `Module' (`Module' an atom), or only of
%% `Module:Function' (`{Module, Function}'), to `Pool'. A function
%% registration takes priority over a module registration.
-spec register_pool(atom(), atom() | {atom(), atom()}) -> ok | {error, term()}.
register_pool(Pool, {Module, Function}) ->
    py_context_router:register_pool(Pool, Module, Function);
register_pool(Pool, Module) ->
    py_context_router:register_pool(Pool, Module).

%% @doc Removes the registration of `Module' or of `{Module, Function}'.
-spec unregister_pool(atom() | {atom(), atom()}) -> ok | {error, term()}.
unregister_pool({Module, Function}) ->
    py_context_router:unregister_pool(Module, Function);
unregister_pool(Module) ->
    py_context_router:unregister_pool(Module).

%% @doc Calls `Ref.Method(*Args)', on the default pool.
%% Example: `{ok, H} = py:call(hashlib, sha256, [{bytes, <<"x">>}]),
%% {ok, Hex} = py:call_method(H, hexdigest, [])'.
-spec call_method(ref(), name(), list()) -> {ok, term()} | {error, error_reason()}.
call_method(Ref, Method, Args) ->
    call_method(default, Ref, Method, Args, #{}).

%% @doc Calls `Ref.Method(*Args, **Kwargs)', on the default pool.
-spec call_method(ref(), name(), list(), #{name() => term()}) ->
          {ok, term()} | {error, error_reason()}.
call_method(Ref, Method, Args, Kwargs) ->
    call_method(default, Ref, Method, Args, Kwargs).

%% @doc Calls `Ref.Method(*Args, **Kwargs)' on the pool or context
%% `Target' (see docs/references.md for objects bound to one thread).
-spec call_method(target(), ref(), name(), list(), #{name() => term()}) ->
          {ok, term()} | {error, error_reason()}.
call_method(Target, Ref, Method, Args, Kwargs) ->
    case is_ref(Ref) of
        true -> call_ref(Target, Ref, Method, Args, Kwargs);
        false -> {error, {badarg, ref}}
    end.

%% @doc The attribute `Name' of the object `Ref' (converted, or a new
%% reference if it has no Erlang mapping).
-spec getattr(ref(), name()) -> {ok, term()} | {error, error_reason()}.
getattr(Ref, Name) ->
    case check([{is_ref(Ref), ref}, {is_name(Name), name}]) of
        ok -> eval_ref(Ref, <<"getattr(o, n)">>, #{o => Ref, n => Name});
        {error, _} = Error -> Error
    end.

%% @doc The object `Ref' converted to an Erlang term, or
%% `{error, {'TypeError', Message}}' when it (or something in it) has no
%% Erlang mapping.
-spec to_term(ref()) -> {ok, term()} | {error, error_reason()}.
to_term(Ref) ->
    case is_ref(Ref) of
        true -> eval_ref(Ref, <<"__import__('erlang')._term(o)">>, #{o => Ref});
        false -> {error, {badarg, ref}}
    end.

%% @doc Releases the Python object(s) now instead of when the owning
%% process exits. Using a released reference gives `{error, stale_ref}';
%% releasing one twice is `ok'.
-spec release(ref() | [ref()]) -> ok | {error, error_reason()}.
release(Refs) when is_list(Refs) ->
    case lists:all(fun is_ref/1, Refs) of
        true -> release_groups(maps:groups_from_list(fun({_, N, _}) -> N end,
                                                     fun({_, _, I}) -> I end, Refs));
        false -> {error, {badarg, ref}}
    end;
release(Ref) ->
    release([Ref]).

%% @doc Sets the level of Python's root logger: the records of that level
%% and above (from loggers with no level of their own) reach Erlang's
%% `logger' in the domain `[python]' (docs/api.md, "Python logging").
%% `Level' is a logger level, or a Python level number: `debug' is 10,
%% `info' 20, `notice' 25, `warning' 30, `error' 40, `critical' (and
%% `alert', `emergency') 50. Python starts at `warning'. The level holds
%% for the life of the port: a restarted port starts at `warning' again.
-spec configure_logging(#{level := logger:level() | non_neg_integer()}) ->
          ok | {error, error_reason()}.
configure_logging(#{level := Level}) ->
    case python_level(Level) of
        {ok, N} ->
            exec(default, [<<"__import__('logging').getLogger().setLevel(">>,
                           integer_to_binary(N), <<")">>], default_timeout());
        error ->
            {error, {badarg, level}}
    end;
configure_logging(_) ->
    {error, {badarg, level}}.

%% @doc Sets Python's root logger to the level of logger's primary
%% configuration (`notice' by default: Python's records from 25 up), so
%% that what Python forwards is what Erlang's logger keeps.
-spec configure_logging() -> ok | {error, error_reason()}.
configure_logging() ->
    #{level := Level} = logger:get_primary_config(),
    configure_logging(#{level => case Level of
                                     all -> 0;
                                     none -> 1 bsl 31 - 1;
                                     _ -> Level
                                 end}).

%% @doc Interrupts the request that the context `Ctx' (a pid of
%% {@link context/1} or `py_context_router:contexts/1') runs: its Python
%% code raises `erlang.Cancelled' at its next bytecode and its caller gets
%% `{error, interrupted}'; the context goes on serving. `not_running' when
%% the context runs nothing. Any process may interrupt any context.
-spec interrupt(pid()) -> ok | not_running | {error, error_reason()}.
interrupt(Ctx) when is_pid(Ctx) ->
    case request(Ctx, interrupt, default_timeout()) of
        {ok, 0} -> not_running;
        {ok, _} -> ok;
        {error, _} = Error -> Error
    end;
interrupt(_) ->
    {error, {badarg, pool}}.

%% @doc Whether `Term' is a reference to a Python object
%% (`{'$py_ref', Nonce, Id}', docs/references.md).
-spec is_ref(term()) -> boolean().
is_ref({'$py_ref', Nonce, Id}) -> is_integer(Nonce) andalso is_integer(Id);
is_ref(_) -> false.

%% @doc A context of the default pool, as
%% `py_context_router:get_context(default)'; raises
%% `{pool_not_started, default}' when it does not run.
-spec context() -> pid().
context() ->
    py_context_router:get_context(default).

%% @doc `context(N)', `N' an integer: the `N'th context (from 1) of the
%% default pool, the same pid each time (raises `{badarg, N}' outside
%% 1..size, `{pool_not_started, default}' when it does not run). `context(Pool)', an atom: a context of `Pool', as
%% `py_context_router:get_context/1'.
-spec context(pos_integer() | atom()) -> pid().
context(N) when is_integer(N) ->
    Contexts = py_context_router:contexts(default),
    if
        Contexts =:= [] -> erlang:error({pool_not_started, default});
        N >= 1, N =< length(Contexts) -> lists:nth(N, Contexts);
        true -> erlang:error({badarg, N})
    end;
context(Pool) when is_atom(Pool) ->
    py_context_router:get_context(Pool).

%% @doc Runs Python's full garbage collection (`gc.collect()') on the
%% default pool: `{ok, Unreachable}', the objects it found unreachable.
-spec gc() -> {ok, non_neg_integer()} | {error, error_reason()}.
gc() ->
    gc(2).

%% @doc `gc.collect(Generation)', `Generation' 0, 1 or 2, on the default
%% pool.
-spec gc(0..2) -> {ok, non_neg_integer()} | {error, error_reason()}.
gc(Generation) when Generation =:= 0; Generation =:= 1; Generation =:= 2 ->
    eval(default, <<"__import__('gc').collect(g)">>, #{g => Generation}, default_timeout());
gc(_) ->
    {error, {badarg, args}}.

%% @doc Python's allocator and collector figures, from a context of the
%% default pool: `allocated_blocks' (`sys.getallocatedblocks()'),
%% `gc_count' and `gc_threshold' (tuples of the three generations),
%% `gc_stats' (a list of maps, one per generation: `collections',
%% `collected', `uncollectable'), `traced_memory' (`{Current, Peak}' bytes
%% while `tracemalloc' traces, else `none') and `rss' (the port's
%% resident bytes).
-spec memory_stats() -> {ok, #{atom() => term()}} | {error, error_reason()}.
memory_stats() ->
    Code = <<"(lambda gc, sys, tm: (sys.getallocatedblocks(), gc.get_count(),"
             " gc.get_threshold(), gc.get_stats(),"
             " tm.get_traced_memory() if tm.is_tracing() else None))"
             "(__import__('gc'), __import__('sys'), __import__('tracemalloc'))">>,
    case eval(default, Code, #{}, default_timeout()) of
        {ok, {Blocks, Count, Threshold, Stats, Traced}} ->
            Rss = case stats() of
                      {ok, #{port := #{memory := M}}} -> M;
                      _ -> undefined
                  end,
            {ok, #{allocated_blocks => Blocks, gc_count => Count, gc_threshold => Threshold,
                   gc_stats => [maps:from_list([{binary_to_atom(K), V} || {K, V} <- maps:to_list(S)])
                                || S <- Stats],
                   traced_memory => case Traced of
                                        {_, _} -> Traced;
                                        _ -> none
                                    end,
                   rss => Rss}};
        {error, _} = Error ->
            Error
    end.

%% @doc What the port and each pool have done: `{ok, #{pools => #{Pool =>
%% PoolStats}, port => PortStats}}'. PoolStats: `size', `mode', `busy'
%% (contexts running a request), `queued', `tasks' (coroutine calls in
%% flight on the pool's event loops, docs/asyncio.md), `completed'
%% (requests run to their end, coroutine calls when they end), `errors' (of which raised), `timeouts' (cancelled because
%% their caller timed out), `cancelled' (cancelled because their caller
%% exited), `p50_us', `p99_us' (from queued to done, microseconds, within
%% 12.5 %; -1 before any). PortStats: `os_pid', `memory' (resident bytes),
%% `uptime_ms', `restarts', `python_version', `version'. A `process' pool
%% (docs/pools.md) has its counts summed over its contexts' processes,
%% `p50_us'/`p99_us' the worst one's, and `processes': one map per
%% context with `index', `os_pid', `memory' and `in_flight'. A pool with
%% nodes (docs/distribution.md) has its counts summed over its parts
%% that are up, and `nodes': one map per node, its part's stats with
%% `up' and `in_flight' (this node's requests on it), or `#{up => false,
%% in_flight => N}'.
-spec stats() -> {ok, map()} | {error, error_reason()}.
stats() ->
    case local_stats() of
        {ok, #{pools := Pools} = Stats} ->
            Remote = maps:from_list([{Pool, py_remote:stats(Pool)} || Pool <- py_remote:pools()]),
            {ok, Stats#{pools := maps:merge(Pools, Remote)}};
        {error, _} = Error ->
            Error
    end.

%% @private What this node's port and pools have done (stats/0 without
%% the pools with nodes).
-spec local_stats() -> {ok, map()} | {error, error_reason()}.
local_stats() ->
    case main_stats() of
        {ok, #{pools := Pools} = Port} ->
            Modes = [{Pool, py_context_router:pool_mode(Pool)} || Pool <- maps:keys(Pools)],
            Workers = maps:from_list([{Pool, (maps:get(Pool, Pools))#{mode => Mode}}
                                      || {Pool, Mode} <- Modes]),
            Ask = fun(Route) -> request_on(Route, stats, default_timeout()) end,
            Processes = maps:from_list([{Pool, py_process_pool:stats(Pool, Ask)}
                                        || Pool <- py_process_pool:pools()]),
            {ok, #{pools => maps:merge(Workers, Processes),
                   port => (maps:remove(pools, Port))#{restarts => py_registry:restarts()}}};
        {error, _} = Error ->
            Error
    end.

main_stats() ->
    case main_route() of
        {ok, Route} -> request_on(Route, stats, default_timeout());
        {error, _} = Error -> Error
    end.

%% @doc Versions: this application's, py_port's, the protocol's and the
%% running Python's, and `free_threaded': whether that Python is a
%% free-threaded build (no GIL: worker contexts then run in parallel too).
%% Also which Python that is (docs/environments.md): `libpython', the
%% file of the shared library the main port loaded; `stdlib', the
%% directory of its standard library; `executable', its `sys.executable'
%% (a venv's `bin/python' when the `venv' app env is set).
%% `{error, not_started}' when the port does not run.
-spec version() -> {ok, #{atom() => term()}} | {error, not_started}.
version() ->
    case persistent_term:get({py, port_info}, undefined) of
        #{python_version := Python, py_port := PyPort} = Info ->
            {ok, Vsn} = application:get_key(erlang_python, vsn),
            Paths = maps:with([libpython, stdlib, executable], Info),
            {ok, Paths#{erlang_python => list_to_binary(Vsn), py_port => PyPort,
                        python => Python, protocol => 1,
                        free_threaded => maps:get(free_threaded, Info, false)}};
        undefined ->
            {error, not_started}
    end.

%% @doc The virtualenv the main port runs in (docs/environments.md):
%% `venv', its directory (`sys.prefix') or `undefined' when the port runs
%% no venv; `prefix' and `base_prefix', Python's `sys.prefix' and
%% `sys.base_prefix'; `site_packages', the site-packages directories on
%% `sys.path', in order; `executable', `sys.executable'. All paths are
%% binaries. `{error, not_started}' when the port does not run.
-spec venv_info() -> {ok, #{atom() => term()}} | {error, not_started}.
venv_info() ->
    case persistent_term:get({py, port_info}, undefined) of
        #{prefix := Prefix, base_prefix := Base} = Info ->
            Venv = case Prefix =:= Base of
                       true -> undefined;
                       false -> Prefix
                   end,
            {ok, (maps:with([prefix, base_prefix, site_packages, executable], Info))#{venv => Venv}};
        _ ->
            {error, not_started}
    end.

%% @doc Makes `Fun' callable from Python as `Name': `erlang.call('Name',
%% *Args)', `erlang.Name(*Args)' or `from erlang import Name'. `Fun'
%% receives the list of arguments and runs in a new process for each
%% call; an exception in it raises `erlang.Error' in Python
%% (docs/callbacks.md). Registering a name again replaces its function.
%% Example: `ok = py:register_function(add, fun([A, B]) -> A + B end)',
%% then `{ok, 3} = py:eval(<<"__import__('erlang').add(1, 2)">>)'.
-spec register_function(name(), fun((list()) -> term())) -> ok | {error, error_reason()}.
register_function(Name, Fun) ->
    register(function_name(Name), Fun, is_function(Fun, 1)).

%% @doc Makes `Module:Function(Args)' callable from Python as `Name'; it
%% receives the list of arguments.
-spec register_function(name(), module(), atom()) -> ok | {error, error_reason()}.
register_function(Name, Module, Function) ->
    register(function_name(Name), {Module, Function}, is_atom(Module) andalso is_atom(Function)).

%% @doc Removes the function registered as `Name': Python then gets
%% `NameError' for it. `ok' also when none was.
-spec unregister_function(name()) -> ok | {error, error_reason()}.
unregister_function(Name) ->
    case function_name(Name) of
        {ok, Bin} -> py_registry:unregister_function(Bin);
        error -> {error, {badarg, name}}
    end.

%% @doc Calls `Module.Function(*Args)' and collects what it returns, an
%% iterable (a generator, say), into a list: `{ok, List}'.
%% @equiv stream(Module, Function, Args, #{})
-spec stream(name(), name(), list()) -> {ok, list()} | {error, error_reason()}.
stream(Module, Function, Args) ->
    stream(Module, Function, Args, #{}).

%% @doc `stream/3' with keyword arguments, on the pool registered for
%% `Module' (or `Module:Function'), with the default timeout.
%% @equiv stream(Module, Function, Args, Kwargs, default_timeout())
-spec stream(name(), name(), list(), #{name() => term()}) ->
          {ok, list()} | {error, error_reason()}.
stream(Module, Function, Args, Kwargs) ->
    stream(Module, Function, Args, Kwargs, default_timeout()).

%% @doc `stream/4' waiting at most `Timeout' milliseconds (or `infinity')
%% for the whole list.
-spec stream(name(), name(), list(), #{name() => term()}, timeout()) ->
          {ok, list()} | {error, error_reason()}.
stream(Module, Function, Args, Kwargs, Timeout) ->
    Target = route(Module, Function),
    case check_call(Target, Module, Function, Args, Kwargs, Timeout) of
        ok -> request(Target, {stream, Module, Function, Args, Kwargs}, Timeout);
        {error, _} = Error -> Error
    end.

%% @doc Evaluates the expression `Code', an iterable, into a list.
%% Example: `{ok, [0, 1, 4]} = py:stream_eval(<<"(x * x for x in range(3))">>)'.
-spec stream_eval(code()) -> {ok, list()} | {error, error_reason()}.
stream_eval(Code) ->
    stream_eval(Code, #{}).

%% @doc `stream_eval/1' with `Locals' as local variables, on the default
%% pool.
-spec stream_eval(code(), #{name() => term()}) -> {ok, list()} | {error, error_reason()}.
stream_eval(Code, Locals) ->
    stream_eval(Code, Locals, default_timeout()).

%% @doc `stream_eval/2' waiting at most `Timeout' milliseconds (or
%% `infinity') for the whole list.
-spec stream_eval(code(), #{name() => term()}, timeout()) ->
          {ok, list()} | {error, error_reason()}.
stream_eval(Code, Locals, Timeout) ->
    Bin = code_to_binary(Code),
    case check([{is_binary(Bin), code}, {is_map(Locals), locals},
                {is_timeout(Timeout), timeout}]) of
        ok -> request(default, {stream_eval, Bin, Locals}, Timeout);
        {error, _} = Error -> Error
    end.

%% @doc Starts `Module.Function(*Args)' and sends its items as they come.
%% @equiv stream_start(Module, Function, Args, #{})
-spec stream_start(name(), name(), list()) -> {ok, stream_ref()} | {error, error_reason()}.
stream_start(Module, Function, Args) ->
    stream_start(Module, Function, Args, #{}).

%% @doc Starts `Module.Function(*Args, **Kwargs)' and returns `{ok, Ref}';
%% the calling process then receives `{py_stream, Ref, {data, Item}}' for
%% each item of the iterable it returns, in order, and last
%% `{py_stream, Ref, done}' or `{py_stream, Ref, {error, Reason}}'.
%% Options: `kwargs' (a map, default `#{}'), `pool' (a pool or context
%% pid, default the registered pool) and `window' (default 64): Python
%% runs ahead of this process by at most `window' items, counting the
%% messages waiting in its mailbox (docs/streaming.md).
-spec stream_start(name(), name(), list(), #{kwargs => map(), pool => target(),
                                            window => pos_integer()}) ->
          {ok, stream_ref()} | {error, error_reason()}.
stream_start(Module, Function, Args, Opts) when is_map(Opts) ->
    Kwargs = maps:get(kwargs, Opts, #{}),
    Target = maps:get(pool, Opts, route(Module, Function)),
    Window = maps:get(window, Opts, 64),
    Known = maps:without([kwargs, pool, window], Opts) =:= #{},
    case check([{Known andalso is_integer(Window) andalso Window > 0
                 andalso Window < 1 bsl 31, options}]) of
        ok ->
            case check_call(Target, Module, Function, Args, Kwargs, infinity) of
                ok -> start_stream(py_context_router:route(Target),
                                   {Module, Function, Args, Kwargs}, Window);
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
stream_start(_Module, _Function, _Args, _Opts) ->
    {error, {badarg, options}}.

%% @doc Stops the stream `Ref' (closing the generator in Python, so that
%% its `finally' blocks run) and removes its messages from the mailbox:
%% none arrives after this returns. `ok' also for a stream that has ended;
%% `{error, not_owner}' from a process other than the one that started it.
-spec stream_cancel(stream_ref()) -> ok | {error, not_owner}.
stream_cancel(Ref) ->
    py_stream:cancel(Ref).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% A stream is not counted in flight: it may live for ever.
start_stream({ok, {Port, Owner, Address, _} = Route}, Call, Window) ->
    ok = py_process_pool:done(Route),
    py_stream:start({Port, Owner, Address}, Call, Window);
start_stream({error, _} = Error, _Call, _Window) ->
    Error.

%% The one request path. The caller finds where Target runs (the routing
%% seam, py_context_router:route/1, the same for every mode) and monitors
%% that port's owner with an alias as the reply address: a reply after a
%% timeout is dropped by the runtime, and a port that dies answers the
%% caller through the monitor. A process pool's member counts the request
%% in flight until its reply, timeout or death.
request(Target, Request, Timeout) ->
    case route_of(Target) of
        {ok, Route} -> request_on(Route, Request, Timeout);
        {error, _} = Error -> Error
    end.

%% The reply address is {Alias, self()}: the alias receives the reply, and
%% the pid lets the port cancel the requests of a caller that exits
%% (py_callers watches each caller).
%% Every receive of the reply is in the function that makes the monitor,
%% and each matches it, so that the compiler's receive marker lets them
%% skip the messages that were in the mailbox before: a busy gen_server's
%% call costs no scan of its queue. (erlang:demonitor/2's `flush' would
%% scan it all.)
request_on({Port, Owner, Address, _} = Route, Request, Timeout) ->
    watch_caller(Owner),
    Mref = erlang:monitor(process, Owner, [{alias, reply_demonitor}]),
    Result = case command(Port, envelope(Request, {Mref, self()}, Address)) of
                 ok ->
                     receive
                         {Mref, Payload} ->
                             %% The reply took the monitor away; the 'DOWN'
                             %% of an owner that died right after forwarding
                             %% it may be here already.
                             receive {'DOWN', Mref, process, _, _} -> ok after 0 -> ok end,
                             result(binary_to_term(Payload), Route);
                         {'DOWN', Mref, process, Down, Reason} ->
                             {error, py_remote:exit_reason(Reason, Down)}
                     after Timeout ->
                         erlang:demonitor(Mref),
                         %% Asks the port to drop the request (queued) or
                         %% interrupt it (running).
                         _ = command(Port, {cancel, cast, {Mref, self()}}),
                         %% A reply, or a 'DOWN', that came before the
                         %% monitor and its alias went away.
                         receive {Mref, _} -> ok after 0 -> ok end,
                         receive {'DOWN', Mref, process, _, _} -> ok after 0 -> ok end,
                         {error, timeout}
                     end;
                 {error, _} = Error ->
                     erlang:demonitor(Mref, [flush]),
                     Error
             end,
    ok = py_process_pool:done(Route),
    Result.

%% Where a target runs. A reference's requests go to the port that made
%% it (docs/references.md), unless addressed to a context; one made on
%% another node goes there (py_remote), or fails clearly.
route_of({ref, Nonce, Target}) ->
    case py_process_pool:nonce_route(Nonce) of
        {ok, _} = Found when is_atom(Target) ->
            Found;
        _ ->
            case py_remote:nonce_route(Nonce, Target) of
                none -> py_context_router:route(Target);
                Remote -> Remote
            end
    end;
route_of(Target) ->
    py_context_router:route(Target).

%% The main port, whatever pools run.
main_route() ->
    case persistent_term:get(?PORT_KEY, undefined) of
        {Port, Owner} -> {ok, {Port, Owner, default, undefined}};
        undefined -> {error, not_started}
    end.

%% A spawn_call's request. Its reply comes to this process as
%% {Mref, Payload} (the header {{Mref}, Pid}), Mref a plain monitor of
%% the owner: not an alias, which a process that exits without awaiting
%% would leave active, and whose memory OTP before 25.3 never frees then
%% (OTP-18496). The route waits in the process dictionary for await/2.
send_tagged(Target, Request) ->
    case py_context_router:route(Target) of
        {ok, {Port, Owner, Address, _} = Route} ->
            watch_caller(Owner),
            Mref = erlang:monitor(process, Owner),
            case command(Port, envelope(Request, {{Mref}, self()}, Address)) of
                ok ->
                    put({?CALL_KEY, Mref}, Route),
                    Mref;
                {error, _} = Error ->
                    erlang:demonitor(Mref, [flush]),
                    ok = py_process_pool:done(Route),
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

%% Waits for a spawn_call's reply, or for its owner to go down (after any
%% reply it forwarded: signals from one process arrive in order).
await_tagged(Mref, Timeout) ->
    Route = erase({?CALL_KEY, Mref}),
    Result = receive
                 {Mref, Payload} ->
                     erlang:demonitor(Mref, [flush]),
                     result(binary_to_term(Payload), Route);
                 {'DOWN', Mref, process, Down, Reason} ->
                     {error, py_remote:exit_reason(Reason, Down)}
             after Timeout ->
                 drop_tagged(Mref, Route),
                 {error, timeout}
             end,
    ok = py_process_pool:done(Route),
    Result.

%% Cancels the request of an await that timed out, so that its reply
%% never lands in the mailbox later: the port says whether it cancelled
%% it; if it did not, the reply is on its way and is taken out here (its
%% objects owned, so released when this process exits). An owner that
%% is down has sent all it will.
drop_tagged(Mref, {Port, Owner, _, _} = Route) ->
    receive
        {'DOWN', Mref, process, _, _} -> ok
    after 0 ->
        _ = case request_on({Port, Owner, default, undefined}, {cancel, {{Mref}, self()}},
                        ?DROP_TIMEOUT) of
            {ok, 0} ->
                receive
                    {Mref, Payload} -> _ = result(binary_to_term(Payload), Route);
                    {'DOWN', Mref, process, _, _} -> ok
                after ?DROP_TIMEOUT ->
                    ok
                end;
            _ ->
                ok
        end,
        erlang:demonitor(Mref, [flush])
    end.

%% The first request of a process to a port makes py_callers watch it
%% (once per owner; the few last owners are remembered).
watch_caller(Owner) ->
    Watched = case get(?WATCHED_KEY) of
                  undefined -> [];
                  List -> List
              end,
    case lists:member(Owner, Watched) of
        true -> ok;
        false -> py_remote:watch(Owner), put(?WATCHED_KEY, lists:sublist([Owner | Watched], 8))
    end.

route(Module, Function) ->
    py_context_router:lookup_pool(Module, Function).

check_call(Target, Module, Function, Args, Kwargs, Timeout) ->
    check([{is_target(Target), pool},
           {is_name(Module) orelse is_ref(Module), module},
           {is_name(Function), function},
           {is_list(Args), args},
           {is_map(Kwargs), kwargs},
           {is_timeout(Timeout), timeout}]).

envelope({call, Module, Function, Args, Kwargs}, ReplyTo, Target) ->
    {call, ReplyTo, Target, Module, Function, Args, Kwargs};
envelope({eval, Code, Locals}, ReplyTo, Target) ->
    {eval, ReplyTo, Target, Code, Locals};
envelope({stream, Module, Function, Args, Kwargs}, ReplyTo, Target) ->
    {stream, ReplyTo, Target, Module, Function, Args, Kwargs};
envelope({stream_eval, Code, Locals}, ReplyTo, Target) ->
    {stream_eval, ReplyTo, Target, Code, Locals};
envelope({exec, Code}, ReplyTo, Target) ->
    {exec, ReplyTo, Target, Code};
envelope({release, Nonce, Ids}, ReplyTo, Target) ->
    {release, ReplyTo, Target, Nonce, Ids};
envelope({cancel, Key}, ReplyTo, _Target) ->
    {cancel, ReplyTo, Key};
envelope(stats, ReplyTo, _Target) ->
    {stats, ReplyTo};
envelope(interrupt, ReplyTo, Target) ->
    {interrupt, ReplyTo, Target}.

%% Writes the request; to a port on another node, through its owner.
command({py_remote, _} = Remote, Request) ->
    py_remote:command(Remote, Request);
command(Port, Request) ->
    try erlang:port_command(Port, term_to_binary(Request)) of
        true -> ok
    catch
        error:badarg -> {error, {port_exited, closed}}
    end.

%% A reply that came by Route: references are routed back to its port,
%% and one of a port on another node is owned there (py_remote).
result({ok, Value, {Nonce, Ids}}, {{py_remote, _} = Port, Owner, _Address, _}) ->
    ok = py_remote:learn(Nonce, Port, Owner),
    ok = py_remote:own(Port, self(), Nonce, Ids),
    {ok, Value};
result({ok, _, {Nonce, _}} = Reply, {Port, Owner, _Address, _}) ->
    ok = py_process_pool:learn_nonce(Nonce, Port, Owner),
    result(Reply);
result(Reply, _Route) ->
    result(Reply).

result({ok, _} = Ok) ->
    Ok;
result({ok, Value, {Nonce, Ids}}) ->
    %% The value holds references to new Python objects: this process owns
    %% them from now on.
    ok = py_callers:own(self(), Nonce, Ids),
    {ok, Value};
result(ok) ->
    ok;
result(Error) ->
    failure(Error).

%% @private The error a failed reply stands for; py_stream's relay reads
%% the end of a stream with it too.
-spec failure({error, term()} | {error, {atom(), binary()}, binary()}) ->
          {error, error_reason()}.
failure({error, {'StaleReference', _}, _Traceback}) ->
    {error, stale_ref};
failure({error, {'Cancelled', _}, _Traceback}) ->
    {error, interrupted}; % py:interrupt/1: a cancelled request has no reply

failure({error, {Name, Message}, Traceback}) ->
    ?LOG_DEBUG("Python raised ~ts: ~ts~n~ts", [Name, Message, Traceback],
               #{domain => [python]}),
    {error, {Name, Message}};
failure({error, _} = Error) ->
    Error.

%% @private The reason a caller gets when the port owner went down with
%% `Reason'.
-spec port_exit_reason(term()) -> {port_exited, term()} | {pool_stopped, atom()}.
port_exit_reason({port_exited, _} = Reason) -> Reason;
port_exit_reason({shutdown, {pool_stopped, _} = Reason}) -> Reason; % a process pool's member
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

%% Registers Function under the checked name, if Function is one.
register({ok, Name}, Function, true) -> py_registry:register_function(Name, Function);
register({ok, _}, _Function, false) -> {error, {badarg, function}};
register(error, _Function, _) -> {error, {badarg, name}}.

%% A function name as Python spells it: a non-empty UTF-8 binary.
function_name(Name) when is_atom(Name) ->
    function_name(atom_to_binary(Name));
function_name(Name) when is_binary(Name), Name =/= <<>> ->
    case unicode:characters_to_binary(Name) of
        Name -> {ok, Name};
        _ -> error
    end;
function_name(_) ->
    error.

is_target(Target) -> is_atom(Target) orelse is_pid(Target).

%% A call of a reference's method, on the port that made it.
call_ref(Target, {'$py_ref', Nonce, _} = Ref, Method, Args, Kwargs) ->
    case check_call(Target, Ref, Method, Args, Kwargs, infinity) of
        ok -> request({ref, Nonce, Target}, {call, Ref, Method, Args, Kwargs}, default_timeout());
        {error, _} = Error -> Error
    end.

%% An eval that uses a reference, on the port that made it.
eval_ref({'$py_ref', Nonce, _}, Code, Locals) ->
    request({ref, Nonce, default}, {eval, Code, Locals}, default_timeout()).

%% Releases each group of ids (one per port nonce), then disowns them.
release_groups(ByNonce) ->
    release_groups(maps:to_list(ByNonce), ok).

release_groups([], Result) ->
    Result;
release_groups([{Nonce, Ids} | Rest], _) ->
    case request({ref, Nonce, default}, {release, Nonce, Ids}, default_timeout()) of
        ok ->
            ok = py_callers:disown(self(), Nonce, Ids),
            release_groups(Rest, ok);
        {error, _} = Error ->
            Error
    end.

%% The Python level number of a logger level or number.
python_level(debug) -> {ok, 10};
python_level(info) -> {ok, 20};
python_level(notice) -> {ok, 25};
python_level(warning) -> {ok, 30};
python_level(error) -> {ok, 40};
python_level(Level) when Level =:= critical; Level =:= alert; Level =:= emergency -> {ok, 50};
python_level(N) when is_integer(N), N >= 0, N < 1 bsl 31 -> {ok, N};
python_level(_) -> error.

is_timeout(infinity) -> true;
is_timeout(T) -> is_integer(T) andalso T >= 0 andalso T =< ?MAX_TIMEOUT.

default_timeout() ->
    py_config:get(call_timeout).
