/*
 * flow: the bytes Python has in flight towards Erlang (see flow.h).
 *
 * DESIGN: a count under a mutex and a condition variable on the monotonic
 * clock. A waiter sleeps at most FLOW_POLL_MS at a time, so that it sees
 * its cancel flag (set by the reader thread, which must not block on
 * this lock's waiters) within that time.
 */
#include "flow.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct flow {
    pthread_mutex_t mu;
    pthread_cond_t room; /* bytes were given back */
    size_t window;
    size_t in_flight;
};

struct flow *flow_new(size_t window)
{
    struct flow *f = calloc(1, sizeof(*f));
    pthread_condattr_t attr;
    if (!f || window == 0 || pthread_condattr_init(&attr) != 0) {
        free(f);
        return NULL;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->room, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&f->mu, NULL);
    f->window = window;
    return f;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether `bytes` may leave now. mu held. */
static int fits(const struct flow *f, size_t bytes)
{
    return f->in_flight == 0 || f->in_flight + bytes <= f->window;
}

/* Sleeps on `room` for at most ms milliseconds. mu held. */
static void wait_ms(struct flow *f, long long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&f->room, &f->mu, &t);
}

int flow_acquire(struct flow *f, size_t bytes, long timeout_ms, const atomic_int *cancelled)
{
    long long deadline = now_ms() + timeout_ms;
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    while (!fits(f, bytes)) {
        long long left = deadline - now_ms();
        if (cancelled && atomic_load(cancelled)) {
            rc = -ECANCELED;
            break;
        }
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        wait_ms(f, left < FLOW_POLL_MS ? left : FLOW_POLL_MS);
    }
    if (rc == 0)
        f->in_flight += bytes;
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void flow_release(struct flow *f, size_t bytes)
{
    pthread_mutex_lock(&f->mu);
    f->in_flight -= bytes < f->in_flight ? bytes : f->in_flight;
    pthread_cond_broadcast(&f->room);
    pthread_mutex_unlock(&f->mu);
}

size_t flow_in_flight(struct flow *f)
{
    pthread_mutex_lock(&f->mu);
    size_t n = f->in_flight;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void flow_free(struct flow *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->room);
    free(f);
}
