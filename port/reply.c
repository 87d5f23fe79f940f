/*
 * reply: the reply of a job, built with the GIL and written without it.
 *
 * DESIGN: see reply.h. Shared by the context thread that runs a job and
 * by the event loop thread that finishes a coroutine call (eventloop.h),
 * so that both answer with the same bytes and claim the answer once.
 */
#include "reply.h"

#include "envelope.h"
#include "forkguard.h"
#include "objref.h"
#include "protocol.h"
#include "pyerror.h"
#include "sentrefs.h"

#include <stdio.h>
#include <stdlib.h>

void reply_begin(struct reply *r, const struct job *job)
{
    *r = (struct reply){.parts = {0}, .discard = envelope_is_cast(job->frame, &job->env)};
    if (envelope_reply_begin(&r->x, job->frame, job->env.reply_off, job->env.reply_len) != 0) {
        fprintf(stderr, "py_port: out of memory for a reply\n");
        exit(PY_PORT_EXIT_PROTOCOL);
    }
}

int reply_encode_tagged(struct reply *r, const char *tag, PyObject *value)
{
    if (r->discard)
        return 0;
    int tuple = r->x.index;
    if (ei_x_encode_tuple_header(&r->x, 2) != 0 || ei_x_encode_atom(&r->x, tag) != 0)
        return PyErr_NoMemory(), -1;
    if (convert_py_to_term_parts(value, &r->x, &r->parts) != 0)
        return -1;
    if (objref_job_count() == 0)
        return 0;
    r->x.buff[tuple + 1] = 3; /* a small tuple's arity follows its tag */
    return objref_job_encode_ids(&r->x);
}

void reply_drop_after(struct reply *r, PyObject *value)
{
    if (r->x.index >= REPLY_KEEP_BYTES && !r->kept)
        r->kept = value;
    else
        Py_DECREF(value);
}

void reply_encode_error(struct reply *r)
{
    objref_job_abort();
    reply_release_parts(r);
    r->x.index = envelope_payload_start(&r->x);
    pyerror_encode(&r->x);
}

int reply_claim(struct job *job)
{
    if (forkguard_in_child()) /* also when the request was answered (cancelled) */
        forkguard_exit();
    const long long *ids;
    int n = objref_job_ids(&ids);
    unsigned long long note =
        n > 0 ? sentrefs_note(job->frame + job->env.reply_off, job->env.reply_len, ids, n) : 0;
    if (job_claim_answer(job))
        return 1;
    sentrefs_forget(note);
    objref_job_abort();
    return 0;
}

void reply_write(struct writer *w, struct reply *r)
{
    char *frame;
    size_t len;
    if (forkguard_in_child()) /* os.fork() returned here: the parent answers */
        forkguard_exit();
    envelope_reply_finish(&r->x, (size_t)r->parts.total, &frame, &len);
    if (r->parts.n == 0) {
        writer_send(w, frame, len);
        return;
    }
    struct iovec iov[2 * CONVERT_MAX_PARTS + 1];
    int n = 0;
    size_t at = 0;
    for (int k = 0; k < r->parts.n; k++) {
        const struct convert_part *part = &r->parts.part[k];
        iov[n++] = (struct iovec){frame + at, (size_t)part->offset - at};
        iov[n++] = (struct iovec){(void *)part->data, (size_t)part->len};
        at = (size_t)part->offset;
    }
    iov[n++] = (struct iovec){frame + at, len - at};
    writer_send_iov(w, iov, n);
    free(frame);
}

void reply_release_parts(struct reply *r)
{
    convert_parts_release(&r->parts);
    Py_CLEAR(r->kept);
}
