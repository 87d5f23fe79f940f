%% @doc Supervisors of the process pools (docs/pools.md, "Pool modes").
%%
%% DESIGN: two levels in one module (the `init/1' argument says which).
%% The top one, registered as `py_process_sup', a child of
%% erlang_python_sup started before the main port's owner, holds one
%% supervisor per process pool as a `temporary' child: a pool whose
%% members crash more than `max_restarts' times within
%% `max_restart_period' seconds gives up alone, and neither the
%% application nor the main port nor another pool notices. A pool's
%% supervisor holds its members, one {@link py_port_owner} each
%% (`transient', one_for_one): a member that crashed is started again in
%% its place (same pool, same index), a member stopped with `{shutdown,
%% _}' ({@link py_process_pool:stop/1}) is not.
-module(py_process_sup).
-behaviour(supervisor).

%% API
-export([start_link/0]).
-export([start_pool/4]).
-export([stop_pool/1]).

%% Internal
-export([start_pool_link/4]).

%% supervisor callbacks
-export([init/1]).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the top supervisor, registered as `py_process_sup'.
-spec start_link() -> supervisor:startlink_ret().
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, top).

%% @doc Starts the supervisor of pool `Pool' and its `Size' members, whose
%% in-flight counts are `Counters', each member started with the pool's
%% options `Opts' (`preload', `venv'). Returns once every member is ready.
-spec start_pool(atom(), pos_integer(), atomics:atomics_ref(), map()) ->
          supervisor:startchild_ret() | {error, not_started}.
start_pool(Pool, Size, Counters, Opts) ->
    try
        supervisor:start_child(?MODULE, [Pool, Size, Counters, Opts])
    catch
        exit:{noproc, _} -> {error, not_started}
    end.

%% @doc Stops the supervisor `Sup' of a pool and its members.
-spec stop_pool(pid()) -> ok.
stop_pool(Sup) ->
    _ = catch supervisor:terminate_child(?MODULE, Sup),
    ok.

%% @private The pool's supervisor: its row in py_process_pools goes first,
%% so that each member finds its counter when it publishes itself.
-spec start_pool_link(atom(), pos_integer(), atomics:atomics_ref(), map()) ->
          supervisor:startlink_ret().
start_pool_link(Pool, Size, Counters, Opts) ->
    supervisor:start_link(?MODULE, {pool, Pool, Size, Counters, Opts}).

%%% ==========================================================================
%%% supervisor callbacks
%%% ==========================================================================

%% @private
init(top) ->
    Child = #{id => pool,
              start => {?MODULE, start_pool_link, []},
              restart => temporary,
              shutdown => infinity,
              type => supervisor,
              modules => [?MODULE]},
    {ok, {#{strategy => simple_one_for_one, intensity => 0, period => 1}, [Child]}};
init({pool, Pool, Size, Counters, Opts}) ->
    true = ets:insert(py_process_pools, {Pool, Size, Counters, self()}),
    Flags = #{strategy => one_for_one,
              intensity => py_config:get(max_restarts),
              period => py_config:get(max_restart_period)},
    {ok, {Flags, [member(Pool, I, Opts) || I <- lists:seq(0, Size - 1)]}}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% A member's port exits within a second of losing its input, well inside
%% the shutdown time.
member(Pool, I, Opts) ->
    #{id => I,
      start => {py_port_owner, start_link, [#{pool => Pool, index => I, opts => Opts}]},
      restart => transient,
      shutdown => 5000,
      type => worker,
      modules => [py_port_owner]}.
