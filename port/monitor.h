/*
 * monitor: a small parent process that outlives the Python process and
 * reports how it ended.
 *
 * DESIGN: py_port forks before anything else. The child goes on as the
 * port (Python, threads, the protocol on duplicated descriptors); the
 * parent keeps the original descriptors, waits for the child and, when it
 * ends (a crash, os._exit(), kill -9, the OOM killer), writes the event
 * {exited, How} on the protocol channel and exits with the child's status.
 * So Erlang learns the exit status or the signal even when its own next
 * write to a dead port would otherwise have closed the port first
 * (epipe), and never talks to a half-dead process. The child dies with the
 * parent (PR_SET_PDEATHSIG). No threads, no Python, no allocation in the
 * parent after the fork.
 */
#ifndef PY_PORT_MONITOR_H
#define PY_PORT_MONITOR_H

/*
 * Forks. Returns 0 in the child, which carries on as py_port; does not
 * return in the parent. Returns -errno if the fork failed (py_port then
 * runs without a monitor).
 */
int monitor_start(void);

#endif
