%% @doc The benchmark of erlang_python against its floor, a bare C port
%% that only echoes frames back (bench/echo_port.c). docs/performance.md
%% says what each case measures; `make bench' runs the `full' profile,
%% tests/erl/py_bench_SUITE.erl the `quick' one.
%%
%% DESIGN: a port costs a round trip between two OS processes, and no
%% port-based bridge can beat a program that echoes each frame. So every
%% case runs twice in the same run, with the same bytes and the same
%% concurrency: once through `py', once through a minimal bridge over the
%% echo port. That bridge is shaped like `py': an owner process opens the
%% port; each caller monitors the owner with an alias, encodes the very
%% request `py' would send, writes `<<HdrLen:16, Hdr, Request>>' (Hdr = the
%% alias) with `erlang:port_command/2' itself and decodes the echo; the
%% owner decodes only the header and sends the payload, a sub-binary, to
%% the alias (py_port_owner:route/3 does the same).
%%
%% Each case runs `reps' repetitions, alternating bridge and floor, and
%% quotes the median. A case returns `#{rows := [row()], check := map()}':
%% the rows carry each figure, its floor and its target; the check says
%% what was verified. Every reply is checked (outside the timed interval)
%% and a wrong one aborts the run: a benchmark of wrong answers has no
%% figures. The application is stopped and started by the benchmark
%% (start-up and memory cases); teardown/1 leaves it stopped.
-module(py_bench).

%% API
-export([main/2]).
-export([profile/1]).
-export([run/1]).
-export([setup/1]).
-export([teardown/1]).
-export([latency/1]).
-export([throughput/1]).
-export([payloads/1]).
-export([io_pool/1]).
-export([startup/1]).
-export([memory/1]).
-export([callbacks/1]).
-export([modes/1]).
-export([mailbox/1]).
-export([asyncio/1]).
-export([remote/1]).
-export([busy_core/1]).
-export([python_speed/1]).
-export([print_table/1]).
-export([write_outputs/3]).
-export([echo_start/1]).
-export([echo_call/3]).
-export([echo_stop/1]).

-export_type([row/0]).

-type target() :: none
                | {max_ratio, number()}   % figure / floor at most
                | {min_ratio, number()}   % figure / floor at least
                | {max, number()}         % figure at most, in the row's unit
                | [{max_ratio | max, number()}]. % all of these (targets of two issues)

-type row() :: #{'case' := 1..13,
                 label := string(),       % short, for the plot
                 measure := string(),
                 unit := string(),
                 figure := number(),
                 floor := number() | undefined,
                 floor_is := string(),
                 target := target(),
                 samples := [number()],   % one figure per repetition
                 floor_samples := [number()],
                 x => pos_integer()}.     % callers, for the throughput plot

-type echo() :: {port(), pid()}.

-define(APP, erlang_python).
%% Every case, in the order a run takes them.
-define(CASES, [latency, throughput, payloads, io_pool, startup, memory, callbacks, modes,
                asyncio, mailbox, remote, busy_core, python_speed]).
-define(SQRT_REQUEST, request(math, sqrt, [16])).
%% Copies of a binary payload alive at once at the peak of its case (the
%% caller's, its requests to py_port and the echo, the replies, py_port's
%% frame and bytes, the echo's buffer): a size needs this many times its
%% bytes available, or is left out of the run.
-define(COPIES_AT_PEAK, 10).
%% Case 8's latency: calls on one pool before the next pool's turn.
-define(LATENCY_TURN, 200).
-define(OS_PID, <<"__import__('os').getpid()">>).
%% Case 13: runs of the work per figure, the fastest counting.
-define(WORK_RUNS, 5).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Runs the benchmark from bench/bench.escript; returns the exit status.
-spec main(file:filename(), [string()]) -> 0 | 1.
main(Root, Args) ->
    logger:set_primary_config(level, warning),
    try parse_args(Args, defaults(Root)) of
        Opts ->
            _ = run(Opts),
            0
    catch
        throw:{usage, Message} ->
            io:format(standard_error, "~ts~n", [Message]),
            1
    end.

%% @doc The sizes of a run. `full' is what the targets are stated for;
%% `quick' only checks that every case runs and answers correctly.
-spec profile(full | quick) -> map().
profile(full) ->
    #{profile => full, reps => 5,
      latency_calls => 20000,
      callers => [1, 8, 64, 256], throughput_calls => 40000,
      binaries => [1024, 1 bsl 20, 10 bsl 20, 100 bsl 20, 1000 bsl 20],
      floats => 100000, map_entries => 10000,
      io_pool_size => 10, sleep => 0.2,
      startup_reps => 5,
      warmup_calls => 6400, memory_calls => 1000000, memory_callers => 64,
      callback_calls => 20000, stream_items => 200000,
      cpu_ms => 100,
      asyncio_calls => 10000, asyncio_sleep => 0.1,
      timeout => 120000, progress => true};
profile(quick) ->
    #{profile => quick, reps => 1,
      latency_calls => 50,
      callers => [1, 8, 64, 256], throughput_calls => 512,
      binaries => [1024],
      floats => 1000, map_entries => 100,
      io_pool_size => 10, sleep => 0.2,
      startup_reps => 1,
      warmup_calls => 64, memory_calls => 1000, memory_callers => 64,
      callback_calls => 100, stream_items => 1000,
      cpu_ms => 10,
      asyncio_calls => 1000, asyncio_sleep => 0.1,
      timeout => 30000, progress => false}.

%% @doc Runs every case, prints the table, writes the outputs (when
%% `out_dir' is given). Options: `profile', `params' (overrides of the
%% profile), `bench_dir', `echo_port', `out_dir', `plot', `doc_png'.
-spec run(map()) -> #{rows := [row()], checks := map(), info := map()}.
run(Opts) ->
    Ctx = setup(Opts),
    try
        Info = info(Ctx),
        print_info(Info),
        Results = [{Case, timed_case(Ctx, Case)} || Case <- maps:get(cases, Opts, ?CASES)],
        Rows = lists:append([Rows || {_, #{rows := Rows}} <- Results]),
        print_table(Rows),
        case Opts of
            #{out_dir := _} -> _ = write_outputs(Rows, Info, Opts);
            #{} -> ok
        end,
        #{rows => Rows, info => Info,
          checks => maps:from_list([{Case, Check} || {Case, #{check := Check}} <- Results])}
    after
        teardown(Ctx)
    end.

%% @doc Starts the application with `bench_dir' (bench_helpers.py) on
%% Python's path, and the echo bridge. Stops the application first if it
%% runs.
-spec setup(map()) -> map().
setup(#{bench_dir := BenchDir, echo_port := Exe} = Opts) ->
    Params = maps:merge(profile(maps:get(profile, Opts, full)), maps:get(params, Opts, #{})),
    filelib:is_regular(Exe) orelse error({echo_port_not_found, Exe}),
    _ = application:stop(?APP),
    case application:load(?APP) of
        ok -> ok;
        {error, {already_loaded, ?APP}} -> ok
    end,
    case Opts of
        #{port_executable := Port} -> ok = application:set_env(?APP, port_executable, Port);
        #{} -> ok
    end,
    Saved = application:get_env(?APP, python_path),
    Path = case Saved of {ok, P} -> P; undefined -> [] end,
    ok = application:set_env(?APP, python_path, [BenchDir | Path]),
    {ok, _} = application:ensure_all_started(?APP),
    %% bench_helpers.py is found (and imported before any timing).
    {ok, 0} = py:call(bench_helpers, identity, [0]),
    #{params => Params, echo => echo_start(Exe), echo_exe => Exe, saved_path => Saved,
      bench_dir => BenchDir}.

%% @doc Case 7: Python calling Erlang, and streams. A Python loop of
%% `erlang.bench_identity(k)' calls: time per call, against the echo round
%% trip (each call is one round trip between the processes, plus an Erlang
%% process for the function). Then `range(N)' as a stream: items per
%% second through py:stream_start/4 (window 64) to a consumer that keeps
%% up, and py:stream/3 collecting the same items into one list.
-spec callbacks(map()) -> #{rows := [row()], check := map()}.
callbacks(#{params := #{reps := Reps, callback_calls := N, stream_items := Items},
            echo := Echo}) ->
    ok = py:register_function(bench_identity, fun([X]) -> X end),
    Request = ?SQRT_REQUEST,
    Expected = {ok, N * (N - 1) div 2},
    Runs = [{round_trip(fun() -> py:call(bench_helpers, call_erlang, [N]) end,
                        fun(R) -> R =:= Expected end),
             element(1, timed_loop(N, fun() -> echo_call(Echo, Request, 30000) end,
                                   fun(R) -> is_echo(Request, R) end))}
            || _ <- lists:seq(1, Reps)],
    PerCall = [Ms * 1000 / N || {Ms, _} <- Runs],
    FloorPerCall = [median(us_sorted(Times)) || {_, Times} <- Runs],
    Streamed = [round_trip(fun() -> stream_all(Items) end, fun(R) -> R =:= Items end)
                || _ <- lists:seq(1, Reps)],
    Collected = [round_trip(fun() -> py:stream(builtins, range, [Items]) end,
                            fun({ok, L}) -> length(L) =:= Items end)
                 || _ <- lists:seq(1, Reps)],
    ItemsName = thousands(Items),
    #{rows => [row(7, "7 callback", "Python -> Erlang call (erlang.f(k)), per call", "us",
                   PerCall, FloorPerCall, "echo round trip", none),
               row(7, "7 stream", "stream_start, range(" ++ ItemsName ++ "), items per second",
                   "items/s", [Items * 1000 / Ms || Ms <- Streamed], undefined, "-", none),
               row(7, "7 stream collect", "py:stream, range(" ++ ItemsName ++ ") into a list",
                   "ms", Collected, undefined, "-", none)],
      check => #{callbacks => Reps * N, streamed => Reps * Items}}.

%% @doc Case 8: the pool modes. On a pool of 2 contexts of each mode
%% (`worker', `process', and `owngil' where the port runs it), 4
%% CPU-bound calls (a pure-Python loop of about `cpu_ms' ms alone) at once
%% against the same 4 one after the other: the ratio is 1 / speedup
%% (target for `process' and `owngil': at most 0.56, a speedup of 1.8 on
%% 2 cores), and the resident memory per context. Then, with the pools of
%% every mode running, the sequential latency of a trivial call on each,
%% against the echo round trip and against `worker''s (target: at most
%% 1.2 times), taken in turns of ?LATENCY_TURN calls on each pool and on
%% the echo, so that every mode meets the same spells of the machine.
%% Last, what the machine itself gives: the same 4 loops in 2 plain
%% python3 processes at once against one process running them in turn
%% (no target: no pool can beat it).
-spec modes(map()) -> #{rows := [row()], check := map()}.
modes(#{params := #{reps := Reps, cpu_ms := Ms, latency_calls := N}, echo := Echo}) ->
    Loops = calibrate(Ms),
    Modes = [start_mode(Mode, Reps, Loops) || Mode <- [worker, process, owngil]],
    try
        Latency = mode_latencies([{Mode, Pool} || {Mode, Pool, _, _} <- Modes, Pool =/= none],
                                 Reps, N, Echo),
        Rows = [Rows ++ latency_rows(Mode, Latency) || {Mode, _, Rows, _} <- Modes],
        {Machine, MachineCheck} = machine_parallel(Reps, Loops),
        #{rows => lists:append(Rows) ++ against_worker([{M, L} || {M, L, _} <- Latency])
              ++ [Machine],
          check => maps:from_list([{machine, MachineCheck}
                                   | [{Mode, latency_check(Check, Mode, Latency)}
                                      || {Mode, _, _, Check} <- Modes]])}
    after
        [ok = py_context_router:stop_pool(Pool) || {_, Pool, _, _} <- Modes, Pool =/= none]
    end.

%% Each mode's latency against worker's, measured in the same run.
against_worker(Latencies) ->
    case lists:keyfind(worker, 1, Latencies) of
        {worker, Worker} ->
            [row(8, "8 " ++ atom_to_list(Mode) ++ " latency / worker",
                 "latency, median (" ++ atom_to_list(Mode) ++ ")", "us", Samples, Worker,
                 "worker's latency", {max_ratio, 1.2})
             || {Mode, Samples} <- Latencies, Mode =/= worker];
        false ->
            []
    end.

%% @doc Case 9: coroutine calls (docs/asyncio.md). On a pool of one
%% context, `asyncio_calls' (10,000) concurrent calls of `async def' that
%% awaits `asyncio.sleep(asyncio_sleep)' (0.1 s): the wall time until the
%% last reply, against one sleep (target: at most 0.5 s). Then the
%% sequential latency of a trivial coroutine call against a trivial
%% synchronous call on the same context (target: at most 1.5 times), and
%% the calls per second of 64 callers of each (the cost per call when the
%% context is never idle).
-spec asyncio(map()) -> #{rows := [row()], check := map()}.
asyncio(#{params := #{reps := Reps, asyncio_calls := N, asyncio_sleep := Sleep,
                      latency_calls := Calls, throughput_calls := Total}}) ->
    {ok, [_]} = py_context_router:start_pool(bench_asyncio, 1),
    try
        ok = py:exec(bench_asyncio, <<"import asyncio\n"
                                      "async def nap(s):\n"
                                      "    await asyncio.sleep(s)\n"
                                      "    return s\n"
                                      "async def atrivial(x):\n"
                                      "    return x\n"
                                      "def trivial(x):\n"
                                      "    return x\n">>),
        Walls = [concurrent_naps(N, Sleep) || _ <- lists:seq(1, Reps)],
        Coro = fun() -> py:call(bench_asyncio, '__main__', atrivial, [1]) end,
        Sync = fun() -> py:call(bench_asyncio, '__main__', trivial, [1]) end,
        IsOne = fun(R) -> R =:= {ok, 1} end,
        Lat = [{timed_loop(Calls, Coro, IsOne), timed_loop(Calls, Sync, IsOne)}
               || _ <- lists:seq(1, Reps)],
        Per = max(1, Total div 64),
        Loaded = [{run_callers(64, Per, Coro, IsOne), run_callers(64, Per, Sync, IsOne)}
                  || _ <- lists:seq(1, Reps)],
        Label = lists:flatten(io_lib:format("~b x asyncio.sleep(~s) on one context",
                                            [N, short(Sleep)])),
        Target = case {N, Sleep} of {10000, 0.1} -> {max, 0.5}; _ -> none end,
        #{rows => [row(9, "9 asyncio sleeps", Label, "s", Walls, [Sleep || _ <- Walls],
                       "one sleep", Target),
                   row(9, "9 coroutine call", "coroutine call latency, median", "us",
                       [median_us(T) || {{T, _}, _} <- Lat],
                       [median_us(T) || {_, {T, _}} <- Lat],
                       "synchronous call", {max_ratio, 1.5}),
                   row(9, "9 coroutine calls 64", "coroutine calls, 64 callers", "calls/s",
                       [rate(A) || {A, _} <- Loaded], [rate(S) || {_, S} <- Loaded],
                       "synchronous calls, 64 callers", none)],
          check => #{calls => Reps * N, latency_calls => Reps * Calls * 2,
                     loaded_calls => lists:sum([Ok1 + Ok2 || {{_, Ok1}, {_, Ok2}} <- Loaded])}}
    after
        ok = py_context_router:stop_pool(bench_asyncio)
    end.

%% Seconds from the first of N concurrent coroutine calls to the last
%% reply, each checked.
concurrent_naps(N, Sleep) ->
    T0 = erlang:monotonic_time(),
    Handles = [py:spawn_call(bench_asyncio, '__main__', nap, [Sleep]) || _ <- lists:seq(1, N)],
    [check(fun(R) -> R =:= {ok, Sleep} end, py:await(H, 60000)) || H <- Handles],
    seconds(erlang:monotonic_time() - T0).

%% The row of what the machine gives: per repetition, 2 python3 processes
%% running 2 loops each at once, against one running all 4, each timing
%% its loops by CLOCK_MONOTONIC (shared by processes), so that the
%% processes' start-up is left out.
machine_parallel(Reps, Loops) ->
    {ok, Exe} = py:eval(<<"__import__('sys').executable">>),
    Runs = [{loops_wall(Exe, Loops, [2, 2]), loops_wall(Exe, Loops, [4])}
            || _ <- lists:seq(1, Reps)],
    {row(8, "8 machine 4 cpu loops", "4 cpu loops at once, 2 python3 processes", "s",
         [P || {P, _} <- Runs], [S || {_, S} <- Runs], "the 4 one after another", none),
     #{python3 => Exe, loops => Loops, runs => Reps}}.

%% Seconds from the first process's first loop to the last one's end, one
%% python3 process per element of Counts running that many loops.
loops_wall(Exe, Loops, Counts) ->
    Code = "import sys, time\n"
           "n, k = int(sys.argv[1]), int(sys.argv[2])\n"
           "t0 = time.monotonic()\n"
           "for _ in range(k):\n"
           "    assert sum(1 for _ in range(n)) == n\n"
           "print('%.9f %.9f' % (t0, time.monotonic()))\n",
    Ports = [python3_start(Exe, [Code, integer_to_list(Loops), integer_to_list(K)])
             || K <- Counts],
    Spans = [[list_to_float(F) || F <- string:lexemes(python3_line(Port), " ")]
             || Port <- Ports],
    lists:max([End || [_, End] <- Spans]) - lists:min([Start || [Start, _] <- Spans]).

%% The loop count that takes about Ms ms on one context.
calibrate(Ms) ->
    Probe = 200000,
    {T, {ok, Probe}} = timer:tc(fun() -> py:eval(cpu_loop(Probe)) end),
    max(1000, round(Probe * Ms * 1000 / max(1, T))).

cpu_loop(Loops) ->
    <<"sum(1 for _ in range(", (integer_to_binary(Loops))/binary, "))">>.

%% Starts a pool of 2 contexts of Mode and measures its CPU-bound calls and
%% memory: {Mode, Pool, Rows, Check}, Pool left running (none if Mode
%% does not start here).
start_mode(Mode, Reps, Loops) ->
    Pool = list_to_atom("bench_" ++ atom_to_list(Mode)),
    Before = port_memory(),
    case py_context_router:start_pool(Pool, 2, Mode) of
        {ok, [_, _]} ->
            {Rows, Check} = measure_mode(Pool, Mode, Reps, Loops, Before),
            {Mode, Pool, Rows, Check};
        {error, Why} ->
            {Mode, none, [], {skipped, Why}}
    end.

measure_mode(Pool, Mode, Reps, Loops, Before) ->
    Code = cpu_loop(Loops),
    Call = fun() -> py:eval(Pool, Code, #{}) end,
    Check = fun(R) -> R =:= {ok, Loops} end,
    Runs = [{element(1, run_callers(4, 1, Call, Check)),
             element(1, run_callers(1, 4, Call, Check))}
            || _ <- lists:seq(1, Reps)],
    Name = atom_to_list(Mode),
    Target = case Mode of worker -> none; _ -> {max_ratio, 0.56} end,
    {ok, #{processes := Procs}} = mode_memory(Pool),
    PerContext = memory_per_context(Mode, Procs, port_memory() - Before),
    Rows = [row(8, "8 " ++ Name ++ " 4 cpu calls",
                "4 cpu calls at once, pool of 2 (" ++ Name ++ ")", "s",
                [P || {P, _} <- Runs], [S || {_, S} <- Runs], "the 4 one after another", Target),
            row(8, "8 " ++ Name ++ " memory", "memory per context (" ++ Name ++ ")", "MB",
                [PerContext], undefined, "-", none)],
    {Rows, #{calls => Reps * 8, loops => Loops, memory_per_context_mb => PerContext}}.

%% Each repetition: N sequential trivial calls on each pool and N echo
%% round trips, in turns of ?LATENCY_TURN; per mode, the medians of its
%% repetitions and of the echo's: [{Mode, Medians, EchoMedians}].
mode_latencies(Pools, Reps, N, Echo) ->
    Request = request(builtins, abs, [1]),
    Loops = [{echo, fun() -> echo_call(Echo, Request, 30000) end, fun(R) -> is_echo(Request, R) end}
             | [{Mode, fun() -> py:call(Pool, builtins, abs, [1]) end, fun(R) -> R =:= {ok, 1} end}
                || {Mode, Pool} <- Pools]],
    Medians = [[{Name, median_us(Times)} || {Name, Times} <- in_turns(Loops, N)]
               || _ <- lists:seq(1, Reps)],
    [{Mode, [proplists:get_value(Mode, M) || M <- Medians],
      [proplists:get_value(echo, M) || M <- Medians]}
     || {Mode, _} <- Pools].

%% The times of N calls of each loop, taken ?LATENCY_TURN at a time, each
%% loop in turn: [{Name, Times}].
in_turns(Loops, N) ->
    Turns = [{Name, element(1, timed_loop(min(?LATENCY_TURN, N - Done), Call, Check))}
             || Done <- lists:seq(0, N - 1, ?LATENCY_TURN), {Name, Call, Check} <- Loops],
    [{Name, lists:append([T || {Name1, T} <- Turns, Name1 =:= Name])} || {Name, _, _} <- Loops].

latency_rows(Mode, Latency) ->
    case lists:keyfind(Mode, 1, Latency) of
        {Mode, Medians, Echo} ->
            Name = atom_to_list(Mode),
            [row(8, "8 " ++ Name ++ " latency", "latency, median (" ++ Name ++ ")", "us",
                 Medians, Echo, "echo round trip", none)];
        false ->
            []
    end.

latency_check(Check, Mode, Latency) when is_map(Check) ->
    {Mode, Medians, _} = lists:keyfind(Mode, 1, Latency),
    Check#{latency_us => Medians};
latency_check(Skipped, _Mode, _Latency) ->
    Skipped.

%% The pool's stats, with `processes' for a process pool.
mode_memory(Pool) ->
    case py_context_router:pool_stats(Pool) of
        {ok, #{processes := _}} = Ok -> Ok;
        {ok, Stats} -> {ok, Stats#{processes => []}}
    end.

%% The resident memory of a context, in MB: a process context's is its
%% process's; a worker or owngil context's is what the main port grew
%% by when the pool of 2 started and ran the case (Growth bytes).
memory_per_context(process, Procs, _Growth) ->
    lists:sum([M || #{memory := M} <- Procs]) / max(1, length(Procs)) / (1 bsl 20);
memory_per_context(_Mode, _Procs, Growth) ->
    Growth / 2 / (1 bsl 20).

%% The main port's resident memory, in bytes.
port_memory() ->
    {ok, #{port := #{memory := Memory}}} = py:stats(),
    Memory.

%% Receives every item of a stream of range(Items); the count.
stream_all(Items) ->
    {ok, Ref} = py:stream_start(builtins, range, [Items]),
    receive_items(Ref, 0).

receive_items(Ref, N) ->
    receive
        {py_stream, Ref, {data, N}} -> receive_items(Ref, N + 1);
        {py_stream, Ref, done} -> N;
        {py_stream, Ref, Other} -> error({stream, Other})
    end.

%% @doc Case 10: the latency of `py:call(math, sqrt, [16])' made by a
%% process with 10,000 unrelated messages in its mailbox (a busy
%% gen_server), against the same calls with an empty mailbox (target: at
%% most 1.2 times). The reply's receive must not scan the queue.
-spec mailbox(map()) -> #{rows := [row()], check := map()}.
mailbox(#{params := #{reps := Reps, latency_calls := N}}) ->
    Queued = 10000,
    Runs = [{in_process(fun() -> timed_sqrt_calls(N, Queued) end),
             in_process(fun() -> timed_sqrt_calls(N, 0) end)}
            || _ <- lists:seq(1, Reps)],
    #{rows => [row(10, "10 busy mailbox", "latency, median, 10,000 messages queued", "us",
                   [median_us(T) || {T, _} <- Runs], [median_us(T) || {_, T} <- Runs],
                   "the same, mailbox empty", {max_ratio, 1.2})],
      check => #{calls => Reps * N * 2, queued => Queued}}.

%% @doc Case 12: a busy core. An OS process that keeps one core busy (a
%% shell loop, started by the bench and ended with the case; it also ends
%% when this node does) runs while the latency of `py:call(math, sqrt,
%% [16])' (median; target: at most 1.3 times the echo's) and the calls per
%% second of 64 callers (target: at least 0.6 times the echo's) are
%% measured, the floor under the same load.
-spec busy_core(map()) -> #{rows := [row()], check := map()}.
busy_core(#{params := #{reps := Reps, latency_calls := N, throughput_calls := Total},
            echo := Echo}) ->
    {Py, Floor, IsEcho} = sqrt_calls(Echo),
    Hog = hog_start(),
    try
        Lat = [{timed_loop(N, Py, fun is_sqrt/1), timed_loop(N, Floor, IsEcho)}
               || _ <- lists:seq(1, Reps)],
        Per = max(1, Total div 64),
        Runs = [{run_callers(64, Per, Py, fun is_sqrt/1), run_callers(64, Per, Floor, IsEcho)}
                || _ <- lists:seq(1, Reps)],
        #{rows => [row(12, "12 busy latency", "latency, median, one core kept busy", "us",
                       [median_us(T) || {{T, _}, _} <- Lat], [median_us(T) || {_, {T, _}} <- Lat],
                       "echo round trip, same load", {max_ratio, 1.3}),
                   row(12, "12 busy callers 64", "throughput, 64 callers, one core kept busy",
                       "calls/s", [rate(R) || {R, _} <- Runs], [rate(R) || {_, R} <- Runs],
                       "echo frames/s, same load", {min_ratio, 0.6})],
          check => #{calls => Reps * (N + 64 * Per),
                     py_ok => lists:sum([Ok || {{_, Ok}, _} <- Runs]),
                     hog_busy => hog_running(Hog)}}
    after
        hog_stop(Hog)
    end.

%% @doc Case 13: Python's own speed. The same pure-Python work
%% (`bench_helpers:python_work/2', about `cpu_ms' ms), timed inside
%% Python, in py_port (a context of the default pool) and in the python3
%% whose libpython py_port embeds (its `sys.executable'), run as a process
%% of its own, the two taking turns; each figure is the fastest of
%% ?WORK_RUNS runs in the same interpreter (target: at most 1.05 times).
-spec python_speed(map()) -> #{rows := [row()], check := map()}.
python_speed(#{params := #{reps := Reps, cpu_ms := Ms}, bench_dir := Dir}) ->
    {ok, Exe} = py:eval(<<"__import__('sys').executable">>),
    {ok, Probe} = py:call(bench_helpers, python_work, [100000]),
    N = max(1000, round(100000 * Ms / 1000 / max(Probe, 1.0e-6))),
    Runs = [{py_work(N), python3_work(Exe, Dir, N)} || _ <- lists:seq(1, Reps)],
    #{rows => [row(13, "13 python speed", "pure-Python work in py_port", "ms",
                   [P || {P, _} <- Runs], [E || {_, E} <- Runs],
                   "the same in python3 (" ++ binary_to_list(Exe) ++ ")", {max_ratio, 1.05})],
      check => #{rounds => N, python3 => Exe}}.

%% Milliseconds of N rounds of bench_helpers:python_work/2 in py_port,
%% the fastest of ?WORK_RUNS.
py_work(N) ->
    {ok, Secs} = py:call(bench_helpers, python_work, [N, ?WORK_RUNS]),
    Secs * 1000.

%% The same in the python3 Exe, in a process of its own.
python3_work(Exe, Dir, N) ->
    Code = "import sys; sys.path.insert(0, sys.argv[1]); import bench_helpers; "
           "print('%.9f' % bench_helpers.python_work(int(sys.argv[2]), int(sys.argv[3])))",
    Port = python3_start(Exe, [Code, Dir, integer_to_list(N), integer_to_list(?WORK_RUNS)]),
    list_to_float(python3_line(Port)) * 1000.

%% `Exe -c Code Args...' as a port whose one line of output
%% python3_line/1 reads.
python3_start(Exe, [Code | Args]) ->
    open_port({spawn_executable, Exe},
              [{args, ["-c", Code | Args]}, exit_status, stderr_to_stdout, {line, 256}]).

%% The line a python3_start/2 port printed, once it has exited with status 0.
python3_line(Port) ->
    Line = receive {Port, {data, {eol, L}}} -> L after 60000 -> error(python3_timeout) end,
    receive {Port, {exit_status, 0}} -> ok after 60000 -> error(python3_timeout) end,
    Line.

%% A shell that spins until it is killed or its parent (the port's
%% erl_child_setup, which ends with this node) is gone: {Port, OsPid}.
hog_start() ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "while kill -0 $PPID 2>/dev/null; do :; done"]}]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    {Port, OsPid}.

%% Whether the hog is still there, in state R (running) or runnable.
hog_running({_Port, OsPid}) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} -> binary:match(Stat, <<") R ">>) =/= nomatch;
        {error, _} -> false
    end.

%% Kills the hog and waits (at most 5 s) until it has no command line
%% left: gone, or a zombie its parent reaps.
hog_stop({Port, OsPid}) ->
    _ = os:cmd("kill " ++ integer_to_list(OsPid)),
    catch port_close(Port),
    hog_gone("/proc/" ++ integer_to_list(OsPid) ++ "/cmdline", 5000).

hog_gone(_Cmdline, 0) ->
    error(hog_left_running);
hog_gone(Cmdline, Ms) ->
    case file:read_file(Cmdline) of
        {ok, <<_, _/binary>>} -> timer:sleep(1), hog_gone(Cmdline, Ms - 1);
        _ -> ok
    end.

%% @doc Case 11: a pool on another node (docs/distribution.md): a peer on
%% this machine runs the application and a pool of 2 contexts, called
%% from here, against this node's own pool of 2 contexts. The latency of
%% `py:call(math, sqrt, [16])', calls per second from 64 callers, and a
%% 10 MB binary there and back (through a Python identity function). This
%% node is made distributed for the case if it is not.
-spec remote(map()) -> #{rows := [row()], check := map()}.
remote(#{params := #{reps := Reps, latency_calls := N, throughput_calls := Total,
                     timeout := Timeout}}) ->
    Started = distributed(),
    {Peer, Node} = bench_peer(),
    try
        {ok, _} = py_context_router:start_pool(bench_remote, 2, #{nodes => [Node]}),
        {ok, _} = py_context_router:start_pool(bench_local, 2),
        remote_rows(Reps, N, Total, Timeout, Node)
    after
        _ = py_context_router:stop_pool(bench_remote),
        _ = py_context_router:stop_pool(bench_local),
        peer:stop(Peer),
        Started andalso net_kernel:stop()
    end.

remote_rows(Reps, N, Total, Timeout, Node) ->
    Sqrt = fun(Pool) -> fun() -> py:call(Pool, math, sqrt, [16]) end end,
    Lat = [{median_us(element(1, timed_loop(N, Sqrt(bench_remote), fun is_sqrt/1))),
            median_us(element(1, timed_loop(N, Sqrt(bench_local), fun is_sqrt/1)))}
           || _ <- lists:seq(1, Reps)],
    Per = max(1, Total div 64),
    Thr = [{rate(run_callers(64, Per, Sqrt(bench_remote), fun is_sqrt/1)),
            rate(run_callers(64, Per, Sqrt(bench_local), fun is_sqrt/1))}
           || _ <- lists:seq(1, Reps)],
    Bin = payload_value(binary, 10 bsl 20),
    Big = fun(Pool) -> fun() -> py:call(Pool, bench_helpers, identity, [Bin], #{}, Timeout) end
          end,
    IsBin = fun(R) -> R =:= {ok, Bin} end,
    [{ok, Bin} = (Big(P))() || P <- [bench_remote, bench_local]], % warm-up
    Big10 = [{round_trip(Big(bench_remote), IsBin), round_trip(Big(bench_local), IsBin)}
             || _ <- lists:seq(1, Reps)],
    #{rows => [row(11, "11 remote latency", "latency, median, pool on a peer node", "us",
                   [R || {R, _} <- Lat], [L || {_, L} <- Lat], "this node's pool", none),
               row(11, "11 remote callers 64", "throughput, 64 callers, pool on a peer node",
                   "calls/s", [R || {R, _} <- Thr], [L || {_, L} <- Thr], "this node's pool",
                   none),
               row(11, "11 remote 10MB", "10 MB binary round trip, pool on a peer node", "ms",
                   [R || {R, _} <- Big10], [L || {_, L} <- Big10], "this node's pool", none)],
      check => #{node => Node, calls => Reps * (2 * N + 2 * 64 * Per + 2)}}.

%% Makes this node distributed if it is not; whether it did.
distributed() ->
    case node() of
        nonode@nohost ->
            _ = os:cmd("epmd -daemon"),
            {ok, _} = net_kernel:start([list_to_atom("py_bench_" ++ os:getpid()), shortnames]),
            true;
        _ ->
            false
    end.

%% A peer node running the application with this node's code, port and
%% python_path: {Peer, Node}.
bench_peer() ->
    Name = "py_bench_peer_" ++ integer_to_list(erlang:unique_integer([positive])),
    Args = ["-pa", filename:dirname(code:which(py))],
    {ok, Peer, Node} = peer:start(#{name => Name, args => Args, wait_boot => 30000}),
    ok = erpc:call(Node, application, load, [?APP]),
    [ok = erpc:call(Node, application, set_env, [?APP, Key, Value])
     || Key <- [port_executable, python_path], {ok, Value} <- [application:get_env(?APP, Key)]],
    {ok, _} = erpc:call(Node, application, ensure_all_started, [?APP]),
    {Peer, Node}.

%% N timed sqrt calls from a process with Queued messages waiting.
timed_sqrt_calls(N, Queued) ->
    [self() ! {unrelated, K} || K <- lists:seq(1, Queued)],
    {Times, _} = timed_loop(N, fun() -> py:call(math, sqrt, [16]) end, fun is_sqrt/1),
    {message_queue_len, Queued} = process_info(self(), message_queue_len),
    Times.

%% Fun's value, computed in a new process.
in_process(Fun) ->
    {Pid, Mref} = spawn_monitor(fun() -> exit({done, Fun()}) end),
    receive
        {'DOWN', Mref, process, Pid, {done, Value}} -> Value;
        {'DOWN', Mref, process, Pid, Reason} -> error(Reason)
    end.

%% @doc Stops the echo bridge and the application, and puts back the
%% application's `python_path'.
-spec teardown(map()) -> ok.
teardown(#{echo := Echo, saved_path := Saved}) ->
    ok = echo_stop(Echo),
    _ = application:stop(?APP),
    case Saved of
        {ok, Path} -> application:set_env(?APP, python_path, Path);
        undefined -> application:unset_env(?APP, python_path)
    end.

%% @doc Case 1: one caller doing `py:call(math, sqrt, [16])' in a loop,
%% each call timed; median and 99th percentile, against the echo round
%% trip of the same request bytes.
-spec latency(map()) -> #{rows := [row()], check := map()}.
latency(#{params := #{reps := Reps, latency_calls := N}, echo := Echo}) ->
    {Py, Floor, IsEcho} = sqrt_calls(Echo),
    Runs = [{timed_loop(N, Py, fun is_sqrt/1), timed_loop(N, Floor, IsEcho)}
            || _ <- lists:seq(1, Reps)],
    Stat = fun(F) ->
                   {[F(us_sorted(T)) || {{T, _}, _} <- Runs],
                    [F(us_sorted(T)) || {_, {T, _}} <- Runs]}
           end,
    {Medians, FloorMedians} = Stat(fun(S) -> percentile(S, 0.5) end),
    {P99s, FloorP99s} = Stat(fun(S) -> percentile(S, 0.99) end),
    [{{_, LastReply}, {_, LastEcho}} | _] = lists:reverse(Runs),
    #{rows => [row(1, "1 latency p50", "latency, median", "us", Medians, FloorMedians,
                   "echo round trip", {max_ratio, 1.2}),
               row(1, "1 latency p99", "latency, 99th percentile", "us", P99s, FloorP99s,
                   "echo round trip", none)],
      check => #{reply => LastReply, echo => LastEcho, calls => Reps * N}}.

%% @doc Case 2: calls per second of 1, 8, 64 and 256 concurrent callers of
%% `py:call(math, sqrt, [16])' on the default pool, against frames per
%% second through the echo bridge driven the same way.
-spec throughput(map()) -> #{rows := [row()], check := map()}.
throughput(#{params := #{reps := Reps, callers := Callers, throughput_calls := Total},
             echo := Echo}) ->
    {Py, Floor, IsEcho} = sqrt_calls(Echo),
    Cases = [begin
                 Per = max(1, Total div N),
                 Runs = [{run_callers(N, Per, Py, fun is_sqrt/1),
                          run_callers(N, Per, Floor, IsEcho)}
                         || _ <- lists:seq(1, Reps)],
                 Row = row(2, "2 callers " ++ integer_to_list(N),
                           "throughput, " ++ callers(N), "calls/s",
                           [rate(R) || {R, _} <- Runs], [rate(R) || {_, R} <- Runs],
                           "echo frames/s", throughput_target(N)),
                 {Row#{x => N},
                  {N, #{calls => Reps * N * Per,
                        py_ok => lists:sum([Ok || {{_, Ok}, _} <- Runs]),
                        echo_ok => lists:sum([Ok || {_, {_, Ok}} <- Runs])}}}
             end
             || N <- Callers],
    #{rows => [Row || {Row, _} <- Cases], check => maps:from_list([C || {_, C} <- Cases])}.

%% @doc Case 3: round trips of binaries, a list of floats and a map
%% through a Python identity function, against echoing the same request
%% bytes.
-spec payloads(map()) -> #{rows := [row()], check := map()}.
payloads(#{params := #{reps := Reps, binaries := Sizes, floats := Floats,
                       map_entries := Entries, timeout := Timeout},
           echo := Echo}) ->
    Payloads = [{binary, Size} || Size <- Sizes, Size * ?COPIES_AT_PEAK =< mem_available()]
        ++ [{floats, Floats}, {map, Entries}],
    %% Imports bench_helpers, should the application have restarted.
    {ok, 0} = py:call(bench_helpers, identity, [0]),
    Cases = [payload(Reps, Kind, N, Echo, Timeout) || {Kind, N} <- Payloads],
    #{rows => lists:append([Rows || {Rows, _} <- Cases]),
      check => maps:from_list([C || {_, C} <- Cases])}.

%% @doc Case 4: a pool `io' of 10 contexts running 10 concurrent
%% `time.sleep(0.2)': the total time, against one sleep.
-spec io_pool(map()) -> #{rows := [row()], check := map()}.
io_pool(#{params := #{reps := Reps, io_pool_size := Size, sleep := Sleep}}) ->
    {ok, Pids} = py_context_router:start_pool(io, Size),
    length(Pids) =:= Size orelse error({io_pool_size, length(Pids)}),
    try
        Call = fun() -> py:call(io, time, sleep, [Sleep]) end,
        Runs = [run_callers(Size, 1, Call, fun(R) -> R =:= {ok, none} end)
                || _ <- lists:seq(1, Reps)],
        Label = lists:flatten(io_lib:format("~b x sleep(~s) on io pool of ~b",
                                            [Size, short(Sleep), Size])),
        Target = case {Size, Sleep} of {10, 0.2} -> {max, 0.22}; _ -> none end,
        #{rows => [row(4, "4 io sleeps", Label, "s", [S || {S, _} <- Runs],
                       [Sleep || _ <- Runs], "one sleep", Target)],
          check => #{contexts => length(Pids), calls => Reps * Size,
                     verified => lists:sum([Ok || {_, Ok} <- Runs])}}
    after
        ok = py_context_router:stop_pool(io)
    end.

%% @doc Case 5: from `application:ensure_all_started(erlang_python)' to
%% the reply of a first `py:call(math, sqrt, [16])', against starting the
%% echo bridge and its first round trip; with the start of a bare
%% `python3 -c "import math"' for reference.
-spec startup(map()) -> #{rows := [row()], check := map()}.
startup(#{params := #{startup_reps := Reps}, echo_exe := Exe}) ->
    {ok, Python} = py:eval(<<"__import__('sys').executable">>),
    Runs = [{start_app(), start_echo(Exe)} || _ <- lists:seq(1, Reps)],
    PyStarts = [time_os_command(Python, ["-c", "import math"]) || _ <- lists:seq(1, Reps)],
    #{rows => [row(5, "5 start", "start to first reply", "ms", [Ms || {{Ms, _}, _} <- Runs],
                   [Ms || {_, {Ms, _}} <- Runs], "echo bridge start + 1st echo", {max, 150}),
               row(5, "5 python3 start", "python3 -c 'import math' (reference)", "ms",
                   PyStarts, undefined, "", none)],
      check => #{replies => lists:usort([Reply || {{_, Reply}, _} <- Runs]),
                 echoes => lists:usort([Ok || {_, {_, Ok}} <- Runs]),
                 python => Python}}.

%% @doc Case 6: resident memory of the port's OS process, idle (freshly
%% started, after a warm-up) and after a million calls from 64 concurrent
%% callers.
-spec memory(map()) -> #{rows := [row()], check := map()}.
memory(#{params := #{warmup_calls := Warm, memory_calls := Calls, memory_callers := N}}) ->
    {_, {ok, 4.0}} = start_app(),
    {ok, OsPid} = py:eval(?OS_PID),
    Py = fun() -> py:call(math, sqrt, [16]) end,
    {_, WarmOk} = run_callers(N, max(1, Warm div N), Py, fun is_sqrt/1),
    Idle = status_kb(OsPid, "VmRSS"),
    {_, Ok} = run_callers(N, max(1, Calls div N), Py, fun is_sqrt/1),
    After = status_kb(OsPid, "VmRSS"),
    Measure = lists:flatten(io_lib:format("memory after ~s calls", [thousands(Ok)])),
    #{rows => [row(6, "6 memory", Measure, "MB", [After / 1024], [Idle / 1024],
                   "idle, after warm-up", {max_ratio, 1.10})],
      check => #{os_pid => OsPid, idle_kb => Idle, after_kb => After,
                 warmup => WarmOk, calls => Ok}}.

%% @doc Prints the table of figures, floors, ratios and targets.
-spec print_table([row()]) -> ok.
print_table(Rows) ->
    Line = "~-5s ~-38s ~12s ~12s ~-8s ~8s ~-17s ~-4s ~s~n",
    io:format(Line, ["case", "measure", "figure", "floor", "unit", "ratio", "target", "met",
                     "floor is"]),
    [io:format(Line, [integer_to_list(C), M, num(F), num(Fl), U, ratio_text(Row),
                      target_text(Row), met_text(met(Row)), Is])
     || #{'case' := C, measure := M, figure := F, floor := Fl, unit := U,
          floor_is := Is} = Row <- Rows],
    ok.

%% @doc Writes `results.csv', `results.md' and the plot's data into
%% `out_dir', and the plot `performance.png' when `plot' is true (the
%% default) and gnuplot is found; copies it to `doc_png' if given.
-spec write_outputs([row()], map(), map()) -> [file:filename()].
write_outputs(Rows, Info, #{out_dir := Dir} = Opts) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Files = [write_file(Dir, "results.csv", csv(Rows)),
             write_file(Dir, "results.md", markdown(Rows, Info)),
             write_file(Dir, "ratios.dat", ratios_dat(Rows)),
             write_file(Dir, "throughput.dat", throughput_dat(Rows))],
    Plot = case maps:get(plot, Opts, true) of
               true -> plot(Dir, Info, Opts);
               false -> []
           end,
    [io:format("wrote ~ts~n", [F]) || F <- Files ++ Plot],
    Files ++ Plot.

%% @doc Starts an echo bridge: an owner process (not linked) that opens the
%% echo port and routes each echoed frame to the alias in its header.
-spec echo_start(file:filename()) -> echo().
echo_start(Exe) ->
    Parent = self(),
    Tag = make_ref(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           Port = open_port({spawn_executable, Exe},
                                            [{packet, 4}, binary, exit_status]),
                           Parent ! {Tag, Port},
                           echo_owner(Port)
                   end),
    receive
        {Tag, Port} ->
            erlang:demonitor(Mon, [flush]),
            {Port, Pid};
        {'DOWN', Mon, process, Pid, Why} ->
            error({echo_port_start, Why})
    end.

%% The call most cases time, `py:call(math, sqrt, [16])', its echo
%% through the floor's bridge, and the check of an echo.
sqrt_calls(Echo) ->
    Request = ?SQRT_REQUEST,
    {fun() -> py:call(math, sqrt, [16]) end,
     fun() -> echo_call(Echo, Request, 30000) end,
     fun(R) -> is_echo(Request, R) end}.

%% @doc One round trip of `Request' (`{call, alias, ...}': the alias is
%% filled in) through the echo bridge, as `py' makes one through py_port.
%% Returns the decoded echo.
-spec echo_call(echo(), tuple(), timeout()) -> tuple().
echo_call({Port, Owner}, Request, Timeout) ->
    Mref = erlang:monitor(process, Owner, [{alias, reply_demonitor}]),
    Hdr = term_to_binary(Mref),
    Frame = [<<(byte_size(Hdr)):16>>, Hdr | term_to_binary(setelement(2, Request, Mref))],
    erlang:port_command(Port, Frame),
    receive
        {Mref, Payload} ->
            erlang:demonitor(Mref, [flush]),
            binary_to_term(Payload);
        {'DOWN', Mref, process, _, Reason} ->
            error({echo_port_exited, Reason})
    after Timeout ->
        erlang:demonitor(Mref, [flush]),
        error(echo_timeout)
    end.

%% @doc Stops an echo bridge: the port is closed, the echo port exits at
%% end of input.
-spec echo_stop(echo()) -> ok.
echo_stop({_Port, Owner}) ->
    Mon = erlang:monitor(process, Owner),
    Owner ! {stop, self()},
    receive {'DOWN', Mon, process, Owner, _} -> ok end.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

defaults(Root) ->
    Exe = case os:getenv("PY_BENCH_ECHO_PORT") of
              false -> filename:join([Root, "build", "bench", "echo_port"]);
              Path -> Path
          end,
    #{profile => full, bench_dir => filename:join(Root, "bench"), echo_port => Exe,
      out_dir => filename:join([Root, "bench", "out"]), plot => true}.

parse_args([], Opts) -> Opts;
parse_args(["--profile", P | Rest], Opts) when P =:= "full"; P =:= "quick" ->
    parse_args(Rest, Opts#{profile => list_to_atom(P)});
parse_args(["--echo-port", Exe | Rest], Opts) ->
    parse_args(Rest, Opts#{echo_port => filename:absname(Exe)});
parse_args(["--out", Dir | Rest], Opts) ->
    parse_args(Rest, Opts#{out_dir => filename:absname(Dir)});
parse_args(["--doc-png", Png | Rest], Opts) ->
    parse_args(Rest, Opts#{doc_png => filename:absname(Png)});
parse_args(["--no-plot" | Rest], Opts) ->
    parse_args(Rest, Opts#{plot => false});
parse_args(["--port-executable", Exe | Rest], Opts) ->
    parse_args(Rest, Opts#{port_executable => filename:absname(Exe)});
parse_args(["--cases", Names | Rest], Opts) ->
    Cases = [list_to_atom(Name) || Name <- string:lexemes(Names, ",")],
    [] =:= Cases -- ?CASES orelse throw({usage, io_lib:format("unknown cases in ~ts; cases: ~tp",
                                                               [Names, ?CASES])}),
    parse_args(Rest, Opts#{cases => Cases});
parse_args(Other, _Opts) ->
    throw({usage, io_lib:format("unknown arguments ~tp; usage: bench.escript [--profile full|quick]"
                                " [--echo-port Path] [--out Dir] [--doc-png Path] [--no-plot]"
                                " [--port-executable Path] [--cases Case,...]",
                                [Other])}).

%% Runs one case, saying so on stderr in a full run.
timed_case(#{params := Params} = Ctx, Case) ->
    progress(Params, "~s...", [Case]),
    T0 = erlang:monotonic_time(),
    Result = ?MODULE:Case(Ctx),
    progress(Params, " ~.1f s~n", [seconds(erlang:monotonic_time() - T0)]),
    erlang:garbage_collect(),
    Result.

progress(#{progress := true}, Format, Args) -> io:format(standard_error, Format, Args);
progress(#{}, _Format, _Args) -> ok.

%% The request `py:call(Module, Function, Args)' sends on the default
%% pool, its alias left to fill in.
request(Module, Function, Args) ->
    {call, alias, default, Module, Function, Args, #{}}.

is_sqrt(Reply) -> Reply =:= {ok, 4.0}.

%% Whether an echo decodes to the request that was sent.
is_echo(Request, Echo) ->
    is_tuple(Echo) andalso tuple_size(Echo) > 1
        andalso setelement(2, Echo, alias) =:= Request.

%% N calls, each timed; the reply is checked after its clock stops.
timed_loop(N, Call, Check) ->
    timed_loop(N, Call, Check, [], undefined).

timed_loop(0, _Call, _Check, Times, Last) ->
    {Times, Last};
timed_loop(N, Call, Check, Times, _Last) ->
    T0 = erlang:monotonic_time(),
    Reply = Call(),
    T1 = erlang:monotonic_time(),
    check(Check, Reply),
    timed_loop(N - 1, Call, Check, [T1 - T0 | Times], Reply).

check(Check, Reply) ->
    case Check(Reply) of
        true -> ok;
        false -> error({wrong_reply, truncate(Reply)})
    end.

truncate(Term) ->
    lists:flatten(io_lib:format("~P", [Term, 12])).

%% N callers, each making Per calls, started together. Returns the seconds
%% from the start to the last reply, and the number of checked replies.
run_callers(N, Per, Call, Check) ->
    Parent = self(),
    Go = make_ref(),
    Caller = fun() ->
                     receive Go -> ok end,
                     Parent ! {Go, self(), calls(Per, Call, Check, 0)}
             end,
    Pids = [spawn_link(Caller) || _ <- lists:seq(1, N)],
    T0 = erlang:monotonic_time(),
    [Pid ! Go || Pid <- Pids],
    Oks = [receive {Go, Pid, Ok} -> Ok end || Pid <- Pids],
    {seconds(erlang:monotonic_time() - T0), lists:sum(Oks)}.

calls(0, _Call, _Check, Ok) ->
    Ok;
calls(N, Call, Check, Ok) ->
    check(Check, Call()),
    calls(N - 1, Call, Check, Ok + 1).

callers(1) -> "1 caller";
callers(N) -> integer_to_list(N) ++ " callers".

throughput_target(N) when N >= 64 -> {min_ratio, 0.8};
throughput_target(_) -> none.

%% One payload: Reps round trips through py, Reps through the echo.
payload(Reps, Kind, N, Echo, Timeout) ->
    Value = payload_value(Kind, N),
    Request = request(bench_helpers, identity, [Value]),
    Py = fun() -> py:call(default, bench_helpers, identity, [Value], #{}, Timeout) end,
    Floor = fun() -> echo_call(Echo, Request, Timeout) end,
    %% Warm-up: the first round trips of a size pay for fresh memory
    %% (mmap, page faults) on both sides; the figures are of the steady state.
    [{{ok, Value}, _} = {Py(), Floor()} || _ <- [1, 2]],
    {ok, #{port := #{os_pid := OsPid}}} = py:stats(),
    Runs = [{round_trip(Py, fun(R) -> R =:= {ok, Value} end, OsPid),
             round_trip(Floor, fun(R) -> is_echo(Request, R) end)}
            || _ <- lists:seq(1, Reps)],
    Bytes = byte_size(term_to_binary(Request)),
    {Label, Measure, Target} = payload_names(Kind, N),
    Time = row(3, Label, Measure, "ms", [Ms || {{Ms, _}, _} <- Runs], [E || {_, E} <- Runs],
               "echo of the same bytes", Target),
    Peak = row(3, Label ++ " peak", "py_port peak memory above resident, " ++ Measure, "MB",
               [Mb || {{_, Mb}, _} <- Runs], undefined, "-", none),
    Extra = [conversion_row(Label, Measure, Runs, Value, Timeout) || Kind =/= binary],
    {[Time | [Peak || Kind =:= binary, N >= 1 bsl 20] ++ Extra],
     {Label, #{request_bytes => Bytes, verified => 2 * Reps}}}.

%% What a term-heavy round trip costs py_port above the echo (each
%% repetition's py_port time less its echo's), against CPython's own
%% fastest way to write such a value out and make it again:
%% marshal.loads(marshal.dumps(Value)) inside py_port, once per
%% repetition. A ratio near 1 says the rest is making Python's objects.
conversion_row(Label, Measure, Runs, Value, Timeout) ->
    Marshal = [begin
                   {ok, S} = py:call(default, bench_helpers, marshal_round_trip, [Value], #{},
                                     Timeout),
                   S * 1000
               end
               || _ <- Runs],
    row(3, Label ++ " above echo", "py_port's time above the echo, " ++ Measure, "ms",
        [Ms - E || {{Ms, _}, E} <- Runs], Marshal,
        "marshal.loads(marshal.dumps(x)) in Python", none).

%% The bytes of memory the machine has available (MemAvailable), or a
%% great many where /proc/meminfo does not tell.
mem_available() ->
    case file:read_file("/proc/meminfo") of
        {ok, Info} ->
            case re:run(Info, "^MemAvailable:\\s+(\\d+) kB",
                        [multiline, {capture, [1], list}]) of
                {match, [Kb]} -> list_to_integer(Kb) * 1024;
                nomatch -> 1 bsl 62
            end;
        {error, _} ->
            1 bsl 62
    end.

%% Milliseconds of one round trip through py_port OsPid, and how many MB
%% its peak resident memory (VmHWM, reset before) rose above its
%% resident memory before the call.
round_trip(Call, Check, OsPid) ->
    Proc = "/proc/" ++ integer_to_list(OsPid),
    ok = file:write_file(Proc ++ "/clear_refs", <<"5">>), % VmHWM := VmRSS
    Before = status_kb(OsPid, "VmRSS"),
    Ms = round_trip(Call, Check),
    {Ms, (status_kb(OsPid, "VmHWM") - Before) / 1024}.

%% Milliseconds of one round trip, its reply checked after the clock
%% stops and then dropped.
round_trip(Call, Check) ->
    erlang:garbage_collect(),
    T0 = erlang:monotonic_time(),
    Reply = Call(),
    T1 = erlang:monotonic_time(),
    check(Check, Reply),
    seconds(T1 - T0) * 1000.

%% A binary that is not UTF-8 (so Python sees bytes, not str).
payload_value(binary, Size) ->
    binary:part(binary:copy(<<255, 254, 253, 252, 0, 1, 2, 3>>, Size div 8 + 1), 0, Size);
payload_value(floats, N) ->
    [I + 0.5 || I <- lists:seq(1, N)];
payload_value(map, N) ->
    maps:from_list([{<<"key", (integer_to_binary(I))/binary>>, I} || I <- lists:seq(1, N)]).

payload_names(binary, Size) ->
    Name = size_name(Size),
    Target = case Size >= 10 bsl 20 of true -> {max_ratio, 1.3}; false -> none end,
    {"3 binary " ++ Name, "binary of " ++ Name ++ ", round trip", Target};
payload_names(floats, N) ->
    Target = case N of 100000 -> [{max, 20}, {max_ratio, 1.3}]; _ -> none end,
    {"3 floats", "list of " ++ thousands(N) ++ " floats, round trip", Target};
payload_names(map, N) ->
    Target = case N of 10000 -> {max_ratio, 1.3}; _ -> none end,
    {"3 map", "map of " ++ thousands(N) ++ " entries, round trip", Target}.

size_name(Size) when Size >= 1 bsl 20 -> integer_to_list(Size bsr 20) ++ " MB";
size_name(Size) when Size >= 1 bsl 10 -> integer_to_list(Size bsr 10) ++ " KB";
size_name(Size) -> integer_to_list(Size) ++ " B".

%% Restarts the application: the old port's OS process is waited for,
%% then the clock runs from ensure_all_started to the first reply.
%% Returns {Milliseconds, Reply}.
start_app() ->
    case py:eval(?OS_PID) of
        {ok, OldPid} ->
            ok = application:stop(?APP),
            wait_os_exit(OldPid, 100);
        {error, not_started} ->
            ok
    end,
    T0 = erlang:monotonic_time(),
    {ok, _} = application:ensure_all_started(?APP),
    Reply = py:call(math, sqrt, [16]),
    T1 = erlang:monotonic_time(),
    check(fun is_sqrt/1, Reply),
    {seconds(T1 - T0) * 1000, Reply}.

%% Waits for an OS process to exit: up to Tries checks, 20 ms apart.
wait_os_exit(OsPid, 0) ->
    error({port_did_not_exit, OsPid});
wait_os_exit(OsPid, Tries) ->
    case filelib:is_dir("/proc/" ++ integer_to_list(OsPid)) of
        false ->
            ok;
        true ->
            receive after 20 -> ok end,
            wait_os_exit(OsPid, Tries - 1)
    end.

%% Starts an echo bridge and makes its first round trip: {Milliseconds, Ok}.
start_echo(Exe) ->
    Request = ?SQRT_REQUEST,
    T0 = erlang:monotonic_time(),
    Echo = echo_start(Exe),
    Reply = echo_call(Echo, Request, 5000),
    T1 = erlang:monotonic_time(),
    ok = echo_stop(Echo),
    {seconds(T1 - T0) * 1000, is_echo(Request, Reply)}.

%% Milliseconds from starting an OS program to its exit (status 0).
time_os_command(Exe, Args) ->
    T0 = erlang:monotonic_time(),
    Port = open_port({spawn_executable, Exe}, [{args, Args}, exit_status, in]),
    receive
        {Port, {exit_status, 0}} -> seconds(erlang:monotonic_time() - T0) * 1000;
        {Port, {exit_status, N}} -> error({exit_status, Exe, N})
    end.

%% A field in kB of an OS process's status (VmRSS, VmHWM).
status_kb(OsPid, Field) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    {match, [Kb]} = re:run(Status, "^" ++ Field ++ ":\\s+(\\d+) kB",
                           [multiline, {capture, [1], list}]),
    list_to_integer(Kb).

echo_owner(Port) ->
    receive
        %% An echoed frame: route it by its header, as py_port_owner does.
        {Port, {data, <<HdrLen:16, Hdr:HdrLen/binary, Payload/binary>>}} ->
            To = binary_to_term(Hdr),
            erlang:send(To, {To, Payload}, [noconnect]),
            %% Nor does it keep a big frame alive (py_port_owner:let_go/2).
            _ = byte_size(Payload) >= 1 bsl 20 andalso erlang:garbage_collect(),
            echo_owner(Port);
        %% The echo port exited; callers learn it from their monitors.
        {Port, {exit_status, Status}} ->
            exit({echo_port_exited, Status});
        {stop, _From} ->
            port_close(Port)
    end.

%% A row from per-repetition samples; the median is quoted.
row(Case, Label, Measure, Unit, Samples, FloorSamples, FloorIs, Target) ->
    #{'case' => Case, label => Label, measure => Measure, unit => Unit,
      figure => median(Samples),
      floor => case FloorSamples of undefined -> undefined; _ -> median(FloorSamples) end,
      floor_is => FloorIs, target => Target, samples => Samples,
      floor_samples => case FloorSamples of undefined -> []; _ -> FloorSamples end}.

ratio(#{floor := Floor}) when Floor =:= undefined; Floor == 0 -> undefined;
ratio(#{figure := Figure, floor := Floor}) -> Figure / Floor.

met(#{target := none}) -> undefined;
met(#{target := Targets} = Row) when is_list(Targets) ->
    lists:all(fun(Target) -> met(Row#{target := Target}) end, Targets);
met(#{target := {max, Max}, figure := Figure}) -> Figure =< Max;
met(#{target := {max_ratio, Max}} = Row) -> ratio(Row) =< Max;
met(#{target := {min_ratio, Min}} = Row) -> ratio(Row) >= Min.

%% The target as a ratio to the floor, for the plot.
target_ratio(#{target := none}) -> undefined;
target_ratio(#{target := Targets} = Row) when is_list(Targets) ->
    case [R || T <- Targets, R <- [target_ratio(Row#{target := T})], R =/= undefined] of
        [] -> undefined;
        Ratios -> lists:min(Ratios) % the tightest: a list holds at-most targets
    end;
target_ratio(#{target := {max, Max}, floor := Floor}) when is_number(Floor), Floor > 0 ->
    Max / Floor;
target_ratio(#{target := {max, _}}) -> undefined;
target_ratio(#{target := {_, Ratio}}) -> Ratio.

median(Samples) -> percentile(lists:sort(Samples), 0.5).

%% Nearest-rank percentile of a sorted list.
percentile(Sorted, P) ->
    lists:nth(max(1, ceil(P * length(Sorted))), Sorted).

%% The median of native times, in microseconds.
median_us(Times) ->
    percentile(us_sorted(Times), 0.5).

%% Calls per second of a run_callers/4 result.
rate({Secs, Ok}) ->
    Ok / Secs.

us_sorted(Times) ->
    PerUs = erlang:convert_time_unit(1, second, native) / 1.0e6,
    lists:sort([T / PerUs || T <- Times]).

seconds(Native) ->
    Native / erlang:convert_time_unit(1, second, native).

%% The machine and versions of the run.
info(#{params := #{profile := Profile}}) ->
    {ok, Python} = py:eval(<<"__import__('sys').version.split()[0]">>),
    #{profile => Profile,
      date => calendar:system_time_to_rfc3339(erlang:system_time(second)),
      cpu => cpu_model(),
      cores => erlang:system_info(logical_processors_available),
      schedulers => erlang:system_info(schedulers_online),
      otp => erlang:system_info(otp_release),
      python => binary_to_list(Python),
      default_pool => py_context_router:num_contexts(default)}.

cpu_model() ->
    case file:read_file("/proc/cpuinfo") of
        {ok, Text} ->
            case re:run(Text, "^model name\\s*:\\s*(.*)$", [multiline, {capture, [1], list}]) of
                {match, [Model]} -> Model;
                nomatch -> "unknown"
            end;
        {error, _} ->
            "unknown"
    end.

info_text(#{profile := Profile, date := Date, cpu := Cpu, cores := Cores,
            schedulers := Schedulers, otp := Otp, python := Python, default_pool := Pool}) ->
    lists:flatten(
      io_lib:format("~s profile, ~s; ~s, ~p cores; OTP ~s, ~p schedulers; "
                    "Python ~s; default pool of ~b contexts",
                    [Profile, Date, Cpu, Cores, Otp, Schedulers, Python, Pool])).

print_info(Info) ->
    io:format("erlang_python benchmark: ~s~n~n", [info_text(Info)]).

num(undefined) -> "-";
num(V) when abs(V) >= 1000 -> thousands(round(V));
num(V) when abs(V) >= 100 -> float_to_list(float(V), [{decimals, 1}]);
num(V) when abs(V) >= 1 -> float_to_list(float(V), [{decimals, 2}]);
num(V) -> float_to_list(float(V), [{decimals, 3}]).

thousands(N) when N < 0 -> "-" ++ thousands(-N);
thousands(N) when N < 1000 -> integer_to_list(N);
thousands(N) -> thousands(N div 1000) ++ io_lib:format(",~3..0b", [N rem 1000]).

ratio_text(Row) ->
    case ratio(Row) of
        undefined -> "-";
        R -> float_to_list(R, [{decimals, 2}]) ++ "x"
    end.

target_text(#{target := none}) -> "-";
target_text(#{target := Targets} = Row) when is_list(Targets) ->
    lists:flatten(lists:join(", ", [target_text(Row#{target := T}) || T <- Targets]));
target_text(#{target := {max_ratio, R}}) -> "<= " ++ short(R) ++ "x";
target_text(#{target := {min_ratio, R}}) -> ">= " ++ short(R) ++ "x";
target_text(#{target := {max, V}, unit := Unit}) -> "<= " ++ short(V) ++ " " ++ Unit.

short(V) when is_integer(V) -> integer_to_list(V);
short(V) -> float_to_list(V, [short]).

met_text(undefined) -> "-";
met_text(true) -> "yes";
met_text(false) -> "NO".

write_file(Dir, Name, Content) ->
    File = filename:join(Dir, Name),
    ok = file:write_file(File, Content),
    File.

csv(Rows) ->
    Header = "case,measure,unit,figure,floor,floor_is,ratio,target,met,samples,floor_samples\n",
    [Header | [csv_line(Row) || Row <- Rows]].

csv_line(#{'case' := C, measure := M, unit := U, figure := F, floor := Fl, floor_is := Is,
           samples := S, floor_samples := FS} = Row) ->
    Fields = [integer_to_list(C), quote(M), quote(U), csv_num(F), csv_num(Fl), quote(Is),
              csv_num(ratio(Row)), quote(target_text(Row)), met_text(met(Row)),
              lists:join(";", [csv_num(X) || X <- S]),
              lists:join(";", [csv_num(X) || X <- FS])],
    [lists:join(",", Fields), "\n"].

csv_num(undefined) -> "";
csv_num(V) when is_integer(V) -> integer_to_list(V);
csv_num(V) -> float_to_list(V, [{decimals, 6}, compact]).

quote(Text) ->
    [$", string:replace(Text, "\"", "\"\"", all), $"].

markdown(Rows, Info) ->
    ["Run: ", info_text(Info), "\n\n",
     "| case | measure | figure | floor | unit | ratio | target | met |\n",
     "|---|---|--:|--:|---|--:|---|---|\n",
     [io_lib:format("| ~b | ~ts | ~s | ~s | ~s | ~s | ~s | ~s |~n",
                    [C, M, num(F), num(Fl), U, ratio_text(Row), target_text(Row),
                     met_text(met(Row))])
      || #{'case' := C, measure := M, figure := F, floor := Fl, unit := U} = Row <- Rows]].

%% "label" ratio target-ratio colour, one line per row with a floor.
ratios_dat(Rows) ->
    [io_lib:format("\"~s\" ~s ~s ~b~n",
                   [L, dat_num(ratio(Row)), dat_num(target_ratio(Row)), colour(met(Row))])
     || #{label := L} = Row <- Rows, ratio(Row) =/= undefined].

%% callers py echo, one line per throughput row.
throughput_dat(Rows) ->
    [io_lib:format("~b ~s ~s~n", [X, dat_num(F), dat_num(Fl)])
     || #{x := X, figure := F, floor := Fl} <- Rows].

dat_num(undefined) -> "NaN";
dat_num(V) -> float_to_list(float(V), [{decimals, 6}, compact]).

colour(true) -> 16#2ca02c;
colour(false) -> 16#d62728;
colour(undefined) -> 16#7f7f7f.

%% Runs bench/plot.gp on the data files; [] without gnuplot.
plot(Dir, Info, Opts) ->
    case os:find_executable("gnuplot") of
        false ->
            io:format("gnuplot not found: no plot (Debian: apt-get install gnuplot-nox)~n"),
            [];
        Gnuplot ->
            Script = filename:join(maps:get(bench_dir, Opts), "plot.gp"),
            Vars = io_lib:format("dir='~ts'; info='~ts'",
                                 [Dir, string:replace(info_text(Info), "'", "", all)]),
            Port = open_port({spawn_executable, Gnuplot},
                             [{args, ["-e", lists:flatten(Vars), Script]}, exit_status,
                              stderr_to_stdout, binary]),
            ok = await_exit(Port, <<>>),
            Png = filename:join(Dir, "performance.png"),
            case Opts of
                #{doc_png := DocPng} ->
                    {ok, _} = file:copy(Png, DocPng),
                    [Png, DocPng];
                #{} ->
                    [Png]
            end
    end.

await_exit(Port, Output) ->
    receive
        {Port, {data, More}} -> await_exit(Port, <<Output/binary, More/binary>>);
        {Port, {exit_status, 0}} -> ok;
        {Port, {exit_status, N}} -> error({gnuplot, N, Output})
    end.
