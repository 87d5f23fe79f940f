/*
 * pool: named pools of contexts, one OS thread per context.
 *
 * DESIGN: the reader thread submits jobs; each pool has one queue that any
 * of its idle contexts takes from, and each context has its own queue for
 * requests addressed to it, served first and in order. What a context does
 * with a job is given by pool_hooks (the Python side), so this file needs
 * no Python and links into its unit test alone.
 *
 * Locks: pools.mu (the registry: pool list, context table, running count)
 * is taken before any pool.mu (one pool's queues), never the other way.
 * Hooks run with no lock held.
 */
#ifndef PY_PORT_POOL_H
#define PY_PORT_POOL_H

#include "envelope.h"
#include "queue.h"

#include <stddef.h>

#include <stdatomic.h>

/* One request on its way to a context: the frame and its envelope. */
struct job {
    struct queue_node node; /* first: a queue_node * is a job * */
    char *frame;            /* from frame_read(); owned by the job */
    size_t len;
    struct envelope env;
    atomic_int answered;   /* set by whoever sends the one reply */
    long seq;              /* numbers jobs, from 1, set by pools_submit() */
    long long t_read_ns;   /* when its frame was read, when tracing (trace.h) */
    long long t_submit_ns; /* when pools_submit() queued it */
    /* Set by the context that runs it (valid while it runs): */
    long ctx_id;          /* that context's id */
    const char *pool;     /* and its pool's name */
    struct job *outer;    /* the job this one runs nested in (pools_wait()) */
    atomic_int cancelled; /* pools_cancel() took it while it ran */
    atomic_long credit;   /* what pools_poke() gave it (stream items it may send) */
    /* A task (pools_detach()): linked in its context's tasks, under pool.mu. */
    struct job *task_prev, *task_next;
};

/* Frees the job and its frame. NULL-safe. */
void job_free(struct job *job);

/* Claims the right to answer job: 1 for the first caller, 0 after. A
 * request gets exactly one reply, even when a pool stop and the context
 * running it race to answer. */
int job_claim_answer(struct job *job);

/* Answers a job that will not run, or whose result will not be waited
 * for (running = 1), e.g. with {error, {pool_stopped, Pool}}. Called with
 * pool locks held: it may only encode and hand a frame to the writer. */
typedef void (*pool_answer_fn)(void *arg, struct job *job);

struct pool_hooks {
    void *arg;
    /* On a new context's thread, before its first job: returns the
     * context's state (NULL is passed on as is). */
    void *(*ctx_start)(void *arg, long ctx_id);
    /* Runs one job on the context's thread. The pool frees the job after;
     * the hook answers it only if job_claim_answer() says so. Returns 0,
     * 1 (it raised), or POOL_RUN_DETACHED: the hook made the job a task
     * (pools_detach()), which the pool must not touch any more. */
    int (*run)(void *arg, void *ctx_state, struct job *job);
    /* On the context's thread after its last job. */
    void (*ctx_stop)(void *arg, void *ctx_state);
    /* From any thread, pool locks held: stop job number seq, which the
     * context is running (its reply is claimed already). Must not block. */
    void (*interrupt)(void *arg, void *ctx_state, long seq);
    /* Optional, as interrupt: pools_poke() gave task seq (pools_detach())
     * something, e.g. stream credit; its waiter must look again. */
    void (*task_poked)(void *arg, void *ctx_state, long seq);
};

/* A kind of context (docs/architecture.md, "Pool modes"): what a pool's
 * contexts are, chosen once per pool. `mode` names it in pools_stats(). */
struct context_kind {
    const char *mode; /* "worker", "owngil"; static storage */
    struct pool_hooks hooks;
};

struct pools;

/* A registry with no pools yet, whose default kind of context is
 * {"worker", *hooks}. An idle context polls for new work for
 * spin_ns nanoseconds (0: never) before it sleeps. NULL on failure. */
struct pools *pools_new(const struct pool_hooks *hooks, long spin_ns);

/*
 * Starts pool `name` with `size` contexts, or finds it running already.
 * Writes its context ids to ids[0, returned count). Returns the number of
 * contexts, -EINVAL for a size outside 1..PY_PORT_MAX_POOL_SIZE, or
 * -ENOMEM / -EAGAIN when memory or threads run out (the contexts that did
 * start are stopped again: no pool is left half-started). ids must hold PY_PORT_MAX_POOL_SIZE
 * entries.
 */
int pools_start(struct pools *p, const char *name, long size, long *ids);

/* pools_start() with the contexts of a new pool of the given kind (NULL:
 * the registry's default). A pool that runs already keeps its kind. */
int pools_start_kind(struct pools *p, const char *name, long size, const struct context_kind *kind,
                     long *ids);

/* Bounds every queue (a pool's, a context's own) to max jobs waiting;
 * 0, the default, leaves them unbounded. Tasks (pools_detach()) count
 * too: a pool's queue holds at most max jobs and tasks of the pool, a
 * context's own queue at most max jobs and tasks of that context. */
void pools_set_max_queue(struct pools *p, size_t max);

/*
 * Queues job for its target (job->env: pool name, or ctx_id >= 0).
 * Returns 0 (the pool owns the job now), or -ENOENT when there is no such
 * pool or context, -ECANCELED when the context's pool was stopped (its
 * name is then copied to job->env.pool), -EBUSY when its queue is full,
 * or -ESHUTDOWN when stopping (the caller keeps the job).
 */
int pools_submit(struct pools *p, struct job *job);

/*
 * Stops pool `name`: removes it, answers its queued jobs and the jobs its
 * contexts are running through `answer` (NULL: queued jobs are dropped),
 * and lets its contexts exit once their job in hand returns. Returns 0, or
 * -ENOENT when no such pool runs.
 */
int pools_stop(struct pools *p, const char *name, pool_answer_fn answer, void *arg);

/*
 * On a context's thread, inside hooks.run, without the GIL: waits until
 * ready(arg) returns non-zero, running meanwhile, nested, the jobs
 * addressed to this context (its own queue), so that a request made while
 * this one waits (a callback into Erlang calling Python again) can run
 * here. Returns 0 when ready, -ECANCELED when the job that waits was
 * cancelled, -ESHUTDOWN when its pool stops. ready() runs with the pool's
 * lock held: it may only read. Whoever makes it true calls pools_wake().
 */
int pools_wait(struct pools *p, long ctx_id, int (*ready)(void *arg), void *arg);

/* What hooks.run returns for a job it made a task. */
#define POOL_RUN_DETACHED 2

/*
 * On a context's thread, inside hooks.run for job: makes job a *task* of
 * its context, one that goes on after hooks.run returns (a coroutine call
 * that its context's event loop finishes, eventloop.h). hooks.run then
 * returns POOL_RUN_DETACHED. Until pools_task_done(), the task counts
 * towards its pool's max_queue and stats (`tasks`), pools_cancel() and a
 * pool stop claim it and call hooks.interrupt with its seq as for a
 * running job, and pools_poke() reaches it.
 */
void pools_detach(struct pools *p, struct job *job);

/* Any thread, no lock held: the task job ended (raised: with an error or
 * cancelled); counts it as completed and frees it. Its reply was sent,
 * or claimed, before. */
void pools_task_done(struct pools *p, struct job *job, int raised);

/* Any thread, no lock held: makes the context ctx_id check its ready()
 * again if it waits in pools_wait(). */
void pools_wake(struct pools *p, long ctx_id);

enum pool_cancel_why { POOL_CANCEL_TIMEOUT, POOL_CANCEL_CALLER_EXIT };

/*
 * Cancels every job that match() accepts: a queued job is removed and
 * freed without an answer; a running job is claimed (its reply will be
 * dropped) and hooks->interrupt is called for it. Returns the number of
 * jobs cancelled. match runs with pool locks held. A running job that
 * waits in pools_wait() is woken, which then returns -ECANCELED.
 */
int pools_cancel(struct pools *p, int (*match)(const struct job *job, const void *arg),
                 const void *arg, enum pool_cancel_why why);

/*
 * Interrupts what the context ctx_id runs (ctx_id >= 0), or each context
 * of the pool `pool`: hooks->interrupt is called for the innermost job a
 * context runs (a task's first step included), which
 * is not claimed (its reply, the exception the
 * interrupt raised, is sent as usual). Returns how many jobs, or -ESRCH
 * for no such context or pool. A job waiting in pools_wait() is not woken.
 */
int pools_interrupt(struct pools *p, const char *pool, long ctx_id);

/*
 * Calls poke(job, arg) for every running job (nested ones too) that
 * match() accepts, with pool locks held (poke may only update the job's
 * atomics), and wakes its context if it waits. Returns how many.
 */
int pools_poke(struct pools *p, int (*match)(const struct job *job, const void *arg),
               void (*poke)(struct job *job, const void *arg), const void *arg);

/* What a pool has done since it started (pools_stats()). */
struct pool_stats {
    char name[MAXATOMLEN_UTF8];
    char mode[16]; /* its context_kind's */
    long size, busy, queued;
    long tasks;                   /* coroutine calls in flight on its contexts' event loops */
    unsigned long long completed; /* requests a context ran to their end */
    unsigned long long errors;    /* ... of which raised (cancelled ones too) */
    unsigned long long timeouts;  /* requests cancelled: their caller timed out */
    unsigned long long cancelled; /* requests cancelled: their caller exited */
    long long p50_us, p99_us;     /* from queued to done; -1 before any */
};

/* Fills out[0, max) with the running pools' stats; returns how many. */
int pools_stats(struct pools *p, struct pool_stats *out, int max);

/*
 * Stops every pool: queued jobs are freed unrun, contexts finish the job in
 * hand and exit. Waits up to timeout_ms. Returns 0 when every context has
 * exited (p is then freed), -ETIMEDOUT otherwise (p stays allocated, as
 * stuck threads may still touch it; calling pools_shutdown() again waits
 * again).
 */
int pools_shutdown(struct pools *p, int timeout_ms);

#endif
