/*
 * writer: a thread that drains a list of frames into the protocol fd.
 *
 * DESIGN: one frame is written at a time by whoever holds the `writing`
 * flag (under `mu`). A producer that finds nobody writing and nothing
 * queued writes its frame itself, saving the wake-up of another thread on
 * the path of every reply. Otherwise it appends the frame to the pending
 * list; the writer thread swaps the whole list out and writes it in
 * writev() batches of up to BATCH frames, so replies that are ready
 * together leave together. Writes happen without the lock held. A failed
 * write (the peer is gone) is fatal for the port: the process exits with
 * PY_PORT_EXIT_PROTOCOL, as a port without its peer has nothing left to do.
 */
#include "writer.h"

#include "protocol.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define BATCH 64
#define IOV_MAX_BATCH 1024 /* Linux's IOV_MAX */

struct out_frame {
    struct out_frame *next;
    char *buf;
    size_t len;
};

struct writer {
    int fd;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;           /* to the writer thread: frames queued, or stop */
    pthread_cond_t turn;           /* to writer_send_iov(): nobody is writing */
    struct out_frame *head, *tail; /* pending, oldest first */
    int writing;                   /* a thread is writing to fd */
    int stopping;
    struct spin_mark written; /* the last frame written, complete */
};

/* Writes iov[0..n) completely, following partial writes. 0 or -errno. */
int writer_write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t put = writev(fd, iov, n);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && (size_t)put >= iov->iov_len) {
            put -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + put;
            iov->iov_len -= (size_t)put;
        }
    }
    return 0;
}

static void fail(int rc)
{
    fprintf(stderr, "py_port: writing to Erlang failed: %s\n", strerror(-rc));
    _exit(PY_PORT_EXIT_PROTOCOL);
}

/* Writes and frees a list of frames. */
static void write_list(struct writer *w, struct out_frame *f)
{
    while (f) {
        struct iovec iov[BATCH];
        struct out_frame *batch = f;
        int n = 0;
        for (; f && n < BATCH; f = f->next)
            iov[n++] = (struct iovec){.iov_base = f->buf, .iov_len = f->len};
        int rc = writer_write_all(w->fd, iov, n);
        if (rc < 0)
            fail(rc);
        spin_mark(&w->written);
        while (batch != f) {
            struct out_frame *next = batch->next;
            free(batch->buf);
            free(batch);
            batch = next;
        }
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->writing || (!w->head && !w->stopping))
            pthread_cond_wait(&w->cond, &w->mu);
        struct out_frame *list = w->head;
        w->head = w->tail = NULL;
        if (!list)
            break; /* stopping, and everything is written */
        w->writing = 1;
        pthread_mutex_unlock(&w->mu);
        write_list(w, list);
        pthread_mutex_lock(&w->mu);
        w->writing = 0;
        pthread_cond_broadcast(&w->turn);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct writer *writer_start(int fd)
{
    struct writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fd = fd;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_cond_init(&w->turn, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cond);
        pthread_cond_destroy(&w->turn);
        free(w);
        return NULL;
    }
    return w;
}

const struct spin_mark *writer_written(const struct writer *w)
{
    return &w->written;
}

/* Writes iov from the calling thread, which holds the writing flag, and
 * gives the flag up. */
static void write_direct(struct writer *w, struct iovec *iov, int n)
{
    int rc = writer_write_all(w->fd, iov, n);
    if (rc < 0)
        fail(rc);
    spin_mark(&w->written);
    pthread_mutex_lock(&w->mu);
    w->writing = 0;
    if (w->head || w->stopping)
        pthread_cond_signal(&w->cond);
    pthread_cond_broadcast(&w->turn);
    pthread_mutex_unlock(&w->mu);
}

int writer_send(struct writer *w, char *buf, size_t len)
{
    pthread_mutex_lock(&w->mu);
    if (!w->writing && !w->head) {
        w->writing = 1;
        pthread_mutex_unlock(&w->mu);
        struct iovec iov = {.iov_base = buf, .iov_len = len};
        write_direct(w, &iov, 1);
        free(buf);
        return 0;
    }
    pthread_mutex_unlock(&w->mu);
    return writer_queue(w, buf, len);
}

int writer_queue(struct writer *w, char *buf, size_t len)
{
    struct out_frame *f = malloc(sizeof(*f));
    if (!f) {
        free(buf);
        return -ENOMEM;
    }
    *f = (struct out_frame){.next = NULL, .buf = buf, .len = len};
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = f;
    else
        w->head = f;
    w->tail = f;
    if (!w->writing)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

void writer_send_iov(struct writer *w, struct iovec *iov, int n)
{
    pthread_mutex_lock(&w->mu);
    while (w->writing || w->head) /* queued frames leave first */
        pthread_cond_wait(&w->turn, &w->mu);
    w->writing = 1;
    pthread_mutex_unlock(&w->mu);
    while (n > IOV_MAX_BATCH) { /* one frame, in pieces of IOV_MAX_BATCH */
        int rc = writer_write_all(w->fd, iov, IOV_MAX_BATCH);
        if (rc < 0)
            fail(rc);
        iov += IOV_MAX_BATCH;
        n -= IOV_MAX_BATCH;
    }
    write_direct(w, iov, n);
}

void writer_stop(struct writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    pthread_cond_destroy(&w->turn);
    free(w);
}
