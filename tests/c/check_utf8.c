/* Unit tests of port/utf8.c: utf8_classify() against an independent reading
 * of UTF-8 (decode the code point, then judge it), over every sequence of
 * one to three bytes and every four-byte sequence whose last two bytes
 * are continuation bytes or not. */
#include "check_main.h"
#include "utf8.h"

#include <check.h>
#include <string.h>

/* The reference: 1 if b[0..n) is exactly one well-formed sequence. */
static int one_code_point(const unsigned char *b, size_t n)
{
    static const unsigned long least[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = b[0] < 0x80             ? 1
                 : (b[0] & 0xE0) == 0xC0 ? 2
                 : (b[0] & 0xF0) == 0xE0 ? 3
                 : (b[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 0 || len != n)
        return 0;
    unsigned long cp = len == 1 ? b[0] : b[0] & (0x7F >> len);
    for (size_t k = 1; k < len; k++) {
        if ((b[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (b[k] & 0x3F);
    }
    return cp >= least[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

/* 1 if utf8_classify() finds text[0..n) well-formed, else 0. */
static int valid(const char *text, size_t n)
{
    return utf8_classify(text, n) != UTF8_INVALID;
}

/* Whether valid() judges b[0..n) as the reference does; a mismatch
 * fails the test with the bytes (one ck_assert per sequence would take
 * minutes: Check records each). */
static void agree(const unsigned char *b, size_t n, int expected)
{
    if (valid((const char *)b, n) != expected)
        ck_abort_msg("utf8_classify of %zu bytes %02x %02x %02x %02x: expected %d", n, b[0],
                     n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0, expected);
}

START_TEST(test_utf8_every_short_sequence)
{
    unsigned char b[3];
    for (unsigned long v = 0; v < 1UL << 24; v++) {
        b[0] = (unsigned char)(v >> 16);
        b[1] = (unsigned char)(v >> 8);
        b[2] = (unsigned char)v;
        /* b as one sequence of 3 bytes or split in shorter ones; its
         * first byte and first 2 bytes once each. */
        agree(b, 3,
              one_code_point(b, 3) ||
                  (one_code_point(b, 1) &&
                   (one_code_point(b + 1, 2) ||
                    (one_code_point(b + 1, 1) && one_code_point(b + 2, 1)))) ||
                  (one_code_point(b, 2) && one_code_point(b + 2, 1)));
        if ((v & 0xFFFF) == 0)
            agree(b, 1, one_code_point(b, 1));
        if ((v & 0xFF) == 0)
            agree(b, 2, one_code_point(b, 2) || (one_code_point(b, 1) && one_code_point(b + 1, 1)));
    }
}
END_TEST

START_TEST(test_utf8_four_byte_sequences)
{
    static const unsigned char tails[][2] = {
        {0x80, 0x80}, {0xBF, 0xBF}, {0x41, 0x80}, {0x80, 0xC0}, {0x80, 0x41}};
    unsigned char b[4];
    for (unsigned lead = 0xF0; lead <= 0xFF; lead++)
        for (unsigned second = 0; second <= 0xFF; second++)
            for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
                b[0] = (unsigned char)lead;
                b[1] = (unsigned char)second;
                memcpy(b + 2, tails[t], 2);
                agree(b, 4, one_code_point(b, 4));
                agree(b, 3, 0); /* cut short */
            }
}
END_TEST

START_TEST(test_utf8_text_and_runs)
{
    const char *text = "plain ASCII, then caf\xC3\xA9, \xE2\x82\xAC and \xF0\x9F\x98\x80.";
    ck_assert_int_eq(valid(text, strlen(text)), 1);
    ck_assert_int_eq(valid("", 0), 1);
    ck_assert_int_eq(valid("a\0b", 3), 1); /* NUL is a character */
    char run[64];
    memset(run, 'x', sizeof(run));
    ck_assert_int_eq(valid(run, sizeof(run)), 1);
    for (size_t at = 0; at < sizeof(run); at++) { /* a bad byte anywhere in a run */
        run[at] = (char)0xFF;
        ck_assert_int_eq(valid(run, sizeof(run)), 0);
        run[at] = 'x';
    }
    ck_assert_int_eq(valid("\xED\xA0\x80", 3), 0);     /* U+D800, a surrogate */
    ck_assert_int_eq(valid("\xC0\x80", 2), 0);         /* overlong NUL */
    ck_assert_int_eq(valid("\xF4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    ck_assert_int_eq(valid("xxxxxxx\xC3", 8), 0);      /* cut at the end */
}
END_TEST

START_TEST(test_utf8_classify_tells_ascii)
{
    char run[64];
    memset(run, 'x', sizeof(run));
    ck_assert_int_eq(utf8_classify(run, sizeof(run)), UTF8_ASCII);
    ck_assert_int_eq(utf8_classify("", 0), UTF8_ASCII);
    ck_assert_int_eq(utf8_classify("a\0b", 3), UTF8_ASCII);
    for (size_t at = 0; at + 1 < sizeof(run); at++) { /* one character above U+007F anywhere */
        run[at] = (char)0xC3;
        run[at + 1] = (char)0xA9;
        ck_assert_int_eq(utf8_classify(run, sizeof(run)), UTF8_NON_ASCII);
        run[at + 1] = 'x'; /* cut short */
        ck_assert_int_eq(utf8_classify(run, sizeof(run)), UTF8_INVALID);
        run[at] = 'x';
    }
    ck_assert_int_eq(utf8_classify("caf\xC3\xA9 \xFF", 7), UTF8_INVALID); /* bad after non-ASCII */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8");
    tcase_add_test(tc, test_utf8_every_short_sequence);
    tcase_add_test(tc, test_utf8_four_byte_sequences);
    tcase_add_test(tc, test_utf8_text_and_runs);
    tcase_add_test(tc, test_utf8_classify_tells_ascii);
    suite_add_tcase(s, tc);
    return check_run(s);
}
