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

#endif
