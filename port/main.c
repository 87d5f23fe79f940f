/*
 * main: py_port's entry point: the protocol channel, start-up, the reader
 * loop and shutdown.
 *
 * DESIGN: the main thread is the reader. It never touches Python: it reads
 * frames, decodes their envelope, answers what needs no Python (start_pool,
 * bad requests, unknown pools) and queues the rest for a pool. Replies
 * leave through the writer thread only. At end of input it stops the pools
 * and exits within a second, whatever Python is doing (a watchdog makes
 * sure of that).
 */
#include "envelope.h"
#include "frame.h"
#include "monitor.h"
#include "output.h"
#include "pool.h"
#include "protocol.h"
#include "pyrun.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SHUTDOWN_BUDGET_MS 1000
#define POOLS_SHUTDOWN_MS 700
#define MAX_PATHS 64
#define PIPE_BYTES (1024 * 1024)
#define DEFAULT_SPIN_US 50
#define MAX_SPIN_US 1000000
#define DEFAULT_MAX_QUEUE 10000
#define MAX_MAX_QUEUE 100000000

struct options {
    char *paths[MAX_PATHS];
    int n_paths;
    long spin_us;
    int monitor;    /* run under a monitor process (monitor.h) */
    long max_queue; /* requests waiting per queue */
    int forward;    /* Python's output to Erlang (output.h) */
};

static void usage(FILE *to)
{
    fputs("usage: py_port [--path DIR]... [--spin-us N] [--max-queue N] [--no-monitor]\n"
          "               [--no-forward]\n"
          "Runs CPython for the erlang_python OTP application. Speaks the protocol of\n"
          "docs/protocol.md on stdin/stdout: 4-byte big-endian length, then an Erlang\n"
          "external term.\n"
          "  --path DIR    put DIR in front of sys.path (repeatable)\n"
          "  --spin-us N   an idle context polls for work N microseconds before it\n"
          "                sleeps (default 50; 0 never polls)\n"
          "  --max-queue N requests that may wait per pool (and per context); more\n"
          "                are answered {error, {overloaded, Pool}} (default 10000)\n"
          "  --no-monitor  no parent process reporting how the port ended\n"
          "  --no-forward  leave Python's stdout and stderr on this process's stderr\n"
          "                instead of sending them to Erlang's logger\n",
          to);
}

/* Asks for a pipe buffer of PIPE_BYTES (Linux; the system's
 * fs/pipe-max-size caps it): a large frame then crosses in a few hundred
 * KB steps rather than 64 KB ones, with fewer wake-ups on each side. Not a
 * pipe, or not allowed: left as it is. */
static void widen_pipe(int fd)
{
#ifdef F_SETPIPE_SZ
    (void)fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES);
#else
    (void)fd;
#endif
}

/* Moves the protocol to new close-on-exec descriptors; points 0 at
 * /dev/null and 1 at stderr, so nothing Python prints can reach a frame. */
static int take_channel(int *in, int *out)
{
    *in = fcntl(0, F_DUPFD_CLOEXEC, 3);
    *out = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (*in < 0 || *out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
        return -errno;
    close(null);
    widen_pipe(*in);
    widen_pipe(*out);
    return 0;
}

typedef int (*fill_fn)(ei_x_buff *x, const void *arg);

/* Sends a reply to job (an event for the owner when job is NULL) whose
 * payload `fill` encodes. */
static void send_reply(struct writer *w, const struct job *job, fill_fn fill, const void *arg)
{
    ei_x_buff x;
    char *buf;
    size_t len;
    int rc = job ? envelope_reply_begin(&x, job->frame, job->env.reply_off, job->env.reply_len)
                 : envelope_reply_begin(&x, NULL, 0, 0);
    if (rc != 0 || fill(&x, arg) != 0) {
        fprintf(stderr, "py_port: out of memory\n");
        exit(PY_PORT_EXIT_PROTOCOL);
    }
    envelope_reply_finish(&x, 0, &buf, &len);
    writer_send(w, buf, len);
}

static int fill_ready(ei_x_buff *x, const void *arg)
{
    (void)arg;
    const char *v = pyrun_python_version();
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ready") ||
           ei_x_encode_map_header(x, 3) || ei_x_encode_atom(x, "python_version") ||
           ei_x_encode_binary(x, v, (long)strlen(v)) || ei_x_encode_atom(x, "os_pid") ||
           ei_x_encode_long(x, (long)getpid()) || ei_x_encode_atom(x, "protocol") ||
           ei_x_encode_long(x, PY_PORT_PROTOCOL_VERSION);
}

static int fill_start_failed(ei_x_buff *x, const void *arg)
{
    const char *why = arg;
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "start_failed") ||
           ei_x_encode_binary(x, why, (long)strlen(why));
}

/* Answers job with {error, {Tag, Detail}}. */
static void reply_error(struct writer *w, const struct job *job, const char *tag,
                        const char *detail, int detail_is_atom)
{
    char *buf;
    size_t len;
    if (envelope_reply_error(job->frame, job->env.reply_off, job->env.reply_len, tag, detail,
                             detail_is_atom, &buf, &len) != 0) {
        fprintf(stderr, "py_port: out of memory\n");
        exit(PY_PORT_EXIT_PROTOCOL);
    }
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

/* {start_pool, ReplyTo, Pool, Size} -> {ok, [CtxId]} | {error, ...} */
static void start_pool(struct pools *pools, struct writer *w, const struct job *job)
{
    static long ids[PY_PORT_MAX_POOL_SIZE];
    int n = pools_start(pools, job->env.pool, job->env.size, ids);
    if (n == -EINVAL)
        send_reply(w, job, fill_bad_size, &job->env.size);
    else if (n < 0)
        reply_error(w, job, "start_pool_failed", strerror(-n), 0);
    else
        send_reply(w, job, fill_ids, &(struct ids){ids, n});
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
        send_reply(w, job, fill_ok, NULL);
}

/* Whether job's ReplyTo is the key of the cancel request `arg`. */
static int same_reply_to(const struct job *job, const void *arg)
{
    const struct job *cancel = arg;
    return job->env.reply_len == cancel->env.key_len &&
           memcmp(job->frame + job->env.reply_off, cancel->frame + cancel->env.key_off,
                  (size_t)cancel->env.key_len) == 0;
}

/* Whether job's ReplyTo is {_, Pid} with the pid of the cancel_caller
 * request `arg` (the bytes of a term do not depend on where it is). */
static int from_caller(const struct job *job, const void *arg)
{
    const struct job *cancel = arg;
    const unsigned char *r = (const unsigned char *)job->frame + job->env.reply_off;
    int n = cancel->env.key_len;
    return job->env.reply_len > n + 2 && r[0] == ERL_SMALL_TUPLE_EXT && r[1] == 2 &&
           memcmp(r + job->env.reply_len - n, cancel->frame + cancel->env.key_off, (size_t)n) == 0;
}

static int fill_count(ei_x_buff *x, const void *arg)
{
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ok") ||
           ei_x_encode_long(x, *(const int *)arg);
}

/* {cancel, ReplyTo, Key} | {cancel_caller, ReplyTo, Pid} -> {ok, Count} */
static void cancel(struct pools *pools, struct writer *w, const struct job *job)
{
    int n = pools_cancel(pools, job->env.op == ENVELOPE_CANCEL ? same_reply_to : from_caller, job);
    send_reply(w, job, fill_count, &n);
}

/* One frame from Erlang: decode its envelope and route it. Takes frame. */
static void dispatch(struct pools *pools, struct writer *w, char *frame, size_t len)
{
    struct job *job = calloc(1, sizeof(*job));
    if (!job) {
        fprintf(stderr, "py_port: out of memory\n");
        exit(PY_PORT_EXIT_PROTOCOL);
    }
    job->frame = frame;
    job->len = len;
    int rc = envelope_decode(frame, len, &job->env);
    if (rc < 0) {
        fprintf(stderr, "py_port: untrusted frame of %zu bytes: %s\n", len, job->env.error);
        exit(PY_PORT_EXIT_PROTOCOL);
    }
    if (rc > 0) {
        reply_error(w, job, "bad_request", job->env.error, 0);
    } else if (job->env.op == ENVELOPE_START_POOL) {
        start_pool(pools, w, job);
    } else if (job->env.op == ENVELOPE_STOP_POOL) {
        stop_pool(pools, w, job);
    } else if (job->env.op == ENVELOPE_CANCEL || job->env.op == ENVELOPE_CANCEL_CALLER) {
        cancel(pools, w, job);
    } else if ((rc = pools_submit(pools, job)) == 0) {
        return; /* the pool owns the job now */
    } else if (rc == -EBUSY) {
        reply_error(w, job, "overloaded", job->env.ctx_id >= 0 ? "context" : job->env.pool, 1);
    } else if (job->env.ctx_id >= 0) {
        reply_error(w, job, "bad_request", "no context with this id", 0);
    } else {
        reply_error(w, job, "pool_not_started", job->env.pool, 1);
    }
    job_free(job);
}

/* Ends the process SHUTDOWN_BUDGET_MS after end of input, whatever runs. */
static void *watchdog(void *arg)
{
    (void)arg;
    struct timespec t = {SHUTDOWN_BUDGET_MS / 1000, (SHUTDOWN_BUDGET_MS % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
    _exit(PY_PORT_EXIT_OK);
    return NULL;
}

static int serve(int in, struct pools *pools, struct writer *w)
{
    struct frame_reader r;
    if (frame_reader_init(&r, in, PY_PORT_MAX_FRAME) != 0)
        return -ENOMEM;
    int rc;
    char *frame;
    size_t len;
    while ((rc = frame_read(&r, &frame, &len)) > 0)
        dispatch(pools, w, frame, len);
    frame_reader_destroy(&r);
    return rc;
}

/* A decimal in [0, max], or -1. */
static long parse_count(const char *text, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    return errno == 0 && end != text && *end == '\0' && v >= 0 && v <= max ? v : -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    for (int k = 1; k < argc; k++) {
        const char *value = k + 1 < argc ? argv[k + 1] : NULL;
        if (strcmp(argv[k], "--path") == 0 && value && o->n_paths < MAX_PATHS) {
            o->paths[o->n_paths++] = argv[++k];
        } else if (strcmp(argv[k], "--spin-us") == 0 && value &&
                   (o->spin_us = parse_count(value, MAX_SPIN_US)) >= 0) {
            k++;
        } else if (strcmp(argv[k], "--max-queue") == 0 && value &&
                   (o->max_queue = parse_count(value, MAX_MAX_QUEUE)) > 0) {
            k++;
        } else if (strcmp(argv[k], "--no-forward") == 0) {
            o->forward = 0;
        } else if (strcmp(argv[k], "--no-monitor") == 0) {
            o->monitor = 0;
        } else if (strcmp(argv[k], "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "py_port: bad argument '%s'\n", argv[k]);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

/* Raises the soft limit of descriptors to the hard one: every context
 * holds a wake-up pipe, and Python code opens files and sockets. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct options o = {.n_paths = 0,
                        .spin_us = DEFAULT_SPIN_US,
                        .monitor = 1,
                        .max_queue = DEFAULT_MAX_QUEUE,
                        .forward = 1};
    int in, out;
    if (parse_args(argc, argv, &o) != 0)
        return 64;
    if (o.monitor && monitor_start() < 0)
        perror("py_port: running without a monitor: fork failed");
    if (take_channel(&in, &out) != 0) {
        perror("py_port: cannot set up the protocol descriptors");
        return PY_PORT_EXIT_PROTOCOL;
    }
    ei_init();
    raise_fd_limit();
    struct writer *w = writer_start(out);
    if (!w) {
        fprintf(stderr, "py_port: cannot start the writer thread\n");
        return PY_PORT_EXIT_PROTOCOL;
    }
    int err_fd = -1;
    if (o.forward && output_start(w, &err_fd) != 0)
        fprintf(stderr, "py_port: Python's output stays on stderr: cannot forward it\n");
    char why[1024];
    if (pyrun_start(o.paths, o.n_paths, err_fd, why, sizeof(why)) != 0) {
        fprintf(stderr, "py_port: Python could not start: %s\n", why);
        send_reply(w, NULL, fill_start_failed, why);
        writer_stop(w);
        return PY_PORT_EXIT_PYTHON;
    }
    send_reply(w, NULL, fill_ready, NULL);

    struct pool_hooks hooks = {w, pyrun_ctx_start, pyrun_run, pyrun_ctx_stop, pyrun_interrupt};
    struct pools *pools = pools_new(&hooks, o.spin_us * 1000);
    if (pools)
        pools_set_max_queue(pools, (size_t)o.max_queue);
    if (!pools) {
        fprintf(stderr, "py_port: out of memory\n");
        return PY_PORT_EXIT_PROTOCOL;
    }
    int rc = serve(in, pools, w);
    if (rc == -EPROTO) {
        fprintf(stderr, "py_port: untrusted frame: length 0 or above %u bytes\n",
                PY_PORT_MAX_FRAME);
        return PY_PORT_EXIT_PROTOCOL;
    }
    if (rc < 0 && rc != -EPIPE) {
        fprintf(stderr, "py_port: reading from Erlang failed: %s\n", strerror(-rc));
        return PY_PORT_EXIT_PROTOCOL;
    }
    if (rc == -EPIPE)
        fprintf(stderr, "py_port: end of input inside a frame\n");

    pthread_t t;
    pthread_create(&t, NULL, watchdog, NULL);
    if (pools_shutdown(pools, POOLS_SHUTDOWN_MS) == 0)
        pyrun_finish();
    writer_stop(w);
    _exit(PY_PORT_EXIT_OK);
}
