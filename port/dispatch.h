/*
 * dispatch: what the reader does with one request frame, in every mode.
 *
 * DESIGN: dispatch_frame() decodes a frame's envelope, answers what needs
 * no Python (start_pool, stop_pool, cancel, credit, bad requests, unknown
 * pools) and queues the rest for a pool. The port's reader loop (main.c), the
 * REPL and --replay (repl.c) all go through it: there is one dispatch.
 * Called by one thread at a time (the reader); replies leave through the
 * writer. No Python: links into unit tests without libpython.
 */
#ifndef PY_PORT_DISPATCH_H
#define PY_PORT_DISPATCH_H

#include "flow.h"
#include "pool.h"
#include "waiters.h"
#include "writer.h"

#include <ei.h>
#include <stddef.h>

struct dispatch {
    struct pools *pools;
    struct writer *w;
    int trace;                  /* log each request to stderr (trace.h); 0: no cost */
    int record;                 /* descriptor frames are recorded to (record.h), or -1 */
    const char *python_version; /* for stats; NULL: unknown */
    long long started_ns;       /* CLOCK_MONOTONIC at start, for stats */
    struct waiters *waiters;    /* who waits for callback results; NULL: nobody */
    struct flow *flow;          /* what erlang.send has in flight; NULL: not counted */
    /* The kind of context a start_pool's Mode names: 0 with *kind set
     * (NULL: the pools' default), or -ENOTSUP with *why (this build cannot
     * run that mode), or -EINVAL (no such mode). NULL: worker only. */
    int (*kind_of)(const char *mode, const struct context_kind **kind, const char **why);
    /* The owngil context whose interpreter drew a reference's nonce, or a
     * negative number (not an owngil context's). NULL: none are. */
    long (*ref_owner)(unsigned long long nonce);
    /* Set by dispatch once a pool of another kind than the default has
     * started: until then no reference can need routing, and requests
     * are not scanned for one (refscan.h). Start it at 0. */
    int other_kinds;
};

/*
 * Routes one request frame (as frame_read() returns it: no length
 * prefix). Takes ownership of frame (malloc'd). A frame that cannot be
 * trusted ends the process with PY_PORT_EXIT_PROTOCOL, as protocol.md
 * says; anything else is answered. A failed recording write is reported
 * once on stderr and recording stops (d->record becomes -1).
 */
void dispatch_frame(struct dispatch *d, char *frame, size_t len);

/* Encodes a payload term into x. Returns 0 or non-zero (out of memory). */
typedef int (*dispatch_fill_fn)(ei_x_buff *x, const void *arg);

/* Sends a reply to job, or an event for the owner when job is NULL, whose
 * payload `fill` encodes. Out of memory ends the process. */
void dispatch_send(struct writer *w, const struct job *job, dispatch_fill_fn fill, const void *arg);

#endif
