%% @doc Helpers the Common Test suites share: the application started
%% with a suite's env and stopped again, bounded waits for a condition, the
%% OS process of py_port (its pid, a SIGKILL, its resident size), and a
%% logger handler that sends each event to a test process.
-module(py_test_lib).

%% API
-export([start_app/2]).
-export([stop_app/1]).
-export([restart_app/1]).
-export([set_env/1]).
-export([wait_until/2]).
-export([await_exit/3]).
-export([os_pid/0]).
-export([kill_9/1]).
-export([rss_kb/1]).
-export([capture_log/2]).
-export([token/0]).
-export([contains/2]).
-export([pool_mode/0]).
-export([exec_in_every_main/2]).
-export([python/0]).
-export([has_owngil/0, python_version/0]).
-export([py_port_exe/0]).
-export([open_py_port/1]).

%% logger handler callback (capture_log/2)
-export([log/2]).

-define(APP, erlang_python).
%% How often wait_until/2 asks again, in milliseconds.
-define(POLL_MS, 20).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Loads the application, sets Env, keeping a `port_executable' given
%% to the test run (`--sys_config'), and starts it. Returns Config with the
%% env set under `app_env', for {@link restart_app/1} and
%% {@link stop_app/1}. The OS environment variable PY_POOL_MODE (`make
%% test-modes') sets `default_pool_mode' when Env does not: the suites
%% then run against contexts of that mode.
-spec start_app([{atom(), term()}], ct_suite:ct_config()) -> ct_suite:ct_config().
start_app(Env0, Config) ->
    case application:load(?APP) of
        ok -> ok;
        {error, {already_loaded, ?APP}} -> ok
    end,
    Exe = [{port_executable, X} || {ok, X} <- [application:get_env(?APP, port_executable)]],
    Mode = [{default_pool_mode, list_to_atom(M)}
            || M <- [os:getenv("PY_POOL_MODE", "")], M =/= "",
               not lists:keymember(default_pool_mode, 1, Env0)],
    Env = Env0 ++ Exe ++ Mode,
    ok = set_env(Env),
    {ok, _} = application:ensure_all_started(?APP),
    [{app_env, Env} | Config].

%% @doc Stops the application and unsets every key of the env
%% {@link start_app/2} set, but `port_executable': one given to the test
%% run (`make test-pythons') holds for every suite.
-spec stop_app(ct_suite:ct_config()) -> ok.
stop_app(Config) ->
    _ = application:stop(?APP),
    [application:unset_env(?APP, Key)
     || {Key, _} <- proplists:get_value(app_env, Config), Key =/= port_executable],
    ok.

%% @doc Stops the application if it runs, sets the env of
%% {@link start_app/2} again and starts it.
-spec restart_app(ct_suite:ct_config()) -> ok.
restart_app(Config) ->
    _ = application:stop(?APP),
    ok = set_env(proplists:get_value(app_env, Config)),
    {ok, _} = application:ensure_all_started(?APP),
    ok.

%% @doc Sets each key of Env in the application's env.
-spec set_env([{atom(), term()}]) -> ok.
set_env(Env) ->
    [ok = application:set_env(?APP, Key, Value) || {Key, Value} <- Env],
    ok.

%% @doc Polls Fun every 20 ms until it returns true, for at most Ms (the
%% time Fun itself takes is not counted).
-spec wait_until(fun(() -> boolean()), integer()) -> ok | timeout.
wait_until(Fun, Ms) when Ms > 0 ->
    case Fun() of
        true ->
            ok;
        false ->
            receive after ?POLL_MS -> ok end,
            wait_until(Fun, Ms - ?POLL_MS)
    end;
wait_until(_Fun, _Ms) ->
    timeout.

%% @doc The exit reason of the process Pid, monitored by Mref (as
%% `spawn_monitor/1' returns them), waiting at most Ms; fails the case
%% with Why if it has not exited by then.
-spec await_exit({pid(), reference()}, timeout(), term()) -> term().
await_exit({Pid, Mref}, Ms, Why) ->
    receive
        {'DOWN', Mref, process, Pid, Reason} -> Reason
    after Ms ->
        ct:fail(Why)
    end.

%% @doc The OS pid of the py_port serving the default pool, as Python
%% gives it: the result of `py:eval/1'.
-spec os_pid() -> {ok, pos_integer()} | {error, term()}.
os_pid() ->
    py:eval(<<"__import__('os').getpid()">>).

%% @doc Sends SIGKILL to the OS process OsPid; fails unless `kill' says
%% nothing.
-spec kill_9(pos_integer()) -> ok.
kill_9(OsPid) ->
    "" = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    ok.

%% @doc The resident set size of the OS process OsPid, in KB (VmRSS of
%% /proc/OsPid/status).
-spec rss_kb(pos_integer()) -> non_neg_integer().
rss_kb(OsPid) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    {match, [Kb]} = re:run(Status, "VmRSS:\\s+(\\d+) kB", [{capture, all_but_first, binary}]),
    binary_to_integer(Kb).

%% @doc Adds the logger handler Id, which sends every event at Level or
%% above to the calling process as `{logged, Event}'. The caller removes it
%% with `logger:remove_handler(Id)'.
-spec capture_log(logger:handler_id(), logger:level()) -> ok | {error, term()}.
capture_log(Id, Level) ->
    logger:add_handler(Id, ?MODULE, #{level => Level, config => #{pid => self()}}).

%% @doc A positive integer unique to this node, naming an event a test
%% waits for in Python.
-spec token() -> pos_integer().
token() ->
    erlang:unique_integer([positive]).

%% @doc Whether Part occurs in Binary.
-spec contains(binary(), binary()) -> boolean().
contains(Binary, Part) ->
    binary:match(Binary, Part) =/= nomatch.

%% @doc Runs Code in the `__main__' of every context of Pool: an owngil or
%% process context has a `__main__' of its own (py:exec on a context would
%% run it in the context's namespace, py:exec on the pool in one context).
-spec exec_in_every_main(atom(), binary()) -> ok.
exec_in_every_main(Pool, Code) ->
    [{ok, none} = py:eval(Ctx, <<"exec(code, __import__('__main__').__dict__)">>, #{code => Code})
     || Ctx <- py_context_router:contexts(Pool)],
    ok.

%% @doc The version of the running port's Python, "3.11.2".
-spec python() -> string().
python() ->
    {ok, #{python := V}} = py:version(),
    binary_to_list(V).

%% @doc The running port's Python version as {Major, Minor}.
-spec python_version() -> {non_neg_integer(), non_neg_integer()}.
python_version() ->
    [Major, Minor | _] = [list_to_integer(N) || N <- string:lexemes(python(), ".")],
    {Major, Minor}.

%% @doc Whether the running port's Python has owngil (3.12 and later).
-spec has_owngil() -> boolean().
has_owngil() ->
    python_version() >= {3, 12}.

%% @doc The mode of the default pool the suites run against: the OS
%% environment's PY_POOL_MODE, else `worker'.
-spec pool_mode() -> atom().
pool_mode() ->
    case os:getenv("PY_POOL_MODE", "") of
        "" -> worker;
        M -> list_to_atom(M)
    end.

%% @doc logger handler callback of {@link capture_log/2}: sends Event to
%% the process that added the handler.
-spec log(logger:log_event(), logger:handler_config()) -> {logged, logger:log_event()}.
log(Event, #{config := #{pid := Pid}}) ->
    Pid ! {logged, Event}.

%% The py_port binary of the application under test.
py_port_exe() ->
    filename:join(code:priv_dir(erlang_python), "py_port").

%% Opens py_port with Args, outside the application, and reads its ready
%% event: {Port, ReadyInfo}.
open_py_port(Args) ->
    Port = open_port({spawn_executable, py_port_exe()},
                     [{packet, 4}, binary, exit_status, use_stdio, {args, Args}]),
    receive
        {Port, {data, <<0:16, Event/binary>>}} ->
            {ready, Info} = binary_to_term(Event),
            {Port, Info}
    after 10000 ->
        ct:fail(no_ready_event)
    end.
