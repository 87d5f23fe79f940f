%% @doc Pools of contexts, and the routing of calls to them by registration.
%%
%% A pool is a named set of contexts, each an OS thread of `py_port' with
%% its own Python thread state, represented here by a pid (see
%% docs/pools.md). Reads (`pool_started/1', `contexts/1', `lookup_pool/2',
%% ...) go straight to ETS from the caller; starting and stopping a pool
%% goes through `py_port_owner', registrations through `py_registry'.
-module(py_context_router).

%% API
-export([start_pool/2]).
-export([start_pool/3]).
-export([start_pool/4]).
-export([stop_pool/1]).
-export([pool_started/1]).
-export([get_context/1]).
-export([num_contexts/1]).
-export([contexts/1]).
-export([register_pool/2]).
-export([register_pool/3]).
-export([unregister_pool/1]).
-export([unregister_pool/2]).
-export([lookup_pool/2]).
-export([list_pool_registrations/0]).
-export([context_target/1]).
-export([route/1]).
-export([pool_stats/1]).
-export([pool_mode/1]).

-export_type([pool/0]).
-export_type([mode/0]).

-type pool() :: atom().
%% worker: contexts are threads of the main port sharing its one
%% interpreter and GIL; owngil: threads of the main port, each running its
%% own sub-interpreter with its own GIL (Python 3.12+); process: each
%% context a py_port OS process of its own (docs/pools.md).
-type mode() :: worker | owngil | process.

-define(POOLS, py_pools).
-define(CONTEXTS, py_contexts).
-define(MAX_POOL_SIZE, 1024).
-define(PORT_KEY, {py, port}).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @equiv start_pool(Pool, Size, worker)
-spec start_pool(pool(), pos_integer()) -> {ok, [pid()]} | {error, term()}.
start_pool(Pool, Size) ->
    start_pool(Pool, Size, worker).

%% @doc Starts pool `Pool' of `Size' contexts (1 to 1024) and returns their
%% pids, in context order. A pool that runs already is left as it is and
%% its contexts are returned. The pool is started again after a restart of
%% the port. `Mode' is `worker' (threads of the main port), `owngil'
%% (threads of the main port, each with a sub-interpreter and GIL of its
%% own) or `process' (each context an OS process of its own, restarted
%% alone when it crashes); docs/pools.md, "Pool modes". A name runs in one
%% mode at a time: starting a running pool in another mode returns its
%% contexts.
%%
%% `Mode' may also be a map `#{mode => Mode, nodes => [Node]}': the pool
%% then runs `Size' contexts on each of those nodes (this one may be
%% among them), each running this application; the map's other keys are
%% the options of {@link start_pool/4}, for every node. See
%% {@link py_remote} and docs/distribution.md. A map with `mode' alone
%% is that mode.
%%
%% Errors: `{error, {badarg, pool}}', `{error, {bad_pool_size, Size}}',
%% `{error, {invalid_mode, Mode}}', `{error, {unsupported_mode, owngil,
%% Why}}' when the port's Python is older than 3.12 (`Why' a binary),
%% `{error, not_started}' when the application does not run.
-spec start_pool(pool(), pos_integer(), mode() | #{mode => mode(), nodes => [node()],
                                                     preload => term(), venv => term()}) ->
          {ok, [pid()]} | {error, term()}.
start_pool(Pool, Size, #{nodes := _} = Spec)
  when is_atom(Pool), is_integer(Size), Size >= 1, Size =< ?MAX_POOL_SIZE ->
    py_remote:start_pool(Pool, Size, Spec);
start_pool(Pool, Size, #{mode := Mode} = Spec) when map_size(Spec) =:= 1 ->
    start_pool(Pool, Size, Mode, #{});
start_pool(Pool, Size, Spec) when Spec =:= #{} ->
    start_pool(Pool, Size, worker, #{});
start_pool(Pool, Size, Mode) ->
    start_pool(Pool, Size, Mode, #{}).

%% @doc {@link start_pool/3} with options (docs/pools.md, "Pool options"):
%%
%% - `preload => Source | {file, Path}': Python source (a UTF-8 binary or
%%   a string) or
%%   a file of it that each context of the pool runs in its `__main__'
%%   before the pool is returned, and again in each context that comes
%%   back after a restart of its port; it replaces the app env `preload'
%%   for this pool. A preload that raises fails the start with
%%   `{error, {preload_failed, {ExcName, Message}}}' and leaves no pool.
%% - `venv => Dir' (`process' pools only): each member's py_port runs the
%%   virtualenv `Dir' instead of the app env `venv'
%%   (docs/environments.md).
%%
%% The options are recorded with the pool and used again when it is
%% started again. A bad option: `{error, {bad_option, Key, Value}}'.
-spec start_pool(pool(), pos_integer(), mode(), #{preload => binary() | string() | {file, file:filename()},
                                                  venv => file:filename()}) ->
          {ok, [pid()]} | {error, term()}.
start_pool(Pool, _Size, _Mode, _Opts) when not is_atom(Pool) ->
    {error, {badarg, pool}};
start_pool(_Pool, Size, _Mode, _Opts)
  when not is_integer(Size); Size < 1; Size > ?MAX_POOL_SIZE ->
    {error, {bad_pool_size, Size}};
start_pool(_Pool, _Size, Mode, _Opts)
  when Mode =/= worker, Mode =/= owngil, Mode =/= process ->
    {error, {invalid_mode, Mode}};
start_pool(Pool, Size, Mode, Opts) ->
    case check_options(Mode, Opts) of
        ok -> start_checked(Pool, Size, Mode, Opts);
        {error, _} = Error -> Error
    end.

%% @doc Stops pool `Pool'. Requests queued for it or running on it are
%% answered at once with `{error, {pool_stopped, Pool}}' (Python code that
%% runs is left to finish in the port; its result is dropped); its context
%% pids have exited when this returns. Registrations that point at the
%% pool stay. `ok' also for a pool that does not run. A pool with nodes
%% is stopped on each of them.
-spec stop_pool(pool()) -> ok | {error, term()}.
stop_pool(Pool) when is_atom(Pool) ->
    case {py_remote:is_pool(Pool), py_process_pool:running(Pool)} of
        {true, _} -> py_remote:stop_pool(Pool);
        {false, true} -> py_process_pool:stop(Pool);
        {false, false} -> py_port_owner:stop_pool(Pool)
    end;
stop_pool(_Pool) ->
    {error, {badarg, pool}}.

%% @doc Whether pool `Pool' runs.
-spec pool_started(pool()) -> boolean().
pool_started(Pool) ->
    pool(Pool) =/= undefined.

%% @doc A context pid of pool `Pool', chosen in turn. Raises
%% `error({pool_not_started, Pool})' for a pool that does not run.
-spec get_context(pool()) -> pid().
get_context(Pool) ->
    case contexts(Pool) of
        [] ->
            erlang:error({pool_not_started, Pool});
        Pids ->
            N = erlang:unique_integer([positive, monotonic]) rem length(Pids),
            lists:nth(N + 1, Pids)
    end.

%% @doc The number of contexts of pool `Pool'; 0 for a pool that does not run.
-spec num_contexts(pool()) -> non_neg_integer().
num_contexts(Pool) ->
    length(contexts(Pool)).

%% @doc The context pids of pool `Pool', in context order; `[]' for a pool
%% that does not run.
-spec contexts(pool()) -> [pid()].
contexts(Pool) ->
    case pool(Pool) of
        {Pool, _Mode, Pids, _Ids} -> Pids;
        undefined -> []
    end.

%% @doc Routes every call of `Module' to `Pool'.
-spec register_pool(pool(), atom()) -> ok | {error, term()}.
register_pool(Pool, Module) ->
    register_pool(Pool, Module, '_').

%% @doc Routes calls of `Module:Func' to `Pool'; this takes priority over a
%% registration of the whole module.
-spec register_pool(pool(), atom(), atom()) -> ok | {error, term()}.
register_pool(Pool, Module, Func) ->
    case check([{Pool, pool}, {Module, module}, {Func, function}]) of
        ok -> py_registry:register_pool(Pool, Module, Func);
        Error -> Error
    end.

%% @doc Removes the registration of the whole module `Module'.
-spec unregister_pool(atom()) -> ok | {error, term()}.
unregister_pool(Module) ->
    unregister_pool(Module, '_').

%% @doc Removes the registration of `Module:Func'.
-spec unregister_pool(atom(), atom()) -> ok | {error, term()}.
unregister_pool(Module, Func) ->
    case check([{Module, module}, {Func, function}]) of
        ok -> py_registry:unregister_pool(Module, Func);
        Error -> Error
    end.

%% @doc The pool a call of `Module:Func' goes to: a registration of the
%% function, else of the module, else `default'. Names may be binaries; a
%% binary that names no existing atom has no registration.
-spec lookup_pool(atom() | binary(), atom() | binary()) -> pool().
lookup_pool(Module, Func) ->
    py_registry:lookup_pool(to_atom(Module), to_atom(Func)).

%% @doc Every registration as `{{Module, Func | '_'}, Pool}', sorted.
-spec list_pool_registrations() -> [{{atom(), atom()}, pool()}].
list_pool_registrations() ->
    py_registry:list_registrations().

%% @doc What pool `Pool' has done (see {@link py:stats/0} for the keys):
%% `{ok, Stats}', or `{error, {pool_not_started, Pool}}'.
-spec pool_stats(pool()) -> {ok, map()} | {error, term()}.
pool_stats(Pool) ->
    case py:stats() of
        {ok, #{pools := #{Pool := Stats}}} -> {ok, Stats};
        {ok, #{}} -> {error, {pool_not_started, Pool}};
        {error, _} = Error -> Error
    end.

%% @private The mode of a running pool, or undefined.
-spec pool_mode(pool()) -> mode() | undefined.
pool_mode(Pool) ->
    case pool(Pool) of
        {Pool, Mode, _Pids, _Ids} -> Mode;
        undefined -> undefined
    end.

%% @private Where a request to `Target' goes (the routing seam of
%% py.erl, the same for every mode): `{ok, {Port, Owner, Address,
%% Counter}}'. A pool name from a process that runs an Erlang function
%% for a context of that pool: the port and context that wait for it
%% ({@link py_callback:nested_route/1}); a pool with nodes: its route
%% with the fewest requests in flight ({@link py_remote:pick/1}); a
%% process pool: its member with
%% the fewest requests in flight, `Counter' taken
%% ({@link py_process_pool:done/1} gives it back); a worker pool: the main
%% port. A context pid: the port that runs it.
-spec route(atom() | pid()) -> {ok, py_process_pool:route()} | {error, term()}.
route(Pool) when is_atom(Pool) ->
    case py_callback:nested_route(Pool) of
        {ok, _} = Nested ->
            Nested;
        none ->
            case py_remote:pick(Pool) of
                none -> local_route(Pool);
                Remote -> Remote
            end
    end;
route(Ctx) when is_pid(Ctx), node(Ctx) =/= node() ->
    py_remote:context_route(Ctx);
route(Ctx) when is_pid(Ctx) ->
    case py_process_pool:member_of(Ctx) of
        {ok, _} = Member ->
            Member;
        none ->
            case context_target(Ctx) of
                {error, _} = Error -> Error;
                Address -> main(Address)
            end
    end.

%% @private The port's address of context `Pid': `{context, Id}'.
-spec context_target(pid()) -> {context, non_neg_integer()} | {error, term()}.
context_target(Pid) ->
    try ets:lookup(?CONTEXTS, Pid) of
        [{Pid, _Pool, Id}] -> {context, Id};
        [] -> {error, {context_not_found, Pid}}
    catch
        error:badarg -> {error, {context_not_found, Pid}}
    end.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

local_route(Pool) ->
    case py_process_pool:pick(Pool) of
        none -> main(Pool);
        Picked -> Picked
    end.

%% A running pool, worker or process, or with nodes, as {Pool, Mode,
%% Pids, CtxIds}.
pool(Pool) ->
    case py_remote:pool(Pool) of
        undefined -> local_pool(Pool);
        Remote -> Remote
    end.

local_pool(Pool) ->
    try ets:lookup(?POOLS, Pool) of
        [Entry] -> Entry;
        [] -> process_pool(Pool)
    catch
        error:badarg -> undefined % the application is not running
    end.

process_pool(Pool) ->
    case py_process_pool:running(Pool) of
        true -> {Pool, process, py_process_pool:contexts(Pool), []};
        false -> undefined
    end.

%% The main port, for Address.
main(Address) ->
    case persistent_term:get(?PORT_KEY, undefined) of
        {Port, Owner} -> {ok, {Port, Owner, Address, undefined}};
        undefined -> {error, not_started}
    end.

start_checked(Pool, Size, Mode, Opts) when Mode =:= worker; Mode =:= owngil ->
    case py_process_pool:running(Pool) of
        true -> {ok, py_process_pool:contexts(Pool)};
        false -> py_port_owner:start_pool(Pool, Size, Mode, Opts)
    end;
start_checked(Pool, Size, process, Opts) ->
    start_process_pool(Pool, Size, Opts, local_pool(Pool)).

%% A pool of that name runs in worker mode already: left as it is.
start_process_pool(_Pool, _Size, _Opts, {_, worker, Pids, _}) ->
    {ok, Pids};
start_process_pool(Pool, Size, Opts, _) ->
    py_process_pool:start(Pool, Size, Opts).

%% The options of start_pool/4: a map of known keys with valid values;
%% venv for process pools only (the others share the main port's Python).
check_options(_Mode, Opts) when not is_map(Opts) ->
    {error, {bad_option, options, Opts}};
check_options(Mode, Opts) ->
    Bad = [{K, V} || {K, V} <- maps:to_list(Opts), not valid_option(Mode, K, V)],
    case lists:sort(Bad) of
        [] -> ok;
        [{K, V} | _] -> {error, {bad_option, K, V}}
    end.

valid_option(_Mode, preload, V) -> py_config:is_preload(V);
valid_option(process, venv, V) -> py_config:is_venv(V);
valid_option(_Mode, _Key, _V) -> false.

check([]) -> ok;
check([{Name, _What} | Rest]) when is_atom(Name) -> check(Rest);
check([{_Name, What} | _]) -> {error, {badarg, What}}.

%% The atom a registration would use for Name; a key no registration has
%% when there is no such atom.
to_atom(Name) when is_atom(Name) ->
    Name;
to_atom(Name) when is_binary(Name) ->
    try binary_to_existing_atom(Name, utf8)
    catch error:badarg -> {no_atom, Name}
    end;
to_atom(Name) ->
    {no_atom, Name}.
