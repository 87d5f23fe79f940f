%% @doc What a new user meets first (issue 16): Python's output in a node
%% with the default logger configuration, the common Python types, the
%% atom that stands for None, the functions erlang_python users reach
%% for, and the packaging of the application.
-module(py_adopt_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2,
         end_per_testcase/2]).
-export([output_shows_in_a_plain_node/1,
         output_filter_added_once_and_removed_at_stop/1,
         output_filter_can_be_turned_off/1]).
-export([datetime_family_terms/1,
         decimal_uuid_terms/1,
         set_and_enum_terms/1,
         register_encoder_for_own_type/1,
         register_encoder_refuses_bad_input/1,
         encoder_errors_are_request_errors/1,
         numpy_scalars_are_numbers/1,
         numpy_array_to_erlang/1,
         numpy_array_from_erlang/1,
         numpy_array_bad_terms/1,
         none_atom_nil_both_ways/1]).
-export([interrupt_running_request/1,
         interrupt_bad_targets/1,
         interrupt_process_pool_context/1,
         is_ref_and_context/1,
         gc_collects_cycles/1,
         memory_stats_figures/1,
         configure_logging_follows_primary_level/1,
         timed_out_call_is_interrupted/1]).
-export([app_file_for_hex/1,
         dependency_build_is_py_port_only/1]).

all() ->
    [output_shows_in_a_plain_node, output_filter_added_once_and_removed_at_stop,
     output_filter_can_be_turned_off,
     datetime_family_terms, decimal_uuid_terms, set_and_enum_terms,
     register_encoder_for_own_type, register_encoder_refuses_bad_input,
     encoder_errors_are_request_errors,
     numpy_scalars_are_numbers, numpy_array_to_erlang, numpy_array_from_erlang,
     numpy_array_bad_terms, none_atom_nil_both_ways,
     interrupt_running_request, interrupt_bad_targets, interrupt_process_pool_context,
     is_ref_and_context,
     gc_collects_cycles, memory_stats_figures, configure_logging_follows_primary_level,
     timed_out_call_is_interrupted,
     app_file_for_hex, dependency_build_is_py_port_only].

suite() ->
    [{timetrap, {seconds, 120}}].

init_per_suite(Config) ->
    _ = application:stop(erlang_python),
    py_test_lib:start_app([], Config).

end_per_suite(Config) ->
    py_test_lib:stop_app(Config).

%% numpy is required by `make test' (scripts/setup.sh installs it), and
%% optional where PY_PORT_NUMPY_OPTIONAL is set: scripts/test-pythons.sh
%% runs the suites against Pythons that have none (pyenv's builds here).
init_per_testcase(Case, Config) ->
    NumpyCase = lists:prefix("numpy_", atom_to_list(Case)),
    Optional = os:getenv("PY_PORT_NUMPY_OPTIONAL") =/= false,
    case NumpyCase andalso Optional andalso
        py:exec(<<"import numpy">>) =/= ok of
        true -> {skip, no_numpy};
        false -> Config
    end.

end_per_testcase(_Case, _Config) ->
    ok.

%%% ==========================================================================
%%% Output
%%% ==========================================================================

%% @doc A plain `erl' node, logger untouched: print(), sys.stderr and a
%% logging warning all show on the node's standard output, with levels.
output_shows_in_a_plain_node(_Config) ->
    Code = <<"import sys, logging\n"
             "print('adopt-stdout-line')\n"
             "print('adopt-stderr-line', file=sys.stderr)\n"
             "logging.getLogger('adopt').warning('adopt-warning-%d', 7)\n">>,
    Out = plain_node_output(Code, [<<"adopt-stdout-line">>, <<"adopt-stderr-line">>,
                                   <<"adopt-warning-7">>]),
    %% The default formatter: "=NOTICE REPORT====" headers and the text.
    true = py_test_lib:contains(Out, <<"=NOTICE REPORT====">>),
    true = py_test_lib:contains(Out, <<"=WARNING REPORT====">>).

%% @doc The start adds the `python' filter to the default handler once
%% (a restart does not add a second), and the stop takes it away; a
%% `python' filter of the user's own is left alone.
output_filter_added_once_and_removed_at_stop(Config) ->
    Filter = {fun logger_filters:domain/2, {log, super, [python]}},
    {ok, #{filters := Filters}} = logger:get_handler_config(default),
    {python, Filter} = lists:keyfind(python, 1, Filters),
    ok = application:stop(erlang_python),
    {ok, #{filters := Stopped}} = logger:get_handler_config(default),
    false = lists:keyfind(python, 1, Stopped),
    Own = {fun logger_filters:domain/2, {log, equal, [python]}},
    ok = logger:add_handler_filter(default, python, Own),
    try
        ok = py_test_lib:restart_app(Config),
        ok = application:stop(erlang_python),
        {ok, #{filters := Kept}} = logger:get_handler_config(default),
        [{python, Own}] = [F || {python, _} = F <- Kept]
    after
        _ = logger:remove_handler_filter(default, python),
        ok = py_test_lib:restart_app(Config)
    end.

%% @doc log_to_default_handler = false: the default handler is not
%% touched.
output_filter_can_be_turned_off(Config) ->
    ok = application:stop(erlang_python),
    Started = py_test_lib:start_app([{log_to_default_handler, false}], Config),
    try
        {ok, #{filters := Filters}} = logger:get_handler_config(default),
        false = lists:keyfind(python, 1, Filters),
        {ok, 2} = py:eval(<<"1 + 1">>)
    after
        ok = py_test_lib:stop_app(Started),
        ok = py_test_lib:restart_app(Config)
    end.

%%% ==========================================================================
%%% Types
%%% ==========================================================================

%% @doc datetime, date, time and timedelta: tagged terms, exact to the
%% microsecond, with the UTC offset in seconds (none when naive).
datetime_family_terms(_Config) ->
    Dt = <<"__import__('datetime').">>,
    {ok, {datetime, {{2024, 2, 29}, {13, 45, 30}}, 123456, none}} =
        py:eval(<<Dt/binary, "datetime(2024, 2, 29, 13, 45, 30, 123456)">>),
    {ok, {datetime, {{2024, 1, 1}, {0, 0, 0}}, 0, 7200}} =
        py:eval(<<"(lambda d: d.datetime(2024, 1, 1, tzinfo=d.timezone(d.timedelta(hours=2))))"
                  "(__import__('datetime'))">>),
    {ok, {datetime, _, _, -18000}} =
        py:eval(<<"(lambda d: d.datetime.now(d.timezone(d.timedelta(hours=-5))))"
                  "(__import__('datetime'))">>),
    {ok, {date, {2024, 2, 29}}} = py:eval(<<Dt/binary, "date(2024, 2, 29)">>),
    {ok, {time, {1, 2, 3}, 4, none}} = py:eval(<<Dt/binary, "time(1, 2, 3, 4)">>),
    {ok, {timedelta, -86398999995}} =
        py:eval(<<Dt/binary, "timedelta(days=-1, seconds=1, microseconds=5)">>),
    {ok, [{timedelta, 1}, {date, {1, 1, 1}}]} =
        py:eval(<<"(lambda d: [d.timedelta.resolution, d.date.min])(__import__('datetime'))">>).

%% @doc Decimal and UUID: their exact text, tagged.
decimal_uuid_terms(_Config) ->
    {ok, {decimal, <<"1.10">>}} = py:eval(<<"__import__('decimal').Decimal('1.10')">>),
    {ok, {decimal, <<"-Infinity">>}} = py:eval(<<"__import__('decimal').Decimal('-inf')">>),
    {ok, {uuid, <<"12345678-1234-5678-1234-567812345678">>}} =
        py:eval(<<"__import__('uuid').UUID('{12345678-1234-5678-1234-567812345678}')">>).

%% @doc set and frozenset are lists; an Enum member is its value, an
%% IntEnum member an integer.
set_and_enum_terms(_Config) ->
    {ok, [3]} = py:eval(<<"{3}">>),
    {ok, [1]} = py:eval(<<"frozenset([1])">>),
    ok = py:exec(<<"import enum\n"
                   "class Color(enum.Enum):\n"
                   "    RED = 'red'\n"
                   "    PAIR = (1, 2)\n"
                   "class Level(enum.IntEnum):\n"
                   "    HIGH = 3\n"
                   "class Perm(enum.Flag):\n"
                   "    R = 4\n"
                   "    W = 2\n">>),
    {ok, [<<"red">>, {1, 2}, 3, 6]} =
        py:eval(<<"[Color.RED, Color.PAIR, Level.HIGH, Perm.R | Perm.W]">>).

%% @doc erlang.register_encoder: instances of the type and its subclasses
%% convert through the function, nested anywhere; None unregisters.
register_encoder_for_own_type(_Config) ->
    ok = py:exec(<<"import erlang\n"
                   "class Point:\n"
                   "    def __init__(self, x, y): self.x, self.y = x, y\n"
                   "class Point3(Point): pass\n"
                   "erlang.register_encoder(Point, lambda p: {'x': p.x, 'y': p.y})\n">>),
    {ok, [#{<<"x">> := 1, <<"y">> := 2}, {#{<<"x">> := 3, <<"y">> := 4}}]} =
        py:eval(<<"[Point(1, 2), (Point3(3, 4),)]">>),
    %% An encoder for a type the table knows takes precedence.
    ok = py:exec(<<"import erlang, decimal\n"
                   "erlang.register_encoder(decimal.Decimal, float)\n">>),
    {ok, 1.5} = py:eval(<<"__import__('decimal').Decimal('1.5')">>),
    ok = py:exec(<<"import erlang, decimal\n"
                   "erlang.register_encoder(decimal.Decimal, None)\n"
                   "erlang.register_encoder(Point, None)\n"
                   "erlang.register_encoder(Point, None)\n">>),
    {ok, {decimal, <<"1.5">>}} = py:eval(<<"__import__('decimal').Decimal('1.5')">>),
    {ok, {'$py_ref', _, _} = Ref} = py:eval(<<"Point(1, 2)">>),
    ok = py:release(Ref).

%% @doc register_encoder refuses the built-in types, object, a non-type
%% and a function that is not callable.
register_encoder_refuses_bad_input(_Config) ->
    Msg = <<"register_encoder() takes a type other than object and the built-in types of "
            "docs/types.md, not ">>,
    [begin
         {error, {'TypeError', M}} =
             py:eval(<<"__import__('erlang').register_encoder(", T/binary, ", str)">>),
         true = py_test_lib:contains(M, Msg)
     end || T <- [<<"int">>, <<"bool">>, <<"str">>, <<"dict">>, <<"list">>, <<"object">>,
                  <<"type(None)">>, <<"42">>]],
    {error, {'TypeError', <<"register_encoder() takes a callable or None">>}} =
        py:eval(<<"__import__('erlang').register_encoder(type('T', (), {}), 42)">>),
    {error, {'TypeError', _}} = py:eval(<<"__import__('erlang').register_encoder(int)">>).

%% @doc An encoder that raises fails the one request with its exception;
%% one that returns its argument hits the depth limit.
encoder_errors_are_request_errors(_Config) ->
    ok = py:exec(<<"import erlang\n"
                   "class Bad: pass\n"
                   "class Loop: pass\n"
                   "def bad(o): raise ValueError('no term for Bad')\n"
                   "erlang.register_encoder(Bad, bad)\n"
                   "erlang.register_encoder(Loop, lambda o: o)\n">>),
    {error, {'ValueError', <<"no term for Bad">>}} = py:eval(<<"[Bad()]">>),
    {error, {'TypeError', <<"term nested deeper than 10000 levels">>}} = py:eval(<<"Loop()">>),
    {ok, 2} = py:eval(<<"1 + 1">>).

%% @doc numpy scalars convert as Python's numbers and booleans.
numpy_scalars_are_numbers(_Config) ->
    {ok, [5, 7, 255, 1.5, 0.25, true, false, -3]} =
        py:eval(<<"(lambda np: [np.int64(5), np.int32(7), np.uint8(255), np.float32(1.5), "
                  "np.float64(0.25), np.bool_(True), np.bool_(False), np.int8(-3)])"
                  "(__import__('numpy'))">>),
    {ok, 6} = py:eval(<<"__import__('numpy').arange(4).sum()">>).

%% @doc A numeric array: {ndarray, Dtype, Shape, Bytes} in C order (a
%% transposed one too); an array of objects or strings: nested lists.
numpy_array_to_erlang(_Config) ->
    {ok, {ndarray, <<"<i8">>, {2, 3}, Bin}} =
        py:eval(<<"__import__('numpy').arange(6, dtype='<i8').reshape(2, 3)">>),
    Bin = << <<N:64/little-signed>> || N <- lists:seq(0, 5) >>,
    {ok, {ndarray, <<"<i8">>, {3, 2}, T}} =
        py:eval(<<"__import__('numpy').arange(6, dtype='<i8').reshape(2, 3).T">>),
    T = << <<N:64/little-signed>> || N <- [0, 3, 1, 4, 2, 5] >>,
    {ok, {ndarray, <<"<f4">>, {2}, <<1.5:32/little-float, -2.0:32/little-float>>}} =
        py:eval(<<"__import__('numpy').array([1.5, -2.0], dtype='<f4')">>),
    {ok, {ndarray, <<"|b1">>, {3}, <<1, 0, 1>>}} =
        py:eval(<<"__import__('numpy').array([True, False, True])">>),
    {ok, [[<<"a">>, 1], [none, <<"bc">>]]} =
        py:eval(<<"__import__('numpy').array([['a', 1], [None, 'bc']], dtype=object)">>),
    {ok, [<<"x">>, <<"yz">>]} = py:eval(<<"__import__('numpy').array(['x', 'yz'])">>).

%% @doc {ndarray, Dtype, Shape, Bytes} from Erlang is a writable numpy
%% array; it comes back as the same term.
numpy_array_from_erlang(_Config) ->
    Bin = << <<N:64/little-float>> || N <- [1.0, 2.0, 3.0, 4.0] >>,
    Arr = {ndarray, <<"<f8">>, {2, 2}, Bin},
    {ok, [<<"ndarray">>, <<"float64">>, {2, 2}, 10.0]} =
        py:eval(<<"[type(a).__name__, a.dtype.name, a.shape, a.sum()]">>, #{a => Arr}),
    {ok, Arr} = py:eval(<<"a">>, #{a => Arr}),
    {ok, {ndarray, <<"<f8">>, {2, 2}, _}} = py:eval(<<"(a.__iadd__(1), a)[1]">>, #{a => Arr}),
    {ok, {ndarray, <<"<i4">>, {0}, <<>>}} =
        py:eval(<<"a">>, #{a => {ndarray, int32, [0], <<>>}}),
    Big = binary:copy(<<7>>, 8 * 1024 * 1024),
    {ok, 58720256} = py:eval(<<"int(a.sum())">>, #{a => {ndarray, <<"u1">>, {8, 1024, 1024}, Big}}).

%% @doc A bad ndarray term fails the one request: data that is not a
%% binary, a shape that does not fit the bytes, a dtype numpy does not know.
numpy_array_bad_terms(_Config) ->
    {error, {'TypeError', <<"the data of {ndarray, Dtype, Shape, Data} must be a binary">>}} =
        py:eval(<<"a">>, #{a => {ndarray, <<"<i8">>, {1}, [1, 2]}}),
    {error, {'ValueError', _}} = py:eval(<<"a">>, #{a => {ndarray, <<"<i8">>, {3}, <<1:64>>}}),
    {error, {'TypeError', _}} = py:eval(<<"a">>, #{a => {ndarray, <<"nonsense">>, {1}, <<1>>}}),
    {ok, {ndarray, x}} = py:eval(<<"a">>, #{a => {ndarray, x}}),
    {ok, 2} = py:eval(<<"1 + 1">>).

%% @doc none_atom = nil: None comes back as nil, nil arrives as None,
%% and none and undefined still arrive as None.
none_atom_nil_both_ways(Config) ->
    ok = application:stop(erlang_python),
    Started = py_test_lib:start_app([{none_atom, nil}], Config),
    try
        {ok, nil} = py:eval(<<"None">>),
        {ok, nil} = py:eval(<<"x">>, #{x => nil}),
        {ok, [true, true, true]} =
            py:eval(<<"[v is None for v in x]">>, #{x => [nil, none, undefined]}),
        {ok, {nil, #{<<"k">> := nil}}} = py:eval(<<"(None, {'k': None})">>),
        {ok, {time, {0, 0, 0}, 0, nil}} = py:eval(<<"__import__('datetime').time()">>)
    after
        ok = py_test_lib:stop_app(Started),
        ok = py_test_lib:restart_app(Config)
    end,
    {ok, none} = py:eval(<<"None">>).

%%% ==========================================================================
%%% Functions of erlang_python
%%% ==========================================================================

%% @doc py:interrupt/1 ends the loop a context runs: its caller gets
%% {error, interrupted}, the context serves the next request, and an idle
%% context gives not_running.
interrupt_running_request(_Config) ->
    Ctx = py:context(1),
    not_running = py:interrupt(Ctx),
    H = py:spawn_call(Ctx, builtins, exec,
                      [<<"n = 0\nwhile True:\n    n += 1\n">>, #{}], #{}),
    ok = py_test_lib:wait_until(fun() -> py:interrupt(Ctx) =:= ok end, 10000),
    {error, interrupted} = py:await(H, 10000),
    {ok, 2} = py:eval(Ctx, <<"1 + 1">>),
    not_running = py:interrupt(Ctx),
    %% Only the request it runs: one queued behind it runs to its end.
    Slow = py:spawn_call(Ctx, builtins, exec,
                         [<<"n = 0\nwhile True:\n    n += 1\n">>, #{}], #{}),
    Next = py:spawn_call(Ctx, operator, add, [20, 22]),
    ok = py_test_lib:wait_until(fun() -> py:interrupt(Ctx) =:= ok end, 10000),
    {error, interrupted} = py:await(Slow, 10000),
    {ok, 42} = py:await(Next, 10000).

%% @doc py:interrupt/1 of something that is not a running context.
interrupt_bad_targets(_Config) ->
    {error, {badarg, pool}} = py:interrupt(default),
    Dead = spawn(fun() -> ok end),
    Ref = monitor(process, Dead),
    receive {'DOWN', Ref, process, Dead, _} -> ok end,
    {error, {context_not_found, Dead}} = py:interrupt(Dead).

%% @doc A context of a process pool (a py_port of its own) is interrupted
%% the same way.
interrupt_process_pool_context(_Config) ->
    {ok, [Ctx]} = py_context_router:start_pool(adopt_interrupt, 1, process),
    try
        not_running = py:interrupt(Ctx),
        H = py:spawn_call(Ctx, builtins, exec,
                          [<<"n = 0\nwhile True:\n    n += 1\n">>, #{}], #{}),
        ok = py_test_lib:wait_until(fun() -> py:interrupt(Ctx) =:= ok end, 10000),
        {error, interrupted} = py:await(H, 10000),
        {ok, 3} = py:eval(Ctx, <<"1 + 2">>)
    after
        ok = py_context_router:stop_pool(adopt_interrupt)
    end.

%% @doc is_ref/1 knows references; context/0,1 give contexts of the
%% default pool, context(N) the same one each time.
is_ref_and_context(_Config) ->
    {ok, Obj} = py:eval(<<"object()">>),
    true = py:is_ref(Obj),
    [false = py:is_ref(T) || T <- [{'$py_ref', a, 1}, {'$py_ref', 1}, ref, make_ref(), []]],
    ok = py:release(Obj),
    Contexts = py_context_router:contexts(default),
    true = lists:member(py:context(), Contexts),
    true = lists:member(py:context(default), Contexts),
    C1 = py:context(1),
    C1 = hd(Contexts),
    C1 = py:context(1),
    N = length(Contexts),
    {'EXIT', {{badarg, 0}, _}} = (catch py:context(0)),
    {'EXIT', {{badarg, _}, _}} = (catch py:context(N + 1)),
    {'EXIT', {{pool_not_started, nope}, _}} = (catch py:context(nope)),
    ok.

%% @doc gc/0 finds a reference cycle the collector had not; gc/1 takes a
%% generation.
gc_collects_cycles(_Config) ->
    ok = py:exec(<<"import gc\ngc.disable()\n"
                   "class Cyc: pass\n"
                   "for _ in range(10):\n"
                   "    c = Cyc(); c.me = c\n"
                   "del c\n">>),
    try
        {ok, N} = py:gc(),
        true = N >= 10,
        {ok, 0} = py:gc(),
        {ok, _} = py:gc(0),
        {error, {badarg, args}} = py:gc(3)
    after
        ok = py:exec(<<"__import__('gc').enable()">>)
    end.

%% @doc memory_stats/0: Python's allocator and collector figures, and
%% tracemalloc's while it traces.
memory_stats_figures(_Config) ->
    {ok, #{allocated_blocks := Blocks, gc_count := {_, _, _}, gc_threshold := {_, _, _},
           gc_stats := [#{collections := _, collected := _, uncollectable := _} | _],
           traced_memory := none, rss := Rss}} = py:memory_stats(),
    true = is_integer(Blocks) andalso Rss > 1000000,
    %% 0 when Python does not use its own allocator (the sanitizer runs).
    true = Blocks > 1000 orelse os:getenv("PYTHONMALLOC") =:= "malloc",
    ok = py:exec(<<"__import__('tracemalloc').start()">>),
    try
        {ok, #{traced_memory := {Cur, Peak}}} = py:memory_stats(),
        true = is_integer(Cur) andalso Peak >= Cur
    after
        ok = py:exec(<<"__import__('tracemalloc').stop()">>)
    end.

%% @doc configure_logging/0 gives Python's root logger the primary level
%% of Erlang's logger.
configure_logging_follows_primary_level(_Config) ->
    #{level := Primary} = logger:get_primary_config(),
    try
        ok = logger:set_primary_config(level, notice),
        ok = py:configure_logging(),
        {ok, 25} = py:eval(<<"__import__('logging').getLogger().level">>),
        ok = logger:set_primary_config(level, info),
        ok = py:configure_logging(),
        {ok, 20} = py:eval(<<"__import__('logging').getLogger().level">>),
        ok = logger:set_primary_config(level, all),
        ok = py:configure_logging(),
        {ok, 0} = py:eval(<<"__import__('logging').getLogger().level">>)
    after
        ok = logger:set_primary_config(level, Primary),
        ok = py:configure_logging(#{level => warning})
    end.

%% @doc A call that times out is interrupted (docs/api.md, Timeouts):
%% its context serves the next request at once.
timed_out_call_is_interrupted(_Config) ->
    Ctx = py:context(1),
    {error, timeout} = py:exec(Ctx, <<"n = 0\nwhile True:\n    n += 1\n">>, 200),
    T0 = erlang:monotonic_time(millisecond),
    {ok, 2} = py:eval(Ctx, <<"1 + 1">>, #{}, 10000),
    true = erlang:monotonic_time(millisecond) - T0 < 5000.

%%% ==========================================================================
%%% Packaging
%%% ==========================================================================

%% @doc The app file has licenses, links, and every name the running
%% application registers; LICENSE and CHANGELOG.md are there.
app_file_for_hex(_Config) ->
    {ok, [{application, erlang_python, Keys}]} =
        file:consult(filename:join(code:lib_dir(erlang_python, ebin), "erlang_python.app")),
    ["Apache-2.0"] = proplists:get_value(licenses, Keys),
    [_ | _] = proplists:get_value(links, Keys),
    Registered = proplists:get_value(registered, Keys),
    %% A process pool's processes too.
    {ok, [_]} = py_context_router:start_pool(adopt_procs, 1, process),
    try
        Ours = [Name || Name <- registered(),
                        application:get_application(whereis(Name)) =:= {ok, erlang_python}],
        [] = Ours -- Registered,
        [] = Registered -- Ours
    after
        ok = py_context_router:stop_pool(adopt_procs)
    end,
    {ok, <<"\n", _/binary>> = License} = file:read_file(repo_file("LICENSE")),
    true = py_test_lib:contains(License, <<"Apache License">>),
    true = py_test_lib:contains(License, <<"Version 2.0, January 2004">>),
    {ok, <<"# Changelog", _/binary>>} = file:read_file(repo_file("CHANGELOG.md")).

%% @doc Built by a parent project (rebar3's REBAR_ROOT_DIR elsewhere, or
%% mix's rebar3 bare compile) the Makefile turns PY_PORT_DEV off, and
%% CMake then makes py_port only: no Check tests, no echo port, no -Werror.
dependency_build_is_py_port_only(Config) ->
    Repo = repo_file(""),
    Make = fun(Env) ->
                   os:cmd(Env ++ " make -s -n -C " ++ Repo ++ " port 2>&1")
           end,
    true = string:find(Make("REBAR_ROOT_DIR=/elsewhere"), "-DPY_PORT_DEV=OFF") =/= nomatch,
    true = string:find(Make("REBAR_BARE_COMPILER_OUTPUT_DIR=/x"), "-DPY_PORT_DEV=OFF") =/= nomatch,
    true = string:find(Make("REBAR_ROOT_DIR=" ++ Repo), "-DPY_PORT_DEV=ON") =/= nomatch,
    true = string:find(Make(""), "-DPY_PORT_DEV=ON") =/= nomatch,
    Build = filename:join(?config(priv_dir, Config), "dep_build"),
    Configure = os:cmd("cmake -S " ++ Repo ++ " -B " ++ Build ++ " -DPY_PORT_DEV=OFF "
                       "-DPY_PORT_PRIV_DIR=" ++ Build ++ "/priv >/dev/null 2>&1; echo rc=$?"),
    true = string:find(Configure, "rc=0") =/= nomatch,
    Targets = os:cmd("cmake --build " ++ Build ++ " --target help"),
    true = string:find(Targets, "py_port") =/= nomatch,
    nomatch = string:find(Targets, "check_"),
    nomatch = string:find(Targets, "echo_port"),
    {ok, Flags} = file:read_file(filename:join([Build, "CMakeFiles", "py_port.dir", "flags.make"])),
    false = py_test_lib:contains(Flags, <<"-Werror">>),
    true = py_test_lib:contains(Flags, <<"-Wall">>).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% A file of the repository (the suite is in tests/erl).
repo_file(Name) ->
    filename:join([filename:dirname(filename:dirname(filename:dirname(?FILE))), Name]).

%% Runs Code in a new `erl -noshell' node with the application started
%% and logger as OTP configures it, and returns what the node wrote once
%% every one of Wanted is in it (at most 30 s; the node is killed then).
plain_node_output(Code, Wanted) ->
    Ebin = filename:dirname(code:which(py)),
    Exe = [["-erlang_python", "port_executable", io_lib:format("~p", [binary_to_list(iolist_to_binary(X))])]
           || {ok, X} <- [application:get_env(erlang_python, port_executable)]],
    Eval = io_lib:format("{ok, _} = application:ensure_all_started(erlang_python), "
                         "ok = py:exec(~p), receive after infinity -> ok end.", [Code]),
    Args = ["30", os:find_executable("erl"), "-noshell", "-pa", Ebin | lists:append(Exe)]
        ++ ["-eval", lists:flatten(Eval)],
    Port = open_port({spawn_executable, os:find_executable("timeout")},
                     [{args, Args}, binary, stderr_to_stdout, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    try
        collect(Port, Wanted, <<>>)
    after
        _ = os:cmd("kill " ++ integer_to_list(OsPid)),
        catch port_close(Port)
    end.

collect(Port, Wanted, Acc) ->
    case [W || W <- Wanted, not py_test_lib:contains(Acc, W)] of
        [] ->
            Acc;
        Missing ->
            receive
                {Port, {data, Data}} -> collect(Port, Wanted, <<Acc/binary, Data/binary>>);
                {Port, {exit_status, N}} -> ct:fail({node_exited, N, Missing, Acc})
            after 30000 ->
                ct:fail({missing, Missing, Acc})
            end
    end.
