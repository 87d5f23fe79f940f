/*
 * cancel: interrupting the Python code of a cancelled request.
 *
 * DESIGN: the reader may not touch Python, so it hands the request to
 * interrupt to a thread of its own here, which takes the GIL, checks that
 * the context still runs that very request, and sets erlang.Cancelled (a
 * BaseException) as an asynchronous exception in the context's thread
 * state: Python raises it at the next bytecode. Code that swallows
 * BaseException, and C code that blocks (time.sleep, a socket read), is
 * not interrupted until it returns to Python bytecode.
 *
 * A context marks, under the GIL, which request its Python code runs
 * (cancel_job_begin/end); the check happens under the GIL too, so an
 * interrupt never lands in a later request. One that comes before the
 * request's code began (the context took the job, not the GIL yet), or
 * while it waits, is kept by seq (`pending`) and set when the code runs:
 * none is lost. Each interpreter has its own
 * GIL (owngil contexts): the interrupting thread enters the target's
 * interpreter through a thread state of its own there (`via`). Lock: `mu` guards
 * the pending list; it is never held while taking a GIL.
 */
#ifndef PY_PORT_CANCEL_H
#define PY_PORT_CANCEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* What a context exposes to interrupts; embedded in its state. */
struct cancel_target {
    PyThreadState *ts;
    PyInterpreterState *interp; /* an owngil context's interpreter; NULL: the main one */
    PyThreadState *via;         /* the interrupting thread's in interp, made on first use */
    long running;               /* seq of the request whose Python code runs; 0 if none */
    long pending;               /* seq interrupted before its code ran, or while it waited */
    int armed;                  /* an interrupt was set in ts and may still be pending */
};

/* GIL held, in each interpreter after its `erlang` module was imported:
 * creates its erlang.Cancelled; the first call (the main interpreter's)
 * also starts the interrupting thread. 0, or -1 with an exception set. */
int cancel_setup(void);

/* Any thread, no lock or GIL needed, never blocks: asks for request seq
 * to be interrupted if t still runs it. */
void cancel_request(struct cancel_target *t, long seq);

/* GIL held, on t's thread: request seq's Python code starts, and returns
 * the seq it runs nested in (0 if none); cancel_job_end() gets that seq
 * back when the request's code ended, and drops an interrupt not raised
 * yet: none lands in what the context runs after it (the hand-off of a
 * coroutine to the event loop, the next request). */
long cancel_job_begin(struct cancel_target *t, long seq);
void cancel_job_end(struct cancel_target *t, long outer);

/*
 * GIL held, on t's thread: the running request's code is about to wait,
 * GIL released, for something its cancellation also ends (pools_wait()):
 * no interrupt is set while it waits. Returns what cancel_wait_end()
 * takes back. After a wait that ended because the request was cancelled
 * (cancelled = 1), no interrupt is set for it any more and one that is
 * pending is dropped: the code raises erlang.Cancelled itself, once.
 * After another wait, an interrupt that came meanwhile is set then.
 */
long cancel_wait_begin(struct cancel_target *t);
void cancel_wait_end(struct cancel_target *t, long seq, int cancelled);

/* GIL NOT held: drops pending interrupts of t, and waits for one in
 * progress, before t is freed. */
void cancel_forget(struct cancel_target *t);

/* GIL of t->interp held, after cancel_forget(): deletes the interrupting
 * thread's thread state in t's interpreter, if it made one. */
void cancel_drop_via(struct cancel_target *t);

#endif
