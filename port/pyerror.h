/*
 * pyerror: Python exceptions taken, put back and encoded for a reply.
 *
 * DESIGN: split from pyrun.c, which runs the jobs; every function here
 * needs the GIL.
 */
#ifndef PY_PORT_PYERROR_H
#define PY_PORT_PYERROR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ei.h>

/* The pending exception, normalised, with its traceback (a new
 * reference); NULL if none. The error indicator is cleared. */
PyObject *pyerror_take(void);

/* Puts back an exception that pyerror_take() took. Steals exc. */
void pyerror_restore(PyObject *exc);

/* Appends {error, {ExcName, Message}, Traceback} for the pending
 * exception to x and clears it. */
void pyerror_encode(ei_x_buff *x);

#endif
