%% @doc The application environment of `erlang_python': one table of
%% every key with its type, range and default (docs/api.md lists them).
%%
%% DESIGN: {@link validate/0} checks every key when the application starts,
%% so a bad value fails the start with an error that names the key and the
%% value, `{bad_env, Key, Value, Expected}', instead of a crash deep in the
%% port owner or a port that exits with a usage message on its stderr.
%% The code that reads the environment reads it through {@link get/1}, so
%% the defaults live here only. A value set to something bad after the
%% start (`application:set_env/3') is not used: {@link get/1} gives the
%% default instead, so a caller is still answered.
-module(py_config).

-include_lib("kernel/include/logger.hrl").

%% API
-export([validate/0]).
-export([get/1]).
-export([keys/0]).
-export([check/2]).
-export([is_preload/1]).
-export([is_venv/1]).

-export_type([key/0]).

-type key() :: default_pool_size | default_pool_mode | call_timeout | python_path
             | port_env | port_executable | context_spin_us | max_queue | trace | record
             | max_restarts | max_restart_period | start_timeout
             | send_window | send_timeout | max_output_backlog | max_new_atoms
             | ping_interval | ping_timeout | none_atom | log_to_default_handler
             | venv | preload.

-define(APP, erlang_python).
%% The largest timeout `receive ... after' accepts.
-define(MAX_TIMEOUT, 16#ffffffff).
%% Bounds py_port checks too (port/main.c, PY_PORT_MAX_POOL_SIZE).
-define(MAX_POOL_SIZE, 1024).
-define(MAX_SPIN_US, 1000000).
-define(MAX_MAX_QUEUE, 100000000).
%% The largest window, timeout or count py_port takes (MAX_COUNT in
%% port/main.c).
-define(MAX_COUNT, 16#7fffffff).
%% The command line of py_port must fit the kernel's ARG_MAX (2 MB by
%% default on Linux, environment included): beyond it exec fails, and the
%% port exits with status 7 (E2BIG), which names no key.
-define(MAX_PATH_BYTES, 1024 * 1024).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Checks every key of the application's environment: `ok', or
%% `{error, {bad_env, Key, Value, Expected}}' for the first bad one in
%% the order of {@link keys/0}, `Expected' saying in words what it must
%% be. A key this table does not know is logged (a typo is otherwise
%% silent) and left alone.
-spec validate() -> ok | {error, {bad_env, key(), term(), binary()}}.
validate() ->
    _ = [?LOG_WARNING("erlang_python: unknown application env key ~tp ignored", [Key])
         || {Key, _} <- application:get_all_env(?APP), not lists:member(Key, keys())],
    validate(keys()).

%% @doc The value of `Key': the one set if it is valid, else its default.
-spec get(key()) -> term().
get(Key) ->
    case application:get_env(?APP, Key) of
        {ok, Value} ->
            case check(Key, Value) of
                ok -> Value;
                {error, _} -> default(Key)
            end;
        undefined ->
            default(Key)
    end.

%% @doc Every key, in the order {@link validate/0} checks them.
-spec keys() -> [key()].
keys() ->
    [default_pool_size, default_pool_mode, call_timeout, python_path, port_env,
     port_executable, context_spin_us, max_queue, trace, record, max_restarts, max_restart_period,
     start_timeout, send_window, send_timeout, max_output_backlog, max_new_atoms,
     ping_interval, ping_timeout, none_atom, log_to_default_handler, venv, preload].

%% @doc Whether `Value' is valid for `Key': `ok' or `{error, Expected}'.
-spec check(key(), term()) -> ok | {error, binary()}.
check(Key, Value) ->
    {Valid, Expected} = spec(Key),
    case Valid(Value) of
        true -> ok;
        false -> {error, Expected}
    end.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

validate([]) ->
    ok;
validate([Key | Rest]) ->
    case application:get_env(?APP, Key) of
        undefined ->
            validate(Rest);
        {ok, Value} ->
            case check(Key, Value) of
                ok -> validate(Rest);
                {error, Expected} -> {error, {bad_env, Key, Value, Expected}}
            end
    end.

%% The default of each key; `undefined' for `record' means none.
default(default_pool_size) -> erlang:system_info(schedulers);
default(default_pool_mode) -> worker;
default(call_timeout) -> 30000;
default(python_path) -> [];
default(port_env) -> [];
default(port_executable) -> filename:join(priv_dir(), "py_port");
default(context_spin_us) -> 50;
default(max_queue) -> 10000;
default(trace) -> false;
default(record) -> undefined;
default(max_restarts) -> 5;
default(max_restart_period) -> 10;
default(start_timeout) -> 10000;
default(send_window) -> 64 * 1024 * 1024;
default(send_timeout) -> 60000;
default(max_output_backlog) -> 64 * 1024 * 1024;
default(max_new_atoms) -> 10000;
default(ping_interval) -> 5000;
default(ping_timeout) -> 15000;
default(none_atom) -> none;
default(log_to_default_handler) -> true;
default(venv) -> undefined;
default(preload) -> undefined.

%% The check of each key, and what it says when the check fails.
spec(default_pool_size) ->
    int(1, ?MAX_POOL_SIZE);
spec(default_pool_mode) ->
    {fun(V) -> lists:member(V, [worker, owngil, process]) end, <<"worker, owngil or process">>};
spec(call_timeout) ->
    {fun(V) -> V =:= infinity orelse in(V, 0, ?MAX_TIMEOUT) end,
     <<"infinity or an integer in 0..4294967295 (milliseconds)">>};
spec(python_path) ->
    {fun(V) -> all(fun(D) -> is_path(D) andalso bytes(D) < 4096 end, V)
                   andalso lists:sum([bytes(D) + 1 || D <- V]) =< ?MAX_PATH_BYTES end,
     <<"a list of directories, each a non-empty string or binary without NUL "
       "of at most 4095 bytes, 1 MB in all">>};
spec(port_env) ->
    {fun(V) -> all(fun is_env_pair/1, V) end,
     <<"a list of {Name, Value | false}, Name a non-empty string without '=' or NUL, "
       "Value a string without NUL">>};
spec(port_executable) ->
    {fun is_path/1, <<"a non-empty string or binary without NUL">>};
spec(context_spin_us) ->
    int(0, ?MAX_SPIN_US);
spec(max_queue) ->
    int(1, ?MAX_MAX_QUEUE);
spec(trace) ->
    {fun is_boolean/1, <<"true or false">>};
spec(record) ->
    {fun(V) -> V =:= undefined orelse (is_path(V) andalso in_directory(V)) end,
     <<"undefined or a file name (a non-empty string or binary without NUL) "
       "in an existing directory">>};
spec(max_restarts) ->
    int(0, ?MAX_TIMEOUT);
spec(max_restart_period) ->
    int(1, ?MAX_TIMEOUT);
spec(start_timeout) ->
    int(1, ?MAX_TIMEOUT);
spec(send_window) ->
    int(1, ?MAX_COUNT);
spec(send_timeout) ->
    int(0, ?MAX_COUNT);
spec(max_output_backlog) ->
    int(1, ?MAX_COUNT);
spec(max_new_atoms) ->
    int(0, ?MAX_COUNT);
spec(ping_interval) ->
    int(1, ?MAX_TIMEOUT);
spec(ping_timeout) ->
    int(1, ?MAX_TIMEOUT);
spec(none_atom) ->
    {fun(V) -> lists:member(V, [none, nil, undefined]) end, <<"none, nil or undefined">>};
spec(log_to_default_handler) ->
    {fun is_boolean/1, <<"true or false">>};
spec(venv) ->
    {fun(V) -> V =:= undefined orelse is_venv(V) end,
     <<"undefined or a virtualenv directory (one with a pyvenv.cfg), "
       "a string or binary without NUL">>};
spec(preload) ->
    {fun(V) -> V =:= undefined orelse is_preload(V) end,
     <<"undefined, Python source (a UTF-8 binary or a string, without NUL), "
       "or {file, Path} of a readable file">>}.

%% @doc Whether `V' is a valid `preload' (app env or pool option):
%% Python source as a UTF-8 binary or a string, or `{file, Path}' of a
%% regular file.
-spec is_preload(term()) -> boolean().
is_preload(Source) when is_binary(Source) ->
    unicode:characters_to_binary(Source) =:= Source
        andalso binary:match(Source, <<0>>) =:= nomatch;
is_preload({file, Path}) ->
    is_path(Path) andalso filelib:is_regular(Path);
is_preload(Source) ->
    is_text(Source).

%% @doc Whether `V' names a virtualenv: a directory with a pyvenv.cfg.
-spec is_venv(term()) -> boolean().
is_venv(V) ->
    is_path(V) andalso bytes(V) < 4000 andalso filelib:is_regular(filename:join(V, "pyvenv.cfg")).

int(Min, Max) ->
    {fun(V) -> in(V, Min, Max) end,
     iolist_to_binary(io_lib:format("an integer in ~b..~b", [Min, Max]))}.

in(V, Min, Max) ->
    is_integer(V) andalso V >= Min andalso V =< Max.

%% What open_port/2 takes as an argument or a file name.
is_path(V) when is_binary(V) ->
    V =/= <<>> andalso binary:match(V, <<0>>) =:= nomatch;
is_path(V) ->
    is_text(V) andalso V =/= [].

is_env_pair({Name, false}) ->
    is_env_name(Name);
is_env_pair({Name, Value}) ->
    is_env_name(Name) andalso is_text(Value);
is_env_pair(_) ->
    false.

is_env_name(Name) ->
    is_text(Name) andalso Name =/= [] andalso not lists:member($=, Name).

%% A flat string of characters, without NUL.
is_text(V) ->
    all(fun(C) -> is_integer(C) andalso C > 0 andalso C =< 16#10ffff end, V).

%% Whether V is a proper list whose every element passes Pred.
all(_Pred, []) -> true;
all(Pred, [H | T]) -> Pred(H) andalso all(Pred, T);
all(_Pred, _) -> false.

%% The size of a file name on the command line.
bytes(Name) when is_binary(Name) -> byte_size(Name);
bytes(Name) -> byte_size(unicode:characters_to_binary(Name)).

%% The port creates the file; its directory must be there.
in_directory(File) ->
    filelib:is_dir(filename:dirname(File)).

priv_dir() ->
    case code:priv_dir(?APP) of
        {error, bad_name} -> "priv";
        Dir -> Dir
    end.
