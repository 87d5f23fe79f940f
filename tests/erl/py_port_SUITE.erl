%% @doc The py_port binary on its own, driven through a raw Erlang port:
%% the ready event, requests it cannot understand, frames it cannot trust,
%% and shutdown at end of input.
-module(py_port_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0]).
-export([ready_event/1,
         unknown_request_is_answered/1,
         bad_target_is_answered/1,
         unknown_pool_is_answered/1,
         start_pool_twice_returns_same_contexts/1,
         stop_pool_answers_running_call/1,
         non_term_frame_exits_2/1,
         zero_length_frame_exits_2/1,
         eof_exits_while_a_call_runs/1,
         eof_exits_with_a_python_thread_running/1,
         app_stop_leaves_no_port_process/1,
         no_polling_serves_calls/1,
         python_death_report_outlives_requests/1,
         bad_argument_exits_64/1]).

all() ->
    [ready_event, unknown_request_is_answered, bad_target_is_answered,
     unknown_pool_is_answered, start_pool_twice_returns_same_contexts,
     stop_pool_answers_running_call, non_term_frame_exits_2,
     zero_length_frame_exits_2, eof_exits_while_a_call_runs,
     eof_exits_with_a_python_thread_running, app_stop_leaves_no_port_process,
     no_polling_serves_calls, python_death_report_outlives_requests,
     bad_argument_exits_64].

suite() ->
    [{timetrap, {seconds, 30}}].

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc The first frame is the ready event with Python's version and the pid.
ready_event(_Config) ->
    {Port, #{python_version := Version, os_pid := OsPid, protocol := 1}} = open(),
    [_Major, _Minor | _] = binary:split(Version, <<".">>, [global]),
    true = is_integer(OsPid) andalso OsPid > 0,
    port_close(Port).

%% @doc An unknown request is answered with bad_request, and the port serves on.
unknown_request_is_answered(_Config) ->
    {Port, _} = open(),
    {error, {bad_request, Why}} = request(Port, {frobnicate, r1}),
    {_, _} = binary:match(Why, <<"unknown request">>),
    {ok, [_]} = request(Port, {start_pool, r2, default, 1}),
    {ok, 4.0} = request(Port, {call, r3, default, math, sqrt, [16], #{}}),
    port_close(Port).

%% @doc A target that is neither a pool nor {context, Id} is a bad request.
bad_target_is_answered(_Config) ->
    {Port, _} = open(),
    {error, {bad_request, <<"target must be a pool name, {context, Id} or {nested, Id}">>}} =
        request(Port, {exec, r1, 42, <<"x = 1">>}),
    {error, {bad_request, <<"call takes a tuple of 7 elements, not 4">>}} =
        request(Port, {call, r2, default, math}),
    port_close(Port).

%% @doc A request for a pool that does not run says so.
unknown_pool_is_answered(_Config) ->
    {Port, _} = open(),
    {error, {pool_not_started, nope}} = request(Port, {eval, r1, nope, <<"1">>, #{}}),
    port_close(Port).

%% @doc Starting a running pool returns its contexts; bad sizes are refused.
start_pool_twice_returns_same_contexts(_Config) ->
    {Port, _} = open(),
    {ok, [0, 1, 2]} = request(Port, {start_pool, r1, default, 3}),
    {ok, [0, 1, 2]} = request(Port, {start_pool, r2, default, 5}),
    {ok, [3]} = request(Port, {start_pool, r3, io, 1}),
    {error, {bad_pool_size, 0}} = request(Port, {start_pool, r4, other, 0}),
    {error, {bad_pool_size, 1025}} = request(Port, {start_pool, r5, other, 1025}),
    port_close(Port).

%% @doc Stopping a pool answers its running call at once, exactly once.
stop_pool_answers_running_call(_Config) ->
    {Port, _} = open(),
    {ok, [_]} = request(Port, {start_pool, r1, io, 1}),
    send(Port, {call, slow, io, time, sleep, [0.5], #{}}),
    send(Port, {call, queued, io, math, sqrt, [4], #{}}),
    ok = request(Port, {stop_pool, r2, io}),
    {error, {pool_stopped, io}} = reply(Port, slow),
    {error, {pool_stopped, io}} = reply(Port, queued),
    {error, {pool_not_started, io}} = request(Port, {stop_pool, r3, io}),
    %% The sleep ends; its result must not come as a second reply.
    {ok, [_]} = request(Port, {start_pool, r4, default, 1}),
    {ok, _} = request(Port, {eval, r5, default, <<"__import__('time').sleep(0.6)">>, #{}}),
    nothing = flush(Port),
    port_close(Port).

%% @doc A frame that is not a term cannot be trusted: exit status 2.
non_term_frame_exits_2(_Config) ->
    {Port, _} = open(),
    true = port_command(Port, <<1, 2, 3>>),
    2 = exit_status(Port).

%% @doc A frame of length 0 cannot be trusted: exit status 2.
zero_length_frame_exits_2(_Config) ->
    Port = open_port({spawn_executable, exe()}, [binary, exit_status, use_stdio]),
    true = port_command(Port, <<0, 0, 0, 0>>),
    2 = exit_status(Port).

%% @doc End of input stops the port within a second, also when a context is
%% inside a long call.
eof_exits_while_a_call_runs(Config) ->
    Marker = filename:join(?config(priv_dir, Config), "sleeping"),
    {Port, #{os_pid := OsPid}} = open(),
    {ok, [_]} = request(Port, {start_pool, r1, default, 1}),
    Code = <<"import time\nopen(m, 'w').close()\ntime.sleep(30)">>,
    send(Port, {eval, r2, default, <<"exec(c, {'m': m})">>,
                #{c => Code, m => list_to_binary(Marker)}}),
    ok = py_test_lib:wait_until(fun() -> filelib:is_regular(Marker) end, 5000),
    port_close(Port),
    gone = wait_gone(OsPid, 2000).

%% @doc A Python thread that never ends does not keep the port alive.
eof_exits_with_a_python_thread_running(_Config) ->
    {Port, #{os_pid := OsPid}} = open(),
    {ok, [_]} = request(Port, {start_pool, r1, default, 1}),
    ok = request(Port, {exec, r2, default,
                        <<"import threading, time\n"
                          "threading.Thread(target=time.sleep, args=(60,)).start()\n">>}),
    port_close(Port),
    gone = wait_gone(OsPid, 2000).

%% @doc Stopping the application, with a call in flight, ends py_port.
app_stop_leaves_no_port_process(_Config) ->
    {ok, _} = application:ensure_all_started(erlang_python),
    {ok, OsPid} = py_test_lib:os_pid(),
    Self = self(),
    Caller = spawn(fun() -> Self ! {result, py:call(time, sleep, [30])} end),
    %% The request is sent once the caller waits for its reply.
    ok = py_test_lib:wait_until(fun() ->
                                        process_info(Caller, current_function) =:=
                                            {current_function, {py, request_on, 3}}
                                end, 5000),
    ok = application:stop(erlang_python),
    receive {result, Result} -> {error, {port_exited, _}} = Result
    after 5000 -> ct:fail({caller_not_answered, Caller})
    end,
    gone = wait_gone(OsPid, 2000).

%% @doc With --spin-us 0 idle contexts only sleep, and calls are served.
no_polling_serves_calls(_Config) ->
    {Port, _} = open(["--spin-us", "0"]),
    {ok, [_, _]} = request(Port, {start_pool, r1, default, 2}),
    [{ok, 2.0} = request(Port, {call, N, default, math, sqrt, [4], #{}})
     || N <- lists:seq(1, 100)],
    port_close(Port).

%% @doc When the Python process dies, the monitor reports how, and keeps
%% the channel open until Erlang closes the port: requests written after
%% the report are taken, not refused with EPIPE (which would close the
%% port on `epipe' before a report still in the pipe is read), and closing
%% the port ends the monitor.
python_death_report_outlives_requests(_Config) ->
    process_flag(trap_exit, true),
    {Port, #{os_pid := OsPid}} = open(),
    {os_pid, Monitor} = erlang:port_info(Port, os_pid),
    {ok, [_]} = request(Port, {start_pool, r1, default, 1}),
    [] = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    {exited, {signal, 9, sigkill}} = event(Port, exited),
    [send(Port, {call, N, default, math, sqrt, [4], #{}}) || N <- lists:seq(1, 100)],
    receive {'EXIT', Port, Reason} -> ct:fail({port_closed_by_itself, Reason})
    after 0 -> {connected, _} = erlang:port_info(Port, connected)
    end,
    port_close(Port),
    gone = wait_gone(Monitor, 2000).

%% @doc An argument py_port does not know ends it with status 64.
bad_argument_exits_64(_Config) ->
    Port = open_port({spawn_executable, exe()},
                     [{packet, 4}, binary, exit_status, use_stdio, {args, ["--spin-us", "x"]}]),
    64 = exit_status(Port).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

exe() ->
    py_test_lib:py_port_exe().

%% Opens py_port and reads its ready event.
open() ->
    open([]).

open(Args) ->
    py_test_lib:open_py_port(Args).

send(Port, Request) ->
    true = port_command(Port, term_to_binary(Request)).

request(Port, Request) ->
    request(Port, Request, 10000).

request(Port, Request, Timeout) ->
    send(Port, Request),
    reply(Port, element(2, Request), Timeout).

reply(Port, ReplyTo) ->
    reply(Port, ReplyTo, 10000).

%% The payload of the reply whose header is ReplyTo.
reply(Port, ReplyTo, Timeout) ->
    Hdr = term_to_binary(ReplyTo),
    Len = byte_size(Hdr),
    receive
        {Port, {data, <<Len:16, Hdr:Len/binary, Payload/binary>>}} ->
            binary_to_term(Payload)
    after Timeout ->
        ct:fail({no_reply, ReplyTo})
    end.

%% Any frame still in the mailbox, after a last bounded wait.
flush(Port) ->
    receive {Port, {data, Frame}} -> {unexpected, Frame}
    after 200 -> nothing
    end.

%% The next event (empty routing header) tagged Tag, others skipped.
event(Port, Tag) ->
    receive
        {Port, {data, <<0:16, Event/binary>>}} ->
            case binary_to_term(Event) of
                Term when element(1, Term) =:= Tag -> Term;
                _Other -> event(Port, Tag)
            end
    after 5000 ->
        ct:fail({no_event, Tag})
    end.

exit_status(Port) ->
    receive {Port, {exit_status, Status}} -> Status
    after 5000 -> ct:fail(port_did_not_exit)
    end.

%% Waits until no process OsPid exists, for at most Ms.
wait_gone(OsPid, Ms) when Ms > 0 ->
    case os:cmd("kill -0 " ++ integer_to_list(OsPid) ++ " 2>&1") of
        "" ->
            receive after 20 -> ok end,
            wait_gone(OsPid, Ms - 20);
        _NoSuchProcess ->
            gone
    end;
wait_gone(_OsPid, _Ms) ->
    still_running.
