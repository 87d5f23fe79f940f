/* Unit tests of port/latency.c: buckets and percentiles. */
#include "latency.h"

#include "check_main.h"

#include <check.h>
#include <string.h>

static struct latency l;

START_TEST(test_latency_empty_is_minus_one)
{
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(latency_percentile(&l, 0.5), -1);
}
END_TEST

START_TEST(test_latency_small_values_are_exact)
{
    memset(&l, 0, sizeof(l));
    for (int us = 0; us < 8; us++)
        latency_add(&l, us);
    ck_assert_int_eq(latency_percentile(&l, 0.5), 3);
    ck_assert_int_eq(latency_percentile(&l, 1.0), 7);
    latency_add(&l, -5); /* counts as 0 */
    ck_assert_int_eq(latency_percentile(&l, 0.01), 0);
}
END_TEST

START_TEST(test_latency_percentiles_within_an_eighth)
{
    memset(&l, 0, sizeof(l));
    for (int us = 1; us <= 100; us++)
        latency_add(&l, us);
    /* 50 lies in [48, 51], 99 in [96, 103]: the upper ends. */
    ck_assert_int_eq(latency_percentile(&l, 0.50), 51);
    ck_assert_int_eq(latency_percentile(&l, 0.99), 103);
    ck_assert_uint_eq(l.n, 100);
}
END_TEST

START_TEST(test_latency_large_values)
{
    memset(&l, 0, sizeof(l));
    latency_add(&l, 1000000); /* 1 s: [983040, 1048575] */
    ck_assert_int_eq(latency_percentile(&l, 0.5), 1048575);
    latency_add(&l, 1LL << 61);
    ck_assert_int_ge(latency_percentile(&l, 1.0), 1LL << 61);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("latency");
    TCase *tc = tcase_create("latency");
    tcase_add_test(tc, test_latency_empty_is_minus_one);
    tcase_add_test(tc, test_latency_small_values_are_exact);
    tcase_add_test(tc, test_latency_percentiles_within_an_eighth);
    tcase_add_test(tc, test_latency_large_values);
    suite_add_tcase(s, tc);
    return check_run(s);
}
