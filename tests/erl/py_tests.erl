%% EUnit tests of the argument checks of `py'. They need no port: a bad
%% argument is refused in the caller before the port is looked up, and a
%% good request without the application is `{error, not_started}'.
-module(py_tests).

-include_lib("eunit/include/eunit.hrl").

call_bad_module_test() ->
    ?assertEqual({error, {badarg, module}}, py:call(42, sqrt, [16])),
    ?assertEqual({error, {badarg, module}}, py:call("math", sqrt, [16])).

call_bad_function_test() ->
    ?assertEqual({error, {badarg, function}}, py:call(math, "sqrt", [16])),
    ?assertEqual({error, {badarg, function}}, py:call(math, {sqrt}, [16])).

call_bad_args_test() ->
    ?assertEqual({error, {badarg, args}}, py:call(math, sqrt, 16)),
    ?assertEqual({error, {badarg, args}}, py:call(math, sqrt, {16})).

call_bad_kwargs_test() ->
    ?assertEqual({error, {badarg, kwargs}}, py:call(builtins, int, [<<"ff">>], {base, 16})),
    %% A list in fourth place reads as call(Pool, Module, Function, Args)
    %% (docs/api.md): the "function" is then a list.
    ?assertEqual({error, {badarg, function}},
                 py:call(builtins, int, [<<"ff">>], [{base, 16}])).

call_bad_timeout_test() ->
    ?assertEqual({error, {badarg, timeout}}, py:call(math, sqrt, [16], #{}, -1)),
    ?assertEqual({error, {badarg, timeout}}, py:call(math, sqrt, [16], #{}, 1.5)),
    ?assertEqual({error, {badarg, timeout}}, py:call(math, sqrt, [16], #{}, 1 bsl 32)),
    ?assertEqual({error, {badarg, timeout}}, py:call(math, sqrt, [16], #{}, forever)).

call_first_bad_argument_wins_test() ->
    ?assertEqual({error, {badarg, module}}, py:call(1, 2, 3, 4, 5)),
    ?assertEqual({error, {badarg, args}}, py:call(math, sqrt, 3, 4, 5)).

eval_bad_code_test() ->
    ?assertEqual({error, {badarg, code}}, py:eval(code)),
    ?assertEqual({error, {badarg, code}}, py:eval(42)),
    %% Not UTF-8.
    ?assertEqual({error, {badarg, code}}, py:eval(<<255, 254>>)),
    %% A truncated UTF-8 sequence.
    ?assertEqual({error, {badarg, code}}, py:eval(<<"1 + ", 16#c3>>)),
    %% Not a code point.
    ?assertEqual({error, {badarg, code}}, py:eval([16#110000])).

eval_bad_locals_test() ->
    ?assertEqual({error, {badarg, locals}}, py:eval(<<"x">>, [{x, 1}])).

eval_bad_timeout_test() ->
    ?assertEqual({error, {badarg, timeout}}, py:eval(<<"1">>, #{}, -5)).

exec_bad_code_test() ->
    ?assertEqual({error, {badarg, code}}, py:exec(<<"x = '", 16#ff, "'">>)).

exec_bad_timeout_test() ->
    ?assertEqual({error, {badarg, timeout}}, py:exec(<<"pass">>, infinity_)).

%% Valid requests without the application (EUnit does not start it).
not_started_test() ->
    ?assertEqual({error, not_started}, py:call(math, sqrt, [16])),
    ?assertEqual({error, not_started}, py:call(math, sqrt, [16], #{}, infinity)),
    ?assertEqual({error, not_started}, py:eval("1 + 1")),
    ?assertEqual({error, not_started}, py:eval([<<"1">>, " + x"], #{x => 1})),
    ?assertEqual({error, not_started}, py:exec(<<"pass">>, 0)).
