/*
 * sentrefs: replies with references, kept for a late cancel (sentrefs.h).
 *
 * DESIGN: a ring of SENTREFS_KEPT entries indexed by token modulo its
 * size; token 0 marks a free entry, tokens count from 1, so noting a
 * reply frees the entry noted SENTREFS_KEPT replies before. Ids to
 * release are appended to one growing array. One mutex, `mu`, held for
 * every access and never while calling out.
 */
#include "sentrefs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    unsigned long long token; /* 0: free */
    char *reply_to;
    int len;
    long long *ids;
    int n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry ring[SENTREFS_KEPT];
static unsigned long long last_token;
static long long *doomed; /* ids to release */
static int n_doomed, cap_doomed;
static atomic_int any_doomed; /* n_doomed > 0, read without mu by sentrefs_take() */

static void clear(struct entry *e)
{
    free(e->reply_to);
    free(e->ids);
    *e = (struct entry){0};
}

unsigned long long sentrefs_note(const char *reply_to, int len, const long long *ids, int n)
{
    char *key = malloc(len > 0 ? (size_t)len : 1);
    long long *copy = malloc(n > 0 ? (size_t)n * sizeof(*copy) : 1);
    if (!key || !copy) {
        free(key);
        free(copy);
        return 0;
    }
    memcpy(key, reply_to, (size_t)len);
    memcpy(copy, ids, (size_t)n * sizeof(*copy));
    pthread_mutex_lock(&mu);
    unsigned long long token = ++last_token;
    struct entry *e = &ring[token % SENTREFS_KEPT];
    clear(e); /* the oldest note: forgotten */
    *e = (struct entry){token, key, len, copy, n};
    pthread_mutex_unlock(&mu);
    return token;
}

void sentrefs_forget(unsigned long long token)
{
    pthread_mutex_lock(&mu);
    struct entry *e = &ring[token % SENTREFS_KEPT];
    if (token != 0 && e->token == token)
        clear(e);
    pthread_mutex_unlock(&mu);
}

/* Appends e's ids to the list to release. 0, or -1 out of memory (the ids
 * stay held: a leak, not a fault). */
static int doom(const struct entry *e)
{
    if (n_doomed + e->n > cap_doomed) {
        int cap = cap_doomed ? cap_doomed : 64;
        while (cap < n_doomed + e->n)
            cap *= 2;
        long long *grown = realloc(doomed, (size_t)cap * sizeof(*grown));
        if (!grown)
            return -1;
        doomed = grown;
        cap_doomed = cap;
    }
    memcpy(doomed + n_doomed, e->ids, (size_t)e->n * sizeof(*e->ids));
    n_doomed += e->n;
    atomic_store(&any_doomed, n_doomed > 0);
    return 0;
}

int sentrefs_cancel(sentrefs_match_fn match, const void *arg)
{
    int matched = 0;
    pthread_mutex_lock(&mu);
    for (int k = 0; k < SENTREFS_KEPT; k++) {
        struct entry *e = &ring[k];
        if (e->token != 0 && match(e->reply_to, e->len, arg)) {
            doom(e);
            clear(e);
            matched++;
        }
    }
    pthread_mutex_unlock(&mu);
    return matched;
}

int sentrefs_take(long long **ids)
{
    *ids = NULL;
    if (!atomic_load(&any_doomed)) /* the common case: no lock taken */
        return 0;
    pthread_mutex_lock(&mu);
    int n = n_doomed;
    *ids = doomed;
    doomed = NULL;
    n_doomed = cap_doomed = 0;
    atomic_store(&any_doomed, 0);
    pthread_mutex_unlock(&mu);
    return n;
}

void sentrefs_reset(void)
{
    pthread_mutex_lock(&mu);
    for (int k = 0; k < SENTREFS_KEPT; k++)
        clear(&ring[k]);
    free(doomed);
    doomed = NULL;
    n_doomed = cap_doomed = last_token = 0;
    atomic_store(&any_doomed, 0);
    pthread_mutex_unlock(&mu);
}
