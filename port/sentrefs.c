/*
 * sentrefs: replies with references, kept for a late cancel (sentrefs.h).
 *
 * DESIGN: a ring of SENTREFS_KEPT entries indexed by token modulo its
 * size; token 0 marks a free entry, tokens count from 1, so noting a
 * reply frees the entry noted SENTREFS_KEPT replies before. The runs of
 * ids to release are appended to one growing array. One mutex, `mu`, held for
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
    struct sentrefs_run *runs;
    int n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry ring[SENTREFS_KEPT];
static unsigned long long last_token;
static struct sentrefs_run *doomed; /* ids to release */
static int n_doomed, cap_doomed;
static atomic_int any_doomed; /* n_doomed > 0, read without mu by sentrefs_take() */

static void clear(struct entry *e)
{
    free(e->reply_to);
    free(e->runs);
    *e = (struct entry){0};
}

/* ids[0, n) as runs into out (room for SENTREFS_MAX_RUNS); how many, or
 * -1 when they need more. */
static int to_runs(const long long *ids, int n, struct sentrefs_run *out)
{
    int r = -1;
    for (int k = 0; k < n; k++) {
        if (r >= 0 && ids[k] == out[r].first + out[r].n) {
            out[r].n++;
        } else if (++r < SENTREFS_MAX_RUNS) {
            out[r] = (struct sentrefs_run){ids[k], 1};
        } else {
            return -1;
        }
    }
    return r + 1;
}

unsigned long long sentrefs_note(const char *reply_to, int len, const long long *ids, int n)
{
    struct sentrefs_run runs[SENTREFS_MAX_RUNS];
    int n_runs = to_runs(ids, n, runs);
    if (n_runs <= 0)
        return 0;
    char *key = malloc(len > 0 ? (size_t)len : 1);
    struct sentrefs_run *copy = malloc((size_t)n_runs * sizeof(*copy));
    if (!key || !copy) {
        free(key);
        free(copy);
        return 0;
    }
    memcpy(key, reply_to, (size_t)len);
    memcpy(copy, runs, (size_t)n_runs * sizeof(*copy));
    pthread_mutex_lock(&mu);
    unsigned long long token = ++last_token;
    struct entry *e = &ring[token % SENTREFS_KEPT];
    clear(e); /* the oldest note: forgotten */
    *e = (struct entry){token, key, len, copy, n_runs};
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

/* Appends e's runs to the list to release. 0, or -1 out of memory (the ids
 * stay held: a leak, not a fault). */
static int doom(const struct entry *e)
{
    if (n_doomed + e->n > cap_doomed) {
        int cap = cap_doomed ? cap_doomed : 64;
        while (cap < n_doomed + e->n)
            cap *= 2;
        struct sentrefs_run *grown = realloc(doomed, (size_t)cap * sizeof(*grown));
        if (!grown)
            return -1;
        doomed = grown;
        cap_doomed = cap;
    }
    memcpy(doomed + n_doomed, e->runs, (size_t)e->n * sizeof(*e->runs));
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

int sentrefs_take(struct sentrefs_run **runs)
{
    *runs = NULL;
    if (!atomic_load(&any_doomed)) /* the common case: no lock taken */
        return 0;
    pthread_mutex_lock(&mu);
    int n = n_doomed;
    *runs = doomed;
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
