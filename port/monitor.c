/*
 * monitor: the parent that waits for the Python process (see monitor.h).
 *
 * DESIGN: after fork() the parent only waits, forwards termination
 * signals to the child, and writes one event frame built with ei into a
 * stack buffer. The frame is {exited, {exit_status, N}} or
 * {exited, {signal, N, Name}}, with an empty routing header (an event,
 * docs/protocol.md).
 */
#include "monitor.h"

#include "frame.h"
#include "protocol.h"

#include <ei.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig)
{
    if (child > 0)
        kill(child, sig);
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

/* Waits for the child, reports, exits like it. */
static void monitor(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            _exit(PY_PORT_EXIT_PROTOCOL);

    char buf[128];
    int len = encode_exit(buf, sizeof(buf), status);
    if (len > 0 && write(STDOUT_FILENO, buf, (size_t)len) < 0) {
        /* Erlang closed the port already: nobody to tell. */
    }
    if (WIFSIGNALED(status))
        _exit(128 + WTERMSIG(status));
    _exit(WEXITSTATUS(status));
}

int monitor_start(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        child = pid;
        monitor(); /* does not return */
    }
    /* The child: dies with the monitor, whatever happens to it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(PY_PORT_EXIT_PROTOCOL);
    return 0;
}
