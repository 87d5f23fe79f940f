/*
 * trace: a line per request on stderr, never blocking (see trace.h).
 *
 * DESIGN: the original run hook is kept in a static copy of the hooks
 * (set once, before any context thread starts, read-only after). Lines
 * are appended whole to `pending` under `mu`; the writer thread swaps
 * `pending` with its own buffer and writes that one with `mu` released,
 * so a thread that traces waits at most for a memcpy. The writer lets
 * lines gather for TRACE_BATCH_MS before it writes them: one wake-up and
 * one write() per batch, not per line. A line that does
 * not fit is dropped and counted in `unreported`; the writer reports the
 * count after the next write that succeeds. Lock order: `mu` only; it is
 * never held while writing.
 */
#include "trace.h"

#include "clock.h"
#include "term_text.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long the writer lets lines gather before it writes them. */
#define TRACE_BATCH_MS 10

static struct pool_hooks inner;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER; /* lines queued */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* the writer is idle */
static char *pending;                                  /* lines queued, under mu */
static size_t pending_len;
static int running;                   /* the writer thread runs */
static int writing;                   /* it writes a batch now */
static int flushing;                  /* trace_flush() waits: no gathering */
static unsigned long long unreported; /* lines dropped, not yet reported */

int trace_from_env(void)
{
    const char *v = getenv("PY_PORT_TRACE");
    return v && strcmp(v, "1") == 0;
}

/* Writes buf[0, len) to stderr, following partial writes; gives up on an
 * error (stderr closed): the lines are lost, the port goes on. */
static void write_stderr(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(2, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* now + ms on CLOCK_REALTIME, for pthread_cond_timedwait(). */
static struct timespec deadline(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* With mu held, once a line is queued: lets more lines gather for
 * TRACE_BATCH_MS, unless the buffer is half full or a flush waits, so
 * that the writer wakes and writes once per batch, not once per line. */
static void gather(void)
{
    struct timespec until = deadline(TRACE_BATCH_MS);
    while (pending_len < TRACE_BUFFER_BYTES / 2 && !flushing)
        if (pthread_cond_timedwait(&more, &mu, &until) == ETIMEDOUT)
            break;
}

/* The writer thread: writes what is queued, then says how many lines were
 * dropped while it waited for stderr. */
static void *writer(void *arg)
{
    char *batch = arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        writing = 0;
        pthread_cond_broadcast(&done);
        while (pending_len == 0 && unreported == 0)
            pthread_cond_wait(&more, &mu);
        gather();
        char *full = pending;
        size_t len = pending_len;
        unsigned long long lost = unreported;
        pending = batch, pending_len = 0, unreported = 0, writing = 1;
        pthread_mutex_unlock(&mu);
        write_stderr(full, len);
        if (lost > 0) {
            char note[96];
            int n = snprintf(note, sizeof(note), "py_port trace: %llu lines dropped\n", lost);
            write_stderr(note, (size_t)n);
        }
        batch = full;
        pthread_mutex_lock(&mu);
    }
    return NULL;
}

/* Starts the writer thread with two buffers; on failure every line is
 * dropped (and counted). */
static void start_writer(void)
{
    pthread_t t;
    char *a = malloc(TRACE_BUFFER_BYTES), *b = malloc(TRACE_BUFFER_BYTES);
    pthread_mutex_lock(&mu);
    pending = a;
    running = a && b && pthread_create(&t, NULL, writer, b) == 0;
    pthread_mutex_unlock(&mu);
    if (!running) {
        free(a);
        free(b);
        pending = NULL;
        fprintf(stderr, "py_port: no trace thread: trace lines are dropped\n");
        return;
    }
    pthread_detach(t);
}

/* Appends one line, or counts it as dropped. */
static void queue_line(const char *line, size_t len)
{
    pthread_mutex_lock(&mu);
    if (running && len <= TRACE_BUFFER_BYTES - pending_len) {
        memcpy(pending + pending_len, line, len);
        pending_len += len;
        if (pending_len == len || pending_len >= TRACE_BUFFER_BYTES / 2)
            pthread_cond_signal(&more); /* the first line of a batch, or half full */
    } else {
        unreported++;
    }
    pthread_mutex_unlock(&mu);
}

void trace_job(const struct job *job, const char *how)
{
    long long us = (clock_now_ns() - job->t_read_ns) / 1000;
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
    char line[TRACE_LINE_MAX];
    int n = snprintf(line, sizeof(line),
                     "py_port trace: %s reply_to=%s target=%s frame=%zuB body=%zuB "
                     "read_to_reply=%lld.%03lldms by=%s\n",
                     envelope_op_name(job->env.op), reply_to ? reply_to : "?", target, job->len,
                     body, us / 1000, us % 1000, how);
    free(reply_to);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) { /* cut: "...\n" at the end */
        memcpy(line + sizeof(line) - 5, "...\n", 5);
        n = (int)sizeof(line) - 1;
    }
    queue_line(line, (size_t)n);
}

static int traced_run(void *arg, void *ctx_state, struct job *job)
{
    int raised = inner.run(arg, ctx_state, job);
    if (raised != POOL_RUN_DETACHED) /* a task: job may be freed already */
        trace_job(job, "context");
    return raised;
}

void trace_wrap_hooks(struct pool_hooks *hooks)
{
    inner = *hooks;
    hooks->run = traced_run;
    start_writer();
}

void trace_flush(int ms)
{
    struct timespec until = deadline(ms);
    pthread_mutex_lock(&mu);
    flushing = 1;
    pthread_cond_signal(&more);
    while (running && (pending_len > 0 || unreported > 0 || writing))
        if (pthread_cond_timedwait(&done, &mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&mu);
}
