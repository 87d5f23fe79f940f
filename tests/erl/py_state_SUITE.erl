%% Common Test suite of the application's state (docs/reliability.md,
%% "Application state and configuration"): what survives the death of each
%% process of the supervision tree, the API with the application stopped,
%% pool specs that are always the pools that run, stream relays that leave
%% no memory behind, and a callback that addresses its stopped pool.
-module(py_state_SUITE).

-include_lib("common_test/include/ct.hrl").

%% Common Test callbacks
-export([all/0]).
-export([suite/0]).
-export([init_per_suite/1]).
-export([end_per_suite/1]).
-export([init_per_testcase/2]).
-export([end_per_testcase/2]).

%% cases
-export([stopped_app_every_export_answers/1]).
-export([stray_messages_keep_every_process/1]).
-export([kill_each_process_keeps_state/1]).
-export([kill_py_callers_still_releases/1]).
-export([killed_context_pid_is_replaced/1]).
-export([start_stop_race_specs_are_running_pools/1]).
-export([stream_relays_leave_no_memory/1]).
-export([spawn_call_without_await_leaves_no_memory/1]).
-export([await_timeout_leaves_no_late_reply/1]).
-export([callback_after_stop_pool_gets_pool_stopped/1]).

-define(APP, erlang_python).
%% The processes of the supervision tree, in start order.
-define(CHILDREN, [py_registry, py_output, py_port_owner, py_callers]).
%% Pools the cases start; end_per_testcase stops them.
-define(POOLS, [st_r, st_r1, st_r2, st_s]).

%%% ==========================================================================
%%% Common Test callbacks
%%% ==========================================================================

all() ->
    [stopped_app_every_export_answers, stray_messages_keep_every_process,
     kill_each_process_keeps_state, kill_py_callers_still_releases,
     killed_context_pid_is_replaced,
     start_stop_race_specs_are_running_pools, stream_relays_leave_no_memory,
     spawn_call_without_await_leaves_no_memory, await_timeout_leaves_no_late_reply,
     callback_after_stop_pool_gets_pool_stopped].

suite() ->
    [{timetrap, {seconds, 180}}].

init_per_suite(Config) ->
    _ = application:stop(?APP),
    %% Each kill restarts the port once: room for every case's kills.
    py_test_lib:start_app([{max_restarts, 50}, {default_pool_size, 2}], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

init_per_testcase(stopped_app_every_export_answers, Config) ->
    ok = application:stop(?APP),
    Config;
init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, Config) ->
    case whereis(erlang_python_sup) of
        undefined -> ok = py_test_lib:restart_app(Config);
        _ -> ok
    end,
    [ok = py_context_router:stop_pool(Pool) || Pool <- ?POOLS],
    [ok = py:unregister_pool(M) || {{M, '_'}, _} <- py_context_router:list_pool_registrations()],
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc With the application stopped, every exported function of py and
%% py_context_router answers with its documented value (get_context/1
%% raises {pool_not_started, Pool}, as documented); every export is in
%% the table, so a new one cannot be forgotten.
stopped_app_every_export_answers(_Config) ->
    undefined = whereis(erlang_python_sup),
    Table = stopped_table(),
    Exports = [{M, F, A} || M <- [py, py_context_router], {F, A} <- M:module_info(exports),
                            F =/= module_info],
    [] = Exports -- [MFA || {MFA, _, _} <- Table],
    Wrong = [{MFA, Args, Expected, Got}
             || {{M, F, _} = MFA, Args, Expected} <- Table,
                not matches(Expected, Got = outcome(fun() -> apply(M, F, Args) end))],
    [] = Wrong.

%% @doc A stray call, cast or message to each process of the tree is
%% answered or ignored: no process dies, nothing is lost.
stray_messages_keep_every_process(_Config) ->
    ok = py:register_pool(default, st_mod),
    ok = py:register_function(st_fun, fun([X]) -> X end),
    Pids = [whereis(Name) || Name <- ?CHILDREN],
    [begin
         {error, _} = gen_server:call(Name, st_bogus, 5000),
         ok = gen_server:cast(Name, st_bogus),
         Name ! st_bogus
     end || Name <- ?CHILDREN],
    %% A call after the strays is answered once they are handled.
    [{error, _} = gen_server:call(Name, st_after) || Name <- ?CHILDREN],
    Pids = [whereis(Name) || Name <- ?CHILDREN],
    [{{st_mod, '_'}, default}] = py_context_router:list_pool_registrations(),
    {ok, 7} = py:eval(<<"__import__('erlang').st_fun(7)">>),
    ok = py:unregister_function(st_fun).

%% @doc Each process of the tree killed in turn, with calls and
%% registrations in flight: every call is answered (ok, not_started or
%% port_exited), and afterwards the pools, registrations, registered
%% functions and restart count are all still there and working.
kill_each_process_keeps_state(_Config) ->
    {ok, _} = py_context_router:start_pool(st_r, 2),
    ok = py:register_pool(st_r, st_mod),
    ok = py:register_pool(default, {st_mod, st_fun}),
    ok = py:register_function(st_add, fun([A, B]) -> A + B end),
    Registrations = py_context_router:list_pool_registrations(),
    [{st_r, 2, worker}] = py_registry:pool_specs(),
    [begin
         {ok, #{port := #{restarts := Before}}} = py:stats(),
         Old = whereis(Name),
         Load = start_load(),
         exit(Old, kill),
         ok = py_test_lib:wait_until(fun() -> restarted(Old, Name) end, 15000),
         [] = [R || R <- stop_load(Load), not in_flight_answer(R)],
         Registrations = py_context_router:list_pool_registrations(),
         [{st_r, 2, worker}] = py_registry:pool_specs(),
         2 = py_context_router:num_contexts(st_r),
         {ok, 2.0} = py:call(st_r, math, sqrt, [4]),
         st_r = py_context_router:lookup_pool(st_mod, other),
         {ok, 3} = py:eval(<<"__import__('erlang').st_add(1, 2)">>),
         %% The port restarts unless only py_callers died.
         Restarts = Before + case Name of py_callers -> 0; _ -> 1 end,
         {ok, #{port := #{restarts := Restarts}}} = py:stats()
     end || Name <- ?CHILDREN],
    ok = py:unregister_pool({st_mod, st_fun}),
    ok = py:unregister_function(st_add).

%% @doc py_callers killed while a process holds a Python object and
%% another waits for a call: the restarted server still releases the
%% object when its holder exits, and cancels the call when its caller does.
kill_py_callers_still_releases(_Config) ->
    {ok, _} = py_context_router:start_pool(st_r, 1),
    Caller = spawn(fun() ->
                           py:exec(st_r, <<"import time\nwhile True:\n    time.sleep(0.01)\n">>,
                                   infinity)
                   end),
    ok = py_test_lib:wait_until(fun() -> pool_stat(busy) =:= 1 end, 10000),
    Parent = self(),
    {ok, Held0} = held(),
    Holder = spawn(fun() ->
                           {ok, _Ref} = py:call(builtins, object, []),
                           Parent ! {held, self()},
                           receive go -> ok end
                   end),
    receive {held, Holder} -> ok after 10000 -> ct:fail(no_object) end,
    Held1 = Held0 + 1,
    {ok, Held1} = held(),
    1 = py_callers:held(Holder),
    Old = whereis(py_callers),
    exit(Old, kill),
    ok = py_test_lib:wait_until(fun() -> restarted(Old, py_callers) end, 5000),
    1 = py_callers:held(Holder),
    Holder ! go,
    ok = py_test_lib:wait_until(fun() -> held() =:= {ok, Held0} end, 5000),
    0 = py_callers:held(Holder),
    exit(Caller, kill),
    ok = py_test_lib:wait_until(fun() -> {pool_stat(cancelled), pool_stat(busy)} =:= {1, 0} end,
                                10000).

%% @doc A context pid killed: a new pid stands for the same context, it
%% runs requests, and stop_pool answers (it waited for ever for the
%% killed pid before).
killed_context_pid_is_replaced(_Config) ->
    {ok, [Old, Other]} = py_context_router:start_pool(st_r, 2),
    ok = py:exec(Old, <<"mine = 42">>),
    exit(Old, kill),
    ok = py_test_lib:wait_until(
           fun() -> not lists:member(Old, py_context_router:contexts(st_r)) end, 5000),
    [New, Other] = py_context_router:contexts(st_r),
    true = is_process_alive(New),
    {ok, 42} = py:eval(New, <<"mine">>), % the same context, its namespace kept
    {error, {context_not_found, Old}} = py:eval(Old, <<"1">>),
    {Pid, Mref} = spawn_monitor(fun() -> exit({stopped, py_context_router:stop_pool(st_r)}) end),
    {stopped, ok} = py_test_lib:await_exit({Pid, Mref}, 10000, stop_pool_hangs),
    false = is_process_alive(New).

%% @doc start_pool(P, 1) and stop_pool(P) raced from several processes,
%% 30 rounds: after each round the recorded specs are the pools that run,
%% and after a kill of the port the same pools run again.
start_stop_race_specs_are_running_pools(_Config) ->
    [begin
         Racers = [spawn_monitor(fun() -> exit(race(Pool, Op, 5)) end)
                   || Pool <- [st_r1, st_r2], Op <- [start, stop, start, stop]],
         [ok = py_test_lib:await_exit(Racer, 30000, race_hangs) || Racer <- Racers],
         {Same, Same} = {recorded(), running()}
     end || _ <- lists:seq(1, 30)],
    %% Leave one pool running and one stopped, then restart the port.
    {ok, _} = py_context_router:start_pool(st_r1, 1),
    ok = py_context_router:stop_pool(st_r2),
    Running = running(),
    [st_r1] = Running,
    {ok, OsPid} = py_test_lib:os_pid(),
    ok = py_test_lib:kill_9(OsPid),
    ok = py_test_lib:wait_until(fun() -> py:call(st_r1, math, sqrt, [4]) =:= {ok, 2.0} end, 15000),
    {Running, Running} = {recorded(), running()}.

%% @doc 20000 streams: each relay drops its alias before it exits, so the
%% node's system memory grows by less than 300 KB (an alias left active
%% at exit costs about 70 bytes on OTP 25.2: 1.4 MB).
stream_relays_leave_no_memory(_Config) ->
    ok = streams(500), % warm up: code, tables, binaries
    true = grows_less_than(300000, "20000 streams", fun() -> streams(20000) end).

%% @doc 10000 processes that each spawn_call and exit without await,
%% before the reply: the system memory grows by less than 300 KB (a
%% handle's alias left active at exit costs about 70 bytes on OTP 25.2),
%% measured once the calls left behind were cancelled and the pool is
%% free again.
spawn_call_without_await_leaves_no_memory(_Config) ->
    ok = spawn_calls(500),
    true = grows_less_than(300000, "10000 unawaited spawn_calls",
                           fun() -> ok = spawn_calls(10000), ok = default_pool_idle() end).

%% @doc An await that times out leaves no message behind, neither when the
%% request was cancelled in the port nor when its reply was already on
%% its way (200 awaits with timeouts around the call's duration).
await_timeout_leaves_no_late_reply(_Config) ->
    {ok, _} = py_context_router:start_pool(st_r, 2),
    Results = [py:await(py:spawn_call(st_r, time, sleep, [0.002]), T rem 4)
               || T <- lists:seq(1, 200)],
    [] = [R || R <- Results, R =/= {ok, none}, R =/= {error, timeout}],
    ok = py_test_lib:wait_until(fun() -> pool_stat(busy) =:= 0 end, 10000),
    %% Whatever was still running has answered by now.
    {ok, 2.0} = py:call(st_r, math, sqrt, [4]),
    {messages, []} = process_info(self(), messages).

%% @doc A callback running on pool st_s that stops st_s and then calls
%% py:call(st_s, ...) gets {error, {pool_stopped, st_s}}, not bad_request;
%% the call it runs for was answered pool_stopped too.
callback_after_stop_pool_gets_pool_stopped(_Config) ->
    {ok, _} = py_context_router:start_pool(st_s, 1),
    Parent = self(),
    ok = py:register_function(st_stop_then_call,
                              fun([]) ->
                                      ok = py_context_router:stop_pool(st_s),
                                      Parent ! {nested, py:call(st_s, builtins, abs, [-1])},
                                      ok
                              end),
    {error, {pool_stopped, st_s}} =
        py:eval(st_s, <<"__import__('erlang').st_stop_then_call()">>),
    receive
        {nested, Nested} -> {error, {pool_stopped, st_s}} = Nested
    after 10000 ->
        ct:fail(no_nested_call)
    end,
    {error, {pool_not_started, st_s}} = py:call(st_s, builtins, abs, [-1]),
    ok = py:unregister_function(st_stop_then_call).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% {{M, F, A}, Args, Expected} for every export, with the application
%% stopped. Expected is a value, {raises, Class, Reason}, or a fun that
%% says whether the value is right.
stopped_table() ->
    NS = {error, not_started},
    Ref = {'$py_ref', 1, 1},
    Handle = py:spawn_call(math, sqrt, [4]),
    IsHandle = fun(H) -> py:await(H) =:= NS end,
    Fun = fun([X]) -> X end,
    Self = self(),
    [{{py, call, 3}, [math, sqrt, [4]], NS},
     {{py, call, 4}, [math, sqrt, [4], #{}], NS},
     {{py, call, 5}, [math, sqrt, [4], #{}, 1000], NS},
     {{py, call, 6}, [default, math, sqrt, [4], #{}, 1000], NS},
     {{py, eval, 1}, [<<"1">>], NS},
     {{py, eval, 2}, [<<"x">>, #{x => 1}], NS},
     {{py, eval, 3}, [<<"x">>, #{x => 1}, 1000], NS},
     {{py, eval, 4}, [default, <<"1">>, #{}, 1000], NS},
     {{py, exec, 1}, [<<"x = 1">>], NS},
     {{py, exec, 2}, [<<"x = 1">>, 1000], NS},
     {{py, exec, 3}, [default, <<"x = 1">>, 1000], NS},
     {{py, spawn_call, 3}, [math, sqrt, [4]], IsHandle},
     {{py, spawn_call, 4}, [math, sqrt, [4], #{}], IsHandle},
     {{py, spawn_call, 5}, [default, math, sqrt, [4], #{}], IsHandle},
     {{py, await, 1}, [Handle], NS},
     {{py, await, 2}, [Handle, 1000], NS},
     {{py, async_call, 3}, [math, sqrt, [4]], IsHandle},
     {{py, async_call, 4}, [math, sqrt, [4], #{}], IsHandle},
     {{py, async_call, 5}, [default, math, sqrt, [4], #{}], IsHandle},
     {{py, async_await, 1}, [Handle], NS},
     {{py, async_await, 2}, [Handle, 1000], NS},
     {{py, cast, 3}, [math, sqrt, [4]], NS},
     {{py, cast, 4}, [math, sqrt, [4], #{}], NS},
     {{py, cast, 5}, [default, math, sqrt, [4], #{}], NS},
     {{py, register_pool, 2}, [default, st_mod], NS},
     {{py, unregister_pool, 1}, [st_mod], NS},
     {{py, call_method, 3}, [Ref, m, []], NS},
     {{py, call_method, 4}, [Ref, m, [], #{}], NS},
     {{py, call_method, 5}, [default, Ref, m, [], #{}], NS},
     {{py, getattr, 2}, [Ref, a], NS},
     {{py, to_term, 1}, [Ref], NS},
     {{py, release, 1}, [Ref], NS},
     {{py, stats, 0}, [], NS},
     {{py, local_stats, 0}, [], NS},
     {{py, version, 0}, [], NS},
     {{py, venv_info, 0}, [], NS},
     {{py, configure_logging, 1}, [#{level => info}], NS},
     {{py, configure_logging, 0}, [], NS},
     {{py, interrupt, 1}, [self()], {error, {context_not_found, self()}}},
     {{py, is_ref, 1}, [Ref], true},
     {{py, context, 0}, [], {raises, error, {pool_not_started, default}}},
     {{py, context, 1}, [1], {raises, error, {pool_not_started, default}}},
     {{py, gc, 0}, [], NS},
     {{py, gc, 1}, [0], NS},
     {{py, memory_stats, 0}, [], NS},
     {{py, register_function, 2}, [st_f, Fun], NS},
     {{py, register_function, 3}, [st_f, lists, reverse], NS},
     {{py, unregister_function, 1}, [st_f], NS},
     {{py, stream, 3}, [builtins, range, [2]], NS},
     {{py, stream, 4}, [builtins, range, [2], #{}], NS},
     {{py, stream, 5}, [builtins, range, [2], #{}, 1000], NS},
     {{py, stream_eval, 1}, [<<"range(2)">>], NS},
     {{py, stream_eval, 2}, [<<"range(2)">>, #{}], NS},
     {{py, stream_eval, 3}, [<<"range(2)">>, #{}, 1000], NS},
     {{py, stream_start, 3}, [builtins, range, [2]], NS},
     {{py, stream_start, 4}, [builtins, range, [2], #{}], NS},
     {{py, stream_cancel, 1}, [make_ref()], ok},
     {{py, failure, 1}, [{error, x}], {error, x}},
     {{py, port_exit_reason, 1}, [x], {port_exited, x}},
     {{py_context_router, start_pool, 2}, [st_r, 1], NS},
     {{py_context_router, start_pool, 3}, [st_r, 1, worker], NS},
     {{py_context_router, start_pool, 4}, [st_r, 1, worker, #{preload => <<"x = 1">>}], NS},
     {{py_context_router, stop_pool, 1}, [st_r], NS},
     {{py_context_router, pool_started, 1}, [default], false},
     {{py_context_router, get_context, 1}, [default], {raises, error, {pool_not_started, default}}},
     {{py_context_router, num_contexts, 1}, [default], 0},
     {{py_context_router, contexts, 1}, [default], []},
     {{py_context_router, register_pool, 2}, [default, st_mod], NS},
     {{py_context_router, register_pool, 3}, [default, st_mod, f], NS},
     {{py_context_router, unregister_pool, 1}, [st_mod], NS},
     {{py_context_router, unregister_pool, 2}, [st_mod, f], NS},
     {{py_context_router, lookup_pool, 2}, [st_mod, f], default},
     {{py_context_router, list_pool_registrations, 0}, [], []},
     {{py_context_router, context_target, 1}, [Self], {error, {context_not_found, Self}}},
     {{py_context_router, route, 1}, [default], {error, not_started}},
     {{py_context_router, route, 1}, [Self], {error, {context_not_found, Self}}},
     {{py_context_router, pool_stats, 1}, [default], NS},
     {{py_context_router, pool_mode, 1}, [default], undefined}].

outcome(Fun) ->
    try Fun() of
        Value -> {value, Value}
    catch
        Class:Reason -> {raises, Class, Reason}
    end.

matches({raises, _, _} = Raised, Got) -> Raised =:= Got;
matches(Check, {value, Value}) when is_function(Check, 1) -> Check(Value);
matches(Expected, {value, Value}) -> Expected =:= Value;
matches(_Expected, _Got) -> false.

%% Processes that call and register in a loop until stopped.
start_load() ->
    Parent = self(),
    Loops = [fun() -> py:call(st_r, math, sqrt, [4], #{}, 10000) end,
             fun() -> py:call(math, sqrt, [4], #{}, 10000) end,
             fun() -> py:register_function(st_add, fun([A, B]) -> A + B end) end,
             fun() -> py:register_pool(st_r, st_mod) end],
    [spawn_monitor(fun() -> loop(Parent, Fun, []) end) || Fun <- Loops].

loop(Parent, Fun, Acc) ->
    receive
        stop -> exit({results, Acc})
    after 0 ->
        loop(Parent, Fun, [Fun() | Acc])
    end.

%% Every result of the loops; fails if one does not stop (a hang).
stop_load(Load) ->
    [Pid ! stop || {Pid, _} <- Load],
    lists:append([begin
                      {results, Results} = py_test_lib:await_exit(Loop, 30000, load_hangs),
                      Results
                  end || Loop <- Load]).

in_flight_answer({ok, 2.0}) -> true;
in_flight_answer(ok) -> true;
in_flight_answer({error, not_started}) -> true;
in_flight_answer({error, {port_exited, _}}) -> true;
in_flight_answer(_) -> false.

%% Whether Name runs again, as another process than Old, with every
%% other process of the tree, and the port answers.
restarted(Old, Name) ->
    case whereis(Name) of
        Old -> false;
        undefined -> false;
        _ -> [] =:= [N || N <- ?CHILDREN, whereis(N) =:= undefined]
                 andalso py:call(default, math, sqrt, [4], #{}, 5000) =:= {ok, 2.0}
    end.

%% Starts or stops Pool N times, checking each answer.
race(_Pool, _Op, 0) ->
    ok;
race(Pool, start, N) ->
    {ok, [_]} = py_context_router:start_pool(Pool, 1),
    race(Pool, start, N - 1);
race(Pool, stop, N) ->
    ok = py_context_router:stop_pool(Pool),
    race(Pool, stop, N - 1).

recorded() ->
    lists:sort([Pool || {Pool, _Size, _Mode} <- py_registry:pool_specs()]).

running() ->
    lists:sort([Pool || Pool <- [st_r, st_r1, st_r2, st_s], py_context_router:pool_started(Pool)]).

%% N processes, one after the other, each starting a slow call with
%% spawn_call and exiting at once.
spawn_calls(0) ->
    ok;
spawn_calls(N) ->
    {Pid, Mref} = spawn_monitor(fun() -> _ = py:spawn_call(time, sleep, [0.5]) end),
    normal = py_test_lib:await_exit({Pid, Mref}, 10000, caller_hangs),
    spawn_calls(N - 1).

%% Whether the node's system memory grows by less than Bound bytes over
%% Run, in one of three rounds. A leak grows it in every round; a
%% transient buffer (a port's queue, an ETS table's resize) in one.
grows_less_than(Bound, What, Run) ->
    grows_less_than(Bound, What, Run, 3).

grows_less_than(_Bound, _What, _Run, 0) ->
    false;
grows_less_than(Bound, What, Run, Rounds) ->
    erlang:garbage_collect(),
    Before = erlang:memory(system),
    Run(),
    erlang:garbage_collect(),
    Growth = erlang:memory(system) - Before,
    ct:pal("system memory growth over ~s: ~b bytes", [What, Growth]),
    Growth < Bound orelse grows_less_than(Bound, What, Run, Rounds - 1).

%% The default pool answers a call within a second: the calls before it
%% were cancelled or have finished.
default_pool_idle() ->
    py_test_lib:wait_until(fun() -> py:call(math, sqrt, [4], #{}, 1000) =:= {ok, 2.0} end,
                           30000).

%% N streams of one item each, run to their end.
streams(0) ->
    ok;
streams(N) ->
    {ok, Ref} = py:stream_start(builtins, range, [1]),
    {data, 0} = receive {py_stream, Ref, M1} -> M1 after 10000 -> ct:fail(no_item) end,
    done = receive {py_stream, Ref, M2} -> M2 after 10000 -> ct:fail(no_done) end,
    streams(N - 1).

pool_stat(Key) ->
    {ok, #{Key := Value}} = py_context_router:pool_stats(st_r),
    Value.

held() ->
    py:eval(<<"__import__('erlang')._held()">>).
