#!/usr/bin/env escript
%%! -pa _build/default/lib/erlang_python/ebin
%% `make demo`: starts erlang_python and prints a few calls and their results.
main(_) ->
    logger:set_primary_config(level, warning),
    {ok, _} = application:ensure_all_started(erlang_python),
    Show = fun(Text, Result) ->
                   io:format("~-52s ~ts~n", [Text, io_lib:print(Result, 1, 300, -1)])
           end,
    Show("py:call(math, sqrt, [16])", py:call(math, sqrt, [16])),
    Show("py:call('os.path', basename, [<<\"/a/b.txt\">>])",
         py:call('os.path', basename, [<<"/a/b.txt">>])),
    Show("py:call(builtins, int, [<<\"ff\">>], #{base => 16})",
         py:call(builtins, int, [<<"ff">>], #{base => 16})),
    Show("py:eval(<<\"2 ** 100\">>)", py:eval(<<"2 ** 100">>)),
    Show("py:eval(<<\"x * y\">>, #{x => 6, y => 7})", py:eval(<<"x * y">>, #{x => 6, y => 7})),
    Show("py:exec(<<\"def double(x): return 2 * x\">>)",
         py:exec(<<"def double(x): return 2 * x">>)),
    Show("py:call('__main__', double, [21])", py:call('__main__', double, [21])),
    Show("py:call(json, dumps, [#{a => [1, 2.5, none]}])",
         py:call(json, dumps, [#{a => [1, 2.5, none]}])),
    Show("py:eval(<<\"1 / 0\">>)", py:eval(<<"1 / 0">>)),
    Show("py:eval(<<\"__import__('sys').version\">>)", py:eval(<<"__import__('sys').version">>)),
    {ok, _} = py_context_router:start_pool(io, 4),
    ok = py:register_pool(io, time),
    Show("py:call(time, sleep, [0.1]) (routed to pool io)", py:call(time, sleep, [0.1])),
    Show("py_context_router:list_pool_registrations()", py_context_router:list_pool_registrations()),
    Show("py:register_function(add, fun([A, B]) -> A + B end)",
         py:register_function(add, fun([A, B]) -> A + B end)),
    Show("py:eval(<<\"__import__('erlang').add(1, 2)\">>)",
         py:eval(<<"__import__('erlang').add(1, 2)">>)),
    Show("py:stream_eval(<<\"(x * x for x in range(5))\">>)",
         py:stream_eval(<<"(x * x for x in range(5))">>)),
    {ok, Ref} = py:stream_start(builtins, range, [3]),
    Show("py:stream_start(builtins, range, [3]), messages",
         [receive {py_stream, Ref, M} -> M end || _ <- [1, 2, 3, 4]]),
    ok = application:stop(erlang_python).
