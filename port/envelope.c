/*
 * envelope: decoding request envelopes, building reply frames.
 *
 * DESIGN: every step of envelope_decode() checks that the index stays
 * inside the frame, and a term is only decoded once envelope_skip_term()
 * (not ei_skip_term(), which trusts every length and count) has found
 * all of it inside; a failure before ReplyTo is known makes the frame
 * untrusted (nobody could be answered), a failure after it is a bad
 * request answered to ReplyTo. Pure functions on caller-owned data.
 */
#include "envelope.h"

#include "frame.h"
#include "protocol.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct op_spec {
    const char *name;
    enum envelope_op op;
    int arity;
};

// clang-format off
static const struct op_spec OPS[] = {
    {"call", ENVELOPE_CALL, 7},
    {"eval", ENVELOPE_EVAL, 5},
    {"exec", ENVELOPE_EXEC, 4},
    {"release", ENVELOPE_RELEASE, 5},
    {"cancel", ENVELOPE_CANCEL, 3},
    {"cancel_caller", ENVELOPE_CANCEL_CALLER, 3},
    {"start_pool", ENVELOPE_START_POOL, 5}, /* also 4: Mode is then worker */
    {"stop_pool", ENVELOPE_STOP_POOL, 3},
    {"stats", ENVELOPE_STATS, 2},
    {"stream", ENVELOPE_STREAM, 7},
    {"stream_eval", ENVELOPE_STREAM_EVAL, 5},
    {"stream_start", ENVELOPE_STREAM_START, 9},
    {"stream_credit", ENVELOPE_STREAM_CREDIT, 3},
    {"callback_result", ENVELOPE_CALLBACK_RESULT, 3},
    {"send_credit", ENVELOPE_SEND_CREDIT, 3},
    {"ping", ENVELOPE_PING, 2},
    {"interrupt", ENVELOPE_INTERRUPT, 3},
};
// clang-format on

const char *envelope_op_name(enum envelope_op op)
{
    for (size_t k = 0; k < sizeof(OPS) / sizeof(OPS[0]); k++)
        if (OPS[k].op == op)
            return OPS[k].name;
    return "?";
}

static int refuse(struct envelope *env, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->error, sizeof(env->error), fmt, ap);
    va_end(ap);
    return rc;
}

#define UNTRUSTED(...) refuse(env, -EPROTO, __VA_ARGS__)
#define BAD(...) refuse(env, 1, __VA_ARGS__)

/* Skipping terms within bounds: envelope_skip_term(). */

/* The n-byte big-endian count after a tag. */
static unsigned long long count_at(const unsigned char *t, int n)
{
    unsigned long long v = 0;
    for (int k = 1; k <= n; k++)
        v = v << 8 | t[k];
    return v;
}

static int skip(const unsigned char *p, size_t len, size_t *at, int depth);

/* Skips n terms; each takes one byte at least, so n is checked first. */
static int skip_n(const unsigned char *p, size_t len, size_t *at, unsigned long long n, int depth)
{
    if (n > len - *at)
        return -1;
    for (; n > 0; n--)
        if (skip(p, len, at, depth) != 0)
            return -1;
    return 0;
}

/* A term is its head, then `terms` nested terms (elements, pairs, a
 * pid's node atom), then `tail` plain bytes (a binary's data, a pid's
 * numbers). */
static int skip(const unsigned char *p, size_t len, size_t *at, int depth)
{
    const unsigned char *t = p + *at;
    size_t head = *at < len ? envelope_head_size(t[0]) : 0;
    unsigned long long terms = 0, tail = 0;
    if (head == 0 || head > len - *at || depth > ENVELOPE_MAX_DEPTH)
        return -1;
    switch (t[0]) {
    case ERL_SMALL_ATOM_EXT:
    case ERL_SMALL_ATOM_UTF8_EXT:
    case ERL_SMALL_BIG_EXT:
        tail = t[1];
        break;
    case ERL_ATOM_EXT:
    case ERL_ATOM_UTF8_EXT:
    case ERL_STRING_EXT:
        tail = count_at(t, 2);
        break;
    case ERL_BINARY_EXT:
    case ERL_BIT_BINARY_EXT:
    case ERL_LARGE_BIG_EXT:
        tail = count_at(t, 4);
        break;
    case ERL_SMALL_TUPLE_EXT:
        terms = t[1];
        break;
    case ERL_LARGE_TUPLE_EXT:
        terms = count_at(t, 4);
        break;
    case ERL_LIST_EXT:
        terms = count_at(t, 4) + 1; /* and the tail */
        break;
    case ERL_MAP_EXT:
        terms = 2 * count_at(t, 4);
        break;
    case ERL_PID_EXT:
        terms = 1, tail = 4 + 4 + 1;
        break;
    case ERL_NEW_PID_EXT:
    case ERL_V4_PORT_EXT:
        terms = 1, tail = 12;
        break;
    case ERL_PORT_EXT:
    case ERL_REFERENCE_EXT:
        terms = 1, tail = 4 + 1;
        break;
    case ERL_NEW_PORT_EXT:
        terms = 1, tail = 4 + 4;
        break;
    case ERL_NEW_REFERENCE_EXT:
        terms = 1, tail = 1 + 4 * count_at(t, 2);
        break;
    case ERL_NEWER_REFERENCE_EXT:
        terms = 1, tail = 4 + 4 * count_at(t, 2);
        break;
    case ERL_EXPORT_EXT:
        terms = 3; /* module, function, arity */
        break;
    case ERL_FUN_EXT:
        terms = 4 + count_at(t, 4); /* pid, module, index, uniq, free variables */
        break;
    case ERL_NEW_FUN_EXT: /* its size counts the size field */
        if (count_at(t, 4) < 4)
            return -1;
        tail = count_at(t, 4) - 4;
        break;
    }
    size_t i = *at + head;
    if (skip_n(p, len, &i, terms, depth + 1) != 0 || tail > len - i)
        return -1;
    *at = i + tail;
    return 0;
}

int envelope_skip_term(const char *frame, size_t len, int *index)
{
    size_t at = (size_t)*index;
    if (*index < 0 || at > len || skip((const unsigned char *)frame, len, &at, 0) != 0 ||
        at > INT_MAX)
        return -1;
    *index = (int)at;
    return 0;
}

/* Whether the term at frame[i] lies before len, so that ei may read it. */
static int fits(const char *frame, size_t len, int i)
{
    return envelope_skip_term(frame, len, &i) == 0;
}

/* Target = Pool :: atom() | {context, CtxId} | {nested, CtxId}. */
static int decode_target(const char *frame, size_t len, int *i, struct envelope *env)
{
    int type, size, arity;
    char tag[MAXATOMLEN_UTF8];
    if (!fits(frame, len, *i) || ei_get_type(frame, i, &type, &size) != 0)
        return BAD("target is not a term");
    if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
        type == ERL_SMALL_ATOM_UTF8_EXT) {
        if (ei_decode_atom(frame, i, env->pool) != 0 || (size_t)*i > len)
            return BAD("target pool name is not a valid atom");
        return 0;
    }
    if (ei_decode_tuple_header(frame, i, &arity) != 0 || arity != 2 ||
        ei_decode_atom(frame, i, tag) != 0 ||
        (strcmp(tag, "context") != 0 && strcmp(tag, "nested") != 0) ||
        ei_decode_long(frame, i, &env->ctx_id) != 0 || env->ctx_id < 0 || (size_t)*i > len)
        return BAD("target must be a pool name, {context, Id} or {nested, Id}");
    env->nested = strcmp(tag, "nested") == 0;
    return 0;
}

/* Mode of {start_pool, ReplyTo, Pool, Size, Mode}: an atom of 1 to 15
 * bytes (which modes run is the dispatcher's business). */
static int decode_mode(const char *frame, size_t len, int *i, struct envelope *env)
{
    char mode[MAXATOMLEN_UTF8];
    if (!fits(frame, len, *i) || ei_decode_atom(frame, i, mode) != 0 || (size_t)*i > len ||
        mode[0] == '\0' || strlen(mode) >= sizeof(env->mode))
        return BAD("start_pool: mode must be worker, owngil or process");
    memcpy(env->mode, mode, strlen(mode) + 1);
    return 0;
}

/* {start_pool, ReplyTo, Pool, Size[, Mode]} and {stop_pool, ReplyTo, Pool} */
static int decode_pool_op(const char *frame, size_t len, int *i, int arity, struct envelope *env)
{
    const char *op = env->op == ENVELOPE_START_POOL ? "start_pool" : "stop_pool";
    if (!fits(frame, len, *i) || ei_decode_atom(frame, i, env->pool) != 0 || (size_t)*i > len)
        return BAD("%s: pool name must be an atom", op);
    if (env->op == ENVELOPE_START_POOL &&
        (!fits(frame, len, *i) || ei_decode_long(frame, i, &env->size) != 0 || (size_t)*i > len))
        return BAD("start_pool: size must be an integer");
    if (env->op == ENVELOPE_START_POOL)
        snprintf(env->mode, sizeof(env->mode), "worker");
    if (env->op == ENVELOPE_START_POOL && arity == 5)
        return decode_mode(frame, len, i, env);
    return 0;
}

/* {cancel, ReplyTo, Key} and {cancel_caller, ReplyTo, Pid}: the span of
 * the third element, to compare with the ReplyTo of running requests. */
static int decode_key(const char *frame, size_t len, int *i, struct envelope *env)
{
    int type, size;
    env->key_off = *i;
    if (envelope_skip_term(frame, len, i) != 0)
        return BAD("cancel: the request to cancel is not a term");
    env->key_len = *i - env->key_off;
    if (env->op == ENVELOPE_CANCEL_CALLER &&
        (ei_get_type(frame, &env->key_off, &type, &size) != 0 ||
         (type != ERL_PID_EXT && type != ERL_NEW_PID_EXT)))
        return BAD("cancel_caller: the caller must be a pid");
    return 0;
}

/* {stream_credit, ReplyTo, N}: the stream is the request whose ReplyTo
 * this one repeats; {send_credit, ReplyTo, Bytes}: ReplyTo is not used.
 * N, Bytes > 0. */
static int decode_credit(const char *frame, size_t len, int *i, struct envelope *env)
{
    env->key_off = env->reply_off;
    env->key_len = env->reply_len;
    if (!fits(frame, len, *i) || ei_decode_long(frame, i, &env->count) != 0 || env->count <= 0 ||
        (size_t)*i > len)
        return BAD("%s: the credit must be a positive integer", envelope_op_name(env->op));
    return 0;
}

/* {callback_result, CbId, Result}: CbId is a non-negative integer. */
static int decode_callback_id(const char *frame, struct envelope *env)
{
    int i = env->reply_off;
    if (ei_decode_long(frame, &i, &env->count) != 0 || env->count < 0)
        return BAD("callback_result: the callback id must be a non-negative integer");
    return 0;
}

/* The last elements of stream_start: Window, how many items it may send
 * before it waits for credit (> 0), and Consumer, the pid the items are
 * for. */
static int decode_window(const char *frame, size_t len, int *i, struct envelope *env)
{
    int at = *i, type, size;
    for (int k = 0; k < 4; k++) /* Module, Function, Args, Kwargs */
        if (envelope_skip_term(frame, len, &at) != 0)
            return BAD("stream_start: the request is not a term");
    if (!fits(frame, len, at) || ei_decode_long(frame, &at, &env->count) != 0 || env->count <= 0 ||
        (size_t)at > len)
        return BAD("stream_start: the window must be a positive integer");
    env->caller_off = at;
    if (!fits(frame, len, at) || ei_get_type(frame, &at, &type, &size) != 0 ||
        (type != ERL_PID_EXT && type != ERL_NEW_PID_EXT) ||
        envelope_skip_term(frame, len, &at) != 0)
        return BAD("stream_start: the consumer must be a pid");
    env->caller_len = at - env->caller_off;
    return 0;
}

static const struct op_spec *find_op(const char *frame, int op_off)
{
    char name[MAXATOMLEN_UTF8];
    int i = op_off;
    if (ei_decode_atom(frame, &i, name) != 0)
        return NULL;
    for (size_t k = 0; k < sizeof(OPS) / sizeof(OPS[0]); k++)
        if (strcmp(OPS[k].name, name) == 0)
            return &OPS[k];
    return NULL;
}

int envelope_decode(const char *frame, size_t len, struct envelope *env)
{
    int i = 0, version, arity;
    memset(env, 0, sizeof(*env));
    env->ctx_id = -1;
    if (ei_decode_version(frame, &i, &version) != 0)
        return UNTRUSTED("frame does not start with version byte 131");
    if (ei_decode_tuple_header(frame, &i, &arity) != 0 || arity < 2 || (size_t)i > len)
        return UNTRUSTED("frame is not a tuple of at least 2 elements");
    int op_off = i;
    if (envelope_skip_term(frame, len, &i) != 0)
        return UNTRUSTED("cannot read the request's first element");
    env->reply_off = i;
    if (envelope_skip_term(frame, len, &i) != 0)
        return UNTRUSTED("cannot read the request's ReplyTo");
    env->reply_len = i - env->reply_off;
    if (env->reply_len >= 0xFFFF)
        return UNTRUSTED("ReplyTo of %d bytes does not fit a reply header", env->reply_len);

    const struct op_spec *spec = find_op(frame, op_off);
    if (!spec)
        return BAD("unknown request: the first element must be call, eval, exec, release, "
                   "cancel, cancel_caller, start_pool, stop_pool, stats, stream, stream_eval, "
                   "stream_start, stream_credit, callback_result, send_credit, ping or interrupt");
    env->op = spec->op;
    if (arity != spec->arity && !(spec->op == ENVELOPE_START_POOL && arity == 4))
        return BAD("%s takes a tuple of %d elements, not %d", spec->name, spec->arity, arity);
    int rc;
    if (spec->op == ENVELOPE_START_POOL || spec->op == ENVELOPE_STOP_POOL)
        rc = decode_pool_op(frame, len, &i, arity, env);
    else if (spec->op == ENVELOPE_CANCEL || spec->op == ENVELOPE_CANCEL_CALLER)
        rc = decode_key(frame, len, &i, env);
    else if (spec->op == ENVELOPE_STATS || spec->op == ENVELOPE_PING)
        rc = 0; /* {stats | ping, ReplyTo}: nothing more */
    else if (spec->op == ENVELOPE_STREAM_CREDIT || spec->op == ENVELOPE_SEND_CREDIT)
        rc = decode_credit(frame, len, &i, env);
    else if (spec->op == ENVELOPE_CALLBACK_RESULT)
        rc = decode_callback_id(frame, env);
    else if ((rc = decode_target(frame, len, &i, env)) == 0 && spec->op == ENVELOPE_STREAM_START)
        rc = decode_window(frame, len, &i, env);
    env->body_off = i;
    return rc;
}

int envelope_reply_begin(ei_x_buff *x, const char *frame, int reply_off, int reply_len)
{
    static const char lengths[PY_PORT_FRAME_HDR + PY_PORT_REPLY_HDR] = {0};
    static const char version = (char)131;
    int hdr_len = reply_len > 0 ? reply_len + 1 : 0;
    if (ei_x_new(x) != 0)
        return -1;
    if (ei_x_append_buf(x, lengths, sizeof(lengths)) != 0)
        goto fail;
    x->buff[PY_PORT_FRAME_HDR] = (char)(hdr_len >> 8);
    x->buff[PY_PORT_FRAME_HDR + 1] = (char)hdr_len;
    if (hdr_len > 0 && (ei_x_append_buf(x, &version, 1) != 0 ||
                        ei_x_append_buf(x, frame + reply_off, reply_len) != 0))
        goto fail;
    if (ei_x_encode_version(x) != 0)
        goto fail;
    return 0;
fail:
    ei_x_free(x);
    return -1;
}

int envelope_payload_start(const ei_x_buff *x)
{
    const unsigned char *p = (const unsigned char *)x->buff + PY_PORT_FRAME_HDR;
    int hdr_len = p[0] << 8 | p[1];
    return PY_PORT_FRAME_HDR + PY_PORT_REPLY_HDR + hdr_len + 1;
}

int envelope_reply_finish(ei_x_buff *x, size_t outside, char **buf, size_t *len)
{
    frame_put_length(x->buff, (uint32_t)(x->index - PY_PORT_FRAME_HDR + outside));
    *buf = x->buff;
    *len = (size_t)x->index;
    x->buff = NULL;
    x->buffsz = x->index = 0;
    return 0;
}

int envelope_reply_error(const char *frame, int reply_off, int reply_len, const char *tag,
                         const char *detail, int detail_is_atom, char **buf, size_t *len)
{
    ei_x_buff x;
    if (envelope_reply_begin(&x, frame, reply_off, reply_len) != 0)
        return -1;
    int rc = ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "error") ||
             ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, tag) ||
             (detail_is_atom ? ei_x_encode_atom(&x, detail)
                             : ei_x_encode_binary(&x, detail, (long)strlen(detail)));
    if (rc != 0) {
        ei_x_free(&x);
        return -1;
    }
    return envelope_reply_finish(&x, 0, buf, len);
}

int envelope_is_cast(const char *frame, const struct envelope *env)
{
    char atom[MAXATOMLEN_UTF8];
    int at = env->reply_off;
    /* ReplyTo lies inside the frame (envelope_decode() skipped it), and an
     * atom of four characters takes at most 7 bytes: nothing longer is
     * decoded. */
    return env->reply_len > 0 && env->reply_len <= 7 && ei_decode_atom(frame, &at, atom) == 0 &&
           strcmp(atom, "cast") == 0;
}
