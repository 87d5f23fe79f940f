%% @doc Top supervisor of `erlang_python'.
%%
%% Two children, rest_for_one: {@link py_registry}, which owns the pool
%% registrations and the specs of the pools started at run time, and
%% {@link py_port_owner}, the process that owns the `py_port' OS process.
%% If the port dies the owner stops, every waiting caller is told through
%% its monitor, and this supervisor starts a fresh owner and port, which
%% starts the recorded pools again; the registry, started first, outlives
%% it, as does {@link py_output}, which logs Python's stdout and stderr.
%% {@link py_callers}, started last, tracks who owns which Python object
%% and restarts with the port (references of a dead port are stale).
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
    %% A port that dies more than max_restarts times within
    %% max_restart_period seconds is not coming back: let the application
    %% stop rather than restart Python in a loop.
    Flags = #{strategy => rest_for_one,
              intensity => application:get_env(erlang_python, max_restarts, 5),
              period => application:get_env(erlang_python, max_restart_period, 10)},
    %% Started in this order; py_port_owner's port exits within a second
    %% of losing its input, well inside the shutdown time.
    Children = [worker(M) || M <- [py_registry, py_output, py_port_owner, py_callers]],
    {ok, {Flags, Children}}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

worker(Module) ->
    #{id => Module,
      start => {Module, start_link, []},
      restart => permanent,
      shutdown => 5000,
      type => worker,
      modules => [Module]}.
