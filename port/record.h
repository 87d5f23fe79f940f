/*
 * record: a copy of the request frames the port receives (--record FILE),
 * for `py_port --replay FILE` and bug reports.
 *
 * DESIGN: the file is the protocol's request stream as it arrived: each
 * frame as <<Length:32/big, Bytes:Length/binary>>, in order, so a
 * frame_reader reads it back. Written by the reader thread only, with one
 * write per frame and no buffering, so a port that crashes leaves every
 * frame it read on disk. No Python, no locks.
 */
#ifndef PY_PORT_RECORD_H
#define PY_PORT_RECORD_H

#include <stddef.h>

/* Creates or truncates path (mode 0600). Returns a descriptor, or -errno. */
int record_open(const char *path);

/* Appends one frame with its length prefix. Returns 0 or -errno. */
int record_frame(int fd, const char *frame, size_t len);

#endif
