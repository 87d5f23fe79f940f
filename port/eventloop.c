/*
 * eventloop: a context's asyncio loop on its own thread (see eventloop.h).
 *
 * DESIGN: the loop itself is plain asyncio, driven by the small Python
 * class Loop of eventloop_glue.py (GLUE), one instance per context,
 * started by the context's first coroutine call. C keeps what Python may
 * not do: the reply of a task (reply.h, the same code as a synchronous
 * call), the pool's book of tasks (pools_detach(), pools_task_done()), and
 * a cancel inbox that the reader thread fills without the GIL: a list of
 * seqs under `mu`, and a byte written to the loop's wake-up pipe, which
 * the loop watches with add_reader() and answers by cancelling those
 * tasks. A job travels into Python as a capsule; it is finished (answered
 * and freed) exactly once, by finish(): at submit when its task ended in
 * its first step, from the task's done callback (`_answer`, `_done`), or,
 * for a task left behind at stop, from eventloop_stop().
 *
 * The first step, submit() here in C (a trivial coroutine call then costs
 * no Python of the glue's): the loop's thread holds the glue's `lock`
 * except while it waits for events (_Selector). A submit that gets the
 * lock at once makes the task there, keeps the task's first step from the
 * loop (_EventLoop.call_soon, `taking`) and runs it on the context's
 * thread, with the loop set as the thread's running loop, interruptible
 * by the job's cancel as the request's own code is; what the step
 * scheduled (`touched`: a callback made ready, or a timer sooner than the
 * end of the loop's wait, `_Selector.until`) wakes the loop; a later timer
 * waits for the loop's next turn. A task the step did not end is
 * tracked (`_keep`) before the lock is let go: from then on the loop may
 * end it and free its job. A new loop's first submit waits until the
 * loop's thread first waits, so that it finds the lock free. A submit
 * that finds the loop busy hands the whole task to it
 * (`_submit_to_loop`, call_soon_threadsafe), as does one already
 * cancelled.
 */
#include "eventloop.h"

#include "eventloop_glue.h" /* GLUE: port/eventloop_glue.py, generated */
#include "objref.h"
#include "pycompat.h"
#include "pyerror.h"
#include "reply.h"
#include "trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define JOB_CAPSULE "erlang_python.job"

/* What submit() uses of the glue and of asyncio, looked up when the loop
 * starts (in the context's interpreter). */
struct glue_parts {
    PyObject *loop;              /* the Loop's _EventLoop */
    PyObject *acquire, *release; /* the Loop's lock's methods */
    PyObject *task;              /* asyncio.Task */
    PyObject *set_running;       /* asyncio.events._set_running_loop */
    PyObject *loop_kw;           /* ("loop",), for Task(aw, loop=...) */
    PyObject *taking, *taken, *touched, *task_factory, *done, *result; /* names */
};

/* A growing array of request seqs. */
struct seqs {
    long *at;
    size_t n, cap;
};

struct eventloop {
    pthread_mutex_t mu;             /* guards wfd and the cancel inbox */
    int wfd;                        /* the loop's wake-up pipe; -1 when not running */
    struct seqs cancels;            /* seqs whose task to cancel */
    struct seqs pokes;              /* seqs whose task was given stream credit */
    struct eventloop_post *posted;  /* posted, not run yet, under mu (latest first) */
    PyObject *glue;                 /* the Loop below, with the GIL; NULL until started */
    struct glue_parts parts;        /* what submit() uses of it, with the GIL */
    struct eventloop_post expected; /* the head of the expected ones, with the GIL */
    struct cancel_target *target;   /* the context's: a first step is interrupted */
};

static _Thread_local struct eventloop *current; /* on a loop's thread */

static struct pools *pools;
static struct writer *writer;
static int tracing;

void eventloop_use(struct pools *p, struct writer *w, int trace)
{
    pools = p;
    writer = w;
    tracing = trace;
}

struct eventloop *eventloop_new(struct cancel_target *target)
{
    struct eventloop *l = calloc(1, sizeof(*l));
    if (!l) {
        fprintf(stderr, "py_port: out of memory for an event loop\n");
        exit(1);
    }
    l->target = target;
    pthread_mutex_init(&l->mu, NULL);
    l->wfd = -1;
    l->expected.prev = l->expected.next = &l->expected;
    return l;
}

int eventloop_is_async_iterable(PyObject *obj)
{
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    return am && am->am_aiter;
}

int eventloop_is_awaitable(PyObject *obj)
{
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    return am && am->am_await;
}

/* Encodes into r the reply of job, whose task returned result: {ok,
 * Result}, or `done` for a stream_start. 0, or -1 with an exception set. */
static int encode_result(struct reply *r, const struct job *job, PyObject *result)
{
    if (job->env.op == ENVELOPE_STREAM_START)
        return ei_x_encode_atom(&r->x, "done") == 0 ? 0 : (PyErr_NoMemory(), -1);
    return reply_encode_tagged(r, "ok", result);
}

/* Answers the task job with result, or with the exception exc when it is
 * not None, and frees it. GIL held. */
static void finish(struct job *job, PyObject *result, PyObject *exc)
{
    struct reply r;
    reply_begin(&r, job);
    objref_job_begin();
    int rc;
    if (exc == Py_None) {
        rc = encode_result(&r, job, result);
    } else {
        pyerror_restore(Py_NewRef(exc));
        rc = -1;
    }
    if (rc != 0)
        reply_encode_error(&r);
    int send = reply_claim(job) && !(rc == 0 && r.discard); /* a cast's error is sent */
    Py_BEGIN_ALLOW_THREADS if (send) reply_write(writer, &r);
    else ei_x_free(&r.x);
    Py_END_ALLOW_THREADS reply_release_parts(&r);
    if (tracing)
        trace_job(job, "task");
    pools_task_done(pools, job, rc != 0);
}

/* finish() with the exception being raised. */
static void finish_raised(struct job *job)
{
    PyObject *exc = pyerror_take();
    finish(job, Py_None, exc);
    Py_DECREF(exc);
}

static struct job *job_of(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, JOB_CAPSULE);
}

/* Answers job by its ended task as awaiting it would: with its result,
 * or with what task.result() raises, its exception or CancelledError.
 * GIL held. */
static void answer(struct eventloop *l, struct job *job, PyObject *task)
{
    PyObject *result = PyObject_CallMethodNoArgs(task, l->parts.result);
    PyObject *exc = result ? NULL : pyerror_take();
    finish(job, result ? result : Py_None, exc ? exc : Py_None);
    Py_XDECREF(result);
    Py_XDECREF(exc);
}

/* _answer(job, task) */
static PyObject *glue_answer(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct eventloop *l = PyCapsule_GetPointer(self, NULL);
    struct job *job = l && nargs == 2 ? job_of(args[0]) : NULL;
    if (!job)
        return NULL;
    answer(l, job, args[1]);
    Py_RETURN_NONE;
}

/* _done(job, result, exc) */
static PyObject *glue_done(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    struct job *job = nargs == 3 ? job_of(args[0]) : NULL;
    if (!job)
        return NULL;
    finish(job, args[1], args[2]);
    Py_RETURN_NONE;
}

/* _answered(job) */
static PyObject *glue_answered(PyObject *self, PyObject *capsule)
{
    (void)self;
    struct job *job = job_of(capsule);
    if (!job)
        return NULL;
    return PyBool_FromLong(atomic_load(&job->answered));
}

/* A new list of the seqs in s, which it frees. */
static PyObject *seqs_to_list(struct seqs *s)
{
    PyObject *list = PyList_New((Py_ssize_t)s->n);
    for (size_t k = 0; list && k < s->n; k++) {
        PyObject *seq = PyLong_FromLong(s->at[k]);
        if (!seq)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)k, seq);
    }
    free(s->at);
    return list;
}

/* Adds seq to s, if memory allows: a lost command leaves a task to its
 * timeout. */
static void seqs_add(struct seqs *s, long seq)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        long *grown = realloc(s->at, cap * sizeof(*grown));
        if (!grown)
            return;
        s->at = grown;
        s->cap = cap;
    }
    s->at[s->n++] = seq;
}

/* Runs what was posted to l, in the order it was posted. GIL held. */
static void run_posted(struct eventloop *l)
{
    pthread_mutex_lock(&l->mu);
    struct eventloop_post *p = l->posted, *in_order = NULL;
    l->posted = NULL;
    pthread_mutex_unlock(&l->mu);
    while (p) { /* reverse: the first posted first */
        struct eventloop_post *next = p->posted;
        p->posted = in_order;
        in_order = p;
        p = next;
    }
    while (in_order) {
        p = in_order;
        in_order = p->posted;
        p->prev->next = p->next;
        p->next->prev = p->prev;
        p->run(p);
    }
}

/* _inbox(): runs what was posted, and returns the seqs queued by
 * eventloop_cancel() since the last call. */
static PyObject *glue_inbox(PyObject *self, PyObject *unused)
{
    (void)unused;
    struct eventloop *l = PyCapsule_GetPointer(self, NULL);
    if (!l)
        return NULL;
    run_posted(l);
    pthread_mutex_lock(&l->mu);
    struct seqs cancels = l->cancels, pokes = l->pokes;
    l->cancels = l->pokes = (struct seqs){NULL, 0, 0};
    pthread_mutex_unlock(&l->mu);
    PyObject *c = seqs_to_list(&cancels), *p = seqs_to_list(&pokes);
    PyObject *both = c && p ? PyTuple_Pack(2, c, p) : NULL;
    Py_XDECREF(c);
    Py_XDECREF(p);
    return both;
}

/* _take_credit(job): whether the stream job had credit for one more item
 * (then taken). */
static PyObject *glue_take_credit(PyObject *self, PyObject *capsule)
{
    (void)self;
    struct job *job = job_of(capsule);
    if (!job)
        return NULL;
    long have = atomic_load(&job->credit);
    while (have > 0 && !atomic_compare_exchange_weak(&job->credit, &have, have - 1))
        ;
    return PyBool_FromLong(have > 0);
}

/* _send(job, item): sends {data, Item} to the stream's caller. */
static PyObject *glue_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    struct job *job = nargs == 2 ? job_of(args[0]) : NULL;
    if (!job)
        return NULL;
    if (atomic_load(&job->answered)) /* cancelled, or its pool stops */
        return PyErr_Format(PyExc_RuntimeError, "stream cancelled");
    struct reply r;
    reply_begin(&r, job);
    objref_job_begin();
    if (reply_encode_tagged(&r, "data", args[1]) != 0) {
        objref_job_abort();
        reply_release_parts(&r);
        ei_x_free(&r.x);
        return NULL;
    }
    objref_job_begin(); /* the consumer owns them now */
    Py_BEGIN_ALLOW_THREADS reply_write(writer, &r);
    Py_END_ALLOW_THREADS reply_release_parts(&r);
    Py_RETURN_NONE;
}

/* _bind(): the calling thread is l's loop thread. */
static PyObject *glue_bind(PyObject *self, PyObject *unused)
{
    (void)unused;
    current = PyCapsule_GetPointer(self, NULL);
    if (!current)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef done_def = {"_done", (PyCFunction)(void (*)(void))glue_done, METH_FASTCALL,
                               NULL};
static PyMethodDef answered_def = {"_answered", glue_answered, METH_O, NULL};
static PyMethodDef answer_def = {"_answer", (PyCFunction)(void (*)(void))glue_answer, METH_FASTCALL,
                                 NULL};
static PyMethodDef inbox_def = {"_inbox", glue_inbox, METH_NOARGS, NULL};
static PyMethodDef bind_def = {"_bind", glue_bind, METH_NOARGS, NULL};
static PyMethodDef take_credit_def = {"_take_credit", glue_take_credit, METH_O, NULL};
static PyMethodDef send_def = {"_send", (PyCFunction)(void (*)(void))glue_send, METH_FASTCALL,
                               NULL};

/* The glue's C functions, by name; those that need l get it as self. */
static PyObject *c_functions(struct eventloop *l)
{
    static PyMethodDef *plain[] = {&done_def, &answered_def, &take_credit_def, &send_def};
    static PyMethodDef *bound[] = {&inbox_def, &bind_def, &answer_def};
    PyObject *self = PyCapsule_New(l, NULL, NULL), *c = PyDict_New();
    int rc = self && c ? 0 : -1;
    size_t n_plain = sizeof(plain) / sizeof(plain[0]), n_bound = sizeof(bound) / sizeof(bound[0]);
    for (size_t k = 0; rc == 0 && k < n_plain + n_bound; k++) {
        int is_plain = k < n_plain;
        PyMethodDef *def = is_plain ? plain[k] : bound[k - n_plain];
        PyObject *fn = PyCFunction_New(def, is_plain ? NULL : self);
        rc = fn ? PyDict_SetItemString(c, def->ml_name + 1, fn) : -1; /* no leading _ */
        Py_XDECREF(fn);
    }
    Py_XDECREF(self);
    if (rc != 0)
        Py_CLEAR(c);
    return c;
}

/* A new Loop of the glue, its C functions bound to l. NULL with an
 * exception set. */
static PyObject *new_glue(struct eventloop *l)
{
    PyObject *ns = PyDict_New(), *c = NULL, *glue = NULL;
    if (!ns || PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) != 0)
        goto done;
    PyObject *r = PyRun_String(GLUE, Py_file_input, ns, ns);
    Py_XDECREF(r);
    PyObject *cls = r ? PyDict_GetItemString(ns, "Loop") : NULL;
    if (cls && (c = c_functions(l)))
        glue = PyObject_CallOneArg(cls, c);
done:
    Py_XDECREF(ns);
    Py_XDECREF(c);
    return glue;
}

/* Looks up the parts of glue that submit() uses. 0, or -1 with an
 * exception set (parts_clear() drops those found). */
static int parts_find(struct glue_parts *g, PyObject *glue)
{
    PyObject *lock = NULL, *asyncio = NULL, *events = NULL;
    int found = (g->loop = PyObject_GetAttrString(glue, "loop")) &&
                (lock = PyObject_GetAttrString(glue, "lock")) &&
                (g->acquire = PyObject_GetAttrString(lock, "acquire")) &&
                (g->release = PyObject_GetAttrString(lock, "release")) &&
                (asyncio = PyImport_ImportModule("asyncio")) &&
                (g->task = PyObject_GetAttrString(asyncio, "Task")) &&
                (events = PyImport_ImportModule("asyncio.events")) &&
                (g->set_running = PyObject_GetAttrString(events, "_set_running_loop")) &&
                (g->loop_kw = Py_BuildValue("(s)", "loop")) &&
                (g->taking = PyUnicode_InternFromString("taking")) &&
                (g->taken = PyUnicode_InternFromString("taken")) &&
                (g->touched = PyUnicode_InternFromString("touched")) &&
                (g->task_factory = PyUnicode_InternFromString("_task_factory")) &&
                (g->done = PyUnicode_InternFromString("done")) &&
                (g->result = PyUnicode_InternFromString("result"));
    Py_XDECREF(lock);
    Py_XDECREF(asyncio);
    Py_XDECREF(events);
    return found ? 0 : -1;
}

static void parts_clear(struct glue_parts *g)
{
    PyObject **all[] = {&g->loop,        &g->acquire,      &g->release, &g->task,
                        &g->set_running, &g->loop_kw,      &g->taking,  &g->taken,
                        &g->touched,     &g->task_factory, &g->done,    &g->result};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        Py_CLEAR(*all[k]);
}

/* Starts the loop and its thread. 0, or -1 with an exception set. */
static int start(struct eventloop *l)
{
    PyObject *glue = new_glue(l);
    PyObject *fd = glue ? PyObject_GetAttrString(glue, "wfd") : NULL;
    long wfd = fd ? PyLong_AsLong(fd) : -1;
    Py_XDECREF(fd);
    if (wfd < 0 || parts_find(&l->parts, glue) != 0) {
        parts_clear(&l->parts);
        if (glue) { /* its thread runs: end it */
            PyObject *exc = pyerror_take();
            PyObject *left = PyObject_CallMethod(glue, "stop", NULL);
            Py_XDECREF(left);
            PyErr_Clear();
            if (exc)
                pyerror_restore(exc);
        }
        Py_XDECREF(glue);
        return -1;
    }
    l->glue = glue;
    pthread_mutex_lock(&l->mu);
    l->wfd = (int)wfd;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

/* What the task of job runs: aw itself for a call or an eval, the glue's
 * coroutine that collects or streams it for a stream request. */
static PyObject *wrap(struct eventloop *l, PyObject *aw, struct job *job, PyObject *capsule)
{
    switch (job->env.op) {
    case ENVELOPE_STREAM:
    case ENVELOPE_STREAM_EVAL:
        return PyObject_CallMethod(l->glue, "collect", "(O)", aw);
    case ENVELOPE_STREAM_START:
        return PyObject_CallMethod(l->glue, "stream", "OlO", aw, job->seq, capsule);
    default:
        return Py_NewRef(aw);
    }
}

/* Writes a byte to l's wake-up pipe, if it is open; l->mu held.
 * Non-blocking: a full pipe has a wake-up pending already. */
static void wake(struct eventloop *l)
{
    static const char byte = 1;
    while (l->wfd >= 0 && write(l->wfd, &byte, 1) < 0 && errno == EINTR)
        ;
}

/* The task of aw as create_task() makes it, its first step kept from the
 * loop (_EventLoop.call_soon, `taking`): a new reference, or NULL with an
 * exception set. */
static PyObject *new_task(struct eventloop *l, PyObject *aw)
{
    struct glue_parts *g = &l->parts;
    if (PyObject_SetAttr(g->loop, g->taking, Py_True) != 0)
        return NULL;
    PyObject *factory = PyObject_GetAttr(g->loop, g->task_factory), *task = NULL;
    if (factory == Py_None && PyCoro_CheckExact(aw)) {
        PyObject *args[] = {aw, g->loop};
        task = PyObject_Vectorcall(g->task, args, 1, g->loop_kw);
    } else if (factory) {
        task = PyObject_CallMethod(l->glue, "_ensure", "O", aw);
    }
    Py_XDECREF(factory);
    PyObject *exc = task ? NULL : pyerror_take();
    if (PyObject_SetAttr(g->loop, g->taking, Py_False) != 0) { /* no step taken: no task */
        Py_CLEAR(task);
        if (exc)
            PyErr_Clear();
    }
    if (exc)
        pyerror_restore(exc);
    return task;
}

/* Calls asyncio's _set_running_loop(loop), a raised exception kept. 0, or
 * -1 with an exception set. */
static int set_running(struct glue_parts *g, PyObject *loop)
{
    PyObject *exc = pyerror_take();
    PyObject *r = PyObject_CallOneArg(g->set_running, loop);
    Py_XDECREF(r);
    if (exc) {
        PyErr_Clear();
        pyerror_restore(exc);
    }
    return r && !exc ? 0 : -1;
}

/* Runs the step that new_task() kept, if any, here as the loop would run
 * it, with the loop as this thread's running loop, interrupted by job's
 * cancel as the request's own code is (job is the context's running job
 * still). 0, or -1 with an exception set. */
static int run_kept_step(struct eventloop *l, struct job *job)
{
    struct glue_parts *g = &l->parts;
    PyObject *taken = PyObject_GetAttr(g->loop, g->taken); /* (fn, args) */
    if (!taken || PyObject_SetAttr(g->loop, g->taken, Py_None) != 0) {
        Py_XDECREF(taken);
        return -1;
    }
    int rc = 0;
    if (taken != Py_None && (rc = set_running(g, g->loop)) == 0) {
        long outer = cancel_job_begin(l->target, job->seq);
        PyObject *r = PyObject_Call(PyTuple_GET_ITEM(taken, 0), PyTuple_GET_ITEM(taken, 1), NULL);
        cancel_job_end(l->target, outer);
        Py_XDECREF(r);
        rc = set_running(g, Py_None) == 0 && r ? 0 : -1;
    }
    Py_DECREF(taken);
    return rc;
}

/* Whether task is done: 1 or 0, or -1 with an exception set. */
static int is_done(struct glue_parts *g, PyObject *task)
{
    PyObject *done = PyObject_CallMethodNoArgs(task, g->done);
    int rc = done ? PyObject_IsTrue(done) : -1;
    Py_XDECREF(done);
    return rc;
}

/* The loop's lock, taken when its thread waits for events: 1, 0 (the
 * loop is busy), or -1 with an exception set. */
static int try_lock(struct glue_parts *g)
{
    PyObject *got = PyObject_CallOneArg(g->acquire, Py_False);
    int rc = got ? PyObject_IsTrue(got) : -1;
    Py_XDECREF(got);
    return rc;
}

/* Lets the loop's lock go, and wakes the loop when the step scheduled
 * something it must see (`touched`). A raised exception is kept. */
static void let_go(struct eventloop *l)
{
    struct glue_parts *g = &l->parts;
    PyObject *exc = pyerror_take();
    PyObject *touched = PyObject_GetAttr(g->loop, g->touched);
    int woken = touched != Py_False; /* when in doubt, wake it */
    if (touched && PyObject_SetAttr(g->loop, g->touched, Py_False) != 0)
        PyErr_WriteUnraisable(g->loop);
    PyObject *released = PyObject_CallNoArgs(g->release);
    if (!touched || !released)
        PyErr_WriteUnraisable(g->loop);
    Py_XDECREF(touched);
    Py_XDECREF(released);
    if (woken) {
        pthread_mutex_lock(&l->mu);
        wake(l);
        pthread_mutex_unlock(&l->mu);
    }
    if (exc)
        pyerror_restore(exc);
}

/* Makes job a task of the pool, whose task the loop runs from now on
 * (DESIGN: tracked before the lock is let go); one that could not be
 * tracked is answered with what went wrong. */
static void keep(struct eventloop *l, struct job *job, PyObject *capsule, PyObject *task)
{
    pools_detach(pools, job);
    PyObject *kept = PyObject_CallMethod(l->glue, "_keep", "lOO", job->seq, capsule, task);
    if (!kept)
        finish_raised(job);
    Py_XDECREF(kept);
}

/* Hands coro's whole task to the loop's thread (_submit_to_loop): job is
 * a task of the pool, answered with what went wrong if the loop refused
 * it. */
static void to_loop(struct eventloop *l, PyObject *coro, struct job *job, PyObject *capsule)
{
    pools_detach(pools, job);
    PyObject *r = PyObject_CallMethod(l->glue, "_submit_to_loop", "OlO", coro, job->seq, capsule);
    if (!r)
        finish_raised(job);
    Py_XDECREF(r);
}

/* The reply of job, whose task ended in its first step, into r: 0, or -1
 * with what awaiting the task raises (its exception, CancelledError). A
 * large result is freed after r is written, as a synchronous call's. */
static int answer_here(struct eventloop *l, struct job *job, PyObject *task, struct reply *r)
{
    PyObject *result = PyObject_CallMethodNoArgs(task, l->parts.result);
    if (!result)
        return -1;
    int rc = encode_result(r, job, result);
    reply_drop_after(r, result);
    return rc;
}

/* coro's task, its first step run here when the loop's thread waits for
 * events (DESIGN). A job cancelled already, or a busy loop, hands the
 * whole task to the loop's thread. As eventloop_submit(). */
static int submit(struct eventloop *l, PyObject *coro, struct job *job, PyObject *capsule,
                  struct reply *r)
{
    int locked = atomic_load(&job->answered) ? 0 : try_lock(&l->parts);
    if (locked == 0)
        to_loop(l, coro, job, capsule);
    if (locked <= 0)
        return locked < 0 ? -1 : 1;
    PyObject *task = new_task(l, coro);
    int ended = task && run_kept_step(l, job) == 0 ? is_done(&l->parts, task) : -1;
    if (ended == 0)
        keep(l, job, capsule, task);
    let_go(l);
    int rc = ended == 1 ? answer_here(l, job, task, r) : ended < 0 ? -1 : 1;
    Py_XDECREF(task);
    return rc;
}

int eventloop_submit(struct eventloop *l, PyObject *aw, struct job *job, struct reply *r)
{
    if (!l->glue && start(l) != 0)
        return -1;
    PyObject *capsule = PyCapsule_New(job, JOB_CAPSULE, NULL);
    PyObject *coro = capsule ? wrap(l, aw, job, capsule) : NULL;
    int rc = -1;
    if (coro) {
        struct eventloop *was = current;
        current = l; /* the task's first step may run here: erlang.async_call works */
        rc = submit(l, coro, job, capsule, r);
        current = was;
    }
    Py_XDECREF(coro);
    Py_XDECREF(capsule);
    return rc;
}

/* Queues seq in *s (of l) and wakes the loop, if it runs. */
static void command(struct eventloop *l, struct seqs *s, long seq)
{
    pthread_mutex_lock(&l->mu);
    if (l->wfd >= 0)
        seqs_add(s, seq);
    wake(l);
    pthread_mutex_unlock(&l->mu);
}

void eventloop_cancel(struct eventloop *l, long seq)
{
    command(l, &l->cancels, seq);
}

void eventloop_poke(struct eventloop *l, long seq)
{
    command(l, &l->pokes, seq);
}

/* Drops what was expected and has not run: its thread is joined, so
 * nothing runs any more; a post that comes later only queues. */
static void drop_expected(struct eventloop *l)
{
    pthread_mutex_lock(&l->mu);
    l->posted = NULL;
    pthread_mutex_unlock(&l->mu);
    while (l->expected.next != &l->expected) {
        struct eventloop_post *p = l->expected.next;
        p->prev->next = p->next;
        p->next->prev = p->prev;
        p->drop(p);
    }
}

struct eventloop *eventloop_current(void)
{
    return current;
}

PyObject *eventloop_new_future(struct eventloop *l)
{
    PyObject *loop = PyObject_GetAttrString(l->glue, "loop");
    PyObject *future = loop ? PyObject_CallMethod(loop, "create_future", NULL) : NULL;
    Py_XDECREF(loop);
    return future;
}

void eventloop_expect(struct eventloop *l, struct eventloop_post *p)
{
    p->posted = NULL;
    p->next = l->expected.next;
    p->prev = &l->expected;
    p->next->prev = p;
    l->expected.next = p;
}

void eventloop_post(struct eventloop *l, struct eventloop_post *p)
{
    pthread_mutex_lock(&l->mu);
    p->posted = l->posted;
    l->posted = p;
    wake(l);
    pthread_mutex_unlock(&l->mu);
}

void eventloop_stop(struct eventloop *l)
{
    if (!l || !l->glue)
        return;
    pthread_mutex_lock(&l->mu);
    l->wfd = -1; /* the glue closes it */
    pthread_mutex_unlock(&l->mu);
    PyObject *left = PyObject_CallMethod(l->glue, "stop", NULL);
    if (!left) {
        PyErr_WriteUnraisable(l->glue);
    } else {
        PyObject *exc = PyObject_CallFunction(PyExc_RuntimeError, "s",
                                              "the context stopped before the coroutine ended");
        for (Py_ssize_t k = 0; exc && k < PyList_GET_SIZE(left); k++)
            finish(job_of(PyList_GET_ITEM(left, k)), Py_None, exc);
        Py_XDECREF(exc);
        PyErr_Clear();
    }
    Py_XDECREF(left);
    parts_clear(&l->parts);
    Py_CLEAR(l->glue);
    drop_expected(l);
}

void eventloop_free(struct eventloop *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->cancels.at);
    free(l->pokes.at);
    free(l);
}
