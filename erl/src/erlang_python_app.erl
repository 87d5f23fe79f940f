%% @doc The `erlang_python' application: starts the supervisor that owns
%% the Python port. See docs/api.md for the application environment.
-module(erlang_python_app).
-behaviour(application).

%% application callbacks
-export([start/2]).
-export([stop/1]).

%%% ==========================================================================
%%% application callbacks
%%% ==========================================================================

%% @private
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    erlang_python_sup:start_link().

%% @private
-spec stop(term()) -> ok.
stop(_State) ->
    ok.
