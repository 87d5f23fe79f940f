%% @doc Pools whose contexts run on other nodes (docs/distribution.md).
%%
%% DESIGN: `start_pool(Pool, Size, #{mode => M, nodes => Nodes})' starts,
%% on each node of `Nodes' (this one may be among them), an ordinary pool
%% `Pool' of `Size' contexts through that node's own
%% `py_context_router:start_pool/3' (an erpc), and learns its part: the
%% port owners that serve it (the node's main port, or each member of a
%% process pool) and its context pids. Callers read the tables below and
%% send their request, encoded in the caller, straight to the remote
%% port's owner (`{py_remote, Bin}', which it writes to its port); the
%% port replies to the caller's alias, which works across nodes. The
%% payload crosses distribution once each way; this server is never on a
%% call's path. A caller monitors the remote owner as it does a local one:
%% a node that goes down answers it at once with `noconnection', which
%% py.erl turns into `{error, {nodedown, Node}}'.
%%
%% Tables, created by the supervisor (they outlive this server, as the
%% other specs do), read by any process, written by this server only,
%% but the nonces table, which callers write:
%%
%% - `py_remote_specs': `{Pool, Size, Mode, Nodes, Counters, Slots, Opts}'
%%   (`Opts' the options of py_context_router:start_pool/4 for each part);
%%   `Counters' an atomics array of the requests in flight from this node
%%   on each route (slot K * Slots + J + 1 for route J of node K);
%% - `py_remote_routes' (ordered): `{{Pool, K, J}, Node, Port, Owner,
%%   Address, Ix}' for each route of a part that is up; `Port' is
%%   `{py_remote, Owner}' on another node, the port itself on this one;
%% - `py_remote_ctxs': `{CtxPid, Pool, {K, N}, Port, Owner, Address, Ix}'
%%   for the N-th context of the part of node K;
%% - `py_remote_owners': `{{Owner, Pool}, K}' for each owner of a part up;
%% - `py_remote_nonces': `{Nonce, Node, Port, Owner, Pool}': the port that
%%   made the references a caller received from a remote part.
%%
%% This server monitors every owner of every part: the routes of an owner
%% that goes down go (all of a part's when its node goes, or its main
%% port restarts; one member's of a process part), and it asks the node
%% for its part again every ?TICK_MS (connecting to a node that is not
%% connected), and at once when `net_kernel:monitor_nodes/1' says the
%% node is up; the node starts its part again if it does not run.
%% Callers do not wait for this server to learn of a node lost: they skip
%% the routes of a node the runtime is no longer connected to.
-module(py_remote).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

%% API
-export([start_link/0]).
-export([create_tables/0]).
-export([start_pool/3]).
-export([stop_pool/1]).
-export([is_pool/1]).
-export([pool/1]).
-export([pick/1]).
-export([context_route/1]).
-export([command/2]).
-export([exit_reason/2]).
-export([watch/1]).
-export([learn/3]).
-export([own/4]).
-export([nonce_route/2]).
-export([pools/0]).
-export([stats/1]).
-export([parts/1]).
%% Called on each node of a pool, by erpc.
-export([local_part/4]).
-export([part_stats/1]).

%% gen_server callbacks
-export([init/1]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).

-define(SPECS, py_remote_specs).
-define(ROUTES, py_remote_routes).
-define(CTXS, py_remote_ctxs).
-define(OWNERS, py_remote_owners).
-define(NONCES, py_remote_nonces).
%% How often parts that are down are asked for again.
-define(TICK_MS, 1000).
%% How long a node may take to start its part, or to give its stats.
-define(PART_TIMEOUT, 60000).
-define(STATS_TIMEOUT, 5000).
%% Whether the runtime holds a connection to Node (or it is this one).
-define(CONNECTED(Node), (Node =:= node() orelse lists:member(Node, nodes()))).

-type spec() :: #{mode => py_context_router:mode(), nodes := [node()],
                  preload => term(), venv => term()}.
-export_type([spec/0]).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the server, registered as `py_remote'.
-spec start_link() -> gen_server:start_ret().
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Creates the tables, owned by the calling process: the supervisor.
-spec create_tables() -> ok.
create_tables() ->
    Read = [named_table, public, {read_concurrency, true}],
    ?SPECS = ets:new(?SPECS, [set | Read]),
    ?ROUTES = ets:new(?ROUTES, [ordered_set | Read]),
    ?CTXS = ets:new(?CTXS, [set | Read]),
    ?OWNERS = ets:new(?OWNERS, [set | Read]),
    ?NONCES = ets:new(?NONCES, [set, {write_concurrency, true} | Read]),
    ok.

%% @doc Starts pool `Pool' of `Size' contexts on each node of `nodes' in
%% `Spec' (`mode' as for {@link py_context_router:start_pool/3}, default
%% `worker'; the other keys are the options of
%% {@link py_context_router:start_pool/4}, for each node) and returns the context pids of the parts that started, in
%% node order. Nodes that cannot be reached now join when they can. A
%% pool that runs is left as it is. Errors: `{error, {badarg, nodes}}'
%% (not a non-empty list of distinct node names), `{error, {Node,
%% Reason}}' when a node refuses the spec (its parts elsewhere are
%% stopped again), `{error, {pool_unavailable, Pool}}' when no node
%% could be reached.
-spec start_pool(atom(), pos_integer(), spec()) -> {ok, [pid()]} | {error, term()}.
start_pool(Pool, Size, #{nodes := Nodes} = Spec) ->
    Mode = maps:get(mode, Spec, worker),
    Opts = maps:without([mode, nodes], Spec),
    case is_list(Nodes) andalso Nodes =/= [] andalso lists:all(fun is_atom/1, Nodes)
        andalso length(lists:usort(Nodes)) =:= length(Nodes) of
        true -> call({start, Pool, Size, Mode, Nodes, Opts});
        false -> {error, {badarg, nodes}}
    end.

%% @doc Stops pool `Pool' on every node of it that can be reached, and
%% forgets it. `ok' also when it does not run.
-spec stop_pool(atom()) -> ok | {error, term()}.
stop_pool(Pool) ->
    call({stop, Pool}).

%% @doc Whether `Pool' is a pool with nodes.
-spec is_pool(atom()) -> boolean().
is_pool(Pool) ->
    lookup(?SPECS, Pool) =/= [].

%% @doc A pool with nodes as py_context_router sees a pool: `{Pool, Mode,
%% CtxPids, []}', or `undefined'.
-spec pool(atom()) -> {atom(), atom(), [pid()], []} | undefined.
pool(Pool) ->
    case lookup(?SPECS, Pool) of
        [{Pool, _Size, Mode, _Nodes, _, _, _}] -> {Pool, Mode, contexts(Pool), []};
        [] -> undefined
    end.

%% @doc The route of a call to pool `Pool': the route with the fewest
%% requests in flight from this node, its count taken; `none' when `Pool'
%% has no nodes, `{error, {pool_unavailable, Pool}}' when every part of
%% it is down. A node the runtime has lost is skipped at once, before
%% this server has taken its routes away (and before a send to it would
%% try to connect again).
-spec pick(atom()) -> {ok, py_process_pool:route()} | none | {error, term()}.
pick(Pool) ->
    case lookup(?SPECS, Pool) of
        [{Pool, _, _, _, Counters, _, _}] ->
            case least(Counters, connected(routes(Pool))) of
                {Port, Owner, Address, Ix} ->
                    {ok, {Port, Owner, Address, py_process_pool:take_count(Counters, Ix)}};
                none ->
                    {error, {pool_unavailable, Pool}}
            end;
        [] ->
            none
    end.

%% @doc The route to context `Ctx', a pid on another node, of a pool with
%% nodes; `{error, {nodedown, Node}}' when its node is not connected.
-spec context_route(pid()) -> {ok, py_process_pool:route()} | {error, term()}.
context_route(Ctx) ->
    case ?CONNECTED(node(Ctx)) andalso lookup(?CTXS, Ctx) of
        false ->
            {error, {nodedown, node(Ctx)}};
        [{Ctx, Pool, _At, Port, Owner, Address, Ix}] ->
            case lookup(?SPECS, Pool) of
                [{Pool, _, _, _, Counters, _, _}] ->
                    {ok, {Port, Owner, Address, py_process_pool:take_count(Counters, Ix)}};
                [] ->
                    {error, {context_not_found, Ctx}}
            end;
        [] ->
            {error, {context_not_found, Ctx}}
    end.

%% @doc Sends the request `Request' to the port of the remote owner
%% `Owner', which writes it as it came. A node that is down drops it; the
%% caller's monitor of `Owner' says so.
-spec command({py_remote, pid()}, term()) -> ok.
command({py_remote, Owner}, Request) ->
    Owner ! {py_remote, term_to_binary(Request)},
    ok.

%% @doc The reason a caller gets when the port owner `Owner' went down
%% with `Reason': `{nodedown, Node}' when the connection to its node is
%% lost, else as {@link py:port_exit_reason/1} says.
-spec exit_reason(term(), pid()) ->
          {port_exited, term()} | {pool_stopped, atom()} | {nodedown, node()}.
exit_reason(noconnection, Owner) -> {nodedown, node(Owner)};
exit_reason(Reason, _Owner) -> py:port_exit_reason(Reason).

%% @doc Has the calling process watched by the py_callers of the node of
%% `Owner' (a port's owner): when it exits, its requests there are
%% cancelled and its objects released. Watched here too: this node's
%% py_callers gives back the requests it had counted in flight.
-spec watch(pid()) -> ok.
watch(Owner) when node(Owner) =:= node() ->
    py_callers:watch(self());
watch(Owner) ->
    ok = py_callers:watch(self()),
    %% There through py_callers:watch/1 too, which writes its row first:
    %% a restarted py_callers of that node watches it again.
    erpc:cast(node(Owner), py_callers, watch, [self()]).

%% @doc A reply from the remote owner `Owner' (port `Port') held
%% references of port `Nonce': later requests on them go there.
-spec learn(non_neg_integer(), {py_remote, pid()}, pid()) -> ok.
learn(Nonce, Port, Owner) ->
    try
        Pool = case ets:match(?OWNERS, {{Owner, '$1'}, '_'}) of
                   [[P] | _] -> P;
                   [] -> default
               end,
        _ = ets:insert_new(?NONCES, {Nonce, node(Owner), Port, Owner, Pool}),
        ok
    catch
        error:badarg -> ok % the application stopped
    end.

%% @doc `Pid' owns the objects `Ids' of port `Nonce', which `Port' runs:
%% recorded on the node of that port, whose py_callers releases them when
%% `Pid' exits.
-spec own(port() | {py_remote, pid()}, pid(), non_neg_integer(), [pos_integer()]) -> ok.
own({py_remote, Owner}, Pid, Nonce, Ids) ->
    erpc:cast(node(Owner), py_callers, own, [Pid, Nonce, Ids]);
own(_Port, Pid, Nonce, Ids) ->
    py_callers:own(Pid, Nonce, Ids).

%% @doc Where a request on a reference of port `Nonce' goes, addressed to
%% `Target': `none' unless a remote part made it; the route to the port
%% that made it; `{error, {nodedown, Node}}' when its node is down,
%% `{error, stale_ref}' when its port has restarted, `{error,
%% {remote_ref, Node}}' when `Target' is a context of another node.
-spec nonce_route(non_neg_integer(), atom() | pid()) ->
          none | {ok, py_process_pool:route()} | {error, term()}.
nonce_route(Nonce, Target) ->
    case lookup(?NONCES, Nonce) of
        [] ->
            none;
        [{Nonce, Node, _, _, _}] when is_pid(Target), node(Target) =:= Node ->
            none;
        [{Nonce, Node, _, _, _}] when is_pid(Target) ->
            {error, {remote_ref, Node}};
        [{Nonce, Node, Port, Owner, Pool}] ->
            case ?CONNECTED(Node) andalso ets:match(?OWNERS, {{Owner, '_'}, '_'}) of
                [_ | _] -> {ok, {Port, Owner, Pool, undefined}};
                _ -> {error, gone(Node)}
            end
    end.

%% @doc The pools with nodes.
-spec pools() -> [atom()].
pools() ->
    try lists:sort(ets:select(?SPECS, [{{'$1', '_', '_', '_', '_', '_', '_'}, [], ['$1']}]))
    catch error:badarg -> []
    end.

%% @doc The stats of pool `Pool' with nodes: the counts summed over the
%% parts that are up, latencies the worst part's, `size' the contexts
%% that are up, and `nodes': for each node its part's stats with `up'
%% and `in_flight' (requests of this node on it), or `#{up => false,
%% in_flight => N}'.
-spec stats(atom()) -> map().
stats(Pool) ->
    case lookup(?SPECS, Pool) of
        [Spec] -> spec_stats(Spec);
        [] -> #{mode => stopped, nodes => #{}} % stopped meanwhile
    end.

spec_stats({Pool, _Size, Mode, Nodes, Counters, Slots, _Opts}) ->
    Up = [Node || {Node, _K} <- parts(Pool)],
    Asked = erpc:multicall(Up, ?MODULE, part_stats, [Pool], ?STATS_TIMEOUT),
    ByNode = maps:from_list([{N, S} || {N, {ok, {ok, S}}} <- lists:zip(Up, Asked)]),
    Each = [{K, Node, maps:get(Node, ByNode, undefined)}
            || {K, Node} <- lists:zip(lists:seq(0, length(Nodes) - 1), Nodes)],
    PerNode = maps:from_list([{Node, node_stats(S, in_flight(Counters, Slots, K))}
                              || {K, Node, S} <- Each]),
    Sum = sum_stats([S || {_, _, S} <- Each, S =/= undefined]),
    Sum#{mode => Mode, nodes => PerNode}.

%% @doc The nodes whose part of `Pool' is up (its node connected), with
%% their number `K'.
-spec parts(atom()) -> [{node(), non_neg_integer()}].
parts(Pool) ->
    Rows = try ets:select(?ROUTES, [{{{Pool, '$1', '_'}, '$2', '_', '_', '_', '_'}, [],
                                     [{{'$2', '$1'}}]}])
           catch error:badarg -> []
           end,
    lists:usort([{Node, K} || {Node, K} <- Rows, ?CONNECTED(Node)]).

%% @doc On a node of a pool: starts its part of `Pool' if it does not run
%% and says where it runs: `{ok, #{routes => [{Port, Owner, Address}],
%% contexts => [{CtxPid, Port, Owner, Address}]}}'.
-spec local_part(atom(), pos_integer(), atom(), map()) -> {ok, map()} | {error, term()}.
local_part(Pool, Size, Mode, Opts) ->
    case py_context_router:start_pool(Pool, Size, Mode, Opts) of
        {ok, _} -> describe(Pool, py_context_router:pool_mode(Pool));
        {error, _} = Error -> Error
    end.

%% @doc On a node of a pool: the stats of its part of `Pool'.
-spec part_stats(atom()) -> {ok, map()} | {error, term()}.
part_stats(Pool) ->
    case py:local_stats() of
        {ok, #{pools := #{Pool := Stats}}} -> {ok, Stats};
        {ok, #{}} -> {error, {pool_not_started, Pool}};
        {error, _} = Error -> Error
    end.

%%% ==========================================================================
%%% gen_server callbacks
%%% ==========================================================================

%% @private
%% The tables are the supervisor's: the owners of the parts that are up
%% are monitored again; parts that are down are asked for at the tick.
init([]) ->
    _ = (catch net_kernel:monitor_nodes(true)),
    Mons = maps:from_list([{erlang:monitor(process, Owner), {Pool, K, Owner}}
                           || {{Owner, Pool}, K} <- ets:tab2list(?OWNERS)]),
    {ok, tick(#{mons => Mons, busy => #{}, tick => undefined})}.

%% @private
handle_call({start, Pool, Size, Mode, Nodes, Opts}, _From, State) ->
    case lookup(?SPECS, Pool) of
        [_] -> {reply, {ok, contexts(Pool)}, State};
        [] -> start_new(Pool, Size, Mode, Nodes, Opts, State)
    end;
handle_call({stop, Pool}, _From, State) ->
    {reply, ok, stop_parts(Pool, State)};
handle_call(Request, _From, State) ->
    {reply, {error, {unknown_call, Request}}, State}.

%% @private
handle_cast(Request, State) ->
    ?LOG_WARNING("py_remote: unexpected cast ~tp", [Request]),
    {noreply, State}.

%% @private
%% An owner of a part went down (its node, or its port): its routes go.
handle_info({'DOWN', Mref, process, _, _}, #{mons := Mons} = State) ->
    case maps:take(Mref, Mons) of
        {{Pool, K, Owner}, Rest} ->
            owner_down(Pool, K, Owner),
            {noreply, tick(State#{mons := Rest})};
        error ->
            {noreply, State}
    end;
%% A node came up: its parts that are down are asked for at once.
handle_info({nodeup, Node}, State) ->
    {noreply, ask_down(fun(N) -> N =:= Node end, State)};
%% A node went down: the owners' monitors say which parts.
handle_info({nodedown, _Node}, State) ->
    {noreply, State};
%% Time to ask again for the parts that are down.
handle_info(tick, State) ->
    {noreply, tick(ask_down(fun(_) -> true end, State#{tick := undefined}))};
%% A node answered for its part.
handle_info({part, Tag, Pool, K, Result}, #{busy := Busy} = State) ->
    case maps:take({Pool, K}, Busy) of
        {Tag, Rest} -> {noreply, tick(part_answer(Pool, K, Result, State#{busy := Rest}))};
        _ -> {noreply, State}
    end;
%% Anything else is a stray message.
handle_info(Info, State) ->
    ?LOG_WARNING("py_remote: unexpected message ~tp", [Info]),
    {noreply, State}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

call(Request) ->
    try
        gen_server:call(?MODULE, Request, infinity)
    catch
        exit:_ -> {error, not_started} % stopped, or restarting
    end.

%% Starts every part at once; a node that refuses the spec makes the
%% start fail, one that cannot be reached joins later.
start_new(Pool, Size, Mode, Nodes, Opts, State) ->
    Answers = erpc:multicall(Nodes, ?MODULE, local_part, [Pool, Size, Mode, Opts], ?PART_TIMEOUT),
    Indexed = lists:zip3(lists:seq(0, length(Nodes) - 1), Nodes, Answers),
    Refused = [{Node, Why} || {_, Node, {ok, {error, Why}}} <- Indexed, Why =/= not_started],
    Started = [{K, Part} || {K, _, {ok, {ok, Part}}} <- Indexed],
    case {Refused, Started} of
        {[{Node, Why} | _], _} ->
            _ = erpc:multicall([lists:nth(K + 1, Nodes) || {K, _} <- Started],
                               py_context_router, stop_pool, [Pool], ?PART_TIMEOUT),
            {reply, {error, {Node, Why}}, State};
        {[], []} ->
            {reply, {error, {pool_unavailable, Pool}}, State};
        {[], _} ->
            Slots = slots(Mode, Size),
            Counters = atomics:new(Slots * length(Nodes), [{signed, true}]),
            true = ets:insert(?SPECS, {Pool, Size, Mode, Nodes, Counters, Slots, Opts}),
            State1 = lists:foldl(fun({K, Part}, S) -> install(Pool, K, Part, S) end,
                                 State, Started),
            {reply, {ok, contexts(Pool)}, tick(State1)}
    end.

%% Routes per node: each member of a process part, the one main port
%% otherwise.
slots(process, Size) -> Size;
slots(_Mode, _Size) -> 1.

stop_parts(Pool, #{mons := Mons} = State) ->
    case lookup(?SPECS, Pool) of
        [{Pool, _, _, Nodes, _, _, _}] ->
            ets:delete(?SPECS, Pool),
            [forget_part(Pool, K) || K <- lists:seq(0, length(Nodes) - 1)],
            _ = erpc:multicall(Nodes, py_context_router, stop_pool, [Pool], ?PART_TIMEOUT),
            Gone = maps:filter(fun(Mref, {P, _, _}) ->
                                       P =:= Pool andalso erlang:demonitor(Mref, [flush])
                               end, Mons),
            State#{mons := maps:without(maps:keys(Gone), Mons)};
        [] ->
            State
    end.

%% Records the part of node K of Pool and monitors its owners.
install(Pool, K, #{routes := Routes, contexts := Ctxs}, State) ->
    [{Pool, _, _, Nodes, _, Slots, _}] = ets:lookup(?SPECS, Pool),
    Node = lists:nth(K + 1, Nodes),
    #{mons := Mons} = demonitor_part(Pool, K, State),
    forget_part(Pool, K),
    Numbered = lists:zip(lists:seq(0, length(Routes) - 1), Routes),
    Ix = fun(J) -> K * Slots + min(J, Slots - 1) + 1 end,
    RouteRows = [{{Pool, K, J}, Node, port(Node, Port, Owner), Owner, Address, Ix(J)}
                 || {J, {Port, Owner, Address}} <- Numbered],
    IxOf = maps:from_list([{Owner, I} || {_, _, _, Owner, _, I} <- RouteRows]),
    CtxRows = [{Ctx, Pool, {K, At}, port(Node, Port, Owner), Owner, Address,
                maps:get(Owner, IxOf, K * Slots + 1)}
               || {At, {Ctx, Port, Owner, Address}} <- lists:enumerate(Ctxs)],
    Owners = lists:usort([Owner || {_, _, _, Owner, _, _} <- RouteRows]),
    ets:insert(?ROUTES, RouteRows),
    ets:insert(?CTXS, CtxRows),
    ets:insert(?OWNERS, [{{Owner, Pool}, K} || Owner <- Owners]),
    New = maps:from_list([{erlang:monitor(process, Owner), {Pool, K, Owner}} || Owner <- Owners]),
    State#{mons := maps:merge(Mons, New)}.

%% A port on this node is written directly; one on another node through
%% its owner.
port(Node, Port, _Owner) when Node =:= node() -> Port;
port(_Node, _Port, Owner) -> {py_remote, Owner}.

%% The rows of part K of Pool go: no call picks it.
forget_part(Pool, K) ->
    ets:match_delete(?ROUTES, {{Pool, K, '_'}, '_', '_', '_', '_', '_'}),
    ets:match_delete(?CTXS, {'_', Pool, {K, '_'}, '_', '_', '_', '_'}),
    ets:match_delete(?OWNERS, {{'_', Pool}, K}),
    ok.

%% An owner of part K went down: its routes and contexts go (a member of
%% a process part restarted, the others serve on; the port of a worker
%% part, or the node: all of them).
owner_down(Pool, K, Owner) ->
    ets:match_delete(?ROUTES, {{Pool, K, '_'}, '_', '_', Owner, '_', '_'}),
    ets:match_delete(?CTXS, {'_', Pool, {K, '_'}, '_', Owner, '_', '_'}),
    ets:delete(?OWNERS, {Owner, Pool}),
    ok.

%% The monitors of part K's owners are dropped.
demonitor_part(Pool, K, #{mons := Mons} = State) ->
    Gone = maps:filter(fun(Mref, {P, PK, _}) ->
                               {P, PK} =:= {Pool, K} andalso erlang:demonitor(Mref, [flush])
                       end, Mons),
    State#{mons := maps:without(maps:keys(Gone), Mons)}.

part_answer(Pool, K, {ok, {ok, Part}}, State) ->
    case lookup(?SPECS, Pool) of
        [_] -> install(Pool, K, Part, State);
        [] -> State % stopped meanwhile
    end;
part_answer(Pool, K, Other, State) ->
    ?LOG_DEBUG("py_remote: part ~p of pool ~p not started: ~tp", [K, Pool, Other]),
    State.

%% Asks each node that passes Which, and has a part down, for that part;
%% a node that is not connected is connected to first (its nodeup asks).
ask_down(Which, State) ->
    Down = [{Pool, K, Node} || {Pool, _, _, Nodes, _, Slots, _} <- ets:tab2list(?SPECS),
                               {K, Node} <- lists:zip(lists:seq(0, length(Nodes) - 1), Nodes),
                               Which(Node), not is_whole(Pool, K, Slots)],
    lists:foldl(fun ask/2, State, Down).

ask({Pool, K, _Node}, #{busy := Busy} = State) when is_map_key({Pool, K}, Busy) ->
    State;
ask({Pool, K, Node}, #{busy := Busy} = State) ->
    case ?CONNECTED(Node) of
        true ->
            [{Pool, Size, Mode, _, _, _, Opts}] = ets:lookup(?SPECS, Pool),
            Self = self(),
            Tag = make_ref(),
            _ = spawn(fun() ->
                              Self ! {part, Tag, Pool, K, ask_part(Node, Pool, Size, Mode, Opts)}
                      end),
            State#{busy := Busy#{{Pool, K} => Tag}};
        false ->
            %% net_kernel may take seconds to give up on a host: not here.
            _ = spawn(fun() -> net_kernel:connect_node(Node) end),
            State
    end.

ask_part(Node, Pool, Size, Mode, Opts) ->
    try erpc:call(Node, ?MODULE, local_part, [Pool, Size, Mode, Opts], ?PART_TIMEOUT) of
        Result -> {ok, Result}
    catch
        Class:Reason -> {Class, Reason}
    end.

%% Whether part K has all its routes (a process part: one per member).
is_whole(Pool, K, Slots) ->
    ets:select_count(?ROUTES, [{{{Pool, K, '_'}, '_', '_', '_', '_', '_'}, [], [true]}]) >= Slots.

%% The next tick, while a part is down.
tick(#{tick := undefined} = State) ->
    Down = [x || {Pool, _, _, Nodes, _, Slots, _} <- ets:tab2list(?SPECS),
                 K <- lists:seq(0, length(Nodes) - 1), not is_whole(Pool, K, Slots)],
    case Down of
        [] -> State;
        _ -> State#{tick := erlang:send_after(?TICK_MS, self(), tick)}
    end;
tick(State) ->
    State.

%% What a part of this node is made of.
describe(Pool, process) ->
    Members = py_process_pool:members(Pool),
    %% A member runs one pool named Pool of one context: Pool addresses it.
    {ok, #{routes => [{Port, Owner, Pool} || {_, Owner, Port, _} <- Members],
           contexts => [{Ctx, Port, Owner, Pool} || {_, Owner, Port, Ctx} <- Members]}};
describe(Pool, _Mode) ->
    %% This node's pool, not the pool with nodes of the same name.
    case {persistent_term:get({py, port}, undefined), ets:lookup(py_pools, Pool)} of
        {{Port, Owner}, [{Pool, _, Pids, Ids}]} ->
            Ctxs = [{Ctx, Port, Owner, {context, Id}} || {Ctx, Id} <- lists:zip(Pids, Ids)],
            {ok, #{routes => [{Port, Owner, Pool}], contexts => Ctxs}};
        _ ->
            {error, not_started}
    end.

%% The context pids of the parts up (their node connected), in node
%% order, then in the order of each part's contexts.
contexts(Pool) ->
    Rows = try ets:match(?CTXS, {'$1', Pool, '$2', '_', '_', '_', '_'})
           catch error:badarg -> []
           end,
    [Ctx || {_, Ctx} <- lists:sort([{At, Ctx} || [Ctx, At] <- Rows]), ?CONNECTED(node(Ctx))].

%% The routes of Pool that are up, as {Port, Owner, Address, Ix}.
routes(Pool) ->
    try ets:select(?ROUTES, [{{{Pool, '_', '_'}, '_', '$1', '$2', '$3', '$4'}, [],
                              [{{'$1', '$2', '$3', '$4'}}]}])
    catch error:badarg -> []
    end.

%% The routes whose node is connected.
connected(Routes) ->
    Nodes = nodes(),
    [R || {_, Owner, _, _} = R <- Routes,
          node(Owner) =:= node() orelse lists:member(node(Owner), Nodes)].

%% The route with the fewest requests in flight; the first of equals.
least(_Counters, []) ->
    none;
least(Counters, [{_, _, _, Ix} = Route | Routes]) ->
    least(Counters, Routes, atomics:get(Counters, Ix), Route).

least(_Counters, [], _Load, Best) ->
    Best;
least(Counters, [{_, _, _, Ix} = Route | Routes], Load, Best) ->
    case atomics:get(Counters, Ix) of
        Less when Less < Load -> least(Counters, Routes, Less, Route);
        _ -> least(Counters, Routes, Load, Best)
    end.

in_flight(Counters, Slots, K) ->
    lists:sum([atomics:get(Counters, K * Slots + J) || J <- lists:seq(1, Slots)]).

node_stats(undefined, InFlight) -> #{up => false, in_flight => InFlight};
node_stats(Stats, InFlight) -> Stats#{up => true, in_flight => InFlight}.

%% Counts summed, latencies the worst part's.
sum_stats(Each) ->
    Zero = #{size => 0, busy => 0, queued => 0, tasks => 0, completed => 0, errors => 0,
             timeouts => 0, cancelled => 0, p50_us => -1, p99_us => -1},
    lists:foldl(fun(S, Acc) -> maps:map(fun(K, V) -> add(K, V, S) end, Acc) end, Zero, Each).

add(K, V, S) when K =:= p50_us; K =:= p99_us -> max(V, maps:get(K, S, -1));
add(K, V, S) -> V + maps:get(K, S, 0).

%% Why a reference of a part that is gone cannot be used.
gone(Node) ->
    case ?CONNECTED(Node) of
        true -> stale_ref;
        false -> {nodedown, Node}
    end.

lookup(Table, Key) ->
    try ets:lookup(Table, Key)
    catch error:badarg -> [] % the application is not running
    end.
