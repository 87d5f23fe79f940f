/*
 * pyerror: Python exceptions taken, put back and encoded for a reply (see
 * pyerror.h).
 *
 * DESIGN: the one place that knows how CPython hands an exception over
 * (PyErr_GetRaisedException() from 3.12, PyErr_Fetch() before) and how
 * one becomes {error, {ExcName, Message}, Traceback}. GIL held throughout.
 */
#include "pyerror.h"
#include "pycompat.h"

PyObject *pyerror_take(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value && tb)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

void pyerror_restore(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* A UTF-8 C string of PyObject_Str(obj) or of a fallback; new PyObject. */
static PyObject *text_of(PyObject *obj, const char *fallback)
{
    PyObject *s = obj ? PyObject_Str(obj) : NULL;
    if (!s || !PyUnicode_AsUTF8(s)) {
        PyErr_Clear();
        Py_XDECREF(s);
        s = PyUnicode_FromString(fallback);
    }
    return s;
}

/* "".join(traceback.format_exception(type, exc, tb)), or "" when that
 * fails (the three-argument form: Python 3.9 has no other). */
static PyObject *format_traceback(PyObject *exc)
{
    PyObject *tb = PyImport_ImportModule("traceback");
    PyObject *frames = PyException_GetTraceback(exc);
    PyObject *lines = tb ? PyObject_CallMethod(tb, "format_exception", "OOO", Py_TYPE(exc), exc,
                                               frames ? frames : Py_None)
                         : NULL;
    Py_XDECREF(frames);
    PyObject *empty = PyUnicode_FromString("");
    PyObject *text = lines && empty ? PyUnicode_Join(empty, lines) : NULL;
    Py_XDECREF(tb);
    Py_XDECREF(lines);
    Py_XDECREF(empty);
    if (!text) {
        PyErr_Clear();
        text = PyUnicode_FromString("");
    }
    return text;
}

void pyerror_encode(ei_x_buff *x)
{
    PyObject *exc = pyerror_take();
    PyObject *name = exc ? PyObject_GetAttrString((PyObject *)Py_TYPE(exc), "__name__") : NULL;
    PyObject *name_s = text_of(name, "SystemError");
    PyObject *msg = text_of(exc, "<exception str() failed>");
    PyObject *tb = exc ? format_traceback(exc) : PyUnicode_FromString("");
    Py_ssize_t name_len, msg_len, tb_len;
    const char *n = PyUnicode_AsUTF8AndSize(name_s, &name_len);
    const char *m = PyUnicode_AsUTF8AndSize(msg, &msg_len);
    const char *t = tb ? PyUnicode_AsUTF8AndSize(tb, &tb_len) : NULL;
    if (!t) {
        t = "";
        tb_len = 0;
    }
    ei_x_encode_tuple_header(x, 3);
    ei_x_encode_atom(x, "error");
    ei_x_encode_tuple_header(x, 2);
    ei_x_encode_atom_len_as(x, n, (int)(name_len < 255 ? name_len : 255), ERLANG_UTF8, ERLANG_UTF8);
    ei_x_encode_binary(x, m, (long)msg_len);
    ei_x_encode_binary(x, t, (long)tb_len);
    PyErr_Clear();
    Py_XDECREF(exc);
    Py_XDECREF(name);
    Py_XDECREF(name_s);
    Py_XDECREF(msg);
    Py_XDECREF(tb);
}
