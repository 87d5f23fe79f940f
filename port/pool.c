/*
 * pool: contexts as detached threads serving per-pool and per-context
 * queues.
 *
 * DESIGN: an idle context sits on its pool's stack of idle contexts and
 * sleeps on its own wake-up pipe until its own queue or the pool's queue
 * has a job; a submit takes the most recently idle context off the stack
 * and writes it a byte. A context prefers its own queue (requests to one
 * context run in order), runs the job with no lock held, and repeats.
 * Each context holds two descriptors (its pipe). A job that a hook made
 * a task (pools_detach()) leaves the context's current chain for its
 * list of tasks, where cancels, stops, pokes, max_queue and stats find it
 * until pools_task_done() frees it.
 * Contexts are detached; pools.running counts the live ones so that
 * shutdown can wait for them with a bound. Lock order: pools.mu, then
 * pool.mu.
 */
#include "pool.h"

#include "clock.h"
#include "frame.h"
#include "latency.h"
#include "protocol.h"
#include "spin.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CONTEXT_STACK_SIZE (16u * 1024 * 1024)

struct pool;

struct context {
    long id;
    struct pool *pool;
    struct queue own;    /* requests addressed to this context */
    struct job *current; /* the job running (innermost when nested), under pool.mu */
    void *state;         /* from hooks.ctx_start, under pool.mu */
    int wake[2];         /* a pipe: one byte wakes the idle context */
    int idle;            /* on the pool's idle stack, under pool.mu */
    int waiting;         /* asleep in pools_wait(), under pool.mu */
    atomic_int spinning; /* 1 while it polls for a wake-up */
    struct job *tasks;   /* its coroutine calls in flight (pools_detach()), under pool.mu */
    long n_tasks;
    struct context *next_idle;
};

struct pool {
    struct pool *next;
    struct pools *owner;
    char name[MAXATOMLEN_UTF8];
    struct context_kind kind; /* what its contexts are; set once at start */
    pthread_mutex_t mu;
    struct queue queue;   /* requests for any context of the pool */
    struct context *idle; /* idle contexts, the last one to go idle first */
    int stopping;
    long size;
    struct context *contexts;
    long n_tasks; /* its contexts' tasks */
    /* What it has done, under mu (pools_stats()). */
    unsigned long long completed, errors, timeouts, cancelled;
    struct latency latency;
};

struct pools {
    struct context_kind kind; /* the default kind of context */
    pthread_mutex_t mu;
    pthread_cond_t exited; /* signalled when running drops */
    struct pool *list;
    struct pool *retired;   /* stopped pools, freed with the registry */
    struct context **by_id; /* context table, indexed by id */
    long n_ids, cap_ids;
    long running;
    int stopping;
    long spin_ns;     /* how long an idle context polls before it sleeps */
    long next_seq;    /* under mu */
    size_t max_queue; /* per queue; 0: no bound */
};

void job_free(struct job *job)
{
    if (!job)
        return;
    frame_free(job->frame);
    free(job);
}

int job_claim_answer(struct job *job)
{
    return atomic_exchange(&job->answered, 1) == 0;
}

/* Answers (when answer is set) and frees a list of jobs. */
static void answer_all(struct queue_node *n, pool_answer_fn answer, void *arg)
{
    while (n) {
        struct queue_node *next = n->next;
        struct job *job = (struct job *)n;
        if (answer && job_claim_answer(job))
            answer(arg, job);
        job_free(job);
        n = next;
    }
}

static void free_all(struct queue_node *n)
{
    answer_all(n, NULL, NULL);
}

struct pools *pools_new(const struct pool_hooks *hooks, long spin_ns)
{
    struct pools *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->kind = (struct context_kind){"worker", *hooks};
    p->spin_ns = spin_ns;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->exited, NULL);
    return p;
}

/* Takes c off its pool's idle stack. pool.mu held; c->idle set. */
static void unidle(struct context *c)
{
    struct context **link = &c->pool->idle;
    while (*link != c)
        link = &(*link)->next_idle;
    *link = c->next_idle;
    c->idle = 0;
}

/* Wakes a context that unidle() took off the idle stack. No lock needed:
 * the byte waits in the pipe if the context is not reading yet. */
static void wake(struct context *c)
{
    static const char byte = 1;
    if (atomic_exchange(&c->spinning, 0) == 1)
        return; /* it polls, and sees the 0 */
    while (write(c->wake[1], &byte, 1) < 0 && errno == EINTR)
        ;
}

static int woken(void *c)
{
    return atomic_load(&((struct context *)c)->spinning) == 0;
}

/* Polls for a wake-up for spin_ns (spin.h): returns 1 if woken, 0 if the
 * context must sleep. A request that follows the last one closely (a
 * caller in a loop) then costs no sleep and wake-up of a thread, at the
 * price of CPU time taken from others when the machine is busy
 * (docs/performance-history.md). */
static int spin_until_woken(struct context *c, long spin_ns)
{
    if (spin_ns <= 0)
        return 0;
    atomic_store(&c->spinning, 1);
    if (spin_until(woken, c, spin_ns))
        return 1;
    return atomic_exchange(&c->spinning, 0) == 0;
}

/* Wakes c if it sleeps in pools_wait(). pool.mu held. */
static void wake_waiting(struct context *c)
{
    if (c->waiting) {
        c->waiting = 0;
        wake(c);
    }
}

/* Sleeps until wake(c). */
static void sleep_until_woken(struct context *c)
{
    char byte;
    while (read(c->wake[0], &byte, 1) < 0 && errno == EINTR)
        ;
}

/* Next job for c, waiting for one; NULL when the pool stops. pool.mu held.
 * An idle context sleeps on its own pipe rather than a condition variable:
 * a pipe write is a synchronous wake-up, which lets the kernel run the
 * context on the reader's CPU instead of waking a halted one. */
static struct job *next_job(struct context *c)
{
    struct pool *pl = c->pool;
    for (;;) {
        if (pl->stopping)
            return NULL;
        struct queue_node *n = queue_pop(&c->own);
        if (!n)
            n = queue_pop(&pl->queue);
        if (n)
            return (struct job *)n;
        c->idle = 1;
        c->next_idle = pl->idle;
        pl->idle = c;
        pthread_mutex_unlock(&pl->mu);
        if (!spin_until_woken(c, pl->owner->spin_ns))
            sleep_until_woken(c);
        pthread_mutex_lock(&pl->mu);
    }
}

/* Counts a job that ended. pool.mu held. */
static void count_done(struct pool *pl, const struct job *job, int raised)
{
    pl->completed++;
    pl->errors += raised != 0;
    latency_add(&pl->latency, (clock_now_ns() - job->t_submit_ns) / 1000);
}

/* Runs job on c, on top of the job c runs already (if any), and frees
 * it, unless the hook made it a task (it is no longer c->current then).
 * pool.mu held on entry and return, not while the job runs. */
static void run_job(struct context *c, struct job *job)
{
    struct pool *pl = c->pool;
    const struct pool_hooks *h = &pl->kind.hooks;
    job->ctx_id = c->id;
    job->pool = pl->name;
    job->outer = c->current;
    c->current = job;
    pthread_mutex_unlock(&pl->mu);
    int raised = h->run(h->arg, c->state, job);
    pthread_mutex_lock(&pl->mu);
    if (raised == POOL_RUN_DETACHED)
        return; /* the task may be done, and job freed, already */
    c->current = job->outer;
    count_done(pl, job, raised);
    pthread_mutex_unlock(&pl->mu);
    job_free(job);
    pthread_mutex_lock(&pl->mu);
}

static void *context_main(void *arg)
{
    struct context *c = arg;
    struct pool *pl = c->pool;
    struct pools *p = pl->owner;
    const struct pool_hooks *h = &pl->kind.hooks;
    void *state = h->ctx_start(h->arg, c->id);

    pthread_mutex_lock(&pl->mu);
    c->state = state;
    struct job *job;
    while ((job = next_job(c)) != NULL)
        run_job(c, job);
    free_all(queue_take_all(&c->own));
    pthread_mutex_unlock(&pl->mu);

    h->ctx_stop(h->arg, state);
    pthread_mutex_lock(&p->mu);
    p->running--;
    pthread_cond_broadcast(&p->exited);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static struct pool *find_pool(struct pools *p, const char *name)
{
    for (struct pool *pl = p->list; pl; pl = pl->next)
        if (strcmp(pl->name, name) == 0)
            return pl;
    return NULL;
}

static int write_ids(const struct pool *pl, long *ids)
{
    for (long k = 0; k < pl->size; k++)
        ids[k] = pl->contexts[k].id;
    return (int)pl->size;
}

/* Makes room for n more ids in the context table. pools.mu held. */
static int reserve_ids(struct pools *p, long n)
{
    if (p->n_ids + n <= p->cap_ids)
        return 0;
    long cap = p->cap_ids ? p->cap_ids : 16;
    while (cap < p->n_ids + n)
        cap *= 2;
    struct context **t = realloc(p->by_id, (size_t)cap * sizeof(*t));
    if (!t)
        return -ENOMEM;
    p->by_id = t;
    p->cap_ids = cap;
    return 0;
}

static struct pool *pool_alloc(struct pools *p, const char *name, long size,
                               const struct context_kind *kind)
{
    struct pool *pl = calloc(1, sizeof(*pl));
    if (!pl)
        return NULL;
    pl->contexts = calloc((size_t)size, sizeof(*pl->contexts));
    if (!pl->contexts) {
        free(pl);
        return NULL;
    }
    pl->owner = p;
    pl->kind = *kind;
    snprintf(pl->name, sizeof(pl->name), "%s", name);
    pthread_mutex_init(&pl->mu, NULL);
    for (long k = 0; k < size; k++)
        pl->contexts[k].wake[0] = pl->contexts[k].wake[1] = -1;
    return pl;
}

/* Starts the threads of a new pool. pools.mu held. */
static int launch(struct pools *p, struct pool *pl, long size)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, CONTEXT_STACK_SIZE);
    int rc = 0;
    for (long k = 0; k < size && rc == 0; k++) {
        struct context *c = &pl->contexts[k];
        c->id = p->n_ids;
        c->pool = pl;
        pthread_t t;
        if (pipe2(c->wake, O_CLOEXEC) != 0) {
            rc = -errno;
            break;
        }
        if (pthread_create(&t, &attr, context_main, c) != 0) {
            rc = -EAGAIN;
            break;
        }
        p->by_id[p->n_ids++] = c;
        pl->size++;
        p->running++;
    }
    pthread_attr_destroy(&attr);
    return rc;
}

/* Stops a pool that is not (or no longer) in the list: its contexts exit
 * after their job in hand, its queued jobs are answered (when answer is
 * set) and freed unrun, its running jobs answered. pools.mu held. */
static void retire(struct pools *p, struct pool *pl, pool_answer_fn answer, void *arg)
{
    pthread_mutex_lock(&pl->mu);
    pl->stopping = 1;
    answer_all(queue_take_all(&pl->queue), answer, arg);
    for (long k = 0; k < pl->size; k++) {
        struct context *c = &pl->contexts[k];
        answer_all(queue_take_all(&c->own), answer, arg);
        for (struct job *j = c->current; answer && j; j = j->outer)
            if (job_claim_answer(j))
                answer(arg, j);
        for (struct job *j = c->tasks; j; j = j->task_next) {
            if (answer && job_claim_answer(j))
                answer(arg, j);
            pl->kind.hooks.interrupt(pl->kind.hooks.arg, c->state, j->seq);
        }
        wake_waiting(c);
    }
    while (pl->idle) {
        struct context *c = pl->idle;
        unidle(c);
        wake(c);
    }
    pthread_mutex_unlock(&pl->mu);
    pl->next = p->retired;
    p->retired = pl;
}

int pools_start(struct pools *p, const char *name, long size, long *ids)
{
    return pools_start_kind(p, name, size, NULL, ids);
}

int pools_start_kind(struct pools *p, const char *name, long size, const struct context_kind *kind,
                     long *ids)
{
    if (size < 1 || size > PY_PORT_MAX_POOL_SIZE)
        return -EINVAL;
    pthread_mutex_lock(&p->mu);
    struct pool *pl = find_pool(p, name);
    if (pl) {
        int n = write_ids(pl, ids);
        pthread_mutex_unlock(&p->mu);
        return n;
    }
    int rc = reserve_ids(p, size);
    if (rc == 0 && !(pl = pool_alloc(p, name, size, kind ? kind : &p->kind)))
        rc = -ENOMEM;
    if (rc == 0) {
        rc = launch(p, pl, size);
        if (rc == 0) {
            pl->next = p->list;
            p->list = pl;
            rc = write_ids(pl, ids);
        } else {
            retire(p, pl, NULL, NULL);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int pools_stop(struct pools *p, const char *name, pool_answer_fn answer, void *arg)
{
    pthread_mutex_lock(&p->mu);
    struct pool **link = &p->list;
    while (*link && strcmp((*link)->name, name) != 0)
        link = &(*link)->next;
    struct pool *pl = *link;
    if (pl) {
        *link = pl->next;
        retire(p, pl, answer, arg);
    }
    pthread_mutex_unlock(&p->mu);
    return pl ? 0 : -ENOENT;
}

void pools_set_max_queue(struct pools *p, size_t max)
{
    pthread_mutex_lock(&p->mu);
    p->max_queue = max;
    pthread_mutex_unlock(&p->mu);
}

int pools_submit(struct pools *p, struct job *job)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    struct context *c = NULL;
    struct pool *pl = NULL;
    job->seq = ++p->next_seq;
    job->t_submit_ns = clock_now_ns();
    if (p->stopping)
        rc = -ESHUTDOWN;
    else if (job->env.ctx_id >= 0)
        c = job->env.ctx_id < p->n_ids ? p->by_id[job->env.ctx_id] : NULL;
    else
        pl = find_pool(p, job->env.pool);
    if (c)
        pl = c->pool;
    if (rc == 0 && c && pl->stopping) {
        /* A context of a stopped pool (its ids are never reused): say
         * which pool, for a callback that still addresses it. */
        snprintf(job->env.pool, sizeof(job->env.pool), "%s", pl->name);
        rc = -ECANCELED;
    } else if (rc == 0 && (!pl || pl->stopping)) {
        rc = -ENOENT;
    }
    struct context *woken = NULL;
    if (rc == 0) {
        pthread_mutex_lock(&pl->mu);
        struct queue *q = c ? &c->own : &pl->queue;
        size_t tasks = (size_t)(c ? c->n_tasks : pl->n_tasks);
        if (p->max_queue > 0 && q->len + tasks >= p->max_queue) {
            rc = -EBUSY;
        } else {
            queue_push(q, &job->node);
            woken = c ? (c->idle ? c : NULL) : pl->idle;
            if (woken)
                unidle(woken);
            else if (c)
                wake_waiting(c); /* it serves its own queue while it waits */
        }
        pthread_mutex_unlock(&pl->mu);
    }
    pthread_mutex_unlock(&p->mu);
    if (woken)
        wake(woken);
    return rc;
}

static void free_pools(struct pool *pl)
{
    while (pl) {
        struct pool *next = pl->next;
        pthread_mutex_destroy(&pl->mu);
        for (long k = 0; k < pl->size; k++) {
            close(pl->contexts[k].wake[0]);
            close(pl->contexts[k].wake[1]);
        }
        free(pl->contexts);
        free(pl);
        pl = next;
    }
}

struct matcher {
    int (*match)(const struct job *job, const void *arg);
    const void *arg;
};

static int node_matches(const struct queue_node *n, const void *arg)
{
    const struct matcher *m = arg;
    return m->match((const struct job *)n, m->arg);
}

/* Cancels job j that c runs, or its task, if it matches: 1 if it did.
 * pool.mu held. */
static int cancel_running(struct context *c, struct job *j, const struct matcher *m)
{
    struct pool *pl = c->pool;
    if (!m->match(j, m->arg) || !job_claim_answer(j))
        return 0;
    atomic_store(&j->cancelled, 1);
    pl->kind.hooks.interrupt(pl->kind.hooks.arg, c->state, j->seq);
    wake_waiting(c);
    return 1;
}

/* Cancels the matching jobs of one pool. pool.mu held. */
static int cancel_in(struct pool *pl, const struct matcher *m, enum pool_cancel_why why)
{
    int n = 0;
    struct queue_node *gone = queue_remove_if(&pl->queue, node_matches, m);
    for (long k = 0; k < pl->size; k++) {
        struct context *c = &pl->contexts[k];
        struct queue_node *own = queue_remove_if(&c->own, node_matches, m);
        while (own) { /* gone ++ own */
            struct queue_node *next = own->next;
            own->next = gone;
            gone = own;
            own = next;
        }
        for (struct job *j = c->current; j; j = j->outer)
            n += cancel_running(c, j, m);
        for (struct job *j = c->tasks; j; j = j->task_next)
            n += cancel_running(c, j, m);
    }
    for (struct queue_node *g = gone; g; g = g->next)
        n++;
    free_all(gone);
    if (why == POOL_CANCEL_TIMEOUT)
        pl->timeouts += (unsigned long long)n;
    else
        pl->cancelled += (unsigned long long)n;
    return n;
}

int pools_cancel(struct pools *p, int (*match)(const struct job *job, const void *arg),
                 const void *arg, enum pool_cancel_why why)
{
    struct matcher m = {match, arg};
    int n = 0;
    pthread_mutex_lock(&p->mu);
    for (struct pool *pl = p->list; pl; pl = pl->next) {
        pthread_mutex_lock(&pl->mu);
        n += cancel_in(pl, &m, why);
        pthread_mutex_unlock(&pl->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* The context of id, with its pool locked; NULL (nothing locked) if none.
 * pools.mu is taken and released. */
static struct context *lock_context(struct pools *p, long ctx_id)
{
    pthread_mutex_lock(&p->mu);
    struct context *c = ctx_id >= 0 && ctx_id < p->n_ids ? p->by_id[ctx_id] : NULL;
    if (c)
        pthread_mutex_lock(&c->pool->mu);
    pthread_mutex_unlock(&p->mu);
    return c;
}

/* The context job runs on (or ran on, as a task), its pool locked. It
 * cannot be gone: a context outlives its jobs and tasks. */
static struct context *lock_context_of(struct pools *p, const struct job *job)
{
    struct context *c = lock_context(p, job->ctx_id);
    if (!c)
        abort();
    return c;
}

/* Whether job j is there and neither answered nor cancelled. */
static int live(const struct job *j)
{
    return j && !atomic_load(&j->answered) && !atomic_load(&j->cancelled);
}

/* Interrupts the innermost job c runs that is not answered yet (one
 * whose reply is out is about to leave c), if any: 1, else 0. From
 * c->current outwards. Pool locked. */
static int interrupt_current(struct pool *pl, struct context *c)
{
    struct job *j = c->current;
    while (j && !live(j))
        j = j->outer;
    if (!j)
        return 0;
    pl->kind.hooks.interrupt(pl->kind.hooks.arg, c->state, j->seq);
    return 1;
}

int pools_interrupt(struct pools *p, const char *pool, long ctx_id)
{
    int n = 0;
    if (ctx_id >= 0) {
        struct context *c = lock_context(p, ctx_id);
        if (!c)
            return -ESRCH;
        n = interrupt_current(c->pool, c);
        pthread_mutex_unlock(&c->pool->mu);
        return n;
    }
    pthread_mutex_lock(&p->mu);
    struct pool *pl = find_pool(p, pool);
    if (pl) {
        pthread_mutex_lock(&pl->mu);
        for (long k = 0; k < pl->size; k++)
            n += interrupt_current(pl, &pl->contexts[k]);
        pthread_mutex_unlock(&pl->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return pl ? n : -ESRCH;
}

int pools_wait(struct pools *p, long ctx_id, int (*ready)(void *arg), void *arg)
{
    struct context *c = lock_context(p, ctx_id);
    if (!c)
        return -ESHUTDOWN;
    struct pool *pl = c->pool;
    struct job *waiter = c->current;
    int rc;
    for (;;) {
        struct queue_node *nested;
        if (waiter && atomic_load(&waiter->cancelled)) {
            rc = -ECANCELED;
            break;
        }
        if (ready(arg)) {
            rc = 0;
            break;
        }
        if (pl->stopping) {
            rc = -ESHUTDOWN;
            break;
        }
        if ((nested = queue_pop(&c->own)) != NULL) {
            run_job(c, (struct job *)nested);
            continue;
        }
        c->waiting = 1;
        pthread_mutex_unlock(&pl->mu);
        if (!spin_until_woken(c, p->spin_ns)) /* an answer often comes soon */
            sleep_until_woken(c);
        pthread_mutex_lock(&pl->mu);
    }
    c->waiting = 0;
    pthread_mutex_unlock(&pl->mu);
    return rc;
}

void pools_detach(struct pools *p, struct job *job)
{
    struct context *c = lock_context_of(p, job);
    c->current = job->outer;
    job->task_prev = NULL;
    job->task_next = c->tasks;
    if (c->tasks)
        c->tasks->task_prev = job;
    c->tasks = job;
    c->n_tasks++;
    c->pool->n_tasks++;
    pthread_mutex_unlock(&c->pool->mu);
}

void pools_task_done(struct pools *p, struct job *job, int raised)
{
    struct context *c = lock_context_of(p, job);
    if (job->task_prev)
        job->task_prev->task_next = job->task_next;
    else
        c->tasks = job->task_next;
    if (job->task_next)
        job->task_next->task_prev = job->task_prev;
    c->n_tasks--;
    c->pool->n_tasks--;
    count_done(c->pool, job, raised);
    pthread_mutex_unlock(&c->pool->mu);
    job_free(job);
}

void pools_wake(struct pools *p, long ctx_id)
{
    struct context *c = lock_context(p, ctx_id);
    if (c) {
        wake_waiting(c);
        pthread_mutex_unlock(&c->pool->mu);
    }
}

/* pools_poke() for one job of c. pool.mu held. */
static int poke_one(struct context *c, struct job *j,
                    int (*match)(const struct job *job, const void *arg),
                    void (*poke)(struct job *job, const void *arg), const void *arg)
{
    if (!match(j, arg))
        return 0;
    poke(j, arg);
    wake_waiting(c);
    return 1;
}

int pools_poke(struct pools *p, int (*match)(const struct job *job, const void *arg),
               void (*poke)(struct job *job, const void *arg), const void *arg)
{
    int n = 0;
    pthread_mutex_lock(&p->mu);
    for (struct pool *pl = p->list; pl; pl = pl->next) {
        pthread_mutex_lock(&pl->mu);
        for (long k = 0; k < pl->size; k++) {
            struct context *c = &pl->contexts[k];
            for (struct job *j = c->current; j; j = j->outer)
                n += poke_one(c, j, match, poke, arg);
            for (struct job *j = c->tasks; j; j = j->task_next) {
                const struct pool_hooks *h = &pl->kind.hooks;
                int poked = poke_one(c, j, match, poke, arg);
                if (poked && h->task_poked)
                    h->task_poked(h->arg, c->state, j->seq);
                n += poked;
            }
        }
        pthread_mutex_unlock(&pl->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* One pool's stats. pool.mu held. */
static void stats_of(const struct pool *pl, struct pool_stats *st)
{
    snprintf(st->name, sizeof(st->name), "%s", pl->name);
    snprintf(st->mode, sizeof(st->mode), "%s", pl->kind.mode);
    st->size = pl->size;
    st->busy = 0;
    st->queued = (long)pl->queue.len;
    st->tasks = pl->n_tasks;
    for (long k = 0; k < pl->size; k++) {
        st->busy += pl->contexts[k].current != NULL;
        st->queued += (long)pl->contexts[k].own.len;
    }
    st->completed = pl->completed;
    st->errors = pl->errors;
    st->timeouts = pl->timeouts;
    st->cancelled = pl->cancelled;
    st->p50_us = latency_percentile(&pl->latency, 0.50);
    st->p99_us = latency_percentile(&pl->latency, 0.99);
}

int pools_stats(struct pools *p, struct pool_stats *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&p->mu);
    for (struct pool *pl = p->list; pl && n < max; pl = pl->next, n++) {
        pthread_mutex_lock(&pl->mu);
        stats_of(pl, &out[n]);
        pthread_mutex_unlock(&pl->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void pools_free(struct pools *p)
{
    free_pools(p->list);
    free_pools(p->retired);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->exited);
    free(p->by_id);
    free(p);
}

int pools_shutdown(struct pools *p, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    while (p->list) {
        struct pool *pl = p->list;
        p->list = pl->next;
        retire(p, pl, NULL, NULL);
    }
    int rc = 0;
    while (p->running > 0 && rc == 0)
        rc = pthread_cond_timedwait(&p->exited, &p->mu, &deadline);
    int all_exited = p->running == 0;
    pthread_mutex_unlock(&p->mu);
    if (!all_exited)
        return -ETIMEDOUT;
    pools_free(p);
    return 0;
}
