/*
 * erlmod: the built-in Python module `erlang`.
 *
 * DESIGN: defines erlang.Atom (a str subclass), erlang.Pid and erlang.Ref
 * (opaque, hashable, ordered values that hold the external-format bytes of
 * the Erlang term, so they convert back to the very same pid or reference),
 * and keeps the count of atoms that Python data has created (the atom cap).
 * erlmod_register() runs before Python starts; everything else needs the
 * GIL.
 */
#ifndef PY_PORT_ERLMOD_H
#define PY_PORT_ERLMOD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "writer.h"

/*
 * Atoms that conversions from Python data may create, beyond the atoms
 * that arrived from Erlang.
 *
 * The atoms of the conversion tables (true, false, none, nil, undefined,
 * nan, infinity, neg_infinity) are free of this cap, in two ways:
 * - True, False, None and the floats nan, inf, -inf are written as atoms
 *   by convert_encode.c directly, without erlmod_atom_admit(): never
 *   counted, never refused;
 * - an erlang.Atom with one of these names (Atom('true'), Atom('nan'))
 *   goes through erlmod_atom_admit(), which finds the name among the known
 *   atoms (erlmod_setup() records all eight when it imports the module)
 *   and admits it without counting it, also once the cap is reached.
 */
#define ERLMOD_MAX_NEW_ATOMS 10000

/*
 * Before Python starts: the cap holds for the node's life, across ports.
 * `cap` is the node's (app env max_new_atoms; named in the error),
 * `budget` what it has left for this port. Both default to
 * ERLMOD_MAX_NEW_ATOMS.
 */
void erlmod_set_atom_budget(long cap, long budget);

/*
 * Before any Python code runs: each atom admitted from Python data is
 * reported as the event {atom, Name :: binary()}, queued on w
 * (writer_queue()) at once, so it leaves before any frame that carries
 * the atom; the owner counts it against the node's cap. NULL (the
 * default): not reported.
 */
void erlmod_report_atoms(struct writer *w);

/* Registers `erlang` as a built-in module. Call before Python starts.
 * Returns 0, or -1 if CPython refused. */
int erlmod_register(void);

/* Imports the module in the current interpreter, whose state
 * (interp_state.h) the module's exec makes, with objref_setup(),
 * cancel_setup() and callback_setup(). Call once per interpreter, GIL
 * held, after it started. Returns 0, or -1 with a Python exception set. */
int erlmod_setup(void);

/* Borrowed references to the types; valid after erlmod_setup(). */
PyTypeObject *erlmod_atom_type(void);
PyTypeObject *erlmod_pid_type(void);
PyTypeObject *erlmod_ref_type(void);

/* New erlang.Atom for a UTF-8 name, recording that Erlang has this atom.
 * NULL with an exception set on failure. */
PyObject *erlmod_atom_from_erlang(const char *utf8, Py_ssize_t len);

/* Before an atom named by a Python str leaves for Erlang: returns 0 if the
 * atom may be created (it came from Erlang, is a table atom or was admitted
 * before: free; or the cap is not reached: the name is then recorded and
 * counted), -1 with TypeError set if not (cap reached, or the name is
 * longer than 255 characters). Call after erlmod_setup(). */
int erlmod_atom_admit(PyObject *name);

/* New erlang.Pid / erlang.Ref holding a copy of the term's external-format
 * bytes (no version byte). NULL with an exception set on failure. */
PyObject *erlmod_pid_new(const char *term, Py_ssize_t len);
PyObject *erlmod_ref_new(const char *term, Py_ssize_t len);

/* The bytes held by a Pid or Ref (borrowed, valid while obj lives). */
int erlmod_opaque_bytes(PyObject *obj, const char **term, Py_ssize_t *len);

#endif
