/* Unit tests of port/flow.c: the window of bytes in flight towards
 * Erlang, with real waiting and releasing threads. */
#include "check_main.h"
#include "flow.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

START_TEST(test_flow_takes_within_the_window)
{
    struct flow *f = flow_new(100);
    ck_assert_int_eq(flow_acquire(f, 60, 0, NULL), 0);
    ck_assert_int_eq(flow_acquire(f, 40, 0, NULL), 0);
    ck_assert_uint_eq(flow_in_flight(f), 100);
    ck_assert_int_eq(flow_acquire(f, 1, 0, NULL), -ETIMEDOUT);
    ck_assert_uint_eq(flow_in_flight(f), 100);
    flow_free(f);
}
END_TEST

START_TEST(test_flow_larger_than_the_window_passes_alone)
{
    struct flow *f = flow_new(100);
    ck_assert_int_eq(flow_acquire(f, 1000, 0, NULL), 0);
    ck_assert_int_eq(flow_acquire(f, 1, 0, NULL), -ETIMEDOUT);
    flow_release(f, 1000);
    ck_assert_int_eq(flow_acquire(f, 1, 0, NULL), 0);
    flow_free(f);
}
END_TEST

START_TEST(test_flow_release_clamps_at_zero)
{
    struct flow *f = flow_new(100);
    ck_assert_int_eq(flow_acquire(f, 10, 0, NULL), 0);
    flow_release(f, 50); /* a credit larger than what is counted */
    ck_assert_uint_eq(flow_in_flight(f), 0);
    flow_free(f);
}
END_TEST

START_TEST(test_flow_times_out)
{
    struct flow *f = flow_new(100);
    ck_assert_int_eq(flow_acquire(f, 100, 0, NULL), 0);
    long long t0 = now_ms();
    ck_assert_int_eq(flow_acquire(f, 1, 150, NULL), -ETIMEDOUT);
    long long waited = now_ms() - t0;
    ck_assert_int_ge(waited, 150);
    ck_assert_int_lt(waited, 2000);
    flow_free(f);
}
END_TEST

struct releaser {
    struct flow *f;
    atomic_int *cancel; /* set instead of releasing, if not NULL */
    int delay_ms;
};

static void *release_later(void *arg)
{
    struct releaser *r = arg;
    struct timespec t = {0, r->delay_ms * 1000000L};
    nanosleep(&t, NULL);
    if (r->cancel)
        atomic_store(r->cancel, 1);
    else
        flow_release(r->f, 100);
    return NULL;
}

START_TEST(test_flow_waits_until_released)
{
    struct flow *f = flow_new(100);
    ck_assert_int_eq(flow_acquire(f, 100, 0, NULL), 0);
    struct releaser r = {f, NULL, 100};
    pthread_t t;
    pthread_create(&t, NULL, release_later, &r);
    long long t0 = now_ms();
    ck_assert_int_eq(flow_acquire(f, 30, 5000, NULL), 0);
    ck_assert_int_lt(now_ms() - t0, 4000); /* woken by the release, not the timeout */
    ck_assert_uint_eq(flow_in_flight(f), 30);
    pthread_join(t, NULL);
    flow_free(f);
}
END_TEST

START_TEST(test_flow_cancel_ends_the_wait)
{
    struct flow *f = flow_new(100);
    atomic_int cancelled = 0;
    ck_assert_int_eq(flow_acquire(f, 100, 0, NULL), 0);
    struct releaser r = {f, &cancelled, 100};
    pthread_t t;
    pthread_create(&t, NULL, release_later, &r);
    long long t0 = now_ms();
    ck_assert_int_eq(flow_acquire(f, 1, 5000, &cancelled), -ECANCELED);
    ck_assert_int_lt(now_ms() - t0, 4000);
    ck_assert_uint_eq(flow_in_flight(f), 100);
    pthread_join(t, NULL);
    flow_free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("flow");
    TCase *tc = tcase_create("flow");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_flow_takes_within_the_window);
    tcase_add_test(tc, test_flow_larger_than_the_window_passes_alone);
    tcase_add_test(tc, test_flow_release_clamps_at_zero);
    tcase_add_test(tc, test_flow_times_out);
    tcase_add_test(tc, test_flow_waits_until_released);
    tcase_add_test(tc, test_flow_cancel_ends_the_wait);
    suite_add_tcase(s, tc);
    return check_run(s);
}
