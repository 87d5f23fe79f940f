/*
 * waiters: threads of py_port waiting for an answer from Erlang.
 *
 * DESIGN: Python code that calls an Erlang function (callback.h) gets a
 * waiter with a fresh id, sends its request with that id and waits; the
 * reader thread hands the answer frame {callback_result, Id, Result} to
 * the waiter of that id (waiters_deliver()). A context thread waits in
 * pools_wait(), serving the requests addressed to it meanwhile (they may
 * come from the very Erlang function it waits for); any other thread (one
 * that Python code started) waits on a condition variable. No Python.
 * Lock: `mu` guards the list of waiters; pools_wake() is called without it.
 */
#ifndef PY_PORT_WAITERS_H
#define PY_PORT_WAITERS_H

#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct waiter {
    struct waiter *next;
    long id;
    long ctx_id;     /* the context that waits, or -1: another thread */
    atomic_int done; /* the answer is in */
    char *frame;     /* the answer (a frame read: its owner frees it, frame_free()) */
    size_t len;
    int body_off; /* where Result starts in frame */
    pthread_cond_t cond;
    void (*notify)(struct waiter *w); /* waiters_add_notify()'s */
};

struct waiters;

/* A registry whose context threads wait through p. NULL if out of memory. */
struct waiters *waiters_new(struct pools *p);

/* Registers w, to be waited for by context ctx_id (or -1), with a new id
 * (set in w->id). Call before the request leaves, so that the answer
 * cannot come first. */
void waiters_add(struct waiters *ws, struct waiter *w, long ctx_id);

/* Registers w, whose answer nobody waits for in waiters_wait(): when it
 * comes, the reader unregisters w, sets its frame and calls notify(w)
 * with the registry's lock held (notify may only hand w on and wake
 * whoever takes it; it must not call into this registry). Call before
 * the request leaves. */
void waiters_add_notify(struct waiters *ws, struct waiter *w, void (*notify)(struct waiter *w));

/* Unregisters w of waiters_add_notify() if its answer has not come: 1
 * then (notify will never be called), 0 when it came (notify was called,
 * w->frame holds the answer). */
int waiters_cancel(struct waiters *ws, struct waiter *w);

/* Waits for w's answer, then unregisters w. Returns 0 (w->frame holds the
 * answer), or for a context: -ECANCELED (its request was cancelled) or
 * -ESHUTDOWN (its pool stops); an answer that comes later is dropped. The
 * caller frees w->frame with frame_free() (NULL if no answer came) in
 * every case. */
int waiters_wait(struct waiters *ws, struct waiter *w);

/* Unregisters w, whose request could not be sent. */
void waiters_forget(struct waiters *ws, struct waiter *w);

/* Reader thread: hands frame (ownership too) to the waiter of id, the
 * answer starting at body_off. Returns 0, or -ENOENT when nobody waits
 * for id (any more): frame is then freed. */
int waiters_deliver(struct waiters *ws, long id, char *frame, size_t len, int body_off);

#endif
