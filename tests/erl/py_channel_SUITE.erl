%% @doc The port process and its protocol channel: a child forked by
%% Python never serves the protocol and never outlives the port, a port
%% that stops answering is found by the liveness check and replaced, a
%% frame that breaks the protocol ends the port, nothing quoted from the
%% port in an error is unbounded, a port stuck in start-up leaves no
%% process behind, and a port out of memory answers.
-module(py_channel_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([forked_child_exits_when_its_call_returns/1,
         forked_child_dies_with_the_port/1,
         fork_and_exec_still_work/1,
         started_process_ends_with_the_port/1,
         ping_is_answered_while_contexts_are_busy/1,
         stopped_port_is_replaced/1,
         stopped_port_dies_with_the_node/1,
         protocol_descriptors_are_high_and_close_on_exec/1,
         length_written_by_python_ends_the_port/1,
         undecodable_header_ends_the_port/1,
         bad_frame_report_quotes_it_short/1,
         garbage_before_ready_is_quoted_short/1,
         stuck_start_leaves_no_process/1,
         bad_liveness_env_is_refused/1,
         memory_limit_is_answered/1,
         truncated_replay_exits_2/1]).

-define(APP, erlang_python).
%% The liveness check of this suite: quick enough for a test, slack
%% enough for a shared machine.
-define(PING_INTERVAL, 200).
-define(PING_TIMEOUT, 2000).

all() ->
    [forked_child_exits_when_its_call_returns, forked_child_dies_with_the_port,
     fork_and_exec_still_work, started_process_ends_with_the_port,
     ping_is_answered_while_contexts_are_busy,
     stopped_port_is_replaced, stopped_port_dies_with_the_node,
     protocol_descriptors_are_high_and_close_on_exec,
     length_written_by_python_ends_the_port, undecodable_header_ends_the_port,
     bad_frame_report_quotes_it_short,
     garbage_before_ready_is_quoted_short, stuck_start_leaves_no_process,
     bad_liveness_env_is_refused, memory_limit_is_answered, truncated_replay_exits_2].

suite() ->
    [{timetrap, {seconds, 60}}].

init_per_suite(Config) ->
    _ = application:stop(?APP),
    ok = case application:load(?APP) of
             ok -> ok;
             {error, {already_loaded, ?APP}} -> ok
         end,
    %% A port_executable given to the test run holds for every case but
    %% the one that sets its own.
    [{port_executable, application:get_env(?APP, port_executable)} | Config].

end_per_suite(_Config) ->
    ok.

%% The cases that start the application in a way of their own do so
%% themselves.
init_per_testcase(Case, Config) when Case =:= ping_is_answered_while_contexts_are_busy;
                                     Case =:= stopped_port_dies_with_the_node;
                                     Case =:= garbage_before_ready_is_quoted_short;
                                     Case =:= stuck_start_leaves_no_process;
                                     Case =:= bad_liveness_env_is_refused;
                                     Case =:= truncated_replay_exits_2 ->
    [{app_env, []} | Config];
init_per_testcase(_Case, Config) ->
    py_test_lib:start_app([{max_restarts, 100},
                           {ping_interval, ?PING_INTERVAL},
                           {ping_timeout, ?PING_TIMEOUT}], Config).

end_per_testcase(_Case, Config) ->
    py_test_lib:stop_app(Config),
    [application:unset_env(?APP, Key)
     || Key <- [python_path, start_timeout, ping_interval, ping_timeout, max_restarts]],
    case ?config(port_executable, Config) of
        {ok, Exe} -> application:set_env(?APP, port_executable, Exe);
        undefined -> application:unset_env(?APP, port_executable)
    end.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc os.fork() in a call: the child, back from the call, exits with 0 and sends nothing.
forked_child_exits_when_its_call_returns(_Config) ->
    {ok, Child} = py:eval(<<"__import__('os').fork()">>),
    true = is_integer(Child) andalso Child > 0,
    %% Its status, from its parent: before the fix the child went on to
    %% wait for jobs, and waitpid() never returned.
    {ok, {Child, 0}} = py:eval(<<"__import__('os').waitpid(c, 0)">>, #{c => Child}, 10000),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc A forked child that stays in Python dies with the port that forked it.
forked_child_dies_with_the_port(_Config) ->
    ok = py:exec(<<"import os, time\n"
                   "forked = os.fork()\n"
                   "if forked == 0:\n"
                   "    time.sleep(600)\n"
                   "    os._exit(0)\n">>),
    {ok, Child} = py:eval(<<"forked">>),
    {ok, Python} = py_test_lib:os_pid(),
    true = alive(Child),
    py_test_lib:kill_9(Python),
    ok = py_test_lib:wait_until(fun() -> not alive(Child) end, 5000).

%% @doc subprocess (fork and exec) and os.fork() + os.execv() still work.
fork_and_exec_still_work(_Config) ->
    {ok, <<"hello\n">>} =
        py:eval(<<"__import__('subprocess').run(['echo', 'hello'], capture_output=True).stdout">>),
    ok = py:exec(<<"import os\n"
                   "def fork_exec():\n"
                   "    pid = os.fork()\n"
                   "    if pid == 0:\n"
                   "        os.execv('/bin/sh', ['sh', '-c', 'exit 7'])\n"
                   "    return os.waitpid(pid, 0)[1] >> 8\n">>),
    {ok, 7} = py:call('__main__', fork_exec, []).

%% @doc A process Python started (subprocess, no parent-death signal) ends with the port.
started_process_ends_with_the_port(Config) ->
    {ok, Sleeper} = py:eval(<<"__import__('subprocess').Popen(['sleep', '600']).pid">>),
    true = alive(Sleeper),
    %% A clean stop: the port exits on end of input, its monitor kills
    %% what is left of its process group.
    py_test_lib:stop_app(Config),
    ok = py_test_lib:wait_until(fun() -> not alive(Sleeper) end, 5000).

%% @doc py_port's reader answers ping with pong while every context is busy.
ping_is_answered_while_contexts_are_busy(_Config) ->
    {Port, _} = py_test_lib:open_py_port([]),
    {ok, [_]} = request(Port, {start_pool, r1, default, 1}),
    send(Port, {call, slow, default, time, sleep, [2], #{}}),
    T0 = erlang:monotonic_time(millisecond),
    pong = request(Port, {ping, r2}),
    true = erlang:monotonic_time(millisecond) - T0 < 1000,
    {ok, none} = reply(Port, slow),
    port_close(Port).

%% @doc SIGSTOP: callers get {port_exited, unresponsive}, the port is killed and replaced.
stopped_port_is_replaced(_Config) ->
    {ok, Python} = py_test_lib:os_pid(),
    Monitor = parent_of(Python),
    T0 = erlang:monotonic_time(millisecond),
    %% The sleep holds the reply back: the process stops within it (the
    %% stop may reach the other threads a moment after kill() returns).
    {error, {port_exited, unresponsive}} =
        py:exec(<<"import os, signal, time\n"
                  "os.kill(os.getpid(), signal.SIGSTOP)\n"
                  "time.sleep(5)\n">>, 30000),
    Took = erlang:monotonic_time(millisecond) - T0,
    ct:pal("answered after ~b ms (ping_timeout ~b ms)", [Took, ?PING_TIMEOUT]),
    true = Took >= ?PING_TIMEOUT andalso Took < ?PING_TIMEOUT + 5000,
    ok = py_test_lib:wait_until(fun() -> not alive(Python) andalso not alive(Monitor) end,
                                5000),
    ct:pal("gone ~b ms after the answer", [erlang:monotonic_time(millisecond) - T0 - Took]),
    ok = wait_serving(),
    {ok, NewPython} = py_test_lib:os_pid(),
    true = NewPython =/= Python.

%% @doc A stopped port and its monitor end when the node halts.
stopped_port_dies_with_the_node(_Config) ->
    Ebin = filename:dirname(code:which(py)),
    {ok, Peer, _Node} = peer:start_link(#{connection => standard_io, args => ["-pa", Ebin]}),
    ok = peer:call(Peer, application, load, [?APP]),
    %% No liveness check in the peer: the halt alone must end the port.
    ok = peer:call(Peer, application, set_env, [?APP, ping_interval, 3600000]),
    {ok, _} = peer:call(Peer, application, ensure_all_started, [?APP]),
    {ok, Python} = peer:call(Peer, py, eval, [<<"__import__('os').getpid()">>]),
    Monitor = parent_of(Python),
    "" = os:cmd("kill -STOP " ++ integer_to_list(Python)),
    ok = py_test_lib:wait_until(fun() -> state_of(Python) =:= $T end, 5000),
    unlink(Peer),
    T0 = erlang:monotonic_time(millisecond),
    catch peer:call(Peer, erlang, halt, [0], 1000),
    ok = py_test_lib:wait_until(fun() -> not alive(Python) andalso not alive(Monitor) end,
                                10000),
    ct:pal("gone ~b ms after the halt", [erlang:monotonic_time(millisecond) - T0]).

%% @doc The protocol descriptors are far from 0..255 and close-on-exec.
protocol_descriptors_are_high_and_close_on_exec(_Config) ->
    ok = py:exec(find_channel()),
    {ok, [In, Out]} = py:eval(<<"sorted(channel())">>),
    true = In >= 256 andalso Out >= 256,
    {ok, [true, true]} =
        py:eval(<<"[bool(__import__('fcntl').fcntl(fd, __import__('fcntl').F_GETFD) & 1)"
                  " for fd in channel()]">>).

%% @doc ff ff ff ff written by Python on the protocol: callers answered, port replaced.
length_written_by_python_ends_the_port(_Config) ->
    {ok, Python} = py_test_lib:os_pid(),
    ok = py:exec(find_channel()),
    T0 = erlang:monotonic_time(millisecond),
    %% Erlang's driver now waits for 4 GiB: the ping is never answered.
    {error, {port_exited, unresponsive}} =
        py:eval(<<"__import__('os').write(max(channel()), b'\\xff\\xff\\xff\\xff')">>, #{}, 30000),
    true = erlang:monotonic_time(millisecond) - T0 < ?PING_TIMEOUT + 5000,
    ok = py_test_lib:wait_until(fun() -> not alive(Python) end, 5000),
    ok = wait_serving().

%% @doc A frame whose routing header does not decode ends the port at once.
undecodable_header_ends_the_port(_Config) ->
    ok = py:exec(find_channel()),
    %% A frame of 4 bytes: header length 2, header <<1, 2>>.
    {error, {port_exited, {bad_frame, 4}}} =
        py:eval(<<"__import__('os').write(max(channel()), b'\\0\\0\\0\\4\\0\\2\\1\\2')">>, #{}, 30000),
    ok = wait_serving().

%% @doc The crash report of a bad frame of 1 MiB quotes 32 bytes of it, not the megabyte.
bad_frame_report_quotes_it_short(_Config) ->
    ok = py:exec(find_channel()),
    ok = py_test_lib:capture_log(?MODULE, error),
    try
        %% Header length 2, header <<1, 2>>, then 1 MiB of 'y'.
        {error, {port_exited, {bad_frame, 1048580}}} =
            py:eval(<<"__import__('os').write(max(channel()),"
                      " b'\\0\\x10\\0\\4\\0\\2\\1\\2' + b'y' * 1048576)">>, #{}, 30000),
        Report = receive_report(5000),
        Text = iolist_to_binary(logger_formatter:format(Report, #{})),
        ct:pal("report of ~b bytes", [byte_size(Text)]),
        true = byte_size(Text) < 16384,
        true = py_test_lib:contains(Text, <<"1048580">>)
    after
        logger:remove_handler(?MODULE)
    end,
    ok = wait_serving().

%% @doc A port_executable that writes a 1 MiB frame of garbage: the error quotes 32 bytes.
garbage_before_ready_is_quoted_short(Config) ->
    Exe = script(Config, "garbage.sh",
                 "printf '\\000\\020\\000\\000'\n"
                 "head -c 1048576 /dev/zero | tr '\\000' y\n"
                 "exec cat > /dev/null\n"),
    ok = py_test_lib:set_env([{port_executable, Exe}, {start_timeout, 10000}]),
    {error, Error} = application:ensure_all_started(?APP),
    {python_start_failed, {unexpected_frame, {1048576, <<"yyyy", _:28/binary>>}}} = why(Error),
    true = byte_size(term_to_binary(Error)) < 1024.

%% @doc A sitecustomize that never returns: start fails by timeout, no process left.
stuck_start_leaves_no_process(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "stuck_site"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, "sitecustomize.py"),
                         <<"import time\ntime.sleep(600)\n">>),
    ok = py_test_lib:set_env([{python_path, [Dir]}, {start_timeout, 2000}]),
    Self = self(),
    spawn(fun() -> Self ! {started, application:ensure_all_started(?APP)} end),
    %% The monitor and the Python process, found by the path in their
    %% command line.
    ok = py_test_lib:wait_until(fun() -> length(pids_of(Dir)) =:= 2 end, 5000),
    Pids = pids_of(Dir),
    receive
        {started, {error, Error}} ->
            {python_start_failed, timeout} = why(Error)
    after 10000 ->
        ct:fail(start_did_not_fail)
    end,
    T0 = erlang:monotonic_time(millisecond),
    ok = py_test_lib:wait_until(fun() -> not lists:any(fun alive/1, Pids) end, 5000),
    ct:pal("gone ~b ms after the failed start", [erlang:monotonic_time(millisecond) - T0]).

%% @doc ping_interval and ping_timeout must be positive integers.
bad_liveness_env_is_refused(_Config) ->
    ok = py_test_lib:set_env([{ping_interval, 0}]),
    {error, E1} = application:ensure_all_started(?APP),
    {?APP, {{bad_env, ping_interval, 0, _}, _}} = E1,
    ok = py_test_lib:set_env([{ping_interval, 1000}, {ping_timeout, soon}]),
    {error, E2} = application:ensure_all_started(?APP),
    {?APP, {{bad_env, ping_timeout, soon, _}, _}} = E2.

%% @doc Out of address space (prlimit): MemoryError answered, the port serves on.
memory_limit_is_answered(_Config) ->
    {ok, Python} = py_test_lib:os_pid(),
    Limit = vm_size_kb(Python) * 1024 + 256 * 1024 * 1024,
    "" = os:cmd("prlimit --pid " ++ integer_to_list(Python) ++ " --as="
                ++ integer_to_list(Limit) ++ ":"),
    {error, {'MemoryError', _}} = py:eval(<<"len(bytearray(1024 ** 3))">>),
    {ok, 4.0} = py:call(math, sqrt, [16]),
    {ok, Python} = py_test_lib:os_pid(),
    {ok, 1048576} = py:eval(<<"len(bytearray(1024 ** 2))">>).

%% @doc py_port --replay of a cut recording says so and exits 2.
truncated_replay_exits_2(Config) ->
    File = filename:join(?config(priv_dir, Config), "cut.rec"),
    Frame = term_to_binary({eval, r1, default, <<"1 + 1">>, #{}}),
    ok = file:write_file(File, [<<(byte_size(Frame)):32>>, Frame, <<100:32>>, <<131, 104>>]),
    Out = os:cmd(exe() ++ " --replay " ++ File ++ " 2>&1; echo status=$?"),
    ct:pal("~ts", [Out]),
    true = string:find(Out, "end of input inside a frame") =/= nomatch,
    true = lists:suffix("status=2\n", Out).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

exe() ->
    py_test_lib:py_port_exe().

%% Python code defining channel(): the descriptors of this process that
%% are the protocol pipes, found as the pipes shared with the monitor's
%% descriptors 0 and 1 (which are the original ones), other than 0 and 1.
find_channel() ->
    <<"import os\n"
      "def channel():\n"
      "    def link(path):\n"
      "        try:\n"
      "            return os.readlink(path)\n"
      "        except OSError:\n"
      "            return None\n"
      "    ends = {link(f'/proc/{os.getppid()}/fd/{n}') for n in (0, 1)}\n"
      "    return [int(f) for f in os.listdir('/proc/self/fd')\n"
      "            if int(f) > 2 and link(f'/proc/self/fd/{f}') in ends]\n">>.

%% The gen_server crash report of py_port_owner, logged within Ms.
receive_report(Ms) ->
    receive
        {logged, #{meta := #{mfa := {gen_server, error_info, _}}} = Event} -> Event;
        {logged, _} -> receive_report(Ms)
    after Ms ->
        ct:fail(no_crash_report)
    end.

%% Whether the OS process Pid runs (a zombie does not).
alive(Pid) ->
    case state_of(Pid) of
        gone -> false;
        $Z -> false;
        _ -> true
    end.

%% The state letter of /proc/Pid/stat, or gone.
state_of(Pid) ->
    case file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat") of
        {ok, Stat} ->
            [_, <<State, _/binary>>] = binary:split(Stat, <<") ">>),
            State;
        {error, _} ->
            gone
    end.

parent_of(Pid) ->
    {ok, Stat} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat"),
    [_, AfterComm] = binary:split(Stat, <<") ">>),
    [_State, Parent | _] = binary:split(AfterComm, <<" ">>, [global]),
    binary_to_integer(Parent).

vm_size_kb(Pid) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/status"),
    {match, [Kb]} = re:run(Status, "VmSize:\\s+(\\d+) kB", [{capture, all_but_first, binary}]),
    binary_to_integer(Kb).

%% OS processes whose command line holds Text.
pids_of(Text) ->
    Out = os:cmd("pgrep -f '" ++ Text ++ "' || true"),
    [list_to_integer(P) || P <- string:lexemes(Out, "\n")].

%% The reason py_port_owner gave, from the error of ensure_all_started.
why({?APP, {{shutdown, {failed_to_start_child, py_port_owner, Why}}, _}}) ->
    Why;
why(Other) ->
    ct:fail({unexpected_start_error, Other}).

script(Config, Name, Body) ->
    Path = filename:join(?config(priv_dir, Config), Name),
    ok = file:write_file(Path, ["#!/bin/sh\n", Body]),
    ok = file:change_mode(Path, 8#755),
    Path.

wait_serving() ->
    py_test_lib:wait_until(fun() -> py:call(math, sqrt, [16]) =:= {ok, 4.0} end, 15000).

send(Port, Request) ->
    true = port_command(Port, term_to_binary(Request)).

request(Port, Request) ->
    send(Port, Request),
    reply(Port, element(2, Request)).

reply(Port, ReplyTo) ->
    Hdr = term_to_binary(ReplyTo),
    Len = byte_size(Hdr),
    receive
        {Port, {data, <<Len:16, Hdr:Len/binary, Payload/binary>>}} ->
            binary_to_term(Payload)
    after 10000 ->
        ct:fail({no_reply, ReplyTo})
    end.
