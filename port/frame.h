/*
 * frame: the 4-byte big-endian length framing of the protocol channel.
 *
 * DESIGN: a frame_reader owns one input descriptor and a buffer that takes
 * as many bytes as one read() gives, so a burst of small frames costs one
 * system call. It may poll a while before a read that would block
 * (frame_reader_spin()). A large frame is read straight into its own
 * allocation, a big one into a buffer kept for reuse (bigmem.h). Used by
 * one thread only (the reader); no locks of its own, no Python.
 */
#ifndef PY_PORT_FRAME_H
#define PY_PORT_FRAME_H

#include "spin.h"

#include <stddef.h>
#include <stdint.h>

struct frame_reader {
    int fd;
    size_t max_frame;              /* longest frame accepted */
    long spin_ns;                  /* how long a read polls before it blocks (spin.h) */
    const struct spin_mark *renew; /* renews that poll; NULL: nothing does */
    char *buf;                     /* buffered bytes not yet handed out: buf[start, end) */
    size_t cap, start, end;
};

/* Returns 0, or -ENOMEM. */
int frame_reader_init(struct frame_reader *r, int fd, size_t max_frame);

/* Makes every read that finds no bytes waiting poll the descriptor for
 * spin_ns nanoseconds (yielding between polls) before it blocks, so that a
 * frame that follows closely costs no sleep and wake-up; each
 * spin_mark(renew) meanwhile (renew may be NULL) gives the poll spin_ns
 * more. 0 (the default after init) blocks at once. */
void frame_reader_spin(struct frame_reader *r, long spin_ns, const struct spin_mark *renew);

/* Frees the buffer; safe on a zeroed or already destroyed reader. */
void frame_reader_destroy(struct frame_reader *r);

/* Zero bytes after every frame read, so that a decoder peeking at a term
 * header at the very end of a frame reads zeros, not foreign memory. */
#define FRAME_PADDING 16

/*
 * Reads the next frame. Returns 1 with *data (the caller frees it with
 * frame_free()) and *len set; 0 at end of input on a frame boundary;
 * -EPROTO for a length of 0 or above max_frame; -EPIPE for end of input
 * inside a frame; -ENOMEM; or the negated errno of a failed read().
 */
int frame_read(struct frame_reader *r, char **data, size_t *len);

/* Frees a frame of frame_read() (NULL does nothing): a big one is a
 * buffer kept for reuse (bigmem.h), which free() must never see. */
void frame_free(char *frame);

/* Writes len as the 4-byte big-endian prefix at out. */
void frame_put_length(char *out, uint32_t len);

/* Reads a 4-byte big-endian length. */
uint32_t frame_get_length(const char *in);

#endif
