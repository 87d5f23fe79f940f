/*
 * objref: the table of Python objects held from Erlang.
 *
 * DESIGN: `table` maps an int id to the object; ids count up from 1 and
 * are never reused within a process. `nonce` (48 random bits, so that the
 * term stays a small integer in Erlang) tells this process's references
 * from those of another. The ids stored during a job are kept in a
 * per-thread array until the reply is built. The GIL guards `table` and
 * `next_id`; the per-thread state needs no lock.
 */
#include "objref.h"

#include "convert.h"
#include "sentrefs.h"

#include <stdlib.h>
#include <sys/random.h>

static PyObject *table; /* int id -> object */
static long long next_id = 1;
static unsigned long long nonce;
static PyObject *stale_error; /* erlang.StaleReference */

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

int objref_setup(void)
{
    if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
        PyErr_SetString(PyExc_OSError, "getrandom failed");
        return -1;
    }
    nonce &= (1ULL << 48) - 1;
    table = PyDict_New();
    stale_error = PyErr_NewExceptionWithDoc(
        "erlang.StaleReference",
        "A reference to a Python object that was released, or that belongs to "
        "another py_port process.",
        PyExc_Exception, NULL);
    PyObject *m = table && stale_error ? PyImport_ImportModule("erlang") : NULL;
    int rc = m ? PyObject_SetAttrString(m, "StaleReference", stale_error) : -1;
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
    for (int k = 0; k < job_n; k++)
        objref_release(nonce, job_ids[k]);
    job_n = 0;
}

int objref_job_ids(const long long **ids)
{
    *ids = job_ids;
    return job_n;
}

void objref_release_late(void)
{
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
    if (disabled || !table) {
        PyErr_Format(PyExc_TypeError,
                     "cannot convert Python object of type '%.200s' to an "
                     "Erlang term",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    long long id = next_id;
    PyObject *key = PyLong_FromLongLong(id);
    if (!key || PyDict_SetItem(table, key, obj) < 0) {
        Py_XDECREF(key);
        return -1;
    }
    Py_DECREF(key);
    next_id++;
    if (note(id) < 0) {
        objref_release(nonce, id);
        return -1;
    }
    if (ei_x_encode_tuple_header(x, 3) || ei_x_encode_atom(x, OBJREF_TAG) ||
        ei_x_encode_ulonglong(x, nonce) || ei_x_encode_longlong(x, id)) {
        PyErr_NoMemory();
        return -1; /* the job's abort drops the object */
    }
    return 0;
}

PyObject *objref_lookup(unsigned long long from, long long id)
{
    PyObject *obj = NULL;
    if (from == nonce) {
        PyObject *key = PyLong_FromLongLong(id);
        if (!key)
            return NULL;
        obj = PyDict_GetItemWithError(table, key);
        Py_DECREF(key);
        if (!obj && PyErr_Occurred())
            return NULL;
    }
    if (!obj) {
        PyErr_Format(stale_error, "stale reference %lld: released, or from another py_port", id);
        return NULL;
    }
    Py_INCREF(obj);
    return obj;
}

void objref_release(unsigned long long from, long long id)
{
    if (from != nonce)
        return;
    PyObject *key = PyLong_FromLongLong(id);
    if (key && PyDict_DelItem(table, key) < 0)
        PyErr_Clear(); /* not held: released already */
    Py_XDECREF(key);
    PyObject *fresh;
    if (PyDict_GET_SIZE(table) == 0 && (fresh = PyDict_New()) != NULL)
        Py_SETREF(table, fresh); /* a dict never shrinks: start small again */
}

Py_ssize_t objref_count(void)
{
    return PyDict_GET_SIZE(table);
}
