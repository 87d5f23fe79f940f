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

/* A reply being built: its buffer, and the large binaries of its result
 * that are written from where they are rather than copied. */
struct reply {
    ei_x_buff x;
    struct convert_parts parts;
    int discard; /* a cast's: a result is neither encoded nor sent */
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

/* GIL held: drops the objects whose data reply_write() wrote. */
void reply_release_parts(struct reply *r);

#endif
