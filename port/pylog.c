/*
 * pylog: erlang._log() and the root logger's handler (pylog.h).
 *
 * DESIGN: the handler is a few lines of Python (pylog_handler.py), run
 * once at start-up; everything that reaches the wire is encoded here. The
 * writer pointer is atomic: context threads set it, and any Python thread
 * that logs reads it. _log() holds the GIL while it reads its arguments
 * and encodes, and releases it around writer_send(), which may block on a
 * full pipe.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pylog.h"

#include "envelope.h"
#include "pylog_handler.h" /* HANDLER: port/pylog_handler.py, generated */

#include <stdatomic.h>
#include <stdlib.h>

static _Atomic(struct writer *) writer;

static const char ROUTE[] = "py_output";

/* UTF-8 bytes of a str (lone surrogates as \\udcxx); a new reference. */
static PyObject *utf8_of(PyObject *s)
{
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "erlang._log() takes str for name, module and message");
        return NULL;
    }
    return PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
}

/* Length of the first at most max bytes of UTF-8 data, not splitting a
 * character. */
static Py_ssize_t cut(const char *data, Py_ssize_t len, Py_ssize_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)data[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* {log, Levelno, Name, Module, Line, Message} in one frame; 0 or -1. */
static int encode(long level, PyObject *name, PyObject *module, long line, PyObject *msg,
                  char **buf, size_t *len)
{
    ei_x_buff route, x;
    if (ei_x_new(&route) || ei_x_encode_atom(&route, ROUTE)) {
        ei_x_free(&route);
        return -1;
    }
    int rc = envelope_reply_begin(&x, route.buff, 0, route.index);
    ei_x_free(&route);
    if (rc != 0)
        return -1;
    Py_ssize_t msg_len = cut(PyBytes_AS_STRING(msg), PyBytes_GET_SIZE(msg), PYLOG_MAX_MESSAGE);
    if (ei_x_encode_tuple_header(&x, 6) || ei_x_encode_atom(&x, "log") ||
        ei_x_encode_long(&x, level) ||
        ei_x_encode_binary(&x, PyBytes_AS_STRING(name), (long)PyBytes_GET_SIZE(name)) ||
        ei_x_encode_binary(&x, PyBytes_AS_STRING(module), (long)PyBytes_GET_SIZE(module)) ||
        ei_x_encode_long(&x, line) ||
        ei_x_encode_binary(&x, PyBytes_AS_STRING(msg), (long)msg_len)) {
        ei_x_free(&x);
        return -1;
    }
    return envelope_reply_finish(&x, 0, buf, len);
}

/* erlang._log(levelno, name, module, lineno, message) */
static PyObject *log_record(PyObject *self, PyObject *args)
{
    (void)self;
    long level, line;
    PyObject *name, *module, *msg;
    if (!PyArg_ParseTuple(args, "lOOlO:_log", &level, &name, &module, &line, &msg))
        return NULL;
    struct writer *w = atomic_load(&writer);
    if (!w)
        Py_RETURN_NONE;
    PyObject *n = utf8_of(name), *m = n ? utf8_of(module) : NULL, *t = m ? utf8_of(msg) : NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = t ? encode(level, n, m, line, t, &buf, &len) : -1;
    Py_XDECREF(n);
    Py_XDECREF(m);
    Py_XDECREF(t);
    if (rc != 0)
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    PyThreadState *ts = PyEval_SaveThread();
    writer_send(w, buf, len);
    PyEval_RestoreThread(ts);
    Py_RETURN_NONE;
}

static PyMethodDef log_def = {
    "_log", log_record, METH_VARARGS,
    "_log(levelno, name, module, lineno, message): sends a logging record to Erlang's logger."};

int pylog_setup(void)
{
    PyObject *m = PyImport_ImportModule("erlang");
    PyObject *name = PyUnicode_FromString("erlang");
    PyObject *f = m && name ? PyCFunction_NewEx(&log_def, NULL, name) : NULL;
    int rc = f ? PyObject_SetAttrString(m, "_log", f) : -1;
    PyObject *globals = rc == 0 ? PyDict_New() : NULL;
    if (globals && (PyDict_SetItemString(globals, "__name__", name) != 0 ||
                    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) != 0))
        Py_CLEAR(globals);
    PyObject *r = globals ? PyRun_String(HANDLER, Py_file_input, globals, globals) : NULL;
    rc = r ? 0 : -1;
    Py_XDECREF(r);
    Py_XDECREF(globals);
    Py_XDECREF(f);
    Py_XDECREF(name);
    Py_XDECREF(m);
    return rc;
}

void pylog_use_writer(struct writer *w)
{
    atomic_store(&writer, w);
}
