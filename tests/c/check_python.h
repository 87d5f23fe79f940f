/* CPython for the suites that run Python (check_convert,
 * check_convert_types, check_cancel):
 * started once per test process with the `erlang` module, and __main__'s
 * namespace, `globals', where the tests run their Python code. */
#ifndef CHECK_PYTHON_H
#define CHECK_PYTHON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <check.h>

#include "erlmod.h"

static PyObject *globals; /* __main__'s namespace */

/* Starts CPython with the `erlang` module, if not started yet, and runs
 * imports (Python statements) in __main__. */
static inline void check_python_start(const char *imports)
{
    if (Py_IsInitialized())
        return;
    ck_assert_int_eq(erlmod_register(), 0);
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    ck_assert(!PyStatus_Exception(status));
    ck_assert_int_eq(erlmod_setup(), 0);
    globals = PyModule_GetDict(PyImport_AddModule("__main__"));
    PyObject *r = PyRun_String(imports, Py_file_input, globals, globals);
    ck_assert_ptr_nonnull(r);
    Py_DECREF(r);
}

/* Runs Python statements in __main__; the test fails if they raise. */
static inline void run(const char *stmts)
{
    PyObject *r = PyRun_String(stmts, Py_file_input, globals, globals);
    if (r == NULL)
        PyErr_Print();
    ck_assert_msg(r != NULL, "Python statements failed: %s", stmts);
    Py_DECREF(r);
}

#endif
