%% Common Test suite of the `py' API against the real port binary
%% (priv/py_port). The application runs with a default pool of 4 contexts
%% and py_SUITE_data/pylib on Python's path (suite_helpers.py: calls whose
%% progress a test can wait for, instead of sleeping).
-module(py_SUITE).

-include_lib("common_test/include/ct.hrl").

%% Common Test callbacks
-export([all/0]).
-export([suite/0]).
-export([groups/0]).
-export([init_per_suite/1]).
-export([end_per_suite/1]).
-export([init_per_group/2]).
-export([end_per_group/2]).
-export([end_per_testcase/2]).

%% calls
-export([call_sqrt/1]).
-export([call_dotted_module/1]).
-export([call_attribute_path/1]).
-export([call_binary_names/1]).
-export([call_kwargs/1]).
-export([call_frame_builtins_need_a_namespace/1]).
-export([call_timeout_infinity/1]).
-export([guide_examples/1]).
%% eval and exec
-export([eval_expression/1]).
-export([eval_locals/1]).
-export([eval_chardata/1]).
-export([exec_then_call_main/1]).
-export([exec_visible_on_every_context/1]).
-export([exec_with_timeout/1]).
%% errors
-export([zero_division/1]).
-export([value_error/1]).
-export([module_not_found/1]).
-export([attribute_not_found/1]).
-export([syntax_error_eval/1]).
-export([syntax_error_exec/1]).
-export([traceback_logged_at_debug/1]).
%% timeouts and parallel callers
-export([timeout_drops_late_reply/1]).
-export([slow_call_does_not_block_others/1]).
-export([concurrent_callers/1]).
%% output from Python
-export([print_does_not_break/1]).
-export([fd1_write_does_not_break/1]).
-export([child_output_does_not_break/1]).
%% conversion, Erlang to Python
-export([to_python_integers/1]).
-export([to_python_float/1]).
-export([to_python_booleans/1]).
-export([to_python_none/1]).
-export([to_python_atom/1]).
-export([to_python_utf8_binary/1]).
-export([to_python_non_utf8_binary/1]).
-export([to_python_bytes_tuple/1]).
-export([to_python_list/1]).
-export([to_python_empty_list/1]).
-export([to_python_charlist/1]).
-export([to_python_tuple/1]).
-export([to_python_map/1]).
-export([to_python_pid/1]).
-export([to_python_ref/1]).
-export([to_python_improper_list/1]).
-export([to_python_fun/1]).
-export([to_python_port/1]).
-export([to_python_bitstring/1]).
-export([to_python_too_deep/1]).
-export([to_python_depth_limit/1]).
-export([to_python_kwargs_keys/1]).
-export([to_python_locals_keys/1]).
-export([to_python_key_collision/1]).
%% conversion, Python to Erlang
-export([from_python_int/1]).
-export([from_python_bignum/1]).
-export([from_python_float/1]).
-export([from_python_special_floats/1]).
-export([from_python_constants/1]).
-export([from_python_str/1]).
-export([from_python_lone_surrogate/1]).
-export([from_python_bytes/1]).
-export([from_python_noncontiguous_memoryview/1]).
-export([from_python_atom/1]).
-export([from_python_long_atom/1]).
-export([from_python_list/1]).
-export([from_python_tuple/1]).
-export([from_python_dict/1]).
-export([from_python_set/1]).
-export([from_python_pid_ref/1]).
-export([from_python_key_collision/1]).
-export([from_python_no_mapping/1]).
-export([from_python_too_deep/1]).
-export([from_python_self_loop/1]).
-export([nested_round_trip/1]).
-export([large_binary_round_trip/1,
         large_binaries_written_in_place/1]).
%% a dying port
-export([killed_port_answers_caller/1]).
%% start failures
-export([bad_python_home/1]).
-export([broken_stdlib_module/1]).
-export([missing_executable/1]).
-export([refused_pool_size/1]).

-define(POOL_SIZE, 4).
-define(APP, erlang_python).

%%% ==========================================================================
%%% Common Test callbacks
%%% ==========================================================================

all() ->
    [{group, calls},
     {group, eval_exec},
     {group, errors},
     {group, parallel},
     {group, output},
     {group, to_python},
     {group, from_python},
     {group, port_death},
     {group, start_failure}].

suite() ->
    [{timetrap, {seconds, 60}}].

groups() ->
    [{calls, [], [call_sqrt, call_dotted_module, call_attribute_path,
                  call_binary_names, call_kwargs, call_frame_builtins_need_a_namespace,
                  call_timeout_infinity,
                  guide_examples]},
     {eval_exec, [], [eval_expression, eval_locals, eval_chardata,
                      exec_then_call_main, exec_visible_on_every_context,
                      exec_with_timeout]},
     {errors, [], [zero_division, value_error, module_not_found,
                   attribute_not_found, syntax_error_eval, syntax_error_exec,
                   traceback_logged_at_debug]},
     {parallel, [], [timeout_drops_late_reply, slow_call_does_not_block_others,
                     concurrent_callers]},
     {output, [], [print_does_not_break, fd1_write_does_not_break,
                   child_output_does_not_break]},
     {to_python, [], [to_python_integers, to_python_float, to_python_booleans,
                      to_python_none, to_python_atom, to_python_utf8_binary,
                      to_python_non_utf8_binary, to_python_bytes_tuple,
                      to_python_list, to_python_charlist, to_python_empty_list,
                      to_python_tuple, to_python_map, to_python_pid,
                      to_python_ref, to_python_improper_list, to_python_fun,
                      to_python_port, to_python_bitstring, to_python_too_deep,
                      to_python_depth_limit, to_python_kwargs_keys,
                      to_python_locals_keys, to_python_key_collision]},
     {from_python, [], [from_python_int, from_python_bignum, from_python_float,
                        from_python_special_floats, from_python_constants,
                        from_python_str, from_python_lone_surrogate,
                        from_python_bytes, from_python_noncontiguous_memoryview,
                        from_python_atom, from_python_long_atom,
                        from_python_list, from_python_tuple, from_python_dict,
                        from_python_set, from_python_pid_ref,
                        from_python_key_collision, from_python_no_mapping,
                        from_python_too_deep, from_python_self_loop,
                        nested_round_trip, large_binary_round_trip,
                        large_binaries_written_in_place]},
     {port_death, [], [killed_port_answers_caller]},
     {start_failure, [], [bad_python_home, broken_stdlib_module,
                          missing_executable, refused_pool_size]}].

init_per_suite(Config) ->
    PyLib = filename:join(?config(data_dir, Config), "pylib"),
    py_test_lib:start_app([{default_pool_size, ?POOL_SIZE}, {python_path, [PyLib]}], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

init_per_group(start_failure, Config) ->
    ok = application:stop(?APP),
    Config;
init_per_group(_Group, Config) ->
    Config.

end_per_group(start_failure, Config) ->
    py_test_lib:restart_app(Config);
end_per_group(_Group, _Config) ->
    ok.

%% Puts back the suite's env after the start-failure cases changed it.
end_per_testcase(_Case, Config) ->
    application:unset_env(?APP, port_env),
    application:unset_env(?APP, port_executable),
    py_test_lib:set_env(?config(app_env, Config)).

%%% ==========================================================================
%%% calls
%%% ==========================================================================

%% @doc A module function called with positional arguments.
call_sqrt(_Config) ->
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc A dotted module name is imported as a submodule.
call_dotted_module(_Config) ->
    {ok, <<"b">>} = py:call('os.path', basename, [<<"/a/b">>]).

%% @doc A dotted function name is an attribute path on the module.
call_attribute_path(_Config) ->
    {ok, <<"b">>} = py:call(os, 'path.basename', [<<"/a/b">>]).

%% @doc Module and function may be given as binaries.
call_binary_names(_Config) ->
    {ok, 4.0} = py:call(<<"math">>, <<"sqrt">>, [16]),
    {ok, <<"b">>} = py:call(<<"os">>, <<"path.basename">>, [<<"/a/b">>]).

%% @doc A function is called with no Python frame around it: the builtins
%% that read their caller's frame when given no namespace raise
%% CPython's SystemError, and work given one (docs/api.md, py:call).
call_frame_builtins_need_a_namespace(_Config) ->
    {error, {'SystemError', Why}} = py:call(builtins, eval, [<<"1+1">>]),
    {match, _} = re:run(Why, <<"frame">>), % "frame does not exist" to 3.12 at least
    {ok, 2} = py:call(builtins, eval, [<<"1+1">>, #{}]),
    {ok, 2} = py:eval(<<"1+1">>).

%% @doc Keyword arguments, keyed by atoms or binaries.
call_kwargs(_Config) ->
    {ok, 255} = py:call(builtins, int, [<<"ff">>], #{base => 16}),
    {ok, 255} = py:call(builtins, int, [<<"ff">>], #{<<"base">> => 16}),
    {ok, <<"1-2">>} = py:call(builtins, str, [<<"1-2">>], #{}).

%% @doc A call with an infinite timeout returns like any other.
call_timeout_infinity(_Config) ->
    {ok, 4.0} = py:call(math, sqrt, [16], #{}, infinity).

%% @doc The examples of the pools guide that need no pool of their own.
guide_examples(_Config) ->
    {ok, 4.0} = py:call(math, sqrt, [16]),
    {ok, <<"{\"a\": 1}">>} = py:call(json, dumps, [#{a => 1}]),
    {ok, 6} = py:eval(<<"2 + 4">>).

%%% ==========================================================================
%%% eval and exec
%%% ==========================================================================

%% @doc eval returns the value of an expression.
eval_expression(_Config) ->
    {ok, 6} = py:eval(<<"2 + 4">>),
    {ok, [0, 1, 4]} = py:eval(<<"[i * i for i in range(3)]">>).

%% @doc eval sees its locals, keyed by atoms or binaries.
eval_locals(_Config) ->
    {ok, 5} = py:eval(<<"x + y">>, #{x => 2, y => 3}),
    {ok, 5} = py:eval(<<"x + y">>, #{<<"x">> => 2, <<"y">> => 3}),
    {ok, 10} = py:eval(<<"x * 2">>, #{x => 5}, 5000).

%% @doc Code given as a string or iolist is sent as UTF-8.
eval_chardata(_Config) ->
    {ok, 2} = py:eval("1 + 1"),
    {ok, 3} = py:eval([<<"1">>, " + ", [$2]]),
    {ok, <<"é"/utf8>>} = py:eval("'é'").

%% @doc A function defined by exec is callable as `__main__.name'.
exec_then_call_main(_Config) ->
    ok = py:exec(<<"def double(x): return 2 * x">>),
    {ok, 42} = py:call('__main__', double, [21]),
    {ok, 42} = py:eval(<<"double(21)">>).

%% @doc What exec defines is visible to every context of the pool.
exec_visible_on_every_context(_Config) ->
    ok = py:exec(<<"import threading, time\n"
                   "def double_where(x):\n"
                   "    time.sleep(0.05)\n"
                   "    return (2 * x, threading.get_ident())\n">>),
    Inputs = lists:seq(1, 10 * ?POOL_SIZE),
    Callers = [{I, spawn_monitor(fun() ->
                                         exit(py:call('__main__', double_where, [I]))
                                 end)}
               || I <- Inputs],
    Threads = [begin
                   {ok, {Double, Thread}} = py_test_lib:await_exit(Caller, 10000, {no_result, I}),
                   Double = 2 * I,
                   Thread
               end
               || {I, Caller} <- Callers],
    ?POOL_SIZE = length(lists:usort(Threads)).

%% @doc exec with an explicit timeout.
exec_with_timeout(_Config) ->
    ok = py:exec(<<"exec_with_timeout = 1">>, 5000),
    {ok, 1} = py:eval(<<"exec_with_timeout">>).

%%% ==========================================================================
%%% errors
%%% ==========================================================================

%% @doc A Python exception becomes {error, {Name, Message}}.
zero_division(_Config) ->
    {error, {'ZeroDivisionError', <<"division by zero">>}} = py:eval(<<"1/0">>).

%% @doc An exception raised by a called function.
value_error(_Config) ->
    {error, {'ValueError', <<"invalid literal for int() with base 10: 'x'">>}} =
        py:call(builtins, int, [<<"x">>]).

%% @doc An unknown module.
module_not_found(_Config) ->
    {error, {'ModuleNotFoundError', <<"No module named 'no_such_module'">>}} =
        py:call(no_such_module, f, []).

%% @doc An unknown function of a known module.
attribute_not_found(_Config) ->
    {error, {'AttributeError', Message}} = py:call(math, no_such_function, []),
    true = py_test_lib:contains(Message, <<"no_such_function">>),
    {error, {'AttributeError', _}} = py:call(os, 'path.no_such_function', []).

%% @doc eval of a statement or broken code is a SyntaxError.
syntax_error_eval(_Config) ->
    {error, {'SyntaxError', _}} = py:eval(<<"1 +">>),
    {error, {'SyntaxError', _}} = py:eval(<<"x = 1">>).

%% @doc exec of broken code is a SyntaxError, and the port keeps serving.
syntax_error_exec(_Config) ->
    {error, {'SyntaxError', _}} = py:exec(<<"def f(:\n">>),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc The traceback is logged at debug level in the domain [python].
traceback_logged_at_debug(_Config) ->
    ok = py_test_lib:capture_log(py_suite_capture, debug),
    ok = logger:set_module_level(py, debug),
    try
        {error, {'ZeroDivisionError', _}} = py:eval(<<"1/0">>),
        receive
            {logged, #{level := debug, meta := #{domain := [python]},
                       msg := {_Format, [_Name, _Message, Traceback]}}} ->
                true = py_test_lib:contains(Traceback, <<"division by zero">>)
        after 5000 ->
            ct:fail(no_traceback_logged)
        end
    after
        logger:unset_module_level(py),
        logger:remove_handler(py_suite_capture)
    end.

%%% ==========================================================================
%%% timeouts and parallel callers
%%% ==========================================================================

%% @doc A timed-out call returns {error, timeout}, is cancelled in the port
%% (its Python code stops at the next bytecode once the C call it is in,
%% time.sleep, returns), and no late reply reaches the caller's mailbox.
timeout_drops_late_reply(_Config) ->
    {error, timeout} = py:call(time, sleep, [1], #{}, 100),
    Token = py_test_lib:token(),
    {error, timeout} = py:call(suite_helpers, sleep_then_set, [Token, 1], #{}, 100),
    %% The sleep ends after 1 s; the event is never set: the code after it
    %% was interrupted.
    {ok, false} = py:call(suite_helpers, wait_for, [Token, 2]),
    receive Stale -> ct:fail({stale_message, Stale}) after 500 -> ok end.

%% @doc A slow call does not hold up a quick one.
slow_call_does_not_block_others(_Config) ->
    Token = py_test_lib:token(),
    Slow = spawn_monitor(fun() ->
        exit(py:call(suite_helpers, set_then_sleep, [Token, 2], #{}, 10000))
    end),
    {ok, true} = py:call(suite_helpers, wait_for, [Token, 10]),
    %% The slow call is sleeping now.
    {ok, 4.0} = py:call(math, sqrt, [16], #{}, 1000),
    {ok, 2} = py_test_lib:await_exit(Slow, 10000, slow_call_not_answered).

%% @doc 200 processes making 50 calls each all get their own results.
concurrent_callers(_Config) ->
    Callers = [spawn_monitor(fun() -> exit(add_many(I, 50)) end)
               || I <- lists:seq(1, 200)],
    [done = py_test_lib:await_exit(Caller, 50000, {caller_not_done, Pid})
     || {Pid, _} = Caller <- Callers],
    ok.

add_many(I, N) ->
    lists:foreach(fun(J) ->
                          Sum = I * 1000000 + J,
                          {ok, Sum} = py:call(operator, add, [I * 1000000, J])
                  end, lists:seq(1, N)),
    done.

%%% ==========================================================================
%%% output from Python
%%% ==========================================================================

%% @doc print() does not reach the protocol stream.
print_does_not_break(_Config) ->
    ok = py:exec(<<"import sys\n"
                   "print('py_SUITE: print to stdout')\n"
                   "sys.stdout.flush()\n">>),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc Bytes written on descriptor 1, even ones that look like a frame,
%% do not reach the protocol stream.
fd1_write_does_not_break(_Config) ->
    {ok, 4} = py:call(os, write, [1, {bytes, <<"junk">>}]),
    {ok, 9} = py:call(os, write, [1, {bytes, <<0, 0, 0, 5, "hello">>}]),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc A child process writing on its standard output does not either.
child_output_does_not_break(_Config) ->
    ok = py:exec(<<"import subprocess\n"
                   "subprocess.run(['echo', 'py_SUITE: child output'], check=True)\n">>),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%%% ==========================================================================
%%% conversion, Erlang to Python (docs/types.md)
%%% ==========================================================================

%% @doc Integers, small and big, arrive as int with the same value.
to_python_integers(_Config) ->
    Ints = [0, 1, -1, 255, 256, 2147483647, -2147483648, 2147483648,
            9223372036854775807, -9223372036854775808, 9223372036854775808,
            18446744073709551615, 18446744073709551616,
            1 bsl 100, -(1 bsl 100)],
    [{ok, true} = py:eval(<<"type(x) is int and repr(x) == r">>,
                          #{x => I, r => integer_to_binary(I)})
     || I <- Ints],
    [{ok, I} = py:eval(<<"x">>, #{x => I}) || I <- Ints],
    ok.

%% @doc A float arrives as float.
to_python_float(_Config) ->
    {ok, true} = py:eval(<<"type(x) is float and x == 1.5">>, #{x => 1.5}),
    {ok, -2.5e-300} = py:eval(<<"x">>, #{x => -2.5e-300}).

%% @doc true and false arrive as True and False.
to_python_booleans(_Config) ->
    {ok, true} = py:eval(<<"t is True and f is False">>, #{t => true, f => false}).

%% @doc none, nil and undefined arrive as None.
to_python_none(_Config) ->
    {ok, true} = py:eval(<<"a is None and b is None and c is None">>,
                         #{a => none, b => nil, c => undefined}).

%% @doc Other atoms arrive as erlang.Atom, equal to the str of the name.
to_python_atom(_Config) ->
    {ok, true} = py:eval(<<"isinstance(x, __import__('erlang').Atom) and x == 'hello'">>,
                         #{x => hello}),
    {ok, hello} = py:eval(<<"x">>, #{x => hello}),
    {ok, 'héllo wörld'} = py:eval(<<"x">>, #{x => 'héllo wörld'}).

%% @doc A UTF-8 binary arrives as str.
to_python_utf8_binary(_Config) ->
    {ok, true} = py:eval(<<"type(x) is str and x == 'h\\u00e9llo \\U0001F600'">>,
                         #{x => <<"héllo 😀"/utf8>>}),
    {ok, true} = py:eval(<<"x == ''">>, #{x => <<>>}),
    %% ASCII text of every length around the 8-byte runs the check skips,
    %% made by a path of its own: the same str as Python's decoder makes,
    %% equal, hashing alike (a dict key), and exact in length.
    Texts = [list_to_binary(lists:sublist("abcdefghijklmnopqrstuvwxyz0123456789", N))
             || N <- [1, 2, 7, 8, 9, 15, 16, 17, 36]],
    {ok, true} = py:eval(<<"all(type(t) is str and t == b.decode() and len(t) == len(b)"
                           " and {b.decode(): 1}[t] == 1 for t, b in zip(xs, bs))">>,
                         #{xs => Texts, bs => [{bytes, T} || T <- Texts]}),
    {ok, Texts} = py:eval(<<"x">>, #{x => Texts}),
    {ok, true} = py:eval(<<"x == 'a\\x00b' and len(x) == 3">>, #{x => <<"a", 0, "b">>}).

%% @doc A binary that is not UTF-8 arrives as bytes.
to_python_non_utf8_binary(_Config) ->
    {ok, true} = py:eval(<<"type(x) is bytes and x == b'\\xff\\x00a'">>,
                         #{x => <<255, 0, $a>>}),
    {ok, <<255, 0, $a>>} = py:eval(<<"x">>, #{x => <<255, 0, $a>>}).

%% @doc {bytes, B} arrives as bytes even when B is UTF-8.
to_python_bytes_tuple(_Config) ->
    {ok, true} = py:eval(<<"type(x) is bytes and x == b'abc'">>,
                         #{x => {bytes, <<"abc">>}}),
    {ok, <<"abc">>} = py:eval(<<"x">>, #{x => {bytes, <<"abc">>}}).

%% @doc A list arrives as list.
to_python_list(_Config) ->
    {ok, true} = py:eval(<<"type(x) is list and x == [1, 'a', [2.0]]">>,
                         #{x => [1, <<"a">>, [2.0]]}),
    {ok, [1, <<"a">>, [2.0]]} = py:eval(<<"x">>, #{x => [1, <<"a">>, [2.0]]}).

%% @doc A charlist is a list of integers.
to_python_charlist(_Config) ->
    {ok, true} = py:eval(<<"x == [97, 98, 99]">>, #{x => "abc"}),
    {ok, "abc"} = py:eval(<<"x">>, #{x => "abc"}).

%% @doc The empty list arrives as the empty list.
to_python_empty_list(_Config) ->
    {ok, true} = py:eval(<<"type(x) is list and x == []">>, #{x => []}),
    {ok, []} = py:eval(<<"x">>, #{x => []}).

%% @doc A tuple arrives as tuple.
to_python_tuple(_Config) ->
    {ok, true} = py:eval(<<"type(x) is tuple and x == (1, 'a', ())">>,
                         #{x => {1, <<"a">>, {}}}),
    {ok, {1, <<"a">>, {}}} = py:eval(<<"x">>, #{x => {1, <<"a">>, {}}}).

%% @doc A map arrives as dict, its keys converted like values.
to_python_map(_Config) ->
    Map = #{a => 1, <<"b">> => 2, 3 => 4, {5, 6} => 7},
    {ok, true} = py:eval(<<"type(x) is dict and len(x) == 4 and x['a'] == 1"
                           " and x['b'] == 2 and x[3] == 4 and x[(5, 6)] == 7">>,
                         #{x => Map}),
    {ok, Map} = py:eval(<<"x">>, #{x => Map}).

%% @doc A pid arrives as erlang.Pid and comes back as the same pid.
to_python_pid(_Config) ->
    Self = self(),
    {ok, true} = py:eval(<<"isinstance(x, __import__('erlang').Pid) and x == x">>, #{x => Self}),
    {ok, Self} = py:eval(<<"x">>, #{x => Self}),
    %% Hashable: usable as a dict key.
    {ok, #{Self := 1}} = py:eval(<<"{x: 1}">>, #{x => Self}).

%% @doc A reference arrives as erlang.Ref and comes back as the same one.
to_python_ref(_Config) ->
    Ref = make_ref(),
    {ok, true} = py:eval(<<"isinstance(x, __import__('erlang').Ref)">>, #{x => Ref}),
    {ok, Ref} = py:eval(<<"x">>, #{x => Ref}).

%% @doc An improper list has no mapping.
to_python_improper_list(_Config) ->
    {error, {'TypeError', <<"cannot convert an Erlang improper list to Python">>}} =
        py:eval(<<"x">>, #{x => [1 | 2]}),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc A fun has no mapping.
to_python_fun(_Config) ->
    {error, {'TypeError', <<"cannot convert an Erlang fun to Python">>}} =
        py:eval(<<"x">>, #{x => fun() -> ok end}).

%% @doc A port has no mapping.
to_python_port(_Config) ->
    [Port | _] = erlang:ports(),
    {error, {'TypeError', <<"cannot convert an Erlang port to Python">>}} =
        py:eval(<<"x">>, #{x => Port}).

%% @doc A bitstring that is not a binary has no mapping.
to_python_bitstring(_Config) ->
    {error, {'TypeError', <<"cannot convert an Erlang bitstring to Python">>}} =
        py:eval(<<"x">>, #{x => <<1:3>>}).

%% @doc A list nested a million deep is refused, and the port keeps serving.
to_python_too_deep(_Config) ->
    Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 1000000)),
    {error, {'TypeError', <<"term nested deeper than 10000 levels">>}} =
        py:eval(<<"x">>, #{x => Deep}),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc 10000 levels convert (Locals being the first), 10001 do not.
to_python_depth_limit(_Config) ->
    Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 9998)),
    {ok, 1} = py:eval(<<"len(x)">>, #{x => Deep}),
    {error, {'TypeError', <<"term nested deeper than 10000 levels">>}} =
        py:eval(<<"len(x)">>, #{x => [Deep]}).

%% @doc Keyword names are atoms or binaries, each name once.
to_python_kwargs_keys(_Config) ->
    {error, {'TypeError',
             <<"keyword arguments must be a map with atom or binary keys">>}} =
        py:call(builtins, int, [<<"ff">>], #{16 => base}),
    {error, {'TypeError', _}} =
        py:call(builtins, int, [<<"ff">>], #{base => 16, <<"base">> => 16}).

%% @doc Local names are atoms or binaries.
to_python_locals_keys(_Config) ->
    {error, {'TypeError', <<"Locals must be a map with atom or binary keys">>}} =
        py:eval(<<"1">>, #{1 => 2}).

%% @doc Map keys that differ in Erlang but are equal in Python are refused.
to_python_key_collision(_Config) ->
    {error, {'TypeError', _}} = py:eval(<<"x">>, #{x => #{k => a, <<"k">> => b}}),
    {error, {'TypeError', _}} = py:eval(<<"x">>, #{x => #{1 => a, 1.0 => b}}),
    {error, {'TypeError', <<"unhashable type: 'list'">>}} =
        py:eval(<<"x">>, #{x => #{[1] => 2}}).

%%% ==========================================================================
%%% conversion, Python to Erlang (docs/types.md)
%%% ==========================================================================

%% @doc An int becomes an integer.
from_python_int(_Config) ->
    {ok, 42} = py:eval(<<"42">>),
    {ok, -7} = py:eval(<<"-7">>),
    {ok, 9223372036854775807} = py:eval(<<"2**63 - 1">>),
    {ok, -9223372036854775808} = py:eval(<<"-2**63">>).

%% @doc An int beyond 64 bits becomes a bignum.
from_python_bignum(_Config) ->
    Big = 1 bsl 100,
    NegBig = -(1 bsl 100),
    {ok, Big} = py:eval(<<"2**100">>),
    {ok, NegBig} = py:eval(<<"-2**100">>),
    {ok, 18446744073709551616} = py:eval(<<"2**64">>).

%% @doc A float becomes a float.
from_python_float(_Config) ->
    {ok, 0.5} = py:eval(<<"1/2">>),
    {ok, -1.0e300} = py:eval(<<"-1e300">>).

%% @doc nan, inf and -inf become the atoms nan, infinity, neg_infinity.
from_python_special_floats(_Config) ->
    {ok, nan} = py:eval(<<"float('nan')">>),
    {ok, infinity} = py:eval(<<"float('inf')">>),
    {ok, neg_infinity} = py:eval(<<"float('-inf')">>).

%% @doc True, False and None become true, false and none.
from_python_constants(_Config) ->
    {ok, true} = py:eval(<<"True">>),
    {ok, false} = py:eval(<<"False">>),
    {ok, none} = py:eval(<<"None">>).

%% @doc A str becomes a UTF-8 binary.
from_python_str(_Config) ->
    {ok, <<"héllo 😀"/utf8>>} = py:eval(<<"'h\\u00e9llo \\U0001F600'">>),
    {ok, <<>>} = py:eval(<<"''">>).

%% @doc A str holding a lone surrogate has no mapping.
from_python_lone_surrogate(_Config) ->
    {error, {'TypeError', <<"cannot convert a str with a lone surrogate to Erlang">>}} =
        py:eval(<<"'\\ud800'">>).

%% @doc bytes, bytearray and memoryview become binaries.
from_python_bytes(_Config) ->
    {ok, <<1, 2, 255>>} = py:eval(<<"b'\\x01\\x02\\xff'">>),
    {ok, <<"abc">>} = py:eval(<<"bytearray(b'abc')">>),
    {ok, <<"abc">>} = py:eval(<<"memoryview(b'abc')">>).

%% @doc A memoryview that is not contiguous has no mapping.
from_python_noncontiguous_memoryview(_Config) ->
    {error, {'TypeError', _}} = py:eval(<<"memoryview(b'abcd')[::2]">>),
    {ok, <<"ac">>} = py:eval(<<"bytes(memoryview(b'abcd')[::2])">>).

%% @doc An erlang.Atom becomes an atom.
from_python_atom(_Config) ->
    {ok, x} = py:eval(<<"__import__('erlang').Atom('x')">>),
    {ok, 'héllo'} = py:eval(<<"__import__('erlang').Atom('h\\u00e9llo')">>).

%% @doc An atom name longer than 255 characters is refused.
from_python_long_atom(_Config) ->
    {error, {'TypeError', <<"atom name longer than 255 characters">>}} =
        py:eval(<<"__import__('erlang').Atom('x' * 256)">>).

%% @doc A list becomes a list.
from_python_list(_Config) ->
    {ok, [1, <<"a">>, [2.0, none]]} = py:eval(<<"[1, 'a', [2.0, None]]">>),
    {ok, []} = py:eval(<<"[]">>).

%% @doc A tuple becomes a tuple.
from_python_tuple(_Config) ->
    {ok, {1, <<"a">>, {}}} = py:eval(<<"(1, 'a', ())">>).

%% @doc A dict becomes a map, its keys converted like values.
from_python_dict(_Config) ->
    Expected = #{<<"a">> => 1, 2 => [3], {4} => none},
    {ok, Expected} = py:eval(<<"{'a': 1, 2: [3], (4,): None}">>),
    Empty = #{},
    {ok, Empty} = py:eval(<<"{}">>).

%% @doc A set or frozenset becomes a list of its members.
from_python_set(_Config) ->
    {ok, Set} = py:eval(<<"{1, 2, 3}">>),
    [1, 2, 3] = lists:sort(Set),
    {ok, Frozen} = py:eval(<<"frozenset(['a', 'b'])">>),
    [<<"a">>, <<"b">>] = lists:sort(Frozen).

%% @doc erlang.Pid and erlang.Ref come back as the same pid and reference.
from_python_pid_ref(_Config) ->
    Self = self(),
    Ref = make_ref(),
    {ok, [Ref, {Self}]} = py:eval(<<"[r, (p,)]">>, #{r => Ref, p => Self}).

%% @doc dict keys that convert to the same Erlang term are refused.
from_python_key_collision(_Config) ->
    {error, {'TypeError',
             <<"dict keys 'a' and b'a' convert to the same Erlang term">>}} =
        py:eval(<<"{'a': 1, b'a': 2}">>).

%% @doc A value with no mapping comes back as a reference to the object
%% (docs/references.md), which converts to nothing by to_term.
from_python_no_mapping(_Config) ->
    {ok, {'$py_ref', _, _} = Ref} = py:eval(<<"object()">>),
    {error, {'TypeError', <<"no Erlang term for Python object of type 'object'">>}} =
        py:to_term(Ref),
    ok = py:release(Ref),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc A list nested deeper than the cap is a TypeError.
from_python_too_deep(_Config) ->
    Ctx = one_context(),
    ok = py:exec(Ctx, <<"too_deep = []\n"
                        "for _ in range(100000):\n"
                        "    too_deep = [too_deep]\n">>),
    {error, {'TypeError', <<"term nested deeper than 10000 levels">>}} =
        py:eval(Ctx, <<"too_deep">>),
    ok = py:exec(Ctx, <<"del too_deep">>),
    {ok, 4.0} = py:call(math, sqrt, [16]).

%% @doc A list that contains itself is refused at the depth cap.
from_python_self_loop(_Config) ->
    Ctx = one_context(),
    ok = py:exec(Ctx, <<"loop = []; loop.append(loop)">>),
    {error, {'TypeError', <<"term nested deeper than 10000 levels">>}} =
        py:eval(Ctx, <<"loop">>),
    ok = py:exec(Ctx, <<"del loop">>).

%% A context of the default pool: an exec and an eval on it share its
%% namespace in every pool mode (an owngil or process pool has a __main__
%% per context).
one_context() ->
    hd(py_context_router:contexts(default)).

%% @doc Nesting well under the cap round-trips unchanged.
nested_round_trip(_Config) ->
    Nested = lists:foldl(fun(I, Acc) -> [#{I => {Acc}}] end, [], lists:seq(1, 1000)),
    {ok, Nested} = py:eval(<<"x">>, #{x => Nested}),
    ok. % not the term: Common Test would print it in its log

%% @doc A 32 MB binary goes there and back intact.
large_binary_round_trip(_Config) ->
    Big = binary:copy(<<255, 0, 1, 2>>, 8 * 1024 * 1024),
    {ok, Big} = py:eval(<<"x">>, #{x => Big}),
    ok. % not the binary: Common Test would print it in its log

%% @doc Large bytes and str in a result (written without a copy) come back
%% intact: alone, several in one term, more than the port leaves out (16),
%% as map keys, and before a value that fails to convert.
large_binaries_written_in_place(_Config) ->
    B = binary:copy(<<"abc">>, 100000),
    S = binary:copy(<<"é"/utf8>>, 70000),
    R = binary:copy(<<255, 0, 7>>, 70000),
    {ok, B} = py:eval(<<"x">>, #{x => B}),
    {ok, S} = py:eval(<<"x">>, #{x => S}),
    {ok, {R, [R, B], #{<<"k">> := R}}} =
        py:eval(<<"(x, [x, y], {'k': x})">>, #{x => {bytes, R}, y => B}),
    {ok, Many} = py:eval(<<"[bytes([i]) * 70000 for i in range(20)]">>),
    Many = [binary:copy(<<I>>, 70000) || I <- lists:seq(0, 19)],
    {ok, Keys} = py:eval(<<"{b'k' * 70000: 1, b'j' * 70000: 2}">>),
    J = binary:copy(<<"j">>, 70000),
    K = binary:copy(<<"k">>, 70000),
    [{J, 2}, {K, 1}] = lists:sort(maps:to_list(Keys)),
    {error, {'TypeError', _}} = py:eval(<<"[b'x' * 70000, '\\udc80']">>),
    {ok, 4.0} = py:call(math, sqrt, [16]),
    ok.

%%% ==========================================================================
%%% a dying port
%%% ==========================================================================

%% @doc A caller in a call when the port is killed gets {port_exited, _} at
%% once, and the supervisor starts a new port.
killed_port_answers_caller(_Config) ->
    {ok, OsPid} = py_test_lib:os_pid(),
    Token = py_test_lib:token(),
    Caller = spawn_monitor(fun() ->
        exit(py:call(suite_helpers, set_then_sleep, [Token, 5], #{}, 20000))
    end),
    {ok, true} = py:call(suite_helpers, wait_for, [Token, 10]),
    ok = py_test_lib:kill_9(OsPid),
    %% Well before the sleep (5 s) or the timeout (20 s) ends.
    {error, {port_exited, {signal, 9, sigkill}}} =
        py_test_lib:await_exit(Caller, 2000, caller_not_answered),
    ok = py_test_lib:wait_until(fun() -> py:call(math, sqrt, [16]) =:= {ok, 4.0} end, 15000),
    {ok, NewOsPid} = py_test_lib:os_pid(),
    true = NewOsPid =/= OsPid.

%%% ==========================================================================
%%% start failures (the application is stopped in this group)
%%% ==========================================================================

%% @doc Python that cannot find its standard library fails the start and
%% says why.
bad_python_home(_Config) ->
    ok = application:set_env(?APP, port_env, [{"PYTHONHOME", "/nonexistent"}]),
    Message = start_failure(),
    true = is_binary(Message),
    true = py_test_lib:contains(Message, <<"encoding">>),
    {error, not_started} = py:eval(<<"1">>).

%% @doc A python_path dir whose encodings package raises fails the start.
broken_stdlib_module(Config) ->
    Broken = filename:join(?config(data_dir, Config), "broken_encodings"),
    ok = application:set_env(?APP, python_path, [Broken]),
    Message = start_failure(),
    true = is_binary(Message),
    true = py_test_lib:contains(Message, <<"encoding">>),
    {error, not_started} = py:eval(<<"1">>).

%% @doc A port executable that does not exist fails the start.
missing_executable(_Config) ->
    ok = application:set_env(?APP, port_executable, "/nonexistent/py_port"),
    {open_port, "/nonexistent/py_port", enoent} = start_failure(),
    {error, not_started} = py:eval(<<"1">>).

%% @doc A default pool size out of 1..1024 fails the start with bad_env (py_config).
%% The atom is not written here: the owner must decode a reply whose atoms
%% this node has never seen.
refused_pool_size(_Config) ->
    [begin
         ok = application:set_env(?APP, default_pool_size, Size),
         {error, {{bad_env, default_pool_size, Size, _},
                  {erlang_python_app, start, [normal, []]}}} = application:start(?APP)
     end || Size <- [0, 1025]],
    {error, not_started} = py:eval(<<"1">>).

%% The reason application:start gives, asserting its shape.
start_failure() ->
    case application:start(?APP) of
        {error, {{shutdown, {failed_to_start_child, py_port_owner,
                             {python_start_failed, Why}}},
                 {erlang_python_app, start, [normal, []]}}} ->
            ct:log("start failed: ~tp", [Why]),
            Why;
        Other ->
            _ = application:stop(?APP),
            ct:fail({unexpected_start_result, Other})
    end.
