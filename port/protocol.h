/*
 * protocol: the wire grammar between erlang_python and py_port.
 *
 * DESIGN: the one C copy of docs/protocol.md; change both together.
 *
 * Frames, both ways: <<Length:32/big, Bytes:Length/binary>>.
 *
 * Requests (one term, version byte 131):
 *   {call,            ReplyTo, Target, Module, Function, Args, Kwargs}
 *   {eval,            ReplyTo, Target, Code, Locals}
 *   {exec,            ReplyTo, Target, Code}
 *   {stream,          ReplyTo, Target, Module, Function, Args, Kwargs}  -> {ok, List}
 *   {stream_eval,     ReplyTo, Target, Code, Locals}                    -> {ok, List}
 *   {stream_start,    ReplyTo, Target, Module, Function, Args, Kwargs, Window, Consumer}
 *                     -> {data, Item} | {data, Item, {Nonce, [Id]}} per item, then
 *                        done | {error, ...}; none after a cancel
 *   {stream_credit,   ReplyTo, N}   no reply; ReplyTo names the stream, N > 0 more items
 *   {start_pool,      ReplyTo, Pool, Size, Mode}
 *   {stop_pool,       ReplyTo, Pool}
 *   {release,         ReplyTo, Target, Nonce, [Id]}
 *   {cancel,          ReplyTo, Key}   -> {ok, Count}  (requests whose ReplyTo is Key)
 *   {cancel_caller,   ReplyTo, Pid}   -> {ok, Count}  (requests whose ReplyTo is {_, Pid})
 *                     both also release the new references of a reply already
 *                     written to Key (to {_, Pid}), one of the last 1024 such
 *   {stats,           ReplyTo}   -> {ok, #{pools => #{Pool => #{...}}, os_pid, memory, ...}}
 *   {ping,            ReplyTo}   -> pong  (answered by the reader: the owner's liveness check)
 *   {interrupt,       ReplyTo, Target} -> {ok, Count}  (the requests Target runs raise
 *                     erlang.Cancelled; their callers get that error reply)
 *   {callback_result, CbId, CbResult}   no reply; answers the event {py_callback, CbId}
 *   {send_credit,     ReplyTo, Bytes}   no reply; Bytes > 0 of erlang.send messages that
 *                     Erlang has taken (flow.h); ReplyTo is not used
 *   Target   = Pool :: atom() | {context, CtxId :: non_neg_integer()}
 *            | {nested, CtxId}   (on that context, in __main__, as for a pool)
 *   Mode     = worker | owngil   (absent, 4 elements: worker; pool.h's context_kind)
 *              A pool request carrying a reference of an owngil context runs on
 *              that context, as {nested, CtxId} (refscan.h)
 *   Window   = pos_integer()   (items sent before the stream waits for credit)
 *   Consumer = pid()   (who the items are for: erlang.self() in the stream's code)
 *   CbId     = non_neg_integer()
 *   CbResult = {ok, Term} | {error, {Class :: error | throw | exit, Reason :: binary()}}
 *            | {not_found, Name :: binary()}
 *
 * Envelope = version byte, tuple header, Op, ReplyTo (and Target; and
 * Window and Consumer for stream_start, N for stream_credit, CbId for
 * callback_result, Bytes for send_credit). A frame whose version, tuple header (arity >= 2), Op
 * or ReplyTo cannot be skipped as terms is untrusted: exit
 * PY_PORT_EXIT_PROTOCOL. Any other problem gets an error reply.
 *
 * Replies: <<HdrLen:16/big, Hdr:HdrLen/binary, Payload/binary>>
 *   Hdr     = term_to_binary(ReplyTo), byte for byte from the request
 *   ReplyTo = cast: only an {error, ...} Result is sent; a result is
 *             neither encoded nor sent, nor is a cancel's {ok, Count}
 *   Payload = term_to_binary(Result)
 *   Module may also be {'$py_ref', Nonce, Id}: a method of that object.
 *   Result  = {ok, Value} | ok | {ok, [CtxId]}   (call/eval, exec/stop_pool/release, start_pool)
 *           | {ok, Value, {Nonce, [Id]}}         (Value holds new references)
 *           | {ok, List} | {ok, List, {Nonce, [Id]}}         (stream, stream_eval)
 *           | {data, Item} | {data, Item, {Nonce, [Id]}} | done (stream_start)
 *           | {ok, Count}                        (cancel, cancel_caller, interrupt)
 *           | pong                               (ping)
 *           | {error, {ExcName, Message}, Traceback}
 *           | {error, {bad_request, What}}
 *           | {error, {pool_not_started, Pool}}
 *           | {error, {pool_stopped, Pool}}  (queued or running when the pool stopped,
 *                                             or addressed to a context of that pool)
 *           | {error, {overloaded, Pool | context}}
 *           | {error, {bad_pool_size, Size}}
 *           | {error, {start_pool_failed, Why}}
 *           | {error, {unsupported_mode, owngil, Why}} | {error, {invalid_mode, Mode}}
 *
 * Events (HdrLen = 0), for the port owner:
 *   {ready, #{python_version => Bin, os_pid => Int, protocol => 1,
 *           version => Bin, free_threaded => Bool,
 *           executable => Bin, prefix => Bin, base_prefix => Bin, stdlib => Bin,
 *           libpython => Bin, site_packages => [Bin]}}   (pyinfo.h)
 *   {start_failed, Message}   then exit PY_PORT_EXIT_PYTHON
 *   {exited, {exit_status, N} | {signal, N, Name}}   (from the monitor process)
 *   {atom, Name :: binary()}   Python data made this atom; written before any
 *                              frame that carries it (erlmod.h)
 *
 * Events with Hdr = term_to_binary(py_output), for the process py_output:
 *   {output, stdout | stderr, [Line :: binary()]}        (output.h)
 *   {log, Levelno, Name, Module, Line, Message}          (pylog.h)
 *     integers Levelno and Line, UTF-8 binaries Name, Module and Message
 *
 * Events from Python code, for the port owner (callback.h):
 *   Hdr = term_to_binary({py_callback, CbId}):
 *     {Name :: binary() | whereis, Args :: list(), Context :: {Pool, CtxId} | undefined}
 *     Context: the context that waits (undefined: a thread that Python
 *     code started)
 *     answered by {callback_result, CbId, CbResult}
 *   Hdr = term_to_binary(py_send):
 *     {Pid :: pid(), Term}   sent to Pid, noconnect; no answer; its payload's
 *     size + FLOW_MESSAGE_COST stays in flight until a send_credit gives it back
 */
#ifndef PY_PORT_PROTOCOL_H
#define PY_PORT_PROTOCOL_H

#define PY_PORT_PROTOCOL_VERSION 1

/* Largest frame accepted; ei indexes buffers with an int. */
#define PY_PORT_MAX_FRAME (1u << 30)

/* Bytes before a reply's payload: frame length, header length. */
#define PY_PORT_FRAME_HDR 4
#define PY_PORT_REPLY_HDR 2

/* Largest pool a start_pool request may ask for. */
#define PY_PORT_MAX_POOL_SIZE 1024

#define PY_PORT_EXIT_OK 0
#define PY_PORT_EXIT_PYTHON 1
#define PY_PORT_EXIT_PROTOCOL 2

#endif
