/*
 * output: Python's stdout and stderr, forwarded to Erlang line by line.
 *
 * DESIGN: descriptor 1 becomes a pipe, and so does Python's sys.stderr
 * (rebound after start-up by pyrun); a thread reads both and sends each
 * batch of complete lines as the event {output, stdout | stderr, [Line]}
 * routed to the registered process py_output (its reply header is the
 * atom py_output), which logs them. A line without its newline is sent
 * after OUTPUT_FLUSH_MS of quiet, or once it reaches OUTPUT_MAX_LINE bytes.
 * Descriptor 2 stays the port's own stderr: py_port's messages and
 * Python's faulthandler (a crash report must not depend on a thread of
 * the crashing process).
 */
#ifndef PY_PORT_OUTPUT_H
#define PY_PORT_OUTPUT_H

#include "writer.h"

#define OUTPUT_MAX_LINE 8192
#define OUTPUT_FLUSH_MS 100

/*
 * Points descriptor 1 at a new pipe and starts the forwarding thread.
 * *err_fd gets the write end of the pipe for Python's sys.stderr. Returns
 * 0, or -errno (output then stays where it was).
 */
int output_start(struct writer *w, int *err_fd);

#endif
