%% @doc Observability: py:stats/0, py_context_router:pool_stats/1 and
%% py:version/0, with exact counts after a known sequence of calls.
-module(py_stats_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([pool_counts_calls_errors_timeouts_cancels/1,
         port_stats_and_restarts/1,
         not_started_pool/1,
         version/1]).

all() ->
    [pool_counts_calls_errors_timeouts_cancels, port_stats_and_restarts,
     not_started_pool, version].

suite() ->
    [{timetrap, {seconds, 60}}].

init_per_suite(Config) ->
    _ = application:stop(erlang_python),
    py_test_lib:start_app([{max_restarts, 100}], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc 10 calls, 3 that raise, 1 that times out running, 1 whose caller
%% exits: counted exactly.
pool_counts_calls_errors_timeouts_cancels(_Config) ->
    {ok, [Ctx]} = py_context_router:start_pool(s, 1),
    {ok, #{size := 1, mode := worker, busy := 0, queued := 0, completed := 0, errors := 0,
           timeouts := 0, cancelled := 0, p50_us := -1, p99_us := -1}} =
        py_context_router:pool_stats(s),
    [{ok, 2.0} = py:call(s, math, sqrt, [4]) || _ <- lists:seq(1, 10)],
    [{error, {'ZeroDivisionError', _}} = py:eval(s, <<"1/0">>) || _ <- [1, 2, 3]],
    {error, timeout} = py:exec(s, <<"while True:\n    pass\n">>, 100),
    %% The interrupted loop ends: run to its end, raised.
    ok = py_test_lib:wait_until(fun() -> completed(s) =:= 14 end, 5000),
    Caller = spawn(fun() -> py:exec(Ctx, <<"while True:\n    pass\n">>) end),
    ok = py_test_lib:wait_until(fun() -> busy(s) =:= 1 end, 5000),
    exit(Caller, kill),
    ok = py_test_lib:wait_until(fun() -> completed(s) =:= 15 end, 5000),
    {ok, #{size := 1, busy := 0, queued := 0, completed := 15, errors := 5, timeouts := 1,
           cancelled := 1, p50_us := P50, p99_us := P99}} = py_context_router:pool_stats(s),
    true = P50 >= 0 andalso P99 >= P50,
    ok = py_context_router:stop_pool(s).

%% @doc The port's figures, and the restart count after a kill.
port_stats_and_restarts(_Config) ->
    {ok, OsPid} = py_test_lib:os_pid(),
    {ok, #{port := #{os_pid := OsPid, memory := Memory, uptime_ms := Up1, restarts := R0,
                     python_version := Version, version := <<"0.1.0">>}}} = py:stats(),
    true = Memory > 1024 * 1024,
    {ok, Version} = py:eval(<<"__import__('platform').python_version()">>),
    ok = py_test_lib:wait_until(fun() -> uptime() > Up1 end, 5000),
    ok = py_test_lib:kill_9(OsPid),
    ok = py_test_lib:wait_until(fun() -> py:call(math, sqrt, [4]) =:= {ok, 2.0} end, 15000),
    R1 = R0 + 1,
    %% The reply may leave before its context counts the job as completed.
    ok = py_test_lib:wait_until(fun() -> completed(default) =:= 1 end, 5000),
    {ok, #{port := #{restarts := R1}, pools := #{default := #{completed := 1}}}} = py:stats().

%% @doc A pool that does not run has no stats.
not_started_pool(_Config) ->
    {error, {pool_not_started, nope}} = py_context_router:pool_stats(nope).

%% @doc Versions of the application, py_port, the protocol and Python.
version(_Config) ->
    {ok, Vsn} = application:get_key(erlang_python, vsn),
    AppVsn = list_to_binary(Vsn),
    {ok, Python} = py:eval(<<"__import__('platform').python_version()">>),
    {ok, #{erlang_python := AppVsn, py_port := <<"0.1.0">>, protocol := 1,
           python := Python}} = py:version().

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

busy(Pool) ->
    {ok, #{busy := N}} = py_context_router:pool_stats(Pool),
    N.

completed(Pool) ->
    {ok, #{completed := N}} = py_context_router:pool_stats(Pool),
    N.

uptime() ->
    {ok, #{port := #{uptime_ms := Ms}}} = py:stats(),
    Ms.
