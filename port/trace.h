/*
 * trace: one line on stderr per request (--trace, PY_PORT_TRACE=1).
 *
 * DESIGN: the reader stamps a job with the time its frame was read
 * (job->t_read_ns, only when tracing); when the request has been answered
 * a line gives its op, target, ReplyTo (as Erlang text), the sizes of the
 * frame and of its body, and the time from read to reply. Requests that
 * run Python are traced by wrapping the pool's run hook, so with tracing
 * off the hot path pays one flag check in dispatch and nothing else.
 * Lines are written with one fprintf() each (stdio locks the stream), from
 * the reader thread or a context thread; no Python.
 */
#ifndef PY_PORT_TRACE_H
#define PY_PORT_TRACE_H

#include "pool.h"

/* CLOCK_MONOTONIC in nanoseconds. */
long long trace_now_ns(void);

/* Whether the environment asks for tracing: PY_PORT_TRACE=1. */
int trace_from_env(void);

/* Writes the line of job, answered now; `how` names who answered it
 * ("reader" or "context"). */
void trace_job(const struct job *job, const char *how);

/* Replaces hooks->run by a wrapper that runs the original and then traces
 * the job. Call once, before pools_new(); the original hooks are kept in
 * this module (one set per process). */
void trace_wrap_hooks(struct pool_hooks *hooks);

#endif
