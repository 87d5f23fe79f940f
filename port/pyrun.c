/*
 * pyrun: CPython start-up and the execution of call, eval and exec jobs.
 *
 * DESIGN: the main thread starts CPython and releases the GIL; every
 * context thread owns a PyThreadState and holds its interpreter's GIL only
 * inside pyrun_run(). Worker contexts share the main interpreter; an
 * owngil context runs the same code in its own (subinterp.c), set up by
 * pyrun_interp_setup(). Module objects are cached per interpreter in a
 * dict (interp_state.h) keyed by module name. A job's reply is built in one
 * buffer: routing header, then {ok, V} / ok / {error, {Name, Msg}, Tb}.
 * A cast's result (ReplyTo `cast`) is dropped unconverted; only an error
 * is sent. An awaitable result (an async iterable for the stream requests)
 * goes to the context's event loop (eventloop.h): one that ends in its
 * first step is answered here, as any result; else the loop answers the
 * job, pyrun_run() returns POOL_RUN_DETACHED and the job is a task.
 * Replies are built and claimed by reply.c; a large result is freed once
 * its reply is written.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyrun.h"

#include "arena.h"
#include "callback.h"
#include "cancel.h"
#include "convert.h"
#include "envelope.h"
#include "erlmod.h"
#include "eventloop.h"
#include "forkguard.h"
#include "interp_state.h"
#include "objref.h"
#include "protocol.h"
#include "pyerror.h"
#include "pyinfo.h"
#include "pylog.h"
#include "reply.h"
#include "venv.h"
#include "writer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 1024

/* A context's state, owned by its thread. */
struct context {
    struct cancel_target target; /* its thread state, and what it runs */
    PyObject *globals;           /* its own namespace, made on first use */
    struct eventloop *loop;      /* where its coroutine calls run (eventloop.h) */
};

static PyThreadState *main_ts;
static struct pools *pools; /* where a stream waits for credit */
static int stderr_to = -1;  /* where each interpreter's sys.stderr writes */
static char python_version[32];

/* ---- start and stop ---- */

/* "a:b" of our paths and the inherited PYTHONPATH; NULL if none. */
static char *join_paths(char *const *paths, int n)
{
    const char *env = getenv("PYTHONPATH");
    size_t len = env ? strlen(env) + 1 : 1;
    for (int k = 0; k < n; k++)
        len += strlen(paths[k]) + 1;
    if (n == 0 && !env)
        return NULL;
    char *out = calloc(1, len);
    if (!out)
        return NULL;
    for (int k = 0; k < n; k++) {
        strcat(out, paths[k]);
        if (k + 1 < n || env)
            strcat(out, ":");
    }
    if (env)
        strcat(out, env);
    return out;
}

static int status_error(PyStatus st, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s%s%s", st.func ? st.func : "", st.func ? ": " : "",
             st.err_msg ? st.err_msg : "Python could not start");
    return -1;
}

/* str(exception) of the pending exception, prefixed by its type name. */
static void describe_exception(const char *what, char *err, size_t errlen)
{
    PyObject *exc = pyerror_take();
    PyObject *s = exc ? PyObject_Str(exc) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(err, errlen, "%s: %s: %s", what, exc ? Py_TYPE(exc)->tp_name : "?", msg ? msg : "?");
    PyErr_Clear();
    Py_XDECREF(s);
    Py_XDECREF(exc);
}

/* Imports site ourselves (site_import is off) so that its failure can be
 * reported with its reason. */
static int import_site(char *err, size_t errlen)
{
    PyObject *site = PyImport_ImportModule("site");
    PyObject *r = site ? PyObject_CallMethod(site, "main", NULL) : NULL;
    Py_XDECREF(site);
    if (!r) {
        describe_exception("cannot import the site module", err, errlen);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int configure(PyConfig *config, char *const *paths, int n_paths)
{
    PyConfig_InitPythonConfig(config);
    config->buffered_stdio = 0;
    config->install_signal_handlers = 0;
    config->parse_argv = 0;
    config->site_import = 0;
    config->faulthandler = 1; /* a crash prints Python's traceback on stderr */
    const char *program = venv_program() ? venv_program() : PY_PORT_PYTHON_EXECUTABLE;
    PyStatus st = PyConfig_SetBytesString(config, &config->program_name, program);
    if (PyStatus_Exception(st))
        return -1;
    char *joined = join_paths(paths, n_paths);
    if (joined) {
        st = PyConfig_SetBytesString(config, &config->pythonpath_env, joined);
        free(joined);
        if (PyStatus_Exception(st))
            return -1;
    }
    return 0;
}

/* sys.stderr writing, line by line, to fd (output.h forwards it). The
 * file does not own fd: every interpreter writes to it, and an owngil
 * context's interpreter ends before the port does. */
static int rebind_stderr(int fd, PyObject *main_globals, char *err, size_t errlen)
{
    char code[256];
    snprintf(
        code, sizeof(code),
        "import sys as _sys\n"
        "_sys.stderr = open(%d, 'w', buffering=1, encoding='utf-8', errors='backslashreplace',\n"
        "                   closefd=False)\n"
        "del _sys\n",
        fd);
    PyObject *r = PyRun_String(code, Py_file_input, main_globals, main_globals);
    if (!r) {
        describe_exception("cannot set sys.stderr", err, errlen);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int pyrun_start(char *const *paths, int n_paths, int stderr_fd, char *err, size_t errlen)
{
    PyConfig config;
    if (erlmod_register() != 0) {
        snprintf(err, errlen, "cannot register the erlang module");
        return -1;
    }
    if (configure(&config, paths, n_paths) != 0) {
        PyConfig_Clear(&config);
        snprintf(err, errlen, "cannot configure Python");
        return -1;
    }
    arena_install();
    PyStatus st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        return status_error(st, err, errlen);
    arena_wrap_raw();
    stderr_to = stderr_fd;
    if (pyrun_interp_setup(err, errlen) != 0 || pyinfo_collect(err, errlen) != 0)
        return -1;
    snprintf(python_version, sizeof(python_version), "%s", Py_GetVersion());
    python_version[strcspn(python_version, " ")] = '\0';
    main_ts = PyEval_SaveThread();
    return 0;
}

int pyrun_interp_setup(char *err, size_t errlen)
{
    if (import_site(err, errlen) != 0)
        return -1;
    if (erlmod_setup() != 0) { /* its exec sets up the interpreter's state */
        describe_exception("cannot set up the erlang module", err, errlen);
        return -1;
    }
    struct interp_state *st = interp_state();
    st->main_globals = PyModule_GetDict(PyImport_AddModule("__main__"));
    st->module_cache = PyDict_New();
    if (!st->main_globals || !st->module_cache) {
        describe_exception("cannot set up __main__", err, errlen);
        return -1;
    }
    if (stderr_to >= 0 && rebind_stderr(stderr_to, st->main_globals, err, errlen) != 0)
        return -1;
    if (stderr_to >= 0 && pylog_setup() != 0) { /* logging goes where output goes */
        describe_exception("cannot forward Python's logging", err, errlen);
        return -1;
    }
    return 0;
}

void pyrun_use_pools(struct pools *p)
{
    pools = p;
}

const char *pyrun_python_version(void)
{
    return python_version;
}

int pyrun_free_threaded(void)
{
#ifdef Py_GIL_DISABLED
    return 1;
#else
    return 0;
#endif
}

int pyrun_finish(void)
{
    PyEval_RestoreThread(main_ts);
    return Py_FinalizeEx() == 0 ? 0 : -1;
}

void *pyrun_ctx_start(void *arg, long ctx_id)
{
    (void)ctx_id;
    pylog_use_writer(arg); /* the hooks' arg is the writer */
    PyThreadState *ts = PyThreadState_New(main_ts->interp);
    if (!ts) {
        fprintf(stderr, "py_port: cannot create a Python thread state\n");
        exit(PY_PORT_EXIT_PYTHON);
    }
    return pyrun_context_new(ts, NULL);
}

void *pyrun_context_new(PyThreadState *ts, PyInterpreterState *interp)
{
    struct context *c = calloc(1, sizeof(*c));
    if (!c) {
        fprintf(stderr, "py_port: out of memory for a context\n");
        exit(PY_PORT_EXIT_PYTHON);
    }
    c->target.ts = ts;
    c->target.interp = interp;
    c->loop = eventloop_new(&c->target);
    return c;
}

void pyrun_context_forget(void *ctx_state)
{
    struct context *c = ctx_state;
    cancel_forget(&c->target);
}

void pyrun_context_free(void *ctx_state)
{
    struct context *c = ctx_state;
    eventloop_stop(c->loop); /* its tasks are answered, its thread joined */
    eventloop_free(c->loop);
    cancel_drop_via(&c->target);
    Py_CLEAR(c->globals);
    free(c);
}

void pyrun_interrupt(void *arg, void *ctx_state, long seq)
{
    (void)arg;
    struct context *c = ctx_state;
    cancel_request(&c->target, seq);
    eventloop_cancel(c->loop, seq); /* if it is a task (a coroutine call) */
}

void pyrun_task_poked(void *arg, void *ctx_state, long seq)
{
    (void)arg;
    struct context *c = ctx_state;
    eventloop_poke(c->loop, seq); /* a stream task: credit came */
}

void pyrun_ctx_stop(void *arg, void *ctx_state)
{
    (void)arg;
    struct context *c = ctx_state;
    pyrun_context_forget(c);
    PyEval_RestoreThread(c->target.ts);
    PyThreadState *ts = c->target.ts;
    pyrun_context_free(c);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
}

/* The globals a job runs in: __main__'s for a pool (also when it was sent
 * to this context as a nested request), the context's own namespace for a
 * request addressed to one context. Borrowed. */
static PyObject *namespace_for(struct context *c, const struct job *job)
{
    if (job->env.ctx_id < 0 || job->env.nested)
        return interp_state()->main_globals;
    if (!c->globals) {
        PyObject *name = PyUnicode_FromString("__main__");
        c->globals = PyDict_New();
        if (!name || !c->globals || PyDict_SetItemString(c->globals, "__name__", name) != 0 ||
            PyDict_SetItemString(c->globals, "__builtins__", PyEval_GetBuiltins()) != 0)
            Py_CLEAR(c->globals);
        Py_XDECREF(name);
    }
    return c->globals;
}

/* ---- decoding the body ---- */

/* A module or function name: atom or binary, UTF-8, no NUL. */
/* Whether the term at buf[i] ends within len (read within len only;
 * ei_skip_term() would trust the term's lengths and counts). */
static int term_fits(const char *buf, int len, int i)
{
    return len >= 0 && envelope_skip_term(buf, (size_t)len, &i) == 0;
}

static int decode_name(const char *buf, int len, int *i, char *out, const char *what)
{
    int type, size;
    if (!term_fits(buf, len, *i) || ei_get_type(buf, i, &type, &size) != 0)
        goto bad;
    if (type == ERL_BINARY_EXT) {
        long got;
        if (size >= NAME_MAX_BYTES || ei_decode_binary(buf, i, out, &got) != 0)
            goto bad;
        out[got] = '\0';
        if ((long)strlen(out) != got)
            goto bad;
        return 0;
    }
    if (ei_decode_atom_as(buf, i, out, NAME_MAX_BYTES, ERLANG_UTF8, NULL, NULL) == 0)
        return 0;
bad:
    PyErr_Format(PyExc_TypeError,
                 "%s name must be an atom or a binary without NUL bytes "
                 "(at most %d bytes)",
                 what, NAME_MAX_BYTES - 1);
    return -1;
}

/* A new reference to the module, imported once per port. */
static PyObject *cached_module(const char *name)
{
    PyObject *key = PyUnicode_FromString(name);
    if (!key)
        return NULL;
    PyObject *cache = interp_state()->module_cache;
    PyObject *mod = PyDict_GetItemWithError(cache, key);
    if (mod) {
        Py_INCREF(mod);
    } else if (!PyErr_Occurred()) {
        mod = PyImport_Import(key);
        if (mod && PyDict_SetItem(cache, key, mod) != 0)
            Py_CLEAR(mod);
    }
    Py_DECREF(key);
    return mod;
}

/* Follows an attribute path "a.b.c" from obj (stolen). */
static PyObject *getattr_path(PyObject *obj, char *path)
{
    char *save = NULL;
    for (char *part = strtok_r(path, ".", &save); part && obj; part = strtok_r(NULL, ".", &save)) {
        PyObject *next = PyObject_GetAttrString(obj, part);
        Py_DECREF(obj);
        obj = next;
    }
    return obj;
}

/* The first name of an attribute path, looked up in a context's own
 * namespace; a new reference, or NULL (no exception) when absent. */
static PyObject *from_namespace(PyObject *ns, char *path)
{
    char first[NAME_MAX_BYTES];
    size_t n = strcspn(path, ".");
    memcpy(first, path, n);
    first[n] = '\0';
    PyObject *obj = PyDict_GetItemString(ns, first);
    if (!obj)
        return NULL;
    Py_INCREF(obj);
    memmove(path, path + n + (path[n] == '.'), strlen(path + n + (path[n] == '.')) + 1);
    return obj;
}

/* Module and Function of a call body: the callable. For '__main__' on a
 * context with its own namespace, that namespace is searched first. */
static PyObject *resolve(const char *buf, int len, int *i, PyObject *ns)
{
    char module[NAME_MAX_BYTES], function[NAME_MAX_BYTES];
    int type, size;
    if (ei_get_type(buf, i, &type, &size) == 0 &&
        (type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT)) {
        /* A reference to an object: call one of its methods. */
        PyObject *target = convert_term_to_py(buf, len, i);
        if (!target || decode_name(buf, len, i, function, "method") != 0) {
            Py_XDECREF(target);
            return NULL;
        }
        return getattr_path(target, function);
    }
    if (decode_name(buf, len, i, module, "module") != 0 ||
        decode_name(buf, len, i, function, "function") != 0)
        return NULL;
    PyObject *obj = NULL;
    if (ns != interp_state()->main_globals && strcmp(module, "__main__") == 0)
        obj = from_namespace(ns, function);
    if (!obj)
        obj = cached_module(module);
    return obj ? getattr_path(obj, function) : NULL;
}

/* Code: a UTF-8 binary, copied with a terminating NUL. */
static char *decode_code(const char *buf, int len, int *i)
{
    int type, size;
    long got;
    if (!term_fits(buf, len, *i) || ei_get_type(buf, i, &type, &size) != 0 ||
        type != ERL_BINARY_EXT) {
        PyErr_SetString(PyExc_TypeError, "code must be a binary");
        return NULL;
    }
    char *src = PyMem_Malloc((size_t)size + 1);
    if (!src) {
        PyErr_NoMemory();
        return NULL;
    }
    if (ei_decode_binary(buf, i, src, &got) != 0 || memchr(src, '\0', (size_t)got)) {
        PyMem_Free(src);
        PyErr_SetString(PyExc_ValueError, "source code must not contain NUL bytes");
        return NULL;
    }
    src[got] = '\0';
    return src;
}

/* ---- running jobs ---- */

/* Module, Function, Args, Kwargs of a call: the callable's result, or
 * NULL with an exception set. */
static PyObject *call_body(const char *buf, int len, int *i, PyObject *ns)
{
    PyObject *func = NULL, *list = NULL, *args = NULL, *kwargs = NULL, *result = NULL;
    if (!(func = resolve(buf, len, i, ns)) || !(list = convert_term_to_py(buf, len, i)))
        goto done;
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "Args must be a list");
        goto done;
    }
    if (!(args = PyList_AsTuple(list)) || !(kwargs = convert_term_to_kwargs(buf, len, i)))
        goto done;
    result = PyObject_Call(func, args, PyDict_GET_SIZE(kwargs) ? kwargs : NULL);
done:
    Py_XDECREF(func);
    Py_XDECREF(list);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    return result;
}

/* list(result) for the requests that collect an iterable (stream,
 * stream_eval); result is stolen. An async iterable is left in *aw, for
 * the context's event loop to collect. */
static PyObject *collect(PyObject *result, PyObject **aw)
{
    if (result && eventloop_is_async_iterable(result)) {
        *aw = result;
        return NULL;
    }
    PyObject *list = result ? PySequence_List(result) : NULL;
    Py_XDECREF(result);
    return list;
}

/* Encodes result (stolen; NULL: an exception is set) as {ok, V}, unless
 * aw is given and result is awaitable: it is then left in *aw, for the
 * context's event loop to await (eventloop.h). 0, or -1. */
static int answer_or_await(PyObject *result, struct reply *r, PyObject **aw)
{
    if (!result)
        return -1;
    if (aw && eventloop_is_awaitable(result)) {
        *aw = result;
        return 0;
    }
    int rc = reply_encode_tagged(r, "ok", result);
    reply_drop_after(r, result);
    return rc;
}

/* {call | stream, _, _, Module, Function, Args, Kwargs}: an awaitable
 * result of a call is left in *aw. */
static int run_call(const char *buf, int len, int i, PyObject *ns, struct reply *r, int collecting,
                    PyObject **aw)
{
    PyObject *result = call_body(buf, len, &i, ns);
    if (collecting && !(result = collect(result, aw)) && *aw)
        return 0;
    return answer_or_await(result, r, collecting ? NULL : aw);
}

/* Compiles and runs src; a new reference or NULL. */
static PyObject *run_source(const char *src, int start, PyObject *globals, PyObject *locals)
{
    const char *filename = start == Py_eval_input ? "<eval>" : "<exec>";
    PyObject *code = Py_CompileString(src, filename, start);
    if (!code)
        return NULL;
    PyObject *result = PyEval_EvalCode(code, globals, locals);
    Py_DECREF(code);
    return result;
}

/* Locals: a map with atom or binary keys, as a dict with str keys. The
 * error for any other term, or key, names Locals, not keyword arguments. */
static PyObject *decode_locals(const char *buf, int len, int *i)
{
    PyObject *locals = convert_term_to_kwargs(buf, len, i);
    if (locals || !PyErr_ExceptionMatches(PyExc_TypeError))
        return locals;
    PyObject *exc = pyerror_take();
    PyObject *msg = PyObject_Str(exc);
    int shape = msg && PyUnicode_CompareWithASCIIString(msg, CONVERT_KWARGS_ERROR) == 0;
    Py_XDECREF(msg);
    PyErr_Clear();
    if (!shape) {
        pyerror_restore(exc);
        return NULL;
    }
    Py_DECREF(exc);
    PyErr_SetString(PyExc_TypeError, "Locals must be a map with atom or binary keys");
    return NULL;
}

/* {eval | stream_eval, _, _, Code, Locals} */
static int run_eval(const char *buf, int len, int i, PyObject *ns, struct reply *r, int collecting,
                    PyObject **aw)
{
    PyObject *locals = NULL, *result = NULL;
    int rc = -1;
    char *src = decode_code(buf, len, &i);
    if (!src || !(locals = decode_locals(buf, len, &i)))
        goto done;
    result = run_source(src, Py_eval_input, ns, locals);
    if (collecting && !(result = collect(result, aw)) && *aw)
        rc = 0;
    else
        rc = answer_or_await(result, r, collecting ? NULL : aw);
done:
    PyMem_Free(src);
    Py_XDECREF(locals);
    return rc;
}

/* {exec, _, _, Code} */
static int run_exec(const char *buf, int len, int i, PyObject *ns, struct reply *r)
{
    char *src = decode_code(buf, len, &i);
    PyObject *result = src ? run_source(src, Py_file_input, ns, ns) : NULL;
    PyMem_Free(src);
    if (!result)
        return -1;
    Py_DECREF(result);
    return ei_x_encode_atom(&r->x, "ok") == 0 ? 0 : (PyErr_NoMemory(), -1);
}

/* {release, _, _, Nonce, Ids}: drops the objects; always ok. Ids is
 * decoded as a term: Erlang sends a list of small ids as a string. */
static int run_release(const char *buf, int len, int i, struct reply *r)
{
    unsigned long long nonce;
    PyObject *ids = NULL;
    if (!term_fits(buf, len, i) || ei_decode_ulonglong(buf, &i, &nonce) != 0 ||
        !(ids = convert_term_to_py(buf, len, &i)) || !PyList_Check(ids)) {
        Py_XDECREF(ids);
        PyErr_SetString(PyExc_TypeError, "release takes a nonce and a list of ids");
        return -1;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(ids); k++) {
        long long id = PyLong_AsLongLong(PyList_GET_ITEM(ids, k));
        if (id == -1 && PyErr_Occurred()) {
            Py_DECREF(ids);
            return -1;
        }
        objref_release(nonce, id);
    }
    Py_DECREF(ids);
    return ei_x_encode_atom(&r->x, "ok") == 0 ? 0 : (PyErr_NoMemory(), -1);
}

/* pools_wait()'s ready() for a stream: it may send an item. */
static int has_credit(void *arg)
{
    const struct job *job = arg;
    return atomic_load(&job->credit) > 0;
}

/* Sends {data, Item} (or {data, Item, Ids}) to the stream's caller, once
 * it has credit: 0, or -1 with an exception set (the stream ends). */
static int send_item(struct writer *w, struct job *job, struct cancel_target *t, PyObject *item)
{
    int rc = 0;
    if (!has_credit(job)) {
        long seq = cancel_wait_begin(t);
        PyThreadState *ts = PyEval_SaveThread();
        rc = pools_wait(pools, job->ctx_id, has_credit, job);
        PyEval_RestoreThread(ts);
        cancel_wait_end(t, seq, rc == -ECANCELED);
    }
    if (rc != 0 || atomic_load(&job->answered)) { /* cancelled, or the pool stops */
        PyErr_SetString(PyExc_RuntimeError, "stream cancelled");
        return -1;
    }
    atomic_fetch_sub(&job->credit, 1);
    struct reply r = {.parts = {0}};
    if (envelope_reply_begin(&r.x, job->frame, job->env.reply_off, job->env.reply_len) != 0)
        return PyErr_NoMemory(), -1;
    objref_job_begin();
    if (reply_encode_tagged(&r, "data", item) != 0) {
        objref_job_abort();
        convert_parts_release(&r.parts);
        ei_x_free(&r.x);
        return -1;
    }
    objref_job_begin(); /* the consumer owns them now */
    PyThreadState *ts = PyEval_SaveThread();
    reply_write(w, &r);
    PyEval_RestoreThread(ts);
    convert_parts_release(&r.parts); /* the objects whose data was written */
    return 0;
}

/* {stream_start, _, _, Module, Function, Args, Kwargs, Window}: sends
 * each item of the result as it comes, at most Window ahead of the
 * credit the caller gives back (stream_credit); the reply is then `done`.
 * A generator left unfinished (cancelled, an item that does not convert)
 * is closed, so its finally blocks run. */
static int run_stream(struct writer *w, struct job *job, struct cancel_target *t, int len,
                      PyObject *ns, struct reply *r, PyObject **aw)
{
    int i = job->env.body_off;
    atomic_store(&job->credit, job->env.count);
    PyObject *result = call_body(job->frame, len, &i, ns);
    if (result && eventloop_is_async_iterable(result)) {
        *aw = result; /* streamed by a task of the context's event loop */
        return 0;
    }
    PyObject *it = result ? PyObject_GetIter(result) : NULL;
    Py_XDECREF(result);
    if (!it)
        return -1;
    PyObject *item;
    int rc = 0;
    while (rc == 0 && (item = PyIter_Next(it)) != NULL) {
        rc = send_item(w, job, t, item);
        Py_DECREF(item);
    }
    if (rc == 0 && PyErr_Occurred())
        rc = -1; /* the iterator raised */
    if (rc != 0 && PyGen_Check(it)) {
        PyObject *exc = pyerror_take();
        PyObject *closed = PyObject_CallMethod(it, "close", NULL);
        Py_XDECREF(closed);
        if (closed)
            pyerror_restore(exc);
        else
            Py_XDECREF(exc);
    }
    Py_DECREF(it);
    if (rc == 0 && ei_x_encode_atom(&r->x, "done") != 0)
        rc = (PyErr_NoMemory(), -1);
    return rc;
}

/* Runs the request of job in ns: 0 (r holds the reply, or *aw an
 * awaitable result to await), or -1 with an exception set. */
static int run_op(struct writer *w, struct context *c, struct job *job, PyObject *ns,
                  struct reply *r, PyObject **aw)
{
    _Static_assert(PY_PORT_MAX_FRAME <= INT_MAX, "a frame length fits an int");
    int len = (int)job->len, at = job->env.body_off;
    switch (job->env.op) {
    case ENVELOPE_CALL:
    case ENVELOPE_STREAM:
        return run_call(job->frame, len, at, ns, r, job->env.op == ENVELOPE_STREAM, aw);
    case ENVELOPE_EVAL:
    case ENVELOPE_STREAM_EVAL:
        return run_eval(job->frame, len, at, ns, r, job->env.op == ENVELOPE_STREAM_EVAL, aw);
    case ENVELOPE_STREAM_START:
        return run_stream(w, job, &c->target, len, ns, r, aw);
    case ENVELOPE_EXEC:
        return run_exec(job->frame, len, at, ns, r);
    case ENVELOPE_RELEASE:
        return run_release(job->frame, len, at, r);
    default:
        PyErr_SetString(PyExc_SystemError, "request is not for a context");
        return -1;
    }
}

/* An awaitable result goes to the context's event loop: 1 when job is a
 * task now, which the loop answers (not to be touched again); 0 when the
 * task ended in its first step, r then holding its reply, or *rc set to
 * -1 with an exception set (eventloop_submit()). The first step may run
 * here, in the request's scope (an erlang.call there waits as the
 * request's would), with no caller, as in the rest of the task. */
static int hand_to_loop(struct context *c, struct job *job, PyObject *aw,
                        struct callback_scope *scope, struct reply *r, int *rc)
{
    scope->task = 1;
    int submitted = eventloop_submit(c->loop, aw, job, r);
    Py_DECREF(aw);
    if (submitted < 0)
        *rc = -1;
    return submitted == 1;
}

int pyrun_run(void *arg, void *ctx_state, struct job *job)
{
    struct writer *w = arg;
    struct reply r;
    reply_begin(&r, job);
    struct context *c = ctx_state;
    PyEval_RestoreThread(c->target.ts);
    objref_release_late();
    PyObject *ns = namespace_for(c, job), *aw = NULL;
    struct callback_scope scope;
    struct objref_job outer_refs;
    int nested = job->outer != NULL; /* it runs while job->outer waits for Erlang */
    if (nested)
        objref_job_suspend(&outer_refs);
    else
        objref_job_begin();
    long outer_seq = cancel_job_begin(&c->target, job->seq);
    callback_enter(&scope, job, &c->target);
    int rc = ns ? run_op(w, c, job, ns, &r, &aw) : -1;
    cancel_job_end(&c->target, outer_seq); /* a task's first step arms it again (run_kept_step) */
    int detached = rc == 0 && aw && hand_to_loop(c, job, aw, &scope, &r, &rc);
    if (rc != 0)
        reply_encode_error(&r);
    int send =
        !detached && reply_claim(job) && !(rc == 0 && r.discard); /* a cast's error is sent */
    callback_leave(&scope);
    if (nested)
        objref_job_resume(&outer_refs);
    PyEval_SaveThread();
    if (send)
        reply_write(w, &r);
    else
        ei_x_free(&r.x);
    if (reply_holds_objects(&r)) { /* the objects whose data was written, a large result */
        PyEval_RestoreThread(c->target.ts);
        reply_release_parts(&r);
        PyEval_SaveThread();
    }
    return detached ? POOL_RUN_DETACHED : rc != 0;
}
