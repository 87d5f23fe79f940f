%% @doc Top supervisor of `erlang_python'.
%%
%% One child for now: {@link py_port_owner}, the process that owns the
%% `py_port' OS process. If the port dies the owner stops, every waiting
%% caller is told through its monitor, and this supervisor starts a fresh
%% owner and port. The pool registry of the next issue goes here, started
%% before the owner so that it outlives an owner crash.
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
    %% A port that dies three times within ten seconds is not coming back:
    %% let the application stop rather than restart Python in a loop.
    Flags = #{strategy => one_for_one, intensity => 3, period => 10},
    Owner = #{id => py_port_owner,
              start => {py_port_owner, start_link, []},
              restart => permanent,
              %% The port exits within a second of losing its input.
              shutdown => 5000,
              type => worker,
              modules => [py_port_owner]},
    {ok, {Flags, [Owner]}}.
