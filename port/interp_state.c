/*
 * interp_state: the registry of per-interpreter states (interp_state.h).
 *
 * DESIGN: a list under `mu`, a handful of entries (one per interpreter:
 * the main one and one per owngil context), keyed by interpreter id.
 * `generation` counts removals: a thread's cached (id, state) pair is
 * trusted only while no state was removed since it was filled (the state
 * it points to may be freed).
 */
#include "interp_state.h"

#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct interp_state *list;
static atomic_long generation;

static _Thread_local int64_t cached_id = -1;
static _Thread_local struct interp_state *cached;
static _Thread_local long cached_generation;

static struct interp_state *find(int64_t id)
{
    pthread_mutex_lock(&mu);
    struct interp_state *st = list;
    while (st && st->interp_id != id)
        st = st->next;
    pthread_mutex_unlock(&mu);
    return st;
}

struct interp_state *interp_state(void)
{
    int64_t id = PyInterpreterState_GetID(PyInterpreterState_Get());
    long gen = atomic_load(&generation);
    if (cached && cached_id == id && cached_generation == gen)
        return cached;
    struct interp_state *st = find(id);
    if (st) {
        cached_id = id;
        cached = st;
        cached_generation = gen;
    }
    return st;
}

void interp_state_add(struct interp_state *st)
{
    st->interp_id = PyInterpreterState_GetID(PyInterpreterState_Get());
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

void interp_state_remove_id(int64_t interp_id)
{
    pthread_mutex_lock(&mu);
    struct interp_state **link = &list;
    while (*link && (*link)->interp_id != interp_id)
        link = &(*link)->next;
    if (*link)
        *link = (*link)->next;
    atomic_fetch_add(&generation, 1);
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

int interp_state_traverse(struct interp_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->atom_type);
    Py_VISIT(st->pid_type);
    Py_VISIT(st->ref_type);
    Py_VISIT(st->known);
    Py_VISIT(st->table);
    Py_VISIT(st->stale_error);
    Py_VISIT(st->cancelled);
    Py_VISIT(st->error);
    Py_VISIT(st->module_cache);
    Py_VISIT(st->encoders);
    return 0;
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
    Py_CLEAR(st->encoders);
}
