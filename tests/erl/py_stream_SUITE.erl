%% @doc Streams (docs/streaming.md): collecting iterables, items sent as
%% messages, flow control, cancellation, and how a stream ends.
-module(py_stream_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([stream_collects/1,
         stream_eval_collects/1,
         collect_errors/1,
         messages_in_order_then_done/1,
         error_midway/1,
         options/1,
         bad_options/1,
         slow_consumer_bounds_the_generator/1,
         cancel_closes_the_generator/1,
         cancel_a_slow_generator/1,
         consumer_exit_cancels/1,
         cancel_by_another_process/1,
         cancel_after_done/1,
         objects_in_items_are_references/1,
         cancel_releases_unread_objects/1,
         stale_reference_in_a_stream/1,
         collect_with_a_timeout/1,
         port_exit_ends_the_stream/1]).

all() ->
    [stream_collects, stream_eval_collects, collect_errors, messages_in_order_then_done,
     error_midway, options, bad_options, slow_consumer_bounds_the_generator,
     cancel_closes_the_generator, cancel_a_slow_generator, consumer_exit_cancels,
     cancel_by_another_process, cancel_after_done, objects_in_items_are_references,
     cancel_releases_unread_objects, stale_reference_in_a_stream, collect_with_a_timeout,
     port_exit_ends_the_stream].

suite() ->
    [{timetrap, {seconds, 60}}].

init_per_suite(Config) ->
    py_test_lib:start_app([], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%% Python helpers, defined again in each case (a port restart forgets them),
%% in every context of the pool: an owngil or process context has a
%% __main__ of its own.
define() ->
    define(default).

define(Pool) ->
    exec_all(Pool, <<"import time\n"
                   "produced = {}\n"
                   "closed = {}\n"
                   "def counted(key, n, delay=0):\n"
                   "    produced[key] = 0\n"
                   "    try:\n"
                   "        for k in range(n):\n"
                   "            produced[key] += 1\n"
                   "            if delay:\n"
                   "                time.sleep(delay)\n"
                   "            yield k\n"
                   "    finally:\n"
                   "        closed[key] = True\n"
                   "def failing(n):\n"
                   "    for k in range(n):\n"
                   "        yield k\n"
                   "    raise ValueError('no more')\n">>).

%% Runs Code in the __main__ of every context of Pool.
exec_all(Pool, Code) ->
    py_test_lib:exec_in_every_main(Pool, Code).

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc py:stream collects what a function returns: generator, range, list.
stream_collects(_Config) ->
    define(),
    {ok, [0, 1, 2, 3, 4]} = py:stream(builtins, range, [5]),
    {ok, [0, 1, 2]} = py:stream('__main__', counted, [<<"collect">>, 3]),
    {ok, [<<"a">>, <<"b">>]} = py:stream(builtins, sorted, [[<<"b">>, <<"a">>]]),
    {ok, [3, 2, 1]} = py:stream(builtins, sorted, [[1, 3, 2]], #{reverse => true}),
    {ok, []} = py:stream(builtins, range, [0]).

%% @doc py:stream_eval collects an iterable expression.
stream_eval_collects(_Config) ->
    {ok, [0, 1, 4, 9]} = py:stream_eval(<<"(x * x for x in range(4))">>),
    {ok, [10, 20]} = py:stream_eval(<<"(x * 10 for x in xs)">>, #{xs => [1, 2]}),
    {ok, [<<"a">>, <<"b">>]} = py:stream_eval(<<"iter(['a', 'b'])">>).

%% @doc What is not iterable, or raises while collected, is an error.
collect_errors(_Config) ->
    define(),
    {error, {'TypeError', <<"'int' object is not iterable">>}} = py:stream(operator, add, [1, 2]),
    {error, {'ValueError', <<"no more">>}} = py:stream('__main__', failing, [3]),
    {error, {'TypeError', <<"'int' object is not iterable">>}} = py:stream_eval(<<"42">>),
    {error, {badarg, code}} = py:stream_eval(42),
    {error, {badarg, locals}} = py:stream_eval(<<"[]">>, [x]),
    {error, {badarg, args}} = py:stream(builtins, range, 3).

%% @doc stream_start sends each item, in order, then done.
messages_in_order_then_done(_Config) ->
    {ok, Ref} = py:stream_start(builtins, range, [200]),
    true = is_reference(Ref),
    Expected = [{data, K} || K <- lists:seq(0, 199)] ++ [done],
    Expected = collect(Ref),
    %% In the generator, erlang.self() is the consumer.
    Self = self(),
    ok = exec_all(default, <<"def selves():\n    yield __import__('erlang').self()\n">>),
    {ok, Ref3} = py:stream_start('__main__', selves, []),
    [{data, Self}, done] = collect(Ref3),
    %% Items of 64 KB and more are written from the Python object itself.
    Big = binary:copy(<<"ab">>, 50000),
    {ok, Ref4} = py:stream_start(builtins, iter, [[Big, {bytes, Big}, 1]]),
    [{data, Big}, {data, Big}, {data, 1}, done] = collect(Ref4).

%% @doc An exception in the generator ends the stream with {error, ...}
%% after the items before it.
error_midway(_Config) ->
    define(),
    {ok, Ref} = py:stream_start('__main__', failing, [2]),
    [{data, 0}, {data, 1}, {error, {'ValueError', <<"no more">>}}] = collect(Ref),
    {ok, Ref2} = py:stream_start(operator, add, [1, 2]),
    [{error, {'TypeError', <<"'int' object is not iterable">>}}] = collect(Ref2),
    {ok, Ref3} = py:stream_start(nosuchmodule_here, f, []),
    [{error, {'ModuleNotFoundError', <<"No module named 'nosuchmodule_here'">>}}] = collect(Ref3).

%% @doc kwargs, pool (a pool name or a context pid) and window options.
options(_Config) ->
    {ok, Ref} = py:stream_start(builtins, sorted, [[1, 3, 2]],
                                #{kwargs => #{reverse => true}, window => 1}),
    [{data, 3}, {data, 2}, {data, 1}, done] = collect(Ref),
    [Ctx | _] = py_context_router:contexts(default),
    {ok, Ref2} = py:stream_start(builtins, range, [2], #{pool => Ctx}),
    [{data, 0}, {data, 1}, done] = collect(Ref2),
    {ok, Ref3} = py:stream_start(builtins, range, [2], #{pool => no_such_pool}),
    [{error, {pool_not_started, no_such_pool}}] = collect(Ref3).

%% @doc Bad options and arguments are refused before anything starts.
bad_options(_Config) ->
    {error, {badarg, options}} = py:stream_start(builtins, range, [2], #{window => 0}),
    {error, {badarg, options}} = py:stream_start(builtins, range, [2], #{window => x}),
    {error, {badarg, options}} = py:stream_start(builtins, range, [2], #{speed => 1}),
    {error, {badarg, options}} = py:stream_start(builtins, range, [2], [window]),
    {error, {badarg, kwargs}} = py:stream_start(builtins, range, [2], #{kwargs => []}),
    {error, {badarg, args}} = py:stream_start(builtins, range, 2),
    {error, {badarg, module}} = py:stream_start("builtins", range, [2]).

%% @doc A consumer that does not read stops the generator: with window 4,
%% four items wait in the mailbox and the generator is held after making
%% its fifth; reading two lets exactly two more through.
slow_consumer_bounds_the_generator(_Config) ->
    {ok, _} = py_context_router:start_pool(streams, 1),
    define(streams),
    {ok, Ref} = py:stream_start('__main__', counted, [<<"slow">>, 20],
                                #{pool => streams, window => 4}),
    ok = py_test_lib:wait_until(fun() -> produced(streams, <<"slow">>) =:= 5 end, 5000),
    ok = py_test_lib:wait_until(fun() -> mailbox() =:= 4 end, 5000),
    {message_queue_len, 4} = process_info(self(), message_queue_len),
    [{data, 0}, {data, 1}] = take(Ref, 2),
    ok = py_test_lib:wait_until(fun() -> produced(streams, <<"slow">>) =:= 7 end, 5000),
    ok = py_test_lib:wait_until(fun() -> mailbox() =:= 4 end, 5000),
    7 = produced(streams, <<"slow">>),
    Rest = [{data, K} || K <- lists:seq(2, 19)] ++ [done],
    Rest = collect(Ref),
    20 = produced(streams, <<"slow">>),
    ok = py_context_router:stop_pool(streams).

%% @doc stream_cancel closes the generator (its finally block runs), no
%% message of the stream arrives after it, and the context is free again.
cancel_closes_the_generator(_Config) ->
    {ok, _} = py_context_router:start_pool(streams, 1),
    define(streams),
    {ok, Ref} = py:stream_start('__main__', counted, [<<"cancel">>, 1000],
                                #{pool => streams, window => 2}),
    [{data, 0}] = take(Ref, 1),
    ok = py:stream_cancel(Ref),
    receive {py_stream, Ref, _} = Late -> ct:fail({after_cancel, Late}) after 100 -> ok end,
    ok = py_test_lib:wait_until(fun() -> closed(streams, <<"cancel">>) end, 5000),
    true = produced(streams, <<"cancel">>) =< 4,
    {ok, 2} = py:eval(streams, <<"1 + 1">>),
    ok = py_context_router:stop_pool(streams).

%% @doc Cancelling a generator that is busy (sleeping between items) stops
%% it at its next item.
cancel_a_slow_generator(_Config) ->
    define(),
    {ok, Ref} = py:stream_start('__main__', counted, [<<"busy">>, 1000, 0.02]),
    [{data, 0}, {data, 1}] = take(Ref, 2),
    ok = py:stream_cancel(Ref),
    ok = py_test_lib:wait_until(fun() -> closed(<<"busy">>) end, 5000),
    Produced = produced(<<"busy">>),
    true = Produced < 1000,
    receive {py_stream, Ref, _} = Late -> ct:fail({after_cancel, Late}) after 0 -> ok end.

%% @doc A consumer that exits cancels its stream.
consumer_exit_cancels(_Config) ->
    define(),
    Self = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
                                       {ok, Ref} = py:stream_start('__main__', counted,
                                                                   [<<"exit">>, 1000],
                                                                   #{window => 2}),
                                       receive {py_stream, Ref, {data, 0}} -> Self ! first end
                               end),
    receive first -> ok after 5000 -> ct:fail(no_first_item) end,
    normal = py_test_lib:await_exit({Pid, Mon}, 5000, consumer_alive),
    ok = py_test_lib:wait_until(fun() -> closed(<<"exit">>) end, 5000),
    true = produced(<<"exit">>) < 20. % a few credits may be given before it exits

%% @doc Only the process that started a stream may cancel it.
cancel_by_another_process(_Config) ->
    define(),
    {ok, Ref} = py:stream_start('__main__', counted, [<<"owner">>, 10], #{window => 1}),
    Self = self(),
    spawn(fun() -> Self ! {other, py:stream_cancel(Ref)} end),
    receive {other, Other} -> {error, not_owner} = Other end,
    Expected = [{data, K} || K <- lists:seq(0, 9)] ++ [done],
    Expected = collect(Ref).

%% @doc Cancelling a stream that has ended, or an unknown one, is ok.
cancel_after_done(_Config) ->
    {ok, Ref} = py:stream_start(builtins, range, [1]),
    [{data, 0}, done] = collect(Ref),
    ok = py:stream_cancel(Ref),
    ok = py:stream_cancel(make_ref()).

%% @doc Items with no Erlang mapping come as references the consumer owns.
objects_in_items_are_references(_Config) ->
    {ok, Ref} = py:stream_start(builtins, map, [hashlib_sha, [<<"a">>]]),
    [{error, {'TypeError', _}}] = collect(Ref),
    ok = exec_all(default, <<"import hashlib\n"
                   "def hashes(words):\n"
                   "    for w in words:\n"
                   "        yield hashlib.sha256(w.encode())\n">>),
    {ok, Ref2} = py:stream_start('__main__', hashes, [[<<"x">>, <<"y">>]]),
    [{data, H1}, {data, H2}, done] = collect(Ref2),
    {ok, <<"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881">>} =
        py:call_method(H1, hexdigest, []),
    {ok, <<"a1fce4363854ff888cff4b8e7875d600c2682390412a8cf79b37d0b11148b0fa">>} =
        py:call_method(H2, hexdigest, []),
    ok = py:release([H1, H2]),
    {error, stale_ref} = py:call_method(H1, hexdigest, []).

%% @doc Items flushed by stream_cancel, never seen by the consumer: their
%% objects are released.
cancel_releases_unread_objects(_Config) ->
    ok = exec_all(default, <<"import hashlib\n"
                   "def endless_hashes():\n"
                   "    while True:\n"
                   "        yield [hashlib.sha256(b'x')]\n">>),
    {ok, Held} = held(),
    {ok, Ref} = py:stream_start('__main__', endless_hashes, [], #{window => 4}),
    ok = py_test_lib:wait_until(fun() -> mailbox() =:= 4 end, 5000),
    ok = py:stream_cancel(Ref),
    0 = mailbox(),
    ok = py_test_lib:wait_until(fun() -> held() =:= {ok, Held} end, 5000).

%% @doc A released reference passed to a stream gives stale_ref, as for
%% py:call.
stale_reference_in_a_stream(_Config) ->
    {ok, H} = py:call(hashlib, sha256, [{bytes, <<"x">>}]),
    ok = py:release(H),
    {ok, Ref} = py:stream_start(builtins, list, [[H]]),
    [{error, stale_ref}] = collect(Ref),
    {error, stale_ref} = py:stream(builtins, list, [[H]]).

%% @doc stream/5 and stream_eval/3 wait at most their timeout.
collect_with_a_timeout(_Config) ->
    {error, timeout} = py:stream(time, sleep, [0.5], #{}, 50),
    {error, timeout} = py:stream_eval(<<"__import__('time').sleep(0.5) or []">>, #{}, 50),
    {ok, [0, 1]} = py:stream(builtins, range, [2], #{}, 5000),
    {ok, [0]} = py:stream_eval(<<"range(n)">>, #{n => 1}, infinity),
    {error, {badarg, timeout}} = py:stream(builtins, range, [2], #{}, -1),
    {error, {badarg, timeout}} = py:stream_eval(<<"[]">>, #{}, x).

%% @doc A port that dies ends the stream with {error, {port_exited, _}}.
port_exit_ends_the_stream(_Config) ->
    define(),
    {ok, OsPid} = py_test_lib:os_pid(),
    {ok, Ref} = py:stream_start('__main__', counted, [<<"kill">>, 1000], #{window => 1}),
    [{data, 0}] = take(Ref, 1),
    ok = py_test_lib:kill_9(OsPid),
    Events = collect(Ref), % items sent before the kill come first
    {error, {port_exited, {signal, 9, sigkill}}} = lists:last(Events),
    Items = lists:droplast(Events),
    Items = [{data, K} || K <- lists:seq(1, length(Items))],
    ok = py_test_lib:wait_until(fun() -> py:eval(<<"1">>) =:= {ok, 1} end, 10000).

%%% ==========================================================================
%%% Helpers
%%% ==========================================================================

%% The events of stream Ref up to its end.
collect(Ref) ->
    receive
        {py_stream, Ref, {data, _} = Data} -> [Data | collect(Ref)];
        {py_stream, Ref, Last} -> [Last]
    after 10000 ->
        ct:fail({stream_stalled, Ref})
    end.

%% The next N items of stream Ref.
take(_Ref, 0) ->
    [];
take(Ref, N) ->
    receive
        {py_stream, Ref, {data, _} = Data} -> [Data | take(Ref, N - 1)]
    after 10000 ->
        ct:fail({stream_stalled, Ref})
    end.

%% The objects held for Erlang, summed over the default pool's contexts
%% (an owngil or process context holds its own; worker contexts share
%% one table, counted once per context: compared only with itself).
held() ->
    {ok, lists:sum([N || Ctx <- py_context_router:contexts(default),
                         {ok, N} <- [py:eval(Ctx, <<"__import__('erlang')._held()">>)]])}.

mailbox() ->
    {message_queue_len, N} = process_info(self(), message_queue_len),
    N.

%% How many items the generator Key made, in whichever context of Pool
%% ran it.
produced(Key) ->
    produced(default, Key).

produced(Pool, Key) ->
    lists:max([N || Ctx <- py_context_router:contexts(Pool),
                    {ok, N} <- [py:eval(Ctx, <<"__import__('__main__').produced.get(k, 0)">>, #{k => Key})]]).

%% Whether the generator Key was closed (its finally block ran).
closed(Key) ->
    closed(default, Key).

closed(Pool, Key) ->
    Code = <<"__import__('__main__').closed.get(k, False)">>,
    lists:any(fun(Ctx) -> py:eval(Ctx, Code, #{k => Key}) =:= {ok, true} end,
              py_context_router:contexts(Pool)).
