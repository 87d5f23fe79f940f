/*
 * convert: Erlang external term format <-> Python objects.
 *
 * DESIGN: the tables of docs/types.md, in C, in two files behind this one
 * header: convert_decode.c (Erlang -> Python) reads terms straight out of
 * a received frame (no intermediate copy), never at or past the length it
 * is given; convert_encode.c (Python -> Erlang) appends to an ei_x_buff.
 * Every function here must be called with the GIL held. Failures are
 * Python exceptions: a term or object that has no mapping raises TypeError
 * naming the type; nesting deeper than CONVERT_MAX_DEPTH raises TypeError
 * too. No function here aborts the process on bad data.
 */
#ifndef PY_PORT_CONVERT_H
#define PY_PORT_CONVERT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ei.h>

/* Deepest nesting of lists, tuples and maps converted, either direction. */
#define CONVERT_MAX_DEPTH 10000

/* The message of the TypeError convert_term_to_kwargs() raises for a term
 * that is not a map, or a key that is not an atom or a UTF-8 binary; a
 * caller that decodes something other than keyword arguments with it may
 * recognise the message and name its own argument instead. */
#define CONVERT_KWARGS_ERROR "keyword arguments must be a map with atom or binary keys"

/*
 * Decodes the term at buf[*index] (no version byte) into a new reference.
 * buf holds len readable bytes; no byte at or past buf[len] is read, so a
 * term cut short by len fails like any malformed term (callers need not pad
 * the buffer). On success advances *index past the term. On failure
 * returns NULL with a Python exception set and leaves *index unchanged:
 * - TypeError "cannot convert an Erlang X to Python" for a term with no
 *   mapping (improper list, fun, port, bitstring that is not whole bytes);
 * - TypeError "malformed term" for bytes that are not a valid term, a term
 *   cut short by len, a negative len, or *index outside 0..len;
 * - TypeError "term nested deeper than CONVERT_MAX_DEPTH levels";
 * - TypeError for a map with two keys that are equal in Python
 *   (#{1 => a, 1.0 => b}), or with a key Python cannot hash;
 * - MemoryError.
 */
PyObject *convert_term_to_py(const char *buf, int len, int *index);

/*
 * Decodes a map whose keys are atoms or binaries (UTF-8) into a new dict
 * with plain str keys, as keyword arguments; values as convert_term_to_py()
 * decodes them. Same bounds and *index contract as convert_term_to_py().
 * NULL with TypeError CONVERT_KWARGS_ERROR if the term is not such a map;
 * TypeError naming the key if two keys give the same name (#{a => 1,
 * <<"a">> => 2}); otherwise the failures of convert_term_to_py(). An atom
 * key counts as an atom that arrived from Erlang (see erlmod.h).
 */
PyObject *convert_term_to_kwargs(const char *buf, int len, int *index);

/*
 * Appends obj as one term (no version byte) to x. Returns 0, or -1 with a
 * Python exception set:
 * - TypeError naming the Python type that has no mapping;
 * - TypeError from the atom cap or atom length (erlmod_atom_admit());
 * - TypeError for a str with a lone surrogate, a non-contiguous buffer;
 * - TypeError "dict keys K1 and K2 convert to the same Erlang term"
 *   ({'a': 1, b'a': 2}): Erlang refuses a map with a repeated key;
 * - TypeError "integer too large for Erlang" above 4194296 bytes of
 *   magnitude, the most binary_to_term/1 accepts;
 * - TypeError "object too large to convert to an Erlang term" when the
 *   result would come near 2 GiB (ei indexes with an int);
 * - TypeError "term nested deeper than CONVERT_MAX_DEPTH levels";
 * - RuntimeError if a list or dict changes size while it is converted;
 * - MemoryError.
 * x may then hold a partial term: the caller resets x->index to where it
 * was before the call.
 */
int convert_py_to_term(PyObject *obj, ei_x_buff *x);

/* A bytes or str of at least CONVERT_PART_MIN bytes is not copied into the
 * ei_x_buff by convert_py_to_term_parts(), up to CONVERT_MAX_PARTS. */
#define CONVERT_PART_MIN (64 * 1024)
#define CONVERT_MAX_PARTS 16

struct convert_part {
    int offset;       /* where in the ei_x_buff the data belongs */
    const char *data; /* owned by `owner`, immutable */
    Py_ssize_t len;
    PyObject *owner; /* a reference, dropped by convert_parts_release() */
};

struct convert_parts {
    int n;
    Py_ssize_t total; /* sum of the lens */
    struct convert_part part[CONVERT_MAX_PARTS];
};

/*
 * convert_py_to_term(), except that the data of large binaries is left
 * out: x gets their BINARY_EXT headers, parts the data, each at the offset
 * in x where it belongs (the term is x's bytes with each part's data
 * inserted at its offset, in order). The data stays valid, also without
 * the GIL, until convert_parts_release(). Dict keys are always copied.
 * parts must start zeroed; on failure it may hold parts to release.
 */
int convert_py_to_term_parts(PyObject *obj, ei_x_buff *x, struct convert_parts *parts);

/* Drops the references that parts holds and empties it. GIL held. */
void convert_parts_release(struct convert_parts *parts);

/*
 * erlang.register_encoder(type, fun) (convert_types.c), in the erlang
 * module's function table: fun(obj) gives the value sent instead of an
 * instance of type or of a subclass; None unregisters. Per interpreter.
 */
PyObject *convert_register_encoder(PyObject *module, PyObject *const *args, Py_ssize_t n);

/* The atom Python's None is sent as: "none" (the default), "nil" or
 * "undefined" (--none-atom); any other name is ignored. Called once, before
 * any conversion. */
void convert_set_none_atom(const char *name);

#endif
