/*
 * echo_port: the floor of the benchmark (bench/py_bench.erl). A bare port
 * program that reads {packet, 4} frames on its standard input and writes
 * each one back, unchanged, on its standard output; it exits 0 at end of
 * input.
 *
 * DESIGN: one thread, one buffer. A read() takes as many bytes as the pipe
 * holds, so a burst of small frames costs one system call. The complete
 * frames at the front of the buffer are contiguous and are echoed byte for
 * byte, so one write() sends them all back (writev() would only be needed
 * if they were not contiguous); the incomplete tail moves to the front. A
 * frame larger than the buffer grows it to the frame's size: a frame is
 * echoed only once it is whole, as a real bridge must read a request whole
 * before it can answer it. A length above 1 GiB (py_port's limit) or end
 * of input inside a frame ends the program with status 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FRAME ((size_t)1 << 30)
#define MIN_READ ((size_t)256 * 1024)

struct buffer {
    unsigned char *data; /* bytes read, not yet echoed: data[0, len) */
    size_t len, cap;
};

/* Grows the buffer to hold at least `need` bytes. Returns 0 or -ENOMEM. */
static int reserve(struct buffer *b, size_t need)
{
    if (b->cap >= need)
        return 0;
    size_t cap = b->cap ? b->cap : MIN_READ;
    while (cap < need)
        cap *= 2;
    unsigned char *data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

/*
 * Splits the buffered bytes: *done is the length of the complete frames at
 * the front, *want the length the buffer needs to complete the next frame
 * (at least its 4-byte prefix). Returns 0, or -EPROTO for a length above
 * MAX_FRAME.
 */
static int scan(const struct buffer *b, size_t *done, size_t *want)
{
    size_t at = 0;
    for (;;) {
        if (b->len - at < 4) {
            *want = at + 4;
            break;
        }
        const unsigned char *p = b->data + at;
        size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (n > MAX_FRAME)
            return -EPROTO;
        if (b->len - at < 4 + n) {
            *want = at + 4 + n;
            break;
        }
        at += 4 + n;
    }
    *done = at;
    return 0;
}

/* write() of all n bytes, retrying on EINTR and short writes. Returns 0 or
 * -errno. */
static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* Echoes every frame until end of input. Returns 0 at end of input on a
 * frame boundary, or a negative errno-style code. */
static int echo(struct buffer *b)
{
    for (;;) {
        size_t done, want;
        int rc = scan(b, &done, &want);
        if (rc < 0)
            return rc;
        if (done > 0) {
            rc = write_all(STDOUT_FILENO, b->data, done);
            if (rc < 0)
                return rc;
            memmove(b->data, b->data + done, b->len - done);
            b->len -= done;
            want -= done;
        }
        rc = reserve(b, want > b->len + MIN_READ ? want : b->len + MIN_READ);
        if (rc < 0)
            return rc;
        ssize_t got = read(STDIN_FILENO, b->data + b->len, b->cap - b->len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == 0)
            return b->len == 0 ? 0 : -EPIPE;
        b->len += (size_t)got;
    }
}

int main(void)
{
    /* The same 1 MB pipe buffers py_port asks for, so that the floor
     * moves large frames the same way (port/main.c, widen_pipe()). */
#ifdef F_SETPIPE_SZ
    (void)fcntl(STDIN_FILENO, F_SETPIPE_SZ, 1024 * 1024);
    (void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1024 * 1024);
#endif
    struct buffer b = {NULL, 0, 0};
    int rc = echo(&b);
    free(b.data);
    if (rc < 0) {
        fprintf(stderr, "echo_port: %s\n",
                rc == -EPROTO ? "frame length above 1 GiB" : strerror(-rc));
        return 2;
    }
    return 0;
}
