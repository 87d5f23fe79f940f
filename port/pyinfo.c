/*
 * pyinfo: the paths of the running Python, for the ready event (pyinfo.h).
 *
 * DESIGN: a few lines of Python read them, so that what is reported is
 * what sys and sysconfig say, the values a user would check by hand.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pyinfo.h"

#include "pyerror.h"
#include "version.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SITE_DIRS 32

enum { EXECUTABLE, PREFIX, BASE_PREFIX, STDLIB, N_STRINGS };

static const char *names[N_STRINGS] = {"executable", "prefix", "base_prefix", "stdlib"};
static char *strings[N_STRINGS];
static char *site_dirs[MAX_SITE_DIRS];
static int n_site_dirs;

static const char code[] =
    "import sys, sysconfig\n"
    "r = (sys.executable, sys.prefix, sys.base_prefix, sysconfig.get_path('stdlib'),\n"
    "     [p for p in sys.path if p.endswith(('site-packages', 'dist-packages'))])\n";

/* A copy of str(o); "" for None. NULL with an exception set. */
static char *copy_str(PyObject *o)
{
    if (o == Py_None)
        return strdup("");
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (!s && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "not a str");
    return s ? strdup(s) : NULL;
}

/* Copies the tuple r made by `code`. 0, or -1 with an exception set. */
static int copy_result(PyObject *r)
{
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != N_STRINGS + 1) {
        PyErr_SetString(PyExc_TypeError, "unexpected result");
        return -1;
    }
    for (int k = 0; k < N_STRINGS; k++)
        if (!(strings[k] = copy_str(PyTuple_GET_ITEM(r, k))))
            return -1;
    PyObject *dirs = PyTuple_GET_ITEM(r, N_STRINGS);
    Py_ssize_t n = PyList_Size(dirs);
    for (Py_ssize_t k = 0; k < n && n_site_dirs < MAX_SITE_DIRS; k++)
        if (!(site_dirs[n_site_dirs++] = copy_str(PyList_GET_ITEM(dirs, k))))
            return -1;
    return n < 0 ? -1 : 0;
}

int pyinfo_collect(char *err, size_t errlen)
{
    PyObject *globals = PyDict_New();
    PyObject *done = globals ? PyRun_String(code, Py_file_input, globals, globals) : NULL;
    PyObject *r = done ? PyDict_GetItemString(globals, "r") : NULL;
    int rc = r ? copy_result(r) : -1;
    if (rc != 0) {
        PyObject *exc = pyerror_take();
        PyObject *s = exc ? PyObject_Str(exc) : NULL;
        const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
        snprintf(err, errlen, "cannot read Python's paths: %s", msg ? msg : "?");
        PyErr_Clear();
        Py_XDECREF(s);
        Py_XDECREF(exc);
    }
    Py_XDECREF(done);
    Py_XDECREF(globals);
    return rc;
}

static int encode_text(ei_x_buff *x, const char *key, const char *value)
{
    value = value ? value : "";
    return ei_x_encode_atom(x, key) || ei_x_encode_binary(x, value, (long)strlen(value));
}

int pyinfo_encode(ei_x_buff *x)
{
    for (int k = 0; k < N_STRINGS; k++)
        if (encode_text(x, names[k], strings[k]))
            return -1;
    if (encode_text(x, "libpython", version_libpython()) || ei_x_encode_atom(x, "site_packages"))
        return -1;
    if (n_site_dirs > 0 && ei_x_encode_list_header(x, n_site_dirs))
        return -1;
    for (int k = 0; k < n_site_dirs; k++)
        if (ei_x_encode_binary(x, site_dirs[k], (long)strlen(site_dirs[k])))
            return -1;
    return ei_x_encode_empty_list(x);
}
