/*
 * writer: the one place that writes the protocol descriptor.
 *
 * DESIGN: any thread hands a complete frame (length prefix included) to
 * writer_send(). If nobody is writing, the frame is written at once by the
 * calling thread; otherwise it is queued, and the writer thread takes every
 * frame queued so far and writes them with one writev() where it can, so
 * replies that are ready together leave together. One frame is written at
 * a time, whole. Lock: one mutex around the pending list, never
 * held while writing and never while holding the GIL is required.
 */
#ifndef PY_PORT_WRITER_H
#define PY_PORT_WRITER_H

#include "spin.h"

#include <stddef.h>
#include <sys/uio.h>

struct writer;

/* Starts the writer thread on fd. NULL on failure. */
struct writer *writer_start(int fd);

/* Marked each time a frame has been written: most frames are answered
 * soon (a reply by its caller's next request, a callback by its result),
 * so the reader's poll for input is renewed by it. */
const struct spin_mark *writer_written(const struct writer *w);

/*
 * Queues one frame; the writer takes ownership of buf (malloc'd) and frees
 * it once written. Returns 0, or -ENOMEM (buf is freed then too). A failed
 * write ends the process with PY_PORT_EXIT_PROTOCOL: the peer is gone.
 */
int writer_send(struct writer *w, char *buf, size_t len);

/*
 * Queues one frame for the writer thread, like writer_send(), but never
 * writes from the calling thread: it only takes the list's lock, so a
 * thread holding the GIL may call it. The frame leaves before any frame
 * handed over after it.
 */
int writer_queue(struct writer *w, char *buf, size_t len);

/*
 * Writes one frame made of n pieces (length prefix included) from the
 * calling thread, once nobody else is writing, and returns when it is
 * written: the caller keeps the memory, which may belong to Python objects
 * it holds (no GIL needed to read immutable bytes). For large replies,
 * which are then written without being copied into one buffer.
 */
void writer_send_iov(struct writer *w, struct iovec *iov, int n);

/* Writes iov[0, n) completely to fd, following partial writes and EINTR,
 * from the calling thread. 0 or -errno. For descriptors other than the
 * protocol's (which only a writer writes). */
int writer_write_all(int fd, struct iovec *iov, int n);

/* Writes what is queued, stops the thread and frees w. NULL-safe. */
void writer_stop(struct writer *w);

#endif
