/* Unit tests of port/envelope.c: request envelopes and reply frames. */
#include "check_main.h"
#include "envelope.h"
#include "frame.h"
#include "protocol.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
    assert_bad_request("target must be a pool name or {context, Id}");
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

int main(void)
{
    Suite *s = suite_create("envelope");
    TCase *tc = tcase_create("envelope");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_envelope_call_to_pool);
    tcase_add_test(tc, test_envelope_call_to_context);
    tcase_add_test(tc, test_envelope_eval_exec_start_pool);
    tcase_add_test(tc, test_envelope_unknown_op_is_bad_request);
    tcase_add_test(tc, test_envelope_wrong_arity_is_bad_request);
    tcase_add_test(tc, test_envelope_bad_target_is_bad_request);
    tcase_add_test(tc, test_envelope_bad_pool_size_type_is_bad_request);
    tcase_add_test(tc, test_envelope_untrusted_frames);
    tcase_add_test(tc, test_envelope_truncated_reply_to_is_untrusted);
    tcase_add_test(tc, test_envelope_reply_frame_layout);
    tcase_add_test(tc, test_envelope_event_has_empty_header);
    tcase_add_test(tc, test_envelope_reply_error);
    suite_add_tcase(s, tc);
    return check_run(s);
}
