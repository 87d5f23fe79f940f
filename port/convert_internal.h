/*
 * convert_internal: what convert_decode.c and convert_encode.c share. Not
 * for other files: the public contract is convert.h.
 *
 * DESIGN: static inline helpers only, no state. Both callers hold the GIL.
 */
#ifndef PY_PORT_CONVERT_INTERNAL_H
#define PY_PORT_CONVERT_INTERNAL_H

#include "convert.h"

/* In functions that return int: set the error (a call), give -1. */
#define FAIL(set_error) ((void)(set_error), -1)

/* 0 if a container at depth (0 for the outermost) may be converted, else
 * -1 with TypeError set. */
static inline int too_deep(int depth)
{
    if (depth < CONVERT_MAX_DEPTH)
        return 0;
    return FAIL(
        PyErr_Format(PyExc_TypeError, "term nested deeper than %d levels", CONVERT_MAX_DEPTH));
}

/* convert_encode.c: appends o at depth (0 for the outermost), as
 * convert_py_to_term() does; for the steps of the dispatch that live in
 * other files. */
int convert_encode_at(PyObject *o, ei_x_buff *x, int depth);

/* convert_types.c, two steps of the dispatch: appends o's term and
 * returns 0, returns -1 with an exception set, or 1 (nothing appended)
 * when o is not theirs. convert_user_encoder(): the encoder that Python
 * code registered for o's type (erlang.register_encoder);
 * convert_known_type(): datetime, Decimal, UUID, Enum, numpy. */
int convert_user_encoder(PyObject *o, ei_x_buff *x, int depth);
int convert_known_type(PyObject *o, ei_x_buff *x, int depth);

/* convert_types.c: the numpy array of {ndarray, Dtype, Shape, Data}, a
 * new reference, or NULL with numpy's exception (ModuleNotFoundError
 * without numpy, ValueError or TypeError for a bad dtype or shape). */
PyObject *convert_ndarray_from(PyObject *dtype, PyObject *shape, const char *data, int n);

#endif
