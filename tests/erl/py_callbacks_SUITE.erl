%% @doc Erlang functions called from Python (docs/callbacks.md): the three
%% spellings, errors, re-entrancy without replay, Python threads,
%% cancellation, and erlang.send/self/whereis/atom.
-module(py_callbacks_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([three_spellings/1,
         big_answers/1,
         module_function_registration/1,
         unregistered_name_is_name_error/1,
         erlang_exception_is_erlang_error/1,
         killed_function_is_erlang_error/1,
         runs_in_a_process_of_its_own/1,
         terms_round_trip/1,
         unconvertible_argument/1,
         nested_twelve_levels_run_once/1,
         nested_on_a_pool_of_one/1,
         from_python_threads_at_once/1,
         cancelled_while_waiting/1,
         send_to_a_pid/1,
         send_to_a_non_pid/1,
         self_is_the_caller/1,
         whereis_registered_or_none/1,
         atom_within_the_cap/1,
         bad_registrations/1,
         atom_cap_reached/1]).

%% Exported for register_function/3.
-export([sum/1]).

all() ->
    [three_spellings, module_function_registration, unregistered_name_is_name_error,
     erlang_exception_is_erlang_error, killed_function_is_erlang_error,
     runs_in_a_process_of_its_own, terms_round_trip, big_answers, unconvertible_argument,
     nested_twelve_levels_run_once, nested_on_a_pool_of_one, from_python_threads_at_once,
     cancelled_while_waiting, send_to_a_pid, send_to_a_non_pid, self_is_the_caller,
     whereis_registered_or_none, atom_within_the_cap, bad_registrations,
     atom_cap_reached]. % last: it spends the port's atom cap

suite() ->
    [{timetrap, {seconds, 60}}].

init_per_suite(Config) ->
    %% The cap on new atoms holds for the node's life (py_flow): leave this
    %% suite 10,000 of them, whatever the suites before it made.
    Config1 = py_test_lib:start_app([{max_new_atoms, py_flow:atoms_used() + 10000}], Config),
    ok = exec_all(<<"import erlang">>),
    Config1.

end_per_suite(Config) ->
    ok = py_test_lib:stop_app(Config),
    %% atom_cap_reached spent the node's cap, which holds for the node's
    %% life (py_flow): give the suites after this one room again.
    ok = application:set_env(erlang_python, max_new_atoms, py_flow:atoms_used() + 10000).

sum(Args) ->
    lists:sum(Args).

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc erlang.call('add', ...), erlang.add(...) and `from erlang import
%% add' call the same function, with the argument list.
three_spellings(_Config) ->
    ok = py:register_function(add, fun([A, B]) -> A + B end),
    {ok, 3} = py:eval(<<"erlang.call('add', 1, 2)">>),
    {ok, 30} = py:eval(<<"erlang.add(10, 20)">>),
    ok = exec_all(<<"from erlang import add as imported_add">>),
    {ok, 300} = py:eval(<<"imported_add(100, 200)">>),
    ok = py:register_function(<<"count">>, fun(Args) -> length(Args) end),
    {ok, 0} = py:eval(<<"erlang.count()">>),
    {ok, 4} = py:eval(<<"erlang.call('count', 1, 'b', None, [])">>).

%% @doc register_function/3 calls Module:Function(Args).
module_function_registration(_Config) ->
    ok = py:register_function(sum, ?MODULE, sum),
    {ok, 10} = py:eval(<<"erlang.sum(1, 2, 3, 4)">>).

%% @doc A name nobody registered, or one unregistered, raises NameError.
unregistered_name_is_name_error(_Config) ->
    {error, {'NameError', <<"no Erlang function is registered as 'nobody' "
                            "(py:register_function/2,3)">>}} = py:eval(<<"erlang.nobody(1)">>),
    ok = py:register_function(gone, fun(_) -> here end),
    {ok, here} = py:eval(<<"erlang.gone()">>),
    ok = py:unregister_function(gone),
    ok = py:unregister_function(gone),
    {error, {'NameError', _}} = py:eval(<<"erlang.call('gone')">>),
    {ok, true} = py:eval(<<"isinstance(erlang.Error('x'), Exception)">>),
    {error, {'TypeError', <<"erlang.call(name, *args): name must be a str">>}} =
        py:eval(<<"erlang.call(1)">>),
    {error, {'AttributeError', <<"module 'erlang' has no attribute '__wrapped__'">>}} =
        py:eval(<<"erlang.__wrapped__">>).

%% @doc error, throw and exit in the function raise erlang.Error with the
%% class and reason in the message; Python may catch it.
erlang_exception_is_erlang_error(_Config) ->
    ok = py:register_function(fail, fun([<<"error">>, R]) -> error(R);
                                        ([<<"throw">>, R]) -> throw(R);
                                        ([<<"exit">>, R]) -> exit(R) end),
    {error, {'Error', <<"error: badarith">>}} = py:eval(<<"erlang.fail('error', erlang.atom('badarith'))">>),
    {error, {'Error', <<"throw: {oops,1}">>}} =
        py:eval(<<"erlang.fail('throw', (erlang.atom('oops'), 1))">>),
    {error, {'Error', <<"exit: <<\"bye\">>">>}} = py:eval(<<"erlang.fail('exit', 'bye')">>),
    ok = exec_all(<<"def caught():\n"
                   "    try:\n"
                   "        erlang.fail('error', erlang.atom('nope'))\n"
                   "    except erlang.Error as e:\n"
                   "        return 'caught ' + str(e)\n">>),
    {ok, <<"caught error: nope">>} = py:call('__main__', caught, []).

%% @doc A function whose process is killed before it answers: its caller in
%% Python gets erlang.Error, not a wait without end.
killed_function_is_erlang_error(_Config) ->
    ok = py:register_function(die, fun(_) -> exit(self(), kill) end),
    {error, {'Error', <<"exit: killed">>}} = py:eval(<<"erlang.die()">>).

%% @doc Each call runs in a new process: not the caller, not the port owner.
runs_in_a_process_of_its_own(_Config) ->
    ok = py:register_function(whoami, fun(_) -> self() end),
    {ok, [P1, P2]} = py:eval(<<"[erlang.whoami(), erlang.whoami()]">>),
    Owner = whereis(py_port_owner),
    true = is_pid(P1) andalso is_pid(P2),
    true = lists:all(fun(P) -> P =/= self() andalso P =/= Owner end, [P1, P2]),
    true = P1 =/= P2,
    false = is_process_alive(P1).

%% @doc Arguments and results convert both ways (docs/types.md).
terms_round_trip(_Config) ->
    Self = self(),
    ok = py:register_function(echo, fun([X]) -> {got, X, Self} end),
    {ok, {got, #{<<"a">> := [1, 2.5, {<<"t">>, true}]}, Self}} =
        py:eval(<<"erlang.echo({'a': [1, 2.5, ('t', True)]})">>),
    {ok, <<"dict">>} = py:eval(<<"type(erlang.echo({})[1]).__name__">>).

%% @doc Answers of 40 MB, one after another: each comes whole (a frame
%% that big is a buffer kept for reuse, port/bigmem.c, freed by the
%% callback's thread).
big_answers(_Config) ->
    ok = py:register_function(big, fun([N]) -> binary:copy(<<N, 255>>, 20 bsl 20) end),
    [{ok, [41943040, N, 255]} =
         py:eval(<<"(lambda b: [len(b), b[0], b[-1]])(erlang.big(n))">>, #{n => N})
     || N <- [1, 2, 3]],
    ok = py:unregister_function(big).

%% @doc An argument with no Erlang mapping raises TypeError in Python, and
%% nothing is sent.
unconvertible_argument(_Config) ->
    Self = self(),
    ok = py:register_function(tell, fun(Args) -> Self ! {told, Args}, ok end),
    {error, {'TypeError', _}} = py:eval(<<"erlang.tell(object())">>),
    {ok, ok} = py:eval(<<"erlang.tell(1)">>),
    receive {told, Args} -> [1] = Args end,
    receive {told, _} = Extra -> ct:fail({unexpected, Extra}) after 0 -> ok end.

%% @doc Python -> Erlang -> Python ... twelve levels deep on the default
%% pool: every level runs once, all on the context that started it.
nested_twelve_levels_run_once(_Config) ->
    ok = exec_all(<<"import threading\n"
                   "calls = []\n"
                   "def down(n):\n"
                   "    calls.append((n, threading.get_ident()))\n"
                   "    return 0 if n == 0 else 1 + erlang.down(n - 1)\n">>),
    ok = py:register_function(down, fun([N]) ->
                                          {ok, V} = py:call('__main__', down, [N]),
                                          V
                                  end),
    %% On one context, whose `calls` the case then reads; the nested
    %% calls name the pool and come back to that context.
    [Ctx | _] = py_context_router:contexts(default),
    {ok, 12} = py:call(Ctx, '__main__', down, [12], #{}),
    {ok, Calls} = py:eval(Ctx, <<"__import__('__main__').calls">>),
    [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0] = [N || {N, _} <- Calls],
    1 = length(lists:usort([Thread || {_, Thread} <- Calls])),
    {ok, 200} = py:call('__main__', down, [200]),
    %% Past Python's recursion limit: an error, whose message does not
    %% double at each of the levels it passes through.
    {error, {'Error', Message}} = py:call('__main__', down, [1000]),
    true = byte_size(Message) =< 4 * 2003,
    true = py_test_lib:contains(Message, <<"badmatch">>),
    {ok, 2} = py:eval(<<"1 + 1">>).

%% @doc On a pool of one context, a nested call cannot go anywhere but the
%% context that waits: it is served there; so are eval and exec.
nested_on_a_pool_of_one(_Config) ->
    {ok, _} = py_context_router:start_pool(solo, 1),
    ok = py:register_function(solo_eval, fun([Code]) ->
                                               {ok, V} = py:eval(solo, Code),
                                               V
                                       end),
    {ok, 42} = py:eval(solo, <<"__import__('erlang').solo_eval('6 * 7')">>),
    {ok, 5} = py:eval(solo, <<"__import__('erlang').solo_eval("
                              "\"__import__('erlang').solo_eval('2 + 3')\")">>),
    ok = py_context_router:stop_pool(solo).

%% @doc Threads started by Python code call Erlang at once: the function
%% only returns once all eight calls are in, which would never happen if
%% they ran one at a time.
from_python_threads_at_once(_Config) ->
    Gate = spawn_link(fun() -> gate(8, []) end),
    ok = py:register_function(gather, fun([K]) ->
                                           Gate ! {in, self()},
                                           receive go -> K * 10 end
                                   end),
    ok = exec_all(<<"from concurrent.futures import ThreadPoolExecutor\n"
                   "def gather_all(n):\n"
                   "    with ThreadPoolExecutor(max_workers=n) as ex:\n"
                   "        return list(ex.map(erlang.gather, range(n)))\n">>),
    {ok, [0, 10, 20, 30, 40, 50, 60, 70]} = py:call('__main__', gather_all, [8]),
    ok = exec_all(<<"import threading\n"
                   "def with_threads(n):\n"
                   "    out = [None] * n\n"
                   "    def run(k):\n"
                   "        out[k] = erlang.add(k, 1000)\n"
                   "    ts = [threading.Thread(target=run, args=(k,)) for k in range(n)]\n"
                   "    [t.start() for t in ts]\n"
                   "    [t.join() for t in ts]\n"
                   "    return out\n">>),
    ok = py:register_function(add, fun([A, B]) -> A + B end),
    {ok, [1000, 1001, 1002, 1003]} = py:call('__main__', with_threads, [4]).

%% Runs Code in the __main__ of every context of the default pool.
exec_all(Code) ->
    py_test_lib:exec_in_every_main(default, Code).

gate(0, Waiting) ->
    [P ! go || P <- Waiting],
    ok;
gate(N, Waiting) ->
    receive {in, P} -> gate(N - 1, [P | Waiting]) end.

%% @doc A request that times out while its Python code waits for Erlang is
%% cancelled: erlang.Cancelled is raised there, and the context serves on.
cancelled_while_waiting(_Config) ->
    Self = self(),
    ok = py:register_function(hang, fun(_) -> Self ! {hanging, self()},
                                              receive release -> late end
                                    end),
    ok = exec_all(<<"hang_seen = None\n"
                   "def hang():\n"
                   "    global hang_seen\n"
                   "    try:\n"
                   "        return erlang.hang()\n"
                   "    except BaseException as e:\n"
                   "        hang_seen = type(e).__name__\n"
                   "        raise\n">>),
    [Ctx | _] = py_context_router:contexts(default),
    {error, timeout} = py:call(Ctx, '__main__', hang, [], #{}, 300),
    Hanging = receive {hanging, P} -> P after 5000 -> ct:fail(no_callback) end,
    ok = py_test_lib:wait_until(
           fun() -> py:eval(Ctx, <<"__import__('__main__').hang_seen">>) =:= {ok, <<"Cancelled">>} end, 5000),
    Hanging ! release, % its answer has nobody to go to: dropped
    {ok, 2} = py:eval(<<"1 + 1">>),
    {ok, 3} = py:eval(<<"erlang.add(1, 2)">>).

%% @doc erlang.send delivers the converted term, in order.
send_to_a_pid(_Config) ->
    ok = exec_all(<<"def send_three(p):\n"
                   "    for k in range(3):\n"
                   "        erlang.send(p, (erlang.atom('n'), k))\n">>),
    {ok, none} = py:call('__main__', send_three, [self()]),
    [{n, 0}, {n, 1}, {n, 2}] = [receive M -> M after 5000 -> timeout end || _ <- [1, 2, 3]].

%% @doc erlang.send to something that is not a pid raises TypeError.
send_to_a_non_pid(_Config) ->
    {error, {'TypeError', <<"erlang.send(pid, term): pid must be an erlang.Pid, not str">>}} =
        py:eval(<<"erlang.send('someone', 1)">>),
    {error, {'TypeError', <<"erlang.send(pid, term) takes 2 arguments (1 given)">>}} =
        py:eval(<<"erlang.send(p)">>, #{p => self()}).

%% @doc erlang.self() is the caller: the process of the request, the
%% callback process in a nested request, None in a cast and in a thread.
self_is_the_caller(_Config) ->
    Self = self(),
    {ok, Self} = py:eval(<<"erlang.self()">>),
    ok = py:register_function(nested_self, fun(_) ->
                                                 {ok, P} = py:eval(<<"erlang.self()">>),
                                                 {P, self()}
                                         end),
    {ok, {Same, Same}} = py:eval(<<"erlang.nested_self()">>),
    ok = exec_all(<<"def tell_self(p):\n    erlang.send(p, erlang.self())\n">>),
    ok = py:cast('__main__', tell_self, [Self]),
    receive Cast -> none = Cast after 5000 -> ct:fail(no_cast) end,
    ok = exec_all(<<"def self_in_thread():\n"
                   "    box = []\n"
                   "    t = __import__('threading').Thread(target=lambda: box.append(erlang.self()))\n"
                   "    t.start()\n"
                   "    t.join()\n"
                   "    return box[0]\n">>),
    {ok, none} = py:call('__main__', self_in_thread, []).

%% @doc erlang.whereis finds registered processes, None otherwise.
whereis_registered_or_none(_Config) ->
    Registry = whereis(py_registry),
    {ok, Registry} = py:eval(<<"erlang.whereis('py_registry')">>),
    {ok, none} = py:eval(<<"erlang.whereis('no_such_process_here_at_all')">>),
    {error, {'TypeError', <<"erlang.whereis(name): name must be a str, not int">>}} =
        py:eval(<<"erlang.whereis(1)">>).

%% @doc erlang.atom makes atoms; a non-str is a TypeError.
atom_within_the_cap(_Config) ->
    {ok, hello} = py:eval(<<"erlang.atom('hello')">>),
    {ok, true} = py:eval(<<"isinstance(erlang.atom('x'), erlang.Atom)">>),
    {error, {'TypeError', <<"erlang.atom() takes a str, not int">>}} =
        py:eval(<<"erlang.atom(1)">>),
    {error, {'TypeError', <<"atom name longer than 255 characters">>}} =
        py:eval(<<"erlang.atom('a' * 256)">>).

%% @doc erlang.atom admits new atoms up to the cap (max_new_atoms per node,
%% across ports; this suite has 10,000 left), then raises TypeError; the
%% atoms Erlang sent are still free.
atom_cap_reached(_Config) ->
    {ok, Cap} = application:get_env(erlang_python, max_new_atoms),
    Reached = iolist_to_binary(io_lib:format("atom cap of ~b new atoms reached", [Cap])),
    ok = exec_all(<<"def fill_atoms():\n"
                   "    k = 0\n"
                   "    try:\n"
                   "        while True:\n"
                   "            erlang.atom('cap_%d' % k)\n"
                   "            k += 1\n"
                   "    except TypeError as e:\n"
                   "        return k, str(e)\n">>),
    {ok, {Made, Reached}} = py:call('__main__', fill_atoms, []),
    true = Made > 9900 andalso Made =< 10000, % this suite admitted a few before
    {ok, true} = py:eval(<<"erlang.atom(str(a)) == 'from_erlang'">>, #{a => from_erlang}).

%% @doc Bad names and functions are refused before anything is stored.
bad_registrations(_Config) ->
    F = fun(_) -> ok end,
    {error, {badarg, name}} = py:register_function(<<>>, F),
    {error, {badarg, name}} = py:register_function(1, F),
    {error, {badarg, name}} = py:register_function(1, not_a_fun), % in argument order
    {error, {badarg, name}} = py:register_function(<<255>>, F),
    {error, {badarg, function}} = py:register_function(x, fun() -> ok end),
    {error, {badarg, function}} = py:register_function(x, not_a_fun),
    {error, {badarg, function}} = py:register_function(x, "m", f),
    {error, {badarg, name}} = py:unregister_function(1),
    {error, {'NameError', _}} = py:eval(<<"erlang.call('x')">>).
