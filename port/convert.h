/*
 * convert: Erlang external term format <-> Python objects.
 *
 * DESIGN: the tables of docs/types.md, in C. Decoding reads terms straight
 * out of a received frame (no intermediate copy); encoding appends to an
 * ei_x_buff. Every function here must be called with the GIL held. Failures
 * are Python exceptions: a term or object that has no mapping raises
 * TypeError naming the type; nesting deeper than CONVERT_MAX_DEPTH raises
 * TypeError too. No function here aborts the process on bad data.
 */
#ifndef PY_PORT_CONVERT_H
#define PY_PORT_CONVERT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ei.h>

/* Deepest nesting of lists, tuples and maps converted, either direction. */
#define CONVERT_MAX_DEPTH 10000

/*
 * Decodes the term at buf[*index] (no version byte) into a new reference.
 * On success advances *index past the term. On failure returns NULL with a
 * Python exception set (TypeError for a term with no mapping: improper
 * list, fun, port, bitstring; for a malformed term as well).
 */
PyObject *convert_term_to_py(const char *buf, int *index);

/*
 * Decodes a map whose keys are atoms or binaries (UTF-8) into a new dict
 * with plain str keys, as keyword arguments. NULL with TypeError set if the
 * term is not such a map.
 */
PyObject *convert_term_to_kwargs(const char *buf, int *index);

/*
 * Appends obj as one term (no version byte) to x. Returns 0, or -1 with a
 * Python exception set (TypeError naming the Python type that has no
 * mapping, or the atom cap). x may then hold a partial term: the caller
 * resets x->index to where it was before the call.
 */
int convert_py_to_term(PyObject *obj, ei_x_buff *x);

#endif
