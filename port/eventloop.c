/*
 * eventloop: a context's asyncio loop on its own thread (see eventloop.h).
 *
 * DESIGN: the loop itself is plain asyncio, driven by the small Python
 * class below (GLUE), one instance per context, started by the context's
 * first coroutine call. C keeps what Python may not do: the reply of a
 * task (reply.h, the same code as a synchronous call), the pool's book of
 * tasks (pools_detach(), pools_task_done()), and a cancel inbox that the
 * reader thread fills without the GIL: a list of seqs under `mu`, and a
 * byte written to the loop's wake-up pipe, which the loop watches with
 * add_reader() and answers by cancelling those tasks. A job travels into
 * Python as a capsule; it is finished (answered and freed) exactly once,
 * by `_done`, from the task's done callback or, for a task left behind at
 * stop, from eventloop_stop().
 */
#include "eventloop.h"

#include "objref.h"
#include "pyerror.h"
#include "reply.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define JOB_CAPSULE "erlang_python.job"

struct eventloop {
    pthread_mutex_t mu; /* guards wfd and the cancel inbox */
    int wfd;            /* the loop's wake-up pipe; -1 when not running */
    long *cancels;      /* seqs whose task to cancel */
    size_t n_cancels, cap_cancels;
    struct eventloop_post *posted;  /* posted, not run yet, under mu (latest first) */
    PyObject *glue;                 /* the Loop below, with the GIL; NULL until started */
    struct eventloop_post expected; /* the head of the expected ones, with the GIL */
};

static _Thread_local struct eventloop *current; /* on a loop's thread */

static struct pools *pools;
static struct writer *writer;

static const char GLUE[] =
    "import asyncio, os, threading\n"
    "\n"
    "class Loop:\n"
    "    \"\"\"One context's event loop on its own thread (port/eventloop.c).\"\"\"\n"
    "\n"
    "    def __init__(self, done, inbox, answered, bind):\n"
    "        self._done = done          # answers and frees a job: (job, result, exc)\n"
    "        self._inbox = inbox        # runs what was posted; the seqs to cancel\n"
    "        self._answered = answered  # whether a job was answered (cancelled) already\n"
    "        self._bind = bind          # makes the calling thread the loop's, for C\n"
    "        self.jobs = {}             # seq -> job: submitted, not finished yet\n"
    "        self.tasks = {}            # seq -> its task\n"
    "        self.loop = asyncio.new_event_loop()\n"
    "        self.rfd, self.wfd = os.pipe()\n"
    "        os.set_blocking(self.rfd, False)\n"
    "        os.set_blocking(self.wfd, False)\n"
    "        self.loop.add_reader(self.rfd, self._wake)\n"
    "        self.thread = threading.Thread(target=self._run, name='erlang_python asyncio')\n"
    "        self.thread.start()\n"
    "\n"
    "    def _run(self):\n"
    "        self._bind()\n"
    "        asyncio.set_event_loop(self.loop)\n"
    "        self.loop.run_forever()\n"
    "\n"
    "    # On the context's thread.\n"
    "    def submit(self, aw, seq, job):\n"
    "        self.jobs[seq] = job\n"
    "        try:\n"
    "            self.loop.call_soon_threadsafe(self._start, aw, seq, job)\n"
    "        except BaseException:\n"
    "            del self.jobs[seq]\n"
    "            raise\n"
    "\n"
    "    def stop(self):\n"
    "        \"\"\"Cancels the tasks, ends the loop; returns the jobs left.\"\"\"\n"
    "        self.loop.call_soon_threadsafe(self.loop.create_task, self._drain())\n"
    "        self.thread.join()\n"
    "        self.loop.close()\n"
    "        os.close(self.rfd)\n"
    "        os.close(self.wfd)\n"
    "        left, self.jobs = list(self.jobs.values()), {}\n"
    "        return left\n"
    "\n"
    "    # On the loop's thread.\n"
    "    def _start(self, aw, seq, job):\n"
    "        try:\n"
    "            task = asyncio.ensure_future(aw, loop=self.loop)\n"
    "        except BaseException as exc:\n"
    "            del self.jobs[seq]\n"
    "            self._done(job, None, exc)\n"
    "            return\n"
    "        self.tasks[seq] = task\n"
    "        task.add_done_callback(lambda t: self._finish(seq, job, t))\n"
    "        if self._answered(job):  # cancelled before it started\n"
    "            task.cancel()\n"
    "\n"
    "    def _finish(self, seq, job, task):\n"
    "        self.tasks.pop(seq, None)\n"
    "        if self.jobs.pop(seq, None) is None:\n"
    "            return\n"
    "        if task.cancelled():\n"
    "            self._done(job, None, asyncio.CancelledError())\n"
    "        elif task.exception() is not None:\n"
    "            self._done(job, None, task.exception())\n"
    "        else:\n"
    "            self._done(job, task.result(), None)\n"
    "\n"
    "    def _wake(self):\n"
    "        try:\n"
    "            os.read(self.rfd, 4096)\n"
    "        except BlockingIOError:\n"
    "            pass\n"
    "        for seq in self._inbox():\n"
    "            task = self.tasks.get(seq)\n"
    "            if task is not None:\n"
    "                task.cancel()\n"
    "\n"
    "    async def _drain(self):\n"
    "        tasks = list(self.tasks.values())\n"
    "        for task in tasks:\n"
    "            task.cancel()\n"
    "        if tasks:\n"
    "            await asyncio.wait(tasks, timeout=1.0)\n"
    "        try:\n"
    "            await asyncio.wait_for(self.loop.shutdown_default_executor(), 1.0)\n"
    "        except Exception:\n"
    "            pass\n"
    "        self.loop.stop()\n";

void eventloop_use(struct pools *p, struct writer *w)
{
    pools = p;
    writer = w;
}

struct eventloop *eventloop_new(void)
{
    struct eventloop *l = calloc(1, sizeof(*l));
    if (!l) {
        fprintf(stderr, "py_port: out of memory for an event loop\n");
        exit(1);
    }
    pthread_mutex_init(&l->mu, NULL);
    l->wfd = -1;
    l->expected.prev = l->expected.next = &l->expected;
    return l;
}

int eventloop_is_awaitable(PyObject *obj)
{
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    return am && am->am_await;
}

/* Answers job with result, or with the exception exc when it is not None,
 * and frees it. GIL held. */
static void finish(struct job *job, PyObject *result, PyObject *exc)
{
    struct reply r;
    reply_begin(&r, job);
    objref_job_begin();
    int rc;
    if (exc == Py_None) {
        rc = reply_encode_tagged(&r, "ok", result);
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
    pools_task_done(pools, job, rc != 0);
}

static struct job *job_of(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, JOB_CAPSULE);
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
    long *seqs = l->cancels;
    size_t n = l->n_cancels;
    l->cancels = NULL;
    l->n_cancels = l->cap_cancels = 0;
    pthread_mutex_unlock(&l->mu);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t k = 0; list && k < n; k++) {
        PyObject *seq = PyLong_FromLong(seqs[k]);
        if (!seq)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)k, seq);
    }
    free(seqs);
    return list;
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
static PyMethodDef inbox_def = {"_inbox", glue_inbox, METH_NOARGS, NULL};
static PyMethodDef bind_def = {"_bind", glue_bind, METH_NOARGS, NULL};

/* A new Loop of the glue, its C functions bound to l. NULL with an
 * exception set. */
static PyObject *new_glue(struct eventloop *l)
{
    PyObject *ns = PyDict_New(), *cls = NULL, *self = NULL, *glue = NULL;
    PyObject *done = NULL, *answered = NULL, *inbox = NULL, *bind = NULL;
    if (!ns || PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) != 0)
        goto done;
    PyObject *r = PyRun_String(GLUE, Py_file_input, ns, ns);
    Py_XDECREF(r);
    if (!r || !(cls = PyDict_GetItemString(ns, "Loop")) || !(self = PyCapsule_New(l, NULL, NULL)))
        goto done;
    if ((done = PyCFunction_New(&done_def, NULL)) &&
        (answered = PyCFunction_New(&answered_def, NULL)) &&
        (inbox = PyCFunction_New(&inbox_def, self)) && (bind = PyCFunction_New(&bind_def, self)))
        glue = PyObject_CallFunctionObjArgs(cls, done, inbox, answered, bind, NULL);
done:
    Py_XDECREF(ns);
    Py_XDECREF(self);
    Py_XDECREF(done);
    Py_XDECREF(answered);
    Py_XDECREF(inbox);
    Py_XDECREF(bind);
    return glue;
}

/* Starts the loop and its thread. 0, or -1 with an exception set. */
static int start(struct eventloop *l)
{
    PyObject *glue = new_glue(l);
    PyObject *fd = glue ? PyObject_GetAttrString(glue, "wfd") : NULL;
    long wfd = fd ? PyLong_AsLong(fd) : -1;
    Py_XDECREF(fd);
    if (wfd < 0) {
        Py_XDECREF(glue);
        return -1;
    }
    l->glue = glue;
    pthread_mutex_lock(&l->mu);
    l->wfd = (int)wfd;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int eventloop_submit(struct eventloop *l, PyObject *aw, struct job *job)
{
    if (!l->glue && start(l) != 0)
        return -1;
    PyObject *capsule = PyCapsule_New(job, JOB_CAPSULE, NULL);
    if (!capsule)
        return -1;
    pools_detach(pools, job);
    PyObject *r = PyObject_CallMethod(l->glue, "submit", "OlO", aw, job->seq, capsule);
    Py_DECREF(capsule);
    if (!r) { /* a task now, answered like one */
        PyObject *exc = pyerror_take();
        finish(job, Py_None, exc ? exc : Py_None);
        Py_XDECREF(exc);
    }
    Py_XDECREF(r);
    return 0;
}

void eventloop_cancel(struct eventloop *l, long seq)
{
    static const char byte = 1;
    pthread_mutex_lock(&l->mu);
    if (l->wfd >= 0 && l->n_cancels == l->cap_cancels) {
        size_t cap = l->cap_cancels ? 2 * l->cap_cancels : 16;
        long *grown = realloc(l->cancels, cap * sizeof(*grown));
        if (grown) {
            l->cancels = grown;
            l->cap_cancels = cap;
        }
    }
    if (l->wfd >= 0 && l->n_cancels < l->cap_cancels) {
        l->cancels[l->n_cancels++] = seq;
        /* Non-blocking: a full pipe has a wake-up pending already. */
        while (write(l->wfd, &byte, 1) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&l->mu);
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
    static const char byte = 1;
    pthread_mutex_lock(&l->mu);
    p->posted = l->posted;
    l->posted = p;
    if (l->wfd >= 0)
        while (write(l->wfd, &byte, 1) < 0 && errno == EINTR)
            ;
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
    Py_CLEAR(l->glue);
    drop_expected(l);
}

void eventloop_free(struct eventloop *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->cancels);
    free(l);
}
