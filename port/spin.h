/*
 * spin: polling for a condition for a bounded time before sleeping on it.
 *
 * DESIGN: on the machines py_port runs on (virtual CPUs above all), a
 * thread that sleeps and is woken costs several microseconds of CPU and
 * tens of microseconds of latency, much more than the work of a small
 * request. An idle thread that expects work soon (a context after a job,
 * the reader after a frame) therefore polls for it a little while,
 * yielding the CPU between polls so that runnable threads go first, and
 * only then sleeps. A poll may be renewed while it runs (struct spin_mark):
 * work that makes the condition likely soon (a reply written, which its
 * caller soon answers with the next request) restarts the poll's time.
 * No locks, no Python: the condition is the caller's.
 */
#ifndef PY_PORT_SPIN_H
#define PY_PORT_SPIN_H

#include <stdatomic.h>

/* Returns nonzero when the awaited condition holds. */
typedef int (*spin_ready_fn)(void *arg);

/* Calls ready(arg) until it returns nonzero or spin_ns nanoseconds have
 * passed, yielding the CPU between calls. Returns 1 if ready, 0 if the
 * time ran out (at once when spin_ns <= 0: ready() is not called then). */
int spin_until(spin_ready_fn ready, void *arg, long spin_ns);

/* When something that renews a poll last happened (CLOCK_MONOTONIC). Any
 * thread may mark it; zeroed, it has never happened. */
struct spin_mark {
    _Atomic long long at_ns;
};

/* Marks m now. */
void spin_mark(struct spin_mark *m);

/* As spin_until(), but the spin_ns run from the later of the poll's start
 * and the last spin_mark(renew) (renew may be NULL): a poll that is
 * renewed at least every spin_ns goes on until ready. */
int spin_until_renewed(spin_ready_fn ready, void *arg, long spin_ns, const struct spin_mark *renew);

#endif
