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
    long long *ids;
    ck_assert_int_eq(sentrefs_take(&ids), 0);
    ck_assert_ptr_null(ids);
    ck_assert_int_eq(sentrefs_cancel(same, "key-a"), 1);
    ck_assert_int_eq(sentrefs_cancel(same, "key-a"), 0); /* taken once */
    ck_assert_int_eq(sentrefs_take(&ids), 2);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 2);
    free(ids);
    ck_assert_int_eq(sentrefs_take(&ids), 0);
}
END_TEST

START_TEST(test_sentrefs_cancel_takes_every_match)
{
    const long long a[] = {1}, b[] = {2}, c[] = {3};
    sentrefs_note("1b", 2, a, 1);
    sentrefs_note("2a", 2, b, 1);
    sentrefs_note("3b", 2, c, 1);
    ck_assert_int_eq(sentrefs_cancel(ends_with_b, NULL), 2);
    long long *ids;
    ck_assert_int_eq(sentrefs_take(&ids), 2);
    ck_assert_int_eq(ids[0] + ids[1], 4);
    free(ids);
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
    long long *ids;
    ck_assert_int_eq(sentrefs_take(&ids), SENTREFS_KEPT);
    free(ids);
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
    suite_add_tcase(s, tc);
    return check_run(s);
}
