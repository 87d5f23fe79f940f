/* Unit tests of port/term_text.c: Erlang text to ei terms and back. */
#include "check_main.h"
#include "term_text.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Parses text, formats the result: the text as term_text prints it. */
static char *roundtrip(const char *text)
{
    ei_x_buff x;
    char err[128];
    size_t used;
    ck_assert_int_eq(ei_x_new(&x), 0);
    ck_assert_msg(term_text_parse(text, strlen(text), &x, &used, err, sizeof(err)) == 0, "%s: %s",
                  text, err);
    ck_assert_uint_eq(used, strlen(text));
    int at = 0;
    char *out = term_text_format(x.buff, &at);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(at, x.index);
    ei_x_free(&x);
    return out;
}

static void check_roundtrip(const char *text, const char *printed)
{
    char *out = roundtrip(text);
    ck_assert_str_eq(out, printed);
    free(out);
}

/* The error message for text, which must not parse. */
static void check_error(const char *text, const char *message)
{
    ei_x_buff x;
    char err[128];
    size_t used;
    ck_assert_int_eq(ei_x_new(&x), 0);
    ck_assert_int_eq(term_text_parse(text, strlen(text), &x, &used, err, sizeof(err)), -1);
    ck_assert_str_eq(err, message);
    ei_x_free(&x);
}

START_TEST(test_term_text_scalars_roundtrip)
{
    check_roundtrip("ok", "ok");
    check_roundtrip("'Hello world'", "'Hello world'");
    check_roundtrip("-42", "-42");
    check_roundtrip("123456789012", "123456789012");
    check_roundtrip("\"a\\\"b\\n\"", "\"a\\\"b\\n\"");
    check_roundtrip("<<\"text\">>", "<<\"text\">>");
    check_roundtrip("<<>>", "<<>>");
    check_roundtrip("<<1, 2,255>>", "<<1,2,255>>");
    check_roundtrip("<<\"a\", 0>>", "<<97,0>>");
}
END_TEST

START_TEST(test_term_text_containers_roundtrip)
{
    check_roundtrip("{call, default, [1, [], {}], #{x => 21, <<\"k\">> => \"v\"}}",
                    "{call,default,[1,[],{}],#{x => 21,<<\"k\">> => \"v\"}}");
    check_roundtrip("  [a , % a comment\n b]", "[a,b]");
}
END_TEST

START_TEST(test_term_text_floats_print_shortest)
{
    check_roundtrip("4.0", "4.0");
    check_roundtrip("0.1", "0.1");
    check_roundtrip("-2.5e-10", "-2.5e-10");
    check_roundtrip("1.0e21", "1.0e21");
}
END_TEST

START_TEST(test_term_text_errors_name_the_column)
{
    check_error("{call, default, math sqrt}", "column 22: expected ',' or '}'");
    check_error("[a | b]", "column 4: improper lists are not supported");
    check_error("{X}", "column 2: variables are not supported: type a value");
    check_error("\"open", "column 6: missing closing \"");
    check_error("<<256>>", "column 6: a byte is 0..255");
    check_error("#{a, b}", "column 4: expected '=>' in a map");
    check_error("", "column 1: expected a term, found the end");
}
END_TEST

START_TEST(test_term_text_depth_is_bounded)
{
    char text[2 * TERM_TEXT_MAX_DEPTH + 8];
    memset(text, '[', TERM_TEXT_MAX_DEPTH + 1);
    text[TERM_TEXT_MAX_DEPTH + 1] = '\0';
    ei_x_buff x;
    char err[128];
    size_t used;
    ck_assert_int_eq(ei_x_new(&x), 0);
    ck_assert_int_eq(term_text_parse(text, strlen(text), &x, &used, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "nested deeper than"));
    ei_x_free(&x);
}
END_TEST

START_TEST(test_term_text_format_falls_back_for_pids)
{
    ei_x_buff x;
    erlang_pid pid = {"node@host", 12, 3, 0};
    ck_assert_int_eq(ei_x_new(&x), 0);
    ck_assert_int_eq(ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "p") ||
                         ei_x_encode_pid(&x, &pid),
                     0);
    int at = 0;
    char *out = term_text_format(x.buff, &at);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "{p,<node@host.12.3>}");
    free(out);
    ei_x_free(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("term_text");
    TCase *tc = tcase_create("term_text");
    tcase_add_test(tc, test_term_text_scalars_roundtrip);
    tcase_add_test(tc, test_term_text_containers_roundtrip);
    tcase_add_test(tc, test_term_text_floats_print_shortest);
    tcase_add_test(tc, test_term_text_errors_name_the_column);
    tcase_add_test(tc, test_term_text_depth_is_bounded);
    tcase_add_test(tc, test_term_text_format_falls_back_for_pids);
    suite_add_tcase(s, tc);
    return check_run(s);
}
