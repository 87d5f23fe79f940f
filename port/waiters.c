/*
 * waiters: answers from Erlang handed to the threads that wait for them
 * (see waiters.h).
 *
 * DESIGN: a short list (one entry per Erlang call in progress), searched
 * by id under `mu`. A context is woken through pools_wake(), after `done`
 * is set, so that its ready() check under the pool's lock sees it; any
 * other thread waits on its waiter's condition variable under `mu`.
 */
#include "waiters.h"

#include "frame.h"

#include <errno.h>
#include <stdlib.h>

struct waiters {
    pthread_mutex_t mu;
    struct waiter *list;
    long next_id;
    struct pools *pools;
};

struct waiters *waiters_new(struct pools *p)
{
    struct waiters *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    pthread_mutex_init(&ws->mu, NULL);
    ws->pools = p;
    return ws;
}

void waiters_add(struct waiters *ws, struct waiter *w, long ctx_id)
{
    w->ctx_id = ctx_id;
    w->frame = NULL;
    w->notify = NULL;
    atomic_store(&w->done, 0);
    pthread_cond_init(&w->cond, NULL);
    pthread_mutex_lock(&ws->mu);
    w->id = ws->next_id++;
    w->next = ws->list;
    ws->list = w;
    pthread_mutex_unlock(&ws->mu);
}

void waiters_add_notify(struct waiters *ws, struct waiter *w, void (*notify)(struct waiter *w))
{
    waiters_add(ws, w, -1);
    pthread_cond_destroy(&w->cond); /* nobody waits on it */
    pthread_mutex_lock(&ws->mu);
    w->notify = notify;
    pthread_mutex_unlock(&ws->mu);
}

int waiters_cancel(struct waiters *ws, struct waiter *w)
{
    pthread_mutex_lock(&ws->mu);
    struct waiter **link = &ws->list;
    while (*link && *link != w)
        link = &(*link)->next;
    int pending = *link != NULL;
    if (pending)
        *link = w->next;
    pthread_mutex_unlock(&ws->mu);
    return pending;
}

/* pools_wait()'s ready(): the answer is in. */
static int answered(void *arg)
{
    const struct waiter *w = arg;
    return atomic_load(&w->done);
}

/* Takes w out of the list. mu held. */
static void unlink_waiter(struct waiters *ws, struct waiter *w)
{
    struct waiter **link = &ws->list;
    while (*link != w)
        link = &(*link)->next;
    *link = w->next;
}

int waiters_wait(struct waiters *ws, struct waiter *w)
{
    int rc = 0;
    if (w->ctx_id >= 0)
        rc = pools_wait(ws->pools, w->ctx_id, answered, w);
    pthread_mutex_lock(&ws->mu);
    while (w->ctx_id < 0 && !atomic_load(&w->done))
        pthread_cond_wait(&w->cond, &ws->mu);
    unlink_waiter(ws, w);
    pthread_mutex_unlock(&ws->mu);
    pthread_cond_destroy(&w->cond);
    return rc;
}

void waiters_forget(struct waiters *ws, struct waiter *w)
{
    pthread_mutex_lock(&ws->mu);
    unlink_waiter(ws, w);
    pthread_mutex_unlock(&ws->mu);
    pthread_cond_destroy(&w->cond);
}

int waiters_deliver(struct waiters *ws, long id, char *frame, size_t len, int body_off)
{
    pthread_mutex_lock(&ws->mu);
    struct waiter *w = ws->list;
    while (w && w->id != id)
        w = w->next;
    if (w) {
        w->frame = frame;
        w->len = len;
        w->body_off = body_off;
        atomic_store(&w->done, 1);
        if (w->notify) {
            unlink_waiter(ws, w);
            w->notify(w);
            pthread_mutex_unlock(&ws->mu);
            return 0;
        }
        pthread_cond_signal(&w->cond);
    }
    long ctx_id = w ? w->ctx_id : -1;
    pthread_mutex_unlock(&ws->mu);
    if (!w) {
        frame_free(frame);
        return -ENOENT;
    }
    if (ctx_id >= 0)
        pools_wake(ws->pools, ctx_id);
    return 0;
}
