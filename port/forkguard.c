/*
 * forkguard: the child side of fork() in py_port (see forkguard.h).
 *
 * DESIGN: two descriptor numbers and a flag, written once before any
 * thread starts and read by the child handler, which runs alone in the new
 * process and may only make async-signal-safe calls.
 */
#include "forkguard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

static int protocol_in = -1, protocol_out = -1;
static volatile sig_atomic_t forked;

/* Points fd at /dev/null, keeping its number and close-on-exec. */
static void silence(int fd, int null)
{
    if (fd >= 0)
        (void)dup3(null, fd, O_CLOEXEC);
}

static void in_child(void)
{
    forked = 1;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        silence(protocol_in, null);
        silence(protocol_out, null);
        close(null);
    } else {
        close(protocol_in);
        close(protocol_out);
    }
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
}

int forkguard_setup(int in, int out)
{
    protocol_in = in;
    protocol_out = out;
    int rc = pthread_atfork(NULL, NULL, in_child);
    return rc == 0 ? 0 : -rc;
}

int forkguard_in_child(void)
{
    return forked;
}

void forkguard_exit(void)
{
    _exit(0);
}
