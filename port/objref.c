/*
 * objref: the table of Python objects held from Erlang.
 *
 * DESIGN: `table` maps an int id to the object; ids count up from 1 and
 * are never reused within an interpreter. `nonce` (48 random bits, so that
 * the term stays a small integer in Erlang) tells this interpreter's
 * references from those of another: each interpreter (the main one, and
 * one per owngil context) has its own table and nonce, in its state
 * (interp_state.h), guarded by its GIL. The reader routes a request that
 * carries a reference of an owngil context to that context (refscan.h);
 * one that still arrives elsewhere fails with an error naming the owner.
 * The ids stored
 * during a job are kept in a per-thread array until the reply is built;
 * the per-thread state needs no lock.
 */
#include "objref.h"

#include "convert.h"
#include "interp_state.h"
#include "sentrefs.h"
#include "pycompat.h"

#include <stdlib.h>
#include <sys/random.h>

static _Thread_local long long *job_ids;
static _Thread_local int job_n, job_cap;
static _Thread_local int disabled;

/* erlang._check(obj): obj if it converts to an Erlang term without any
 * reference, else TypeError. */
static PyObject *term_only(PyObject *self, PyObject *obj)
{
    (void)self;
    ei_x_buff x;
    if (ei_x_new(&x) != 0)
        return PyErr_NoMemory();
    int was = objref_enable(0);
    int rc = convert_py_to_term(obj, &x);
    objref_enable(was);
    ei_x_free(&x);
    if (rc < 0)
        return NULL;
    Py_INCREF(obj);
    return obj;
}

/* erlang._held(): how many objects Erlang holds references to. */
static PyObject *held(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromSsize_t(objref_count());
}

static PyMethodDef functions[] = {
    {"_check", term_only, METH_O, PyDoc_STR("obj, if it converts to an Erlang term as a value.")},
    {"_held", held, METH_NOARGS, PyDoc_STR("How many objects Erlang holds references to.")},
};

/* erlang._term(obj), for py:to_term/1: obj as a term, through the usual
 * conversions of objects that have no mapping of their own. */
static const char TERM_SOURCE[] =
    "def _term(o):\n"
    "    try:\n"
    "        return _check(o)\n"
    "    except TypeError:\n"
    "        pass\n"
    "    import collections.abc as abc\n"
    "    if hasattr(o, 'tolist'):\n"
    "        return _check(o.tolist())\n"
    "    if isinstance(o, abc.Mapping):\n"
    "        return _check(dict(o))\n"
    "    if isinstance(o, (abc.Sequence, abc.Set)):\n"
    "        return _check(list(o))\n"
    "    raise TypeError('no Erlang term for Python object of type %r' % type(o).__name__)\n";

/* Gives st a nonce no other interpreter of this port has drawn. */
static int draw_nonce(struct interp_state *st)
{
    unsigned long long n;
    do {
        if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n))
            return -1;
        n &= (1ULL << 48) - 1;
    } while (n == 0 || interp_state_owner_of(n) != -2);
    interp_state_set_nonce(st, n);
    return 0;
}

int objref_setup(void)
{
    struct interp_state *st = interp_state();
    if (draw_nonce(st) != 0) {
        PyErr_SetString(PyExc_OSError, "getrandom failed");
        return -1;
    }
    st->table = PyDict_New();
    st->stale_error = PyErr_NewExceptionWithDoc(
        "erlang.StaleReference",
        "A reference to a Python object that was released, that belongs to "
        "another py_port process, or to another owngil context.",
        PyExc_Exception, NULL);
    PyObject *m = st->table && st->stale_error ? Py_NewRef(st->module) : NULL;
    int rc = m ? PyObject_SetAttrString(m, "StaleReference", st->stale_error) : -1;
    for (size_t k = 0; rc == 0 && k < sizeof(functions) / sizeof(functions[0]); k++) {
        PyObject *fn = PyCFunction_New(&functions[k], NULL);
        rc = fn ? PyObject_SetAttrString(m, functions[k].ml_name, fn) : -1;
        Py_XDECREF(fn);
    }
    PyObject *done =
        rc == 0 ? PyRun_String(TERM_SOURCE, Py_file_input, PyModule_GetDict(m), PyModule_GetDict(m))
                : NULL;
    if (!done)
        rc = -1;
    Py_XDECREF(done);
    Py_XDECREF(m);
    return rc;
}

void objref_job_begin(void)
{
    job_n = 0;
}

void objref_job_suspend(struct objref_job *saved)
{
    *saved = (struct objref_job){job_ids, job_n, job_cap};
    job_ids = NULL;
    job_n = job_cap = 0;
}

void objref_job_resume(const struct objref_job *saved)
{
    free(job_ids);
    job_ids = saved->ids;
    job_n = saved->n;
    job_cap = saved->cap;
}

int objref_job_count(void)
{
    return job_n;
}

int objref_job_encode_ids(ei_x_buff *x)
{
    unsigned long long nonce = interp_state()->nonce;
    int rc = ei_x_encode_tuple_header(x, 2) || ei_x_encode_ulonglong(x, nonce) ||
             ei_x_encode_list_header(x, job_n);
    for (int k = 0; k < job_n && rc == 0; k++)
        rc = ei_x_encode_longlong(x, job_ids[k]);
    if (rc == 0)
        rc = ei_x_encode_empty_list(x);
    return rc == 0 ? 0 : (PyErr_NoMemory(), -1);
}

void objref_job_abort(void)
{
    unsigned long long nonce = interp_state()->nonce;
    for (int k = 0; k < job_n; k++)
        objref_release(nonce, job_ids[k]);
    job_n = 0;
}

/* Whether the current interpreter is the main one, whose references the
 * notes of sentrefs are about. */
static int in_main_interpreter(void)
{
    const struct interp_state *st = interp_state();
    return st && st->owner_ctx < 0;
}

int objref_job_ids(const long long **ids)
{
    *ids = job_ids;
    return in_main_interpreter() ? job_n : 0;
}

void objref_release_late(void)
{
    if (!in_main_interpreter())
        return;
    unsigned long long nonce = interp_state()->nonce;
    struct sentrefs_run *runs;
    int n = sentrefs_take(&runs);
    for (int k = 0; k < n; k++)
        for (long long id = runs[k].first; id < runs[k].first + runs[k].n; id++)
            objref_release(nonce, id);
    free(runs);
}

int objref_enable(int on)
{
    int was = !disabled;
    disabled = !on;
    return was;
}

/* Lists id as stored by the calling thread's job. */
static int note(long long id)
{
    if (job_n == job_cap) {
        int cap = job_cap ? 2 * job_cap : 16;
        long long *ids = realloc(job_ids, (size_t)cap * sizeof(*ids));
        if (!ids) {
            PyErr_NoMemory();
            return -1;
        }
        job_ids = ids;
        job_cap = cap;
    }
    job_ids[job_n++] = id;
    return 0;
}

int objref_encode(PyObject *obj, ei_x_buff *x)
{
    struct interp_state *st = interp_state();
    if (disabled || !st || !st->table) {
        PyErr_Format(PyExc_TypeError,
                     "cannot convert Python object of type '%.200s' to an "
                     "Erlang term",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    long long id = st->next_id;
    PyObject *key = PyLong_FromLongLong(id);
    if (!key || PyDict_SetItem(st->table, key, obj) < 0) {
        Py_XDECREF(key);
        return -1;
    }
    Py_DECREF(key);
    st->next_id++;
    if (note(id) < 0) {
        objref_release(st->nonce, id);
        return -1;
    }
    if (ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, OBJREF_TAG) ||
        ei_x_encode_ulonglong(x, st->nonce) || ei_x_encode_longlong(x, id)) {
        PyErr_NoMemory();
        return -1; /* the job's abort drops the object */
    }
    return 0;
}

/* Raises StaleReference for a reference (from, id) not held here. */
static void stale(const struct interp_state *st, unsigned long long from, long long id)
{
    long owner = from == st->nonce ? -2 : interp_state_owner_of(from);
    if (owner >= 0) {
        PyErr_Format(st->stale_error,
                     "reference %lld belongs to owngil context %ld: an owngil context's "
                     "objects live in its own interpreter",
                     id, owner);
    } else if (owner == -1) {
        PyErr_Format(st->stale_error,
                     "reference %lld belongs to the worker contexts' interpreter, not to "
                     "this owngil context's",
                     id);
    } else {
        PyErr_Format(st->stale_error, "stale reference %lld: released, or from another py_port",
                     id);
    }
}

PyObject *objref_lookup(unsigned long long from, long long id)
{
    struct interp_state *st = interp_state();
    PyObject *obj = NULL;
    if (from == st->nonce && st->table) {
        PyObject *key = PyLong_FromLongLong(id);
        if (!key)
            return NULL;
        obj = PyDict_GetItemWithError(st->table, key);
        Py_DECREF(key);
        if (!obj && PyErr_Occurred())
            return NULL;
    }
    if (!obj) {
        stale(st, from, id);
        return NULL;
    }
    Py_INCREF(obj);
    return obj;
}

void objref_release(unsigned long long from, long long id)
{
    struct interp_state *st = interp_state();
    if (from != st->nonce || !st->table)
        return;
    PyObject *key = PyLong_FromLongLong(id);
    if (key && PyDict_DelItem(st->table, key) < 0)
        PyErr_Clear(); /* not held: released already */
    Py_XDECREF(key);
    PyObject *fresh;
    if (PyDict_GET_SIZE(st->table) == 0 && (fresh = PyDict_New()) != NULL)
        Py_SETREF(st->table, fresh); /* a dict never shrinks: start small again */
}

Py_ssize_t objref_count(void)
{
    PyObject *table = interp_state()->table;
    return table ? PyDict_GET_SIZE(table) : 0;
}

void objref_drop_all(void)
{
    Py_CLEAR(interp_state()->table);
}
