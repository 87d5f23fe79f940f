/*
 * output: the thread that turns Python's output into events (output.h).
 *
 * DESIGN: one thread polls the two read ends; each stream has a buffer of
 * at most OUTPUT_MAX_LINE bytes of the line being written. Every read is
 * cut into lines and the complete ones of that read leave in one frame,
 * so a flood costs a frame per pipe read, not per line. The thread never
 * touches Python; it ends when both pipes reach end of file.
 */
#include "output.h"

#include "envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct stream {
    const char *name;
    int fd;
    char line[OUTPUT_MAX_LINE];
    size_t len;
};

struct output {
    struct writer *w;
    struct stream streams[2];
};

static const char ROUTE[] = "py_output";

/* Sends {output, Stream, Lines}: the complete lines in data[0, n) after
 * the pending part of s, which keeps what follows the last newline. */
static void send_lines(struct writer *w, struct stream *s, const char *data, size_t n, int flush)
{
    ei_x_buff route, x;
    if (ei_x_new(&route) || ei_x_encode_atom(&route, ROUTE))
        return;
    int rc = envelope_reply_begin(&x, route.buff, 0, route.index);
    ei_x_free(&route);
    if (rc != 0)
        return;
    int count = 0;
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "output");
    ei_x_encode_atom(&x, s->name);
    for (size_t k = 0; k < n; k++) {
        int full = s->len == sizeof(s->line);
        if (data[k] != '\n' && !full) {
            s->line[s->len++] = data[k];
            continue;
        }
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_binary(&x, s->line, (long)s->len);
        count++;
        s->len = 0;
        if (full && data[k] != '\n')
            s->line[s->len++] = data[k];
    }
    if (flush && s->len > 0) {
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_binary(&x, s->line, (long)s->len);
        count++;
        s->len = 0;
    }
    ei_x_encode_empty_list(&x);
    char *buf;
    size_t len;
    envelope_reply_finish(&x, 0, &buf, &len);
    if (count > 0)
        writer_send(w, buf, len);
    else
        free(buf);
}

static void *forward(void *arg)
{
    struct output *o = arg;
    char chunk[65536];
    int open_streams = 2;
    while (open_streams > 0) {
        struct pollfd fds[2] = {{o->streams[0].fd, POLLIN, 0}, {o->streams[1].fd, POLLIN, 0}};
        int ready = poll(fds, 2, OUTPUT_FLUSH_MS);
        for (int k = 0; k < 2; k++) {
            struct stream *s = &o->streams[k];
            if (ready == 0 && s->len > 0) /* quiet: send the partial line */
                send_lines(o->w, s, "", 0, 1);
            if (ready <= 0 || !(fds[k].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t got = read(s->fd, chunk, sizeof(chunk));
            if (got > 0) {
                send_lines(o->w, s, chunk, (size_t)got, 0);
            } else if (got == 0 || errno != EINTR) {
                send_lines(o->w, s, "", 0, 1);
                close(s->fd);
                s->fd = -1; /* poll ignores it from now on */
                open_streams--;
            }
        }
    }
    free(o);
    return NULL;
}

int output_start(struct writer *w, int *err_fd)
{
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return -errno;
    if (pipe2(err, O_CLOEXEC) != 0) {
        int e = errno;
        close(out[0]);
        close(out[1]);
        return -e;
    }
    struct output *o = calloc(1, sizeof(*o));
    pthread_t t;
    if (!o || dup2(out[1], 1) < 0) {
        free(o);
        return -ENOMEM;
    }
    close(out[1]);
    o->w = w;
    o->streams[0].name = "stdout";
    o->streams[0].fd = out[0];
    o->streams[1].name = "stderr";
    o->streams[1].fd = err[0];
    if (pthread_create(&t, NULL, forward, o) != 0)
        return -EAGAIN;
    pthread_detach(t);
    *err_fd = err[1];
    return 0;
}
