%% @doc The `preload' of a pool (docs/environments.md): which Python source
%% its contexts run first, and what their replies mean. The port owner
%% ({@link py_port_owner}) sends it and waits for it; this module holds
%% the parts that need no state.
-module(py_preload).

%% API
-export([code/1]).
-export([result/1]).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc The Python source a pool's contexts run first: its `preload'
%% option, else the app env's; `{ok, undefined}' for none. A file is read
%% at each start, so that a restart runs what it holds then.
-spec code(map()) -> {ok, binary() | undefined} | {error, {preload_failed, term()}}.
code(Opts) ->
    case maps:get(preload, Opts, py_config:get(preload)) of
        undefined -> {ok, undefined};
        Code when is_binary(Code) -> {ok, Code};
        Code when is_list(Code) -> {ok, unicode:characters_to_binary(Code)};
        {file, Path} ->
            case file:read_file(Path) of
                {ok, Code} -> {ok, Code};
                {error, Why} -> {error, {preload_failed, {file, Path, Why}}}
            end
    end.

%% @doc The decoded reply to one context's preload (an `exec'): `ok', or
%% the error the pool's start fails with, `{error, {preload_failed,
%% {ExcName, Message}}}' when it raised.
-spec result(term()) -> ok | {error, {preload_failed, term()}}.
result(ok) ->
    ok;
result({error, _, _} = Raised) ->
    {error, Python} = py:failure(Raised),
    {error, {preload_failed, Python}};
result({error, Why}) ->
    {error, {preload_failed, Why}};
result(Other) ->
    {error, {preload_failed, {unexpected_reply, Other}}}.
