/*
 * interp_state: what the port keeps per Python interpreter.
 *
 * DESIGN: every Python object the port keeps between calls (the `erlang`
 * module's types and exceptions, the table of objects held from Erlang,
 * the module cache, __main__'s globals) belongs to one interpreter: an
 * owngil context runs its own, with its own GIL (docs/architecture.md,
 * "Pool modes"), and an object must never cross to another. They live
 * here, as the module state of the `erlang` module (multi-phase init, one
 * module per interpreter), and C code finds the current interpreter's
 * through interp_state(). A small registry maps each interpreter, by its
 * id (an address may be reused by a later interpreter, an id never), and
 * each reference nonce to its state; a per-thread cache makes the common
 * lookup two compares.
 *
 * Threading: interp_state() needs the GIL of the current interpreter;
 * the fields are guarded by that GIL. The registry has its own mutex,
 * never held while taking a GIL.
 */
#ifndef PY_PORT_INTERP_STATE_H
#define PY_PORT_INTERP_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct interp_state {
    int64_t interp_id; /* PyInterpreterState_GetID(): never reused, unlike its address */
    long owner_ctx;    /* the owngil context that runs it; -1: the main interpreter */
    /* erlmod.c */
    PyObject *module; /* erlang, borrowed: the state lives in it */
    PyTypeObject *atom_type, *pid_type, *ref_type;
    PyObject *known; /* str -> erlang.Atom | None (erlmod.c) */
    /* objref.c */
    PyObject *table; /* int id -> object */
    long long next_id;
    unsigned long long nonce;
    PyObject *stale_error;
    /* cancel.c, callback.c */
    PyObject *cancelled, *error;
    /* convert_types.c */
    PyObject *encoders; /* type -> callable, erlang.register_encoder */
    /* pyrun.c */
    PyObject *main_globals; /* __main__.__dict__, borrowed */
    PyObject *module_cache; /* module name -> module */
    struct interp_state *next;
};

/* GIL held: the current interpreter's state, or NULL (with no exception
 * set) before its `erlang` module was imported. */
struct interp_state *interp_state(void);

/* GIL held: links a new state (made by the module's exec) to the current
 * interpreter / unlinks it (not linked: nothing happens). Unlinking drops
 * every thread's cached pointer. */
void interp_state_add(struct interp_state *st);
void interp_state_remove(struct interp_state *st);

/* Any thread: unlinks the state of the interpreter whose id this was, if
 * still linked: after Py_EndInterpreter(), whether or not the module was
 * freed (subinterp.c). */
void interp_state_remove_id(int64_t interp_id);

/* GIL held: sets st's nonce / owner context (read by other threads
 * through interp_state_owner_of(), so under the registry's lock). */
void interp_state_set_nonce(struct interp_state *st, unsigned long long nonce);
void interp_state_set_owner(struct interp_state *st, long owner_ctx);

/* Any thread: the owngil context whose interpreter drew `nonce`; -1 for
 * the main interpreter, -2 when no interpreter of this port drew it. */
long interp_state_owner_of(unsigned long long nonce);

/* GIL held: visits / clears the Python objects of st (the module's
 * m_traverse, m_clear and m_free): one list of them, kept here. */
int interp_state_traverse(struct interp_state *st, visitproc visit, void *arg);
void interp_state_clear(struct interp_state *st);

#endif
