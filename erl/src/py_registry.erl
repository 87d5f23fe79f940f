%% @doc Owner of the tables that must outlive a restart of the port.
%%
%% DESIGN: two ETS tables, read directly by any process and written only
%% through this gen_server, which serialises writes (as ranch_server does):
%%
%% - `py_pool_registrations': `{{Module, Func | '_'}, Pool}', the routing
%%   table that `py:call/3' reads in the caller's process;
%% - `py_pool_specs': `{Pool, Size, Mode}', the pools started at run time,
%%   which the port owner starts again after a restart of the port;
%% - `py_functions': `{Name :: binary(), Fun | {Module, Function}}', the
%%   Erlang functions Python may call (docs/callbacks.md).
%%
%% It also creates `py_streams' (`{Ref, Relay, Consumer}', public: each
%% stream's relay process writes its own row, see {@link py_stream}).
%%
%% The supervisor starts this process before `py_port_owner' (rest_for_one),
%% so a crashing port never takes the registrations with it.
-module(py_registry).
-behaviour(gen_server).

%% API
-export([start_link/0]).
-export([register_pool/3]).
-export([unregister_pool/2]).
-export([lookup_pool/2]).
-export([list_registrations/0]).
-export([remember_pool/3]).
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

-define(REGISTRATIONS, py_pool_registrations).
-define(SPECS, py_pool_specs).
-define(FUNCTIONS, py_functions).
-define(STREAMS, py_streams).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the registry, registered as `py_registry'.
-spec start_link() -> {ok, pid()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Routes calls of `Module' (`Func' = `` '_' '') or of `Module:Func'
%% to `Pool'.
-spec register_pool(atom(), atom(), atom()) -> ok.
register_pool(Pool, Module, Func) ->
    gen_server:call(?MODULE, {insert, ?REGISTRATIONS, {{Module, Func}, Pool}}).

%% @doc Removes the registration of `Module' (`Func' = `` '_' '') or of
%% `Module:Func'; `ok' also when there was none.
-spec unregister_pool(atom(), atom()) -> ok.
unregister_pool(Module, Func) ->
    gen_server:call(?MODULE, {delete, ?REGISTRATIONS, {Module, Func}}).

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

%% @doc Records a pool started at run time, to start again after a restart.
%% The first record of a pool stands (starting a running pool again does
%% not change its size) until {@link forget_pool/1}; `default' is not
%% recorded: it always starts with the app env `default_pool_size'.
-spec remember_pool(atom(), pos_integer(), atom()) -> ok.
remember_pool(default, _Size, _Mode) ->
    ok;
remember_pool(Pool, Size, Mode) ->
    gen_server:call(?MODULE, {insert_new, ?SPECS, {Pool, Size, Mode}}).

%% @doc Forgets a pool that was stopped.
-spec forget_pool(atom()) -> ok.
forget_pool(Pool) ->
    gen_server:call(?MODULE, {delete, ?SPECS, Pool}).

%% @doc The pools to start after a restart, as `{Pool, Size, Mode}'.
-spec pool_specs() -> [{atom(), pos_integer(), atom()}].
pool_specs() ->
    try lists:sort(ets:tab2list(?SPECS))
    catch error:badarg -> []
    end.

%% @doc Counts a start of the port (the owner calls it once it runs).
-spec port_started() -> ok.
port_started() ->
    gen_server:call(?MODULE, port_started).

%% @doc How many times the port was started again since the application
%% started (its first start not counted).
-spec restarts() -> non_neg_integer().
restarts() ->
    gen_server:call(?MODULE, restarts).

%% @doc Makes `Function' callable from Python as `Name' (a UTF-8 binary).
-spec register_function(binary(), fun((list()) -> term()) | {module(), atom()}) -> ok.
register_function(Name, Function) ->
    gen_server:call(?MODULE, {insert, ?FUNCTIONS, {Name, Function}}).

%% @doc Removes the function registered as `Name'; `ok' also if none is.
-spec unregister_function(binary()) -> ok.
unregister_function(Name) ->
    gen_server:call(?MODULE, {delete, ?FUNCTIONS, Name}).

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
init([]) ->
    Options = [named_table, protected, set, {read_concurrency, true}],
    ?REGISTRATIONS = ets:new(?REGISTRATIONS, Options),
    ?SPECS = ets:new(?SPECS, Options),
    ?FUNCTIONS = ets:new(?FUNCTIONS, Options),
    ?STREAMS = ets:new(?STREAMS, [named_table, public, set, {write_concurrency, true},
                                  {read_concurrency, true}]),
    {ok, #{starts => 0}}.

%% @private
handle_call(port_started, _From, #{starts := N} = State) ->
    {reply, ok, State#{starts := N + 1}};
handle_call(restarts, _From, #{starts := N} = State) ->
    {reply, max(0, N - 1), State};
handle_call({insert, Table, Object}, _From, State) ->
    true = ets:insert(Table, Object),
    {reply, ok, State};
handle_call({insert_new, Table, Object}, _From, State) ->
    _ = ets:insert_new(Table, Object),
    {reply, ok, State};
handle_call({delete, Table, Key}, _From, State) ->
    true = ets:delete(Table, Key),
    {reply, ok, State}.

%% @private
handle_cast(_Request, State) ->
    {noreply, State}.
