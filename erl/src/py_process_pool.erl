%% @doc Pools of mode `process': each context a `py_port' OS process of
%% its own (docs/pools.md, "Pool modes").
%%
%% DESIGN: a member of a process pool is a {@link py_port_owner} started
%% with `#{pool => Pool, index => I}': its port runs one pool named `Pool'
%% of one context. The member publishes itself here, not in
%% `persistent_term', once its Python is ready, and takes its row away when
%% it stops. Callers read the tables directly:
%%
%% - `py_process_pools': `{Pool, Size, Counters, Sup}', `Counters' an
%%   `atomics' array of the requests in flight on each member (index
%%   I + 1), `Sup' the pool's supervisor ({@link py_process_sup});
%% - `py_process_members': `{{Pool, I}, Port, Owner, CtxPid, CtxId}' for
%%   each member that runs, and `{{ctx, CtxPid}, Pool, I}' for its context
%%   pid, `{{owner, Owner}, Pool, I}' for its owner, and
%%   `{{nonce, Nonce}, Port, Owner, Pool}' once a reference of its port
%%   came back to a caller (references go back to the port that made them).
%%
%% A caller picks the member with the fewest requests in flight
%% ({@link pick/1}), counts its request there before it writes it, and
%% uncounts it when the reply, the timeout or the member's death comes: a
%% busy member gets no new work while another is free. Each count taken is
%% also a row of `py_process_inflight' (`{{Caller, Tag}, Counters, Ix}'),
%% deleted when the caller gives it back: a caller killed meanwhile never
%% does, and {@link py_callers}, which watches every caller, gives back
%% its counts ({@link caller_exited/1}). The tables belong to
%% the supervisor (created in its `init/1'), so they outlive every member
%% and the pool supervisors; each member writes only its own rows, the pool
%% rows are written by {@link start/3} and {@link stop/1}.
-module(py_process_pool).

%% API
-export([create_tables/0]).
-export([start/3]).
-export([stop/1]).
-export([running/1]).
-export([pick/1]).
-export([member_of/1]).
-export([members/1]).
-export([all_members/0]).
-export([contexts/1]).
-export([done/1]).
-export([publish/5]).
-export([unpublish/2]).
-export([replace_context/4]).
-export([learn_nonce/3]).
-export([nonce_route/1]).
-export([pools/0]).
-export([stats/2]).
-export([caller_exited/1]).
-export([take_count/2]).

-export_type([route/0]).

-define(POOLS, py_process_pools).
-define(MEMBERS, py_process_members).
-define(INFLIGHT, py_process_inflight).

-type route() :: {port() | {py_remote, pid()}, pid(), term(),
                  undefined | {atomics:atomics_ref(), pos_integer(), reference()}}.
%% Where a request goes: the port (`{py_remote, Owner}' for a port of
%% another node, written through its owner: py_remote), its owner, the
%% port's address of the target, and the in-flight counter the request
%% holds (none for a worker pool or a context-addressed call, which has
%% no choice to make).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Creates the tables, owned by the calling process: the supervisor,
%% which outlives every member.
-spec create_tables() -> ok.
create_tables() ->
    Options = [named_table, public, set, {read_concurrency, true}],
    ?POOLS = ets:new(?POOLS, Options),
    %% Ordered: members/1 matches the keys {Pool, _}, which an
    %% ordered_set finds by their prefix instead of scanning the whole
    %% table. A call's pick/1 looks its member up by key.
    ?MEMBERS = ets:new(?MEMBERS, [named_table, public, ordered_set, {read_concurrency, true}]),
    ?INFLIGHT = ets:new(?INFLIGHT, [named_table, public, ordered_set,
                                    {write_concurrency, true}]),
    ok.

%% @doc Starts process pool `Pool' of `Size' members (arguments checked by
%% {@link py_context_router:start_pool/4}) and records its spec
%% (py_registry), or returns the context pids of the pool if it runs
%% already. Returns once every member's Python is ready. Starts and stops
%% of one pool are serialised (a lock per pool name), so that two starts
%% never make two pools, and the spec recorded is that of a pool that runs.
%% The pool's options (`preload', `venv'; see
%% {@link py_context_router:start_pool/4}) are used by every member, also
%% when it is restarted.
-spec start(atom(), pos_integer(), map()) -> {ok, [pid()]} | {error, term()}.
start(Pool, Size, Opts) ->
    locked(Pool, fun() ->
                         case running(Pool) of
                             true -> {ok, contexts(Pool)};
                             false -> start_new(Pool, Size, Opts)
                         end
                 end).

%% @doc Stops process pool `Pool' and forgets its spec: callers waiting on
%% it get `{error, {pool_stopped, Pool}}', every member's OS process ends.
%% `ok' also when it does not run.
-spec stop(atom()) -> ok.
stop(Pool) ->
    locked(Pool, fun() -> stop_locked(Pool) end).

%% @doc Whether process pool `Pool' runs: its supervisor lives (a pool
%% whose members crashed too often has given up).
-spec running(atom()) -> boolean().
running(Pool) ->
    case lookup(?POOLS, Pool) of
        [{Pool, _, _, Sup}] -> is_process_alive(Sup);
        [] -> false
    end.

%% @doc The member of process pool `Pool' with the fewest requests in
%% flight, its counter taken: `{ok, Route}', `none' when `Pool' is no
%% process pool, or `{error, {pool_not_started, Pool}}' when no member of
%% it runs (it is restarting, or gave up).
-spec pick(atom()) -> {ok, route()} | none | {error, {pool_not_started, atom()}}.
pick(Pool) ->
    case lookup(?POOLS, Pool) of
        [{Pool, Size, Counters, _Sup}] ->
            case least(Pool, Counters, Size) of
                {Port, Owner, I} ->
                    {ok, {Port, Owner, Pool, take(Counters, I + 1)}};
                none ->
                    {error, {pool_not_started, Pool}}
            end;
        [] ->
            none
    end.

%% @doc The route to the context `CtxPid' of a process pool, or `none'.
%% Its request is counted in flight too: it loads that member as much.
-spec member_of(pid()) -> {ok, route()} | none.
member_of(CtxPid) ->
    case lookup(?MEMBERS, {ctx, CtxPid}) of
        [{_, Pool, I}] ->
            case {lookup(?MEMBERS, {Pool, I}), lookup(?POOLS, Pool)} of
                {[{_, Port, Owner, CtxPid, CtxId}], [{Pool, _, Counters, _}]} ->
                    {ok, {Port, Owner, {context, CtxId}, take(Counters, I + 1)}};
                _ ->
                    none
            end;
        [] ->
            none
    end.

%% @doc The members of `Pool' that run, by index: `{I, Owner, Port, CtxPid}'.
-spec members(atom()) -> [{non_neg_integer(), pid(), port(), pid()}].
members(Pool) ->
    Rows = try ets:match(?MEMBERS, {{Pool, '$1'}, '$2', '$3', '$4', '_'})
           catch error:badarg -> []
           end,
    lists:sort([{I, Owner, Port, Ctx} || [I, Port, Owner, Ctx] <- Rows]).

%% @doc The port and owner of every member of every process pool.
-spec all_members() -> [{port(), pid()}].
all_members() ->
    try ets:match(?MEMBERS, {{'_', '_'}, '$1', '$2', '_', '_'}) of
        Rows -> [{Port, Owner} || [Port, Owner] <- Rows, is_port(Port)]
    catch
        error:badarg -> []
    end.

%% @doc The context pids of the members of `Pool' that run, in member order.
-spec contexts(atom()) -> [pid()].
contexts(Pool) ->
    [Ctx || {_, _, _, Ctx} <- members(Pool)].

%% @doc The request of a route is answered (or given up): its member has
%% one request less in flight.
-spec done(route() | undefined) -> ok.
done({_Port, _Owner, _Address, {Counters, Ix, Tag}}) ->
    case ets:take(?INFLIGHT, {self(), Tag}) of
        [_] -> atomics:sub(Counters, Ix, 1);
        [] -> ok % the application stopped
    end;
done(_) ->
    ok.

%% @doc Gives back the counts in flight that `Pid', which exited, held
%% (py_callers calls it).
-spec caller_exited(pid()) -> ok.
caller_exited(Pid) ->
    Rows = try ets:select(?INFLIGHT, [{{{Pid, '$1'}, '$2', '$3'}, [], [{{'$1', '$2', '$3'}}]}])
           catch error:badarg -> []
           end,
    [case ets:take(?INFLIGHT, {Pid, Tag}) of
         [_] -> atomics:sub(Counters, Ix, 1);
         [] -> ok
     end || {Tag, Counters, Ix} <- Rows],
    ok.

%% @doc Counts one request more in flight on slot `Ix' of `Counters', for
%% the calling process, as {@link pick/1} does (py_remote's pools with
%% nodes count theirs the same way): {@link done/1} gives it back.
-spec take_count(atomics:atomics_ref(), pos_integer()) ->
          {atomics:atomics_ref(), pos_integer(), reference()}.
take_count(Counters, Ix) ->
    take(Counters, Ix).

%% @doc Publishes member `I' of `Pool' (called by the member, once
%% ready). Its in-flight count goes on: the callers of a member that died
%% give theirs back when the death reaches them.
-spec publish(atom(), non_neg_integer(), port(), pid(), non_neg_integer()) -> ok.
publish(Pool, I, Port, CtxPid, CtxId) ->
    ets:insert(?MEMBERS, [{{Pool, I}, Port, self(), CtxPid, CtxId}, {{ctx, CtxPid}, Pool, I},
                          {{owner, self()}, Pool, I}]),
    ok.

%% @doc Takes the rows of member `I' of `Pool' away, if they are the
%% calling process's.
-spec unpublish(atom(), non_neg_integer()) -> ok.
unpublish(Pool, I) ->
    Self = self(),
    case lookup(?MEMBERS, {Pool, I}) of
        [{_, Port, Self, CtxPid, _}] ->
            ets:match_delete(?MEMBERS, {{nonce, '_'}, Port, '_', '_'}),
            ets:delete(?MEMBERS, {owner, Self}),
            ets:delete(?MEMBERS, {ctx, CtxPid}),
            ets:delete(?MEMBERS, {Pool, I});
        _ ->
            ok
    end,
    ok.

%% @doc The context pid `Old' of member `I' of `Pool' was killed: the
%% member (the caller) starts a new one with `Start(CtxId)' in its place.
-spec replace_context(atom(), non_neg_integer(), pid(), fun((non_neg_integer()) -> pid())) ->
          ok.
replace_context(Pool, I, Old, Start) ->
    Self = self(),
    case lookup(?MEMBERS, {Pool, I}) of
        [{_, Port, Self, Old, CtxId}] ->
            New = Start(CtxId),
            ets:insert(?MEMBERS, [{{Pool, I}, Port, Self, New, CtxId}, {{ctx, New}, Pool, I}]),
            ets:delete(?MEMBERS, {ctx, Old}),
            ok;
        _ ->
            ok
    end.

%% @doc A reply of the port `Port' (owner `Owner') held references of
%% its `Nonce': if that port is a member, later requests on those
%% references go to it ({@link nonce_route/1}).
-spec learn_nonce(non_neg_integer(), port(), pid()) -> ok.
learn_nonce(Nonce, Port, Owner) ->
    case lookup(?MEMBERS, {nonce, Nonce}) of
        [_] ->
            ok;
        [] ->
            case lookup(?MEMBERS, {owner, Owner}) of
                [{_, Pool, _I}] -> ets:insert(?MEMBERS, {{nonce, Nonce}, Port, Owner, Pool}), ok;
                [] -> ok % the main port: the default route finds it
            end
    end.

%% @doc The route to the member whose port made the references of
%% `Nonce', or `none'.
-spec nonce_route(non_neg_integer()) -> {ok, route()} | none.
nonce_route(Nonce) ->
    case lookup(?MEMBERS, {nonce, Nonce}) of
        [{_, Port, Owner, Pool}] -> {ok, {Port, Owner, Pool, undefined}};
        [] -> none
    end.

%% @doc The process pools that run.
-spec pools() -> [atom()].
pools() ->
    try ets:select(?POOLS, [{{'$1', '_', '_', '_'}, [], ['$1']}]) of
        Pools -> lists:sort([P || P <- Pools, running(P)])
    catch
        error:badarg -> []
    end.

%% @doc The stats of process pool `Pool' (see {@link py:stats/0}), summed
%% over its members; `Ask(Route)' asks one member's port for its stats
%% (py.erl's request path).
-spec stats(atom(), fun((route()) -> {ok, map()} | {error, term()})) -> map().
stats(Pool, Ask) ->
    Each = [member_stats(Pool, M, Ask) || M <- members(Pool)],
    sum_stats([S || {ok, S} <- Each]).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% global's lock of this node only: {ResourceId, LockRequesterId}.
locked(Pool, Fun) ->
    global:trans({{?MODULE, Pool}, self()}, Fun, [node()]).

start_new(Pool, Size, Opts) ->
    Counters = atomics:new(Size, [{signed, true}]),
    case py_process_sup:start_pool(Pool, Size, Counters, Opts) of
        {ok, _Sup} ->
            case py_registry:remember_pool(Pool, Size, process, Opts) of
                ok -> {ok, contexts(Pool)};
                {error, _} = Error -> Error
            end;
        {error, {shutdown, {failed_to_start_child, _, Why}}} ->
            {error, member_failed(Pool, Why)};
        {error, _} = Error ->
            Error
    end.

%% Why a member did not start: a preload's error as it is (the same as a
%% worker pool's), anything else as the member said.
member_failed(Pool, {python_start_failed, {pool, Pool, {preload_failed, _} = Why}}) ->
    Why;
member_failed(_Pool, Why) ->
    Why.

stop_locked(Pool) ->
    case lookup(?POOLS, Pool) of
        [{Pool, _Size, _Counters, Sup}] ->
            ets:delete(?POOLS, Pool), % no new request picks it
            _ = [catch gen_server:stop(Owner, {shutdown, {pool_stopped, Pool}}, infinity)
                 || {_, Owner, _, _} <- members(Pool)],
            ok = py_process_sup:stop_pool(Sup),
            _ = py_registry:forget_pool(Pool),
            ok;
        [] ->
            ok
    end.

%% One request more in flight on slot Ix, and its row.
take(Counters, Ix) ->
    Tag = make_ref(),
    ets:insert(?INFLIGHT, {{self(), Tag}, Counters, Ix}),
    atomics:add(Counters, Ix, 1),
    {Counters, Ix, Tag}.

lookup(Table, Key) ->
    try ets:lookup(Table, Key)
    catch error:badarg -> [] % the application is not running
    end.

%% The running member of Pool with the fewest requests in flight, as
%% `{Port, Owner, I}'; the first of equals, so that an idle pool fills
%% from its first member. The members by load, then one lookup each until
%% one runs (a member restarting has no row): no scan of the table.
least(Pool, Counters, Size) ->
    first_running(Pool, lists:sort([{atomics:get(Counters, I + 1), I}
                                    || I <- lists:seq(0, Size - 1)])).

%% The first of the members ByLoad (`{Load, I}') that runs.
first_running(_Pool, []) ->
    none;
first_running(Pool, [{_Load, I} | ByLoad]) ->
    case lookup(?MEMBERS, {Pool, I}) of
        [{_, Port, Owner, _CtxPid, _CtxId}] -> {Port, Owner, I};
        [] -> first_running(Pool, ByLoad)
    end.

%% One member's pool and port stats.
member_stats(Pool, {I, Owner, Port, _Ctx}, Ask) ->
    case Ask({Port, Owner, Pool, undefined}) of
        {ok, #{pools := #{Pool := PoolStats}, os_pid := OsPid, memory := Memory}} ->
            {ok, {PoolStats, #{index => I, os_pid => OsPid, memory => Memory,
                               in_flight => in_flight(Pool, I)}}};
        _ ->
            error % stopped meanwhile
    end.

%% The requests counted in flight on member I of Pool.
in_flight(Pool, I) ->
    case lookup(?POOLS, Pool) of
        [{Pool, _, Counters, _}] -> atomics:get(Counters, I + 1);
        [] -> 0
    end.

%% Counts summed, latencies the worst member's, and each member's process.
sum_stats(Each) ->
    Zero = #{size => 0, busy => 0, queued => 0, tasks => 0, completed => 0, errors => 0,
             timeouts => 0, cancelled => 0, p50_us => -1, p99_us => -1},
    Sum = lists:foldl(fun({S, _}, Acc) -> maps:map(fun(K, V) -> add(K, V, S) end, Acc) end,
                      Zero, Each),
    Sum#{mode => process, processes => [P || {_, P} <- Each]}.

add(K, V, S) when K =:= p50_us; K =:= p99_us -> max(V, maps:get(K, S, -1));
add(K, V, S) -> V + maps:get(K, S, 0).
