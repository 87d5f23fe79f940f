/*
 * repl: py_port without Erlang, for a person at a terminal: --repl reads
 * commands typed as Erlang terms, --replay runs a --record file.
 *
 * DESIGN: both feed request frames to dispatch_frame(), the port's own
 * dispatch, from the main thread (the reader's place). The writer writes
 * reply frames into a pipe, as it would to Erlang; a printing thread reads
 * them back with frame_read() and prints each payload as Erlang text, one
 * line each. The main thread waits for the reply to a request before it
 * sends the next, so replies come out in order. Lock: one mutex around
 * the count of replies printed. No Python.
 */
#ifndef PY_PORT_REPL_H
#define PY_PORT_REPL_H

#include "dispatch.h"

struct repl;

/*
 * Makes the pipe the writer is to write to (*writer_fd gets its write end)
 * and starts the printing thread, which prints on out_fd. NULL on failure.
 * Lives until the process exits.
 */
struct repl *repl_start(int out_fd, int *writer_fd);

/*
 * Starts pool default (one context), then reads commands from in_fd until
 * q. or end of input, prompting when in_fd is a terminal. Each request is
 * printed its reply before the next is read; a mistake in the text is
 * explained on out_fd ("* ...") and reading goes on. Returns 0, or -errno
 * when reading in_fd fails.
 */
int repl_run(struct repl *r, struct dispatch *d, int in_fd);

/*
 * Sends the frames of a recording (record.h) in order, printing each
 * request ("% " then the term) and its reply. Returns 0, -errno when the
 * file cannot be opened or read, -EPROTO for a frame length of 0 or
 * above PY_PORT_MAX_FRAME, -EPIPE when the file ends inside a frame.
 */
int repl_replay(struct repl *r, struct dispatch *d, const char *path);

#endif
