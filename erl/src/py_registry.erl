%% @doc The writer of the tables that must outlive a restart of the port,
%% or of any one process of the application.
%%
%% DESIGN: the tables are created by the supervisor (erlang_python_sup
%% calls {@link create_tables/0} in its `init/1'), so they belong to the one
%% process of the application that never restarts: killing this process,
%% the port owner or anything else loses no registration (ranch_sup and
%% ranch_server share the work the same way). Any process reads them
%% directly; every write goes through this gen_server, which serialises
%% them. They are public only because their owner is not their writer.
%%
%% - `py_pool_registrations': `{{Module, Func | '_'}, Pool}', the routing
%%   table that `py:call/3' reads in the caller's process;
%% - `py_pool_specs': `{Pool, Size, Mode}', the pools started at run time,
%%   which the port owner starts again after a restart of the port; the
%%   port owner records a pool here when the port has started it and
%%   forgets it when the port has stopped it, in the order the port did
%%   both, so the specs are always the pools that run;
%% - `py_functions': `{Name :: binary(), Fun | {Module, Function}}', the
%%   Erlang functions Python may call (docs/callbacks.md);
%% - `py_registry_state': `{port_starts, N}', how often the port started;
%% - `py_streams' (`{Ref, Relay, Consumer}'): each stream's relay process
%%   writes its own row, see {@link py_stream}.
%%
%% A write while this process is down (or restarting) returns
%% `{error, not_started}'; reads never fail.
-module(py_registry).
-behaviour(gen_server).

%% API
-export([start_link/0]).
-export([create_tables/0]).
-export([register_pool/3]).
-export([unregister_pool/2]).
-export([lookup_pool/2]).
-export([list_registrations/0]).
-export([remember_pool/4]).
-export([forget_pool/1]).
-export([pool_specs/0]).
-export([port_started/0]).
-export([restarts/0]).
-export([register_function/2]).
-export([unregister_function/1]).
-export([lookup_function/1]).

%% gen_server callbacks
-export([init/1]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).

-include_lib("kernel/include/logger.hrl").

-define(REGISTRATIONS, py_pool_registrations).
-define(SPECS, py_pool_specs).
-define(FUNCTIONS, py_functions).
-define(STREAMS, py_streams).
-define(STATE, py_registry_state).
%% A write is a few ETS operations; a registry that takes longer is stuck.
-define(CALL_TIMEOUT, 5000).

-type write_result() :: ok | {error, not_started | timeout}.

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the registry, registered as `py_registry'.
-spec start_link() -> gen_server:start_ret().
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Creates the tables, owned by the calling process: the supervisor,
%% which outlives every other process of the application.
-spec create_tables() -> ok.
create_tables() ->
    Options = [named_table, public, set, {read_concurrency, true}],
    ?REGISTRATIONS = ets:new(?REGISTRATIONS, Options),
    ?SPECS = ets:new(?SPECS, Options),
    ?FUNCTIONS = ets:new(?FUNCTIONS, Options),
    ?STATE = ets:new(?STATE, Options),
    true = ets:insert(?STATE, {port_starts, 0}),
    ?STREAMS = ets:new(?STREAMS, [named_table, public, set, {write_concurrency, true},
                                  {read_concurrency, true}]),
    ok.

%% @doc Routes calls of `Module' (`Func' = `` '_' '') or of `Module:Func'
%% to `Pool'.
-spec register_pool(atom(), atom(), atom()) -> write_result().
register_pool(Pool, Module, Func) ->
    write({insert, ?REGISTRATIONS, {{Module, Func}, Pool}}).

%% @doc Removes the registration of `Module' (`Func' = `` '_' '') or of
%% `Module:Func'; `ok' also when there was none.
-spec unregister_pool(atom(), atom()) -> write_result().
unregister_pool(Module, Func) ->
    write({delete, ?REGISTRATIONS, {Module, Func}}).

%% @doc The pool for `Module:Func', read in the caller: a function
%% registration, else a module registration, else `default'.
-spec lookup_pool(term(), term()) -> atom().
lookup_pool(Module, Func) ->
    try ets:lookup(?REGISTRATIONS, {Module, Func}) of
        [{_, Pool}] ->
            Pool;
        [] ->
            case ets:lookup(?REGISTRATIONS, {Module, '_'}) of
                [{_, Pool}] -> Pool;
                [] -> default
            end
    catch
        error:badarg -> default % the application is not running
    end.

%% @doc Every registration, sorted by key.
-spec list_registrations() -> [{{atom(), atom()}, atom()}].
list_registrations() ->
    try lists:sort(ets:tab2list(?REGISTRATIONS))
    catch error:badarg -> []
    end.

%% @doc Records a pool the port started, to start again after a restart
%% (the port owner calls it). The first record of a pool stands (starting
%% a running pool again does not change its size) until
%% {@link forget_pool/1}; `default' is not recorded: it always starts with
%% the app env `default_pool_size'.
%% The pool's options (`preload', `venv'; py_context_router:start_pool/4)
%% are recorded too, and it is started again with them: a pool without
%% options as `{Pool, Size, Mode}', one with options as
%% `{Pool, Size, Mode, Opts}'.
-spec remember_pool(atom(), pos_integer(), atom(), map()) -> write_result().
remember_pool(default, _Size, _Mode, _Opts) ->
    ok;
remember_pool(Pool, Size, Mode, Opts) when map_size(Opts) =:= 0 ->
    write({insert_new, ?SPECS, {Pool, Size, Mode}});
remember_pool(Pool, Size, Mode, Opts) ->
    write({insert_new, ?SPECS, {Pool, Size, Mode, Opts}}).

%% @doc Forgets a pool the port stopped (the port owner calls it).
-spec forget_pool(atom()) -> write_result().
forget_pool(Pool) ->
    write({delete, ?SPECS, Pool}).

%% @doc The pools to start after a restart, as `{Pool, Size, Mode}' or
%% `{Pool, Size, Mode, Opts}'.
-spec pool_specs() -> [{atom(), pos_integer(), atom()} | {atom(), pos_integer(), atom(), map()}].
pool_specs() ->
    try lists:sort(ets:tab2list(?SPECS))
    catch error:badarg -> []
    end.

%% @doc Counts a start of the port (the owner calls it once it runs).
-spec port_started() -> write_result().
port_started() ->
    write(port_started).

%% @doc How many times the port was started again since the application
%% started (its first start not counted); 0 when it does not run.
-spec restarts() -> non_neg_integer().
restarts() ->
    try ets:lookup_element(?STATE, port_starts, 2) of
        N when is_integer(N) -> max(0, N - 1)
    catch
        error:badarg -> 0
    end.

%% @doc Makes `Function' callable from Python as `Name' (a UTF-8 binary).
-spec register_function(binary(), fun((list()) -> term()) | {module(), atom()}) ->
          write_result().
register_function(Name, Function) ->
    write({insert, ?FUNCTIONS, {Name, Function}}).

%% @doc Removes the function registered as `Name'; `ok' also if none is.
-spec unregister_function(binary()) -> write_result().
unregister_function(Name) ->
    write({delete, ?FUNCTIONS, Name}).

%% @doc The function registered as `Name', read in the caller.
-spec lookup_function(binary()) -> {ok, fun((list()) -> term()) | {module(), atom()}} | error.
lookup_function(Name) ->
    try ets:lookup(?FUNCTIONS, Name) of
        [{_, Function}] -> {ok, Function};
        [] -> error
    catch
        error:badarg -> error % the application is not running
    end.

%%% ==========================================================================
%%% gen_server callbacks
%%% ==========================================================================

%% @private
%% The tables are the supervisor's: a restarted registry finds them as
%% they were.
init([]) ->
    {ok, #{}}.

%% @private
handle_call(port_started, _From, State) ->
    _ = ets:update_counter(?STATE, port_starts, 1),
    {reply, ok, State};
handle_call({insert, Table, Object}, _From, State) ->
    true = ets:insert(Table, Object),
    {reply, ok, State};
handle_call({insert_new, Table, Object}, _From, State) ->
    _ = ets:insert_new(Table, Object),
    {reply, ok, State};
handle_call({delete, Table, Key}, _From, State) ->
    true = ets:delete(Table, Key),
    {reply, ok, State};
handle_call(Request, _From, State) ->
    ?LOG_WARNING("py_registry: unexpected call ~tp", [Request]),
    {reply, {error, {unknown_call, Request}}, State}.

%% @private
handle_cast(Request, State) ->
    ?LOG_WARNING("py_registry: unexpected cast ~tp", [Request]),
    {noreply, State}.

%% @private
%% Anything is a stray message: log it, keep serving.
handle_info(Info, State) ->
    ?LOG_WARNING("py_registry: unexpected message ~tp", [Info]),
    {noreply, State}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

%% One write, serialised by this process. A registry that is down or dies
%% during the call means the application is stopped or restarting.
write(Request) ->
    try
        gen_server:call(?MODULE, Request, ?CALL_TIMEOUT)
    catch
        exit:{timeout, _} -> {error, timeout};
        exit:_ -> {error, not_started}
    end.
