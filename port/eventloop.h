/*
 * eventloop: each context's asyncio event loop, on a thread of its own,
 * where the coroutine calls of that context run (docs/asyncio.md).
 *
 * DESIGN: one unit, whatever the kind of context: a context (pyrun.c, for
 * worker and owngil contexts alike) makes one with eventloop_new() when
 * it starts, hands it each awaitable result with eventloop_submit(), asks
 * it to cancel a request with eventloop_cancel() when interrupted, and
 * ends it with eventloop_stop() when it stops. The loop and its thread
 * start at the first submit, in the context's interpreter (a
 * threading.Thread, so an owngil interpreter owns it and ends with it): a
 * context that never awaits costs nothing. The task's first step runs on
 * the context's thread when the loop is idle, as part of the request: a
 * task that ends there is answered as a synchronous call. One that waits
 * makes its job a task of the pool (pools_detach()); the context takes
 * its next request, and the loop thread writes the task's reply with the
 * code of the synchronous path (reply.h), exactly once
 * (job_claim_answer()).
 *
 * Threads: submit and stop on the context's thread with its GIL; the
 * loop's thread runs the tasks and answers them with the same GIL;
 * eventloop_cancel() from any thread (the reader, with pool locks held),
 * without the GIL: it queues the seq under `mu` and writes a byte to the
 * loop's wake-up pipe, and the loop cancels that task. Lock order: pool
 * locks, then `mu`; `mu` is never held while taking another lock or the
 * GIL.
 */
#ifndef PY_PORT_EVENTLOOP_H
#define PY_PORT_EVENTLOOP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "cancel.h"
#include "pool.h"
#include "writer.h"

struct eventloop;
struct reply;

/* Before any context starts: the pools whose jobs become tasks, the
 * writer their replies go to, and whether each answered task is traced
 * (trace.h: by=task). */
void eventloop_use(struct pools *p, struct writer *w, int trace);

/* Any thread, no Python: a loop not started yet, of the context whose
 * cancel target is t (a task's first step, run on the context's thread,
 * is interrupted by its cancel as the request's own code is). Exits the
 * process when out of memory (as a context does). */
struct eventloop *eventloop_new(struct cancel_target *t);

/* GIL held: whether obj is awaitable (a coroutine, an asyncio future or
 * task, anything whose type has __await__). */
int eventloop_is_awaitable(PyObject *obj);

/* GIL held: whether obj is an async iterable (an async generator,
 * anything whose type has __aiter__). */
int eventloop_is_async_iterable(PyObject *obj);

/*
 * GIL held, on the context's thread, inside hooks.run for job: starts the
 * loop if needed and makes a task running aw (a new reference is taken),
 * whose first step runs here if the loop is idle, as part of the request
 * (pools_interrupt() and cancels reach it; erlang.async_call works there:
 * eventloop_current() is l). aw is an awaitable for a call or an eval,
 * whose result is the reply; an async iterable for stream and stream_eval
 * (collected into a list) and for stream_start (its items sent as they
 * come, each when the caller's credit allows; the reply is then `done`).
 * Returns
 *   1  job is a task of the pool now (pools_detach()), which the loop
 *      answers: hooks.run must return POOL_RUN_DETACHED and never touch
 *      job again;
 *   0  the task ended in its first step: r holds its reply, and job is
 *      answered as a synchronous call's is;
 *  -1  with an exception set: the task's own (it raised, or was cancelled,
 *      in its first step), or the loop's (it could not start); job is
 *      answered with it as usual.
 */
int eventloop_submit(struct eventloop *l, PyObject *aw, struct job *job, struct reply *r);

/* Any thread, no lock or GIL needed, never blocks: cancels the task of
 * request seq, if the loop runs one (its CancelledError raised at its
 * await). Does nothing before the loop started. */
void eventloop_cancel(struct eventloop *l, long seq);

/* Any thread, as eventloop_cancel(): the task of request seq was given
 * stream credit (pools_poke()); if it waits for some, it looks again. */
void eventloop_poke(struct eventloop *l, long seq);

/*
 * GIL held, on the context's thread, when it stops: cancels every task,
 * waits up to a second for them (a task that ignores its cancellation is
 * left behind, and its loop with it), stops the loop and joins its
 * thread. Every task's job is done then: answered (its claim taken by a
 * pool stop first, else a CancelledError error) and freed. NULL-safe.
 */
void eventloop_stop(struct eventloop *l);

/*
 * Something a task awaits from another thread (erlang.async_call's answer,
 * callback.c): expected on the loop's thread, posted by the thread that
 * has it (the reader), then run on the loop's thread; or dropped at stop
 * if it never came or was not run.
 */
struct eventloop_post {
    struct eventloop_post *prev, *next;     /* the loop's expected ones, with the GIL */
    struct eventloop_post *posted;          /* its inbox, under its mu */
    void (*run)(struct eventloop_post *p);  /* loop's thread, GIL held: it came */
    void (*drop)(struct eventloop_post *p); /* stop, GIL held, the loop's thread joined */
};

/* GIL held: the loop whose thread calls, NULL on any other thread. */
struct eventloop *eventloop_current(void);

/* GIL held, on l's thread: a new future of l's loop, or NULL with an
 * exception set. */
PyObject *eventloop_new_future(struct eventloop *l);

/* GIL held, on l's thread: p will be posted; until it runs, l's stop
 * drops it. */
void eventloop_expect(struct eventloop *l, struct eventloop_post *p);

/* Any thread, no GIL, never blocks (a lock held briefly): p, expected,
 * runs on l's thread soon (or is dropped at stop). */
void eventloop_post(struct eventloop *l, struct eventloop_post *p);

/* After eventloop_stop(), no GIL needed: frees l. NULL-safe. */
void eventloop_free(struct eventloop *l);

#endif
