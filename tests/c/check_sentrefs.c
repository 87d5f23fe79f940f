/* Unit tests of port/sentrefs.c: the references of written replies,
 * released when their caller's cancel comes after the reply. */
#include "check_main.h"
#include "sentrefs.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int same(const char *reply_to, int len, const void *arg)
{
    return len == (int)strlen(arg) && memcmp(reply_to, arg, (size_t)len) == 0;
}

static int ends_with_b(const char *reply_to, int len, const void *arg)
{
    (void)arg;
    return len > 0 && reply_to[len - 1] == 'b';
}

static void setup(void)
{
    sentrefs_reset();
}

START_TEST(test_sentrefs_cancel_takes_the_ids_of_its_key)
{
    const long long a[] = {1, 2}, b[] = {3};
    ck_assert_uint_ne(sentrefs_note("key-a", 5, a, 2), 0);
    ck_assert_uint_ne(sentrefs_note("key-b", 5, b, 1), 0);
    struct sentrefs_run *runs;
    ck_assert_int_eq(sentrefs_take(&runs), 0);
    ck_assert_ptr_null(runs);
    ck_assert_int_eq(sentrefs_cancel(same, "key-a"), 1);
    ck_assert_int_eq(sentrefs_cancel(same, "key-a"), 0); /* taken once */
    ck_assert_int_eq(sentrefs_take(&runs), 1);
    ck_assert_int_eq(runs[0].first, 1);
    ck_assert_int_eq(runs[0].n, 2);
    free(runs);
    ck_assert_int_eq(sentrefs_take(&runs), 0);
}
END_TEST

START_TEST(test_sentrefs_cancel_takes_every_match)
{
    const long long a[] = {1}, b[] = {2}, c[] = {3};
    sentrefs_note("1b", 2, a, 1);
    sentrefs_note("2a", 2, b, 1);
    sentrefs_note("3b", 2, c, 1);
    ck_assert_int_eq(sentrefs_cancel(ends_with_b, NULL), 2);
    struct sentrefs_run *runs;
    ck_assert_int_eq(sentrefs_take(&runs), 2);
    ck_assert_int_eq(runs[0].first + runs[1].first, 4);
    free(runs);
}
END_TEST

START_TEST(test_sentrefs_forgotten_reply_is_not_taken)
{
    const long long a[] = {7};
    unsigned long long token = sentrefs_note("k", 1, a, 1);
    sentrefs_forget(token);
    sentrefs_forget(token); /* twice: no effect */
    ck_assert_int_eq(sentrefs_cancel(same, "k"), 0);
}
END_TEST

START_TEST(test_sentrefs_keeps_the_last_replies_only)
{
    long long id = 0;
    unsigned long long first = sentrefs_note("old", 3, &id, 1);
    for (id = 1; id <= SENTREFS_KEPT; id++)
        sentrefs_note("new", 3, &id, 1);
    sentrefs_forget(first); /* its entry holds a newer reply now: kept */
    ck_assert_int_eq(sentrefs_cancel(same, "old"), 0);
    ck_assert_int_eq(sentrefs_cancel(same, "new"), SENTREFS_KEPT);
    struct sentrefs_run *runs;
    ck_assert_int_eq(sentrefs_take(&runs), SENTREFS_KEPT);
    free(runs);
}
END_TEST

START_TEST(test_sentrefs_ids_kept_as_runs)
{
    long long ids[2 * SENTREFS_MAX_RUNS + 1];
    for (int k = 0; k < 100; k++)
        ids[k] = 1000 + k; /* one run */
    ids[100] = 5;          /* a second */
    ck_assert_uint_ne(sentrefs_note("k", 1, ids, 101), 0);
    ck_assert_int_eq(sentrefs_cancel(same, "k"), 1);
    struct sentrefs_run *runs;
    ck_assert_int_eq(sentrefs_take(&runs), 2);
    ck_assert_int_eq(runs[0].first, 1000);
    ck_assert_int_eq(runs[0].n, 100);
    ck_assert_int_eq(runs[1].first, 5);
    ck_assert_int_eq(runs[1].n, 1);
    free(runs);
    for (int k = 0; k < 2 * SENTREFS_MAX_RUNS + 1; k++)
        ids[k] = 2 * k; /* a run each: too many */
    ck_assert_uint_eq(sentrefs_note("k", 1, ids, 2 * SENTREFS_MAX_RUNS + 1), 0);
    ck_assert_int_eq(sentrefs_cancel(same, "k"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sentrefs");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_sentrefs_cancel_takes_the_ids_of_its_key);
    tcase_add_test(tc, test_sentrefs_cancel_takes_every_match);
    tcase_add_test(tc, test_sentrefs_forgotten_reply_is_not_taken);
    tcase_add_test(tc, test_sentrefs_keeps_the_last_replies_only);
    tcase_add_test(tc, test_sentrefs_ids_kept_as_runs);
    suite_add_tcase(s, tc);
    return check_run(s);
}
