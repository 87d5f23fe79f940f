%% @doc Python objects held from Erlang by reference (docs/references.md):
%% results with no Erlang mapping, their use, ownership and release.
-module(py_refs_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([hashlib_object_is_a_reference/1,
         reference_as_argument_anywhere/1,
         call_method_with_kwargs/1,
         getattr_converts_or_references/1,
         to_term_where_a_conversion_exists/1,
         release_makes_it_stale/1,
         release_twice_is_ok/1,
         owner_exit_releases/1,
         reference_of_another_port_is_stale/1,
         forged_reference_is_stale/1,
         cast_result_is_released/1,
         failed_conversion_keeps_nothing/1,
         bad_arguments/1,
         million_references_released/1]).

all() ->
    [hashlib_object_is_a_reference, reference_as_argument_anywhere,
     call_method_with_kwargs, getattr_converts_or_references,
     to_term_where_a_conversion_exists, release_makes_it_stale,
     release_twice_is_ok, owner_exit_releases, forged_reference_is_stale,
     cast_result_is_released, failed_conversion_keeps_nothing, bad_arguments,
     million_references_released, reference_of_another_port_is_stale].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_suite(Config) ->
    py_test_lib:start_app([], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%%% ==========================================================================
%%% Cases
%%% ==========================================================================

%% @doc A hashlib object comes back as a reference; its methods run in Python.
hashlib_object_is_a_reference(_Config) ->
    {ok, H} = py:call(hashlib, sha256, [{bytes, <<"x">>}]),
    {'$py_ref', Nonce, Id} = H,
    true = is_integer(Nonce) andalso is_integer(Id),
    {ok, <<"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881">>} =
        py:call_method(H, hexdigest, []),
    ok = py:release(H).

%% @doc A reference passed back inside lists, tuples and maps is the object.
reference_as_argument_anywhere(_Config) ->
    {ok, H} = py:call(hashlib, sha256, [{bytes, <<"x">>}]),
    {ok, <<"sha256">>} = py:eval(<<"d['k'][0][1].name">>, #{d => #{k => [{1, H}]}}),
    {ok, true} = py:call(builtins, isinstance,
                         [H, element(2, {ok, _} = py:eval(<<"type(h)">>, #{h => H}))]),
    ok = py:release(H).

%% @doc call_method/4 passes keyword arguments.
call_method_with_kwargs(_Config) ->
    {ok, D} = py:call(pathlib, 'PurePosixPath', [<<"a/b.txt">>]),
    {ok, D2} = py:call_method(D, with_name, [], #{name => <<"c.txt">>}),
    {ok, <<"a/c.txt">>} = py:call_method(D2, as_posix, []),
    ok = py:release([D, D2]).

%% @doc getattr/2 converts the attribute, or makes a reference to it.
getattr_converts_or_references(_Config) ->
    {ok, H} = py:call(hashlib, sha256, [{bytes, <<"x">>}]),
    {ok, 32} = py:getattr(H, digest_size),
    {ok, {'$py_ref', _, _} = Method} = py:getattr(H, <<"copy">>),
    {ok, {'$py_ref', _, _} = Copy} = py:eval(<<"m()">>, #{m => Method}),
    {ok, <<"sha256">>} = py:getattr(Copy, name),
    {error, {'AttributeError', _}} = py:getattr(H, nope),
    ok = py:release([H, Method, Copy]).

%% @doc to_term/1 converts through tolist(), mappings and sequences.
to_term_where_a_conversion_exists(_Config) ->
    {ok, Deque} = py:eval(<<"__import__('collections').deque([1, 2, 3])">>),
    {ok, [1, 2, 3]} = py:to_term(Deque),
    {ok, Proxy} = py:eval(<<"__import__('types').MappingProxyType({'a': 1})">>),
    {ok, #{<<"a">> := 1}} = py:to_term(Proxy),
    {ok, Obj} = py:eval(<<"object()">>),
    {error, {'TypeError', <<"no Erlang term for Python object of type 'object'">>}} =
        py:to_term(Obj),
    ok = py:release([Deque, Proxy, Obj]).

%% @doc After release/1 the reference is stale, as argument or target.
release_makes_it_stale(_Config) ->
    {ok, H} = py:call(hashlib, sha256, [{bytes, <<"x">>}]),
    1 = py_callers:held(self()),
    ok = py:release(H),
    0 = py_callers:held(self()),
    {error, stale_ref} = py:call_method(H, hexdigest, []),
    {error, stale_ref} = py:eval(<<"h">>, #{h => H}),
    {error, stale_ref} = py:getattr(H, name).

%% @doc Releasing a reference twice is ok.
release_twice_is_ok(_Config) ->
    {ok, O} = py:eval(<<"object()">>),
    ok = py:release(O),
    ok = py:release(O),
    ok = py:release([]).

%% @doc The objects of a process are released when it exits.
owner_exit_releases(_Config) ->
    {ok, Before} = held_in_port(),
    Self = self(),
    Pid = spawn(fun() ->
                    {ok, Refs} = py:eval(<<"[object() for _ in range(100)]">>),
                    Self ! {refs, Refs},
                    receive stop -> ok end
                end),
    Refs = receive {refs, R} -> R after 10000 -> ct:fail(no_refs) end,
    100 = length(Refs),
    ok = py_test_lib:wait_until(fun() -> py_callers:held(Pid) =:= 100 end, 5000),
    {ok, After} = held_in_port(),
    100 = After - Before,
    Mref = monitor(process, Pid),
    Pid ! stop,
    receive {'DOWN', Mref, process, Pid, _} -> ok end,
    ok = py_test_lib:wait_until(fun() -> held_in_port() =:= {ok, Before} end, 5000),
    {error, stale_ref} = py:eval(<<"r">>, #{r => hd(Refs)}).

%% @doc A reference of a port that was restarted is stale.
reference_of_another_port_is_stale(_Config) ->
    {ok, H} = py:call(hashlib, sha256, [{bytes, <<"x">>}]),
    {ok, OsPid} = py_test_lib:os_pid(),
    ok = py_test_lib:kill_9(OsPid),
    ok = py_test_lib:wait_until(fun() ->
                                    case py_test_lib:os_pid() of
                                        {ok, New} -> New =/= OsPid;
                                        {error, _} -> false
                                    end
                                end, 15000),
    {error, stale_ref} = py:call_method(H, hexdigest, []).

%% @doc A reference term made up in Erlang finds no object.
forged_reference_is_stale(_Config) ->
    {error, stale_ref} = py:call_method({'$py_ref', 1, 1}, hexdigest, []),
    {ok, {'$py_ref', Nonce, Id}} = py:eval(<<"object()">>),
    {error, stale_ref} = py:eval(<<"r">>, #{r => {'$py_ref', Nonce, Id + 1000}}),
    ok = py:release({'$py_ref', Nonce, Id}).

%% @doc An object returned to a cast is released at once.
cast_result_is_released(_Config) ->
    {ok, Before} = held_in_port(),
    ok = py:cast(builtins, object, []),
    %% A call after the cast on the one-context pool runs after it.
    {ok, [C]} = py_context_router:start_pool(refs_cast, 1),
    ok = py:cast(C, builtins, object, []),
    {ok, _} = py:eval(C, <<"1">>),
    ok = py_test_lib:wait_until(fun() -> held_in_port() =:= {ok, Before} end, 5000),
    ok = py_context_router:stop_pool(refs_cast).

%% @doc A result that fails to convert after a reference was made keeps no
%% object in the port.
failed_conversion_keeps_nothing(_Config) ->
    {ok, Before} = held_in_port(),
    {error, {'TypeError', _}} = py:eval(<<"[object(), object(), '\\udc80']">>),
    {ok, Before} = held_in_port().

%% @doc Bad arguments to the reference functions.
bad_arguments(_Config) ->
    {error, {badarg, ref}} = py:call_method(not_a_ref, m, []),
    {error, {badarg, ref}} = py:getattr({'$py_ref', a, 1}, name),
    {error, {badarg, ref}} = py:to_term(<<"x">>),
    {error, {badarg, ref}} = py:release([{'$py_ref', 1, 1}, x]),
    {ok, O} = py:eval(<<"object()">>),
    {error, {badarg, name}} = py:getattr(O, 42),
    ok = py:release(O).

%% @doc A million references made and released: the port's memory comes
%% back near where it started.
million_references_released(_Config) ->
    {ok, OsPid} = py_test_lib:os_pid(),
    Batch = fun() ->
                {ok, Refs} = py:eval(<<"[object() for _ in range(10000)]">>),
                ok = py:release(Refs)
            end,
    %% Warm-up: the allocators' high-water mark (one malloc arena per
    %% context thread) settles within a few hundred thousand references.
    [Batch() || _ <- lists:seq(1, 60)],
    Start = py_test_lib:rss_kb(OsPid),
    [Batch() || _ <- lists:seq(1, 100)],
    {ok, 0} = held_in_port(),
    End = py_test_lib:rss_kb(OsPid),
    ct:log("port RSS: ~b KB after warm-up, ~b KB after 1,000,000 more references",
           [Start, End]),
    true = End < Start * 1.1.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

held_in_port() ->
    py:eval(<<"__import__('erlang')._held()">>).
