/* Unit tests of port/spin.c: polling a condition for a bounded time. */
#include "spin.h"

#include "check_main.h"
#include "clock.h"

#include <check.h>

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
    long long start = clock_now_ns();
    ck_assert_int_eq(spin_until(poll_countdown, &c, 2000000), 0);
    ck_assert_int_ge(clock_now_ns() - start, 2000000);
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

/* A condition that holds once `after_ns` have passed since `start`, and
 * that marks `renew` at every poll before then. */
struct renewing {
    struct spin_mark renew;
    long long start, after_ns;
};

static int poll_renewing(void *arg)
{
    struct renewing *r = arg;
    if (clock_now_ns() - r->start >= r->after_ns)
        return 1;
    spin_mark(&r->renew);
    return 0;
}

/* Renewed at every poll, a poll of 100 ms goes on until its condition
 * holds, 300 ms later. */
START_TEST(test_spin_renewed_goes_on_until_ready)
{
    struct renewing r = {.start = clock_now_ns(), .after_ns = 300000000};
    ck_assert_int_eq(spin_until_renewed(poll_renewing, &r, 100000000, &r.renew), 1);
    ck_assert_int_ge(clock_now_ns() - r.start, 300000000);
}
END_TEST

/* A mark made before the poll started gives it no more time. */
START_TEST(test_spin_mark_before_the_start_does_not_renew)
{
    struct spin_mark renew = {0};
    spin_mark(&renew);
    struct countdown c = {0, 1 << 30};
    long long start = clock_now_ns();
    ck_assert_int_eq(spin_until_renewed(poll_countdown, &c, 2000000, &renew), 0);
    ck_assert_int_ge(clock_now_ns() - start, 2000000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spin");
    TCase *tc = tcase_create("spin");
    tcase_add_test(tc, test_spin_stops_when_ready);
    tcase_add_test(tc, test_spin_gives_up_after_its_time);
    tcase_add_test(tc, test_spin_of_zero_does_not_poll);
    tcase_add_test(tc, test_spin_renewed_goes_on_until_ready);
    tcase_add_test(tc, test_spin_mark_before_the_start_does_not_renew);
    suite_add_tcase(s, tc);
    return check_run(s);
}
