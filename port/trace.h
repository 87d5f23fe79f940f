/*
 * trace: one line on stderr per request (--trace, PY_PORT_TRACE=1).
 *
 * DESIGN: the reader stamps a job with the time its frame was read
 * (job->t_read_ns, only when tracing); when the request has been answered
 * a line gives its op, target, ReplyTo (as Erlang text), the sizes of the
 * frame and of its body, and the time from read to reply. Requests that
 * run Python are traced by wrapping the pool's run hook, so with tracing
 * off the hot path pays one flag check in dispatch and nothing else.
 *
 * Tracing never blocks a request: the reader or context thread that
 * answered formats the line and appends it to a buffer of
 * TRACE_BUFFER_BYTES; a thread of this module writes the buffer to stderr.
 * When stderr is slow, or a pipe nobody reads, the buffer fills and
 * further lines are dropped and counted; once the writer gets a line out
 * again it writes "py_port trace: N lines dropped". No Python.
 */
#ifndef PY_PORT_TRACE_H
#define PY_PORT_TRACE_H

#include "pool.h"

/* Bytes of trace lines waiting for stderr; beyond, lines are dropped. */
#define TRACE_BUFFER_BYTES (256 * 1024)

/* The longest line; a longer one (a large ReplyTo) is cut, ending "...". */
#define TRACE_LINE_MAX 2048

/* Whether the environment asks for tracing: PY_PORT_TRACE=1. */
int trace_from_env(void);

/* Queues the line of job, answered now; `how` names who answered it
 * ("reader" or "context"). Never blocks on stderr. */
void trace_job(const struct job *job, const char *how);

/* Replaces hooks->run by a wrapper that runs the original and then traces
 * the job, and starts the thread that writes the lines. Call once, before
 * pools_new(); the original hooks are kept in this module (one set per
 * process). Without the thread (it could not start) lines are dropped. */
void trace_wrap_hooks(struct pool_hooks *hooks);

/* Waits at most ms milliseconds for the queued lines to be written (at
 * exit, so that the last lines are not lost). */
void trace_flush(int ms);

#endif
