/*
 * pylog: Python's logging records, forwarded to Erlang's logger.
 *
 * DESIGN: pylog_setup() adds erlang._log() to the built-in module and
 * arranges for one handler on Python's root logger, added when logging is
 * first imported (start-up does not pay for the import), that calls it
 * with each record it passes:
 * erlang._log(levelno, name, module, lineno, message), the message
 * formatted as by logging.Formatter('%(message)s') (so with the exception
 * traceback and stack when the record has them). _log() encodes the event
 * {log, Levelno, Name, Module, Line, Message} (integers and UTF-8
 * binaries) routed, like output.h's events, to the registered process
 * py_output (reply header: the atom py_output), and hands it to the
 * writer with the GIL released. Which records reach the handler is
 * Python's business: the root logger's level (WARNING, Python's default,
 * until py:configure_logging/1 changes it) and the loggers' own levels.
 * A record logged while the handler of the same thread is emitting (a
 * __str__ that logs) is dropped, not forwarded in a loop. Records logged
 * before pylog_use_writer() are dropped.
 */
#ifndef PY_PORT_PYLOG_H
#define PY_PORT_PYLOG_H

#include "writer.h"

/* A message longer than this is cut, at a character boundary. */
#define PYLOG_MAX_MESSAGE (64 * 1024)

/* GIL held, after erlmod_setup(): adds erlang._log, and the handler on the
 * root logger once logging is imported (pylog.c). 0, or -1 with an
 * exception set. */
int pylog_setup(void);

/* Any thread: records go to w from now on. Setting the same writer again
 * does nothing; w must outlive Python (pyrun_finish() runs before the
 * writer stops). */
void pylog_use_writer(struct writer *w);

#endif
