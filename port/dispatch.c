/*
 * dispatch: one request frame, decoded and routed (see dispatch.h).
 *
 * DESIGN: runs on the reader thread (the port's main thread, or the REPL's
 * in --repl and --replay). Requests that need no Python are answered here;
 * the rest become jobs on a pool's queue. When tracing, the job carries
 * the time its frame was read, and the request is traced where it is
 * answered: here, or after the context ran it (trace.c wraps the hook).
 */
#include "dispatch.h"

#include "clock.h"
#include "envelope.h"
#include "frame.h"
#include "protocol.h"
#include "record.h"
#include "refscan.h"
#include "sentrefs.h"
#include "trace.h"
#include "version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void out_of_memory(void)
{
    fprintf(stderr, "py_port: out of memory\n");
    exit(PY_PORT_EXIT_PROTOCOL);
}

void dispatch_send(struct writer *w, const struct job *job, dispatch_fill_fn fill, const void *arg)
{
    ei_x_buff x;
    char *buf;
    size_t len;
    int rc = job ? envelope_reply_begin(&x, job->frame, job->env.reply_off, job->env.reply_len)
                 : envelope_reply_begin(&x, NULL, 0, 0);
    if (rc != 0 || fill(&x, arg) != 0)
        out_of_memory();
    envelope_reply_finish(&x, 0, &buf, &len);
    writer_send(w, buf, len);
}

/* Answers job with {error, {Tag, Detail}}. */
static void reply_error(struct writer *w, const struct job *job, const char *tag,
                        const char *detail, int detail_is_atom)
{
    char *buf;
    size_t len;
    if (envelope_reply_error(job->frame, job->env.reply_off, job->env.reply_len, tag, detail,
                             detail_is_atom, &buf, &len) != 0)
        out_of_memory();
    writer_send(w, buf, len);
}

struct ids {
    const long *ids;
    int n;
};

static int fill_ids(ei_x_buff *x, const void *arg)
{
    const struct ids *ids = arg;
    int rc = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
             ei_x_encode_list_header(x, ids->n);
    for (int k = 0; k < ids->n && rc == 0; k++)
        rc = ei_x_encode_long(x, ids->ids[k]);
    return rc || ei_x_encode_empty_list(x);
}

static int fill_bad_size(ei_x_buff *x, const void *arg)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
           ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "bad_pool_size") ||
           ei_x_encode_long(x, *(const long *)arg);
}

static int fill_ok(ei_x_buff *x, const void *arg)
{
    (void)arg;
    return ei_x_encode_atom(x, "ok");
}

static int fill_pong(ei_x_buff *x, const void *arg)
{
    (void)arg;
    return ei_x_encode_atom(x, "pong");
}

struct mode_error {
    const char *tag, *mode, *why; /* why: NULL for {Tag, Mode} */
};

/* {error, {unsupported_mode, Mode, Why}} | {error, {invalid_mode, Mode}} */
static int fill_mode_error(ei_x_buff *x, const void *arg)
{
    const struct mode_error *e = arg;
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "error") ||
           ei_x_encode_tuple_header(x, e->why ? 3 : 2) || ei_x_encode_atom(x, e->tag) ||
           ei_x_encode_atom(x, e->mode) ||
           (e->why && ei_x_encode_binary(x, e->why, (long)strlen(e->why)));
}

/* The kind of context job's Mode names; answers job and returns -1 when
 * there is none to start. */
static int kind_for(const struct dispatch *d, const struct job *job,
                    const struct context_kind **kind)
{
    const char *why = NULL;
    int rc = 0;
    *kind = NULL;
    if (d->kind_of)
        rc = d->kind_of(job->env.mode, kind, &why);
    else if (strcmp(job->env.mode, "worker") != 0)
        rc = -EINVAL;
    if (rc == 0)
        return 0;
    struct mode_error e = {rc == -ENOTSUP ? "unsupported_mode" : "invalid_mode", job->env.mode,
                           rc == -ENOTSUP ? why : NULL};
    dispatch_send(d->w, job, fill_mode_error, &e);
    return -1;
}

/* {start_pool, ReplyTo, Pool, Size, Mode} -> {ok, [CtxId]} | {error, ...} */
static void start_pool(struct dispatch *d, const struct job *job)
{
    static long ids[PY_PORT_MAX_POOL_SIZE];
    struct writer *w = d->w;
    const struct context_kind *kind;
    if (kind_for(d, job, &kind) != 0)
        return;
    int n = pools_start_kind(d->pools, job->env.pool, job->env.size, kind, ids);
    if (n == -EINVAL)
        dispatch_send(w, job, fill_bad_size, &job->env.size);
    else if (n < 0)
        reply_error(w, job, "start_pool_failed", strerror(-n), 0);
    else {
        d->other_kinds |= kind != NULL;
        dispatch_send(w, job, fill_ids, &(struct ids){ids, n});
    }
}

struct stopped {
    struct writer *w;
    const char *pool;
};

/* pool_answer_fn: {error, {pool_stopped, Pool}} to a job of a stopped pool. */
static void answer_pool_stopped(void *arg, struct job *job)
{
    const struct stopped *st = arg;
    reply_error(st->w, job, "pool_stopped", st->pool, 1);
}

/* {stop_pool, ReplyTo, Pool} -> ok | {error, {pool_not_started, Pool}} */
static void stop_pool(struct pools *pools, struct writer *w, const struct job *job)
{
    struct stopped st = {w, job->env.pool};
    if (pools_stop(pools, job->env.pool, answer_pool_stopped, &st) != 0)
        reply_error(w, job, "pool_not_started", job->env.pool, 1);
    else
        dispatch_send(w, job, fill_ok, NULL);
}

/* Whether the ReplyTo reply_to[0, len) is the key of the cancel request
 * `arg`. */
static int is_key(const char *reply_to, int len, const void *arg)
{
    const struct job *cancel = arg;
    return len == cancel->env.key_len &&
           memcmp(reply_to, cancel->frame + cancel->env.key_off, (size_t)len) == 0;
}

/* Whether the ReplyTo reply_to[0, len) is {_, Pid} with the pid of the
 * cancel_caller request `arg` (the bytes of a term do not depend on where
 * it is). */
static int is_callers(const char *reply_to, int len, const void *arg)
{
    const struct job *cancel = arg;
    const unsigned char *r = (const unsigned char *)reply_to;
    int n = cancel->env.key_len;
    return len > n + 2 && r[0] == ERL_SMALL_TUPLE_EXT && r[1] == 2 &&
           memcmp(r + len - n, cancel->frame + cancel->env.key_off, (size_t)n) == 0;
}

static int same_reply_to(const struct job *job, const void *arg)
{
    return is_key(job->frame + job->env.reply_off, job->env.reply_len, arg);
}

static int from_caller(const struct job *job, const void *arg)
{
    return is_callers(job->frame + job->env.reply_off, job->env.reply_len, arg);
}

static int fill_count(ei_x_buff *x, const void *arg)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
           ei_x_encode_long(x, *(const int *)arg);
}

/* {cancel, ReplyTo, Key} | {cancel_caller, ReplyTo, Pid} -> {ok, Count}.
 * A reply already written to the key (or pid) is dropped by Erlang: the
 * objects it holds are released too (sentrefs.h); Count does not include
 * it. */
static void cancel(struct pools *pools, struct writer *w, const struct job *job)
{
    int by_key = job->env.op == ENVELOPE_CANCEL;
    int n = by_key ? pools_cancel(pools, same_reply_to, job, POOL_CANCEL_TIMEOUT)
                   : pools_cancel(pools, from_caller, job, POOL_CANCEL_CALLER_EXIT);
    sentrefs_cancel(by_key ? is_key : is_callers, job);
    if (!envelope_is_cast(job->frame, &job->env)) /* a cast gets errors only */
        dispatch_send(w, job, fill_count, &n);
}

/* {interrupt, ReplyTo, Target} -> {ok, Count}: the running requests of
 * Target raise erlang.Cancelled, and their callers get that error. */
static void interrupt(struct pools *pools, struct writer *w, const struct job *job)
{
    int n = pools_interrupt(pools, job->env.pool, job->env.ctx_id);
    if (n == -ESRCH && job->env.ctx_id >= 0)
        reply_error(w, job, "bad_request", "no context with this id", 0);
    else if (n == -ESRCH)
        reply_error(w, job, "pool_not_started", job->env.pool, 1);
    else if (!envelope_is_cast(job->frame, &job->env))
        dispatch_send(w, job, fill_count, &n);
}

/* pools_poke() for {stream_credit, ReplyTo, N}: the stream of ReplyTo. */
static int same_stream(const struct job *job, const void *arg)
{
    return job->env.op == ENVELOPE_STREAM_START && same_reply_to(job, arg);
}

static void add_credit(struct job *job, const void *arg)
{
    const struct job *credit = arg;
    atomic_fetch_add(&job->credit, credit->env.count);
}

/* Resident memory of this process in bytes, or -1. */
static long long rss_bytes(void)
{
    long long pages = -1, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%lld %lld", &pages, &resident) != 2)
        resident = -1;
    if (f)
        fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

struct stats {
    const struct dispatch *d;
    struct pool_stats *pools;
    int n;
};

static int fill_pool_stats(ei_x_buff *x, const struct pool_stats *st)
{
    return ei_x_encode_atom(x, st->name) || ei_x_encode_map_header(x, 11) ||
           ei_x_encode_atom(x, "mode") || ei_x_encode_atom(x, st->mode) ||
           ei_x_encode_atom(x, "size") || ei_x_encode_long(x, st->size) ||
           ei_x_encode_atom(x, "busy") || ei_x_encode_long(x, st->busy) ||
           ei_x_encode_atom(x, "queued") || ei_x_encode_long(x, st->queued) ||
           ei_x_encode_atom(x, "tasks") || ei_x_encode_long(x, st->tasks) ||
           ei_x_encode_atom(x, "completed") || ei_x_encode_ulonglong(x, st->completed) ||
           ei_x_encode_atom(x, "errors") || ei_x_encode_ulonglong(x, st->errors) ||
           ei_x_encode_atom(x, "timeouts") || ei_x_encode_ulonglong(x, st->timeouts) ||
           ei_x_encode_atom(x, "cancelled") || ei_x_encode_ulonglong(x, st->cancelled) ||
           ei_x_encode_atom(x, "p50_us") || ei_x_encode_longlong(x, st->p50_us) ||
           ei_x_encode_atom(x, "p99_us") || ei_x_encode_longlong(x, st->p99_us);
}

/* {ok, #{pools => #{Pool => #{...}}, os_pid, memory, uptime_ms,
 * python_version, version}} */
static int fill_stats(ei_x_buff *x, const void *arg)
{
    const struct stats *s = arg;
    const char *py = s->d->python_version ? s->d->python_version : "";
    int rc = ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
             ei_x_encode_map_header(x, 6) || ei_x_encode_atom(x, "pools") ||
             ei_x_encode_map_header(x, s->n);
    for (int k = 0; k < s->n && rc == 0; k++)
        rc = fill_pool_stats(x, &s->pools[k]);
    return rc || ei_x_encode_atom(x, "os_pid") || ei_x_encode_long(x, (long)getpid()) ||
           ei_x_encode_atom(x, "memory") || ei_x_encode_longlong(x, rss_bytes()) ||
           ei_x_encode_atom(x, "uptime_ms") ||
           ei_x_encode_longlong(x, (clock_now_ns() - s->d->started_ns) / 1000000) ||
           ei_x_encode_atom(x, "python_version") || ei_x_encode_binary(x, py, (long)strlen(py)) ||
           ei_x_encode_atom(x, "version") ||
           ei_x_encode_binary(x, PY_PORT_VERSION, (long)strlen(PY_PORT_VERSION));
}

/* {stats, ReplyTo} -> {ok, Stats} */
static void stats(const struct dispatch *d, const struct job *job)
{
    static struct pool_stats pools[256];
    struct stats s = {d, pools, pools_stats(d->pools, pools, 256)};
    dispatch_send(d->w, job, fill_stats, &s);
}

/* {callback_result, CbId, Result}: the frame goes to the thread that
 * waits for it (waiters.h); a late answer (its request was cancelled) is
 * dropped. */
static void callback_result(struct dispatch *d, struct job *job)
{
    if (d->trace)
        trace_job(job, "reader");
    if (d->waiters)
        waiters_deliver(d->waiters, job->env.count, job->frame, job->len, job->env.body_off);
    else
        frame_free(job->frame);
    job->frame = NULL;
    job_free(job);
}

/* A request to a pool that carries a reference of an owngil context (the
 * first one found) goes to that context, in its __main__ (as {nested,
 * Id}): the object lives in that context's interpreter only. */
static void route_to_owner(const struct dispatch *d, struct job *job)
{
    enum envelope_op op = job->env.op;
    unsigned long long nonce;
    int i = job->env.body_off;
    if (!d->ref_owner || !d->other_kinds || job->env.ctx_id >= 0 || op == ENVELOPE_EXEC)
        return;
    int found = op == ENVELOPE_RELEASE
                    ? ei_decode_ulonglong(job->frame, &i, &nonce) == 0 && (size_t)i <= job->len
                    : refscan_first(job->frame, job->len, i, &nonce);
    long owner = found ? d->ref_owner(nonce) : -1;
    if (owner >= 0) {
        job->env.ctx_id = owner;
        job->env.nested = 1;
    }
}

/* Copies the frame to the recording, if any; stops recording on failure. */
static void record(struct dispatch *d, const char *frame, size_t len)
{
    int rc = record_frame(d->record, frame, len);
    if (rc != 0) {
        fprintf(stderr, "py_port: recording stopped: %s\n", strerror(-rc));
        d->record = -1;
    }
}

void dispatch_frame(struct dispatch *d, char *frame, size_t len)
{
    struct writer *w = d->w;
    if (d->record >= 0)
        record(d, frame, len);
    struct job *job = calloc(1, sizeof(*job));
    if (!job)
        out_of_memory();
    job->frame = frame;
    job->len = len;
    if (d->trace)
        job->t_read_ns = clock_now_ns();
    int rc = envelope_decode(frame, len, &job->env);
    if (rc < 0) {
        fprintf(stderr, "py_port: untrusted frame of %zu bytes: %s\n", len, job->env.error);
        exit(PY_PORT_EXIT_PROTOCOL);
    }
    if (rc > 0) {
        reply_error(w, job, "bad_request", job->env.error, 0);
    } else if (job->env.op == ENVELOPE_START_POOL) {
        start_pool(d, job);
    } else if (job->env.op == ENVELOPE_STOP_POOL) {
        stop_pool(d->pools, w, job);
    } else if (job->env.op == ENVELOPE_CANCEL || job->env.op == ENVELOPE_CANCEL_CALLER) {
        cancel(d->pools, w, job);
    } else if (job->env.op == ENVELOPE_STATS) {
        stats(d, job);
    } else if (job->env.op == ENVELOPE_INTERRUPT) {
        interrupt(d->pools, w, job);
    } else if (job->env.op == ENVELOPE_PING) {
        dispatch_send(w, job, fill_pong, NULL); /* the owner's liveness check */
    } else if (job->env.op == ENVELOPE_STREAM_CREDIT) {
        pools_poke(d->pools, same_stream, add_credit, job); /* a finished stream: dropped */
    } else if (job->env.op == ENVELOPE_SEND_CREDIT) {
        if (d->flow) /* erlang.send messages that left their target's mailbox */
            flow_release(d->flow, (size_t)job->env.count);
    } else if (job->env.op == ENVELOPE_CALLBACK_RESULT) {
        callback_result(d, job);
        return;
    } else if (route_to_owner(d, job), (rc = pools_submit(d->pools, job)) == 0) {
        return; /* the pool owns the job now; trace.c traces it once run */
    } else if (rc == -ECANCELED) {
        reply_error(w, job, "pool_stopped", job->env.pool, 1);
    } else if (rc == -EBUSY) {
        reply_error(w, job, "overloaded", job->env.ctx_id >= 0 ? "context" : job->env.pool, 1);
    } else if (job->env.ctx_id >= 0) {
        reply_error(w, job, "bad_request", "no context with this id", 0);
    } else {
        reply_error(w, job, "pool_not_started", job->env.pool, 1);
    }
    if (d->trace)
        trace_job(job, rc > 0 ? "reader, bad_request" : "reader");
    job_free(job);
}
