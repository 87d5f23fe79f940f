%% Common Test suite of the application environment (docs/api.md,
%% "Application environment"): every key is checked when the application
%% starts, a bad value fails the start with `{bad_env, Key, Value,
%% Expected}', and a value made bad after the start is not used.
-module(py_config_SUITE).

-include_lib("common_test/include/ct.hrl").

%% Common Test callbacks
-export([all/0]).
-export([suite/0]).
-export([init_per_suite/1]).
-export([end_per_suite/1]).
-export([init_per_testcase/2]).
-export([end_per_testcase/2]).

%% cases
-export([bad_value_of_each_key_fails_the_start/1]).
-export([every_key_documented/1]).
-export([good_values_at_the_bounds_start/1]).
-export([bad_value_set_after_the_start_is_not_used/1]).
-export([python_path_of_many_entries/1]).

-define(APP, erlang_python).

%%% ==========================================================================
%%% Common Test callbacks
%%% ==========================================================================

all() ->
    [bad_value_of_each_key_fails_the_start, every_key_documented,
     good_values_at_the_bounds_start, bad_value_set_after_the_start_is_not_used,
     python_path_of_many_entries].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_suite(Config) ->
    _ = application:stop(?APP),
    ok = load(),
    [{port_executable, application:get_env(?APP, port_executable)} | Config].

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    Config.

%% Every case leaves the application stopped and its env as it found it.
end_per_testcase(_Case, Config) ->
    _ = application:stop(?APP),
    [ok = application:unset_env(?APP, Key) || Key <- py_config:keys(), Key =/= port_executable],
    case ?config(port_executable, Config) of
        {ok, Exe} -> application:set_env(?APP, port_executable, Exe);
        undefined -> application:unset_env(?APP, port_executable)
    end,
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc Each key set to each of its bad values fails the start with
%% {bad_env, Key, Value, Expected}, and leaves nothing running; every key
%% of py_config has a bad value here.
bad_value_of_each_key_fails_the_start(_Config) ->
    Bad = bad_values(),
    [] = py_config:keys() -- [Key || {Key, _} <- Bad],
    Failed = [{Key, Value, Got} || {Key, Values} <- Bad, Value <- Values,
                                  (Got = start_with(Key, Value)) =/= bad_env],
    [] = Failed.

%% @doc docs/api.md lists every key of py_config in its environment table.
every_key_documented(_Config) ->
    Doc = filename:join([filename:dirname(?FILE), "..", "..", "docs", "api.md"]),
    {ok, Text} = file:read_file(Doc),
    [_, Section] = binary:split(Text, <<"## Application environment">>),
    [Table | _] = binary:split(Section, <<"\n## ">>),
    [] = [Key || Key <- py_config:keys(),
                 binary:match(Table, <<"`", (atom_to_binary(Key))/binary, "`">>) =:= nomatch].

%% @doc The application starts with every key set to a bound of its range.
good_values_at_the_bounds_start(Config) ->
    Dir = ?config(priv_dir, Config),
    Env = [{default_pool_size, 1}, {call_timeout, infinity}, {python_path, [Dir, list_to_binary(Dir)]},
           {port_env, [{"PY_CONFIG_SUITE", "1"}, {"PY_CONFIG_UNSET", false}]},
           {context_spin_us, 0}, {max_queue, 1}, {trace, false}, {record, undefined},
           {max_restarts, 0}, {max_restart_period, 1}, {start_timeout, 4294967295},
           {send_window, 1}, {send_timeout, 0}, {max_output_backlog, 2147483647},
           {max_new_atoms, 2147483647},
           {ping_interval, 4294967295}, {ping_timeout, 1}],
    Started = py_test_lib:start_app(Env, Config),
    {ok, <<"1">>} = py:eval(<<"__import__('os').environ['PY_CONFIG_SUITE']">>),
    {ok, 4.0} = py:call(math, sqrt, [16]),
    1 = py_context_router:num_contexts(default),
    ok = py_test_lib:stop_app(Started).

%% @doc call_timeout made -1 or "30000" after the start: calls without a
%% timeout, stats/0, release/1 and pool_stats/1 answer as with the default.
bad_value_set_after_the_start_is_not_used(Config) ->
    Started = py_test_lib:start_app([], Config),
    [begin
         ok = application:set_env(?APP, call_timeout, Bad),
         {ok, 4.0} = py:call(math, sqrt, [16]),
         {ok, 2} = py:eval(<<"1 + 1">>),
         ok = py:exec(<<"x = 1">>),
         {ok, #{pools := #{default := _}}} = py:stats(),
         {ok, #{completed := _}} = py_context_router:pool_stats(default),
         {ok, Ref} = py:call(builtins, object, []),
         ok = py:release(Ref),
         H = py:spawn_call(math, sqrt, [4]),
         {ok, 2.0} = py:await(H)
     end || Bad <- [-1, "30000", 1 bsl 32, undefined]],
    ok = py_test_lib:stop_app(Started).

%% @doc python_path of 200 entries (py_port had a limit of 64): the start
%% succeeds and the last entry is on sys.path, its module importable.
python_path_of_many_entries(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "pylib"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, "py_config_mod.py"), <<"X = 7\n">>),
    Others = [filename:join(?config(priv_dir, Config), integer_to_list(N)) || N <- lists:seq(1, 199)],
    Started = py_test_lib:start_app([{python_path, Others ++ [Dir]}], Config),
    {ok, 7} = py:eval(<<"__import__('py_config_mod').X">>),
    {ok, true} = py:eval(<<"d in __import__('sys').path">>, #{d => list_to_binary(Dir)}),
    ok = py_test_lib:stop_app(Started).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% At least one bad value per key: the values of the issues first.
bad_values() ->
    [{default_pool_size, [0, -1, 1025, 2.0, "4", four]},
     {default_pool_mode, [threads, "worker", <<"process">>, 1]},
     {call_timeout, [-1, "30000", 1 bsl 32, 1.5, never]},
     {python_path, ["/tmp", [foo], [""], [<<>>], ["a\0b"], [<<"a", 0>>], ["/a" | "/b"], path,
                    [lists:duplicate(4096, $a)],
                    [lists:duplicate(4000, $a) || _ <- lists:seq(1, 300)]]},
     {port_env, [[{"A=B", "1"}], [{"", "1"}], [{"A", 1}], [{a, "1"}], [x], ["A=1"],
                 [{"A", "x\0y"}], #{}]},
     {port_executable, [py_port, "", <<>>, "a\0b", 42]},
     {context_spin_us, [-1, 1000001, "50", 0.5]},
     {max_queue, [0, -1, 100000001, "10", infinity]},
     {trace, [yes, 1, "true"]},
     {record, [42, "", record, "/nonexistent_dir_py_config/rec"]},
     {max_restarts, [-1, 1.0, many]},
     {max_restart_period, [0, -1, "10"]},
     {start_timeout, [0, -5, infinity, "10000"]},
     {send_window, [0, 1 bsl 31, "1024", 1.0e6]},
     {send_timeout, [-1, 1 bsl 31, infinity]},
     {max_output_backlog, [0, -1, 1 bsl 31, big]},
     {max_new_atoms, [-1, 1 bsl 31, ten]},
     {ping_interval, [0, -1, "5000", 1 bsl 32]},
     {ping_timeout, [0, soon, 2.5]},
     {none_atom, [null, "nil", <<"none">>, 1]},
     {log_to_default_handler, [yes, 1, "true"]},
     {venv, ["/nonexistent_dir_py_config", "", <<>>, venv, "/tmp", "a\0b"]},
     {preload, [[x], "a\0b", [-1], <<"a", 0>>, <<255>>, {file, "/nonexistent_dir_py_config/p.py"},
                {file, "/tmp"}, {file, 42}, 42]}].

%% bad_env if starting with Key = Value fails as it should, leaving no
%% process behind; else what happened.
start_with(Key, Value) ->
    ok = application:set_env(?APP, Key, Value),
    Result = application:start(?APP),
    ok = application:unset_env(?APP, Key),
    case Result of
        {error, {{bad_env, Key, Value, Expected}, {erlang_python_app, start, _}}}
          when is_binary(Expected) ->
            case whereis(erlang_python_sup) of
                undefined -> bad_env;
                Sup -> {left_running, Sup}
            end;
        ok ->
            _ = application:stop(?APP),
            started;
        Other ->
            Other
    end.

load() ->
    case application:load(?APP) of
        ok -> ok;
        {error, {already_loaded, ?APP}} -> ok
    end.
