%% @doc What Python sends towards Erlang stays bounded (docs/reliability.md,
%% "What Python sends towards Erlang"): erlang.send waits for a receiver
%% that does not read, the atom cap holds across restarts, the output
%% backlog is bounded by its bytes, and callbacks at the node's process
%% limit are answered with an error.
-module(py_flow_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_testcase/2, end_per_testcase/2]).
-export([send_flood_waits_for_a_reader/1,
         send_to_a_dead_target_goes_on/1,
         many_targets_are_all_credited/1,
         cancel_ends_a_send_wait/1,
         call_holds_the_window_until_answered/1,
         atom_cap_holds_across_restarts/1,
         output_backlog_is_bounded/1,
         callbacks_at_the_process_limit/1,
         bad_limits_are_refused/1]).

%% Run on the peer node of callbacks_at_the_process_limit.
-export([flood_at_the_limit/1]).

-define(MB, (1024 * 1024)).
-define(WINDOW, (16 * ?MB)).

%% Python: sends n 1 MB messages (i, blob) to pid from `start' on;
%% `sent' says how far it got.
-define(FLOOD, <<"import erlang\n"
                 "sent = 0\n"
                 "def flood(pid, n, start):\n"
                 "    global sent\n"
                 "    blob = b'x' * (1 << 20)\n"
                 "    for i in range(start, n):\n"
                 "        erlang.send(pid, (i, blob))\n"
                 "        sent = i + 1\n"
                 "    return sent\n">>).

all() ->
    [send_flood_waits_for_a_reader, send_to_a_dead_target_goes_on,
     many_targets_are_all_credited, cancel_ends_a_send_wait,
     call_holds_the_window_until_answered, atom_cap_holds_across_restarts,
     output_backlog_is_bounded, callbacks_at_the_process_limit, bad_limits_are_refused].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_testcase(Case, Config)
  when Case =:= callbacks_at_the_process_limit; Case =:= bad_limits_are_refused ->
    Config;
init_per_testcase(atom_cap_holds_across_restarts, Config) ->
    %% The cap holds for the node's life: 50 more than earlier suites used.
    start([{max_new_atoms, py_flow:atoms_used() + 50}], Config);
init_per_testcase(output_backlog_is_bounded, Config) ->
    start([{max_output_backlog, ?MB}], Config);
init_per_testcase(_Case, Config) ->
    start([{send_window, ?WINDOW}, {send_timeout, 2000}, {default_pool_size, 2}], Config).

end_per_testcase(Case, _Config)
  when Case =:= callbacks_at_the_process_limit; Case =:= bad_limits_are_refused ->
    ok;
end_per_testcase(atom_cap_holds_across_restarts, Config) ->
    py_test_lib:stop_app(Config),
    %% The case spent the node's cap, which outlives it: give the suites
    %% after this one room again.
    ok = application:set_env(erlang_python, max_new_atoms, py_flow:atoms_used() + 10000);
end_per_testcase(_Case, Config) ->
    py_test_lib:stop_app(Config).

start(Env, Config) ->
    Config1 = py_test_lib:start_app(Env, Config),
    ok = py:exec(?FLOOD),
    Config1.

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc 1 MB erlang.send messages to a process that does not read: Python
%% stops at the window, gets TimeoutError, the node holds about the window;
%% once the receiver reads, the sends go on and all arrive in order.
send_flood_waits_for_a_reader(_Config) ->
    erlang:garbage_collect(),
    Base = erlang:memory(total),
    Self = self(),
    Receiver = spawn_link(fun() -> receive go -> ok end, collect(200, [], Self) end),
    {error, {'TimeoutError', Why}} = py:call(default, '__main__', flood, [Receiver, 200, 0], #{}),
    true = py_test_lib:contains(Why, <<"within 2000 ms">>),
    {ok, Sent} = py:eval(<<"sent">>),
    true = Sent >= 14 andalso Sent =< 16, % 16 MB of 1 MB messages, each with its overhead
    {message_queue_len, Sent} = process_info(Receiver, message_queue_len),
    Grown = erlang:memory(total) - Base,
    ct:pal("~b messages held, node grew by ~b MB", [Sent, Grown div ?MB]),
    true = Grown < ?WINDOW + 100 * ?MB,
    Receiver ! go,
    Caller = spawn_link(fun() ->
                                Self ! {flooded, py:call(default, '__main__', flood,
                                                         [Receiver, 200, Sent], #{})}
                        end),
    {ok, 200} = receive {flooded, R} -> R after 60000 -> ct:fail({stuck, Caller}) end,
    Order = lists:seq(0, 199),
    receive {collected, Order} -> ok after 10000 -> ct:fail(not_all_arrived) end.

%% @doc A target that dies with our messages in its mailbox gives their
%% bytes back: a sender waiting for it goes on.
send_to_a_dead_target_goes_on(_Config) ->
    Sink = spawn(fun() -> receive never -> ok end end),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {flooded, py:call(default, '__main__', flood, [Sink, 100, 0], #{})}
               end),
    ok = py_test_lib:wait_until(fun() -> queue_len(Sink) >= 14 end, 10000),
    {ok, Sent} = py:eval(<<"sent">>),
    true = Sent =< 16,
    exit(Sink, kill),
    {ok, 100} = receive {flooded, R} -> R after 10000 -> ct:fail(still_waiting) end.

%% @doc 2,000 messages of 100 KB to 2,000 processes that each read one: the
%% window (16 MB, about 160 messages) is given back across several checks
%% of 500 targets, and every message arrives.
many_targets_are_all_credited(_Config) ->
    Self = self(),
    Pids = [spawn_link(fun() -> receive {_, B} -> Self ! {got, byte_size(B)} end end)
            || _ <- lists:seq(1, 2000)],
    ok = py:exec(<<"def each(pids):\n"
                   "    blob = b'z' * 100000\n"
                   "    for p in pids:\n"
                   "        erlang.send(p, (1, blob))\n"
                   "    return len(pids)\n">>),
    {ok, 2000} = py:call(default, '__main__', each, [Pids], #{}),
    [receive {got, 100000} -> ok after 10000 -> ct:fail(lost) end || _ <- Pids],
    ok.

%% @doc A call whose Python code waits for room in the window is cancelled
%% by its timeout: the wait ends and the context serves the next call.
cancel_ends_a_send_wait(_Config) ->
    Sink = spawn_link(fun() -> receive never -> ok end end),
    [Ctx, _] = py_context_router:contexts(default),
    {error, timeout} = py:call(Ctx, '__main__', flood, [Sink, 100, 0], #{}, 300),
    %% Without the cancel, the context would wait for send_timeout (2 s).
    {ok, 2} = py:call(Ctx, operator, add, [1, 1], #{}, 1000),
    {ok, Sent} = py:eval(<<"sent">>),
    true = Sent =< 16,
    unlink(Sink),
    exit(Sink, kill).

%% @doc An erlang.call holds its bytes until it is answered: 16 calls of
%% 1 MB wait for each other beyond the window, and every one is answered.
call_holds_the_window_until_answered(_Config) ->
    Self = self(),
    ok = py:register_function(hold, fun([_Blob]) -> Self ! {held, self()},
                                                    receive release -> ok end end),
    ok = py:exec(<<"import threading\n"
                   "done, started = [], []\n"
                   "def hold_one(blob):\n"
                   "    started.append(1)\n"
                   "    done.append(erlang.hold(blob))\n"
                   "def hold_many(n):\n"
                   "    blob = b'y' * (3 << 20)\n"
                   "    ts = [threading.Thread(target=hold_one, args=(blob,)) for _ in range(n)]\n"
                   "    for t in ts: t.start()\n"
                   "    for t in ts: t.join()\n"
                   "    return len(done)\n">>),
    spawn_link(fun() -> Self ! {held_all, py:call(default, '__main__', hold_many, [8], #{})} end),
    %% 3 MB each: 5 fit in 16 MB, the others wait for an answer.
    Held = [receive {held, P} -> P after 10000 -> ct:fail(no_callback) end
            || _ <- lists:seq(1, 5)],
    ok = py_test_lib:wait_until(fun() -> py:eval(<<"len(started)">>) =:= {ok, 8} end, 10000),
    %% All 8 have called: a 6th callback would arrive now (a bounded check
    %% of an absence: there is no event to wait for).
    receive {held, Extra} -> ct:fail({beyond_the_window, Extra}) after 300 -> ok end,
    [P ! release || P <- Held],
    Rest = [receive {held, P} -> P after 10000 -> ct:fail(no_callback) end
            || _ <- lists:seq(1, 3)],
    [P ! release || P <- Rest],
    {ok, 8} = receive {held_all, R} -> R after 10000 -> ct:fail(not_answered) end.

%% @doc The cap of new atoms from Python data holds across a killed port and
%% an application restart: 30 + 20 made, then TypeError, in every round.
atom_cap_holds_across_restarts(Config) ->
    Cap = py_flow:atoms_used() + 50,
    Message = iolist_to_binary(io_lib:format("atom cap of ~b new atoms reached", [Cap])),
    Tag = integer_to_binary(py_test_lib:token()),
    Make = fun(From) ->
                   py:eval(<<"make(tag, start)">>, #{tag => Tag, start => From})
           end,
    Define = <<"import erlang\n"
               "def make(tag, start):\n"
               "    made = []\n"
               "    try:\n"
               "        for k in range(start, start + 30):\n"
               "            made.append(erlang.atom('flow_%s_%d' % (tag, k)))\n"
               "    except TypeError as e:\n"
               "        return made, str(e)\n"
               "    return made, None\n">>,
    ok = py:exec(Define),
    {ok, {Made1, none}} = Make(0),
    30 = length(Made1),
    {ok, OsPid} = py_test_lib:os_pid(),
    Owner = whereis(py_port_owner),
    ok = py_test_lib:kill_9(OsPid),
    ok = py_test_lib:wait_until(fun() -> restarted(Owner) end, 10000),
    ok = py:exec(Define),
    {ok, {Made2, Message}} = Make(100),
    20 = length(Made2),
    ok = py_test_lib:restart_app(Config),
    ok = py:exec(Define),
    {ok, {[], Message}} = Make(200),
    %% An atom Erlang sent is free.
    {ok, {[flow_ok], none}} = py:eval(<<"[erlang.atom(a)], None">>, #{a => flow_ok}),
    Cap = py_flow:atoms_used(),
    Exist = [K || K <- lists:seq(0, 229),
                  exists(<<"flow_", Tag/binary, "_", (integer_to_binary(K))/binary>>)],
    50 = length(Exist).

%% @doc With py_output suspended, a flood of 20 MB of output queues at most
%% max_output_backlog (1 MB) of batches; the drops are counted and logged
%% once the backlog drains.
output_backlog_is_bounded(_Config) ->
    Out = whereis(py_output),
    ok = py_test_lib:capture_log(flow_output, warning),
    ok = sys:suspend(Out),
    try
        ok = py:exec(<<"for i in range(20000): print('x' * 999)">>),
        ok = py_test_lib:wait_until(fun() -> lists:member({py_output, dropped}, mailbox(Out)) end,
                                    10000),
        Queued = lists:sum([byte_size(B) || {py_output, B} <- mailbox(Out), is_binary(B)]),
        ct:pal("~b bytes of output queued", [Queued]),
        true = Queued =< ?MB andalso Queued > ?MB div 2,
        {Counted, ?MB} = py_flow:output_backlog(),
        true = Counted =< ?MB
    after
        sys:resume(Out)
    end,
    Dropped = receive
                  {logged, #{msg := {"py_output: ~b batches of Python output dropped"
                                     " (backlog above ~b bytes)", [N, ?MB]}}} -> N
              after 10000 -> ct:fail(no_drop_logged)
              end,
    true = Dropped > 0,
    ok = py_test_lib:wait_until(fun() -> py_flow:output_backlog() =:= {0, ?MB} end, 10000),
    logger:remove_handler(flow_output).

%% @doc At the node's process limit (a peer with +P 4096, its process
%% table filled), callbacks from 8 Python threads get erlang.Error
%% `error: system_limit'; the owner and the port live on.
callbacks_at_the_process_limit(_Config) ->
    Paths = lists:append([["-pa", D] || D <- code:get_path(),
                                        not lists:prefix(code:root_dir(), D)]),
    Exe = case application:get_env(erlang_python, port_executable) of
              {ok, X} -> X;
              undefined -> filename:join(code:priv_dir(erlang_python), "py_port")
          end,
    {ok, Peer, _Node} = peer:start_link(#{connection => standard_io,
                                          args => ["+P", "4096" | Paths]}),
    try
        {Results, SameOwner, After} = peer:call(Peer, ?MODULE, flood_at_the_limit, [Exe], 60000),
        ct:pal("~p", [lists:usort(Results)]),
        200 = length(Results),
        [] = [R || R <- Results, R =/= 1, R =/= <<"error: system_limit">>],
        true = lists:member(<<"error: system_limit">>, Results),
        true = SameOwner,
        {ok, 7} = After
    after
        peer:stop(Peer)
    end.

%% @doc A limit that is not an integer in range stops the application from
%% starting, naming the key and the value.
bad_limits_are_refused(_Config) ->
    _ = application:load(erlang_python),
    Bad = [{send_window, 0}, {send_window, 1 bsl 31}, {send_timeout, -1},
           {max_new_atoms, ten}, {max_output_backlog, 0}],
    [begin
         %% The owner of the failed start may still be exiting (its tables
         %% with it).
         ok = py_test_lib:wait_until(fun() -> ets:info(py_pools) =:= undefined end, 5000),
         Old = application:get_env(erlang_python, Key),
         ok = application:set_env(erlang_python, Key, Value),
         {error, Why} = application:start(erlang_python),
         restore_env(Key, Old),
         {Key, {{bad_env, Key, Value, _}, _}} = {Key, Why}
     end || {Key, Value} <- Bad],
    ok.

%%% ==========================================================================
%%% Helpers
%%% ==========================================================================

%% On the peer: starts the application, fills the process table, has 8
%% Python threads make 25 callbacks each, frees the table, calls again.
flood_at_the_limit(Exe) ->
    ok = application:load(erlang_python),
    ok = application:set_env(erlang_python, port_executable, Exe),
    {ok, _} = application:ensure_all_started(erlang_python),
    ok = py:register_function(echo, fun([X]) -> X end),
    ok = py:exec(<<"import erlang, threading\n"
                   "def flood(n_threads, each):\n"
                   "    out = []\n"
                   "    def worker():\n"
                   "        for _ in range(each):\n"
                   "            try:\n"
                   "                out.append(erlang.echo(1))\n"
                   "            except erlang.Error as e:\n"
                   "                out.append(str(e))\n"
                   "    ts = [threading.Thread(target=worker) for _ in range(n_threads)]\n"
                   "    for t in ts: t.start()\n"
                   "    for t in ts: t.join()\n"
                   "    return out\n">>),
    Owner = whereis(py_port_owner),
    Sleepers = fill([]),
    Results = py:call('__main__', flood, [8, 25]),
    [P ! stop || P <- Sleepers],
    {ok, List} = Results,
    {List, whereis(py_port_owner) =:= Owner, py:eval(<<"erlang.echo(7)">>)}.

%% Spawns sleeping processes until the node refuses one.
fill(Acc) ->
    try spawn(fun() -> receive stop -> ok end end) of
        Pid -> fill([Pid | Acc])
    catch
        error:system_limit -> Acc
    end.

%% Collects N messages {I, Blob}, then sends their I in order to To.
collect(0, Acc, To) ->
    To ! {collected, lists:reverse(Acc)};
collect(N, Acc, To) ->
    receive {I, Blob} when byte_size(Blob) =:= ?MB -> collect(N - 1, [I | Acc], To) end.

restore_env(Key, {ok, Value}) ->
    application:set_env(erlang_python, Key, Value);
restore_env(Key, undefined) ->
    application:unset_env(erlang_python, Key).

queue_len(Pid) ->
    case process_info(Pid, message_queue_len) of
        {message_queue_len, N} -> N;
        undefined -> 0
    end.

mailbox(Pid) ->
    {messages, Messages} = process_info(Pid, messages),
    Messages.

restarted(Owner) ->
    case whereis(py_port_owner) of
        New when is_pid(New), New =/= Owner -> py:eval(<<"1">>) =:= {ok, 1};
        _ -> false
    end.

exists(Name) ->
    try binary_to_existing_atom(Name) of
        _ -> true
    catch
        error:badarg -> false
    end.
