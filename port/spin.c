/*
 * spin: see spin.h.
 */
#include "spin.h"

#include <sched.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

void spin_mark(struct spin_mark *m)
{
    atomic_store_explicit(&m->at_ns, now_ns(), memory_order_relaxed);
}

int spin_until_renewed(spin_ready_fn ready, void *arg, long spin_ns, const struct spin_mark *renew)
{
    if (spin_ns <= 0)
        return 0;
    long long start = now_ns();
    for (unsigned k = 1;; k++) {
        if (ready(arg))
            return 1;
        if (k % 8 == 0) {
            long long now = now_ns(), from = start;
            long long marked =
                renew ? atomic_load_explicit(&renew->at_ns, memory_order_relaxed) : 0;
            if (marked > from)
                from = marked;
            if (now - from > spin_ns)
                return 0;
        }
        sched_yield();
    }
}

int spin_until(spin_ready_fn ready, void *arg, long spin_ns)
{
    return spin_until_renewed(ready, arg, spin_ns, NULL);
}
