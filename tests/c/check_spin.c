/* Unit tests of port/spin.c: polling a condition for a bounded time. */
#include "spin.h"

#include "check_main.h"

#include <check.h>
#include <time.h>

/* A condition that holds from its `ready_at`-th poll on. */
struct countdown {
    int polls;
    int ready_at;
};

static int poll_countdown(void *arg)
{
    struct countdown *c = arg;
    return ++c->polls >= c->ready_at;
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

START_TEST(test_spin_stops_when_ready)
{
    struct countdown c = {0, 20};
    ck_assert_int_eq(spin_until(poll_countdown, &c, 60L * 1000000000L), 1);
    ck_assert_int_eq(c.polls, 20);
}
END_TEST

START_TEST(test_spin_gives_up_after_its_time)
{
    struct countdown c = {0, 1 << 30}; /* never, within the test */
    long long start = now_ns();
    ck_assert_int_eq(spin_until(poll_countdown, &c, 2000000), 0);
    ck_assert_int_ge(now_ns() - start, 2000000);
    ck_assert_int_gt(c.polls, 0);
}
END_TEST

START_TEST(test_spin_of_zero_does_not_poll)
{
    struct countdown c = {0, 1};
    ck_assert_int_eq(spin_until(poll_countdown, &c, 0), 0);
    ck_assert_int_eq(c.polls, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spin");
    TCase *tc = tcase_create("spin");
    tcase_add_test(tc, test_spin_stops_when_ready);
    tcase_add_test(tc, test_spin_gives_up_after_its_time);
    tcase_add_test(tc, test_spin_of_zero_does_not_poll);
    suite_add_tcase(s, tc);
    return check_run(s);
}
