/*
 * cancel: the interrupting thread (see cancel.h).
 *
 * DESIGN: cancel_request() appends to `pending` under `mu` and signals
 * `cond`; the thread waits without a GIL, takes one entry off the list
 * (marking its target `busy`), enters the target's interpreter and
 * handles it with that GIL held. cancel_forget() removes a target's
 * entries and waits while it is busy, so an entry is never used after its
 * target was freed. An entry that cannot be allocated is dropped: that
 * request then runs to its end (its reply is dropped all the same).
 */
#include "cancel.h"

#include "interp_state.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct interrupt {
    struct interrupt *next;
    struct cancel_target *target;
    long seq;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER; /* pending, or busy cleared */
static struct interrupt *pending;
static struct cancel_target *busy; /* whose entry is being handled */
static PyThreadState *own_ts;      /* in the main interpreter */

/* The next entry, waiting for one; its target is busy until done(). */
static struct interrupt *next_entry(void)
{
    pthread_mutex_lock(&mu);
    while (!pending)
        pthread_cond_wait(&cond, &mu);
    struct interrupt *i = pending;
    pending = i->next;
    busy = i->target;
    pthread_mutex_unlock(&mu);
    return i;
}

static void done(struct interrupt *i)
{
    pthread_mutex_lock(&mu);
    busy = NULL;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
    free(i);
}

/* The interrupting thread's thread state in t's interpreter. Made here,
 * so that its thread id is this thread's: PyThreadState_SetAsyncExc()
 * finds a thread state by thread id, and must find the context's. No GIL
 * is needed to make one. NULL when out of memory. */
static PyThreadState *enter_via(struct cancel_target *t)
{
    if (!t->interp)
        return own_ts;
    if (!t->via)
        t->via = PyThreadState_New(t->interp);
    return t->via;
}

/* Sets erlang.Cancelled in t's thread state, raised at its next bytecode.
 * GIL of t's interpreter held. */
static void arm(struct cancel_target *t)
{
    PyThreadState_SetAsyncExc(t->ts->thread_id, interp_state()->cancelled);
    t->armed = 1;
}

static void interrupt(struct cancel_target *t, long seq)
{
    PyThreadState *ts = enter_via(t);
    if (!ts)
        return;
    PyEval_RestoreThread(ts);
    if (t->running == seq)
        arm(t);
    else
        t->pending = seq; /* its code has not begun, or waits: armed when it runs */
    PyEval_SaveThread();
    if (ts != own_ts) {
        /* Swapping in binds a thread state to the thread's PyGILState slot;
         * own_ts takes it back, so that the context may delete `via`. */
        PyEval_RestoreThread(own_ts);
        PyEval_SaveThread();
    }
}

static void *interrupter(void *arg)
{
    (void)arg;
    for (;;) {
        struct interrupt *i = next_entry();
        interrupt(i->target, i->seq);
        done(i);
    }
    return NULL;
}

/* Starts the interrupting thread, with a thread state of the current
 * (main) interpreter. GIL held. */
static int start_thread(void)
{
    own_ts = PyThreadState_New(PyThreadState_Get()->interp);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int failed = !own_ts || pthread_create(&t, &attr, interrupter, NULL) != 0;
    pthread_attr_destroy(&attr);
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "cannot start the interrupting thread");
        return -1;
    }
    return 0;
}

int cancel_setup(void)
{
    struct interp_state *st = interp_state();
    st->cancelled = PyErr_NewExceptionWithDoc(
        "erlang.Cancelled",
        "Raised in Python code whose request was cancelled: its caller timed out or exited.",
        PyExc_BaseException, NULL);
    if (!st->cancelled || PyObject_SetAttrString(st->module, "Cancelled", st->cancelled) < 0)
        return -1;
    return own_ts ? 0 : start_thread();
}

void cancel_request(struct cancel_target *t, long seq)
{
    struct interrupt *i = malloc(sizeof(*i));
    if (!i)
        return;
    *i = (struct interrupt){.next = NULL, .target = t, .seq = seq};
    pthread_mutex_lock(&mu);
    i->next = pending;
    pending = i;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
}

/* Drops the interrupt set in t's thread state, if one may be pending. */
static void disarm(struct cancel_target *t)
{
    if (t->armed) { /* SetAsyncExc walks every thread state: only when needed */
        PyThreadState_SetAsyncExc(t->ts->thread_id, NULL);
        t->armed = 0;
    }
}

/* seq's code runs (again): an interrupt kept for it is set now, once. */
static void run_code_of(struct cancel_target *t, long seq)
{
    t->running = seq;
    if (t->pending == seq) {
        t->pending = 0;
        arm(t);
    }
}

long cancel_job_begin(struct cancel_target *t, long seq)
{
    long outer = t->running;
    disarm(t);           /* meant for an earlier request that ended first */
    run_code_of(t, seq); /* interrupted before its code began? */
    return outer;
}

void cancel_job_end(struct cancel_target *t, long outer)
{
    disarm(t); /* the request ended before it was raised */
    t->running = outer;
}

long cancel_wait_begin(struct cancel_target *t)
{
    long seq = t->running;
    t->running = 0;
    return seq;
}

void cancel_wait_end(struct cancel_target *t, long seq, int cancelled)
{
    if (cancelled) { /* the code raises erlang.Cancelled itself */
        disarm(t);
        if (t->pending == seq)
            t->pending = 0;
        return;
    }
    run_code_of(t, seq); /* interrupted while it waited? */
}

void cancel_drop_via(struct cancel_target *t)
{
    if (t->via) {
        PyThreadState_Clear(t->via);
        PyThreadState_Delete(t->via);
        t->via = NULL;
    }
}

void cancel_forget(struct cancel_target *t)
{
    pthread_mutex_lock(&mu);
    while (busy == t)
        pthread_cond_wait(&cond, &mu);
    struct interrupt **link = &pending;
    while (*link) {
        struct interrupt *i = *link;
        if (i->target == t) {
            *link = i->next;
            free(i);
        } else {
            link = &i->next;
        }
    }
    pthread_mutex_unlock(&mu);
}
