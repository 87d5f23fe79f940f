%% @doc Coroutine calls (docs/asyncio.md): a call whose result is awaitable
%% is awaited on its context's asyncio loop, thousands in flight on one
%% context; cancellation, pool stop, port crash, max_queue and stats
%% reach those tasks. Group `main' runs every case on a pool of one
%% context in the mode of the run (PY_POOL_MODE: worker in `make
%% test-erl', process in `make test-process', owngil in `make
%% test-modes'); the groups named after the other modes run the core cases
%% in those modes too (owngil only on Python 3.12+).
-module(py_asyncio_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([awaited_result_is_the_reply/1,
         coroutine_object_itself_in_a_list/1,
         thousand_sleeps_on_one_context/1,
         sync_call_answered_while_tasks_wait/1,
         sooner_timer_wakes_the_waiting_loop/1,
         standard_loop_features/1,
         task_factory_makes_the_tasks/1,
         first_step_is_part_of_the_task/1,
         timeout_cancels_the_task/1,
         cancels_racing_the_hand_off/1,
         cancelled_during_the_first_step/1,
         timeout_interrupts_the_first_step/1,
         py_interrupt_reaches_the_first_step/1,
         caller_exit_cancels_the_task/1,
         task_ignoring_cancel_is_left_alone/1,
         pool_stop_answers_pool_stopped/1,
         port_kill_answers_port_exited/1,
         max_queue_counts_tasks/1,
         stats_count_tasks/1,
         async_call_suspends_only_its_task/1,
         async_call_errors/1,
         async_call_big_answers/1,
         async_callback_calls_back_into_python/1,
         blocking_call_inside_a_coroutine/1,
         async_generator_collected/1,
         async_generator_stream_with_credit/1,
         async_stream_cancel_closes_the_generator/1]).

-define(POOL, aio).

all() ->
    [{group, main}, {group, worker}, {group, process}, {group, owngil}].

groups() ->
    Core = [awaited_result_is_the_reply, thousand_sleeps_on_one_context,
            sync_call_answered_while_tasks_wait, sooner_timer_wakes_the_waiting_loop,
            standard_loop_features, task_factory_makes_the_tasks,
            first_step_is_part_of_the_task,
            timeout_cancels_the_task, cancels_racing_the_hand_off,
            cancelled_during_the_first_step, timeout_interrupts_the_first_step,
            py_interrupt_reaches_the_first_step,
            pool_stop_answers_pool_stopped, stats_count_tasks,
            async_call_suspends_only_its_task, async_generator_stream_with_credit,
            async_stream_cancel_closes_the_generator],
    [{main, [], Core ++ [coroutine_object_itself_in_a_list, caller_exit_cancels_the_task,
                         task_ignoring_cancel_is_left_alone, port_kill_answers_port_exited,
                         max_queue_counts_tasks, async_call_errors, async_call_big_answers,
                         async_callback_calls_back_into_python,
                         blocking_call_inside_a_coroutine, async_generator_collected]},
     {worker, [], Core},
     {process, [], Core},
     {owngil, [], Core}].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_suite(Config) ->
    py_test_lib:start_app([], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

init_per_group(main, Config) ->
    [{mode, py_test_lib:pool_mode()} | Config];
init_per_group(Mode, Config) ->
    case {Mode =:= py_test_lib:pool_mode(), Mode =/= owngil orelse py_test_lib:has_owngil()} of
        {true, _} -> {skip, "the main group runs this mode"};
        {_, false} -> {skip, "owngil needs Python 3.12+: this port runs " ++ py_test_lib:python()};
        {false, true} -> [{mode, Mode} | Config]
    end.

end_per_group(_Group, _Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    start_pool(?POOL, ?config(mode, Config)),
    Config.

end_per_testcase(_Case, _Config) ->
    ok = py_context_router:stop_pool(?POOL).

%%% ==========================================================================
%%% Awaited results
%%% ==========================================================================

%% @doc call, eval, spawn_call, cast, async_call and a call to the context
%% itself: an awaitable result is awaited and its result is the reply.
awaited_result_is_the_reply(_Config) ->
    {ok, 42} = py:call(?POOL, '__main__', double, [21]),
    {ok, 8} = py:eval(?POOL, <<"double(4)">>, #{}),
    {ok, 6} = py:await(py:spawn_call(?POOL, '__main__', double, [3]), 5000),
    {ok, 10} = py:async_await(py:async_call(?POOL, '__main__', double, [5]), 5000),
    {ok, 12} = py:async_await(py:async_call(?POOL, '__main__', double, [6], #{}), 5000),
    [Ctx] = py_context_router:contexts(?POOL),
    {ok, 14} = py:call(Ctx, '__main__', double, [7]),
    {ok, 16} = py:call(Ctx, '__main__', 'Later', [8]),
    Tag = py_test_lib:token(),
    ok = py:cast(?POOL, '__main__', notify, [self(), Tag]),
    receive {notified, Tag} -> ok after 5000 -> ct:fail(cast_not_awaited) end,
    {error, {'ValueError', <<"bad coroutine">>}} = py:call(?POOL, '__main__', fail, []),
    {ok, 2} = py:eval(?POOL, <<"1 + 1">>, #{}).

%% @doc The coroutine object itself comes back wrapped in a list, as a
%% reference; evaluated again, it is awaited.
coroutine_object_itself_in_a_list(_Config) ->
    {ok, [Coro]} = py:eval(?POOL, <<"[double(4)]">>, #{}),
    {ok, true} = py:eval(?POOL, <<"__import__('inspect').iscoroutine(c)">>, #{c => Coro}),
    {ok, 8} = py:eval(?POOL, <<"c">>, #{c => Coro}),
    ok = py:release(Coro).

%% @doc 1,000 concurrent `await asyncio.sleep(0.2)' on a pool of one
%% context: each answered with its own result, all within 5 s (serially
%% they would take 200 s).
thousand_sleeps_on_one_context(_Config) ->
    T0 = erlang:monotonic_time(millisecond),
    Handles = [{I, py:spawn_call(?POOL, '__main__', nap, [I, 0.2])} || I <- lists:seq(1, 1000)],
    [{I, {ok, {I, _End}}} = {I, py:await(H, 30000)} || {I, H} <- Handles],
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    ct:log("1000 x sleep(0.2) on one context: ~b ms", [Elapsed]),
    true = Elapsed < 5000.

%% @doc A synchronous call sent while 1,000 coroutine calls sleep on the
%% one context is answered before any of them ends (by the Python
%% clock: its time is before every coroutine's end).
sync_call_answered_while_tasks_wait(_Config) ->
    Handles = [py:spawn_call(?POOL, '__main__', nap, [I, 0.5]) || I <- lists:seq(1, 1000)],
    {ok, SyncAt} = py:call(?POOL, time, monotonic, []),
    Ends = [End || H <- Handles, {ok, {_, End}} <- [py:await(H, 30000)]],
    1000 = length(Ends),
    true = SyncAt < lists:min(Ends).

%% @doc A submit wakes the loop only for a timer sooner than the loop's
%% wait ends (docs/asyncio.md): with a 60 s sleep pending, each short
%% sleep still ends after its own time (by the Python clock), and a
%% longer one after the short ones still ends after its time, not the
%% 60 s one's.
sooner_timer_wakes_the_waiting_loop(_Config) ->
    Long = py:spawn_call(?POOL, '__main__', nap, [long, 60.0]),
    Naps = [begin
                {ok, T0} = py:call(?POOL, time, monotonic, []),
                {ok, {I, End}} = py:call(?POOL, '__main__', nap, [I, Secs], #{}, 5000),
                {I, End - T0 >= Secs, End - T0 < 3.0}
            end || {I, Secs} <- [{1, 0.05}, {2, 0.01}, {3, 0.2}]],
    [{1, true, true}, {2, true, true}, {3, true, true}] = Naps,
    Pending = py:spawn_call(?POOL, '__main__', nap, [later, 0.3]),
    {ok, {later, _}} = py:await(Pending, 5000),
    {error, timeout} = py:await(Long, 0).

%% @doc asyncio.gather, asyncio.open_connection to a TCP server on the
%% loopback, loop.run_in_executor and asyncio.get_running_loop inside a
%% coroutine call.
standard_loop_features(_Config) ->
    {ok, Listen} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {active, false},
                                      {packet, line}, {reuseaddr, true}]),
    {ok, Port} = inet:port(Listen),
    Server = spawn_link(fun() ->
                                {ok, S} = gen_tcp:accept(Listen, 10000),
                                {ok, <<"ping\n">>} = gen_tcp:recv(S, 0, 10000),
                                ok = gen_tcp:send(S, <<"pong\n">>),
                                {error, closed} = gen_tcp:recv(S, 0, 10000)
                        end),
    {ok, {true, [2, 4, 6], <<"pong\n">>, 6}} =
        py:call(?POOL, '__main__', features, [Port], #{}, 20000),
    unlink(Server),
    ok = gen_tcp:close(Listen).

%% @doc A task factory set on the context's loop makes the tasks of the
%% coroutine calls that follow, of a coroutine as of another awaitable.
task_factory_makes_the_tasks(_Config) ->
    {ok, none} = py:call(?POOL, '__main__', set_task_factory, []),
    {ok, 4} = py:call(?POOL, '__main__', double, [2]),
    {ok, 8} = py:call(?POOL, '__main__', 'Later', [4]),
    {ok, [4, 8]} = py:eval(?POOL, <<"[t.result() for t in made]">>, #{}).

%% @doc A coroutine's first step, up to its first wait, runs on the
%% context's thread (docs/asyncio.md): in it, as after its first wait, the
%% task is the current task of the same running loop and erlang.self() is
%% None. A blocking erlang.call there waits as the request's would: the
%% Erlang function may call Python on the same pool of one context.
first_step_is_part_of_the_task(_Config) ->
    {ok, {none, true, none, true, true}} = py:call(?POOL, '__main__', first_step, []),
    ok = py:register_function(back_to_python,
                              fun([X]) -> {ok, Y} = py:call(?POOL, operator, mul, [X, 3]), Y end),
    try
        {ok, 21} = py:call(?POOL, '__main__', blocking_first, [<<"back_to_python">>, 7],
                           #{}, 10000)
    after
        py:unregister_function(back_to_python)
    end.

%%% ==========================================================================
%%% Cancellation, pool stop, port crash
%%% ==========================================================================

%% @doc A coroutine call that times out has its task cancelled:
%% CancelledError at its await, its finally block runs.
timeout_cancels_the_task(_Config) ->
    Tag = py_test_lib:token(),
    {error, timeout} = py:call(?POOL, '__main__', guarded, [self(), Tag], #{}, 300),
    receive {cancelled, Tag} -> ok after 5000 -> ct:fail(no_cancelled_error) end,
    receive {finally, Tag} -> ok after 5000 -> ct:fail(no_finally) end,
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000),
    {ok, #{timeouts := 1}} = py_context_router:pool_stats(?POOL),
    {ok, 2} = py:call(?POOL, '__main__', double, [1]).

%% @doc Timeouts that race the hand-off of a coroutine to the event loop
%% leave the port up: with the GIL switched at every chance, an interrupt
%% meant for a call may come at any point of it, and each call is answered
%% by its result or by a timeout; every task ends, in the same OS process.
cancels_racing_the_hand_off(_Config) ->
    {ok, OsPid} = py:eval(?POOL, <<"__import__('os').getpid()">>, #{}),
    Self = self(),
    Call = fun(I) ->
               case py:call(?POOL, '__main__', double, [I], #{}, I rem 3) of
                   {ok, R} when R =:= 2 * I -> ok;
                   {error, timeout} -> ok;
                   Other -> {I, Other}
               end
           end,
    with_gil_switched_at_every_chance(
      fun() ->
              Callers = [spawn_link(fun() -> Self ! {self(), [Call(I) || I <- lists:seq(1, 250)]} end)
                         || _ <- lists:seq(1, 4)],
              Results = [receive {C, Rs} -> Rs after 60000 -> ct:fail(caller_stuck) end
                         || C <- Callers],
              [] = [R || R <- lists:append(Results), R =/= ok]
      end),
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000),
    {ok, OsPid} = py:eval(?POOL, <<"__import__('os').getpid()">>, #{}),
    {ok, 2} = py:call(?POOL, '__main__', double, [1]).

%% @doc A call that times out while its coroutine's first step runs on
%% the context's thread (0.3 s without an await) is interrupted there as
%% a synchronous call is: erlang.Cancelled is raised in the step (not
%% asyncio.CancelledError: it has not waited yet), its finally blocks run,
%% and the task ends; with the GIL switched at every chance, so that the
%% interrupt may come at any point of the step.
cancelled_during_the_first_step(_Config) ->
    case py_test_lib:python_version() of
        {3, 13} -> {skip, "CPython 3.13 may skip the except block an asynchronous exception "
                          "is raised in (python/cpython#139622): docs/reliability.md"};
        _ -> cancelled_during_the_first_step()
    end.

cancelled_during_the_first_step() ->
    Tag = py_test_lib:token(),
    with_gil_switched_at_every_chance(
      fun() ->
              {error, timeout} =
                  py:call(?POOL, '__main__', busy_then_guarded, [self(), Tag, 0.3], #{}, 100),
              receive {raised, Tag, Name} -> <<"Cancelled">> = Name
              after 5000 -> ct:fail(not_raised)
              end
      end),
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000),
    {ok, 2} = py:call(?POOL, '__main__', double, [1]).

%% @doc A first step that never waits (an endless loop before its first
%% await) is interrupted by its call's timeout as a synchronous call is:
%% the context serves again, and the task ends.
timeout_interrupts_the_first_step(_Config) ->
    {error, timeout} = py:call(?POOL, '__main__', spin_first, [], #{}, 300),
    {ok, 2} = py:call(?POOL, '__main__', double, [1], #{}, 5000),
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000).

%% @doc py:interrupt/1 reaches a first step that never waits, as it
%% reaches a synchronous call's code: its caller gets {error, interrupted},
%% the task ends, and the context serves again.
py_interrupt_reaches_the_first_step(_Config) ->
    [Ctx] = py_context_router:contexts(?POOL),
    not_running = py:interrupt(Ctx),
    H = py:spawn_call(?POOL, '__main__', spin_first, []),
    ok = py_test_lib:wait_until(fun() -> py:interrupt(Ctx) =:= ok end, 10000),
    {error, interrupted} = py:await(H, 10000),
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000),
    not_running = py:interrupt(Ctx),
    {ok, 2} = py:call(?POOL, '__main__', double, [1], #{}, 5000).

%% @doc A caller that dies has its coroutine call's task cancelled.
caller_exit_cancels_the_task(_Config) ->
    Tag = py_test_lib:token(),
    Self = self(),
    Caller = spawn(fun() -> py:call(?POOL, '__main__', guarded, [Self, Tag], #{}, infinity) end),
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 1 end, 5000),
    exit(Caller, kill),
    receive {cancelled, Tag} -> ok after 5000 -> ct:fail(no_cancelled_error) end,
    receive {finally, Tag} -> ok after 5000 -> ct:fail(no_finally) end,
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000).

%% @doc A task that swallows its CancelledError goes on (documented): its
%% caller still has its timeout, the context still serves.
task_ignoring_cancel_is_left_alone(_Config) ->
    Tag = py_test_lib:token(),
    {error, timeout} = py:call(?POOL, '__main__', stubborn, [self(), Tag], #{}, 300),
    receive {ignored, Tag} -> ok after 5000 -> ct:fail(not_cancelled) end,
    {ok, 2} = py:call(?POOL, '__main__', double, [1]),
    receive {stubborn_done, Tag} -> ok after 5000 -> ct:fail(not_finished) end.

%% @doc Stopping a pool answers its coroutine calls {error, {pool_stopped,
%% Pool}} and, in worker and owngil modes, cancels their tasks (finally
%% blocks run); a process pool's member ends with its OS process.
pool_stop_answers_pool_stopped(Config) ->
    Tag = py_test_lib:token(),
    Handles = [py:spawn_call(?POOL, '__main__', guarded, [self(), Tag]) || _ <- lists:seq(1, 3)],
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 3 end, 5000),
    ok = py_context_router:stop_pool(?POOL),
    [{error, {pool_stopped, ?POOL}} = py:await(H, 5000) || H <- Handles],
    case ?config(mode, Config) of
        process -> ok;
        _ -> [receive {finally, Tag} -> ok after 5000 -> ct:fail(no_finally) end
              || _ <- Handles]
    end.

%% @doc kill -9 of the port running a coroutine call answers it
%% {error, {port_exited, _}} at once; the pool serves again after.
port_kill_answers_port_exited(_Config) ->
    Tag = py_test_lib:token(),
    Handles = [py:spawn_call(?POOL, '__main__', guarded, [self(), Tag]) || _ <- lists:seq(1, 3)],
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 3 end, 5000),
    {ok, OsPid} = py:eval(?POOL, <<"__import__('os').getpid()">>, #{}),
    ok = py_test_lib:kill_9(OsPid),
    [{error, {port_exited, _}} = py:await(H, 5000) || H <- Handles],
    ok = py_test_lib:wait_until(fun() -> py:eval(?POOL, <<"1">>, #{}) =:= {ok, 1} end, 20000).

%% @doc max_queue counts coroutine calls in flight: a pool of one context
%% with max_queue 20 holds 20 tasks, and the 21st call (coroutine or not,
%% to the pool or to its context) is answered {error, {overloaded, _}} at
%% once; once they end, it serves again.
max_queue_counts_tasks(Config) ->
    ok = py_context_router:stop_pool(?POOL),
    Old = application:get_env(erlang_python, max_queue),
    try
        ok = application:set_env(erlang_python, max_queue, 20),
        ok = restart_app(),
        start_pool(?POOL, ?config(mode, Config)),
        [Ctx] = py_context_router:contexts(?POOL),
        Handles = [py:spawn_call(?POOL, '__main__', nap, [I, 3.0]) || I <- lists:seq(1, 20)],
        ok = py_test_lib:wait_until(fun() -> tasks() =:= 20 end, 2500),
        {error, {overloaded, ?POOL}} = py:call(?POOL, '__main__', nap, [21, 0.0]),
        {error, {overloaded, ?POOL}} = py:eval(?POOL, <<"1">>, #{}),
        {error, {overloaded, context}} = py:eval(Ctx, <<"1">>, #{}),
        [{ok, {I, _}} = py:await(H, 10000) || {I, H} <- lists:zip(lists:seq(1, 20), Handles)],
        ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000),
        {ok, 1} = py:eval(?POOL, <<"1">>, #{})
    after
        case Old of
            {ok, V} -> application:set_env(erlang_python, max_queue, V);
            undefined -> application:unset_env(erlang_python, max_queue)
        end,
        ok = restart_app()
    end.

%% @doc The pool's stats count the coroutine calls in flight as `tasks',
%% back to 0 once they end, each counted `completed' then.
stats_count_tasks(_Config) ->
    %% The exec of the helpers is counted once its context is free again.
    ok = py_test_lib:wait_until(fun() -> stat(busy) =:= 0 end, 5000),
    {ok, #{tasks := 0, completed := Before}} = py_context_router:pool_stats(?POOL),
    Handles = [py:spawn_call(?POOL, '__main__', at_gate, [I]) || I <- lists:seq(1, 25)],
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 25 end, 5000),
    {ok, #{tasks := 25, busy := 0, queued := 0}} = py_context_router:pool_stats(?POOL),
    {ok, #{pools := #{?POOL := #{tasks := 25}}}} = py:stats(),
    {ok, none} = py:call(?POOL, '__main__', open_gate, []),
    [{ok, I} = py:await(H, 5000) || {I, H} <- lists:zip(lists:seq(1, 25), Handles)],
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 andalso stat(busy) =:= 0 end, 5000),
    {ok, #{completed := After, errors := Errors}} = py_context_router:pool_stats(?POOL),
    %% 25 tasks and the call that opened the gate.
    26 = After - Before,
    %% A coroutine that ends in its first step never is a task: it is
    %% answered, and counted, as a synchronous call, its error too.
    {ok, 7} = py:call(?POOL, '__main__', at_once, [7]),
    {error, {'ValueError', <<"negative">>}} = py:call(?POOL, '__main__', at_once, [-1]),
    ok = py_test_lib:wait_until(fun() -> stat(busy) =:= 0 end, 5000),
    {ok, #{tasks := 0, completed := Final, errors := FinalErrors}} =
        py_context_router:pool_stats(?POOL),
    {2, 1} = {Final - After, FinalErrors - Errors}.

%%% ==========================================================================
%%% Python calling Erlang from a coroutine
%%% ==========================================================================

%% @doc 50 concurrent coroutine calls on one context, each awaiting
%% erlang.async_call of an Erlang function that takes 300 ms, and one
%% coroutine gathering 20 of them: they overlap (within 4 s, serially 21
%% s), each with its own result.
async_call_suspends_only_its_task(_Config) ->
    ok = py:register_function(slow_echo, fun([X]) -> timer:sleep(300), {echo, X} end),
    T0 = erlang:monotonic_time(millisecond),
    Gather = py:spawn_call(?POOL, '__main__', gather_echoes, [20]),
    Handles = [{I, py:spawn_call(?POOL, '__main__', echo_via_erlang, [I])} || I <- lists:seq(1, 50)],
    [{I, {ok, {echo, I}}} = {I, py:await(H, 20000)} || {I, H} <- Handles],
    {ok, Twenty} = py:await(Gather, 20000),
    Twenty = [{echo, I} || I <- lists:seq(1, 20)],
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    ct:log("71 erlang.async_call of 300 ms on one context: ~b ms", [Elapsed]),
    true = Elapsed < 4000,
    ok = py:unregister_function(slow_echo).

%% @doc erlang.async_call's errors: an Erlang function that raises gives
%% erlang.Error, an unknown name NameError, and outside a context's loop
%% (a plain call) RuntimeError.
async_call_errors(_Config) ->
    ok = py:register_function(raising, fun(_) -> error(badarith) end),
    {ok, <<"Error: error: badarith">>} = py:call(?POOL, '__main__', async_call_error, [<<"raising">>]),
    {ok, <<"NameError", _/binary>>} =
        py:call(?POOL, '__main__', async_call_error, [<<"no_such_function_here">>]),
    {error, {'RuntimeError', <<"erlang.async_call: only in a coroutine", _/binary>>}} =
        py:eval(?POOL, <<"erlang.async_call('raising')">>, #{}),
    ok = py:unregister_function(raising).

%% @doc Answers of 40 MB to erlang.async_call, one after another: each
%% comes whole (the frame is freed by the loop's thread, port/callback.c).
async_call_big_answers(_Config) ->
    ok = py:register_function(big, fun([N]) -> binary:copy(<<N, 255>>, 20 bsl 20) end),
    [{ok, [41943040, N, 255]} = py:call(?POOL, '__main__', big_via_erlang, [N]) || N <- [1, 2, 3]],
    ok = py:unregister_function(big).

%% @doc The Erlang function a task awaits calls Python on the same pool of
%% one context: the context is free, so that request runs as a normal one.
async_callback_calls_back_into_python(_Config) ->
    ok = py:register_function(back_to_python,
                              fun([X]) -> {ok, Y} = py:call(?POOL, operator, mul, [X, 3]), Y end),
    {ok, 21} = py:call(?POOL, '__main__', via_erlang, [<<"back_to_python">>, 7], #{}, 10000),
    ok = py:unregister_function(back_to_python).

%% @doc The blocking erlang.call inside a coroutine still works (it
%% blocks the loop while it waits).
blocking_call_inside_a_coroutine(_Config) ->
    ok = py:register_function(plus_one, fun([X]) -> X + 1 end),
    {ok, 42} = py:call(?POOL, '__main__', blocking_in_coroutine, [41]),
    ok = py:unregister_function(plus_one).

%%% ==========================================================================
%%% Streams of async generators
%%% ==========================================================================

%% @doc py:stream collects an async generator (or async iterator) into a
%% list; its error is the reply's.
async_generator_collected(_Config) ->
    ok = py:register_pool(?POOL, '__main__'),
    try
        {ok, [0, 1, 2, 3, 4]} = py:stream('__main__', arange, [5]),
        {ok, [0, 1, 2]} = py:stream('__main__', 'Ticker', [3]),
        {error, {'ValueError', <<"no more">>}} = py:stream('__main__', afailing, [2])
    after
        py:unregister_pool('__main__')
    end.

%% @doc stream_start of an async generator: items in order with the same
%% credit flow control (window 4: 4 in the mailbox, one more made and
%% waiting), and while it waits for credit the loop serves other
%% coroutine calls; then done.
async_generator_stream_with_credit(_Config) ->
    Key = integer_to_binary(py_test_lib:token()),
    {ok, Ref} = py:stream_start('__main__', acounted, [Key, 20], #{pool => ?POOL, window => 4}),
    ok = py_test_lib:wait_until(fun() -> produced(Key) =:= 5 end, 5000),
    ok = py_test_lib:wait_until(fun() -> mailbox() =:= 4 end, 5000),
    {ok, 2} = py:call(?POOL, '__main__', double, [1]),
    5 = produced(Key),
    [{data, 0}, {data, 1}] = take(Ref, 2),
    ok = py_test_lib:wait_until(fun() -> produced(Key) =:= 7 end, 5000),
    ok = py_test_lib:wait_until(fun() -> mailbox() =:= 4 end, 5000),
    7 = produced(Key),
    Rest = [{data, K} || K <- lists:seq(2, 19)] ++ [done],
    Rest = collect(Ref),
    20 = produced(Key),
    true = closed(Key).

%% @doc stream_cancel cancels the generator's task: its finally block
%% runs, no message comes after, and the context serves again.
async_stream_cancel_closes_the_generator(_Config) ->
    Key = integer_to_binary(py_test_lib:token()),
    {ok, Ref} = py:stream_start('__main__', acounted, [Key, 1000], #{pool => ?POOL, window => 2}),
    [{data, 0}] = take(Ref, 1),
    ok = py:stream_cancel(Ref),
    ok = py_test_lib:wait_until(fun() -> closed(Key) end, 5000),
    receive {py_stream, Ref, _} = Late -> ct:fail({after_cancel, Late}) after 100 -> ok end,
    true = produced(Key) =< 4,
    ok = py_test_lib:wait_until(fun() -> tasks() =:= 0 end, 5000),
    {ok, 2} = py:call(?POOL, '__main__', double, [1]).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

helpers() ->
    <<"import asyncio, erlang, time\n"
      "\n"
      "async def double(x):\n"
      "    await asyncio.sleep(0.01)\n"
      "    return 2 * x\n"
      "\n"
      "async def nap(x, secs):\n"
      "    await asyncio.sleep(secs)\n"
      "    return (x, time.monotonic())\n"
      "\n"
      "async def fail():\n"
      "    await asyncio.sleep(0)\n"
      "    raise ValueError('bad coroutine')\n"
      "\n"
      "async def at_once(x):\n"
      "    if x < 0:\n"
      "        raise ValueError('negative')\n"
      "    return x\n"
      "\n"
      "async def notify(pid, tag):\n"
      "    await asyncio.sleep(0.01)\n"
      "    erlang.send(pid, (erlang.atom('notified'), tag))\n"
      "\n"
      "async def guarded(pid, tag):\n"
      "    try:\n"
      "        await asyncio.sleep(60)\n"
      "    except asyncio.CancelledError:\n"
      "        erlang.send(pid, (erlang.atom('cancelled'), tag))\n"
      "        raise\n"
      "    finally:\n"
      "        erlang.send(pid, (erlang.atom('finally'), tag))\n"
      "\n"
      "async def busy_then_guarded(pid, tag, secs):\n"
      "    try:\n"
      "        start = time.monotonic()\n"
      "        while time.monotonic() - start < secs:\n"
      "            pass\n"
      "        await asyncio.sleep(60)\n"
      "    except BaseException as e:\n"
      "        erlang.send(pid, (erlang.atom('raised'), tag, type(e).__name__))\n"
      "        raise\n"
      "\n"
      "async def spin_first():\n"
      "    while True:\n"
      "        pass\n"
      "    await asyncio.sleep(0)\n"
      "\n"
      "async def stubborn(pid, tag):\n"
      "    try:\n"
      "        await asyncio.sleep(60)\n"
      "    except asyncio.CancelledError:\n"
      "        erlang.send(pid, (erlang.atom('ignored'), tag))\n"
      "    await asyncio.sleep(0.2)\n"
      "    erlang.send(pid, (erlang.atom('stubborn_done'), tag))\n"
      "\n"
      "async def features(port):\n"
      "    loop = asyncio.get_running_loop()\n"
      "    same = loop is asyncio.get_running_loop()\n"
      "    doubled = await asyncio.gather(double(1), double(2), double(3))\n"
      "    reader, writer = await asyncio.open_connection('127.0.0.1', port)\n"
      "    writer.write(b'ping\\n')\n"
      "    await writer.drain()\n"
      "    line = await reader.readline()\n"
      "    writer.close()\n"
      "    await writer.wait_closed()\n"
      "    summed = await loop.run_in_executor(None, sum, [1, 2, 3])\n"
      "    return (same, doubled, line, summed)\n"
      "\n"
      "made = []\n"
      "\n"
      "def factory(loop, coro, **kw):\n"
      "    task = asyncio.Task(coro, loop=loop, **kw)\n"
      "    made.append(task)\n"
      "    return task\n"
      "\n"
      "async def set_task_factory():\n"
      "    asyncio.get_running_loop().set_task_factory(factory)\n"
      "\n"
      "class Later:\n"
      "    \"\"\"Awaitable, not a coroutine.\"\"\"\n"
      "    def __init__(self, x):\n"
      "        self.x = x\n"
      "    def __await__(self):\n"
      "        return double(self.x).__await__()\n"
      "\n"
      "async def echo_via_erlang(x):\n"
      "    return await erlang.async_call('slow_echo', x)\n"
      "\n"
      "async def gather_echoes(n):\n"
      "    return await asyncio.gather(*[erlang.async_call('slow_echo', i)\n"
      "                                  for i in range(1, n + 1)])\n"
      "\n"
      "async def via_erlang(name, x):\n"
      "    return await erlang.async_call(name, x)\n"
      "\n"
      "async def big_via_erlang(n):\n"
      "    b = await erlang.async_call('big', n)\n"
      "    return [len(b), b[0], b[-1]]\n"
      "\n"
      "async def async_call_error(name):\n"
      "    try:\n"
      "        await erlang.async_call(name, 1)\n"
      "    except Exception as e:\n"
      "        return f'{type(e).__name__}: {e}'\n"
      "\n"
      "async def first_step():\n"
      "    here = (erlang.self(), asyncio.current_task() is not None,\n"
      "            asyncio.get_running_loop())\n"
      "    await asyncio.sleep(0)\n"
      "    there = (erlang.self(), asyncio.current_task() is not None,\n"
      "             asyncio.get_running_loop())\n"
      "    return (here[0], here[1], there[0], there[1], here[2] is there[2])\n"
      "\n"
      "async def blocking_first(name, x):\n"
      "    return erlang.call(name, x)\n"
      "\n"
      "async def blocking_in_coroutine(x):\n"
      "    await asyncio.sleep(0)\n"
      "    return erlang.call('plus_one', x)\n"
      "\n"
      "async def arange(n):\n"
      "    for i in range(n):\n"
      "        await asyncio.sleep(0)\n"
      "        yield i\n"
      "\n"
      "class Ticker:\n"
      "    \"\"\"An async iterator, not a generator.\"\"\"\n"
      "    def __init__(self, n):\n"
      "        self.i, self.n = 0, n\n"
      "    def __aiter__(self):\n"
      "        return self\n"
      "    async def __anext__(self):\n"
      "        if self.i == self.n:\n"
      "            raise StopAsyncIteration\n"
      "        self.i += 1\n"
      "        return self.i - 1\n"
      "\n"
      "async def afailing(n):\n"
      "    for i in range(n):\n"
      "        yield i\n"
      "    raise ValueError('no more')\n"
      "\n"
      "produced, closed = {}, {}\n"
      "\n"
      "async def acounted(key, n):\n"
      "    try:\n"
      "        for i in range(n):\n"
      "            produced[key] = i + 1\n"
      "            yield i\n"
      "            await asyncio.sleep(0)\n"
      "    finally:\n"
      "        closed[key] = True\n"
      "\n"
      "gate = {}\n"
      "\n"
      "async def at_gate(x):\n"
      "    if 'event' not in gate:\n"
      "        gate['loop'] = asyncio.get_running_loop()\n"
      "        gate['event'] = asyncio.Event()\n"
      "    await gate['event'].wait()\n"
      "    return x\n"
      "\n"
      "def open_gate():\n"
      "    gate['loop'].call_soon_threadsafe(gate['event'].set)\n">>.

start_pool(Pool, Mode) ->
    {ok, [_]} = py_context_router:start_pool(Pool, 1, Mode),
    ok = py:exec(Pool, helpers()).

collect(Ref) ->
    receive
        {py_stream, Ref, {data, _} = Data} -> [Data | collect(Ref)];
        {py_stream, Ref, Last} -> [Last]
    after 10000 ->
        ct:fail({stream_stalled, Ref})
    end.

take(_Ref, 0) ->
    [];
take(Ref, N) ->
    receive
        {py_stream, Ref, {data, _} = Data} -> [Data | take(Ref, N - 1)]
    after 10000 ->
        ct:fail({stream_stalled, Ref})
    end.

mailbox() ->
    {message_queue_len, N} = process_info(self(), message_queue_len),
    N.

%% Runs Fun with the pool's interpreter switching the GIL at every chance
%% (sys.setswitchinterval(1e-6)), so that races show; its interval is set
%% back after, whatever Fun does.
with_gil_switched_at_every_chance(Fun) ->
    {ok, Old} = py:eval(?POOL, <<"__import__('sys').getswitchinterval()">>, #{}),
    {ok, none} = py:eval(?POOL, <<"__import__('sys').setswitchinterval(1e-6)">>, #{}),
    try
        Fun()
    after
        {ok, none} = py:eval(?POOL, <<"__import__('sys').setswitchinterval(x)">>, #{x => Old})
    end.

produced(Key) ->
    {ok, N} = py:eval(?POOL, <<"produced.get(k, 0)">>, #{k => Key}),
    N.

closed(Key) ->
    py:eval(?POOL, <<"closed.get(k, False)">>, #{k => Key}) =:= {ok, true}.

restart_app() ->
    ok = application:stop(erlang_python),
    {ok, _} = application:ensure_all_started(erlang_python),
    ok.

tasks() ->
    stat(tasks).

stat(Key) ->
    {ok, #{Key := N}} = py_context_router:pool_stats(?POOL),
    N.

