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
%% A bad application env value fails the start before anything runs:
%% `{error, {bad_env, Key, Value, Expected}}' (py_config).
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case py_config:validate() of
        ok -> erlang_python_sup:start_link();
        {error, _} = Error -> Error
    end.

%% @private
%% The port owner unpublishes the port as it stops; one that was killed
%% could not: no caller may find a port of a stopped application.
-spec stop(term()) -> ok.
stop(_State) ->
    _ = persistent_term:erase({py, port}),
    _ = persistent_term:erase({py, port_info}),
    ok.
