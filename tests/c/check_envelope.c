/* Unit tests of port/envelope.c: request envelopes and reply frames. */
#include "check_main.h"
#include "envelope.h"
#include "frame.h"
#include "protocol.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static ei_x_buff x;

static void setup(void)
{
    ei_x_new_with_version(&x);
}

static void teardown(void)
{
    ei_x_free(&x);
}

/* {Op, {reply, 7}, ...}: starts a request with a known ReplyTo. */
static void begin_request(const char *op, int arity)
{
    ei_x_encode_tuple_header(&x, arity);
    ei_x_encode_atom(&x, op);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "reply");
    ei_x_encode_long(&x, 7);
}

/* Decodes the request in x, which must be refused as a bad request
 * (envelope_decode returns 1) for the reason `error`. */
static void assert_bad_request(const char *error)
{
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 1);
    ck_assert_str_eq(env.error, error);
}

static void call_body(void)
{
    ei_x_encode_atom(&x, "math");
    ei_x_encode_atom(&x, "sqrt");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_long(&x, 16);
    ei_x_encode_empty_list(&x);
    ei_x_encode_map_header(&x, 0);
}

START_TEST(test_envelope_call_to_pool)
{
    begin_request("call", 7);
    ei_x_encode_atom(&x, "default");
    int body = x.index;
    call_body();
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_CALL);
    ck_assert_str_eq(env.pool, "default");
    ck_assert_int_eq(env.ctx_id, -1);
    ck_assert_int_eq(env.body_off, body);
    /* ReplyTo {reply, 7}: tuple header, atom, small int. */
    int i = env.reply_off, arity;
    char atom[MAXATOMLEN];
    long v;
    ck_assert_int_eq(ei_decode_tuple_header(x.buff, &i, &arity), 0);
    ck_assert_int_eq(arity, 2);
    ck_assert_int_eq(ei_decode_atom(x.buff, &i, atom), 0);
    ck_assert_str_eq(atom, "reply");
    ck_assert_int_eq(ei_decode_long(x.buff, &i, &v), 0);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(i - env.reply_off, env.reply_len);
}
END_TEST

START_TEST(test_envelope_call_to_context)
{
    begin_request("call", 7);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "context");
    ei_x_encode_long(&x, 12);
    call_body();
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.ctx_id, 12);
    ck_assert_str_eq(env.pool, "");
}
END_TEST

START_TEST(test_envelope_eval_exec_start_pool)
{
    struct envelope env;
    begin_request("eval", 5);
    ei_x_encode_atom(&x, "io");
    ei_x_encode_binary(&x, "1", 1);
    ei_x_encode_map_header(&x, 0);
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_EVAL);
    ck_assert_str_eq(env.pool, "io");

    x.index = 1;
    begin_request("exec", 4);
    ei_x_encode_atom(&x, "default");
    ei_x_encode_binary(&x, "x=1", 3);
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_EXEC);

    x.index = 1;
    begin_request("start_pool", 4);
    ei_x_encode_atom(&x, "io");
    ei_x_encode_long(&x, 10);
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_START_POOL);
    ck_assert_str_eq(env.pool, "io");
    ck_assert_int_eq(env.size, 10);
    ck_assert_str_eq(env.mode, "worker"); /* the 4-element form */
}
END_TEST

START_TEST(test_envelope_start_pool_mode)
{
    struct envelope env;
    begin_request("start_pool", 5);
    ei_x_encode_atom(&x, "cpu");
    ei_x_encode_long(&x, 2);
    ei_x_encode_atom(&x, "owngil");
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_START_POOL);
    ck_assert_str_eq(env.pool, "cpu");
    ck_assert_int_eq(env.size, 2);
    ck_assert_str_eq(env.mode, "owngil");
}
END_TEST

START_TEST(test_envelope_bad_start_pool_mode_is_bad_request)
{
    begin_request("start_pool", 5);
    ei_x_encode_atom(&x, "cpu");
    ei_x_encode_long(&x, 2);
    ei_x_encode_binary(&x, "owngil", 6);
    assert_bad_request("start_pool: mode must be worker, owngil or process");
    x.index = 1;
    begin_request("start_pool", 5);
    ei_x_encode_atom(&x, "cpu");
    ei_x_encode_long(&x, 2);
    ei_x_encode_atom(&x, "a_mode_name_much_too_long");
    assert_bad_request("start_pool: mode must be worker, owngil or process");
    x.index = 1; /* found by fuzz_envelope: the empty atom */
    begin_request("start_pool", 5);
    ei_x_encode_atom(&x, "cpu");
    ei_x_encode_long(&x, 2);
    ei_x_encode_atom(&x, "");
    assert_bad_request("start_pool: mode must be worker, owngil or process");
}
END_TEST

/* A pid term, as erlang:self() encodes: node atom, id, serial, creation. */
static void encode_pid(void)
{
    erlang_pid pid = {.node = "a@b", .num = 85, .serial = 0, .creation = 1};
    ei_x_encode_pid(&x, &pid);
}

START_TEST(test_envelope_stream_start)
{
    begin_request("stream_start", 9);
    ei_x_encode_atom(&x, "default");
    int body = x.index;
    call_body();
    ei_x_encode_long(&x, 64);
    int consumer = x.index;
    encode_pid();
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_STREAM_START);
    ck_assert_str_eq(env.pool, "default");
    ck_assert_int_eq(env.body_off, body);
    ck_assert_int_eq(env.count, 64);
    ck_assert_int_eq(env.caller_off, consumer);
    ck_assert_int_eq(env.caller_len, x.index - consumer);
}
END_TEST

START_TEST(test_envelope_stream_start_bad_window_or_consumer)
{
    begin_request("stream_start", 9);
    ei_x_encode_atom(&x, "default");
    call_body();
    ei_x_encode_long(&x, 0);
    encode_pid();
    assert_bad_request("stream_start: the window must be a positive integer");
    x.index = 1;
    begin_request("stream_start", 9);
    ei_x_encode_atom(&x, "default");
    call_body();
    ei_x_encode_long(&x, 8);
    ei_x_encode_atom(&x, "me");
    assert_bad_request("stream_start: the consumer must be a pid");
}
END_TEST

START_TEST(test_envelope_stream_credit_and_callback_result)
{
    struct envelope env;
    begin_request("stream_credit", 3);
    ei_x_encode_long(&x, 5);
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_STREAM_CREDIT);
    ck_assert_int_eq(env.count, 5);
    ck_assert_int_eq(env.key_off, env.reply_off); /* the stream is named by its ReplyTo */
    ck_assert_int_eq(env.key_len, env.reply_len);
    x.index = 1;
    begin_request("stream_credit", 3);
    ei_x_encode_long(&x, -1);
    assert_bad_request("stream_credit: the credit must be a positive integer");

    x.index = 1;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "callback_result");
    ei_x_encode_long(&x, 12);
    int body = x.index;
    ei_x_encode_atom(&x, "ok");
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_CALLBACK_RESULT);
    ck_assert_int_eq(env.count, 12);
    ck_assert_int_eq(env.body_off, body);
    x.index = 1;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "callback_result");
    ei_x_encode_atom(&x, "twelve");
    ei_x_encode_atom(&x, "ok");
    assert_bad_request("callback_result: the callback id must be a non-negative integer");
}
END_TEST

/* {send_credit, ReplyTo, Bytes}: the bytes of erlang.send messages that
 * Erlang has taken; a positive integer. */
START_TEST(test_envelope_send_credit)
{
    struct envelope env;
    x.index = 1;
    begin_request("send_credit", 3);
    ei_x_encode_long(&x, 1048832);
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_SEND_CREDIT);
    ck_assert_int_eq(env.count, 1048832);
    x.index = 1;
    begin_request("send_credit", 3);
    ei_x_encode_long(&x, 0);
    assert_bad_request("send_credit: the credit must be a positive integer");
}
END_TEST

/* Decodes {eval, {reply, 7}, {Tag, 3}, <<"1">>, #{}}; returns env.nested. */
static int decode_eval_on(const char *tag)
{
    struct envelope env;
    x.index = 1;
    begin_request("eval", 5);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, tag);
    ei_x_encode_long(&x, 3);
    ei_x_encode_binary(&x, "1", 1);
    ei_x_encode_map_header(&x, 0);
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.ctx_id, 3);
    return env.nested;
}

START_TEST(test_envelope_nested_target)
{
    ck_assert_int_eq(decode_eval_on("nested"), 1);
    ck_assert_int_eq(decode_eval_on("context"), 0);
}
END_TEST

START_TEST(test_envelope_unknown_op_is_bad_request)
{
    begin_request("frobnicate", 3);
    ei_x_encode_atom(&x, "default");
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 1);
    ck_assert_ptr_nonnull(strstr(env.error, "unknown request"));
    ck_assert_int_gt(env.reply_len, 0);
}
END_TEST

START_TEST(test_envelope_ping)
{
    begin_request("ping", 2);
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_PING);
    ck_assert_int_eq(env.body_off, x.index);
    ck_assert_str_eq(envelope_op_name(env.op), "ping");
    ei_x_free(&x);
    ei_x_new_with_version(&x);
    begin_request("ping", 3);
    ei_x_encode_atom(&x, "extra");
    assert_bad_request("ping takes a tuple of 2 elements, not 3");
}
END_TEST

START_TEST(test_envelope_interrupt)
{
    begin_request("interrupt", 3);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "context");
    ei_x_encode_long(&x, 3);
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);
    ck_assert_int_eq(env.op, ENVELOPE_INTERRUPT);
    ck_assert_int_eq(env.ctx_id, 3);
    ck_assert_str_eq(envelope_op_name(env.op), "interrupt");
    ei_x_free(&x);
    ei_x_new_with_version(&x);
    begin_request("interrupt", 2);
    assert_bad_request("interrupt takes a tuple of 3 elements, not 2");
}
END_TEST

START_TEST(test_envelope_wrong_arity_is_bad_request)
{
    begin_request("call", 4);
    ei_x_encode_atom(&x, "default");
    ei_x_encode_atom(&x, "math");
    assert_bad_request("call takes a tuple of 7 elements, not 4");
}
END_TEST

START_TEST(test_envelope_bad_target_is_bad_request)
{
    begin_request("exec", 4);
    ei_x_encode_long(&x, 3);
    ei_x_encode_binary(&x, "x", 1);
    assert_bad_request("target must be a pool name, {context, Id} or {nested, Id}");
}
END_TEST

START_TEST(test_envelope_bad_pool_size_type_is_bad_request)
{
    begin_request("start_pool", 4);
    ei_x_encode_atom(&x, "io");
    ei_x_encode_atom(&x, "ten");
    assert_bad_request("start_pool: size must be an integer");
}
END_TEST

START_TEST(test_envelope_untrusted_frames)
{
    struct envelope env;
    ck_assert_int_eq(envelope_decode("\x83\x61\x01", 3, &env), -EPROTO); /* not a tuple */
    ck_assert_int_eq(envelope_decode("\x70\x68\x02", 3, &env), -EPROTO); /* no version */
    begin_request("call", 1);
    x.index = 1;
    ei_x_encode_tuple_header(&x, 1);
    ei_x_encode_atom(&x, "call");
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), -EPROTO);
}
END_TEST

START_TEST(test_envelope_truncated_reply_to_is_untrusted)
{
    begin_request("call", 7);
    struct envelope env;
    /* Cut inside ReplyTo: the frame ends before the term does. */
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index - 1, &env), -EPROTO);
}
END_TEST

START_TEST(test_envelope_reply_frame_layout)
{
    begin_request("call", 7);
    ei_x_encode_atom(&x, "default");
    call_body();
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 0);

    ei_x_buff r;
    ck_assert_int_eq(envelope_reply_begin(&r, x.buff, env.reply_off, env.reply_len), 0);
    ck_assert_int_eq(envelope_payload_start(&r), 4 + 2 + env.reply_len + 1 + 1);
    ei_x_encode_atom(&r, "ok");
    char *buf;
    size_t len;
    ck_assert_int_eq(envelope_reply_finish(&r, 0, &buf, &len), 0);
    ck_assert_uint_eq(frame_get_length(buf), len - 4);
    int hdr_len = (unsigned char)buf[4] << 8 | (unsigned char)buf[5];
    ck_assert_int_eq(hdr_len, env.reply_len + 1);
    ck_assert_int_eq((unsigned char)buf[6], 131);
    ck_assert_mem_eq(buf + 7, x.buff + env.reply_off, (size_t)env.reply_len);
    int i = 6 + hdr_len, version;
    char atom[MAXATOMLEN];
    ck_assert_int_eq(ei_decode_version(buf, &i, &version), 0);
    ck_assert_int_eq(ei_decode_atom(buf, &i, atom), 0);
    ck_assert_str_eq(atom, "ok");
    ck_assert_uint_eq((size_t)i, len);
    free(buf);
}
END_TEST

START_TEST(test_envelope_event_has_empty_header)
{
    ei_x_buff r;
    ck_assert_int_eq(envelope_reply_begin(&r, NULL, 0, 0), 0);
    ei_x_encode_atom(&r, "ready");
    char *buf;
    size_t len;
    envelope_reply_finish(&r, 0, &buf, &len);
    ck_assert_int_eq(buf[4], 0);
    ck_assert_int_eq(buf[5], 0);
    ck_assert_int_eq((unsigned char)buf[6], 131);
    free(buf);
}
END_TEST

START_TEST(test_envelope_reply_error)
{
    begin_request("nope", 2);
    struct envelope env;
    ck_assert_int_eq(envelope_decode(x.buff, (size_t)x.index, &env), 1);
    char *buf;
    size_t len;
    ck_assert_int_eq(envelope_reply_error(x.buff, env.reply_off, env.reply_len, "pool_not_started",
                                          "io", 1, &buf, &len),
                     0);
    int i = 6 + env.reply_len + 1, version, arity;
    char atom[MAXATOMLEN];
    ei_decode_version(buf, &i, &version);
    ck_assert_int_eq(ei_decode_tuple_header(buf, &i, &arity), 0);
    ck_assert_int_eq(arity, 2);
    ei_decode_atom(buf, &i, atom);
    ck_assert_str_eq(atom, "error");
    ei_decode_tuple_header(buf, &i, &arity);
    ei_decode_atom(buf, &i, atom);
    ck_assert_str_eq(atom, "pool_not_started");
    ei_decode_atom(buf, &i, atom);
    ck_assert_str_eq(atom, "io");
    ck_assert_uint_eq((size_t)i, len);
    free(buf);
}
END_TEST

/* Skipping terms within bounds, and frames found by fuzz_envelope
 * (tests/fuzz) */

/* A copy of b[0, n) followed by `padding` zero bytes and then by a page
 * that faults when read: a read past the padding crashes the test. */
struct fenced {
    char *map, *bytes;
    size_t map_len;
};

static char *fence(struct fenced *f, const unsigned char *b, size_t n, size_t padding)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (n + padding + page - 1) / page * page;
    f->map_len = data + page;
    f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(f->map, MAP_FAILED);
    ck_assert_int_eq(mprotect(f->map + data, page, PROT_NONE), 0);
    f->bytes = f->map + data - padding - n;
    memcpy(f->bytes, b, n);
    return f->bytes;
}

static void unfence(struct fenced *f)
{
    munmap(f->map, f->map_len);
}

/* envelope_decode() of b[0, n) laid out as frame_read() hands frames out. */
static int decode_fenced(const unsigned char *b, size_t n, struct envelope *env)
{
    struct fenced f;
    int rc = envelope_decode(fence(&f, b, n, FRAME_PADDING), n, env);
    unfence(&f);
    return rc;
}

/* envelope_skip_term() from 0 over exactly b[0, n): the index it ends at,
 * or -1. */
static int skip_exact(const unsigned char *b, size_t n)
{
    struct fenced f;
    int i = 0;
    int rc = envelope_skip_term(fence(&f, b, n, 0), n, &i);
    unfence(&f);
    if (rc != 0)
        ck_assert_int_eq(i, 0);
    return rc == 0 ? i : -1;
}

#define FRAME(...)                                                                                 \
    (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})

/* term_to_binary([self(), alias(), hd(erlang:ports()), fun() -> ok end,
 * fun lists:map/2, 1 bsl 100, -5, 70000, 1.5, "str", <<"bin">>, <<1:3>>,
 * [a | b], #{k => {}}, '日本']) on OTP 25, without the version byte. */
static const unsigned char t_real[] = {
    108, 0,   0,   0,   15,  88,  100, 0,   13,  110, 111, 110, 111, 100, 101, 64,  110, 111, 104,
    111, 115, 116, 0,   0,   0,   9,   0,   0,   0,   0,   0,   0,   0,   0,   90,  0,   3,   100,
    0,   13,  110, 111, 110, 111, 100, 101, 64,  110, 111, 104, 111, 115, 116, 0,   0,   0,   0,
    0,   3,   19,  51,  208, 45,  0,   1,   126, 205, 22,  48,  89,  100, 0,   13,  110, 111, 110,
    111, 100, 101, 64,  110, 111, 104, 111, 115, 116, 0,   0,   0,   0,   0,   0,   0,   0,   112,
    0,   0,   0,   143, 0,   6,   83,  97,  170, 70,  21,  144, 209, 189, 241, 235, 98,  209, 166,
    235, 8,   0,   0,   0,   43,  0,   0,   0,   1,   100, 0,   8,   101, 114, 108, 95,  101, 118,
    97,  108, 97,  43,  98,  0,   50,  155, 13,  88,  100, 0,   13,  110, 111, 110, 111, 100, 101,
    64,  110, 111, 104, 111, 115, 116, 0,   0,   0,   9,   0,   0,   0,   0,   0,   0,   0,   0,
    104, 6,   97,  2,   106, 100, 0,   4,   110, 111, 110, 101, 100, 0,   4,   110, 111, 110, 101,
    116, 0,   0,   0,   0,   108, 0,   0,   0,   1,   104, 5,   100, 0,   6,   99,  108, 97,  117,
    115, 101, 97,  2,   106, 106, 108, 0,   0,   0,   1,   104, 3,   100, 0,   4,   97,  116, 111,
    109, 97,  2,   100, 0,   2,   111, 107, 106, 106, 113, 100, 0,   5,   108, 105, 115, 116, 115,
    100, 0,   3,   109, 97,  112, 97,  2,   110, 13,  0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   16,  98,  255, 255, 255, 251, 98,  0,   1,   17,  112, 70,  63,  248, 0,
    0,   0,   0,   0,   0,   107, 0,   3,   115, 116, 114, 109, 0,   0,   0,   3,   98,  105, 110,
    77,  0,   0,   0,   1,   3,   32,  108, 0,   0,   0,   1,   100, 0,   1,   97,  100, 0,   1,
    98,  116, 0,   0,   0,   1,   100, 0,   1,   107, 104, 0,   119, 6,   230, 151, 165, 230, 156,
    172, 106};

START_TEST(test_envelope_skip_term_spans_real_terms)
{
    /* {1.5, caf, "x"} with minor_version 0: FLOAT_EXT, Latin-1 ATOM_EXT */
    static const unsigned char t_old[] = {104, 3,   99, 49,  46, 53, 48,  48,  48, 48, 48,
                                          48,  48,  48, 48,  48, 48, 48,  48,  48, 48, 48,
                                          48,  48,  48, 101, 43, 48, 48,  0,   0,  0,  0,
                                          0,   100, 0,  3,   99, 97, 102, 107, 0,  1,  120};
    unsigned char big[6 + 257] = {111, 0, 0, 1, 1, 0}; /* LARGE_BIG_EXT, 257 digits */
    big[sizeof big - 1] = 1;
    const struct {
        const unsigned char *b;
        size_t n;
    } terms[] = {{t_real, sizeof t_real}, {t_old, sizeof t_old}, {big, sizeof big}};
    for (size_t t = 0; t < sizeof terms / sizeof terms[0]; t++) {
        ck_assert_int_eq(skip_exact(terms[t].b, terms[t].n), (int)terms[t].n);
        for (size_t cut = 0; cut < terms[t].n; cut++)
            ck_assert_int_eq(skip_exact(terms[t].b, cut), -1);
    }
}
END_TEST

START_TEST(test_envelope_skip_term_depth_limit)
{
    /* ENVELOPE_MAX_DEPTH 1-tuples around [] skip; one more does not. */
    size_t n = 2 * (ENVELOPE_MAX_DEPTH + 1) + 1;
    unsigned char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    for (size_t k = 0; k < n - 1; k += 2)
        b[k] = 104, b[k + 1] = 1;
    b[n - 1] = 106;
    ck_assert_int_eq(skip_exact(b + 2, n - 2), (int)(n - 2));
    ck_assert_int_eq(skip_exact(b, n), -1);
    free(b);
}
END_TEST

START_TEST(test_envelope_fuzz_lengths_past_the_frame)
{
    struct envelope env;
    /* {[<<...2 GiB...>>, []], []}: ei_skip_term() jumped 2 GiB past the
     * frame, and py_port died of SIGSEGV. */
    ck_assert_int_eq(
        decode_fenced(FRAME(131, 104, 2, 108, 0, 0, 0, 2, 109, 127, 255, 255, 240, 106, 106), &env),
        -EPROTO);
    /* An Op atom of 200 bytes in a frame of 6: read 200 bytes. */
    ck_assert_int_eq(decode_fenced(FRAME(131, 104, 2, 100, 0, 200), &env), -EPROTO);
    /* {exec, cast, Target} with an atom Target of 200 bytes, the same. */
    ck_assert_int_eq(decode_fenced(FRAME(131, 104, 4, 119, 4, 'e', 'x', 'e', 'c', 119, 4, 'c', 'a',
                                         's', 't', 119, 200),
                                   &env),
                     1);
    ck_assert_str_eq(env.error, "target is not a term");
    /* What fuzz_envelope found from the seed corpus, each in under a
     * minute, before the fix: an atom, or a reference's node atom, longer
     * than the frame. */
    static const unsigned char found1[] = {131, 104, 131, 104, 3,   100, 0,   6,   3,   100, 0, 9,
                                           115, 116, 111, 112, 95,  112, 111, 111, 108, 104, 2, 100,
                                           0,   99,  97,  110, 13,  99,  101, 108, 100, 0,   4, 99,
                                           117, 108, 116, 97,  115, 116, 104, 2,   90};
    static const unsigned char found2[] = {
        131, 104, 7,   100, 0,   4,   99,  97,  108, 108, 90,  0,   3,   100, 0,
        255, 255, 255, 255, 255, 13,  110, 111, 110, 111, 100, 101, 64,  110, 111,
        104, 111, 115, 116, 0,   0,   0,   0,   0,   3,   76,  203, 64,  56,  0,
        2,   27,  228, 69,  196, 97,  42,  100, 0,   4,   109, 97,  116, 104, 100,
        0,   4,   115, 113, 114, 116, 107, 0,   1,   16,  116, 0,   0,   0,   0};
    static const unsigned char found3[] = {131, 104, 5,   100, 0,   101, 97,  115, 101, 100, 0,
                                           4,   99,  97,  115, 116, 100, 0,   7,   100, 101, 102,
                                           97,  117, 108, 116, 97,  1,   107, 0,   2,   1,   0};
    ck_assert_int_eq(decode_fenced(found1, sizeof found1, &env), -EPROTO);
    ck_assert_int_eq(decode_fenced(found2, sizeof found2, &env), -EPROTO);
    ck_assert_str_eq(env.error, "cannot read the request's ReplyTo");
    ck_assert_int_eq(decode_fenced(found3, sizeof found3, &env), -EPROTO);
}
END_TEST

START_TEST(test_envelope_fuzz_counts_beyond_the_frame)
{
    struct envelope env;
    /* Tuples of 2^31 - 1 elements, eight deep, in 43 bytes: ei_skip_term()
     * walked 2^31 elements at every level (errors inside a tuple do not
     * stop it) and the reader thread hung for minutes. */
    unsigned char deep[3 + 8 * 5] = {131, 104, 2};
    for (int k = 0; k < 8; k++)
        memcpy(deep + 3 + 5 * k, (const unsigned char[]){105, 127, 255, 255, 255}, 5);
    ck_assert_int_eq(decode_fenced(deep, sizeof deep, &env), -EPROTO);
    /* fuzz_envelope's own find, as it was saved */
    ck_assert_int_eq(decode_fenced(FRAME(131, 105, 0, 105, 105, 105, 105, 105, 105, 105, 105, 105,
                                         105, 105, 105, 105, 105, 167, 0, 104, 104),
                                   &env),
                     -EPROTO);
    /* {[1000 elements], ...} and {#{2^32 - 1 pairs}, ...} in a few bytes */
    ck_assert_int_eq(decode_fenced(FRAME(131, 104, 2, 108, 0, 0, 3, 232, 97, 1, 106), &env),
                     -EPROTO);
    ck_assert_int_eq(decode_fenced(FRAME(131, 104, 2, 116, 255, 255, 255, 255, 97, 1), &env),
                     -EPROTO);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("envelope");
    TCase *tc = tcase_create("envelope");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_envelope_call_to_pool);
    tcase_add_test(tc, test_envelope_call_to_context);
    tcase_add_test(tc, test_envelope_eval_exec_start_pool);
    tcase_add_test(tc, test_envelope_start_pool_mode);
    tcase_add_test(tc, test_envelope_bad_start_pool_mode_is_bad_request);
    tcase_add_test(tc, test_envelope_stream_start);
    tcase_add_test(tc, test_envelope_stream_start_bad_window_or_consumer);
    tcase_add_test(tc, test_envelope_stream_credit_and_callback_result);
    tcase_add_test(tc, test_envelope_send_credit);
    tcase_add_test(tc, test_envelope_nested_target);
    tcase_add_test(tc, test_envelope_unknown_op_is_bad_request);
    tcase_add_test(tc, test_envelope_ping);
    tcase_add_test(tc, test_envelope_interrupt);
    tcase_add_test(tc, test_envelope_wrong_arity_is_bad_request);
    tcase_add_test(tc, test_envelope_bad_target_is_bad_request);
    tcase_add_test(tc, test_envelope_bad_pool_size_type_is_bad_request);
    tcase_add_test(tc, test_envelope_untrusted_frames);
    tcase_add_test(tc, test_envelope_truncated_reply_to_is_untrusted);
    tcase_add_test(tc, test_envelope_reply_frame_layout);
    tcase_add_test(tc, test_envelope_event_has_empty_header);
    tcase_add_test(tc, test_envelope_reply_error);
    tcase_add_test(tc, test_envelope_skip_term_spans_real_terms);
    tcase_add_test(tc, test_envelope_skip_term_depth_limit);
    tcase_add_test(tc, test_envelope_fuzz_lengths_past_the_frame);
    tcase_add_test(tc, test_envelope_fuzz_counts_beyond_the_frame);
    suite_add_tcase(s, tc);
    return check_run(s);
}
