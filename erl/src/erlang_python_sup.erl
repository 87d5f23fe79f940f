%% @doc Top supervisor of `erlang_python'.
%%
%% It owns the tables whose content must survive the death of any other
%% process of the application: it creates them in `init/1' and never
%% restarts (if it dies, the application stops). Those of
%% {@link py_registry} (pool registrations, the specs of the pools started
%% at run time, the functions Python may call, the restart counter, the
%% streams) and of {@link py_callers} (who owns which Python object, which
%% callers are watched), and of {@link py_process_pool} (the process pools
%% and their members, written by each member for itself). Each table has
%% one writer process, which finds the table as it was when it restarts.
%%
%% Six children, rest_for_one: {@link py_registry}, the writer of the
%% registrations; {@link py_output}, which logs Python's stdout and
%% stderr; {@link py_process_sup}, the pools whose contexts are OS
%% processes of their own (before the main port's owner, so that a
%% restart of the main port leaves them running); {@link py_port_owner},
%% the process that owns the main `py_port' OS process; {@link py_callers},
%% which releases the objects of callers that exit; {@link py_remote},
%% which keeps the parts of pools on other nodes (its tables, the specs
%% of those pools among them, are this supervisor's too). If the main port dies
%% its owner stops, every waiting caller is told through its monitor, and
%% this supervisor starts a fresh owner and port, which starts the
%% recorded pools again.
-module(erlang_python_sup).
-behaviour(supervisor).

%% API
-export([start_link/0]).

%% supervisor callbacks
-export([init/1]).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the supervisor, registered as `erlang_python_sup'.
-spec start_link() -> supervisor:startlink_ret().
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%%% ==========================================================================
%%% supervisor callbacks
%%% ==========================================================================

%% @private
init([]) ->
    ok = py_registry:create_tables(),
    ok = py_callers:create_tables(),
    ok = py_process_pool:create_tables(),
    ok = py_remote:create_tables(),
    %% A port that dies more than max_restarts times within
    %% max_restart_period seconds is not coming back: let the application
    %% stop rather than restart Python in a loop.
    Flags = #{strategy => rest_for_one,
              intensity => py_config:get(max_restarts),
              period => py_config:get(max_restart_period)},
    %% Started in this order; py_port_owner's port exits within a second
    %% of losing its input, well inside the shutdown time.
    %% py_process_sup comes before the main port's owner: a restart of the
    %% main port leaves the process pools running, and the owner starts
    %% the recorded process pools through it.
    Children = [worker(M) || M <- [py_registry, py_output]]
        ++ [process_sup()]
        ++ [worker(M) || M <- [py_port_owner, py_callers, py_remote]],
    {ok, {Flags, Children}}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

process_sup() ->
    #{id => py_process_sup,
      start => {py_process_sup, start_link, []},
      restart => permanent,
      shutdown => infinity,
      type => supervisor,
      modules => [py_process_sup]}.

worker(Module) ->
    #{id => Module,
      start => {Module, start_link, []},
      restart => permanent,
      shutdown => 5000,
      type => worker,
      modules => [Module]}.
