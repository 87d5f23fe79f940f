%% @doc What keeps a call's cost where docs/performance.md says, beyond
%% the benchmark's figures: a busy caller's mailbox, big round trips'
%% memory.
-module(py_perf_SUITE).

-include_lib("common_test/include/ct.hrl").

%% Common Test callbacks
-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).

%% Cases
-export([busy_mailbox_calls_leave_the_queue/1]).
-export([reply_receives_skip_the_queue/1]).
-export([big_round_trips_reuse_memory/1]).

%%% ==========================================================================
%%% Common Test callbacks
%%% ==========================================================================

all() ->
    [busy_mailbox_calls_leave_the_queue, reply_receives_skip_the_queue,
     big_round_trips_reuse_memory].

suite() ->
    [{timetrap, {seconds, 60}}].

init_per_suite(Config) ->
    py_test_lib:start_app([], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc A process with 10,000 unrelated messages queued makes calls that
%% succeed, fail, time out and meet a dead port: each gets its answer,
%% and the queue is left as it was, in order, with nothing added.
busy_mailbox_calls_leave_the_queue(_Config) ->
    Queued = 10000,
    [self() ! {unrelated, K} || K <- lists:seq(1, Queued)],
    [{ok, 4.0} = py:call(math, sqrt, [16]) || _ <- lists:seq(1, 100)],
    {error, {'ValueError', <<"math domain error">>}} = py:call(math, sqrt, [-1]),
    {error, timeout} = py:call(default, time, sleep, [1], #{}, 50),
    {ok, 4.0} = py:call(math, sqrt, [16]),
    {message_queue_len, Queued} = process_info(self(), message_queue_len),
    Unrelated = [receive M -> M after 0 -> missing end || _ <- lists:seq(1, Queued)],
    Unrelated = [{unrelated, K} || K <- lists:seq(1, Queued)],
    {messages, []} = process_info(self(), messages).

%% @doc Every receive on the call path (py:request_on/3) starts at the
%% compiler's receive marker, taken when the monitor is made: none scans
%% the messages queued before the call (docs/performance-history.md, "A
%% busy mailbox").
reply_receives_skip_the_queue(_Config) ->
    {beam_file, py, _, _, _, Functions} = beam_disasm:file(code:which(py)),
    [Code] = [Code || {function, request_on, 3, _, Code} <- Functions],
    Receives = [I || I <- Code, element(1, I) =:= loop_rec],
    Marked = [I || I <- Code, element(1, I) =:= recv_marker_use],
    {4, 4} = {length(Receives), length(Marked)}.

%% @doc Round trips of a map of 10,000 entries (a frame, a dict's table
%% and a reply of hundreds of KB each) reuse py_port's heap memory from
%% the first on: the kernel faults no pages in for them
%% (docs/performance-history.md, "Big payloads"). Before malloc's
%% thresholds were set at start, each faulted 110 pages in. Not in the
%% sanitizer runs (PYTHONMALLOC=malloc): their py_port allocates with the
%% sanitizer's malloc, which glibc's thresholds do not govern.
big_round_trips_reuse_memory(_Config) ->
    case os:getenv("PYTHONMALLOC") of
        "malloc" -> {skip, "the sanitizer's malloc"};
        _ -> big_round_trips_fault_nothing_in()
    end.

big_round_trips_fault_nothing_in() ->
    Map = maps:from_list([{<<"key", (integer_to_binary(I))/binary>>, I}
                          || I <- lists:seq(1, 10000)]),
    true = round_trip_faults(fun() -> {ok, Map} = py:call(builtins, dict, [Map]) end) < 100,
    %% 40 MB: the frame and the bytes are buffers kept for reuse (bigmem.h);
    %% fresh ones fault 20 huge pages each, or 10,240 small ones.
    Big = binary:copy(<<255, 0, 1, 2>>, 10 bsl 20),
    true = round_trip_faults(fun() -> {ok, Big} = py:call(builtins, bytes, [Big]) end) < 100.

%% The minor page faults of py_port in 20 round trips, after 3.
round_trip_faults(RoundTrip) ->
    {ok, #{port := #{os_pid := Pid}}} = py:stats(),
    [RoundTrip() || _ <- lists:seq(1, 3)],
    Before = minor_faults(Pid),
    [RoundTrip() || _ <- lists:seq(1, 20)],
    Faults = minor_faults(Pid) - Before,
    ct:log("minor faults of py_port in 20 round trips: ~b", [Faults]),
    Faults.

%% The minor page faults of OS process Pid so far (/proc/Pid/stat).
minor_faults(Pid) ->
    {ok, Stat} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat"),
    [_, AfterName] = binary:split(Stat, <<") ">>),
    binary_to_integer(lists:nth(8, binary:split(AfterName, <<" ">>, [global]))).
