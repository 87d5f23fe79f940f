%% @doc Crash containment: whatever kills py_port, the node lives, every
%% waiting caller is answered with how the port ended, and the port comes
%% back with its pools and registrations.
-module(py_crash_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([segfault_answers_with_sigsegv/1,
         abort_answers_with_sigabrt/1,
         os_exit_answers_with_status/1,
         kill_answers_running_and_queued_callers/1,
         restart_keeps_pools_and_registrations/1,
         restart_forgets_python_state/1,
         kill_fifty_times/1,
         crash_loop_stops_the_application/1,
         dying_node_takes_its_port/1]).

-define(APP, erlang_python).

all() ->
    [segfault_answers_with_sigsegv, abort_answers_with_sigabrt,
     os_exit_answers_with_status, kill_answers_running_and_queued_callers,
     restart_keeps_pools_and_registrations, restart_forgets_python_state,
     kill_fifty_times, crash_loop_stops_the_application, dying_node_takes_its_port].

suite() ->
    [{timetrap, {seconds, 300}}].

init_per_suite(Config) ->
    _ = application:stop(?APP),
    ok = load(),
    Config.

end_per_suite(_Config) ->
    _ = application:stop(?APP),
    application:unset_env(?APP, max_restarts),
    ok.

%% Each case starts from a fresh application that may restart its port
%% often (the crash loop case sets its own bound).
init_per_testcase(crash_loop_stops_the_application, Config) ->
    ok = application:set_env(?APP, max_restarts, 2),
    {ok, _} = application:ensure_all_started(?APP),
    Config;
init_per_testcase(_Case, Config) ->
    ok = application:set_env(?APP, max_restarts, 1000),
    {ok, _} = application:ensure_all_started(?APP),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = application:stop(?APP),
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc A segfault in an extension: the caller gets the signal.
segfault_answers_with_sigsegv(_Config) ->
    {error, {port_exited, {signal, 11, sigsegv}}} =
        py:exec(<<"import ctypes; ctypes.string_at(0)">>),
    ok = wait_serving().

%% @doc os.abort(): the caller gets SIGABRT.
abort_answers_with_sigabrt(_Config) ->
    {error, {port_exited, {signal, 6, sigabrt}}} = py:exec(<<"import os; os.abort()">>),
    ok = wait_serving().

%% @doc os._exit(3): the caller gets the exit status.
os_exit_answers_with_status(_Config) ->
    {error, {port_exited, {exit_status, 3}}} = py:exec(<<"import os; os._exit(3)">>),
    ok = wait_serving().

%% @doc kill -9 from outside answers the running call and the queued ones
%% at once, long before their timeouts.
kill_answers_running_and_queued_callers(_Config) ->
    {ok, [_]} = py_context_router:start_pool(one, 1),
    Callers = start_callers(one, 6),
    "" = kill(os_pid(), "-9"),
    [{error, {port_exited, {signal, 9, sigkill}}} = R || R <- results(Callers, 5000)],
    ok = wait_serving().

%% @doc After a restart, pools have their name, size and mode, and
%% registrations route as before.
restart_keeps_pools_and_registrations(_Config) ->
    {ok, [_, _, _]} = py_context_router:start_pool(io, 3),
    ok = py:register_pool(io, {json, dumps}),
    ok = py:register_pool(io, time),
    Before = py_context_router:list_pool_registrations(),
    "" = kill(os_pid(), "-9"),
    ok = wait_serving(),
    3 = py_context_router:num_contexts(io),
    {ok, worker} = pool_mode(io),
    Before = py_context_router:list_pool_registrations(),
    io = py_context_router:lookup_pool(json, dumps),
    {ok, <<"1">>} = py:call(json, dumps, [1]),
    {ok, none} = py:call(time, sleep, [0]).

%% @doc Python state of the dead process (names defined by exec) is gone.
restart_forgets_python_state(_Config) ->
    ok = py:exec(<<"remembered = 42">>),
    {ok, 42} = py:eval(<<"remembered">>),
    "" = kill(os_pid(), "-9"),
    ok = wait_serving(),
    {error, {'NameError', <<"name 'remembered' is not defined">>}} =
        py:eval(<<"remembered">>).

%% @doc 50 kills in a row, each with calls running and queued: every call
%% is answered, pools and registrations stay, and no OS or Erlang process
%% is left behind.
kill_fifty_times(_Config) ->
    {ok, [_, _]} = py_context_router:start_pool(io, 2),
    ok = py:register_pool(io, time),
    Registrations = py_context_router:list_pool_registrations(),
    ok = wait_serving(),
    Processes = length(processes()),
    OtherPorts = port_processes() -- current_port(),
    [begin
         Callers = start_callers(io, 5),
         "" = kill(os_pid(), "-9"),
         [{error, {port_exited, _}} = R || R <- results(Callers, 5000)],
         ok = wait_serving()
     end || _ <- lists:seq(1, 50)],
    2 = py_context_router:num_contexts(io),
    Registrations = py_context_router:list_pool_registrations(),
    {ok, none} = py:call(time, sleep, [0]),
    %% Of the 50 ports, only the current one (a monitor and its Python
    %% process) runs; py_port processes of others are as they were.
    [_, _] = Current = current_port(),
    OtherPorts = port_processes() -- Current,
    Processes = length(processes()).

%% @doc A port that keeps dying ends in the application stopping, not in
%% a loop of restarts.
crash_loop_stops_the_application(_Config) ->
    Mref = monitor(process, whereis(erlang_python_sup)),
    [begin
         "" = kill(os_pid(), "-9"),
         ok = wait_serving()
     end || _ <- [1, 2]],
    Last = current_port(),
    "" = kill(os_pid(), "-9"),
    receive {'DOWN', Mref, process, _, _} -> ok
    after 10000 -> ct:fail(application_still_running)
    end,
    ok = py_test_lib:wait_until(fun() ->
                        not lists:keymember(?APP, 1, application:which_applications())
                    end, 5000),
    {error, not_started} = py:call(math, sqrt, [16]),
    ok = py_test_lib:wait_until(fun() -> [P || P <- Last, lists:member(P, port_processes())] =:= [] end,
                    5000).

%% @doc A node that dies (halt, no clean stop) takes its py_port with it.
dying_node_takes_its_port(_Config) ->
    Ebin = filename:dirname(code:which(py)),
    %% The peer talks over its standard input and output: this test node
    %% need not be distributed.
    {ok, Peer, _Node} = peer:start_link(#{connection => standard_io, args => ["-pa", Ebin]}),
    {ok, _} = peer:call(Peer, application, ensure_all_started, [?APP]),
    {ok, OsPid} = peer:call(Peer, py, eval, [<<"__import__('os').getpid()">>]),
    Port = [integer_to_list(OsPid)],
    [_] = [P || P <- port_processes(), lists:member(P, Port)],
    unlink(Peer),
    catch peer:call(Peer, erlang, halt, [0], 1000),
    ok = py_test_lib:wait_until(fun() ->
                                    [P || P <- port_processes(), lists:member(P, Port)] =:= []
                                end, 5000).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

load() ->
    case application:load(?APP) of
        ok -> ok;
        {error, {already_loaded, ?APP}} -> ok
    end.

os_pid() ->
    {ok, Pid} = py_test_lib:os_pid(),
    Pid.

kill(OsPid, Signal) ->
    os:cmd("kill " ++ Signal ++ " " ++ integer_to_list(OsPid)).

%% N processes calling time.sleep(30) on Pool, returned once each is
%% waiting for its reply (so its request is running or queued).
start_callers(Pool, N) ->
    Self = self(),
    Callers = [spawn(fun() -> Self ! {result, self(), py:call(Pool, time, sleep, [30])} end)
               || _ <- lists:seq(1, N)],
    [ok = py_test_lib:wait_until(fun() ->
                         process_info(C, current_function) =:=
                             {current_function, {py, request_on, 3}}
                     end, 5000)
     || C <- Callers],
    Callers.

results(Callers, Ms) ->
    [receive {result, C, R} -> R after Ms -> ct:fail({not_answered, C}) end || C <- Callers].

%% Waits until the (restarted) port answers.
wait_serving() ->
    py_test_lib:wait_until(fun() -> py:call(math, sqrt, [16]) =:= {ok, 4.0} end, 15000).

pool_mode(Pool) ->
    case ets:lookup(py_pools, Pool) of
        [{Pool, Mode, _, _}] -> {ok, Mode};
        [] -> error
    end.

%% The current port's OS processes: the Python process and its monitor.
current_port() ->
    Python = integer_to_list(os_pid()),
    {ok, Stat} = file:read_file("/proc/" ++ Python ++ "/stat"),
    %% pid (comm) state ppid ...
    [_, AfterComm] = binary:split(Stat, <<") ">>),
    [_State, Parent | _] = binary:split(AfterComm, <<" ">>, [global]),
    lists:sort([binary_to_list(Parent), Python]).

%% OS processes running this application's py_port binary.
port_processes() ->
    Exe = filename:join(code:priv_dir(?APP), "py_port"),
    Out = os:cmd("pgrep -f -x '" ++ Exe ++ ".*' || true"),
    lists:sort(string:lexemes(Out, "\n")).

