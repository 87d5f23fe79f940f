/*
 * queue: an intrusive singly linked FIFO with O(1) push and pop.
 *
 * DESIGN: no allocation, no locking; see queue.h.
 */
#include "queue.h"

void queue_push(struct queue *q, struct queue_node *node)
{
    node->next = NULL;
    if (q->tail)
        q->tail->next = node;
    else
        q->head = node;
    q->tail = node;
    q->len++;
}

struct queue_node *queue_pop(struct queue *q)
{
    struct queue_node *node = q->head;
    if (!node)
        return NULL;
    q->head = node->next;
    if (!q->head)
        q->tail = NULL;
    q->len--;
    node->next = NULL;
    return node;
}

struct queue_node *queue_take_all(struct queue *q)
{
    struct queue_node *all = q->head;
    q->head = q->tail = NULL;
    q->len = 0;
    return all;
}

struct queue_node *queue_remove_if(struct queue *q,
                                   int (*pred)(const struct queue_node *, const void *),
                                   const void *arg)
{
    struct queue_node *removed = NULL, **removed_tail = &removed;
    struct queue_node **link = &q->head;
    q->tail = NULL;
    while (*link) {
        struct queue_node *n = *link;
        if (pred(n, arg)) {
            *link = n->next;
            n->next = NULL;
            *removed_tail = n;
            removed_tail = &n->next;
            q->len--;
        } else {
            q->tail = n;
            link = &n->next;
        }
    }
    return removed;
}
