/*
 * monitor: the parent that waits for the Python process (see monitor.h).
 *
 * DESIGN: after fork() the parent only waits, forwards termination
 * signals to the child, and writes one event frame built with ei into a
 * stack buffer. The frame is {exited, {exit_status, N}} or
 * {exited, {signal, N, Name}}, with an empty routing header (an event,
 * docs/protocol.md).
 *
 * While it waits it also watches its own end of the protocol channel:
 * when Erlang is gone (the port closed, or the node halted) the pipe
 * reports an error, and the child, which may be stopped (SIGSTOP) or stuck
 * in start-up and so never read its end of input, gets HANGUP_GRACE_MS to
 * exit on its own before it is killed. The child leads a process group of
 * its own, so the processes Python forked or started die with it.
 * SIGCHLD is blocked except inside ppoll(), so an exit is never missed
 * between the check and the wait.
 *
 * After its report the monitor holds both ends of the channel open until
 * Erlang closes the port (at most REPORT_LINGER_MS): a request written
 * meanwhile lands in the pipe. Were the monitor gone, that write would
 * fail with EPIPE, and Erlang would close the port on it before reading
 * the report: callers would learn `epipe`, not how Python ended.
 */
#include "monitor.h"

#include "frame.h"
#include "protocol.h"

#include <ei.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Longer than the port's own shutdown budget after end of input (main.c). */
#define HANGUP_GRACE_MS 2000
/* How long the report waits for Erlang to close the port. */
#define REPORT_LINGER_MS 1000

static volatile pid_t child;

static void forward(int sig)
{
    if (child > 0)
        kill(child, sig);
}

/* Only there so that SIGCHLD interrupts ppoll(). */
static void on_child(int sig)
{
    (void)sig;
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "sigsegv";
    case SIGABRT:
        return "sigabrt";
    case SIGKILL:
        return "sigkill";
    case SIGBUS:
        return "sigbus";
    case SIGFPE:
        return "sigfpe";
    case SIGILL:
        return "sigill";
    case SIGTERM:
        return "sigterm";
    case SIGINT:
        return "sigint";
    case SIGHUP:
        return "sighup";
    default:
        return "signal";
    }
}

/* Encodes the event into buf; its length, or -1. */
static int encode_exit(char *buf, int size, int status)
{
    int i = PY_PORT_FRAME_HDR + PY_PORT_REPLY_HDR;
    if (size < i + 64)
        return -1;
    memset(buf, 0, (size_t)i);
    int rc = ei_encode_version(buf, &i) || ei_encode_tuple_header(buf, &i, 2) ||
             ei_encode_atom(buf, &i, "exited");
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        rc = rc || ei_encode_tuple_header(buf, &i, 3) || ei_encode_atom(buf, &i, "signal") ||
             ei_encode_long(buf, &i, sig) || ei_encode_atom(buf, &i, signal_name(sig));
    } else {
        rc = rc || ei_encode_tuple_header(buf, &i, 2) || ei_encode_atom(buf, &i, "exit_status") ||
             ei_encode_long(buf, &i, WEXITSTATUS(status));
    }
    if (rc)
        return -1;
    frame_put_length(buf, (uint32_t)(i - PY_PORT_FRAME_HDR));
    return i;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Kills the child and every process of its group (stopped ones too). */
static void kill_all(void)
{
    kill(-child, SIGKILL);
    kill(child, SIGKILL);
}

static void install_handlers(sigset_t *unblocked)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, unblocked);
}

/* Waits until the child has exited, without reaping it (its pid, and so
 * its group, stay valid for kill_all()). Kills it HANGUP_GRACE_MS after
 * the channel to Erlang reports an error. */
static void await_child(void)
{
    sigset_t unblocked;
    install_handlers(&unblocked);
    struct pollfd channel = {.fd = STDOUT_FILENO, .events = 0};
    long long kill_at = -1;
    siginfo_t info;
    for (;;) {
        memset(&info, 0, sizeof(info));
        if (waitid(P_PID, (id_t)child, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno != EINTR)
            _exit(PY_PORT_EXIT_PROTOCOL);
        if (info.si_pid == child)
            return;
        long long left = kill_at < 0 ? -1 : kill_at - now_ms();
        if (kill_at >= 0 && left <= 0) {
            kill_all();
            left = 100; /* and wait for the exit */
        }
        struct timespec t = {left / 1000, (left % 1000) * 1000000L};
        int n = ppoll(&channel, channel.fd < 0 ? 0 : 1, left < 0 ? NULL : &t, &unblocked);
        if (n > 0 && (channel.revents & (POLLERR | POLLHUP))) {
            channel.fd = -1; /* reported once; poll it no more */
            kill_at = now_ms() + HANGUP_GRACE_MS;
        }
    }
}

/* Returns once Erlang has closed its end of the channel (the pipe reports
 * an error), or after REPORT_LINGER_MS. */
static void linger(void)
{
    struct pollfd channel = {.fd = STDOUT_FILENO, .events = 0};
    long long until = now_ms() + REPORT_LINGER_MS;
    for (long long left; (left = until - now_ms()) > 0;) {
        int n = poll(&channel, 1, (int)left);
        if (n > 0 || (n < 0 && errno != EINTR))
            return;
    }
}

/* Waits for the child, reports, exits like it. */
static void monitor(void)
{
    await_child();
    kill(-child, SIGKILL); /* what Python forked or started, if left */
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            _exit(PY_PORT_EXIT_PROTOCOL);
    child = 0; /* reaped: its pid may be another process's from now on */

    char buf[128];
    int len = encode_exit(buf, sizeof(buf), status);
    if (len > 0 && write(STDOUT_FILENO, buf, (size_t)len) == len)
        linger(); /* else Erlang closed the port already: nobody to tell */
    if (WIFSIGNALED(status))
        _exit(128 + WTERMSIG(status));
    _exit(WEXITSTATUS(status));
}

int monitor_start(void)
{
    pid_t parent = getpid();
    int own_group = !isatty(STDIN_FILENO); /* a terminal keeps job control */
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        child = pid;
        if (own_group)
            setpgid(pid, pid); /* also done by the child: whoever runs first */
        monitor();             /* does not return */
    }
    /* The child: dies with the monitor, whatever happens to it. */
    if (own_group)
        setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(PY_PORT_EXIT_PROTOCOL);
    return 0;
}
