/*
 * envelope: the routing part of a request, and the framing of replies.
 *
 * DESIGN: envelope_decode() reads only the version byte, tuple header, Op,
 * ReplyTo and Target of a request frame (see protocol.h) into plain C data;
 * the body stays in the frame for the context thread. The reply helpers
 * build <<Len:32, HdrLen:16, Hdr, Payload>> frames in an ei_x_buff. No
 * Python, no locks: any thread may call these on its own data.
 */
#ifndef PY_PORT_ENVELOPE_H
#define PY_PORT_ENVELOPE_H

#include <ei.h>
#include <stddef.h>

enum envelope_op {
    ENVELOPE_CALL,
    ENVELOPE_EVAL,
    ENVELOPE_EXEC,
    ENVELOPE_START_POOL,
    ENVELOPE_STOP_POOL,
    ENVELOPE_RELEASE,
    ENVELOPE_CANCEL,
    ENVELOPE_CANCEL_CALLER,
    ENVELOPE_STATS,
    ENVELOPE_STREAM,          /* call, the result collected into a list */
    ENVELOPE_STREAM_EVAL,     /* eval, the result collected into a list */
    ENVELOPE_STREAM_START,    /* call, each item of the result sent on its own */
    ENVELOPE_STREAM_CREDIT,   /* more items a stream may send */
    ENVELOPE_CALLBACK_RESULT, /* what an Erlang function called from Python returned */
    ENVELOPE_SEND_CREDIT,     /* bytes of erlang.send messages Erlang has taken (flow.h) */
    ENVELOPE_PING,            /* is the channel alive: answered pong by the reader */
    ENVELOPE_INTERRUPT,       /* interrupt what a context (each context of a pool) runs */
};

struct envelope {
    enum envelope_op op;
    int reply_off, reply_len;   /* ReplyTo's bytes in the frame, no version */
    char pool[MAXATOMLEN_UTF8]; /* target pool; "" when ctx_id >= 0 */
    long ctx_id;                /* target context, or -1 for a pool */
    int nested;                 /* {nested, CtxId}: on that context, in __main__ */
    long size;                  /* start_pool: requested size */
    char mode[16];              /* start_pool: Mode, "worker" when absent (4 elements) */
    int body_off;               /* first byte after the envelope */
    int key_off, key_len;       /* cancel, stream_credit: the ReplyTo to cancel or credit;
                                   cancel_caller: its pid */
    long count;                 /* stream_credit: how many items more; stream_start: the first;
                                   callback_result: the callback's id; send_credit: bytes */
    int caller_off, caller_len; /* stream_start: the consumer's pid (erlang.self()) */
    char error[160];            /* why a request was refused */
};

/* Whether the request's ReplyTo is the atom `cast` (in any of the atom
 * encodings): nobody waits for its result, docs/protocol.md. */
int envelope_is_cast(const char *frame, const struct envelope *env);

/* The request's name on the wire ("call", "eval", ...). */
const char *envelope_op_name(enum envelope_op op);

/*
 * Decodes the envelope of frame[0, len). Returns 0 for a well-formed
 * request; 1 for a trusted envelope with a bad request (env->error says
 * why, reply_off/reply_len are valid so it can be answered); -EPROTO when
 * the frame cannot be trusted (env->error says why).
 */
int envelope_decode(const char *frame, size_t len, struct envelope *env);

/* Deepest nesting that envelope_skip_term() follows. */
#define ENVELOPE_MAX_DEPTH 1000

/*
 * Moves *index past the term at frame[*index] if the whole term lies
 * before len. Reads no byte at or past len, trusts no length or count in
 * the term (each is checked against the bytes left), follows nesting to
 * ENVELOPE_MAX_DEPTH levels, and does not otherwise validate the term.
 * Returns 0, or -1 with *index unchanged. Use it, not ei_skip_term(), on
 * received bytes: ei_skip_term() checks no bounds and ignores errors
 * inside lists and tuples, so a short frame can send it gigabytes away
 * or through billions of elements.
 */
int envelope_skip_term(const char *frame, size_t len, int *index);

/* Bytes of a term's tag and fixed header (the tag byte, and lengths,
 * counts or fixed fields that follow it), or 0 for a tag this layer does
 * not know. Shared by every bounded decoder of the port; inline, as they
 * ask it for every term they read. */
static inline size_t envelope_head_size(int tag)
{
    switch (tag) {
    case ERL_NIL_EXT:
    case ERL_PID_EXT:
    case ERL_NEW_PID_EXT:
    case ERL_PORT_EXT:
    case ERL_NEW_PORT_EXT:
    case ERL_V4_PORT_EXT:
    case ERL_REFERENCE_EXT:
    case ERL_EXPORT_EXT:
        return 1;
    case ERL_SMALL_INTEGER_EXT:
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
    case ERL_SMALL_TUPLE_EXT:
        return 2;
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_STRING_EXT:
    case ERL_SMALL_BIG_EXT:
    case ERL_NEW_REFERENCE_EXT:
    case ERL_NEWER_REFERENCE_EXT:
        return 3;
    case ERL_INTEGER_EXT:
    case ERL_BINARY_EXT:
    case ERL_LARGE_TUPLE_EXT:
    case ERL_LIST_EXT:
    case ERL_MAP_EXT:
    case ERL_FUN_EXT:
    case ERL_NEW_FUN_EXT:
        return 5;
    case ERL_BIT_BINARY_EXT:
    case ERL_LARGE_BIG_EXT:
        return 6;
    case NEW_FLOAT_EXT:
        return 9;
    case ERL_FLOAT_EXT:
        return 32;
    default:
        return 0;
    }
}

/*
 * Starts a reply to the request whose ReplyTo is frame[reply_off,
 * reply_off + reply_len): room for the lengths, the header, the payload's
 * version byte. reply_len 0 starts an event for the owner. Returns 0 or -1
 * (out of memory). The payload term is then encoded into x.
 */
int envelope_reply_begin(ei_x_buff *x, const char *frame, int reply_off, int reply_len);

/* Index in x where the payload term starts (after its version byte), to
 * rewind a partly encoded payload. */
int envelope_payload_start(const ei_x_buff *x);

/*
 * Patches the lengths and hands the frame over: *buf (malloc'd, the caller
 * now owns it) and *len. `outside` counts payload bytes that are not in x
 * but written with it (large binaries, see convert_py_to_term_parts());
 * the frame's length includes them. x is left empty. Returns 0.
 */
int envelope_reply_finish(ei_x_buff *x, size_t outside, char **buf, size_t *len);

/* A whole reply {error, {Tag, Detail}} with Detail a UTF-8 binary, or an
 * atom when detail_is_atom. Returns 0 or -1 (out of memory). */
int envelope_reply_error(const char *frame, int reply_off, int reply_len, const char *tag,
                         const char *detail, int detail_is_atom, char **buf, size_t *len);

#endif
