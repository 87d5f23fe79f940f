/*
 * spin: see spin.h.
 */
#include "spin.h"

#include "clock.h"

#include <sched.h>

void spin_mark(struct spin_mark *m)
{
    atomic_store_explicit(&m->at_ns, clock_now_ns(), memory_order_relaxed);
}

int spin_until_renewed(spin_ready_fn ready, void *arg, long spin_ns, const struct spin_mark *renew)
{
    if (spin_ns <= 0)
        return 0;
    long long start = clock_now_ns();
    for (unsigned k = 1;; k++) {
        if (ready(arg))
            return 1;
        if (k % 8 == 0) {
            long long now = clock_now_ns(), from = start;
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
