%% Common Test suite of the pool modes (docs/pools.md, "Pool modes")
%% against the real port binary: one group per mode, each starting its own
%% pool `modes' of that mode. The `owngil' group needs a port built against
%% Python 3.12 or later (make test-owngil); the `unsupported' group needs
%% one older than 3.12. Each is skipped, saying why, on the other.
-module(py_modes_SUITE).

-include_lib("common_test/include/ct.hrl").

%% Common Test callbacks
-export([all/0]).
-export([suite/0]).
-export([groups/0]).
-export([init_per_suite/1]).
-export([end_per_suite/1]).
-export([init_per_group/2]).
-export([end_per_group/2]).

%% every mode
-export([pool_reports_its_mode/1]).
-export([call_eval_exec_and_errors/1]).
-export([mode_survives_port_restart/1]).
-export([erlang_module_imported_again_keeps_state/1]).
%% worker
-export([shared_gil_runs_one_at_a_time/1]).
%% owngil
-export([contexts_run_python_in_parallel/1]).
-export([contexts_have_their_own_interpreter/1]).
-export([references_route_to_their_context/1]).
-export([single_phase_extension_import_fails_cleanly/1]).
-export([erlang_callbacks_from_owngil/1]).
-export([timeout_interrupts_owngil_code/1]).
-export([output_and_logging_from_owngil/1]).
-export([stream_from_owngil/1]).
-export([stop_pool_ends_interpreters/1]).
-export([trace_covers_owngil_jobs/1]).
-export([fork_and_daemon_threads_refused_subprocess_runs/1]).
%% Python older than 3.12
-export([owngil_unsupported_mode/1]).

-define(POOL, modes).
%% How long each counting call counts, in milliseconds.
-define(COUNT_MS, 400).
%% Counts a pure-Python loop for `ms' milliseconds (one expression: each
%% owngil context has its own __main__).
-define(COUNT,
        <<"(lambda t, now: sum(1 for _ in iter(lambda: now() < t, False)))"
          "(__import__('time').monotonic() + ms / 1000, __import__('time').monotonic)">>).
%% Counts hashes of 1 MB for `ms' milliseconds: C code that releases the
%% GIL, so it runs in parallel in every mode when two cores are free.
-define(HASH,
        <<"(lambda t, now, h, d: sum(1 for _ in iter(lambda: (h(d), now() < t)[1], False)))"
          "(__import__('time').monotonic() + ms / 1000, __import__('time').monotonic,"
          " __import__('hashlib').sha256, b'x' * (1 << 20))">>).
%% Tries of a measure before a case gives up waiting for two free cores.
-define(TRIES, 6).

all() ->
    [{group, worker}, {group, owngil}, {group, unsupported}].

suite() ->
    [{timetrap, {seconds, 120}}].

groups() ->
    Common = [pool_reports_its_mode, call_eval_exec_and_errors,
              erlang_module_imported_again_keeps_state, mode_survives_port_restart],
    [{worker, [], Common ++ [shared_gil_runs_one_at_a_time]},
     {owngil, [], Common ++ [contexts_run_python_in_parallel,
                             contexts_have_their_own_interpreter,
                             references_route_to_their_context,
                             single_phase_extension_import_fails_cleanly,
                             erlang_callbacks_from_owngil,
                             timeout_interrupts_owngil_code,
                             output_and_logging_from_owngil,
                             stream_from_owngil,
                             stop_pool_ends_interpreters,
                             trace_covers_owngil_jobs,
                             fork_and_daemon_threads_refused_subprocess_runs]},
     {unsupported, [], [owngil_unsupported_mode]}].

init_per_suite(Config) ->
    py_test_lib:start_app([{default_pool_size, 2}], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

init_per_group(worker, Config) ->
    start_pool(worker, Config);
init_per_group(owngil, Config) ->
    case py_test_lib:has_owngil() of
        true -> start_pool(owngil, Config);
        false -> {skip, "owngil needs Python 3.12+: this port runs " ++ py_test_lib:python()}
    end;
init_per_group(unsupported, Config) ->
    case py_test_lib:has_owngil() of
        true -> {skip, "Python " ++ py_test_lib:python() ++ " runs owngil: nothing unsupported to test"};
        false -> Config
    end.

end_per_group(_Group, _Config) ->
    _ = py_context_router:stop_pool(?POOL),
    ok.

%%% ==========================================================================
%%% Every mode
%%% ==========================================================================

%% @doc The pool's stats and py:stats/0 name its mode.
pool_reports_its_mode(Config) ->
    Mode = ?config(mode, Config),
    {ok, #{mode := Mode, size := 2}} = py_context_router:pool_stats(?POOL),
    {ok, #{pools := #{?POOL := #{mode := Mode}, default := #{mode := worker}}}} = py:stats().

%% @doc call, eval and exec with their results and errors, in the mode.
call_eval_exec_and_errors(_Config) ->
    {ok, 4.0} = py:call(?POOL, math, sqrt, [16]),
    {ok, #{<<"a">> := [1, 2.5, {<<"x">>, true}]}} =
        py:eval(?POOL, <<"{'a': [1, 2.5, (b'x', True)]}">>, #{}),
    Ctx = hd(py_context_router:contexts(?POOL)),
    ok = py:exec(Ctx, <<"def twice(x):\n    return 2 * x\n">>),
    {ok, 42} = py:call(Ctx, '__main__', twice, [21]),
    {error, {'ZeroDivisionError', <<"division by zero">>}} = py:eval(?POOL, <<"1/0">>, #{}),
    {error, {'ModuleNotFoundError', _}} = py:call(?POOL, no_such_module_here, f, []),
    {ok, 3} = py:eval(?POOL, <<"1 + 2">>, #{}).

%% @doc The `erlang' module deleted from sys.modules, collected and
%% imported again: the context keeps its state (references, types,
%% exceptions) and goes on serving.
erlang_module_imported_again_keeps_state(_Config) ->
    Ctx = hd(py_context_router:contexts(?POOL)),
    {ok, H} = py:call(Ctx, hashlib, sha256, [{bytes, <<"a">>}]),
    ok = py:exec(Ctx, <<"import sys, gc\n"
                        "old = sys.modules.pop('erlang')\n"
                        "del old\n"
                        "gc.collect()\n"
                        "import erlang\n">>),
    {ok, 32} = py:eval(Ctx, <<"h.digest_size">>, #{h => H}),
    {ok, x} = py:eval(Ctx, <<"erlang.atom('x')">>),
    {ok, true} = py:eval(Ctx, <<"issubclass(erlang.Cancelled, BaseException)">>),
    {ok, 4.0} = py:call(Ctx, math, sqrt, [16]),
    ok = py:release(H).

%% @doc After the port is killed, the pool comes back in its mode.
mode_survives_port_restart(Config) ->
    Mode = ?config(mode, Config),
    {ok, OsPid} = py_test_lib:os_pid(),
    ok = py_test_lib:kill_9(OsPid),
    ok = py_test_lib:wait_until(
           fun() ->
                   case py_test_lib:os_pid() of
                       {ok, P} -> P =/= OsPid;
                       _ -> false
                   end
           end, 20000),
    ok = py_test_lib:wait_until(fun() -> py_context_router:pool_mode(?POOL) =:= Mode end,
                                20000),
    {ok, #{mode := Mode}} = py_context_router:pool_stats(?POOL),
    {ok, 4.0} = py:call(?POOL, math, sqrt, [16]).

%%% ==========================================================================
%%% worker
%%% ==========================================================================

%% @doc Worker contexts share one GIL: two counting calls at once reach
%% about half of what one alone reaches (the measure of
%% contexts_run_python_in_parallel/1 does not pass here), while C code
%% that releases the GIL runs in parallel at that moment.
shared_gil_runs_one_at_a_time(_Config) ->
    when_two_cores_free(false).

%%% ==========================================================================
%%% owngil
%%% ==========================================================================

%% @doc Two counting calls on two owngil contexts at once each reach most
%% of what one alone reaches (under a shared GIL: about half), measured
%% when two cores are free (C code that releases the GIL runs in parallel
%% just before): the machine is shared with other work.
contexts_run_python_in_parallel(_Config) ->
    when_two_cores_free(true).

%% @doc Each context has its own interpreter: its own __main__, modules
%% and `erlang' module, while each serves requests to the pool.
contexts_have_their_own_interpreter(_Config) ->
    [C1, C2] = py_context_router:contexts(?POOL),
    ok = py:exec(C1, <<"import sys\nsys.owngil_mark = 'one'">>),
    ok = py:exec(C2, <<"import sys\nsys.owngil_mark = 'two'">>),
    {ok, <<"one">>} = py:eval(C1, <<"__import__('sys').owngil_mark">>),
    {ok, <<"two">>} = py:eval(C2, <<"__import__('sys').owngil_mark">>),
    {ok, [I1, I2]} = {ok, [interp_id(C) || C <- [C1, C2]]},
    true = I1 =/= I2,
    {ok, true} = py:eval(C1, <<"__import__('erlang').atom('x') == 'x'">>),
    {ok, x} = py:eval(C2, <<"__import__('erlang').atom('x')">>).

%% @doc A reference made on one owngil context is used, from any pool
%% request, on the context that made it; released, it is stale.
references_route_to_their_context(_Config) ->
    [C1, C2] = py_context_router:contexts(?POOL),
    {ok, H1} = py:call(C1, hashlib, sha256, [{bytes, <<"a">>}]),
    {ok, H2} = py:call(C2, hashlib, sha256, [{bytes, <<"b">>}]),
    {'$py_ref', N1, _} = H1,
    {'$py_ref', N2, _} = H2,
    true = N1 =/= N2,
    Hex = fun(X) -> string:lowercase(binary:encode_hex(crypto:hash(sha256, X))) end,
    A = Hex(<<"a">>),
    B = Hex(<<"b">>),
    [{ok, A} = py:call_method(?POOL, H1, hexdigest, [], #{}) || _ <- lists:seq(1, 10)],
    [{ok, B} = py:call_method(?POOL, H2, hexdigest, [], #{}) || _ <- lists:seq(1, 10)],
    {ok, A} = py:call_method(H1, hexdigest, []),
    {ok, B} = py:eval(?POOL, <<"h.hexdigest()">>, #{h => H2}),
    %% addressed to the other context explicitly: it is not there
    {error, stale_ref} = py:call_method(C2, H1, hexdigest, [], #{}),
    ok = py:release([H1, H2]),
    {error, stale_ref} = py:call_method(?POOL, H1, hexdigest, [], #{}),
    {error, stale_ref} = py:call_method(?POOL, H2, hexdigest, [], #{}).

%% @doc A single-phase-init extension fails to import in an owngil context
%% with Python's own ImportError; the context goes on serving.
single_phase_extension_import_fails_cleanly(_Config) ->
    [C1, _] = py_context_router:contexts(?POOL),
    {error, {'ImportError', Msg}} = py:exec(C1, <<"import _testsinglephase">>),
    true = py_test_lib:contains(Msg, <<"does not support loading in subinterpreters">>),
    {error, {'ImportError', _}} = py:call(C1, '_testsinglephase', sum, [1, 2]),
    {ok, 4.0} = py:call(C1, math, sqrt, [16]).

%% @doc Erlang functions called from owngil Python: directly, from a
%% Python thread, and re-entrantly (Erlang calling Python again).
erlang_callbacks_from_owngil(_Config) ->
    ok = py:register_function(modes_add, fun([X, Y]) -> X + Y end),
    ok = py:register_function(modes_reenter,
                              fun([X]) -> {ok, V} = py:call(?POOL, math, sqrt, [X]), V end),
    {ok, 5} = py:eval(?POOL, <<"__import__('erlang').call('modes_add', 2, 3)">>, #{}),
    {ok, 7} = py:eval(?POOL,
                      <<"(lambda t, r: (t.start(), t.join(), r[0])[2])"
                        "(*(lambda r: (__import__('threading').Thread(target=lambda: "
                        "r.append(__import__('erlang').modes_add(3, 4))), r))([]))">>, #{}),
    {ok, 3.0} = py:eval(?POOL, <<"__import__('erlang').modes_reenter(9)">>, #{}),
    {ok, 3.0} = py:eval(?POOL, <<"__import__('erlang').modes_reenter(9)">>, #{}),
    ok = py:unregister_function(modes_add),
    ok = py:unregister_function(modes_reenter).

%% @doc A timeout interrupts a pure-Python loop on an owngil context
%% (erlang.Cancelled in its own interpreter); both contexts serve after.
timeout_interrupts_owngil_code(_Config) ->
    Loop = <<"(lambda: [0 for _ in iter(int, 1)])()">>,
    {error, timeout} = py:eval(?POOL, Loop, #{}, 300),
    {error, timeout} = py:eval(?POOL, Loop, #{}, 300),
    ok = py_test_lib:wait_until(fun() -> busy() =:= 0 end, 10000),
    {ok, #{timeouts := T}} = py_context_router:pool_stats(?POOL),
    true = T >= 2,
    [{ok, 4.0} = py:call(C, math, sqrt, [16]) || C <- py_context_router:contexts(?POOL)].

%% @doc print() and logging in an owngil context reach Erlang's logger.
output_and_logging_from_owngil(_Config) ->
    Token = py_test_lib:token(),
    #{level := Primary} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, all),
    ok = py_test_lib:capture_log(modes_output, debug),
    try
        [C1, C2] = py_context_router:contexts(?POOL),
        {ok, none} = py:eval(C1, <<"print('out-' + str(t))">>, #{t => Token}),
        {ok, none} = py:eval(C2, <<"__import__('logging').getLogger('modes').error('log-%d', t)">>,
                             #{t => Token}),
        Out = <<"out-", (integer_to_binary(Token))/binary>>,
        Log = <<"log-", (integer_to_binary(Token))/binary>>,
        ok = await_log(Out),
        ok = await_log(Log)
    after
        logger:remove_handler(modes_output),
        logger:set_primary_config(level, Primary)
    end.

%% @doc A stream's items come from an owngil context, waiting for credit
%% (a window of 4 for 1000 items).
stream_from_owngil(_Config) ->
    {ok, S} = py:stream_start(builtins, range, [1000], #{pool => ?POOL, window => 4}),
    Items = drain(S, []),
    Items = lists:seq(0, 999).

%% @doc Stopping an owngil pool ends its interpreters; starting it again
%% makes fresh ones.
stop_pool_ends_interpreters(_Config) ->
    [C1 | _] = py_context_router:contexts(?POOL),
    ok = py:exec(C1, <<"import sys\nsys.owngil_mark = 'old'">>),
    ok = py_context_router:stop_pool(?POOL),
    {ok, [N1, _]} = py_context_router:start_pool(?POOL, 2, owngil),
    {ok, false} = py:eval(N1, <<"hasattr(__import__('sys'), 'owngil_mark')">>),
    {ok, 4.0} = py:call(?POOL, math, sqrt, [16]).

%% @doc In an owngil context os.fork() and daemon threads are refused with
%% RuntimeError (the interpreter must end with its threads), subprocess
%% runs; the context serves after.
fork_and_daemon_threads_refused_subprocess_runs(_Config) ->
    [C1, _] = py_context_router:contexts(?POOL),
    {error, {'RuntimeError', <<"fork not supported", _/binary>>}} =
        py:exec(C1, <<"import os\nos.fork()">>),
    {error, {'RuntimeError', <<"daemon threads are disabled", _/binary>>}} =
        py:exec(C1, <<"import threading\nthreading.Thread(target=len, daemon=True).start()">>),
    {ok, 0} = py:eval(C1, <<"__import__('subprocess').run(['true']).returncode">>),
    {ok, 4.0} = py:call(C1, math, sqrt, [16]).

%% @doc --trace writes a line for each job an owngil context ran.
trace_covers_owngil_jobs(Config) ->
    In = filename:join(?config(priv_dir, Config), "trace.in"),
    ok = file:write_file(In, "{start_pool, og, 1, owngil}.\n{eval, og, \"6 * 7\"}.\n"),
    Out = os:cmd(exe() ++ " --repl --trace < " ++ In ++ " 2>&1"),
    true = string:find(Out, "{ok,42}") =/= nomatch,
    {match, _} = re:run(Out, "py_port trace: eval reply_to=3 target=og .*by=context\n").

%%% ==========================================================================
%%% Python older than 3.12
%%% ==========================================================================

%% @doc Without Python 3.12, an owngil pool is refused with a readable
%% reason, and nothing else changes.
owngil_unsupported_mode(_Config) ->
    {error, {unsupported_mode, owngil, Why}} = py_context_router:start_pool(og, 2, owngil),
    true = py_test_lib:contains(Why, <<"needs Python 3.12 or later (this is 3.">>),
    {error, {pool_not_started, og}} = py_context_router:pool_stats(og),
    undefined = py_context_router:pool_mode(og),
    {ok, 4.0} = py:call(math, sqrt, [16]),
    {error, {invalid_mode, bogus}} = py_context_router:start_pool(og, 2, bogus),
    %% The refused name is free: the other modes start it.
    {ok, [_, _]} = py_context_router:start_pool(og, 2, process),
    {ok, #{mode := process}} = py_context_router:pool_stats(og),
    ok = py_context_router:stop_pool(og).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

start_pool(Mode, Config) ->
    {ok, [_, _]} = py_context_router:start_pool(?POOL, 2, Mode),
    [{mode, Mode} | Config].

exe() ->
    case application:get_env(erlang_python, port_executable) of
        {ok, Exe} -> Exe;
        undefined -> filename:join(code:priv_dir(erlang_python), "py_port")
    end.

interp_id(Ctx) ->
    {ok, Id} = py:eval(Ctx, <<"id(__import__('sys').modules)">>),
    Id.

%% Whether two counting calls at once ran in parallel is Want, in a try
%% where two hashing calls at once ran in parallel just before and after:
%% the first such try that agrees passes (another process may still take a
%% core for a moment within one), and if none of ?TRIES tries does the case
%% fails with their measures; it skips, saying so, if two cores were never
%% free.
when_two_cores_free(Want) ->
    when_two_cores_free(Want, ?TRIES, []).

when_two_cores_free(_Want, 0, []) ->
    {skip, "two cores were never free: C code that releases the GIL did not run in parallel"};
when_two_cores_free(Want, 0, Seen) ->
    ct:fail({parallel_is_not, Want, Seen});
when_two_cores_free(Want, N, Seen) ->
    {HAlone, HA, HB} = measure_parallel(?HASH),
    {Alone, A, B} = measure_parallel(?COUNT),
    {HAlone2, HA2, HB2} = measure_parallel(?HASH),
    ct:pal("hash: alone ~p, together ~p + ~p; count: alone ~p, together ~p + ~p; "
           "hash: alone ~p, together ~p + ~p", [HAlone, HA, HB, Alone, A, B, HAlone2, HA2, HB2]),
    Free = parallel(HAlone, HA, HB) andalso parallel(HAlone2, HA2, HB2),
    case Free andalso parallel(Alone, A, B) of
        Want when Free -> ok;
        _ when Free -> when_two_cores_free(Want, N - 1, [{Alone, A, B} | Seen]);
        _ -> when_two_cores_free(Want, N - 1, Seen)
    end.

%% {Alone, A, B}: what Code counted in two calls at once on the pool's two
%% contexts, and in one call alone, the better of one before and one after.
measure_parallel(Code) ->
    Locals = #{ms => ?COUNT_MS},
    {ok, Before} = py:eval(?POOL, Code, Locals),
    Self = self(),
    [spawn_link(fun() -> Self ! {counted, py:eval(?POOL, Code, Locals)} end) || _ <- [1, 2]],
    [{ok, A}, {ok, B}] = [receive {counted, R} -> R after 10000 -> ct:fail(no_count) end
                          || _ <- [1, 2]],
    {ok, After} = py:eval(?POOL, Code, Locals),
    {max(Before, After), A, B}.

%% Each of two calls at once reached most (over 60 %) of one alone.
parallel(Alone, A, B) ->
    A > 0.6 * Alone andalso B > 0.6 * Alone.

busy() ->
    {ok, #{busy := N}} = py_context_router:pool_stats(?POOL),
    N.

await_log(Text) ->
    receive
        {logged, #{msg := Msg}} ->
            case py_test_lib:contains(iolist_to_binary(io_lib:format("~p", [Msg])), Text) of
                true -> ok;
                false -> await_log(Text)
            end
    after 10000 ->
        ct:fail({no_log, Text})
    end.

drain(S, Acc) ->
    receive
        {py_stream, S, {data, X}} -> drain(S, [X | Acc]);
        {py_stream, S, done} -> lists:reverse(Acc);
        {py_stream, S, Other} -> ct:fail({stream, Other})
    after 10000 ->
        ct:fail(stream_stalled)
    end.
