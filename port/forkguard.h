/*
 * forkguard: a process forked from py_port by Python code never serves
 * the protocol.
 *
 * DESIGN: os.fork() in Python code (or a C extension's fork()) copies the
 * port: its context thread returns from the call into our code, which
 * would write a second reply for the request and then take the next job
 * of a queue that no reader fills, as a stray copy of py_port that no one
 * stops. A pthread_atfork() child handler, run in every such child before
 * fork() returns there, points the protocol descriptors at /dev/null and
 * asks for SIGKILL when the thread that forked dies (PR_SET_PDEATHSIG);
 * the monitor kills the port's whole process group when the port ends
 * (monitor.h). pyrun.c asks forkguard_in_child() before it writes a reply
 * and ends the child there. fork() followed by exec() keeps working: the
 * protocol descriptors are close-on-exec anyway, and Python's subprocess
 * uses vfork(), which runs no handler. Async-signal-safe only, no Python.
 */
#ifndef PY_PORT_FORKGUARD_H
#define PY_PORT_FORKGUARD_H

/*
 * Registers the handler for the protocol descriptors in and out (main
 * thread, once, before any other thread starts). Returns 0 or -errno.
 */
int forkguard_setup(int in, int out);

/* Whether this process is a child forked after forkguard_setup(). */
int forkguard_in_child(void);

/*
 * Ends a forked child that came back into py_port's code (status 0, as a
 * Python process whose code has run to its end), without flushing or
 * running atexit handlers of the parent's copy.
 */
_Noreturn void forkguard_exit(void);

#endif
