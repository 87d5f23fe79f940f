/*
 * trace: a line per request on stderr (see trace.h).
 *
 * DESIGN: the original run hook is kept in a static copy of the hooks
 * (set once, before any context thread starts, read-only after). A line
 * is formatted into one buffer and written with one fprintf(), so lines
 * from several threads do not interleave.
 */
#include "trace.h"

#include "term_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct pool_hooks inner;

long long trace_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int trace_from_env(void)
{
    const char *v = getenv("PY_PORT_TRACE");
    return v && strcmp(v, "1") == 0;
}

void trace_job(const struct job *job, const char *how)
{
    long long us = (trace_now_ns() - job->t_read_ns) / 1000;
    int at = job->env.reply_off;
    char *reply_to = job->env.reply_len > 0 ? term_text_format(job->frame, &at) : NULL;
    char target[MAXATOMLEN_UTF8 + 32];
    if (job->env.ctx_id >= 0)
        snprintf(target, sizeof(target), "{context,%ld}", job->env.ctx_id);
    else
        snprintf(target, sizeof(target), "%s", job->env.pool[0] ? job->env.pool : "-");
    size_t body = job->env.body_off > 0 && (size_t)job->env.body_off <= job->len
                      ? job->len - (size_t)job->env.body_off
                      : 0;
    fprintf(stderr,
            "py_port trace: %s reply_to=%s target=%s frame=%zuB body=%zuB "
            "read_to_reply=%lld.%03lldms by=%s\n",
            envelope_op_name(job->env.op), reply_to ? reply_to : "?", target, job->len, body,
            us / 1000, us % 1000, how);
    free(reply_to);
}

static int traced_run(void *arg, void *ctx_state, struct job *job)
{
    int raised = inner.run(arg, ctx_state, job);
    trace_job(job, "context");
    return raised;
}

void trace_wrap_hooks(struct pool_hooks *hooks)
{
    inner = *hooks;
    hooks->run = traced_run;
}
