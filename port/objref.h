/*
 * objref: Python objects held from Erlang by reference.
 *
 * DESIGN: a result with no Erlang mapping is stored in a table and leaves
 * as the term {'$py_ref', Nonce, Id}. Nonce is drawn at start-up, so a
 * reference from another port process (or from before a restart) is
 * recognised as stale; Id numbers objects of this process. The ids a job
 * creates are listed (per thread) so that the reply can name them and
 * the Erlang side can release them when their owner exits. Everything
 * here needs the GIL, which guards the table.
 */
#ifndef PY_PORT_OBJREF_H
#define PY_PORT_OBJREF_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ei.h>

/* The atom that tags a reference term. */
#define OBJREF_TAG "$py_ref"

/* For the current interpreter (interp_state.h), after its `erlang` module
 * was imported: draws its nonce, makes its table and adds
 * erlang.StaleReference to its module. 0, or -1 with an exception set. */
int objref_setup(void);

/* Forgets the ids listed for the calling thread's job. */
void objref_job_begin(void);

/* The ids listed for a job that waits while a nested one runs. */
struct objref_job {
    long long *ids;
    int n, cap;
};

/* Sets the calling thread's list aside for a nested job, which starts
 * with an empty one; objref_job_resume() brings it back. */
void objref_job_suspend(struct objref_job *saved);
void objref_job_resume(const struct objref_job *saved);

/* How many objects the calling thread's job stored so far. */
int objref_job_count(void);

/* Appends {Nonce, [Id]} of the objects the job stored. 0 or -1
 * (MemoryError set). */
int objref_job_encode_ids(ei_x_buff *x);

/* Drops the objects the job stored (its reply is not sent). */
void objref_job_abort(void);

/* The ids the job stored so far that a late cancel may release
 * (sentrefs.h), in *ids (owned by this module, valid until the job stores
 * another); returns how many. Always 0 in an owngil context: the notes of
 * sentrefs carry no interpreter, so only the main interpreter's
 * references are noted (docs/reliability.md). */
int objref_job_ids(const long long **ids);

/* In the main interpreter: drops the objects of replies that their
 * callers gave up after they were written (sentrefs.h). Nothing in an
 * owngil context. */
void objref_release_late(void);

/* Stores obj and appends its reference term to x, unless references are
 * off for this thread or objref_setup() has not run (then TypeError naming
 * obj's type). 0 or -1. */
int objref_encode(PyObject *obj, ei_x_buff *x);

/* Turns references off (on = 0) or on for the calling thread; returns the
 * previous setting. Off, a conversion fails where it would store. */
int objref_enable(int on);

/* A new reference to the object of (nonce, id), or NULL with
 * erlang.StaleReference set when it is from another port or released. */
PyObject *objref_lookup(unsigned long long nonce, long long id);

/* Drops the object of (nonce, id), if this port holds it. */
void objref_release(unsigned long long nonce, long long id);

/* Objects held now. */
Py_ssize_t objref_count(void);

/* Drops every object of the current interpreter's table, for good (an
 * owngil context that stops: their destructors run while its interpreter
 * still does). Lookups then find nothing; nothing more is stored. */
void objref_drop_all(void);

#endif
