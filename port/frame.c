/*
 * frame: reading {packet, 4} frames from a descriptor.
 *
 * DESIGN: buffered reads for small frames (many per read()), direct reads
 * into the frame's own allocation for the part of a large frame that is not
 * buffered yet. A buffered read may first poll for input (spin_ns): the
 * reader then stays awake through a burst of requests instead of sleeping
 * and being woken for every frame. Single-threaded: the reader thread owns
 * its frame_reader.
 */
#include "frame.h"

#include "bigmem.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BUF_SIZE (256 * 1024)

int frame_reader_init(struct frame_reader *r, int fd, size_t max_frame)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max_frame = max_frame;
    r->cap = READ_BUF_SIZE;
    r->buf = malloc(r->cap);
    return r->buf ? 0 : -ENOMEM;
}

void frame_reader_spin(struct frame_reader *r, long spin_ns, const struct spin_mark *renew)
{
    r->spin_ns = spin_ns;
    r->renew = renew;
}

void frame_reader_destroy(struct frame_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

void frame_put_length(char *out, uint32_t len)
{
    unsigned char *p = (unsigned char *)out;
    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
}

uint32_t frame_get_length(const char *in)
{
    const unsigned char *p = (const unsigned char *)in;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* read() that retries on EINTR: bytes read, 0 at end of input, -errno. */
static ssize_t read_some(int fd, char *to, size_t n)
{
    for (;;) {
        ssize_t got = read(fd, to, n);
        if (got >= 0)
            return got;
        if (errno != EINTR)
            return -errno;
    }
}

static int readable(void *fd)
{
    struct pollfd p = {.fd = *(int *)fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

/* Makes at least `want` bytes available in the buffer. Returns 1, 0 at end
 * of input with nothing buffered, -EPIPE at end of input with a partial
 * frame buffered, or -errno. */
static int fill(struct frame_reader *r, size_t want)
{
    if (r->start == r->end)
        r->start = r->end = 0;
    if (r->start > 0 && r->cap - r->start < want) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    while (r->end - r->start < want) {
        spin_until_renewed(readable, &r->fd, r->spin_ns, r->renew);
        ssize_t got = read_some(r->fd, r->buf + r->end, r->cap - r->end);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return r->end == r->start ? 0 : -EPIPE;
        r->end += (size_t)got;
    }
    return 1;
}

/* Reads exactly n bytes into `to`, unbuffered. */
static int read_exact(int fd, char *to, size_t n)
{
    while (n > 0) {
        ssize_t got = read_some(fd, to, n);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return -EPIPE;
        to += got;
        n -= (size_t)got;
    }
    return 0;
}

void frame_free(char *frame)
{
    bigmem_free(frame);
}

int frame_read(struct frame_reader *r, char **data, size_t *len)
{
    int rc = fill(r, 4);
    if (rc <= 0)
        return rc;
    size_t n = frame_get_length(r->buf + r->start);
    if (n == 0 || n > r->max_frame)
        return -EPROTO;
    r->start += 4;

    char *frame = bigmem_alloc(n + FRAME_PADDING);
    if (!frame)
        return -ENOMEM;
    memset(frame + n, 0, FRAME_PADDING);
    size_t buffered = r->end - r->start;
    if (buffered >= n || n <= r->cap / 2) {
        rc = fill(r, n);
        if (rc <= 0) {
            frame_free(frame);
            return rc == 0 ? -EPIPE : rc;
        }
        memcpy(frame, r->buf + r->start, n);
        r->start += n;
    } else {
        memcpy(frame, r->buf + r->start, buffered);
        r->start = r->end = 0;
        rc = read_exact(r->fd, frame + buffered, n - buffered);
        if (rc < 0) {
            frame_free(frame);
            return rc;
        }
    }
    *data = frame;
    *len = n;
    return 1;
}
