/*
 * queue: an intrusive FIFO.
 *
 * DESIGN: items embed a struct queue_node; the queue never allocates.
 * Not synchronised: the owner (a pool) holds its lock around every call.
 */
#ifndef PY_PORT_QUEUE_H
#define PY_PORT_QUEUE_H

#include <stddef.h>

struct queue_node {
    struct queue_node *next;
};

struct queue {
    struct queue_node *head, *tail;
    size_t len;
};

// clang-format off
#define QUEUE_INIT {NULL, NULL, 0}
// clang-format on

/* Appends node at the tail. */
void queue_push(struct queue *q, struct queue_node *node);

/* Removes and returns the head, or NULL when empty. */
struct queue_node *queue_pop(struct queue *q);

/* Removes every node that pred accepts, keeping the order of the rest;
 * returns the removed ones as a NULL-terminated list, in queue order. */
struct queue_node *queue_remove_if(struct queue *q,
                                   int (*pred)(const struct queue_node *, const void *),
                                   const void *arg);

/* Empties q and returns its former contents as a NULL-terminated list. */
struct queue_node *queue_take_all(struct queue *q);

#endif
