%% @doc The callers of the port: the Python objects they hold by
%% reference, and the requests they leave behind when they exit.
%%
%% DESIGN: a result with no Erlang mapping arrives as a reference term
%% `{'$py_ref', Nonce, Id}' (docs/references.md), and belongs to the process
%% that received it. That process writes the references it now owns into
%% `py_caller_refs' (`{{Pid, Nonce, Id}}', ordered, so one owner's rows are
%% one range) and its pid into `py_caller_pids' (`{Pid}'), then tells this
%% server (a cast, no round trip), which monitors it and, when it exits,
%% cancels its requests (on every port: the main one and each member of a
%% process pool) and asks the port that made each object it still owned
%% to release it. An explicit `py:release/1' releases at once and deletes the rows.
%% Each process writes only rows of its own pid (the stream relay, those of
%% its consumer), this server deletes only rows of exited pids.
%%
%% The tables belong to the supervisor (see {@link create_tables/0}): when
%% this server dies, a new one monitors again every pid it finds there, so
%% no caller is forgotten, even one whose cast arrived while no server ran.
%% A caller whose references belong to a port that has since restarted
%% keeps its rows until it exits; releasing them then is harmless (the
%% port ignores ids of another nonce).
-module(py_callers).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

%% API
-export([start_link/0]).
-export([create_tables/0]).
-export([own/3]).
-export([disown/3]).
-export([held/1]).
-export([watch/1]).

%% gen_server callbacks
-export([init/1]).
-export([handle_call/3]).
-export([handle_cast/2]).
-export([handle_info/2]).

-define(PORT_KEY, {py, port}).
-define(PIDS, py_caller_pids).
-define(REFS, py_caller_refs).
%% Ids per release request sent when an owner exits.
-define(CHUNK, 10000).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the server, registered as `py_callers'.
-spec start_link() -> gen_server:start_ret().
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Creates the tables, owned by the calling process: the supervisor,
%% which outlives this server.
-spec create_tables() -> ok.
create_tables() ->
    ?PIDS = ets:new(?PIDS, [named_table, public, set, {write_concurrency, true}]),
    ?REFS = ets:new(?REFS, [named_table, public, ordered_set, {write_concurrency, true}]),
    ok.

%% @doc Records that `Pid' owns the objects `Ids' of the port `Nonce'.
-spec own(pid(), non_neg_integer(), [pos_integer()]) -> ok.
own(Pid, Nonce, Ids) ->
    try
        ets:insert(?REFS, [{{Pid, Nonce, Id}} || Id <- Ids]),
        watch(Pid)
    catch
        error:badarg -> ok % the application stopped: so did the port
    end.

%% @doc Records that `Pid' no longer owns `Ids' (it released them).
-spec disown(pid(), non_neg_integer(), [pos_integer()]) -> ok.
disown(Pid, Nonce, Ids) ->
    try [ets:delete(?REFS, {Pid, Nonce, Id}) || Id <- Ids] of
        _ -> ok
    catch
        error:badarg -> ok
    end.

%% @doc Watches `Pid', a process that makes requests: when it exits, its
%% requests still queued or running in the port are cancelled and its
%% objects released.
-spec watch(pid()) -> ok.
watch(Pid) ->
    try ets:insert(?PIDS, {Pid}) of
        true -> gen_server:cast(?MODULE, {watch, Pid})
    catch
        error:badarg -> ok
    end.

%% @doc How many references `Pid' owns (for tests and stats).
-spec held(pid()) -> non_neg_integer().
held(Pid) ->
    try ets:select_count(?REFS, [{{{Pid, '_', '_'}}, [], [true]}])
    catch error:badarg -> 0
    end.

%%% ==========================================================================
%%% gen_server callbacks
%%% ==========================================================================

%% @private
%% Monitors again every caller a previous server knew of.
init([]) ->
    Pids = [Pid || {Pid} <- ets:tab2list(?PIDS)] ++ ref_owners(ets:first(?REFS)),
    {ok, lists:foldl(fun watch/2, #{}, Pids)}. % Pid => MonitorRef

%% @private
handle_call(Request, _From, Watched) ->
    ?LOG_WARNING("py_callers: unexpected call ~tp", [Request]),
    {reply, {error, {unknown_call, Request}}, Watched}.

%% @private
handle_cast({watch, Pid}, Watched) ->
    {noreply, watch(Pid, Watched)};
handle_cast(Request, Watched) ->
    ?LOG_WARNING("py_callers: unexpected cast ~tp", [Request]),
    {noreply, Watched}.

%% @private
%% A caller exited: cancel its requests, release what it still held.
handle_info({'DOWN', Mref, process, Pid, _Reason}, Watched) ->
    case maps:take(Pid, Watched) of
        {Mref, Rest} ->
            ets:delete(?PIDS, Pid),
            cancel_requests(Pid),
            ok = py_process_pool:caller_exited(Pid),
            release(take_refs(Pid)),
            {noreply, Rest};
        _ ->
            {noreply, Watched}
    end;
%% Anything else is a stray message.
handle_info(_Info, Watched) ->
    {noreply, Watched}.

%%% ==========================================================================
%%% Internal
%%% ==========================================================================

watch(Pid, Watched) when is_map_key(Pid, Watched) ->
    Watched;
watch(Pid, Watched) ->
    Watched#{Pid => erlang:monitor(process, Pid)}.

%% Each pid with rows in ?REFS, once: its rows are one range of keys, and
%% {Pid, [], []} sorts after all of them (a list after any number).
ref_owners('$end_of_table') ->
    [];
ref_owners({Pid, _, _}) ->
    [Pid | ref_owners(ets:next(?REFS, {Pid, [], []}))].

%% The references of an exited caller, their rows deleted one by one: a
%% row written meanwhile (a relay's, for its consumer) stays, and its
%% writer's cast brings this server back to it.
take_refs(Pid) ->
    Refs = ets:select(?REFS, [{{{Pid, '$1', '$2'}}, [], [{{'$1', '$2'}}]}]),
    [ets:delete(?REFS, {Pid, Nonce, Id}) || {Nonce, Id} <- Refs],
    Refs.

%% On every port the caller may have used: the main port and each member
%% of a process pool.
cancel_requests(Pid) ->
    Bin = term_to_binary({cancel_caller, cast, Pid}),
    _ = [catch erlang:port_command(Port, Bin) || {Port, _Owner} <- ports()],
    ok.

ports() ->
    Main = case persistent_term:get(?PORT_KEY, undefined) of
               {_, _} = Found -> [Found];
               undefined -> []
           end,
    Main ++ py_process_pool:all_members().

%% The port that made the references of Nonce and the pool to address
%% there: a member of a process pool, else the main port.
nonce_port(Nonce) ->
    case py_process_pool:nonce_route(Nonce) of
        {ok, {Port, _Owner, Pool, _}} ->
            {Port, Pool};
        none ->
            case persistent_term:get(?PORT_KEY, undefined) of
                {Port, _} -> {Port, default};
                undefined -> none
            end
    end.

%% Asks the port to drop the objects, in requests of at most ?CHUNK ids,
%% on the port that made them; nobody waits for the answer.
release([]) ->
    ok;
release(Refs) ->
    ByNonce = maps:groups_from_list(fun({N, _}) -> N end, fun({_, I}) -> I end, Refs),
    _ = [send(nonce_port(Nonce), Nonce, Chunk)
         || {Nonce, Ids} <- maps:to_list(ByNonce), Chunk <- chunks(Ids)],
    ok.

send(none, _Nonce, _Ids) ->
    ok;
send({Port, Pool}, Nonce, Ids) ->
    catch erlang:port_command(Port, term_to_binary({release, cast, Pool, Nonce, Ids})).

chunks(Ids) when length(Ids) =< ?CHUNK ->
    [Ids];
chunks(Ids) ->
    {Chunk, Rest} = lists:split(?CHUNK, Ids),
    [Chunk | chunks(Rest)].
