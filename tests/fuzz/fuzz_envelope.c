/*
 * fuzz_envelope: libFuzzer target for port/envelope.c.
 *
 * DESIGN: every input is one request frame, laid out as frame_read() hands
 * it to the reader thread: followed by FRAME_PADDING zero bytes, and then
 * (guard.h) by memory that faults when read, since ei, which the decoder
 * calls, is not built with AddressSanitizer. envelope_decode() must answer
 * 0, 1 or -EPROTO without reading past the padding, and what it
 * accepts must keep the contract of envelope.h: ReplyTo and the body lie
 * inside the frame, ReplyTo fits a reply header, env->error says why a
 * request was refused. An accepted envelope is then answered as main.c
 * answers it, with a reply frame (envelope_reply_begin/finish) and with an
 * error reply (envelope_reply_error), both checked byte for byte, and its
 * body is searched for a reference (refscan.h) as the reader does. A broken
 * contract abort()s, which libFuzzer reports as a crash and saves the
 * input. No Python, no threads.
 */
#include "envelope.h"
#include "frame.h"
#include "guard.h"
#include "protocol.h"
#include "refscan.h"

#include <ei.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_envelope: %s:%d: broken: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The routing header of a reply frame: length prefix, HdrLen, then
 * term_to_binary(ReplyTo) copied from the request. Returns the index of
 * the payload (its version byte). */
static size_t check_header(const char *reply, size_t n, const char *frame,
                           const struct envelope *env)
{
    const unsigned char *r = (const unsigned char *)reply;
    size_t hdr = (size_t)env->reply_len + 1;
    size_t payload = PY_PORT_FRAME_HDR + PY_PORT_REPLY_HDR + hdr;
    REQUIRE(n > payload);
    REQUIRE(frame_get_length(reply) == n - PY_PORT_FRAME_HDR);
    REQUIRE(((size_t)r[PY_PORT_FRAME_HDR] << 8 | r[PY_PORT_FRAME_HDR + 1]) == hdr);
    REQUIRE(r[PY_PORT_FRAME_HDR + PY_PORT_REPLY_HDR] == 131);
    REQUIRE(memcmp(reply + PY_PORT_FRAME_HDR + PY_PORT_REPLY_HDR + 1, frame + env->reply_off,
                   (size_t)env->reply_len) == 0);
    REQUIRE(r[payload] == 131);
    return payload;
}

/* {ok, ok} through begin/finish, as the context threads build replies. */
static void check_reply(const char *frame, const struct envelope *env)
{
    ei_x_buff x;
    char *reply;
    size_t n;
    REQUIRE(envelope_reply_begin(&x, frame, env->reply_off, env->reply_len) == 0);
    REQUIRE(envelope_payload_start(&x) == x.index);
    REQUIRE(ei_x_encode_tuple_header(&x, 2) == 0 && ei_x_encode_atom(&x, "ok") == 0 &&
            ei_x_encode_atom(&x, "ok") == 0);
    REQUIRE(envelope_reply_finish(&x, 0, &reply, &n) == 0);
    REQUIRE(x.buff == NULL && x.index == 0);
    int i = (int)check_header(reply, n, frame, env), version, arity;
    char atom[MAXATOMLEN_UTF8];
    REQUIRE(ei_decode_version(reply, &i, &version) == 0);
    REQUIRE(ei_decode_tuple_header(reply, &i, &arity) == 0 && arity == 2);
    REQUIRE(ei_decode_atom(reply, &i, atom) == 0 && strcmp(atom, "ok") == 0);
    REQUIRE(ei_decode_atom(reply, &i, atom) == 0 && strcmp(atom, "ok") == 0);
    REQUIRE((size_t)i == n);
    free(reply);
}

/* {error, {bad_request, Why}}, as main.c refuses a request. */
static void check_error_reply(const char *frame, const struct envelope *env)
{
    char *reply, atom[MAXATOMLEN_UTF8];
    size_t n;
    int arity, type, size, version;
    long got;
    REQUIRE(envelope_reply_error(frame, env->reply_off, env->reply_len, "bad_request", env->error,
                                 0, &reply, &n) == 0);
    int i = (int)check_header(reply, n, frame, env);
    char *why = malloc(sizeof(env->error));
    REQUIRE(why != NULL);
    REQUIRE(ei_decode_version(reply, &i, &version) == 0);
    REQUIRE(ei_decode_tuple_header(reply, &i, &arity) == 0 && arity == 2);
    REQUIRE(ei_decode_atom(reply, &i, atom) == 0 && strcmp(atom, "error") == 0);
    REQUIRE(ei_decode_tuple_header(reply, &i, &arity) == 0 && arity == 2);
    REQUIRE(ei_decode_atom(reply, &i, atom) == 0 && strcmp(atom, "bad_request") == 0);
    REQUIRE(ei_get_type(reply, &i, &type, &size) == 0 && type == ERL_BINARY_EXT);
    REQUIRE((size_t)size < sizeof(env->error));
    REQUIRE(ei_decode_binary(reply, &i, why, &got) == 0 && (size_t)i == n);
    REQUIRE((size_t)got == strlen(env->error) && memcmp(why, env->error, (size_t)got) == 0);
    free(why);
    free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    /* frame_read() never hands out an empty frame. */
    if (len == 0)
        return 0;
    char *frame = guard_copy(data, len, FRAME_PADDING);
    if (!frame)
        return 0;

    struct envelope env;
    int rc = envelope_decode(frame, len, &env);
    REQUIRE(rc == 0 || rc == 1 || rc == -EPROTO);
    REQUIRE(memchr(env.error, '\0', sizeof(env.error)) != NULL);
    REQUIRE((rc == 0) == (env.error[0] == '\0'));
    if (rc >= 0) {
        REQUIRE(env.reply_off > 0 && env.reply_len > 0 && env.reply_len < 0xFFFF);
        REQUIRE((size_t)env.reply_off + (size_t)env.reply_len <= len);
        check_reply(frame, &env);
        check_error_reply(frame, &env);
    }
    if (rc == 0) {
        if (env.op == ENVELOPE_CANCEL || env.op == ENVELOPE_CANCEL_CALLER)
            REQUIRE(env.key_off >= env.reply_off + env.reply_len && env.key_len > 0 &&
                    (size_t)env.key_off + (size_t)env.key_len <= len);
        REQUIRE(env.body_off >= env.reply_off + env.reply_len && (size_t)env.body_off <= len);
        REQUIRE(memchr(env.pool, '\0', sizeof(env.pool)) != NULL);
        REQUIRE(env.ctx_id >= -1);
        REQUIRE(env.ctx_id == -1 || env.pool[0] == '\0');
        if (env.op == ENVELOPE_START_POOL)
            REQUIRE(memchr(env.mode, '\0', sizeof(env.mode)) != NULL && env.mode[0] != '\0');
        /* The reader looks for a reference in every body (dispatch.c). */
        unsigned long long nonce;
        REQUIRE(refscan_first(frame, len, env.body_off, &nonce) >= 0);
    }
    guard_release();
    return 0;
}
