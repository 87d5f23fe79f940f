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
%% Python's output shows in logger's `default' handler unless the app
%% env `log_to_default_handler' is false (py_output).
-spec start(application:start_type(), term()) ->
          {ok, pid(), added | unchanged} | {error, term()}.
start(_Type, _Args) ->
    case py_config:validate() of
        ok -> start_sup(py_config:get(log_to_default_handler));
        {error, _} = Error -> Error
    end.

%% @private
%% The port owner unpublishes the port as it stops; one that was killed
%% could not: no caller may find a port of a stopped application.
%% The filter the start added to the default handler goes with it.
-spec stop(term()) -> ok.
stop(Filter) ->
    _ = persistent_term:erase({py, port}),
    _ = persistent_term:erase({py, port_info}),
    case Filter of
        added -> py_output:hide_from_default_handler();
        _ -> ok
    end.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

start_sup(ShowOutput) ->
    Filter = case ShowOutput of
                 true -> py_output:show_in_default_handler();
                 false -> unchanged
             end,
    case erlang_python_sup:start_link() of
        {ok, Pid} ->
            {ok, Pid, Filter};
        {error, _} = Error ->
            _ = stop(Filter),
            Error
    end.
