%% @doc Streams: the items of a Python iterable sent one by one to an
%% Erlang process, with flow control (docs/streaming.md).
%%
%% DESIGN: {@link py:stream_start/4} spawns a relay process for the stream.
%% The relay sends `{stream_start, {Alias, Relay}, Target, Module, Function,
%% Args, Kwargs, Window}' to the port and receives the item frames on its
%% alias (routed by the port owner, like any reply), decodes each and
%% sends `{py_stream, Ref, {data, Item}}' to the consumer, so neither the
%% owner nor the consumer decodes on behalf of another.
%%
%% Flow control: the port sends an item only while it has credit, `Window'
%% at the start. The relay gives credit back (`{stream_credit, ReplyTo,
%% N}') once the port's credit is half spent, as much as keeps what the
%% port may still send plus the messages waiting in the consumer's mailbox
%% within `Window'. When the port has no credit and the consumer's mailbox
%% is full, the relay looks at the mailbox again after 1 ms, then 2, 4, up
%% to 50 ms: the consumer gives no sign when it reads. Messages the
%% consumer leaves in its mailbox count too: a consumer that never takes
%% its other messages out holds its streams back.
%%
%% The relay watches the consumer (monitor) and the port owner (the
%% alias's monitor): a consumer that exits cancels the stream in Python; a
%% port that exits ends it with `{error, {port_exited, Why}}'. `py_streams'
%% (created by py_registry) maps Ref to the relay for {@link cancel/1}.
-module(py_stream).

%% API
-export([start/3]).
-export([cancel/1]).

%% Internal
-export([relay/6]).

-define(STREAMS, py_streams).
-define(MAX_POLL_MS, 50).

-record(relay, {
    consumer :: pid(),
    consumer_mon :: reference(),
    ref :: reference(),
    port :: port() | {py_remote, pid()},
    alias :: reference(),
    window :: pos_integer(),
    credit :: non_neg_integer(), % items the port may send before it waits
    poll = 1 :: pos_integer()    % next wait for a full mailbox, ms
}).

%%% ==========================================================================
%%% API
%%% ==========================================================================

%% @doc Starts the stream of `{Module, Function, Args, Kwargs}' on the port
%% `Port' (owner `Owner') at the address `Target', for the calling
%% process. Arguments are checked by the caller ({@link py:stream_start/4}),
%% which found the port (py_context_router:route/1).
-spec start({port(), pid(), term()}, {term(), term(), list(), map()}, pos_integer()) ->
          {ok, reference()} | {error, not_started}.
start({Port, Owner, Target}, Call, Window) ->
    Ref = make_ref(),
    Relay = spawn(?MODULE, relay, [self(), Ref, Port, Owner, {Target, Call}, Window]),
    try ets:insert(?STREAMS, {Ref, Relay, self()}) of
        true ->
            Relay ! {go, Ref}, % its row exists: it may end, and delete it
            {ok, Ref}
    catch
        error:badarg -> % the application stopped just now
            exit(Relay, kill),
            {error, not_started}
    end.

%% @doc Cancels the stream `Ref' of the calling process and flushes its
%% messages (see {@link py:stream_cancel/1}).
-spec cancel(reference()) -> ok | {error, not_owner}.
cancel(Ref) ->
    Self = self(),
    case lookup(Ref) of
        [{Ref, Relay, Self}] ->
            Mon = erlang:monitor(process, Relay),
            Relay ! {cancel, Ref},
            receive {'DOWN', Mon, process, Relay, _} -> ok end,
            flush(Ref);
        [{Ref, _Relay, _Other}] ->
            {error, not_owner};
        [] ->
            flush(Ref)
    end.

%% A stream's row; none when the application does not run (its streams
%% ended with it).
lookup(Ref) ->
    try ets:lookup(?STREAMS, Ref)
    catch error:badarg -> []
    end.

%%% ==========================================================================
%%% The relay
%%% ==========================================================================

%% @private
relay(Consumer, Ref, Port, Owner, {Target, {Module, Function, Args, Kwargs}}, Window) ->
    receive {go, Ref} -> ok end,
    Alias = erlang:monitor(process, Owner, [{alias, demonitor}]),
    py_remote:watch(Owner), % the py_callers of the port's node
    R = #relay{consumer = Consumer, consumer_mon = erlang:monitor(process, Consumer),
               ref = Ref, port = Port, alias = Alias, window = Window, credit = Window},
    command(R, {stream_start, reply_to(R), Target, Module, Function, Args, Kwargs, Window,
                Consumer}),
    loop(R).

loop(#relay{alias = Alias, consumer_mon = ConsumerMon, ref = Ref} = R) ->
    receive
        {Alias, Payload} ->
            item(binary_to_term(Payload), R);
        {'DOWN', Alias, process, Owner, Reason} ->
            finish(R, {error, py_remote:exit_reason(Reason, Owner)});
        {'DOWN', ConsumerMon, process, _, _} ->
            stop(R);
        {cancel, Ref} ->
            stop(R)
    after poll_timeout(R) ->
        loop(give_credit(R#relay{poll = min(R#relay.poll * 2, ?MAX_POLL_MS)}))
    end.

%% One frame of the stream.
item({data, Item}, #relay{consumer = Consumer, ref = Ref, credit = Credit} = R) ->
    Consumer ! {py_stream, Ref, {data, Item}},
    loop(give_credit(R#relay{credit = Credit - 1}));
item({data, Item, {Nonce, Ids}}, #relay{consumer = Consumer, port = Port} = R) ->
    %% The item holds new Python objects: the consumer owns them (on the
    %% port's node, py_remote).
    ok = py_remote:own(Port, Consumer, Nonce, Ids),
    item({data, Item}, R);
item(done, R) ->
    finish(R, done);
item(Error, R) ->
    finish(R, py:failure(Error)). % as py:call says it

%% Gives the port credit once half of it is spent, if the consumer's
%% mailbox has room; polls the mailbox while the port has none.
give_credit(#relay{credit = Credit, window = Window} = R) when Credit > Window div 2 ->
    R;
give_credit(#relay{consumer = Consumer, credit = Credit, window = Window} = R) ->
    Waiting = case erlang:process_info(Consumer, message_queue_len) of
                  {message_queue_len, N} -> N;
                  undefined -> Window % gone: no more credit; its 'DOWN' follows
              end,
    Grant = Window - Credit - Waiting,
    Worth = max(1, Window div 2), % credit in batches, not item by item
    if
        Grant >= Worth ->
            command(R, {stream_credit, reply_to(R), Grant}),
            R#relay{credit = Credit + Grant, poll = 1};
        true ->
            R % no room: the next item, or the next poll, looks again
    end.

%% Waits for a frame; with no credit left, for the mailbox to drain too.
poll_timeout(#relay{credit = 0, poll = Poll}) -> Poll;
poll_timeout(#relay{}) -> infinity.

finish(#relay{consumer = Consumer, ref = Ref} = R, Last) ->
    Consumer ! {py_stream, Ref, Last},
    forget(R).

%% The consumer cancelled or exited: Python closes the generator.
stop(R) ->
    command(R, {cancel, cast, reply_to(R)}),
    forget(R).

%% The relay's last act. Its monitors go first: on OTP before 25.3
%% (OTP-18496) a process that exits with an active alias leaves the
%% alias's memory behind for good, some 70 bytes a stream.
forget(#relay{ref = Ref, alias = Alias, consumer_mon = ConsumerMon}) ->
    erlang:demonitor(Alias, [flush]),
    erlang:demonitor(ConsumerMon, [flush]),
    catch ets:delete(?STREAMS, Ref),
    ok.

reply_to(#relay{alias = Alias}) ->
    {Alias, self()}.

command(#relay{port = {py_remote, _} = Remote}, Request) ->
    py_remote:command(Remote, Request);
command(#relay{port = Port}, Request) ->
    catch erlang:port_command(Port, term_to_binary(Request)),
    ok.

%% Drops the stream's messages; the objects of items nobody will see are
%% released.
flush(Ref) ->
    receive
        {py_stream, Ref, {data, Item}} ->
            _ = case refs(Item, []) of
                    [] -> ok;
                    Refs -> py:release(Refs)
                end,
            flush(Ref);
        {py_stream, Ref, _} ->
            flush(Ref)
    after 0 ->
        ok
    end.

%% The references anywhere in a term.
refs({'$py_ref', Nonce, Id} = Ref, Acc) when is_integer(Nonce), is_integer(Id) ->
    [Ref | Acc];
refs(List, Acc) when is_list(List) ->
    lists:foldl(fun refs/2, Acc, List);
refs(Tuple, Acc) when is_tuple(Tuple) ->
    refs(tuple_to_list(Tuple), Acc);
refs(Map, Acc) when is_map(Map) ->
    maps:fold(fun(K, V, A) -> refs(K, refs(V, A)) end, Acc, Map);
refs(_, Acc) ->
    Acc.
