%% @doc The Erlang face of one context (one OS thread of py_port).
%%
%% DESIGN: a context is a thread inside py_port; this process stands for it
%% so that callers can address it with a pid (`py:call(Ctx, M, F, Args)').
%% It does no work: requests go straight to the port, addressed by the
%% context id that `py_context_router' keeps for the pid. The port owner
%% starts it linked when the context's pool starts and stops it when the
%% pool stops; it dies with the owner when the port dies, so it lives
%% exactly as long as the context.
-module(py_context).

%% API
-export([start_link/2]).
-export([stop/1]).

%% Internal
-export([init/2]).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the process for context `CtxId' of `Pool', linked to the caller.
-spec start_link(atom(), non_neg_integer()) -> pid().
start_link(Pool, CtxId) ->
    proc_lib:spawn_link(?MODULE, init, [Pool, CtxId]).

%% @doc Asks the process to exit (reason `normal'); the owner sees the
%% `'EXIT''.
-spec stop(pid()) -> ok.
stop(Pid) ->
    Pid ! {?MODULE, stop},
    ok.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% @private
init(Pool, CtxId) ->
    put(py_context, {Pool, CtxId}),
    receive
        {?MODULE, stop} -> ok
    end.
