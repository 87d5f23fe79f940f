/*
 * clock: the one clock py_port times things by.
 *
 * DESIGN: CLOCK_MONOTONIC, which no change of the wall clock moves, in
 * nanoseconds as one number, so that intervals are a subtraction. Inline,
 * so that the smallest modules (spin) can use it without linking anything.
 */
#ifndef PY_PORT_CLOCK_H
#define PY_PORT_CLOCK_H

#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline long long clock_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

#endif
