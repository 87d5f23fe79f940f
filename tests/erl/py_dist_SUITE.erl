%% @doc Pools on other nodes (docs/distribution.md, issue 18): two extra
%% nodes on the loopback, started with `peer' and this build's code, each
%% running the application; pools with nodes are started from this node.
-module(py_dist_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([parts_on_each_node/1,
         local_node_among_nodes/1,
         routed_by_in_flight/1,
         registered_module_runs_remotely/1,
         spawn_call_and_cast/1,
         bad_specs/1,
         nodedown_answers_calls_in_flight/1,
         all_nodes_down_is_unavailable/1,
         node_back_takes_calls_again/1,
         timeout_cancels_on_the_remote_node/1,
         context_addressed_calls/1,
         stats_per_node/1,
         streams_from_a_remote_pool/1,
         references_stay_on_their_node/1,
         spec_survives_a_local_port_restart/1,
         stop_pool_stops_every_part/1,
         process_mode_parts/1,
         remote_port_restart/1,
         payload_crosses_once/1,
         killed_caller_is_cancelled_there/1,
         calling_node_down_cancels_there/1,
         stray_messages_keep_the_router/1,
         options_for_every_node/1]).
%% Run on a peer node (payload_crosses_once).
-export([collect_trace/2]).

-define(POOL, dist_pool).

all() ->
    [parts_on_each_node, local_node_among_nodes, routed_by_in_flight,
     registered_module_runs_remotely, spawn_call_and_cast, bad_specs,
     nodedown_answers_calls_in_flight, all_nodes_down_is_unavailable,
     node_back_takes_calls_again, timeout_cancels_on_the_remote_node,
     context_addressed_calls, stats_per_node, streams_from_a_remote_pool,
     references_stay_on_their_node, spec_survives_a_local_port_restart,
     stop_pool_stops_every_part, process_mode_parts, remote_port_restart,
     payload_crosses_once, killed_caller_is_cancelled_there,
     calling_node_down_cancels_there, stray_messages_keep_the_router,
     options_for_every_node].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_suite(Config) ->
    Started = case node() of
                  nonode@nohost ->
                      _ = os:cmd("epmd -daemon"),
                      {ok, _} = net_kernel:start([py_dist_ct, shortnames]),
                      true;
                  _ ->
                      false
              end,
    [{dist_started, Started} | py_test_lib:start_app([], Config)].

end_per_suite(Config) ->
    py_test_lib:stop_app(Config),
    case ?config(dist_started, Config) of
        true -> net_kernel:stop();
        false -> ok
    end.

init_per_testcase(_Case, Config) ->
    A = start_peer(name(a)),
    B = start_peer(name(b)),
    [{peers, [A, B]} | Config].

end_per_testcase(_Case, Config) ->
    _ = py_context_router:stop_pool(?POOL),
    _ = py:unregister_pool(os),
    [catch peer:stop(Peer) || {Peer, _} <- ?config(peers, Config)],
    ok.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc start_pool with nodes runs Size contexts on each node and calls reach both.
parts_on_each_node(Config) ->
    [A, B] = nodes_of(Config),
    {ok, Ctxs} = py_context_router:start_pool(?POOL, 2, #{mode => worker, nodes => [A, B]}),
    [A, A, B, B] = [node(C) || C <- Ctxs],
    Ctxs = py_context_router:contexts(?POOL),
    true = py_context_router:pool_started(?POOL),
    worker = py_context_router:pool_mode(?POOL),
    %% Started again: left as it is.
    {ok, Ctxs} = py_context_router:start_pool(?POOL, 5, #{nodes => [A, B]}),
    %% Two calls at once go to the two nodes.
    {ok, OsA} = os_pid(A),
    {ok, OsB} = os_pid(B),
    true = OsA =/= OsB,
    Served = in_parallel(2, fun() -> py:eval(?POOL, <<"__import__('time').sleep(0.5) or "
                                                       "__import__('os').getpid()">>) end),
    true = lists:sort(Served) =:= lists:sort([{ok, OsA}, {ok, OsB}]).

%% @doc This node may be one of the pool's nodes.
local_node_among_nodes(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, Ctxs} = py_context_router:start_pool(?POOL, 1, #{nodes => [node(), A]}),
    [Here, A] = [node(C) || C <- Ctxs],
    Here = node(),
    {ok, OsHere} = py_test_lib:os_pid(),
    {ok, OsA} = os_pid(A),
    Served = in_parallel(2, fun() -> py:eval(?POOL, <<"__import__('time').sleep(0.5) or "
                                                       "__import__('os').getpid()">>) end),
    true = lists:sort(Served) =:= lists:sort([{ok, OsHere}, {ok, OsA}]).

%% @doc A call goes to the node with the fewest calls in flight, not in turn.
routed_by_in_flight(Config) ->
    [A, B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 2, #{nodes => [A, B]}),
    {ok, OsA} = os_pid(A),
    {ok, OsB} = os_pid(B),
    %% Idle: every call goes to the first node (in turn would alternate).
    [{ok, OsA}] = lists:usort([py:call(?POOL, os, getpid, []) || _ <- lists:seq(1, 6)]),
    %% A call in flight on A: the next goes to B, and again while it runs.
    H = py:spawn_call(?POOL, time, sleep, [2], #{}),
    [{ok, OsB}] = lists:usort([py:call(?POOL, os, getpid, []) || _ <- lists:seq(1, 4)]),
    {ok, none} = py:await(H, 10000),
    {ok, OsA} = py:call(?POOL, os, getpid, []).

%% @doc py:register_pool(Pool, Module) makes py:call(Module, ...) run on the nodes.
registered_module_runs_remotely(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    ok = py:register_pool(?POOL, os),
    {ok, OsA} = os_pid(A),
    {ok, OsA} = py:call(os, getpid, []),
    {ok, Here} = py_test_lib:os_pid(),
    true = Here =/= OsA.

%% @doc spawn_call/await, cast and async_call reach a remote pool.
spawn_call_and_cast(Config) ->
    [A, B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B]}),
    Code = <<"def mark(v):\n    global MARK\n    MARK = v\n">>,
    [ok = erpc:call(N, py, exec, [Code]) || N <- [A, B]],
    H = py:spawn_call(?POOL, operator, add, [20, 22], #{}),
    {ok, 42} = py:await(H),
    Token = py_test_lib:token(),
    ok = py:cast(?POOL, '__main__', mark, [Token]),
    Marked = fun() -> [N || N <- [A, B],
                            erpc:call(N, py, eval, [<<"globals().get('MARK')">>]) =:= {ok, Token}]
             end,
    ok = py_test_lib:wait_until(fun() -> Marked() =/= [] end, 10000),
    [_] = Marked(),
    %% A coroutine function, awaited on the remote context's event loop.
    [ok = erpc:call(N, py, exec, [<<"async def twice(x):\n"
                                   "    import asyncio\n"
                                   "    await asyncio.sleep(0.01)\n"
                                   "    return 2 * x\n">>]) || N <- [A, B]],
    {ok, 42} = py:async_await(py:async_call(?POOL, '__main__', twice, [21])).

%% @doc Bad node lists and specs a node refuses are clear errors; nothing runs after.
bad_specs(Config) ->
    [A, B] = nodes_of(Config),
    {error, {badarg, nodes}} = py_context_router:start_pool(?POOL, 1, #{nodes => []}),
    {error, {badarg, nodes}} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, A]}),
    {error, {badarg, nodes}} = py_context_router:start_pool(?POOL, 1, #{nodes => ["a"]}),
    %% Options are each node's start_pool/4's: a bad one is refused there.
    {error, {A, {bad_option, x, 1}}} = py_context_router:start_pool(?POOL, 1, #{nodes => [A], x => 1}),
    {error, {A, {bad_option, venv, "/nowhere"}}} =
        py_context_router:start_pool(?POOL, 1, #{nodes => [A], venv => "/nowhere"}),
    {error, {bad_pool_size, 0}} = py_context_router:start_pool(?POOL, 0, #{nodes => [A]}),
    {error, {A, {invalid_mode, bogus}}} =
        py_context_router:start_pool(?POOL, 1, #{mode => bogus, nodes => [A, B]}),
    false = py_context_router:pool_started(?POOL),
    false = erpc:call(B, py_context_router, pool_started, [?POOL]),
    %% No node reachable.
    Nowhere = list_to_atom("nobody@" ++ host()),
    {error, {pool_unavailable, ?POOL}} =
        py_context_router:start_pool(?POOL, 1, #{nodes => [Nowhere]}),
    false = py_context_router:pool_started(?POOL).

%% @doc Killing a node answers its calls in flight with nodedown at once; later calls go elsewhere.
nodedown_answers_calls_in_flight(Config) ->
    [{PeerA, A}, {_, B}] = ?config(peers, Config),
    {ok, _} = py_context_router:start_pool(?POOL, 2, #{nodes => [A, B]}),
    Self = self(),
    %% Four calls of 20 s: two on each node (the fewest in flight first).
    Callers = [begin
                   Pid = spawn_link(fun() ->
                                            R = py:call(?POOL, time, sleep, [20], #{}, 60000),
                                            Self ! {self(), R}
                                    end),
                   ok = py_test_lib:wait_until(fun() -> in_flight() >= I end, 5000),
                   Pid
               end || I <- lists:seq(1, 4)],
    #{A := 2, B := 2} = in_flight_by_node(),
    true = erlang:monitor_node(A, true),
    ok = peer:stop(PeerA),
    receive {nodedown, A} -> ok end,
    %% The two on A answer now; the two on B still sleep.
    Answers = [receive {Pid, R} -> R after 5000 -> no_answer end || Pid <- Callers],
    [no_answer, no_answer, {error, {nodedown, A}}, {error, {nodedown, A}}] = lists:sort(Answers),
    %% Later calls go to B, from the moment the runtime knows A is gone.
    {ok, OsB} = os_pid(B),
    [{ok, OsB}] = lists:usort([py:call(?POOL, os, getpid, []) || _ <- lists:seq(1, 5)]),
    [{ok, none}, {ok, none}] = [receive {_, R} -> R after 30000 -> no_answer end
                                || _ <- [1, 2]].

%% @doc A pool whose nodes are all down answers pool_unavailable, at once.
all_nodes_down_is_unavailable(Config) ->
    [{PeerA, A}, {PeerB, B}] = ?config(peers, Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B]}),
    [true = erlang:monitor_node(N, true) || N <- [A, B]],
    ok = peer:stop(PeerA),
    ok = peer:stop(PeerB),
    [receive {nodedown, N} -> ok end || N <- [A, B]],
    %% From the moment the runtime knows, whatever the router knows yet.
    {error, {pool_unavailable, ?POOL}} = py:call(?POOL, os, getpid, []),
    {py_call, _, {error, {pool_unavailable, ?POOL}}} = py:spawn_call(?POOL, os, getpid, []),
    {error, {pool_unavailable, ?POOL}} = py:cast(?POOL, os, getpid, []),
    ok = py_test_lib:wait_until(fun() -> py_remote:parts(?POOL) =:= [] end, 5000),
    true = py_context_router:pool_started(?POOL),
    [] = py_context_router:contexts(?POOL).

%% @doc A node that comes back gets its part started again and takes calls.
node_back_takes_calls_again(Config) ->
    [{PeerA, A}, {PeerB, B}] = ?config(peers, Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B]}),
    ok = peer:stop(PeerA),
    ok = py_test_lib:wait_until(fun() -> node_up(A) =:= false end, 5000),
    %% A new node of the same name, running the application, pool not started.
    {PeerA2, A} = start_peer(A),
    ok = py_test_lib:wait_until(fun() -> node_up(A) end, 15000),
    true = erpc:call(A, py_context_router, pool_started, [?POOL]),
    {ok, OsA} = os_pid(A),
    [{ok, OsA}] = lists:usort([py:call(?POOL, os, getpid, []) || _ <- lists:seq(1, 3)]),
    [A, B] = [node(C) || C <- py_context_router:contexts(?POOL)],
    %% end_per_testcase stops the peers it knows of.
    peer:stop(PeerA2),
    _ = PeerB.

%% @doc A call that times out is cancelled on the remote node, which counts it.
timeout_cancels_on_the_remote_node(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    %% The loop never ends by itself: an answer on the pool's one context
    %% means it was interrupted there.
    {error, timeout} = py:exec(?POOL, <<"while True: pass">>, 300),
    {ok, 3} = py:call(?POOL, operator, add, [1, 2], #{}, 10000),
    1 = timeouts(A),
    %% An await that times out cancels too.
    H = py:spawn_call(?POOL, builtins, sum, [[]], #{}),
    {ok, 0} = py:await(H, 10000),
    ok = erpc:call(A, py, exec, [<<"def spin():\n    while True: pass\n">>]),
    H2 = py:spawn_call(?POOL, '__main__', spin, [], #{}),
    {error, timeout} = py:await(H2, 200),
    {ok, 4} = py:call(?POOL, operator, add, [2, 2], #{}, 10000),
    ok = py_test_lib:wait_until(
           fun() -> timeouts(A) =:= 2 end, 5000),
    %% No late reply reached this process.
    {messages, []} = process_info(self(), messages).

%% @doc Calls addressed to a remote context pid run in that context, on its node.
context_addressed_calls(Config) ->
    [A, B] = nodes_of(Config),
    {ok, [CtxA, CtxB]} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B]}),
    {ok, OsA} = os_pid(A),
    {ok, OsB} = os_pid(B),
    {ok, OsA} = py:call(CtxA, os, getpid, []),
    {ok, OsB} = py:call(CtxB, os, getpid, []),
    ok = py:exec(CtxB, <<"secret = 7">>),
    {ok, 7} = py:eval(CtxB, <<"secret">>),
    {error, {'NameError', _}} = py:eval(CtxA, <<"secret">>),
    {ok, 9} = py:await(py:spawn_call(CtxB, operator, add, [2, 7])),
    %% A context of a node that is gone answers nodedown.
    [{PeerA, A} | _] = ?config(peers, Config),
    true = erlang:monitor_node(A, true),
    ok = peer:stop(PeerA),
    receive {nodedown, A} -> ok end,
    {error, {nodedown, A}} = py:call(CtxA, os, getpid, []),
    {error, {nodedown, A}} = py:eval(CtxA, <<"1">>).

%% @doc pool_stats/1 reports each node's part; py:stats/0 includes the pool.
stats_per_node(Config) ->
    [{PeerA, A}, {_, B}] = ?config(peers, Config),
    {ok, _} = py_context_router:start_pool(?POOL, 2, #{nodes => [A, B]}),
    {ok, 3} = py:call(?POOL, operator, add, [1, 2]),
    %% The reply may leave before its context counts the job as completed.
    ok = py_test_lib:wait_until(
           fun() -> {ok, #{completed := C}} = py_context_router:pool_stats(?POOL), C =:= 1 end,
           5000),
    {ok, #{mode := worker, size := 4, completed := 1,
           nodes := #{A := #{up := true, size := 2, completed := 1, in_flight := 0},
                      B := #{up := true, size := 2, completed := 0}}}} =
        py_context_router:pool_stats(?POOL),
    {ok, #{pools := #{?POOL := #{nodes := #{A := _, B := _}}, default := _}}} = py:stats(),
    ok = peer:stop(PeerA),
    ok = py_test_lib:wait_until(fun() -> node_up(A) =:= false end, 5000),
    {ok, #{size := 2, nodes := #{A := #{up := false}, B := #{up := true}}}} =
        py_context_router:pool_stats(?POOL).

%% @doc stream_start and stream reach a remote pool; a node lost ends the stream.
streams_from_a_remote_pool(Config) ->
    [{PeerA, A}, _] = ?config(peers, Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    {ok, Ref} = py:stream_start(builtins, range, [5], #{pool => ?POOL, window => 2}),
    [0, 1, 2, 3, 4] = [receive {py_stream, Ref, {data, X}} -> X after 10000 -> timeout end
                       || _ <- lists:seq(1, 5)],
    receive {py_stream, Ref, done} -> ok after 10000 -> ct:fail(no_done) end,
    ok = py:register_pool(?POOL, os),
    {ok, Names} = py:stream(os, listdir, [<<"/">>]),
    true = is_list(Names) andalso Names =/= [],
    %% An endless generator: its node goes, the stream ends at once.
    Code = <<"def forever():\n    import time\n    while True:\n"
             "        time.sleep(0.01)\n        yield 1\n">>,
    ok = erpc:call(A, py, exec, [Code]),
    {ok, Ref2} = py:stream_start('__main__', forever, [], #{pool => ?POOL}),
    receive {py_stream, Ref2, {data, 1}} -> ok after 10000 -> ct:fail(no_item) end,
    ok = peer:stop(PeerA),
    ok = wait_end(Ref2, {error, {nodedown, A}}).

%% @doc References work on the node that made them; used elsewhere they are a clear error.
references_stay_on_their_node(Config) ->
    [A, B] = nodes_of(Config),
    {ok, [_CtxA, CtxB]} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B]}),
    {ok, Ref} = py:eval(?POOL, <<"__import__('io').StringIO('abc')">>),
    {'$py_ref', _, _} = Ref,
    {ok, <<"abc">>} = py:call_method(Ref, getvalue, []),
    {ok, false} = py:getattr(Ref, closed),
    %% Owned on A, whose py_callers releases it when this process exits.
    Self = self(),
    ok = py_test_lib:wait_until(fun() -> erpc:call(A, py_callers, held, [Self]) =:= 1 end, 5000),
    %% Addressed to a context of another node.
    {error, {remote_ref, A}} = py:call_method(CtxB, Ref, getvalue, [], #{}),
    %% Used on another node, which does not know it.
    {error, stale_ref} = erpc:call(B, py, call_method, [Ref, getvalue, []]),
    ok = py:release(Ref),
    {error, stale_ref} = py:call_method(Ref, getvalue, []).

%% @doc The spec of a pool with nodes survives a restart of the local port.
spec_survives_a_local_port_restart(Config) ->
    [A, B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B]}),
    Owner = whereis(py_port_owner),
    exit(Owner, kill),
    ok = py_test_lib:wait_until(fun() -> is_pid(whereis(py_remote)) andalso
                                             whereis(py_port_owner) =/= Owner andalso
                                             py:call(?POOL, operator, add, [1, 1]) =:= {ok, 2}
                                end, 15000),
    [A, B] = [node(C) || C <- py_context_router:contexts(?POOL)],
    %% py_remote itself killed: the parts are found again.
    exit(whereis(py_remote), kill),
    ok = py_test_lib:wait_until(fun() -> is_pid(whereis(py_remote)) end, 5000),
    {ok, 3} = py:call(?POOL, operator, add, [1, 2]),
    [{A, 0}, {B, 1}] = py_remote:parts(?POOL).

%% @doc stop_pool stops the pool on every node; callers then get pool_not_started.
stop_pool_stops_every_part(Config) ->
    [A, B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B]}),
    ok = py_context_router:stop_pool(?POOL),
    false = py_context_router:pool_started(?POOL),
    [false, false] = [erpc:call(N, py_context_router, pool_started, [?POOL]) || N <- [A, B]],
    {error, {pool_not_started, ?POOL}} = py:call(?POOL, os, getpid, []).

%% @doc A process part: each member a route; a member that restarts is routed to again.
process_mode_parts(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, [C1, C2]} = py_context_router:start_pool(?POOL, 2, #{mode => process, nodes => [A]}),
    [A, A] = [node(C1), node(C2)],
    process = py_context_router:pool_mode(?POOL),
    {ok, P1} = py:call(C1, os, getpid, []),
    {ok, P2} = py:call(C2, os, getpid, []),
    {ok, Main} = os_pid(A),
    3 = length(lists:usort([P1, P2, Main])),
    Served = in_parallel(2, fun() -> py:eval(?POOL, <<"__import__('time').sleep(0.5) or "
                                                       "__import__('os').getpid()">>) end),
    true = lists:sort(Served) =:= lists:sort([{ok, P1}, {ok, P2}]),
    %% Member 1's process killed: its node restarts it, the router finds it.
    ok = erpc:call(A, py_test_lib, kill_9, [P1]),
    ok = py_test_lib:wait_until(
           fun() -> case py_context_router:contexts(?POOL) of
                        [New, C2] when New =/= C1 -> true;
                        _ -> false
                    end
           end, 15000),
    [New1, C2] = py_context_router:contexts(?POOL),
    {ok, P1b} = py:call(New1, os, getpid, []),
    true = P1b =/= P1,
    Again = in_parallel(2, fun() -> py:eval(?POOL, <<"__import__('time').sleep(0.5) or "
                                                       "__import__('os').getpid()">>) end),
    true = lists:sort(Again) =:= lists:sort([{ok, P1b}, {ok, P2}]).

%% @doc A remote port that dies answers its callers port_exited (not nodedown) and takes calls again.
remote_port_restart(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    {ok, Os} = os_pid(A),
    Self = self(),
    Caller = spawn_link(fun() -> Self ! {self(), py:call(?POOL, time, sleep, [30], #{}, 60000)} end),
    ok = py_test_lib:wait_until(fun() -> in_flight() =:= 1 end, 5000),
    ok = erpc:call(A, py_test_lib, kill_9, [Os]),
    receive {Caller, {error, {port_exited, _}}} -> ok after 10000 -> ct:fail(no_answer) end,
    ok = py_test_lib:wait_until(fun() -> case os_pid(A) of
                                             {ok, New} -> New =/= Os andalso node_up(A);
                                             _ -> false
                                         end
                                end, 20000),
    {ok, NewOs} = os_pid(A),
    {ok, NewOs} = py:call(?POOL, os, getpid, []).

%% @doc 10 MB crosses once each way: the remote port's owner gets the request as the caller sent it and keeps neither it nor the reply; no server of this node sees it.
payload_crosses_once(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    Big = binary:copy(<<255, 0>>, 5 bsl 20), % 10 MB, bytes in Python
    {ok, Big} = py:call(?POOL, builtins, bytes, [Big]), % warm
    Owner = erpc:call(A, erlang, whereis, [py_port_owner]),
    Collector = spawn(A, ?MODULE, collect_trace, [self(), Owner]),
    receive {Collector, tracing} -> ok after 5000 -> ct:fail(no_tracer) end,
    Local = [whereis(N) || N <- [py_remote, py_port_owner, py_callers, py_registry]],
    [1 = erlang:trace(P, true, ['receive']) || P <- Local],
    {ok, Big} = py:call(?POOL, builtins, bytes, [Big]),
    [1 = erlang:trace(P, false, ['receive']) || P <- Local],
    Collector ! stop,
    Events = receive {Collector, Traced} -> Traced after 10000 -> ct:fail(no_trace) end,
    %% The owner there: the request in, as sent; the port's reply frame,
    %% which it forwards to this caller's alias (py_port_owner:route/3).
    Size = byte_size(Big),
    [In] = [B || {trace, _, 'receive', {py_remote, B}} <- Events],
    true = byte_size(In) > Size,
    [Frame] = [F || {trace, _, 'receive', {Port, {data, F}}} <- Events, is_port(Port)],
    true = byte_size(Frame) > Size,
    %% No process of this node's application received anything large.
    [] = [M || {trace, _, 'receive', M} <- flush_trace(), large_binary(M)],
    %% And the owner there keeps neither once passed on (a call to it is
    %% answered after what it does then).
    _ = erpc:call(A, sys, get_state, [Owner]),
    {binary, Held} = erpc:call(A, erlang, process_info, [Owner, binary]),
    [] = [S || {_, S, _} <- Held, S >= 1 bsl 20].

%% @doc A caller killed with a call in flight: cancelled on the remote port, its count given back here.
killed_caller_is_cancelled_there(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    Caller = spawn(fun() -> py:exec(?POOL, <<"while True: pass">>, infinity) end),
    ok = py_test_lib:wait_until(fun() -> in_flight() =:= 1 end, 5000),
    exit(Caller, kill),
    ok = py_test_lib:wait_until(fun() -> in_flight() =:= 0 end, 5000),
    %% The loop was interrupted there: the one context answers again.
    {ok, 2} = py:eval(?POOL, <<"1 + 1">>, #{}, 10000),
    {ok, #{cancelled := 1}} = erpc:call(A, py_context_router, pool_stats, [?POOL]).

%% @doc The calls of a node that goes down are cancelled on the nodes that ran them.
calling_node_down_cancels_there(Config) ->
    [{_, A}, {PeerB, B}] = ?config(peers, Config),
    %% B calls a pool on A, with a loop that never ends.
    {ok, [Ctx]} = erpc:call(B, py_context_router, start_pool, [?POOL, 1, #{nodes => [A]}]),
    A = node(Ctx),
    ok = erpc:cast(B, py, exec, [?POOL, <<"while True: pass">>, infinity]),
    Busy = fun() -> {ok, #{busy := N}} = erpc:call(A, py_context_router, pool_stats, [?POOL]),
                    N
           end,
    ok = py_test_lib:wait_until(fun() -> Busy() =:= 1 end, 5000),
    ok = peer:stop(PeerB),
    ok = py_test_lib:wait_until(fun() -> Busy() =:= 0 end, 5000),
    {ok, #{cancelled := 1}} = erpc:call(A, py_context_router, pool_stats, [?POOL]),
    {ok, 2} = erpc:call(A, py, eval, [?POOL, <<"1 + 1">>, #{}, 5000]),
    %% The pool runs on A as a pool of A's.
    true = erpc:call(A, py_context_router, pool_started, [?POOL]),
    ok = erpc:call(A, py_context_router, stop_pool, [?POOL]).

%% @doc A stray call, cast, message or part answer to the router is answered or ignored; it keeps serving.
stray_messages_keep_the_router(Config) ->
    [A, _B] = nodes_of(Config),
    {ok, _} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    Router = whereis(py_remote),
    {error, {unknown_call, bogus}} = gen_server:call(py_remote, bogus),
    ok = gen_server:cast(py_remote, bogus),
    py_remote ! bogus,
    py_remote ! {part, make_ref(), ?POOL, 0, {ok, {ok, #{routes => [], contexts => []}}}},
    py_remote ! {'DOWN', make_ref(), process, self(), normal},
    py_remote ! {nodeup, A},
    py_remote ! {nodedown, A},
    {ok, [Ctx]} = py_context_router:start_pool(?POOL, 1, #{nodes => [A]}),
    Router = whereis(py_remote),
    A = node(Ctx),
    {ok, 3} = py:call(?POOL, operator, add, [1, 2]).

%% @doc The spec's options (a preload) hold on every node, and again for a node that comes back.
options_for_every_node(Config) ->
    [{PeerA, A}, {_, B}] = ?config(peers, Config),
    Preload = <<"import operator as PRE_OP\n">>,
    {ok, [CtxA, CtxB]} = py_context_router:start_pool(?POOL, 1, #{nodes => [A, B],
                                                                 preload => Preload}),
    %% In each node's __main__ (a call of __main__ on a context looks there).
    {ok, 7} = py:call(CtxA, '__main__', 'PRE_OP.add', [3, 4]),
    {ok, 7} = py:call(CtxB, '__main__', 'PRE_OP.add', [3, 4]),
    ok = peer:stop(PeerA),
    {PeerA2, A} = start_peer(A),
    ok = py_test_lib:wait_until(fun() -> node_up(A) end, 15000),
    [NewA, CtxB] = py_context_router:contexts(?POOL),
    {ok, 7} = py:call(NewA, '__main__', 'PRE_OP.add', [3, 4]),
    peer:stop(PeerA2).

%% Traces what Owner receives until told to stop; sends the
%% events to Parent.
collect_trace(Parent, Owner) ->
    1 = erlang:trace(Owner, true, ['receive']),
    Parent ! {self(), tracing},
    collect_trace(Parent, Owner, []).

collect_trace(Parent, Owner, Acc) ->
    receive
        stop ->
            erlang:trace(Owner, false, ['receive']),
            Parent ! {self(), lists:reverse(Acc)};
        {trace, Owner, _, _} = E ->
            collect_trace(Parent, Owner, [E | Acc])
    end.

flush_trace() ->
    receive {trace, _, _, _} = E -> [E | flush_trace()] after 0 -> [] end.

large_binary(M) when is_binary(M) -> byte_size(M) > 1000;
large_binary(M) when is_tuple(M) -> lists:any(fun large_binary/1, tuple_to_list(M));
large_binary(M) when is_list(M) -> lists:any(fun large_binary/1, M);
large_binary(_) -> false.

%%% ==========================================================================
%%% Helpers
%%% ==========================================================================

%% A peer on this host with this build's code and port_executable, the
%% application started: {Peer, Node}.
start_peer(Name) when is_atom(Name) ->
    Short = hd(string:split(atom_to_list(Name), "@")),
    Ebin = filename:dirname(code:which(py)),
    %% py_test_lib too, for the cases that kill a port there.
    Args = ["-pa", Ebin, "-pa", filename:dirname(code:which(py_test_lib)),
            "-pa", filename:dirname(code:which(?MODULE))],
    {ok, Peer, Node} = peer:start(#{name => Short, args => Args, wait_boot => 30000}),
    ok = erpc:call(Node, application, load, [erlang_python]),
    [ok = erpc:call(Node, application, set_env, [erlang_python, port_executable, Exe])
     || {ok, Exe} <- [application:get_env(erlang_python, port_executable)]],
    {ok, _} = erpc:call(Node, application, ensure_all_started, [erlang_python]),
    {Peer, Node}.

name(Which) ->
    list_to_atom(lists:concat(["py_dist_", Which, "_", py_test_lib:token(), "@", host()])).

host() ->
    tl(lists:dropwhile(fun(C) -> C =/= $@ end, atom_to_list(node()))).

nodes_of(Config) ->
    [Node || {_, Node} <- ?config(peers, Config)].

os_pid(Node) ->
    case erpc:call(Node, persistent_term, get, [{py, port_info}, undefined]) of
        #{os_pid := OsPid} -> {ok, OsPid};
        undefined -> {error, not_started}
    end.

%% Runs Fun in N processes at once; their results in order.
in_parallel(N, Fun) ->
    Self = self(),
    Pids = [spawn_link(fun() -> Self ! {self(), Fun()} end) || _ <- lists:seq(1, N)],
    [receive {Pid, R} -> R end || Pid <- Pids].

%% Requests of this node in flight on the pool, by node.
in_flight_by_node() ->
    {ok, #{nodes := Nodes}} = py_context_router:pool_stats(?POOL),
    maps:map(fun(_, #{in_flight := N}) -> N end, Nodes).

in_flight() ->
    lists:sum(maps:values(in_flight_by_node())).

timeouts(Node) ->
    {ok, #{timeouts := N}} = erpc:call(Node, py_context_router, pool_stats, [?POOL]),
    N.

node_up(Node) ->
    lists:keymember(Node, 1, py_remote:parts(?POOL)).

wait_end(Ref, Last) ->
    receive
        {py_stream, Ref, {data, _}} -> wait_end(Ref, Last);
        {py_stream, Ref, Last} -> ok;
        {py_stream, Ref, Other} -> {unexpected, Other}
    after 5000 ->
        no_end
    end.
