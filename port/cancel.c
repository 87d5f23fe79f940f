/*
 * cancel: the interrupting thread (see cancel.h).
 *
 * DESIGN: cancel_request() appends to `pending` under `mu` and signals
 * `cond`; the thread waits without the GIL, then takes the GIL, swaps the
 * list out and handles each entry with the GIL held. cancel_forget() also
 * runs with the GIL held, so an entry is never used after its target was
 * freed. An entry that cannot be allocated is dropped: that request then
 * runs to its end (its reply is dropped all the same).
 */
#include "cancel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct interrupt {
    struct interrupt *next;
    struct cancel_target *target;
    long seq;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct interrupt *pending;
static PyThreadState *own_ts;
static PyObject *cancelled; /* erlang.Cancelled */

static void *interrupter(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!pending)
            pthread_cond_wait(&cond, &mu);
        pthread_mutex_unlock(&mu);

        PyEval_RestoreThread(own_ts);
        pthread_mutex_lock(&mu);
        struct interrupt *list = pending;
        pending = NULL;
        pthread_mutex_unlock(&mu);
        while (list) {
            struct interrupt *next = list->next;
            if (list->target->running == list->seq) {
                PyThreadState_SetAsyncExc(list->target->ts->thread_id, cancelled);
                list->target->armed = 1;
            }
            free(list);
            list = next;
        }
        PyEval_SaveThread();
    }
    return NULL;
}

int cancel_setup(void)
{
    cancelled = PyErr_NewExceptionWithDoc(
        "erlang.Cancelled",
        "Raised in Python code whose request was cancelled: its caller timed out or exited.",
        PyExc_BaseException, NULL);
    PyObject *m = cancelled ? PyImport_ImportModule("erlang") : NULL;
    int rc = m ? PyObject_SetAttrString(m, "Cancelled", cancelled) : -1;
    Py_XDECREF(m);
    if (rc < 0)
        return -1;
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

void cancel_request(struct cancel_target *t, long seq)
{
    struct interrupt *i = malloc(sizeof(*i));
    if (!i)
        return;
    *i = (struct interrupt){.next = NULL, .target = t, .seq = seq};
    pthread_mutex_lock(&mu);
    i->next = pending;
    pending = i;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mu);
}

long cancel_job_begin(struct cancel_target *t, long seq)
{
    long outer = t->running;
    /* An interrupt meant for an earlier request that ended first. */
    if (t->armed) { /* SetAsyncExc walks every thread state: only when needed */
        PyThreadState_SetAsyncExc(t->ts->thread_id, NULL);
        t->armed = 0;
    }
    t->running = seq;
    return outer;
}

void cancel_job_end(struct cancel_target *t, long outer)
{
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
    if (!cancelled) {
        t->running = seq;
    } else if (t->armed) {
        PyThreadState_SetAsyncExc(t->ts->thread_id, NULL);
        t->armed = 0;
    }
}

void cancel_forget(struct cancel_target *t)
{
    pthread_mutex_lock(&mu);
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
