/*
 * spin: see spin.h.
 */
#include "spin.h"

#include <sched.h>
#include <time.h>

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

int spin_until(spin_ready_fn ready, void *arg, long spin_ns)
{
    if (spin_ns <= 0)
        return 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned k = 1;; k++) {
        if (ready(arg))
            return 1;
        if (k % 8 == 0 && elapsed_ns(&start) > spin_ns)
            return 0;
        sched_yield();
    }
}
