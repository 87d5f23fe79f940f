/*
 * callback: erlang.call, erlang.send, erlang.self, erlang.whereis (see
 * callback.h).
 *
 * DESIGN: an event is built like a reply (envelope.h) whose header is a
 * term made here. Arguments are converted with references off: a Python
 * object with no Erlang mapping cannot leave as an argument (nobody would
 * own it), and raises TypeError. The GIL is released while the event is
 * written and the answer awaited. Both take the bytes of their event from
 * the window of flow.h first (waiting there, GIL released, while Erlang
 * has not taken enough of what was sent before); a call gives them back
 * when its wait ends, a send when Erlang credits them.
 */
#include "callback.h"

#include "convert.h"
#include "envelope.h"
#include "erlmod.h"
#include "eventloop.h"
#include "frame.h"
#include "interp_state.h"
#include "objref.h"
#include "pyerror.h"
#include "pycompat.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static struct waiters *waiters;
static struct writer *writer;
static struct flow *flow; /* NULL: nothing counted (--repl, --replay) */
static long flow_timeout_ms;
static _Thread_local struct callback_scope *scope;

void callback_use(struct waiters *ws, struct writer *w)
{
    waiters = ws;
    writer = w;
}

void callback_use_flow(struct flow *f, long timeout_ms)
{
    flow = f;
    flow_timeout_ms = timeout_ms;
}

void callback_enter(struct callback_scope *s, const struct job *job, struct cancel_target *t)
{
    s->job = job;
    s->target = t;
    s->task = 0;
    s->outer = scope;
    scope = s;
}

void callback_leave(struct callback_scope *s)
{
    scope = s->outer;
}

/* The span of the caller's pid: a stream's consumer, or the pid in the
 * current request's ReplyTo ({Alias, Pid}); 0 if there is none (a cast,
 * or not in a request). */
static int caller_pid(const char **pid, int *len)
{
    if (!scope || scope->task)
        return 0;
    const struct job *job = scope->job;
    const char *f = job->frame;
    if (job->env.caller_len > 0) {
        *pid = f + job->env.caller_off;
        *len = job->env.caller_len;
        return 1;
    }
    int i = job->env.reply_off, end = job->env.reply_off + job->env.reply_len, arity, type, size;
    if (ei_decode_tuple_header(f, &i, &arity) != 0 || arity != 2 ||
        envelope_skip_term(f, (size_t)end, &i) != 0 || ei_get_type(f, &i, &type, &size) != 0 ||
        (type != ERL_PID_EXT && type != ERL_NEW_PID_EXT))
        return 0;
    *pid = f + i;
    *len = end - i;
    return 1;
}

/* Encodes obj with references off; 0, or -1 with an exception set. */
static int encode_value(PyObject *obj, ei_x_buff *x)
{
    int was = objref_enable(0);
    int rc = convert_py_to_term(obj, x);
    objref_enable(was);
    return rc;
}

/* Starts in x an event whose routing header is the atom `tag`, or
 * {tag, id} when id >= 0. 0, or -1 with MemoryError set. */
static int begin_event(ei_x_buff *x, const char *tag, long id)
{
    ei_x_buff hdr;
    if (ei_x_new(&hdr) != 0)
        return PyErr_NoMemory(), -1;
    int rc = (id >= 0 && ei_x_encode_tuple_header(&hdr, 2) != 0) ||
             ei_x_encode_atom(&hdr, tag) != 0 || (id >= 0 && ei_x_encode_long(&hdr, id) != 0) ||
             envelope_reply_begin(x, hdr.buff, 0, hdr.index) != 0;
    ei_x_free(&hdr);
    return rc ? (PyErr_NoMemory(), -1) : 0;
}

/* What the event in x costs the window: its payload, version byte
 * included (what the owner sees), and FLOW_MESSAGE_COST. */
static size_t event_cost(const ei_x_buff *x)
{
    return (size_t)(x->index - envelope_payload_start(x) + 1) + FLOW_MESSAGE_COST;
}

/* Writes the event in x (emptied), without the GIL. */
static void send_event(ei_x_buff *x)
{
    char *frame;
    size_t len;
    envelope_reply_finish(x, 0, &frame, &len);
    PyThreadState *ts = PyEval_SaveThread();
    writer_send(writer, frame, len);
    PyEval_RestoreThread(ts);
}

/* Context: {Pool, CtxId} of the context that waits, or undefined for a
 * thread that Python code started. 0, or non-zero when out of memory. */
static int encode_context(ei_x_buff *x)
{
    if (!scope)
        return ei_x_encode_atom(x, "undefined");
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, scope->job->pool) ||
           ei_x_encode_long(x, scope->job->ctx_id);
}

/* {Name, Args, Context}; name is a str, or NULL with the atom `builtin`
 * instead. 0 or -1 with an exception set. */
static int encode_request(ei_x_buff *x, PyObject *name, const char *builtin, PyObject *const *args,
                          Py_ssize_t nargs)
{
    Py_ssize_t name_len = 0;
    const char *utf8 = name ? PyUnicode_AsUTF8AndSize(name, &name_len) : NULL;
    if (name && !utf8)
        return -1;
    if (ei_x_encode_tuple_header(x, 3) != 0 ||
        (utf8 ? ei_x_encode_binary(x, utf8, (long)name_len) : ei_x_encode_atom(x, builtin)) != 0 ||
        (nargs > 0 && ei_x_encode_list_header(x, (long)nargs) != 0))
        goto nomem;
    for (Py_ssize_t k = 0; k < nargs; k++)
        if (encode_value(args[k], x) != 0)
            return -1;
    if (ei_x_encode_empty_list(x) != 0)
        goto nomem;
    if (encode_context(x) != 0)
        goto nomem;
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* Raises erlang.Error("Class: Reason") for {Class, Reason}. */
static PyObject *raise_error(const char *buf, int len, int *i)
{
    PyObject *why = convert_term_to_py(buf, len, i);
    if (why && PyTuple_Check(why) && PyTuple_GET_SIZE(why) == 2)
        PyErr_Format(interp_state()->error, "%S: %S", PyTuple_GET_ITEM(why, 0),
                     PyTuple_GET_ITEM(why, 1));
    else if (why)
        PyErr_Format(interp_state()->error, "%R", why);
    Py_XDECREF(why);
    return NULL;
}

/* Whether Result at buf[i] starts as a 2-tuple whose first element, the
 * tag, lies inside the frame. Only the tag is checked here: the term after
 * it is left to convert, which checks its own bounds and nesting, so a
 * term nested too deep gets convert's TypeError, not "malformed". */
static int tag_fits(const char *buf, size_t len, int i)
{
    const unsigned char *p = (const unsigned char *)buf;
    int tag = i + 2;
    return (size_t)tag <= len && p[i] == ERL_SMALL_TUPLE_EXT && p[i + 1] == 2 &&
           envelope_skip_term(buf, len, &tag) == 0;
}

/* The Python value of Result: {ok, Term} | {error, {Class, Reason}} |
 * {not_found, Name}. */
static PyObject *decode_result(const struct waiter *w, PyObject *name)
{
    const char *buf = w->frame;
    int len = (int)w->len, i = w->body_off, arity;
    char tag[MAXATOMLEN_UTF8];
    if (!tag_fits(buf, w->len, i) || ei_decode_tuple_header(buf, &i, &arity) != 0 || arity != 2 ||
        ei_decode_atom(buf, &i, tag) != 0)
        return PyErr_Format(PyExc_SystemError, "erlang.call: malformed answer from Erlang");
    if (strcmp(tag, "ok") == 0)
        return convert_term_to_py(buf, len, &i);
    if (strcmp(tag, "error") == 0)
        return raise_error(buf, len, &i);
    if (strcmp(tag, "not_found") == 0)
        return PyErr_Format(PyExc_NameError,
                            "no Erlang function is registered as %R "
                            "(py:register_function/2,3)",
                            name ? name : Py_None);
    return PyErr_Format(PyExc_SystemError, "erlang.call: unknown answer %s from Erlang", tag);
}

/* The event frame {py_callback, Id} -> Request into *frame, *len. 0, or
 * -1 with an exception set. */
static int build_call(long id, PyObject *name, const char *builtin, PyObject *const *args,
                      Py_ssize_t nargs, char **frame, size_t *len, size_t *cost)
{
    ei_x_buff x;
    int rc = begin_event(&x, "py_callback", id);
    if (rc == 0 && (rc = encode_request(&x, name, builtin, args, nargs)) != 0)
        ei_x_free(&x);
    if (rc == 0) {
        *cost = event_cost(&x);
        envelope_reply_finish(&x, 0, frame, len);
    }
    return rc;
}

/* The exception for a wait that ended without an answer. */
static PyObject *no_answer(int rc)
{
    if (rc == -ECANCELED) {
        PyErr_SetString(interp_state()->cancelled,
                        "the request was cancelled while it waited for Erlang");
    } else if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_RuntimeError, "the pool stopped while it waited for Erlang");
    }
    return NULL;
}

/* Takes cost bytes from the window; waits for room, GIL released, when
 * there is none. 0, or -1 with TimeoutError (after send_timeout) or
 * erlang.Cancelled (the request was cancelled) set. */
static int take_window(size_t cost, const char *what)
{
    if (!flow || flow_acquire(flow, cost, 0, NULL) == 0)
        return 0;
    const atomic_int *cancelled = scope ? &scope->job->cancelled : NULL;
    long seq = scope ? cancel_wait_begin(scope->target) : 0;
    PyThreadState *ts = PyEval_SaveThread();
    int rc = flow_acquire(flow, cost, flow_timeout_ms, cancelled);
    PyEval_RestoreThread(ts);
    if (scope)
        cancel_wait_end(scope->target, seq, rc == -ECANCELED);
    if (rc == -ECANCELED) {
        no_answer(rc);
    } else if (rc != 0) {
        PyErr_Format(PyExc_TimeoutError,
                     "%s: Erlang has not taken the %zu bytes sent to it before within %ld ms "
                     "(send_window, send_timeout)",
                     what, flow_in_flight(flow), flow_timeout_ms);
    }
    return rc == 0 ? 0 : -1;
}

/* Calls the Erlang function `name` (or the built-in one) with args. */
static PyObject *call_erlang(PyObject *name, const char *builtin, PyObject *const *args,
                             Py_ssize_t nargs)
{
    if (!waiters)
        return PyErr_Format(PyExc_RuntimeError, "Erlang functions cannot be called here");
    struct waiter w;
    char *frame;
    size_t len, cost;
    waiters_add(waiters, &w, scope ? scope->job->ctx_id : -1);
    if (build_call(w.id, name, builtin, args, nargs, &frame, &len, &cost) != 0) {
        waiters_forget(waiters, &w);
        return NULL;
    }
    if (take_window(cost, "erlang.call") != 0) {
        waiters_forget(waiters, &w);
        free(frame);
        return NULL;
    }
    int rc;
    long seq = scope ? cancel_wait_begin(scope->target) : 0;
    PyThreadState *ts = PyEval_SaveThread();
    writer_send(writer, frame, len);
    rc = waiters_wait(waiters, &w);
    PyEval_RestoreThread(ts);
    if (flow) /* answered or given up: the request is no longer in flight */
        flow_release(flow, cost);
    if (scope)
        cancel_wait_end(scope->target, seq, rc == -ECANCELED);
    PyObject *result = rc == 0 ? decode_result(&w, name) : no_answer(rc);
    frame_free(w.frame);
    return result;
}

/* erlang.call(name, *args) */
static PyObject *erl_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || !PyUnicode_Check(args[0]))
        return PyErr_Format(PyExc_TypeError, "erlang.call(name, *args): name must be a str");
    return call_erlang(args[0], NULL, args + 1, nargs - 1);
}

/* ---- erlang.async_call: the answer resolves a future of the loop ---- */

/* One erlang.async_call in flight: expected by its loop until the answer
 * comes (or the loop stops). */
struct async_call {
    struct eventloop_post post; /* first: a post is an async_call */
    struct waiter w;
    struct eventloop *loop;
    size_t cost;      /* what it took from the window */
    PyObject *future; /* with the GIL */
    PyObject *name;
};

static void async_free(struct async_call *ac)
{
    if (flow)
        flow_release(flow, ac->cost);
    frame_free(ac->w.frame);
    Py_XDECREF(ac->future);
    Py_XDECREF(ac->name);
    free(ac);
}

/* Reader thread, the waiters' lock held: the answer is in. */
static void async_notify(struct waiter *w)
{
    struct async_call *ac = (struct async_call *)((char *)w - offsetof(struct async_call, w));
    eventloop_post(ac->loop, &ac->post);
}

/* Sets `what` (result or exception) on the future, unless the awaiting
 * task gave it up (cancelled). GIL held. */
static void settle(PyObject *future, const char *how, PyObject *what)
{
    PyObject *done = PyObject_CallMethod(future, "done", NULL);
    PyObject *r = done == Py_False ? PyObject_CallMethod(future, how, "(O)", what) : NULL;
    if (!done || (done == Py_False && !r))
        PyErr_WriteUnraisable(future);
    Py_XDECREF(done);
    Py_XDECREF(r);
}

/* On the loop's thread: resolves the future with the answer. */
static void async_run(struct eventloop_post *p)
{
    struct async_call *ac = (struct async_call *)p;
    PyObject *result = decode_result(&ac->w, ac->name);
    if (result) {
        settle(ac->future, "set_result", result);
        Py_DECREF(result);
    } else {
        PyObject *exc = pyerror_take();
        settle(ac->future, "set_exception", exc);
        Py_XDECREF(exc);
    }
    async_free(ac);
}

/* At the loop's stop: the answer will never be run. */
static void async_drop(struct eventloop_post *p)
{
    struct async_call *ac = (struct async_call *)p;
    waiters_cancel(waiters, &ac->w); /* no answer is handed over from now on */
    async_free(ac);
}

/* erlang.async_call(name, *args): an awaitable of the result. */
static PyObject *erl_async_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || !PyUnicode_Check(args[0]))
        return PyErr_Format(PyExc_TypeError, "erlang.async_call(name, *args): name must be a str");
    struct eventloop *l = eventloop_current();
    if (!l || !waiters)
        return PyErr_Format(PyExc_RuntimeError,
                            "erlang.async_call: only in a coroutine run by a context's event loop "
                            "(docs/asyncio.md); erlang.call works everywhere");
    struct async_call *ac = calloc(1, sizeof(*ac));
    char *frame = NULL;
    size_t len;
    if (!ac)
        return PyErr_NoMemory();
    ac->loop = l;
    ac->post.run = async_run;
    ac->post.drop = async_drop;
    ac->name = Py_NewRef(args[0]);
    if (!(ac->future = eventloop_new_future(l)))
        goto fail;
    waiters_add_notify(waiters, &ac->w, async_notify);
    if (build_call(ac->w.id, args[0], NULL, args + 1, nargs - 1, &frame, &len, &ac->cost) != 0 ||
        take_window(ac->cost, "erlang.async_call") != 0) { /* blocks the loop while full */
        waiters_cancel(waiters, &ac->w);
        ac->cost = 0;
        goto fail;
    }
    PyObject *future = Py_NewRef(ac->future);
    eventloop_expect(l, &ac->post);
    PyThreadState *ts = PyEval_SaveThread();
    writer_send(writer, frame, len);
    PyEval_RestoreThread(ts);
    return future;
fail:
    free(frame);
    async_free(ac);
    return NULL;
}

/* erlang.whereis(name) */
static PyObject *erl_whereis(PyObject *self, PyObject *name)
{
    (void)self;
    if (!PyUnicode_Check(name))
        return PyErr_Format(PyExc_TypeError, "erlang.whereis(name): name must be a str, not %.100s",
                            Py_TYPE(name)->tp_name);
    PyObject *plain = PyUnicode_FromObject(name); /* an Atom would travel as an atom */
    if (!plain)
        return NULL;
    PyObject *result = call_erlang(NULL, "whereis", &plain, 1);
    Py_DECREF(plain);
    return result;
}

/* erlang.send(pid, term) */
static PyObject *erl_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "erlang.send(pid, term) takes 2 arguments (%zd given)",
                            nargs);
    if (!Py_IS_TYPE(args[0], erlmod_pid_type()))
        return PyErr_Format(PyExc_TypeError,
                            "erlang.send(pid, term): pid must be an erlang.Pid, not %.100s",
                            Py_TYPE(args[0])->tp_name);
    ei_x_buff x;
    if (begin_event(&x, "py_send", -1) != 0)
        return NULL;
    if (ei_x_encode_tuple_header(&x, 2) != 0 || encode_value(args[0], &x) != 0 ||
        encode_value(args[1], &x) != 0) {
        ei_x_free(&x);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    if (take_window(event_cost(&x), "erlang.send") != 0) {
        ei_x_free(&x);
        return NULL;
    }
    send_event(&x); /* given back by {send_credit, _, Bytes} from the owner */
    Py_RETURN_NONE;
}

/* erlang.self() */
static PyObject *erl_self(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    const char *pid;
    int len;
    if (!caller_pid(&pid, &len))
        Py_RETURN_NONE;
    return erlmod_pid_new(pid, len);
}

static PyMethodDef functions[] = {
    {"call", (PyCFunction)(void (*)(void))erl_call, METH_FASTCALL,
     PyDoc_STR("call(name, *args): calls the Erlang function registered as name "
               "(py:register_function/2,3) and returns its result.")},
    {"async_call", (PyCFunction)(void (*)(void))erl_async_call, METH_FASTCALL,
     PyDoc_STR("async_call(name, *args): awaitable; calls the Erlang function registered as "
               "name, suspending only the awaiting task. Only in a coroutine that a context's "
               "event loop runs (docs/asyncio.md).")},
    {"send", (PyCFunction)(void (*)(void))erl_send, METH_FASTCALL,
     PyDoc_STR("send(pid, term): sends term to the Erlang process pid. Waits while Erlang has "
               "not taken send_window bytes sent before; TimeoutError after send_timeout.")},
    {"self", erl_self, METH_NOARGS,
     PyDoc_STR("self() -> erlang.Pid of the process that made the current request, or None "
               "(a cast, or a thread that runs no request).")},
    {"whereis", erl_whereis, METH_O,
     PyDoc_STR("whereis(name) -> erlang.Pid of the process registered as name, or None.")},
    {NULL, NULL, 0, NULL},
};

/* erlang.name(*args) is erlang.call('name', *args): module __getattr__
 * (PEP 562), also behind `from erlang import name`. */
static const char GETATTR_SOURCE[] =
    "def __getattr__(name):\n"
    "    if name.startswith('__') and name.endswith('__'):\n"
    "        raise AttributeError(f\"module 'erlang' has no attribute {name!r}\")\n"
    "    def function(*args):\n"
    "        return call(name, *args)\n"
    "    function.__name__ = function.__qualname__ = name\n"
    "    function.__doc__ = f'Calls the Erlang function registered as {name!r}.'\n"
    "    return function\n";

int callback_setup(void)
{
    struct interp_state *st = interp_state();
    PyObject *module = st->module;
    if (PyModule_AddFunctions(module, functions) != 0)
        return -1;
    st->error = PyErr_NewExceptionWithDoc(
        "erlang.Error", "An Erlang function called from Python raised: 'Class: Reason'.",
        PyExc_Exception, NULL);
    if (!st->error || PyModule_AddObjectRef(module, "Error", st->error) != 0)
        return -1;
    PyObject *r = PyRun_String(GETATTR_SOURCE, Py_file_input, PyModule_GetDict(module),
                               PyModule_GetDict(module));
    Py_XDECREF(r);
    return r ? 0 : -1;
}
