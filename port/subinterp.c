/*
 * subinterp: owngil contexts, one sub-interpreter with its own GIL each
 * (see subinterp.h).
 *
 * DESIGN: Py_NewInterpreterFromConfig() must be called with the main
 * interpreter's GIL held through a thread state of the calling thread; it
 * returns with the new interpreter's GIL held and the main one's released.
 * The context's thread makes a temporary main thread state for that, and
 * deletes it after. The interrupting thread (cancel.h) enters the
 * sub-interpreter through a thread state of its own. A job
 * runs through pyrun_run() unchanged; at stop the context clears its
 * state and ends the interpreter (its Python threads are joined first;
 * daemon threads are refused in it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "subinterp.h"

#include "cancel.h"
#include "interp_state.h"
#include "objref.h"
#include "protocol.h"
#include "pylog.h"
#include "pyrun.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>

#if PY_VERSION_HEX >= 0x030C0000

struct owngil {
    void *ctx; /* pyrun's context state: thread state, cancel target, namespace */
    PyThreadState *ts;
};

static _Noreturn void fail(const char *what, const char *why)
{
    fprintf(stderr, "py_port: owngil context: %s: %s\n", what, why ? why : "?");
    exit(PY_PORT_EXIT_PYTHON);
}

/* A new interpreter with its own GIL; returns with its GIL held. */
static PyThreadState *new_interpreter(void)
{
    PyThreadState *tmp = PyThreadState_New(PyInterpreterState_Main());
    if (!tmp)
        fail("cannot create a thread state", NULL);
    PyEval_RestoreThread(tmp);
    const PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0, /* forking a process with several GILs: refused (RuntimeError) */
        .allow_exec = 1, /* subprocess works */
        .allow_threads = 1,
        .allow_daemon_threads = 0, /* the interpreter must end with its threads */
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
    };
    PyThreadState *ts = NULL;
    PyStatus st = Py_NewInterpreterFromConfig(&ts, &config);
    if (PyStatus_Exception(st) || !ts)
        fail("cannot create a sub-interpreter", st.err_msg);
    PyEval_SaveThread(); /* the new GIL */
    PyEval_RestoreThread(tmp);
    PyThreadState_Clear(tmp);
    PyThreadState_DeleteCurrent();
    PyEval_RestoreThread(ts);
    return ts;
}

static void *owngil_start(void *arg, long ctx_id)
{
    struct owngil *o = calloc(1, sizeof(*o));
    if (!o)
        fail("out of memory", NULL);
    o->ts = new_interpreter();
    char err[512];
    if (pyrun_interp_setup(err, sizeof(err)) != 0)
        fail("cannot set up its interpreter", err);
    interp_state_set_owner(interp_state(), ctx_id);
    o->ctx = pyrun_context_new(o->ts, PyThreadState_GetInterpreter(o->ts));
    PyEval_SaveThread();
    pylog_use_writer(arg); /* the hooks' arg is the writer */
    return o;
}

static int tracing; /* set once before any context starts */

static int owngil_run(void *arg, void *state, struct job *job)
{
    struct owngil *o = state;
    int raised = pyrun_run(arg, o->ctx, job);
    if (tracing && raised != POOL_RUN_DETACHED) /* a task: job may be freed already */
        trace_job(job, "context");
    return raised;
}

static void owngil_interrupt(void *arg, void *state, long seq)
{
    struct owngil *o = state;
    pyrun_interrupt(arg, o->ctx, seq);
}

static void owngil_stop(void *arg, void *state)
{
    (void)arg;
    struct owngil *o = state;
    pyrun_context_forget(o->ctx); /* no interrupt in flight from here on */
    PyEval_RestoreThread(o->ts);
    int64_t id = PyInterpreterState_GetID(PyThreadState_GetInterpreter(o->ts));
    pyrun_context_free(o->ctx);
    objref_drop_all();
    Py_EndInterpreter(o->ts);
    interp_state_remove_id(id); /* if its module outlived it */
    free(o);
}

static void owngil_task_poked(void *arg, void *state, long seq)
{
    struct owngil *o = state;
    pyrun_task_poked(arg, o->ctx, seq);
}

static struct context_kind owngil = {
    "owngil", {NULL, owngil_start, owngil_run, owngil_stop, owngil_interrupt, owngil_task_poked}};

const struct context_kind *subinterp_kind(void *w, int trace, char *why, size_t len)
{
    (void)why;
    (void)len;
    owngil.hooks.arg = w;
    tracing = trace;
    return &owngil;
}

#else

const struct context_kind *subinterp_kind(void *w, int trace, char *why, size_t len)
{
    (void)w;
    (void)trace;
    snprintf(why, len, "needs Python 3.12 or later (this is %d.%d.%d)", PY_MAJOR_VERSION,
             PY_MINOR_VERSION, PY_MICRO_VERSION);
    return NULL;
}

#endif
