%% @doc py_port run by hand (docs/debugging.md): `--version', the REPL,
%% `--record' and `--replay', `--trace' and its app env. Each case runs the
%% binary as an OS command, with its stdin, stdout and stderr in files.
-module(py_debug_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0]).
-export([version_names_python_and_ei/1,
         repl_prints_reply/1,
         repl_explains_typing_error/1,
         repl_converts_code_maps_and_binaries/1,
         repl_answers_erlang_calls/1,
         record_then_replay_gives_same_replies/1,
         trace_prints_a_line_per_request/1,
         trace_prints_a_line_per_coroutine_call/1,
         trace_env_variable_switches_trace_on/1,
         app_env_record_is_replayable/1]).

all() ->
    [version_names_python_and_ei, repl_prints_reply, repl_explains_typing_error,
     repl_converts_code_maps_and_binaries, repl_answers_erlang_calls,
     record_then_replay_gives_same_replies,
     trace_prints_a_line_per_request, trace_prints_a_line_per_coroutine_call,
     trace_env_variable_switches_trace_on, app_env_record_is_replayable].

suite() ->
    [{timetrap, {seconds, 60}}].

%% What the REPL prints first: the default pool it starts.
-define(START, "% {start_pool, default, 1}.\n{ok,[0]}\n").

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc --version names py_port, the Python of the ready event and the ei of this OTP.
version_names_python_and_ei(Config) ->
    {0, Out, _} = run(["--version"], "", Config),
    Version = binary_to_list(ready_python_version()),
    "erl_interface-" ++ Ei = filename:basename(code:lib_dir(erl_interface)),
    {match, _} = re:run(Out, "^py_port: 0\\.1\\.0$", [multiline]),
    {match, _} = re:run(Out, "^python: " ++ Version ++ " ", [multiline]),
    {match, _} = re:run(Out, "^libpython: /.*libpython", [multiline]),
    {match, _} = re:run(Out, "^ei: " ++ Ei ++ "$", [multiline]).

%% @doc A call typed in the REPL prints its reply; q. ends the session with status 0.
repl_prints_reply(Config) ->
    {0, Out, _} = run(["--repl"], "{call, default, math, sqrt, [16]}.\nq.\n", Config),
    ?START ++ "{ok,4.0}\n" = Out.

%% @doc A typing error is explained with its column and the next command still works.
repl_explains_typing_error(Config) ->
    In = "{call, default, math sqrt}.\nfrobnicate.\n{call, default, math, sqrt, [9]}.\n",
    {0, Out, _} = run(["--repl"], In, Config),
    ?START ++ "* column 22: expected ',' or '}'\n"
        "* unknown command 'frobnicate' (help. lists the commands)\n"
        "{ok,3.0}\n" = Out.

%% @doc Code typed as a string, Locals as a map and binaries reach Python as Erlang would send them.
repl_converts_code_maps_and_binaries(Config) ->
    In = "{eval, default, \"x * 2\", #{x => 21}}.\n"
        "{call, default, builtins, len, [<<\"abc\">>]}.\n"
        "{exec, default, <<\"y = 1\">>}.\n"
        "{start_pool, io, 2}.\n{call, io, operator, add, [1, 2.5]}.\n{stop_pool, io}.\n",
    {0, Out, _} = run(["--repl"], In, Config),
    ?START ++ "{ok,42}\n{ok,3}\nok\n{ok,[1,2]}\n{ok,3.5}\nok\n" = Out.

%% @doc With no Erlang to run it, a call of an Erlang function from Python
%% is printed and answered by NameError, and the session goes on.
repl_answers_erlang_calls(Config) ->
    In = "{eval, default, \"__import__('erlang').call('twice', 21)\"}.\n"
        "{eval, default, \"1 + 1\"}.\n",
    {0, Out, _} = run(["--repl"], In, Config),
    ?START ++ "% erlang.call, answered NameError (no Erlang here): {<<\"twice\">>,[21],{default,0}}\n"
        "{error,{'NameError',<<\"no Erlang function is registered as 'twice' "
        "(py:register_function/2,3)\">>}," ++ Rest = Out,
    {match, _} = re:run(Rest, "^\\{ok,2\\}$", [multiline]).

%% @doc A REPL session recorded with --record and run with --replay prints the same replies.
record_then_replay_gives_same_replies(Config) ->
    File = filename:join(?config(priv_dir, Config), "session.rec"),
    In = "{call, default, math, sqrt, [16]}.\n{eval, default, \"1 / 0\"}.\n"
        "{exec, default, \"z = 7\"}.\n{eval, default, \"z\"}.\n",
    {0, Out, _} = run(["--repl", "--record", File], In, Config),
    {0, Replayed, _} = run(["--replay", File], "", Config),
    Replies = [L || L <- string:split(Out, "\n", all), not lists:prefix("%", L)],
    Replies = [L || L <- string:split(Replayed, "\n", all), not lists:prefix("%", L)],
    ["{ok,[0]}", "{ok,4.0}", "{error,{'ZeroDivisionError'," ++ _, "ok", "{ok,7}", ""] = Replies,
    {match, _} = re:run(Replayed, "^% \\{call,2,default,math,sqrt,\\[16\\],#\\{\\}\\}$",
                        [multiline]).

%% @doc --trace writes one line per request on stderr with op, target, ReplyTo and time.
trace_prints_a_line_per_request(Config) ->
    In = "{call, default, math, sqrt, [16]}.\n{stop_pool, nopool}.\n",
    {0, _, Err} = run(["--repl", "--trace"], In, Config),
    %% A context queues its line once its reply is out, so the reader's
    %% line of the next request may come first: matched by op, not order.
    [_, _, _] = Lines = trace_lines(Err),
    [Start, Call, Stop] = [L || Op <- ["start_pool", "call", "stop_pool"], L <- Lines,
                                lists:prefix("py_port trace: " ++ Op ++ " ", L)],
    {match, _} = re:run(Start, "^py_port trace: start_pool reply_to=1 target=default "),
    {match, _} = re:run(Call, "^py_port trace: call reply_to=2 target=default frame=45B "
                              "body=25B read_to_reply=[0-9]+\\.[0-9]{3}ms by=context$"),
    {match, _} = re:run(Stop, "^py_port trace: stop_pool reply_to=3 target=nopool .*by=reader$").

%% @doc A coroutine call that waits is traced once its task has answered
%% it, by=task; one that ends in its first step is answered, and traced,
%% as a synchronous call.
trace_prints_a_line_per_coroutine_call(Config) ->
    In = "{exec, default, \"import asyncio\\n"
        "async def twice(x):\\n    await asyncio.sleep(0)\\n    return 2 * x\\n"
        "async def thrice(x):\\n    return 3 * x\"}.\n"
        "{call, default, '__main__', twice, [21]}.\n"
        "{call, default, '__main__', thrice, [21]}.\n",
    {0, Out, Err} = run(["--repl", "--trace"], In, Config),
    {match, _} = re:run(Out, "^\\{ok,42\\}\n\\{ok,63\\}$", [multiline]),
    [_, _, _, _] = Lines = trace_lines(Err),
    [Waited, Ended] = lists:sort([L || L <- Lines, lists:prefix("py_port trace: call ", L)]),
    {match, _} = re:run(Waited, "^py_port trace: call reply_to=3 target=default .*by=task$"),
    {match, _} = re:run(Ended, "^py_port trace: call reply_to=4 target=default .*by=context$").

%% @doc PY_PORT_TRACE=1 switches tracing on like --trace; without either there is no trace line.
trace_env_variable_switches_trace_on(Config) ->
    In = "{call, default, math, sqrt, [16]}.\n",
    {0, _, Traced} = run(["--repl"], In, [{env, "PY_PORT_TRACE=1 "} | Config]),
    [_, _] = trace_lines(Traced),
    {0, _, Quiet} = run(["--repl"], In, Config),
    [] = trace_lines(Quiet).

%% @doc The app env `record' makes the port record what Erlang sends; --replay then gives the same results.
app_env_record_is_replayable(Config) ->
    File = filename:join(?config(priv_dir, Config), "app.rec"),
    Config1 = py_test_lib:start_app([{record, File}, {trace, true}, {default_pool_size, 1}],
                                    Config),
    try
        {ok, 4.0} = py:call(math, sqrt, [16]),
        {ok, 2} = py:eval(<<"1 + 1">>)
    after
        py_test_lib:stop_app(Config1)
    end,
    {0, Replayed, _} = run(["--replay", File], "", Config),
    Lines = string:split(Replayed, "\n", all),
    ["% {start_pool," ++ _, "{ok,[0]}" | _] = Lines,
    [_] = [L || L <- Lines, lists:prefix("% {call,", L)],
    true = lists:member("{ok,4.0}", Lines),
    true = lists:member("{ok,2}", Lines).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

exe() ->
    filename:join(code:priv_dir(erlang_python), "py_port").

%% Runs py_port with Args and Input on stdin: {ExitStatus, Stdout, Stderr}.
%% Config may carry {env, "NAME=value "} to put before the command.
run(Args, Input, Config) ->
    Dir = ?config(priv_dir, Config),
    Base = filename:join(Dir, integer_to_list(erlang:unique_integer([positive]))),
    [In, Out, Err] = [Base ++ Ext || Ext <- [".in", ".out", ".err"]],
    ok = file:write_file(In, Input),
    Cmd = proplists:get_value(env, Config, "") ++ string:join([exe() | Args], " ")
        ++ " < " ++ In ++ " > " ++ Out ++ " 2> " ++ Err ++ "; echo $?",
    Status = list_to_integer(string:trim(os:cmd(Cmd))),
    {ok, O} = file:read_file(Out),
    {ok, E} = file:read_file(Err),
    {Status, binary_to_list(O), binary_to_list(E)}.

%% The trace lines of a stderr.
trace_lines(Err) ->
    [L || L <- string:split(Err, "\n", all), lists:prefix("py_port trace: ", L)].

%% Python's version as the port's ready event gives it.
ready_python_version() ->
    Port = open_port({spawn_executable, exe()}, [{packet, 4}, binary, exit_status, use_stdio]),
    receive
        {Port, {data, <<0:16, Event/binary>>}} ->
            {ready, #{python_version := Version}} = binary_to_term(Event),
            port_close(Port),
            Version
    after 10000 ->
        ct:fail(no_ready_event)
    end.
