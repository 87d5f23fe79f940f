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
 *
 * The same reader path serves the modes for people (docs/debugging.md):
 * --repl and --replay (repl.c) make or read request frames and hand them
 * to dispatch_frame() as serve() does; replies then go to a pipe that
 * repl.c prints from. --trace and --record hook into dispatch (trace.c,
 * record.c).
 */
#include "bigmem.h"
#include "callback.h"
#include "clock.h"
#include "convert.h"
#include "dispatch.h"
#include "envelope.h"
#include "erlmod.h"
#include "eventloop.h"
#include "flow.h"
#include "forkguard.h"
#include "frame.h"
#include "modes.h"
#include "monitor.h"
#include "output.h"
#include "pool.h"
#include "protocol.h"
#include "pyinfo.h"
#include "pyrun.h"
#include "record.h"
#include "repl.h"
#include "trace.h"
#include "venv.h"
#include "version.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SHUTDOWN_BUDGET_MS 1000
#define POOLS_SHUTDOWN_MS 700
#define TRACE_FLUSH_MS 200 /* within SHUTDOWN_BUDGET_MS, after the pools */
#define PIPE_BYTES (1024 * 1024)
#define DEFAULT_SPIN_US 50
#define MAX_SPIN_US 1000000
#define DEFAULT_MAX_QUEUE 10000
#define MAX_MAX_QUEUE 100000000
#define DEFAULT_SEND_WINDOW (64L * 1024 * 1024)
#define DEFAULT_SEND_TIMEOUT_MS 60000
#define MAX_COUNT 0x7fffffffL /* largest window, timeout or atom count */
#define CHANNEL_FD_BASE 900

struct options {
    char **paths; /* the --path directories, gathered at the front of argv */
    int n_paths;
    long spin_us;
    int monitor;        /* run under a monitor process (monitor.h) */
    long max_queue;     /* requests waiting per queue */
    int forward;        /* Python's output to Erlang (output.h) */
    int trace;          /* a line per request on stderr (trace.h) */
    const char *record; /* a copy of the request frames (record.h) */
    int repl;           /* commands typed as text (repl.h) */
    const char *replay; /* frames from a recording (repl.h) */
    const char *venv;   /* run as this virtualenv's interpreter (venv.h) */
    long send_window;   /* bytes Python may have in flight towards Erlang (flow.h) */
    long send_timeout;  /* ms erlang.send and erlang.call wait for room in it */
    long atom_cap;      /* new atoms from Python data: the node's cap (erlmod.h) */
    long atom_budget;   /* ... and what it has left for this port */
};

static void usage(FILE *to)
{
    fputs("usage: py_port [--venv DIR] [--path DIR]... [--spin-us N] [--max-queue N]\n"
          "               [--no-monitor]\n"
          "               [--no-forward] [--trace] [--record FILE] [--send-window N]\n"
          "               [--send-timeout-ms N] [--atom-cap N] [--atom-budget N]\n"
          "               [--none-atom none|nil|undefined]\n"
          "       py_port --repl [OPTION]...       commands typed as Erlang terms\n"
          "       py_port --replay FILE [OPTION]... run a recording, print the replies\n"
          "       py_port --version | --help\n"
          "Runs CPython for the erlang_python OTP application. Speaks the protocol of\n"
          "docs/protocol.md on stdin/stdout: 4-byte big-endian length, then an Erlang\n"
          "external term.\n"
          "  --venv DIR    run as the virtualenv DIR's python would (before --version\n"
          "                too); PYTHONHOME is ignored then\n"
          "  --path DIR    put DIR in front of sys.path (repeatable)\n"
          "  --spin-us N   an idle context polls for work, and the reader for the\n"
          "                next request, N microseconds before it sleeps\n"
          "                (default 50; 0 never polls)\n"
          "  --max-queue N requests that may wait per pool (and per context); more\n"
          "                are answered {error, {overloaded, Pool}} (default 10000)\n"
          "  --send-window N bytes Python may have in flight towards Erlang\n"
          "                (erlang.send, erlang.call) before it waits (default 64 MB)\n"
          "  --send-timeout-ms N  how long it waits before TimeoutError (default 60000)\n"
          "  --atom-cap N --atom-budget M  atoms Python data may create: the node's\n"
          "                cap, and what is left of it for this port (default 10000)\n"
          "  --none-atom A the atom Python's None is sent as (default none)\n"
          "  --no-monitor  no parent process reporting how the port ended\n"
          "  --no-forward  leave Python's stdout and stderr on this process's stderr\n"
          "                instead of sending them to Erlang's logger\n"
          "  --trace       a line per request on stderr: op, target, ReplyTo, sizes,\n"
          "                time from read to reply (also PY_PORT_TRACE=1)\n"
          "  --record FILE write every request frame received to FILE, as received\n"
          "  --repl        read commands such as {call, default, math, sqrt, [16]}.\n"
          "                on stdin, print each reply (type help. for the list)\n"
          "  --replay FILE send the frames of a --record FILE, print each reply\n"
          "  --version     this program's, Python's and ei's versions, libpython's\n"
          "                file and the standard library's directory\n"
          "See docs/debugging.md.\n",
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

/* Where the protocol descriptors go: far from the small numbers that
 * Python code, a C extension or a stray os.write(4, ...) would hit, and
 * not past 1024, where select() stops. */
static int channel_base(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 64)
        return 3;
    return rl.rlim_cur > 2 * CHANNEL_FD_BASE ? CHANNEL_FD_BASE : (int)(rl.rlim_cur / 2);
}

/* Moves the protocol to new close-on-exec descriptors at channel_base();
 * points 0 at /dev/null and 1 at stderr, so nothing Python prints can
 * reach a frame. A process forked later has them pointed at /dev/null
 * (forkguard.h). */
static int take_channel(int *in, int *out)
{
    int base = channel_base();
    *in = fcntl(0, F_DUPFD_CLOEXEC, base);
    *out = fcntl(1, F_DUPFD_CLOEXEC, base);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (*in < 0 || *out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
        return -errno;
    close(null);
    widen_pipe(*in);
    widen_pipe(*out);
    return forkguard_setup(*in, *out);
}

static int fill_ready(ei_x_buff *x, const void *arg)
{
    (void)arg;
    const char *v = pyrun_python_version();
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "ready") ||
           ei_x_encode_map_header(x, 5 + PYINFO_KEYS) || pyinfo_encode(x) ||
           ei_x_encode_atom(x, "free_threaded") || ei_x_encode_boolean(x, pyrun_free_threaded()) ||
           ei_x_encode_atom(x, "python_version") || ei_x_encode_binary(x, v, (long)strlen(v)) ||
           ei_x_encode_atom(x, "os_pid") || ei_x_encode_long(x, (long)getpid()) ||
           ei_x_encode_atom(x, "protocol") || ei_x_encode_long(x, PY_PORT_PROTOCOL_VERSION) ||
           ei_x_encode_atom(x, "version") ||
           ei_x_encode_binary(x, PY_PORT_VERSION, (long)strlen(PY_PORT_VERSION));
}

static int fill_start_failed(ei_x_buff *x, const void *arg)
{
    const char *why = arg;
    return ei_x_encode_tuple_header(x, 2) || ei_x_encode_atom(x, "start_failed") ||
           ei_x_encode_binary(x, why, (long)strlen(why));
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

/* Reads and dispatches frames until the input ends. The reader polls for
 * the next frame as long as an idle context does (--spin-us), from its
 * last read or the last frame written, whichever is later: a caller's next
 * request follows its reply. */
static int serve(int in, struct dispatch *d, long spin_us)
{
    struct frame_reader r;
    if (frame_reader_init(&r, in, PY_PORT_MAX_FRAME) != 0)
        return -ENOMEM;
    frame_reader_spin(&r, spin_us * 1000, writer_written(d->w));
    int rc;
    char *frame;
    size_t len;
    while ((rc = frame_read(&r, &frame, &len)) > 0)
        dispatch_frame(d, frame, len);
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

/* --send-window, --send-timeout-ms, --atom-cap, --atom-budget: 1 when
 * name is one of them and value is valid, else 0. */
static int parse_limit(const char *name, const char *value, struct options *o)
{
    static const struct {
        const char *name;
        size_t offset;
        long min;
    } limits[] = {
        {"--send-window", offsetof(struct options, send_window), 1},
        {"--send-timeout-ms", offsetof(struct options, send_timeout), 0},
        {"--atom-cap", offsetof(struct options, atom_cap), 0},
        {"--atom-budget", offsetof(struct options, atom_budget), 0},
    };
    for (size_t k = 0; value && k < sizeof(limits) / sizeof(limits[0]); k++) {
        if (strcmp(name, limits[k].name) != 0)
            continue;
        long v = parse_count(value, MAX_COUNT);
        if (v < limits[k].min)
            return 0;
        *(long *)((char *)o + limits[k].offset) = v;
        return 1;
    }
    return 0;
}

/* Any number of --path options: each directory is moved to argv[1 +
 * n_paths], a slot already read (every path takes two arguments), so
 * o->paths needs no memory of its own. */
static int parse_args(int argc, char **argv, struct options *o)
{
    o->paths = argv + 1;
    for (int k = 1; k < argc; k++) {
        const char *value = k + 1 < argc ? argv[k + 1] : NULL;
        if (strcmp(argv[k], "--path") == 0 && value) {
            o->paths[o->n_paths++] = argv[++k];
        } else if (strcmp(argv[k], "--spin-us") == 0 && value &&
                   (o->spin_us = parse_count(value, MAX_SPIN_US)) >= 0) {
            k++;
        } else if (strcmp(argv[k], "--max-queue") == 0 && value &&
                   (o->max_queue = parse_count(value, MAX_MAX_QUEUE)) > 0) {
            k++;
        } else if (parse_limit(argv[k], value, o)) {
            k++;
        } else if (strcmp(argv[k], "--no-forward") == 0) {
            o->forward = 0;
        } else if (strcmp(argv[k], "--no-monitor") == 0) {
            o->monitor = 0;
        } else if (strcmp(argv[k], "--none-atom") == 0 && value &&
                   (!strcmp(value, "none") || !strcmp(value, "nil") ||
                    !strcmp(value, "undefined"))) {
            convert_set_none_atom(argv[++k]);
        } else if (strcmp(argv[k], "--trace") == 0) {
            o->trace = 1;
        } else if (strcmp(argv[k], "--venv") == 0 && value) {
            o->venv = argv[++k];
            if (venv_use(o->venv) != 0) {
                fprintf(stderr, "py_port: --venv path too long\n");
                return -1;
            }
        } else if (strcmp(argv[k], "--record") == 0 && value) {
            o->record = argv[++k];
        } else if (strcmp(argv[k], "--replay") == 0 && value && !o->repl) {
            o->replay = argv[++k];
        } else if (strcmp(argv[k], "--repl") == 0 && !o->replay) {
            o->repl = 1;
        } else if (strcmp(argv[k], "--version") == 0) {
            version_print(stdout);
            exit(0);
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

/* Says why reading requests from `source` ended; returns the exit status
 * for a failure, or -1 to shut down normally. From Erlang, end of input
 * inside a frame is Erlang going away; from a recording (`replay`), it is
 * a truncated file. */
static int input_ended(int rc, const char *source, int replay)
{
    if (rc == -EPROTO) {
        fprintf(stderr, "py_port: untrusted frame from %s: length 0 or above %u bytes\n", source,
                PY_PORT_MAX_FRAME);
        return PY_PORT_EXIT_PROTOCOL;
    }
    if (rc < 0 && rc != -EPIPE) {
        fprintf(stderr, "py_port: reading from %s failed: %s\n", source, strerror(-rc));
        return PY_PORT_EXIT_PROTOCOL;
    }
    if (rc == -EPIPE) {
        fprintf(stderr, "py_port: end of input inside a frame from %s\n", source);
        if (replay) /* a recording cut short: say so in the status too */
            return PY_PORT_EXIT_PROTOCOL;
    }
    return -1;
}

/* A start that failed: said on stderr and, unless interactive, to Erlang
 * (the start_failed event); the process exits. */
static void start_failed(struct writer *w, int interactive, const char *why)
{
    fprintf(stderr, "py_port: Python could not start: %s\n", why);
    if (!interactive)
        dispatch_send(w, NULL, fill_start_failed, why);
    writer_stop(w);
    exit(PY_PORT_EXIT_PYTHON);
}

/* Adds to why what PYTHONHOME, when set, has to do with it: CPython looks
 * for its standard library there, and a venv or a wrong directory leaves
 * it without one ("failed to get the Python codec ..."). */
static const char *explain_home(char *why, size_t len)
{
    const char *home = getenv("PYTHONHOME");
    size_t used = strlen(why);
    if (home && used < len)
        snprintf(why + used, len - used,
                 " (PYTHONHOME=%s is set: it must be the prefix of a Python %.*s installation, "
                 "with its standard library; for a virtualenv, use the venv app env and "
                 "no PYTHONHOME)",
                 home, (int)strcspn(version_python(), " "), version_python());
    return why;
}

/* Starts CPython and the pools, tells Erlang (the ready event) unless
 * interactive. NULL after saying why on stderr. */
static struct pools *start_python(const struct options *o, struct writer *w, int interactive,
                                  struct waiters **waiters, struct flow **flow)
{
    int err_fd = -1;
    erlmod_set_atom_budget(o->atom_cap, o->atom_budget);
    if (!interactive)
        erlmod_report_atoms(w);
    if (o->forward && output_start(w, &err_fd) != 0)
        fprintf(stderr, "py_port: Python's output stays on stderr: cannot forward it\n");
    char why[2048];
    if (o->venv && venv_check(o->venv, version_python(), why, sizeof(why)) != 0)
        start_failed(w, interactive, why);
    if (pyrun_start(o->paths, o->n_paths, err_fd, why, sizeof(why)) != 0)
        start_failed(w, interactive, explain_home(why, sizeof(why)));
    if (!interactive)
        dispatch_send(w, NULL, fill_ready, NULL);
    struct pool_hooks hooks = {
        w, pyrun_ctx_start, pyrun_run, pyrun_ctx_stop, pyrun_interrupt, pyrun_task_poked};
    if (o->trace)
        trace_wrap_hooks(&hooks);
    struct pools *pools = pools_new(&hooks, o->spin_us * 1000);
    if (!pools || !(*waiters = waiters_new(pools))) {
        fprintf(stderr, "py_port: out of memory\n");
        return NULL;
    }
    pools_set_max_queue(pools, (size_t)o->max_queue);
    pyrun_use_pools(pools);
    eventloop_use(pools, w, o->trace);
    modes_init(w, o->trace);
    callback_use(*waiters, w);
    if (!interactive && !(*flow = flow_new((size_t)o->send_window))) {
        fprintf(stderr, "py_port: out of memory\n");
        return NULL;
    }
    callback_use_flow(*flow, o->send_timeout);
    return pools;
}

int main(int argc, char **argv)
{
    struct options o = {.n_paths = 0,
                        .spin_us = DEFAULT_SPIN_US,
                        .monitor = 1,
                        .max_queue = DEFAULT_MAX_QUEUE,
                        .forward = 1,
                        .send_window = DEFAULT_SEND_WINDOW,
                        .send_timeout = DEFAULT_SEND_TIMEOUT_MS,
                        .atom_cap = ERLMOD_MAX_NEW_ATOMS,
                        .atom_budget = ERLMOD_MAX_NEW_ATOMS};
    int in, out;
    bigmem_setup();
    if (parse_args(argc, argv, &o) != 0)
        return 64;
    o.trace = o.trace || trace_from_env();
    int interactive = o.repl || o.replay; /* no Erlang: text on the terminal */
    if (interactive)
        o.monitor = o.forward = 0;
    if (o.monitor && monitor_start() < 0)
        perror("py_port: running without a monitor: fork failed");
    struct dispatch d = {NULL, NULL,          o.trace,         -1, NULL, clock_now_ns(), NULL,
                         NULL, modes_kind_of, modes_ref_owner, 0};
    if (o.record && (d.record = record_open(o.record)) < 0) {
        fprintf(stderr, "py_port: cannot record to %s: %s\n", o.record, strerror(-d.record));
        return 64;
    }
    raise_fd_limit();
    if (take_channel(&in, &out) != 0) {
        perror("py_port: cannot set up the protocol descriptors");
        return PY_PORT_EXIT_PROTOCOL;
    }
    ei_init();
    struct repl *repl = NULL;
    int reply_fd = out; /* interactive: a pipe to the REPL's printing thread */
    if (interactive && !(repl = repl_start(out, &reply_fd))) {
        fprintf(stderr, "py_port: cannot start the REPL\n");
        return PY_PORT_EXIT_PROTOCOL;
    }
    if (!(d.w = writer_start(reply_fd))) {
        fprintf(stderr, "py_port: cannot start the writer thread\n");
        return PY_PORT_EXIT_PROTOCOL;
    }
    if (!(d.pools = start_python(&o, d.w, interactive, &d.waiters, &d.flow)))
        return PY_PORT_EXIT_PROTOCOL;
    d.python_version = pyrun_python_version();
    int rc = o.repl     ? repl_run(repl, &d, in)
             : o.replay ? repl_replay(repl, &d, o.replay)
                        : serve(in, &d, o.spin_us);
    if ((rc = input_ended(rc,
                          o.replay ? o.replay
                          : o.repl ? "the terminal"
                                   : "Erlang",
                          o.replay != NULL)) >= 0)
        return rc;

    pthread_t t;
    pthread_create(&t, NULL, watchdog, NULL);
    if (pools_shutdown(d.pools, POOLS_SHUTDOWN_MS) == 0 && modes_may_finalize())
        pyrun_finish();
    writer_stop(d.w);
    if (o.trace)
        trace_flush(TRACE_FLUSH_MS);
    _exit(PY_PORT_EXIT_OK);
}
