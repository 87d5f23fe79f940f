%% @doc The Erlang side of `erlang.call' in Python (docs/callbacks.md).
%%
%% DESIGN: for each call from Python the port owner spawns, and monitors,
%% one process running {@link run/4}; the function never runs in the owner.
%% The process decodes the request `{Name, Args, Context}', runs
%% the function registered as `Name' (py_registry) and writes
%% `{callback_result, Id, Result}' to the port itself. `Context' is
%% `{Pool, CtxId}' when a context waits for the answer: the process keeps
%% it in its dictionary, with the port and owner it came from (a member of
%% a process pool is a port of its own), so that its own requests to
%% `Pool' go to that context on that port ({@link nested_route/1}), which
%% serves them while it waits.
-module(py_callback).

-include_lib("kernel/include/logger.hrl").

%% API
-export([run/4]).
-export([nested_route/1]).
-export([died/3]).
-export([refused/3]).

-define(NESTED, '$py_nested').
-define(NESTED_PORT, '$py_nested_port').
-define(MAX_REASON, 2000).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Runs the callback `Id' of the request `Payload' (the term the port
%% wrote) and writes its result to `Port', whose owner is `Owner'. Spawned
%% by the port owner.
-spec run(port(), pid(), non_neg_integer(), binary()) -> ok.
run(Port, Owner, Id, Payload) ->
    Result = case decode(Payload) of
                 {Name, Args, Context} when is_list(Args) ->
                     put(?NESTED, Context),
                     put(?NESTED_PORT, {Port, Owner}),
                     apply_function(Name, Args);
                 _ ->
                     {error, {error, <<"malformed callback request">>}}
             end,
    reply(Port, Id, Result).

%% @doc The route of a request to `Pool' from this process when it runs a
%% callback for a context of `Pool': that context, on the port it runs
%% in. `none' otherwise.
-spec nested_route(atom()) -> {ok, {port(), pid(), {nested, non_neg_integer()}, undefined}}
                                  | none.
nested_route(Pool) ->
    case {get(?NESTED), get(?NESTED_PORT)} of
        {{Pool, CtxId}, {Port, Owner}} -> {ok, {Port, Owner, {nested, CtxId}, undefined}};
        _ -> none
    end.

%% @doc Answers callback `Id' whose process died with `Reason' before it
%% answered (killed, or linked to a process that died).
-spec died(port(), non_neg_integer(), term()) -> ok.
died(Port, Id, Reason) ->
    reply(Port, Id, {error, {exit, format(Reason)}}).

%% @doc Answers callback `Id' whose process could not be started (the
%% node's process limit: `Reason' is `system_limit'): Python gets
%% `erlang.Error' with `error: Reason'.
-spec refused(port(), non_neg_integer(), atom()) -> ok.
refused(Port, Id, Reason) ->
    reply(Port, Id, {error, {error, atom_to_binary(Reason)}}).

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% The port is trusted; its atoms are bounded by the atom cap.
decode(Payload) ->
    try binary_to_term(Payload)
    catch error:badarg -> undecodable
    end.

apply_function(whereis, [Name]) when is_binary(Name) ->
    Pid = try binary_to_existing_atom(Name) of
              Atom -> whereis(Atom)
          catch
              error:badarg -> undefined % no such atom: nothing registered
          end,
    {ok, case Pid of undefined -> none; _ -> Pid end};
apply_function(Name, Args) when is_binary(Name) ->
    case py_registry:lookup_function(Name) of
        {ok, {Module, Function}} -> invoke(fun() -> Module:Function(Args) end);
        {ok, Fun} -> invoke(fun() -> Fun(Args) end);
        error -> {not_found, Name}
    end.

invoke(Fun) ->
    try
        {ok, Fun()}
    catch
        Class:Reason:Stack ->
            ?LOG_DEBUG("Erlang function called from Python raised ~p:~tp~n~tp",
                       [Class, Reason, Stack], #{domain => [python]}),
            {error, {Class, format(Reason)}}
    end.

%% The reason as text, at most ?MAX_REASON characters: an error that
%% passes through many levels of Python -> Erlang -> Python quotes the
%% message of the level below, which would double at each level.
format(Reason) ->
    Text = io_lib:format("~0tP", [Reason, 50]),
    case string:length(Text) > ?MAX_REASON of
        true -> unicode:characters_to_binary([string:slice(Text, 0, ?MAX_REASON), "..."]);
        false -> unicode:characters_to_binary(Text)
    end.

%% A dead port: nobody waits any more.
reply(Port, Id, Result) ->
    Bin = try term_to_binary({callback_result, Id, Result})
          catch error:_ -> term_to_binary({callback_result, Id, {error, {error, <<"result too large">>}}})
          end,
    catch erlang:port_command(Port, Bin),
    ok.
