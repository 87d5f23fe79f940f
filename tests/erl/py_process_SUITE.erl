%% Common Test suite of the `process` pool mode (docs/pools.md, "Pool modes")
%% against the real port binary. Group `process': pools whose contexts
%% are py_port OS processes of their own.
-module(py_process_SUITE).

-include_lib("common_test/include/ct.hrl").

%% Common Test callbacks
-export([all/0]).
-export([suite/0]).
-export([groups/0]).
-export([init_per_suite/1]).
-export([end_per_suite/1]).
-export([init_per_group/2]).
-export([end_per_group/2]).
-export([init_per_testcase/2]).
-export([end_per_testcase/2]).

%% process
-export([process_pool_serves_calls/1]).
-export([process_contexts_run_in_parallel/1]).
-export([worker_contexts_share_the_gil/1]).
-export([least_in_flight_member_is_chosen/1]).
-export([segfault_stays_in_its_member/1]).
-export([crash_loop_stops_only_that_pool/1]).
-export([references_go_to_their_member/1]).
-export([callbacks_reenter_their_member/1]).
-export([stream_on_process_pool/1]).
-export([timeout_interrupts_member_call/1]).
-export([stats_sum_members/1]).
-export([stop_pool_answers_callers/1]).
-export([main_port_restart_leaves_process_pool/1]).
-export([app_stop_ends_member_processes/1]).
-export([killed_caller_and_context_pid/1]).
-export([bad_arguments_and_names/1]).
-export([start_stop_race_one_pool_and_its_spec/1]).

-define(POOL, procs).
%% How long each counting call counts, in milliseconds.
-define(COUNT_MS, 400).
%% Counts a pure-Python loop for `ms' milliseconds.
-define(COUNT,
        <<"(lambda t, now: sum(1 for _ in iter(lambda: now() < t, False)))"
          "(__import__('time').monotonic() + ms / 1000, __import__('time').monotonic)">>).
-define(PID, <<"__import__('os').getpid()">>).

all() ->
    [{group, process}].

suite() ->
    [{timetrap, {seconds, 120}}].

groups() ->
    [{process, [], [process_pool_serves_calls,
                    process_contexts_run_in_parallel,
                    worker_contexts_share_the_gil,
                    least_in_flight_member_is_chosen,
                    segfault_stays_in_its_member,
                    references_go_to_their_member,
                    callbacks_reenter_their_member,
                    stream_on_process_pool,
                    timeout_interrupts_member_call,
                    stats_sum_members,
                    stop_pool_answers_callers,
                    main_port_restart_leaves_process_pool,
                    killed_caller_and_context_pid,
                    bad_arguments_and_names,
                    start_stop_race_one_pool_and_its_spec,
                    crash_loop_stops_only_that_pool,
                    app_stop_ends_member_processes]}].

init_per_suite(Config) ->
    py_test_lib:start_app([{default_pool_size, 2}, {max_restarts, 3},
                           {max_restart_period, 30}], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

init_per_group(process, Config) ->
    [{mode, process} | Config].

end_per_group(_Group, _Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    {ok, [_, _]} = py_context_router:start_pool(?POOL, 2, process),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = py_context_router:stop_pool(?POOL),
    ok.

%%% ==========================================================================
%%% process
%%% ==========================================================================

%% @doc A process pool serves calls on two OS processes other than the main port's.
process_pool_serves_calls(_Config) ->
    {ok, 4.0} = py:call(?POOL, math, sqrt, [16]),
    {error, {'ZeroDivisionError', <<"division by zero">>}} = py:eval(?POOL, <<"1/0">>, #{}),
    [C0, C1] = py_context_router:contexts(?POOL),
    ok = py:exec(C0, <<"def twice(x):\n    return 2 * x\n">>),
    {ok, 42} = py:call(C0, '__main__', twice, [21]),
    {error, {'AttributeError', _}} = py:call(C1, '__main__', twice, [21]),
    {ok, P0} = py:eval(C0, ?PID),
    {ok, P1} = py:eval(C1, ?PID),
    {ok, Main} = py_test_lib:os_pid(),
    3 = length(lists:usort([P0, P1, Main])),
    process = py_context_router:pool_mode(?POOL),
    true = py_context_router:pool_started(?POOL),
    {ok, [C0, C1]} = py_context_router:start_pool(?POOL, 2, process),
    {ok, [C0, C1]} = py_context_router:start_pool(?POOL, 2, worker).

%% @doc Two counting calls on two process contexts at once each reach most
%% of what one alone reaches. Up to ten tries: other work on a shared
%% machine may take a core for a while.
process_contexts_run_in_parallel(_Config) ->
    true = lists:any(fun(_) ->
                             {Alone, A, B} = measure_parallel(py_context_router:contexts(?POOL)),
                             ct:pal("process: alone ~p, together ~p + ~p", [Alone, A, B]),
                             parallel(Alone, A, B)
                     end, lists:seq(1, 10)).

%% @doc The same measure on two worker contexts (one GIL) does not pass.
%% Up to three tries: a core taken by other work while one call counted
%% alone makes that count too low to compare with; one GIL never lets
%% both reach most of a true one.
worker_contexts_share_the_gil(_Config) ->
    true = lists:any(fun(_) ->
                             {Alone, A, B} = measure_parallel(py_context_router:contexts(default)),
                             ct:pal("worker: alone ~p, together ~p + ~p", [Alone, A, B]),
                             not parallel(Alone, A, B)
                     end, lists:seq(1, 3)).

%% @doc While one member runs a long call, the next calls to the pool go to the other.
least_in_flight_member_is_chosen(_Config) ->
    [C0, C1] = py_context_router:contexts(?POOL),
    {ok, P0} = py:eval(C0, ?PID),
    {ok, P1} = py:eval(C1, ?PID),
    Self = self(),
    Slow = <<"(__import__('time').sleep(1.5), __import__('os').getpid())[1]">>,
    Blocker = spawn_link(fun() ->
                                 Self ! {blocking, py:eval(?POOL, ?PID, #{})},
                                 Self ! {blocked, py:eval(?POOL, Slow, #{})}
                         end),
    receive {blocking, {ok, First}} -> First = P0 after 5000 -> ct:fail(no_first) end,
    ok = py_test_lib:wait_until(fun() -> busy(?POOL) =:= 1 end, 5000),
    [{ok, P1} = py:eval(?POOL, ?PID, #{}) || _ <- lists:seq(1, 5)],
    receive {blocked, {ok, P0}} -> ok after 5000 -> ct:fail(no_blocked) end,
    unlink(Blocker),
    [0, 0] = in_flight(?POOL).

%% @doc A segfault in one member answers its callers only; the other member
%% and another pool serve meanwhile, and the member comes back.
segfault_stays_in_its_member(_Config) ->
    [C0, C1] = py_context_router:contexts(?POOL),
    {ok, P0} = py:eval(C0, ?PID),
    {ok, P1} = py:eval(C1, ?PID),
    Busy = py:spawn_call(default, time, sleep, [0.5]),
    Long = py:spawn_call(C1, time, sleep, [0.5]),
    {error, {port_exited, {signal, 11, sigsegv}}} =
        py:exec(C0, <<"import ctypes; ctypes.string_at(0)">>),
    {ok, P1} = py:eval(C1, ?PID),
    {ok, none} = py:await(Busy, 5000),
    {ok, none} = py:await(Long, 5000),
    ok = py_test_lib:wait_until(fun() -> length(py_context_router:contexts(?POOL)) =:= 2 end,
                                20000),
    [New0, C1] = py_context_router:contexts(?POOL),
    true = New0 =/= C0,
    {ok, P0b} = py:eval(New0, ?PID),
    true = P0b =/= P0,
    {ok, 4.0} = py:call(?POOL, math, sqrt, [16]),
    [0, 0] = in_flight(?POOL).

%% @doc Members that crash more than max_restarts times stop their pool
%% only: its calls get pool_not_started, the application and other pools serve.
crash_loop_stops_only_that_pool(_Config) ->
    AppSup = whereis(erlang_python_sup),
    {ok, Main} = py_test_lib:os_pid(),
    [kill_member(?POOL) || _ <- lists:seq(1, 4)],
    ok = py_test_lib:wait_until(fun() -> not py_context_router:pool_started(?POOL) end, 20000),
    {error, {pool_not_started, ?POOL}} = py:call(?POOL, math, sqrt, [16]),
    {ok, Main} = py_test_lib:os_pid(),
    AppSup = whereis(erlang_python_sup),
    {ok, [_, _]} = py_context_router:start_pool(?POOL, 2, process),
    {ok, 4.0} = py:call(?POOL, math, sqrt, [16]).

%% @doc References made by a member go back to that member: methods,
%% attributes, to_term and release.
references_go_to_their_member(_Config) ->
    [_, C1] = py_context_router:contexts(?POOL),
    {ok, Ref} = py:eval(C1, <<"type('Box', (), {'n': 5, 'twice': lambda self, x: 2 * x})()">>),
    {'$py_ref', _, _} = Ref,
    %% Through the default pool, the process pool (either member by load)
    %% and the context.
    {ok, 42} = py:call_method(Ref, twice, [21]),
    [{ok, 42} = py:call_method(?POOL, Ref, twice, [21], #{}) || _ <- [1, 2, 3]],
    {ok, 42} = py:call_method(C1, Ref, twice, [21], #{}),
    {ok, 5} = py:getattr(Ref, n),
    {error, {'TypeError', _}} = py:to_term(Ref),
    1 = py_callers:held(self()),
    ok = py:release(Ref),
    0 = py_callers:held(self()),
    {error, stale_ref} = py:call_method(Ref, twice, [21]).

%% @doc erlang.call from a member, whose function calls the same pool again,
%% is served by the same member.
callbacks_reenter_their_member(_Config) ->
    [C0, _] = py_context_router:contexts(?POOL),
    ok = py:register_function(mode_reenter,
                              fun([]) -> {ok, P} = py:eval(?POOL, ?PID, #{}), P end),
    {ok, P0} = py:eval(C0, ?PID),
    {ok, P0} = py:eval(C0, <<"__import__('erlang').call('mode_reenter')">>),
    ok = py:unregister_function(mode_reenter).

%% @doc A stream runs on a process pool's member.
stream_on_process_pool(_Config) ->
    {ok, Ref} = py:stream_start(builtins, range, [4], #{pool => ?POOL}),
    [0, 1, 2, 3] = collect(Ref).

%% @doc A call that times out on a member is interrupted there: the member
%% serves the next call at once.
timeout_interrupts_member_call(_Config) ->
    [C0, _] = py_context_router:contexts(?POOL),
    {error, timeout} = py:eval(C0, <<"sum(1 for _ in iter(int, 1))">>, #{}, 200),
    T0 = erlang:monotonic_time(millisecond),
    {ok, 3} = py:eval(C0, <<"1 + 2">>),
    true = erlang:monotonic_time(millisecond) - T0 < 5000,
    {ok, #{timeouts := 1}} = py_context_router:pool_stats(?POOL),
    [0, 0] = in_flight(?POOL).

%% @doc Stats of a process pool: mode, summed counters, each process's os pid and memory.
stats_sum_members(_Config) ->
    [C0, C1] = py_context_router:contexts(?POOL),
    {ok, P0} = py:eval(C0, ?PID),
    {ok, P1} = py:eval(C1, ?PID),
    {ok, _} = py:eval(C1, <<"1">>),
    %% A member counts a request done after it wrote the reply.
    ok = py_test_lib:wait_until(fun() -> pool_stat(completed) =:= 3 andalso busy(?POOL) =:= 0 end,
                                5000),
    {ok, #{mode := process, size := 2, completed := 3, busy := 0,
           processes := [#{index := 0, os_pid := P0, memory := M0},
                         #{index := 1, os_pid := P1, memory := M1}]}} =
        py_context_router:pool_stats(?POOL),
    true = M0 > 0 andalso M1 > 0,
    {ok, #{pools := #{?POOL := #{mode := process}, default := #{mode := worker}}}} = py:stats().

%% @doc stop_pool answers the pool's waiting callers with pool_stopped and
%% ends its OS processes.
stop_pool_answers_callers(_Config) ->
    [C0, C1] = py_context_router:contexts(?POOL),
    {ok, P0} = py:eval(C0, ?PID),
    {ok, P1} = py:eval(C1, ?PID),
    Self = self(),
    spawn_link(fun() -> Self ! {slept, py:call(C0, time, sleep, [10])} end),
    ok = py_test_lib:wait_until(fun() -> busy(?POOL) =:= 1 end, 5000),
    ok = py_context_router:stop_pool(?POOL),
    receive {slept, {error, {pool_stopped, ?POOL}}} -> ok after 5000 -> ct:fail(no_answer) end,
    false = py_context_router:pool_started(?POOL),
    {error, {pool_not_started, ?POOL}} = py:call(?POOL, math, sqrt, [16]),
    ok = py_test_lib:wait_until(fun() -> not alive(P0) andalso not alive(P1) end, 5000).

%% @doc Killing the main port leaves the process pool's members running.
main_port_restart_leaves_process_pool(_Config) ->
    [C0, C1] = py_context_router:contexts(?POOL),
    {ok, P0} = py:eval(C0, ?PID),
    {ok, Main} = py_test_lib:os_pid(),
    ok = py_test_lib:kill_9(Main),
    ok = py_test_lib:wait_until(fun() -> case py_test_lib:os_pid() of
                                             {ok, P} -> P =/= Main;
                                             _ -> false
                                         end end, 20000),
    [C0, C1] = py_context_router:contexts(?POOL),
    {ok, P0} = py:eval(C0, ?PID).

%% @doc A caller killed while it waits, and a killed context pid: the
%% member serves on, the context pid is replaced with its namespace kept.
killed_caller_and_context_pid(_Config) ->
    [C0, C1] = py_context_router:contexts(?POOL),
    ok = py:exec(C0, <<"kept = 7">>),
    Caller = spawn(fun() -> py:call(C0, time, sleep, [0.3]) end),
    ok = py_test_lib:wait_until(fun() -> busy(?POOL) =:= 1 end, 5000),
    [1, 0] = in_flight(?POOL),
    exit(Caller, kill),
    %% Its count is given back (py_callers), and the call ends.
    ok = py_test_lib:wait_until(fun() -> in_flight(?POOL) =:= [0, 0] end, 5000),
    ok = py_test_lib:wait_until(fun() -> busy(?POOL) =:= 0 end, 5000),
    exit(C0, kill),
    ok = py_test_lib:wait_until(
           fun() -> not lists:member(C0, py_context_router:contexts(?POOL)) end, 5000),
    [New, C1] = py_context_router:contexts(?POOL),
    {ok, 7} = py:eval(New, <<"kept">>),
    {error, {context_not_found, C0}} = py:eval(C0, <<"kept">>).

%% @doc Bad sizes and modes are refused; a worker pool's name is not taken
%% again by a process pool (its contexts are returned).
bad_arguments_and_names(_Config) ->
    {error, {bad_pool_size, 0}} = py_context_router:start_pool(other, 0, process),
    {error, {bad_pool_size, 1025}} = py_context_router:start_pool(other, 1025, process),
    {error, {invalid_mode, threads}} = py_context_router:start_pool(other, 1, threads),
    Default = py_context_router:contexts(default),
    {ok, Default} = py_context_router:start_pool(default, 2, process),
    worker = py_context_router:pool_mode(default),
    false = py_context_router:pool_started(other).

%% @doc Starts and stops of one process pool raced from 6 processes: at the
%% end the pool runs exactly when its spec is recorded, with one member per
%% context (two starts never made two pools).
start_stop_race_one_pool_and_its_spec(_Config) ->
    ok = py_context_router:stop_pool(?POOL),
    Self = self(),
    Racers = [spawn_link(fun() ->
                                 rand:seed(exsss, {N, N, N}),
                                 [case rand:uniform(2) of
                                      1 -> {ok, [_, _]} =
                                               py_context_router:start_pool(race, 2, process);
                                      2 -> ok = py_context_router:stop_pool(race)
                                  end || _ <- lists:seq(1, 5)],
                                 Self ! {raced, self()}
                         end) || N <- lists:seq(1, 6)],
    [receive {raced, R} -> ok after 60000 -> ct:fail(race_stuck) end || R <- Racers],
    Running = py_context_router:pool_started(race),
    Running = lists:keymember(race, 1, py_registry:pool_specs()),
    case Running of
        true ->
            [_, _] = Ctxs = py_context_router:contexts(race),
            2 = length(lists:usort([begin {ok, P} = py:eval(C, ?PID), P end || C <- Ctxs])),
            2 = length(py_process_pool:members(race));
        false ->
            [] = py_process_pool:members(race)
    end,
    %% One pool supervisor if it runs, none if not (procs was stopped).
    Sups = length(supervisor:which_children(py_process_sup)),
    Sups = case Running of true -> 1; false -> 0 end,
    ok = py_context_router:stop_pool(race),
    {ok, [_, _]} = py_context_router:start_pool(?POOL, 2, process).

%% @doc Stopping the application ends every member's OS process.
app_stop_ends_member_processes(Config) ->
    Pids = [begin {ok, P} = py:eval(C, ?PID), P end || C <- py_context_router:contexts(?POOL)],
    2 = length(Pids),
    ok = application:stop(erlang_python),
    ok = py_test_lib:wait_until(fun() -> not lists:any(fun alive/1, Pids) end, 5000),
    ok = py_test_lib:restart_app(Config).

%%% ==========================================================================
%%% Helpers
%%% ==========================================================================

%% {Alone, A, B}: what two counting calls at once counted on the two
%% contexts, and what one call alone counted, the better of one before
%% and one after.
measure_parallel([C0, C1 | _]) ->
    Before = count(C0),
    Self = self(),
    [spawn_link(fun() -> Self ! {counted, C, count(C)} end) || C <- [C0, C1]],
    A = receive {counted, C0, NA} -> NA after 10000 -> ct:fail(no_count) end,
    B = receive {counted, C1, NB} -> NB after 10000 -> ct:fail(no_count) end,
    {max(Before, count(C0)), A, B}.

count(Ctx) ->
    {ok, N} = py:eval(Ctx, ?COUNT, #{ms => ?COUNT_MS}),
    N.

%% In parallel each reaches most (over 60 %) of one alone; under one GIL
%% the two share it, about half each (less the switching).
parallel(Alone, A, B) ->
    A > 0.6 * Alone andalso B > 0.6 * Alone.

%% The requests each member counts in flight.
in_flight(Pool) ->
    {ok, #{processes := Processes}} = py_context_router:pool_stats(Pool),
    [N || #{in_flight := N} <- Processes].

pool_stat(Key) ->
    {ok, #{Key := Value}} = py_context_router:pool_stats(?POOL),
    Value.

busy(Pool) ->
    {ok, #{busy := Busy}} = py_context_router:pool_stats(Pool),
    Busy.

%% Kills the OS process of the pool's first member, then waits for its
%% replacement (in vain once the pool gives up).
kill_member(Pool) ->
    [C | _] = py_context_router:contexts(Pool),
    {ok, P} = py:eval(C, ?PID),
    ok = py_test_lib:kill_9(P),
    _ = py_test_lib:wait_until(fun() ->
                                       Now = py_context_router:contexts(Pool),
                                       length(Now) =:= 2 andalso not lists:member(C, Now)
                               end, 20000),
    ok.

alive(OsPid) ->
    filelib:is_dir("/proc/" ++ integer_to_list(OsPid)).

collect(Ref) ->
    receive
        {py_stream, Ref, {data, X}} -> [X | collect(Ref)];
        {py_stream, Ref, done} -> []
    after 5000 -> ct:fail(stream_stalled)
    end.
