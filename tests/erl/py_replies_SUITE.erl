%% Common Test suite of replies nobody wants and of the port's tracing
%% (docs/reliability.md, "Replies, tracing and sanitizers"): a cast's
%% result is never decoded by the port owner, an Erlang function's answer
%% nested too deep is a TypeError, references in a reply that its caller
%% gave up on are released, and tracing never blocks a request.
-module(py_replies_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([cast_result_is_not_decoded_by_the_owner/1,
         cast_error_is_still_logged/1,
         deep_callback_answer_is_a_type_error/1,
         late_reply_references_are_released/1,
         racing_timeouts_leave_no_reference/1,
         trace_to_a_pipe_nobody_reads_never_blocks/1,
         blocked_trace_does_not_keep_the_port_alive/1,
         replay_of_recorded_casts_does_not_wait/1,
         large_result_is_freed_after_its_reply/1,
         owner_keeps_no_big_frame/1]).

%% Calls made with tracing on while stderr is not read: their lines are
%% about 150 bytes each, 750 KB in all, more than the pipe (64 KB) and the
%% port's trace buffer (256 KB) hold.
-define(TRACED_CALLS, 5000).

%% Elements of the list a cast returns: 16 MB of terms in the owner's
%% heap were it decoded there. The list is [0] * N, one allocation, so
%% that it is quick to make under AddressSanitizer too.
-define(BIG, 2000000).

%% Python helpers, defined in __main__ (every pool sees them).
-define(HELPERS, <<"import time\n"
                   "def big(n):\n"
                   "    return [0] * n\n"
                   "def fail():\n"
                   "    return 1 / 0\n"
                   "def ref_after(ms):\n"
                   "    time.sleep(ms / 1000)\n"
                   "    return object()\n"
                   "import threading\n"
                   "gate = threading.Event()\n"
                   "freed = []\n"
                   "class HeldAtFree(list):\n"
                   "    def __del__(self):\n"
                   "        freed.append(gate.wait(10))\n"
                   "def held_at_free(n):\n"
                   "    return HeldAtFree(range(n))\n"
                   "async def held_at_free_async(n):\n"
                   "    return HeldAtFree(range(n))\n">>).

all() ->
    [cast_result_is_not_decoded_by_the_owner, cast_error_is_still_logged,
     deep_callback_answer_is_a_type_error, late_reply_references_are_released,
     racing_timeouts_leave_no_reference, trace_to_a_pipe_nobody_reads_never_blocks,
     blocked_trace_does_not_keep_the_port_alive, replay_of_recorded_casts_does_not_wait,
     large_result_is_freed_after_its_reply, owner_keeps_no_big_frame].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_suite(Config) ->
    _ = application:stop(erlang_python),
    Config1 = py_test_lib:start_app([{default_pool_size, 4}], Config),
    ok = py:exec(?HELPERS),
    {ok, [_]} = py_context_router:start_pool(solo, 1),
    Config1.

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%% The trace case runs its own port: py_port (the one given to the test
%% run, if any) through a script that points its stderr at a FIFO, open
%% for reading and writing, that nobody reads until the case does.
init_per_testcase(Case, Config) when Case =:= trace_to_a_pipe_nobody_reads_never_blocks;
                                     Case =:= blocked_trace_does_not_keep_the_port_alive ->
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Fifo = filename:join(Dir, "stderr.fifo"),
    "" = os:cmd("mkfifo " ++ Fifo),
    Exe = application:get_env(erlang_python, port_executable,
                              filename:join(code:priv_dir(erlang_python), "py_port")),
    Wrapper = filename:join(Dir, "py_port_stderr_to_fifo"),
    ok = file:write_file(Wrapper, ["#!/bin/sh\nexec '", Exe, "' \"$@\" 2<>'", Fifo, "'\n"]),
    ok = file:change_mode(Wrapper, 8#755),
    Env = proplists:get_value(app_env, Config) ++ [{trace, true}, {port_executable, Wrapper}],
    ok = py_test_lib:restart_app([{app_env, Env} | Config]),
    [{fifo, Fifo}, {port_executable, Exe} | Config];
%% The replay case records what its own application sends, on one context.
init_per_testcase(replay_of_recorded_casts_does_not_wait = Case, Config) ->
    File = filename:join(?config(priv_dir, Config), atom_to_list(Case) ++ ".rec"),
    Env = proplists:get_value(app_env, Config) ++ [{record, File}, {default_pool_size, 1}],
    ok = py_test_lib:restart_app([{app_env, Env} | Config]),
    [{recording, File} | Config];
init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(Case, Config) when Case =:= trace_to_a_pipe_nobody_reads_never_blocks;
                                    Case =:= blocked_trace_does_not_keep_the_port_alive ->
    _ = application:stop(erlang_python),
    ok = application:unset_env(erlang_python, trace),
    ok = application:set_env(erlang_python, port_executable, ?config(port_executable, Config)),
    case lists:keymember(port_executable, 1, proplists:get_value(app_env, Config)) of
        true -> ok;
        false -> application:unset_env(erlang_python, port_executable)
    end,
    ok = py_test_lib:restart_app(Config),
    ok = py:exec(?HELPERS),
    {ok, [_]} = py_context_router:start_pool(solo, 1),
    ok;
end_per_testcase(replay_of_recorded_casts_does_not_wait, Config) ->
    _ = application:stop(erlang_python),
    ok = application:unset_env(erlang_python, record),
    ok = py_test_lib:restart_app(Config),
    ok = py:exec(?HELPERS),
    {ok, [_]} = py_context_router:start_pool(solo, 1),
    ok;
end_per_testcase(_Case, _Config) ->
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc A cast whose result is a 2-million-element list costs the owner no
%% decoding: its reductions and memory stay small.
cast_result_is_not_decoded_by_the_owner(_Config) ->
    Owner = whereis(py_port_owner),
    erlang:garbage_collect(Owner),
    {reductions, R0} = process_info(Owner, reductions),
    ok = py:cast(solo, '__main__', big, [?BIG]),
    %% The one context of `solo' runs this after the cast, and its reply
    %% leaves after the cast's: once it is back, the owner has had the
    %% cast's reply, if there was one.
    {ok, 1} = py:call(solo, builtins, len, [[x]]),
    {reductions, R1} = process_info(Owner, reductions),
    {memory, Memory} = process_info(Owner, memory),
    ct:log("owner: ~b reductions, ~b bytes", [R1 - R0, Memory]),
    true = R1 - R0 < 20000,
    true = Memory < 4 * 1024 * 1024.

%% @doc A Python exception in a cast is still logged (warning, domain
%% [python]), with its traceback.
cast_error_is_still_logged(_Config) ->
    ok = py_test_lib:capture_log(py_replies_capture, warning),
    try
        ok = py:cast(solo, '__main__', fail, []),
        receive
            {logged, #{level := warning, meta := #{domain := [python]},
                       msg := {Format, Args}}} ->
                Text = unicode:characters_to_binary(io_lib:format(Format, Args)),
                ct:log("logged: ~ts", [Text]),
                true = py_test_lib:contains(Text, <<"ZeroDivisionError">>),
                true = py_test_lib:contains(Text, <<"division by zero">>),
                true = py_test_lib:contains(Text, <<"in fail">>)
        after 5000 ->
            ct:fail(no_warning_logged)
        end
    after
        logger:remove_handler(py_replies_capture)
    end.

%% @doc An Erlang function's answer nested deeper than 10000 levels raises
%% the documented TypeError in Python; 10000 levels convert.
deep_callback_answer_is_a_type_error(_Config) ->
    ok = py:register_function(deep, fun([N]) -> nest(N) end),
    Call = <<"len(__import__('erlang').call('deep', n))">>,
    {ok, 1} = py:eval(Call, #{n => 10000}),
    Deep = {error, {'TypeError', <<"term nested deeper than 10000 levels">>}},
    Deep = py:eval(Call, #{n => 10001}),
    Deep = py:eval(Call, #{n => 20000}),
    {ok, 1} = py:eval(Call, #{n => 3}). % the port serves on

%% @doc Calls whose reply, holding a new reference, was written before
%% their caller timed out (the owner held it back) leave no object held:
%% the port releases them when the cancel comes.
late_reply_references_are_released(_Config) ->
    Held0 = held(),
    Owner = whereis(py_port_owner),
    ok = sys:suspend(Owner),
    try
        Callers = [spawn_monitor(fun() ->
                                         exit(py:call(default, '__main__', ref_after, [0],
                                                      #{}, 300))
                                 end) || _ <- lists:seq(1, 50)],
        %% Every caller timed out and sent its cancel before the owner
        %% forwards the replies, to aliases that are gone.
        [{error, timeout} = py_test_lib:await_exit(C, 10000, caller_hangs) || C <- Callers]
    after
        ok = sys:resume(Owner)
    end,
    ok = py_test_lib:wait_until(fun() -> held() =:= Held0 end, 5000),
    Held0 = held().

%% @doc Many calls that time out about when their result, a new
%% reference, is made (four callers at a time, on four contexts): whichever
%% way each race ends, no object stays held once the callers have exited.
racing_timeouts_leave_no_reference(_Config) ->
    Held0 = held(),
    Workers = [spawn_monitor(fun() -> exit(race(W, 50, [])) end) || W <- lists:seq(1, 4)],
    Results = lists:append([py_test_lib:await_exit(C, 60000, caller_hangs) || C <- Workers]),
    Timeouts = length([R || {error, timeout} = R <- Results]),
    ct:log("~b of ~b calls timed out", [Timeouts, length(Results)]),
    [] = [R || R <- Results, R =/= {error, timeout}, element(1, R) =/= ok],
    ok = py_test_lib:wait_until(fun() -> held() =:= Held0 end, 5000),
    Held0 = held().

%% @doc With trace on and py_port's stderr a pipe nobody reads, every
%% call is answered; the lines that did not fit are dropped, and their
%% number is written once stderr is read again.
trace_to_a_pipe_nobody_reads_never_blocks(Config) ->
    [{ok, 1} = py:call(default, builtins, len, [[x]], #{}, 5000)
     || _ <- lists:seq(1, ?TRACED_CALLS)],
    %% Reading stderr now: the port's trace thread writes what it holds,
    %% then how many lines it dropped; an exec after that is traced last.
    Cat = open_port({spawn_executable, os:find_executable("cat")},
                    [{args, [?config(fifo, Config)]}, {line, 4096}, binary]),
    try
        Before = read_lines(Cat, <<"lines dropped">>, []),
        ok = py:exec(<<"pass">>),
        Lines = Before ++ read_lines(Cat, <<"py_port trace: exec ">>, []),
        Dropped = lists:sum([binary_to_integer(N)
                             || L <- Lines,
                                {match, [N]} <- [re:run(L, "^py_port trace: (\\d+) lines dropped$",
                                                        [{capture, all_but_first, binary}])]]),
        Calls = length([L || <<"py_port trace: call ", _/binary>> = L <- Lines]),
        ct:log("~b call lines written, ~b lines dropped", [Calls, Dropped]),
        true = Dropped > 0,
        true = Calls + Dropped >= ?TRACED_CALLS
    after
        port_close(Cat)
    end.

%% @doc With trace on and stderr full (nobody reads it), stopping the
%% application still ends the Python process within the port's shutdown
%% budget: no thread of the port waits for stderr on the way out.
blocked_trace_does_not_keep_the_port_alive(_Config) ->
    [{ok, 1} = py:call(default, builtins, len, [[x]], #{}, 5000)
     || _ <- lists:seq(1, ?TRACED_CALLS)],
    {ok, OsPid} = py_test_lib:os_pid(),
    true = alive(OsPid),
    ok = application:stop(erlang_python),
    ok = py_test_lib:wait_until(fun() -> not alive(OsPid) end, 5000).

%% @doc A recording of the application holds casts, which get no reply
%% but an error: --replay does not wait for one, and prints the error.
replay_of_recorded_casts_does_not_wait(Config) ->
    ok = py:cast(math, sqrt, [4.0]),
    ok = py:cast(math, sqrt, [-1]),
    {ok, 3.0} = py:call(math, sqrt, [9]), % after both casts, on the one context
    ok = application:stop(erlang_python),
    Exe = application:get_env(erlang_python, port_executable,
                              filename:join(code:priv_dir(erlang_python), "py_port")),
    Out = os:cmd("timeout 60 '" ++ Exe ++ "' --replay '" ++ ?config(recording, Config)
                 ++ "' 2>/dev/null; echo \"status $?\""),
    ct:log("~ts", [Out]),
    Lines = string:split(string:trim(Out), "\n", all),
    "status 0" = lists:last(Lines),
    [_] = [L || "% cast: {error,{'ValueError'," ++ _ = L <- Lines],
    [_] = [L || "{ok,3.0}" = L <- Lines],
    [] = [L || "{ok,2.0}" = L <- Lines]. % a cast's result is not sent

%% @doc A large result (a reply of 64 KB and more) is freed once its reply
%% is out, so that its caller does not wait for that: here a list whose
%% freeing waits until the test opens a gate, from another context of the
%% default pool. Freed before the reply, the call would come back only
%% after the gate's 10 s timeout, with `freed' then [False]. The same for
%% a coroutine call that ends in its first step (answered as a synchronous
%% call, docs/asyncio.md).
large_result_is_freed_after_its_reply(_Config) ->
    [begin
         ok = py:exec(<<"gate.clear()\nfreed.clear()\n">>),
         {ok, List} = py:call('__main__', Function, [50000]),
         50000 = length(List),
         {ok, []} = py:eval(<<"freed">>),
         {ok, none} = py:eval(<<"gate.set()">>),
         ok = py_test_lib:wait_until(fun() -> py:eval(<<"freed">>) =:= {ok, [true]} end, 5000)
     end || Function <- [held_at_free, held_at_free_async]],
    ok.

%% @doc The owner forwards a big reply's payload and keeps no reference
%% to its frame: the node does not hold 16 MB (or 1 GB) for as long as the
%% owner has no other work that would collect its heap.
owner_keeps_no_big_frame(_Config) ->
    Owner = whereis(py_port_owner),
    Big = binary:copy(<<255, 0, 1, 2>>, 4 bsl 20), % not UTF-8: bytes in Python
    {ok, Big} = py:call(builtins, bytes, [Big]),
    %% A call to the owner is answered only after what it does on
    %% forwarding a frame.
    _ = sys:get_state(Owner),
    {binary, Held} = process_info(Owner, binary),
    [] = [Size || {_, Size, _} <- Held, Size >= 1 bsl 20].

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% How many Python objects the port holds for Erlang.
held() ->
    {ok, N} = py:eval(<<"__import__('erlang')._held()">>),
    N.

%% N calls, each in a process of its own that exits after it (releasing
%% what it owns), timing out from 2 ms before to 8 ms after the time the
%% call sleeps.
race(_W, 0, Acc) ->
    Acc;
race(W, N, Acc) ->
    Ms = 5 + (N * 7 + W) rem 15,
    Timeout = Ms + (N + W) rem 11 - 2,
    Caller = spawn_monitor(fun() ->
                                   exit(py:call(default, '__main__', ref_after, [Ms], #{},
                                                Timeout))
                           end),
    race(W, N - 1, [py_test_lib:await_exit(Caller, 10000, caller_hangs) | Acc]).

%% The lines Port reads, up to and including the first that contains
%% Part; fails after 10 s without it.
read_lines(Port, Part, Acc) ->
    receive
        {Port, {data, {eol, Line}}} ->
            case py_test_lib:contains(Line, Part) of
                true -> lists:reverse([Line | Acc]);
                false -> read_lines(Port, Part, [Line | Acc])
            end;
        {Port, {data, {noeol, Line}}} ->
            read_lines(Port, Part, [Line | Acc])
    after 10000 ->
        ct:fail({no_line_with, Part, length(Acc)})
    end.

%% Whether the OS process OsPid runs (a zombie does not).
alive(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status") of
        {ok, Status} -> not py_test_lib:contains(Status, <<"State:\tZ">>);
        {error, _} -> false
    end.

%% A list nested N deep.
nest(N) ->
    lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, N - 1)).
