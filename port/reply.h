/*
 * reply: building and sending the reply of a job, for a context thread
 * (pyrun.c) and for a context's event loop thread (eventloop.c) alike.
 *
 * DESIGN: a reply is built in one buffer, routing header first, then {ok,
 * V} / {data, V} / {error, {Name, Msg}, Tb}. It is claimed (job_claim_answer)
 * with the GIL once built: a cancelled job's objects are dropped then, and
 * those of a reply that is sent are noted for a cancel that comes after it
 * (sentrefs.h). Large binaries of the result are written from where they
 * are, GIL released, and dropped after with the GIL.
 */
#ifndef PY_PORT_REPLY_H
#define PY_PORT_REPLY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "convert.h"
#include "pool.h"
#include "writer.h"

#include <ei.h>

/* A reply of this many bytes and more keeps its result until written
 * (reply_drop_after()). */
#define REPLY_KEEP_BYTES (64 * 1024)

/* A reply being built: its buffer, the large binaries of its result that
 * are written from where they are rather than copied, and a large result
 * to free once the reply is out. */
struct reply {
    ei_x_buff x;
    struct convert_parts parts;
    PyObject *kept; /* dropped by reply_release_parts() */
    int discard;    /* a cast's: a result is neither encoded nor sent */
};

/* Starts the reply to job (a cast's is discarded unless an error). Exits
 * the process when out of memory, as nothing else can be done. */
void reply_begin(struct reply *r, const struct job *job);

/* GIL held. Appends {Tag, Value}, or {Tag, Value, {Nonce, [Id]}} when
 * converting Value stored objects (the ids of the references it holds,
 * for the caller to own, docs/protocol.md). The calling thread's list of
 * stored ids (objref_job_begin()) must be empty before. 0, or -1 with the
 * conversion error set. */
int reply_encode_tagged(struct reply *r, const char *tag, PyObject *value);

/* GIL held: drops value, a reference the caller gives up, now, or, when
 * r has REPLY_KEEP_BYTES and more, after r is written: the objects of a
 * large result (100,000 floats, a large dict) take a while to free, which
 * its caller need not wait for. */
void reply_drop_after(struct reply *r, PyObject *value);

/* Whether r holds objects to drop with the GIL after it is written. */
static inline int reply_holds_objects(const struct reply *r)
{
    return r->parts.n > 0 || r->kept != NULL;
}

/* GIL held, with an exception set: replaces what r holds by the error
 * {error, {Name, Msg}, Tb} and drops the objects the job stored. */
void reply_encode_error(struct reply *r);

/* GIL held, once the reply of job is built: whether to send it. Not when
 * job was answered already (cancelled, its pool stopped): the objects it
 * stored are dropped. */
int reply_claim(struct job *job);

/* GIL NOT held: hands the frame in r (emptied) to the writer. The caller
 * then drops r->parts with the GIL (reply_release_parts()). */
void reply_write(struct writer *w, struct reply *r);

/* GIL held: drops the objects whose data reply_write() wrote, and the
 * result kept until then. */
void reply_release_parts(struct reply *r);

#endif
