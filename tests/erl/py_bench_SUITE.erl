%% @doc The benchmark (bench/py_bench.erl) in its `quick' profile, so that
%% `make test' keeps it working: each case runs against the real port and
%% the echo port (bench/echo_port.c, found through PY_BENCH_ECHO_PORT, which
%% the Makefile exports, else build/bench/echo_port) and its replies are
%% right. Times are not checked; `make bench' measures them.
%%
%% The benchmark stops and starts the application itself; end_per_suite
%% leaves it stopped with its environment as it was, as the other suites
%% expect.
-module(py_bench_SUITE).

-include_lib("common_test/include/ct.hrl").

%% Common Test callbacks
-export([all/0]).
-export([suite/0]).
-export([init_per_suite/1]).
-export([end_per_suite/1]).

%% cases
-export([echo_bridge/1]).
-export([latency/1]).
-export([throughput/1]).
-export([payloads/1]).
-export([io_pool/1]).
-export([startup/1]).
-export([memory/1]).
-export([callbacks/1]).
-export([modes/1]).
-export([asyncio/1]).
-export([mailbox/1]).
-export([remote/1]).
-export([busy_core/1]).
-export([python_speed/1]).
-export([outputs/1]).
-export([two_targets/1]).

%%% ==========================================================================
%%% Common Test callbacks
%%% ==========================================================================

all() ->
    [echo_bridge, latency, throughput, payloads, io_pool, startup, memory, callbacks, modes,
     asyncio, mailbox, remote, busy_core, python_speed, outputs, two_targets].

suite() ->
    [{timetrap, {seconds, 60}}].

init_per_suite(Config) ->
    Bench = filename:join(root(), "bench"),
    Src = filename:join(Bench, "py_bench.erl"),
    {ok, py_bench, Bin} = compile:file(Src, [binary, report, warnings_as_errors]),
    {module, py_bench} = code:load_binary(py_bench, Src, Bin),
    Ctx = py_bench:setup(#{profile => quick, bench_dir => Bench, echo_port => echo_port()}),
    [{bench, Ctx} | Config].

end_per_suite(Config) ->
    ok = py_bench:teardown(?config(bench, Config)),
    {error, {not_started, erlang_python}} = application:stop(erlang_python),
    code:delete(py_bench),
    code:purge(py_bench),
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc The echo bridge gives back the request it was sent, its alias filled in.
echo_bridge(Config) ->
    #{echo := Echo} = ?config(bench, Config),
    Big = binary:copy(<<255, 0>>, 300000),
    {call, Alias, default, m, f, [Big, 1.5], #{k := v}} =
        py_bench:echo_call(Echo, {call, alias, default, m, f, [Big, 1.5], #{k => v}}, 5000),
    true = is_reference(Alias).

%% @doc The latency case: every call answered 4.0, every echo the request.
latency(Config) ->
    #{rows := [#{figure := P50, floor := F50, target := {max_ratio, 1.2}},
               #{figure := P99, floor := F99, target := none}],
      check := #{reply := {ok, 4.0}, echo := {call, _, default, math, sqrt, [16], #{}},
                 calls := 50}} = py_bench:latency(?config(bench, Config)),
    true = lists:all(fun is_positive/1, [P50, F50, P99, F99]).

%% @doc The throughput case: every caller count ran, every reply checked.
throughput(Config) ->
    #{rows := Rows, check := Check} = py_bench:throughput(?config(bench, Config)),
    [{1, none}, {8, none}, {64, {min_ratio, 0.8}}, {256, {min_ratio, 0.8}}] =
        [{X, T} || #{x := X, target := T} <- Rows],
    [#{calls := C, py_ok := C, echo_ok := C} = maps:get(N, Check) || N <- [1, 8, 64, 256]],
    true = lists:all(fun is_positive/1, [F || #{figure := F} <- Rows]).

%% @doc The payload case: each payload went through identity and the echo
%% unchanged; the floats and the map have a row of py_port's time above
%% the echo, against marshal's round trip of the same value in Python.
payloads(Config) ->
    #{rows := Rows, check := Check} = py_bench:payloads(?config(bench, Config)),
    ["3 binary 1 KB", "3 floats", "3 floats above echo", "3 map", "3 map above echo"] =
        [L || #{label := L} <- Rows],
    [true, true] = [is_positive(Marshal) || #{label := L, floor := Marshal} <- Rows,
                                            lists:suffix("above echo", L)],
    #{"3 binary 1 KB" := #{verified := 2, request_bytes := B},
      "3 floats" := #{verified := 2}, "3 map" := #{verified := 2}} = Check,
    true = B > 1024.

%% @doc The io pool case: ten contexts, ten sleeps, each answered None.
io_pool(Config) ->
    #{rows := [#{figure := Secs}], check := #{contexts := 10, calls := 10, verified := 10}} =
        py_bench:io_pool(?config(bench, Config)),
    true = Secs >= 0.2,
    false = py_context_router:pool_started(io).

%% @doc The start-up case: a fresh application's first call answered 4.0.
startup(Config) ->
    #{rows := [#{figure := Ms, floor := Floor}, #{figure := PyMs}],
      check := #{replies := [{ok, 4.0}], echoes := [true], python := Python}} =
        py_bench:startup(?config(bench, Config)),
    true = lists:all(fun is_positive/1, [Ms, Floor, PyMs]),
    true = filelib:is_regular(Python).

%% @doc The memory case: the port's resident size, read twice around the calls.
memory(Config) ->
    #{rows := [#{figure := _, floor := _}],
      check := #{os_pid := OsPid, idle_kb := Idle, after_kb := After, calls := 960}} =
        py_bench:memory(?config(bench, Config)),
    {ok, OsPid} = py_test_lib:os_pid(),
    true = is_integer(Idle) andalso Idle > 0,
    true = is_integer(After) andalso After > 0.

%% @doc The callbacks and streams case: every callback and item checked.
callbacks(Config) ->
    #{rows := [#{label := "7 callback", figure := Us, floor := Floor},
               #{label := "7 stream", figure := PerSecond},
               #{label := "7 stream collect", figure := Ms}],
      check := #{callbacks := 100, streamed := 1000}} =
        py_bench:callbacks(?config(bench, Config)),
    true = lists:all(fun is_positive/1, [Us, Floor, PerSecond, Ms]).

%% @doc The pool modes case: worker and process pools ran every cpu call
%% and latency call right (owngil where the port runs it), their
%% latencies were taken in the same turns as one echo floor, and
%% process's latency is set against worker's. The last row is the
%% machine's own: the same loops in 2 plain python3 processes at once.
modes(Config) ->
    #{rows := [#{label := "8 worker 4 cpu calls", figure := W, floor := WSeq},
               #{label := "8 worker memory"},
               #{label := "8 worker latency", figure := WLat, floor := Echo},
               #{label := "8 process 4 cpu calls", figure := P, floor := PSeq},
               #{label := "8 process memory", figure := Mb},
               #{label := "8 process latency", figure := PLat, floor := Echo} | Rest],
      check := #{worker := #{calls := 8}, process := #{calls := 8, memory_per_context_mb := Mb},
                 machine := #{python3 := Exe, runs := 1}}} =
        py_bench:modes(?config(bench, Config)),
    #{figure := PLat, floor := WLat, target := {max_ratio, 1.2}} =
        hd([Row || #{label := "8 process latency / worker"} = Row <- Rest]),
    #{label := "8 machine 4 cpu loops", figure := Par, floor := Seq, target := none,
      samples := [_]} = lists:last(Rest), % one repetition in the quick profile
    {ok, Exe} = py:eval(<<"__import__('sys').executable">>),
    true = lists:all(fun is_positive/1, [W, WSeq, WLat, P, PSeq, PLat, Mb, Echo, Par, Seq]).

%% @doc The asyncio case: every concurrent sleep and every coroutine and
%% synchronous call answered right.
asyncio(Config) ->
    #{rows := [#{label := "9 asyncio sleeps", figure := Wall, floor := 0.1},
               #{label := "9 coroutine call", figure := Us, floor := SyncUs},
               #{label := "9 coroutine calls 64", figure := Rate, floor := SyncRate}],
      check := #{calls := 1000, latency_calls := 100, loaded_calls := 1024}} =
        py_bench:asyncio(?config(bench, Config)),
    true = lists:all(fun is_positive/1, [Wall, Us, SyncUs, Rate, SyncRate]).

%% @doc The busy mailbox case made every call, from a process with 10,000
%% messages queued and from one with none, and set one against the other.
mailbox(Config) ->
    #{rows := [#{label := "10 busy mailbox", figure := Busy, floor := Empty,
                 target := {max_ratio, 1.2}}],
      check := #{calls := 100, queued := 10000}} = py_bench:mailbox(?config(bench, Config)),
    true = lists:all(fun is_positive/1, [Busy, Empty]).

%% @doc The remote case called a pool on a peer node and this node's pool,
%% and moved 10 MB through each.
remote(Config) ->
    #{rows := [#{label := "11 remote latency", figure := Lat, floor := LocalLat},
               #{label := "11 remote callers 64", figure := Rate, floor := LocalRate},
               #{label := "11 remote 10MB", figure := Big, floor := LocalBig}],
      check := #{node := Node}} = py_bench:remote(?config(bench, Config)),
    true = Node =/= node(),
    true = lists:all(fun is_positive/1, [Lat, LocalLat, Rate, LocalRate, Big, LocalBig]),
    %% Nothing of the case is left behind.
    false = py_context_router:pool_started(bench_remote),
    false = lists:member(Node, nodes()).

%% @doc The busy core case made every call while its hog kept a core busy,
%% and left no hog behind.
busy_core(Config) ->
    #{rows := [#{label := "12 busy latency", figure := Lat, floor := EchoLat,
                 target := {max_ratio, 1.3}},
               #{label := "12 busy callers 64", figure := Rate, floor := EchoRate,
                 target := {min_ratio, 0.6}}],
      check := #{calls := Calls, py_ok := Calls64, hog_busy := true}} =
        py_bench:busy_core(?config(bench, Config)),
    Calls = 50 + Calls64, % the quick profile: 50 calls, then 64 callers
    true = lists:all(fun is_positive/1, [Lat, EchoLat, Rate, EchoRate]),
    "" = os:cmd("pgrep -f 'kill -0 [$]PPID'").

%% @doc The Python speed case ran the same work in py_port and in the
%% python3 it embeds.
python_speed(Config) ->
    #{rows := [#{label := "13 python speed", figure := InPort, floor := Alone,
                 target := {max_ratio, 1.05}}],
      check := #{rounds := N, python3 := Exe}} = py_bench:python_speed(?config(bench, Config)),
    {ok, Exe} = py:eval(<<"__import__('sys').executable">>),
    true = N >= 1000,
    true = lists:all(fun is_positive/1, [InPort, Alone]).

%% @doc The table, the CSV and the plot's data are written from the rows.
outputs(Config) ->
    #{rows := Rows} = py_bench:latency(?config(bench, Config)),
    ok = py_bench:print_table(Rows),
    Dir = filename:join(?config(priv_dir, Config), "out"),
    Info = #{profile => quick, date => "today", cpu => "cpu", cores => 2, schedulers => 2,
             otp => "25", python => "3", default_pool => 2},
    Files = py_bench:write_outputs(Rows, Info, #{out_dir => Dir, plot => false}),
    [Csv, Md, Ratios, _Throughput] = Files,
    {ok, CsvText} = file:read_file(Csv),
    [<<"case,measure,unit,figure,floor,", _/binary>>,
     <<"1,\"latency, median\",\"us\",", _/binary>>,
     <<"1,\"latency, 99th percentile\",\"us\",", _/binary>>] =
        binary:split(CsvText, <<"\n">>, [global, trim]),
    {ok, MdText} = file:read_file(Md),
    {_, _} = binary:match(MdText, <<"| 1 | latency, median |">>),
    {ok, RatiosText} = file:read_file(Ratios),
    [<<"\"1 latency p50\" ", _/binary>>, <<"\"1 latency p99\" ", _/binary>>] =
        binary:split(RatiosText, <<"\n">>, [global, trim]).

%% @doc A row of two targets (the floats': an absolute time and a ratio to
%% the echo) is met only when both hold, and its outputs show both.
two_targets(Config) ->
    Row = fun(Figure, Floor) ->
                  #{'case' => 3, label => "3 floats", measure => "floats", unit => "ms",
                    figure => Figure, floor => Floor, floor_is => "echo",
                    target => [{max, 20}, {max_ratio, 1.3}],
                    samples => [Figure], floor_samples => [Floor]}
          end,
    Rows = [Row(12, 10), Row(14, 10), Row(25, 30)], % met; ratio 1.4; over 20 ms
    Info = #{profile => quick, date => "today", cpu => "cpu", cores => 2, schedulers => 2,
             otp => "25", python => "3", default_pool => 2},
    Dir = filename:join(?config(priv_dir, Config), "two"),
    [Csv, _Md, Ratios, _] = py_bench:write_outputs(Rows, Info, #{out_dir => Dir, plot => false}),
    {ok, CsvText} = file:read_file(Csv),
    [_Header,
     <<"3,\"floats\",\"ms\",12,10,\"echo\",1.2,\"<= 20 ms, <= 1.3x\",yes,12,10">>,
     <<"3,\"floats\",\"ms\",14,10,\"echo\",1.4,\"<= 20 ms, <= 1.3x\",NO,14,10">>,
     <<"3,\"floats\",\"ms\",25,30,\"echo\",0.833333,\"<= 20 ms, <= 1.3x\",NO,25,30">>] =
        binary:split(CsvText, <<"\n">>, [global, trim]),
    %% The plot's dot is the tighter of the two: 1.3x, or 20 ms of a 30 ms floor.
    {ok, RatiosText} = file:read_file(Ratios),
    [<<"\"3 floats\" 1.2 1.3 2924588">>, <<"\"3 floats\" 1.4 1.3 14034728">>,
     <<"\"3 floats\" 0.833333 0.666667 14034728">>] =
        binary:split(RatiosText, <<"\n">>, [global, trim]).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% The repository: this file is tests/erl/py_bench_SUITE.erl.
root() ->
    filename:dirname(filename:dirname(filename:dirname(?FILE))).

echo_port() ->
    case os:getenv("PY_BENCH_ECHO_PORT") of
        false -> filename:join([root(), "build", "bench", "echo_port"]);
        Exe -> Exe
    end.

is_positive(X) ->
    is_number(X) andalso X > 0.
