/*
 * interp_state: the registry of per-interpreter states (interp_state.h).
 *
 * DESIGN: a list under `mu`, a handful of entries (one per interpreter:
 * the main one and one per owngil context). `generation` counts removals:
 * a thread's cached (interp, state) pair is trusted only while no state
 * was removed since it was filled, since an interpreter's address may be
 * reused by the next one.
 */
#include "interp_state.h"

#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct interp_state *list;
static atomic_long generation;

static _Thread_local PyInterpreterState *cached_interp;
static _Thread_local struct interp_state *cached;
static _Thread_local long cached_generation;

static struct interp_state *find(PyInterpreterState *interp)
{
    pthread_mutex_lock(&mu);
    struct interp_state *st = list;
    while (st && st->interp != interp)
        st = st->next;
    pthread_mutex_unlock(&mu);
    return st;
}

struct interp_state *interp_state(void)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    long gen = atomic_load(&generation);
    if (cached && cached_interp == interp && cached_generation == gen)
        return cached;
    struct interp_state *st = find(interp);
    if (st) {
        cached_interp = interp;
        cached = st;
        cached_generation = gen;
    }
    return st;
}

void interp_state_add(struct interp_state *st)
{
    st->interp = PyInterpreterState_Get();
    pthread_mutex_lock(&mu);
    st->next = list;
    list = st;
    pthread_mutex_unlock(&mu);
}

void interp_state_remove(struct interp_state *st)
{
    pthread_mutex_lock(&mu);
    struct interp_state **link = &list;
    while (*link && *link != st)
        link = &(*link)->next;
    if (*link)
        *link = st->next;
    atomic_fetch_add(&generation, 1);
    pthread_mutex_unlock(&mu);
}

void interp_state_set_nonce(struct interp_state *st, unsigned long long nonce)
{
    pthread_mutex_lock(&mu);
    st->nonce = nonce;
    pthread_mutex_unlock(&mu);
}

void interp_state_set_owner(struct interp_state *st, long owner_ctx)
{
    pthread_mutex_lock(&mu);
    st->owner_ctx = owner_ctx;
    pthread_mutex_unlock(&mu);
}

long interp_state_owner_of(unsigned long long nonce)
{
    pthread_mutex_lock(&mu);
    struct interp_state *st = list;
    while (st && st->nonce != nonce)
        st = st->next;
    long owner = st ? st->owner_ctx : -2;
    pthread_mutex_unlock(&mu);
    return owner;
}

void interp_state_clear(struct interp_state *st)
{
    Py_CLEAR(st->atom_type);
    Py_CLEAR(st->pid_type);
    Py_CLEAR(st->ref_type);
    Py_CLEAR(st->known);
    Py_CLEAR(st->table);
    Py_CLEAR(st->stale_error);
    Py_CLEAR(st->cancelled);
    Py_CLEAR(st->error);
    Py_CLEAR(st->module_cache);
}
