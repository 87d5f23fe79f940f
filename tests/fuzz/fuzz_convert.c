/*
 * fuzz_convert: libFuzzer target for port/convert_decode.c and
 * port/convert_encode.c.
 *
 * DESIGN: every input is the bytes of one term without its version byte,
 * as pyrun.c finds the body of a request. It goes to convert_term_to_py()
 * and convert_term_to_kwargs() in a buffer of exactly its size: the
 * decoders promise not to read at or past `len` and so get no padding;
 * memory that faults when read follows the buffer (guard.h), since ei,
 * which they call, is not built with AddressSanitizer. Their contract
 * (convert.h) is checked: NULL comes with an exception of the documented
 * kinds and *index unchanged; success moves *index inside the input. What
 * decodes is then encoded back with convert_py_to_term(); if that succeeds
 * the result must decode again, and that object encode again (not to the
 * same bytes: the mapping is not one to one, e.g. a tuple (Atom('bytes'),
 * b'..') encodes as {bytes, <<..>>}, which decodes as bytes). repr() of
 * the object runs too, for the erlang.Pid and erlang.Ref types. A broken
 * contract abort()s, which libFuzzer reports as a crash and saves the
 * input.
 *
 * CPython starts once, in LLVMFuzzerInitialize(), as pyrun.c starts it:
 * erlmod_register() before, erlmod_setup() after (which makes the table of
 * references too). Its allocator is plain malloc (PYMEM_ALLOCATOR_MALLOC),
 * so that every Python object is a heap block that AddressSanitizer
 * watches: a reference dropped once too often shows as a use after free. Each input takes the
 * GIL, which is released between inputs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <ei.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "convert.h"
#include "erlmod.h"
#include "guard.h"
#include "objref.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_convert: %s:%d: broken: %s\n", __FILE__, __LINE__, #cond);       \
            if (PyErr_Occurred())                                                                  \
                PyErr_Print();                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static PyObject *stale_error; /* erlang.StaleReference */

static void start_python(void)
{
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_MALLOC;
    REQUIRE(!PyStatus_Exception(Py_PreInitialize(&pre)));
    REQUIRE(erlmod_register() == 0);

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, PY_PORT_PYTHON_EXECUTABLE);
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "fuzz_convert: Python did not start: %s\n",
                st.err_msg ? st.err_msg : "(no message)");
        abort();
    }
    REQUIRE(erlmod_setup() == 0); /* its exec sets up the table of references too */
    PyObject *erlang = PyImport_ImportModule("erlang");
    stale_error = erlang ? PyObject_GetAttrString(erlang, "StaleReference") : NULL;
    Py_XDECREF(erlang);
    REQUIRE(stale_error != NULL);
    PyEval_SaveThread();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    start_python();
    return 0;
}

/* A failed decode or encode: an exception of the kinds convert.h and
 * objref.h name, never none and never SystemError (a C-API misuse). */
static void check_failure(void)
{
    PyObject *exc = PyErr_Occurred();
    REQUIRE(exc != NULL);
    REQUIRE(PyErr_GivenExceptionMatches(exc, PyExc_TypeError) ||
            PyErr_GivenExceptionMatches(exc, PyExc_MemoryError) ||
            PyErr_GivenExceptionMatches(exc, stale_error));
    PyErr_Clear();
}

/* decode(buf[0, len)) through fn, checking the *index contract. */
static PyObject *decode(PyObject *(*fn)(const char *, int, int *), const char *buf, int len)
{
    int index = 0;
    PyObject *obj = fn(buf, len, &index);
    if (obj == NULL) {
        REQUIRE(index == 0);
        check_failure();
        return NULL;
    }
    REQUIRE(!PyErr_Occurred());
    REQUIRE(index > 0 && index <= len);
    return obj;
}

/* repr() reads the bytes a Pid or Ref holds; deep nesting may refuse. */
static void check_repr(PyObject *obj)
{
    PyObject *r = PyObject_Repr(obj);
    if (r == NULL) {
        REQUIRE(PyErr_ExceptionMatches(PyExc_RecursionError) ||
                PyErr_ExceptionMatches(PyExc_MemoryError));
        PyErr_Clear();
    }
    Py_XDECREF(r);
}

/* obj -> term -> object -> term, each step succeeding. */
static void check_round_trip(PyObject *obj)
{
    ei_x_buff x, y;
    REQUIRE(ei_x_new(&x) == 0 && ei_x_new(&y) == 0);
    if (convert_py_to_term(obj, &x) < 0) {
        check_failure();
    } else {
        char *term = guard_copy((const uint8_t *)x.buff, (size_t)x.index, 0);
        REQUIRE(term != NULL);
        PyObject *again = decode(convert_term_to_py, term, x.index);
        guard_release();
        REQUIRE(again != NULL);
        REQUIRE(convert_py_to_term(again, &y) == 0);
        Py_DECREF(again);
    }
    ei_x_free(&x);
    ei_x_free(&y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *buf = len <= INT_MAX ? guard_copy(data, len, 0) : NULL;
    if (!buf)
        return 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    objref_job_begin();
    PyObject *obj = decode(convert_term_to_py, buf, (int)len);
    PyObject *kwargs = decode(convert_term_to_kwargs, buf, (int)len);
    guard_release();
    if (obj != NULL) {
        check_repr(obj);
        check_round_trip(obj);
        Py_DECREF(obj);
    }
    if (kwargs != NULL) {
        REQUIRE(PyDict_CheckExact(kwargs));
        check_round_trip(kwargs);
        Py_DECREF(kwargs);
    }
    /* What decodes has a mapping back: nothing was stored by reference. */
    REQUIRE(objref_job_count() == 0);
    objref_job_abort();
    PyGILState_Release(gil);
    return 0;
}
