/* Unit tests of port/repl_command.c: typed commands to request frames. */
#include "check_main.h"
#include "envelope.h"
#include "repl_command.h"
#include "term_text.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* The request made of text, printed; also checks that the port's own
 * envelope decoder accepts it. */
static char *request(const char *text, long reply_to)
{
    char *frame, err[256];
    size_t len;
    enum repl_command_kind kind =
        repl_command_request(text, strlen(text), reply_to, &frame, &len, err, sizeof(err));
    ck_assert_msg(kind == REPL_COMMAND_REQUEST, "%s: %s", text, err);
    struct envelope env;
    ck_assert_int_eq(envelope_decode(frame, len, &env), 0);
    int at = 1;
    char *out = term_text_format(frame, &at);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq((size_t)at, len);
    free(frame);
    return out;
}

static void check_request(const char *text, long reply_to, const char *printed)
{
    char *out = request(text, reply_to);
    ck_assert_str_eq(out, printed);
    free(out);
}

static void check_error(const char *text, const char *message)
{
    char *frame, err[256];
    size_t len;
    ck_assert_int_eq(repl_command_request(text, strlen(text), 1, &frame, &len, err, sizeof(err)),
                     REPL_COMMAND_ERROR);
    ck_assert_ptr_null(frame);
    ck_assert_str_eq(err, message);
}

START_TEST(test_repl_command_call_gets_reply_to_and_kwargs)
{
    check_request("{call, default, math, sqrt, [16]}.", 7, "{call,7,default,math,sqrt,[16],#{}}");
    check_request("{call, io, builtins, int, [\"ff\"], #{base => 16}}", 8,
                  "{call,8,io,builtins,int,[\"ff\"],#{base => 16}}");
}
END_TEST

START_TEST(test_repl_command_code_string_becomes_binary)
{
    check_request("{eval, default, \"1 + 1\"}.", 1, "{eval,1,default,<<\"1 + 1\">>,#{}}");
    check_request("{eval, {context, 0}, <<\"x\">>, #{x => 1}}.", 2,
                  "{eval,2,{context,0},<<\"x\">>,#{x => 1}}");
    check_request("{exec, default, \"\"}.", 3, "{exec,3,default,<<>>}");
}
END_TEST

START_TEST(test_repl_command_pools)
{
    check_request("{start_pool, io, 4}.", 1, "{start_pool,1,io,4}");
    check_request("{stop_pool, io}.", 2, "{stop_pool,2,io}");
}
END_TEST

START_TEST(test_repl_command_mistakes_are_explained)
{
    check_error("{call, default, math, sqrt}.",
                "call takes 5 to 6 elements, not 4 (help. shows them)");
    check_error("{eval, default, 42}.", "Code must be a string or a binary: \"1 + 1\"");
    check_error("{frobnicate, 1}.", "unknown command 'frobnicate' (help. lists the commands)");
    check_error("[call].", "a command is a tuple such as {call, default, math, sqrt, [16]} "
                           "(help. lists them)");
    check_error("{stop_pool, io} x.", "column 17: expected '.' after the command");
}
END_TEST

START_TEST(test_repl_command_help_and_quit)
{
    char *frame, err[64];
    size_t len;
    ck_assert_int_eq(repl_command_request("help.", 5, 1, &frame, &len, err, sizeof(err)),
                     REPL_COMMAND_HELP);
    ck_assert_int_eq(repl_command_request(" q.\n", 4, 1, &frame, &len, err, sizeof(err)),
                     REPL_COMMAND_QUIT);
}
END_TEST

START_TEST(test_repl_command_end_skips_dots_in_text_and_floats)
{
    const char *t = "{eval, default, \"x. y\"}. {call, d, m, f, [1.5]}.";
    ck_assert_uint_eq(repl_command_end(t, strlen(t)), 24);
    ck_assert_uint_eq(repl_command_end(t + 24, strlen(t + 24)), strlen(t + 24));
    ck_assert_uint_eq(repl_command_end("{call, d, m, f, [1", 18), 0);
    ck_assert_uint_eq(repl_command_end("{a, 'b. c'", 10), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repl_command");
    TCase *tc = tcase_create("repl_command");
    tcase_add_test(tc, test_repl_command_call_gets_reply_to_and_kwargs);
    tcase_add_test(tc, test_repl_command_code_string_becomes_binary);
    tcase_add_test(tc, test_repl_command_pools);
    tcase_add_test(tc, test_repl_command_mistakes_are_explained);
    tcase_add_test(tc, test_repl_command_help_and_quit);
    tcase_add_test(tc, test_repl_command_end_skips_dots_in_text_and_floats);
    suite_add_tcase(s, tc);
    return check_run(s);
}
