/*
 * pyrun: the Python side of the port: starting CPython, and running jobs.
 *
 * DESIGN: pyrun_start() runs on the main thread and releases the GIL when
 * done. Each context thread creates its own PyThreadState in
 * pyrun_ctx_start() and takes the GIL only inside pyrun_run(), around the
 * decoding of the body, the Python work and the encoding of the reply; it
 * releases the GIL before handing the reply to the writer.
 */
#ifndef PY_PORT_PYRUN_H
#define PY_PORT_PYRUN_H

#include "pool.h"

#include <stddef.h>

/*
 * Starts CPython through PyConfig: environment honoured, `paths` put in
 * front of sys.path, stdio unbuffered, the `erlang` module built in, the
 * site module imported (its failure reported, not printed away), and
 * sys.stderr on stderr_fd when it is not -1, and then Python's logging
 * forwarded to Erlang too (pylog.h). Returns 0
 * with the GIL released, or -1 with Python's reason in err.
 */
int pyrun_start(char *const *paths, int n_paths, int stderr_fd, char *err, size_t errlen);

/* GIL held, in a new interpreter (the main one from pyrun_start(), an
 * owngil context's from subinterp.c): imports site and the `erlang`
 * module and sets up its state (interp_state.h), sys.stderr and logging
 * as pyrun_start() says. 0, or -1 with the reason in err. */
int pyrun_interp_setup(char *err, size_t errlen);

/* A context's state for pyrun_run() around its thread state ts, of
 * interp, an owngil context's interpreter (NULL: the main one). Exits the
 * process when out of memory. */
typedef struct _ts PyThreadState;
typedef struct _is PyInterpreterState;
void *pyrun_context_new(PyThreadState *ts, PyInterpreterState *interp);

/* GIL NOT held: no interrupt reaches the context from now on (cancel.h). */
void pyrun_context_forget(void *ctx_state);

/* GIL held: frees what pyrun_context_new() made (not the thread states).
 * Call pyrun_context_forget() first. */
void pyrun_context_free(void *ctx_state);

/* Where streams wait for credit (pools_wait()); before any context runs. */
struct pools;
void pyrun_use_pools(struct pools *p);

/* The running CPython's version, "3.11.2". Valid after pyrun_start(). */
const char *pyrun_python_version(void);

/* 1 when built against a free-threaded CPython (Py_GIL_DISABLED): no
 * GIL, worker contexts run Python in parallel too. */
int pyrun_free_threaded(void);

/* Pool hooks; arg is the struct writer * replies go to. */
void *pyrun_ctx_start(void *arg, long ctx_id);
int pyrun_run(void *arg, void *ctx_state, struct job *job); /* 1 if it raised */
void pyrun_ctx_stop(void *arg, void *ctx_state);
void pyrun_interrupt(void *arg, void *ctx_state, long seq);
void pyrun_task_poked(void *arg, void *ctx_state, long seq);

/* Finalizes CPython once every context has stopped. Returns 0 or -1. */
int pyrun_finish(void);

#endif
