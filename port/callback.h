/*
 * callback: Erlang from Python, through the `erlang` module.
 *
 * DESIGN: erlang.call(name, *args) (and erlang.name(*args), the module's
 * __getattr__) sends the event {Name, Args, Context} with the
 * routing header {py_callback, Id} and waits for {callback_result, Id,
 * Result} (waiters.h). The port owner runs the function registered as
 * Name in a new Erlang process; when Context is {Pool, CtxId}, the Python
 * requests that process makes to Pool come back to context CtxId, which
 * serves them while it waits (pools_wait()), so Python code runs once,
 * however deep the nesting. erlang.send(pid, term) sends the event {Pid,
 * Term} with the header py_send; erlang.self() reads the caller's pid out
 * of the current request's ReplyTo; erlang.whereis(name) is a call of the
 * built-in function `whereis'. docs/callbacks.md is the user's view.
 */
#ifndef PY_PORT_CALLBACK_H
#define PY_PORT_CALLBACK_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "cancel.h"
#include "flow.h"
#include "pool.h"
#include "waiters.h"
#include "writer.h"

/* The request whose Python code the calling thread runs, innermost first:
 * a context thread enters one around every job, nested ones included. */
struct callback_scope {
    const struct job *job;
    struct cancel_target *target; /* the context's, to wait uninterrupted */
    struct callback_scope *outer;
    int task; /* the job's coroutine takes its first step: no caller (erlang.self()) */
};

/* GIL held, once per interpreter (interp_state.h): adds call, send, self,
 * whereis, Error and __getattr__ to its `erlang` module. 0, or -1 with an exception set. */
int callback_setup(void);

/* Before any context starts: where callbacks wait and write. */
void callback_use(struct waiters *ws, struct writer *w);

/* Before any context starts: the window of what Python has in flight
 * towards Erlang (flow.h), and how long erlang.send and erlang.call wait
 * for room in it before they raise TimeoutError. Not called: unbounded. */
void callback_use_flow(struct flow *f, long timeout_ms);

/* On a context thread, around the Python code of job. */
void callback_enter(struct callback_scope *s, const struct job *job, struct cancel_target *t);
void callback_leave(struct callback_scope *s);

#endif
