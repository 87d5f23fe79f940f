/* Unit tests of port/pool.c with real context threads and plain C hooks. */
#include "check_main.h"
#include "pool.h"
#include "protocol.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What the hooks saw; jobs carry their number in env.size. */
struct record {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int started, stopped, ran;
    long order[1000];  /* job numbers in the order they ran */
    long ran_on[1000]; /* context id each job ran on, by job number */
    int block_job;     /* job number that waits for `release` */
    int release, blocked;
    int answered_by_run, answered_by_stop;
    int interrupts;
    long interrupted_ctx, interrupted_seq;
    long stop_answers[1000]; /* job numbers answered by a pool stop */
    int other_ran;           /* jobs run by the `other` kind's hook */
};

static struct record rec;

static void *on_start(void *arg, long id)
{
    (void)arg;
    pthread_mutex_lock(&rec.mu);
    rec.started++;
    pthread_mutex_unlock(&rec.mu);
    return (void *)(id + 1);
}

static int on_run(void *arg, void *state, struct job *job)
{
    (void)arg;
    long n = job->env.size;
    pthread_mutex_lock(&rec.mu);
    if (n == rec.block_job) {
        rec.blocked = 1;
        pthread_cond_broadcast(&rec.cond);
        while (!rec.release)
            pthread_cond_wait(&rec.cond, &rec.mu);
    }
    rec.order[rec.ran] = n;
    rec.ran_on[n] = (long)state - 1;
    rec.ran++;
    if (job_claim_answer(job))
        rec.answered_by_run++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
    return n % 2 == 1; /* odd job numbers 'raise' */
}

static void on_stop(void *arg, void *state)
{
    (void)arg;
    (void)state;
    pthread_mutex_lock(&rec.mu);
    rec.stopped++;
    pthread_mutex_unlock(&rec.mu);
}

/* pool_answer_fn: runs with pool locks held, so no rec.mu here. */
static void on_answer(void *arg, struct job *job)
{
    (void)arg;
    rec.stop_answers[rec.answered_by_stop++] = job->env.size;
}

/* hooks.interrupt: runs with pool locks held, so no rec.mu here. */
static void on_interrupt(void *arg, void *state, long seq)
{
    (void)arg;
    rec.interrupted_ctx = (long)state - 1;
    rec.interrupted_seq = seq;
    rec.interrupts++;
}

static const struct pool_hooks hooks = {NULL, on_start, on_run, on_stop, on_interrupt, NULL};

/* A second kind of context: on_run, counted apart. */
static int on_run_other(void *arg, void *state, struct job *job)
{
    pthread_mutex_lock(&rec.mu);
    rec.other_ran++;
    pthread_mutex_unlock(&rec.mu);
    return on_run(arg, state, job);
}

static const struct context_kind other = {
    "other", {NULL, on_start, on_run_other, on_stop, on_interrupt, NULL}};

static void setup(void)
{
    memset(&rec, 0, sizeof(rec));
    pthread_mutex_init(&rec.mu, NULL);
    pthread_cond_init(&rec.cond, NULL);
    rec.block_job = -1;
}

static struct job *make_job(const char *pool, long ctx, long n)
{
    struct job *job = calloc(1, sizeof(*job));
    strcpy(job->env.pool, pool);
    job->env.ctx_id = ctx;
    job->env.size = n;
    return job;
}

static void wait_ran(int n)
{
    pthread_mutex_lock(&rec.mu);
    while (rec.ran < n)
        pthread_cond_wait(&rec.cond, &rec.mu);
    pthread_mutex_unlock(&rec.mu);
}

/* Waits (up to 5 s) until the first pool of p has counted n requests
 * completed: a run hook has returned before the pool counts it. */
static void wait_completed(struct pools *p, unsigned long long n)
{
    struct pool_stats st[4];
    for (int k = 0; k < 5000; k++) {
        if (pools_stats(p, st, 4) >= 1 && st[0].completed >= n)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    ck_abort_msg("the pool did not count %llu requests completed", n);
}

/* Waits until job rec.block_job runs and waits for its release. */
static void wait_blocked(void)
{
    pthread_mutex_lock(&rec.mu);
    while (!rec.blocked)
        pthread_cond_wait(&rec.cond, &rec.mu);
    pthread_mutex_unlock(&rec.mu);
}

/* Lets job rec.block_job finish. */
static void release_blocked(void)
{
    pthread_mutex_lock(&rec.mu);
    rec.release = 1;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
}

START_TEST(test_pool_start_gives_ids_and_restart_returns_same)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE], again[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start(p, "default", 3, ids), 3);
    ck_assert_int_eq(pools_start(p, "io", 2, ids + 3), 2);
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(ids[k], k);
    ck_assert_int_eq(pools_start(p, "io", 7, again), 2);
    ck_assert_int_eq(again[0], 3);
    ck_assert_int_eq(again[1], 4);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
    ck_assert_int_eq(rec.started, 5);
    ck_assert_int_eq(rec.stopped, 5);
}
END_TEST

START_TEST(test_pool_kind_is_chosen_per_pool)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start(p, "default", 1, ids), 1);
    ck_assert_int_eq(pools_start_kind(p, "cpu", 2, &other, ids), 2);
    ck_assert_int_eq(pools_start_kind(p, "cpu", 2, NULL, ids), 2); /* runs: keeps its kind */
    for (long n = 0; n < 10; n++)
        ck_assert_int_eq(pools_submit(p, make_job(n < 4 ? "cpu" : "default", -1, n)), 0);
    wait_ran(10);
    ck_assert_int_eq(rec.other_ran, 4);
    struct pool_stats st[4];
    ck_assert_int_eq(pools_stats(p, st, 4), 2);
    int cpu = strcmp(st[0].name, "cpu") == 0 ? 0 : 1;
    ck_assert_str_eq(st[cpu].mode, "other");
    ck_assert_str_eq(st[1 - cpu].mode, "worker");
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
    ck_assert_int_eq(rec.stopped, 3);
}
END_TEST

START_TEST(test_pool_bad_sizes)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start(p, "a", 0, ids), -EINVAL);
    ck_assert_int_eq(pools_start(p, "a", -1, ids), -EINVAL);
    ck_assert_int_eq(pools_start(p, "a", PY_PORT_MAX_POOL_SIZE + 1, ids), -EINVAL);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_runs_every_job_once)
{
    /* Idle contexts poll for 100 us before they sleep: both ways of being
     * woken are taken. */
    struct pools *p = pools_new(&hooks, 100000);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "default", 4, ids);
    for (long n = 0; n < 1000; n++)
        ck_assert_int_eq(pools_submit(p, make_job("default", -1, n)), 0);
    wait_ran(1000);
    int seen[1000] = {0};
    for (int k = 0; k < 1000; k++)
        seen[rec.order[k]]++;
    for (int k = 0; k < 1000; k++)
        ck_assert_int_eq(seen[k], 1);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_unknown_target)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "default", 1, ids);
    struct job *a = make_job("io", -1, 0), *b = make_job("", 5, 0);
    ck_assert_int_eq(pools_submit(p, a), -ENOENT);
    ck_assert_int_eq(pools_submit(p, b), -ENOENT);
    job_free(a);
    job_free(b);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_context_of_stopped_pool_names_the_pool)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start(p, "s", 1, ids), 1);
    ck_assert_int_eq(pools_stop(p, "s", NULL, NULL), 0);
    struct job *nested = make_job("", ids[0], 0);
    ck_assert_int_eq(pools_submit(p, nested), -ECANCELED);
    ck_assert_str_eq(nested->env.pool, "s");
    job_free(nested);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_context_jobs_run_in_order_on_that_context)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "default", 4, ids);
    for (long n = 0; n < 200; n++)
        pools_submit(p, make_job("", ids[2], n));
    wait_ran(200);
    for (int k = 0; k < 200; k++) {
        ck_assert_int_eq(rec.order[k], k);
        ck_assert_int_eq(rec.ran_on[k], ids[2]);
    }
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_busy_context_does_not_hold_back_others)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "default", 2, ids);
    rec.block_job = 0;
    pools_submit(p, make_job("default", -1, 0));
    wait_blocked();
    /* Job 0 holds one context; jobs 1..10 must all run on the other. */
    for (long n = 1; n <= 10; n++)
        pools_submit(p, make_job("default", -1, n));
    wait_ran(10);
    release_blocked();
    wait_ran(11);
    ck_assert_int_eq(rec.order[10], 0);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_shutdown_times_out_on_stuck_context)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "default", 1, ids);
    rec.block_job = 0;
    pools_submit(p, make_job("default", -1, 0));
    pools_submit(p, make_job("default", -1, 1));
    wait_blocked();
    ck_assert_int_eq(pools_shutdown(p, 100), -ETIMEDOUT);
    struct job *late = make_job("default", -1, 2);
    ck_assert_int_eq(pools_submit(p, late), -ESHUTDOWN);
    job_free(late);
    release_blocked();
    wait_ran(1);
    /* Job 1 was queued at shutdown: freed, never run. */
    ck_assert_int_eq(rec.ran, 1);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_stop_answers_queued_and_running_once)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "io", 1, ids);
    rec.block_job = 0;
    pools_submit(p, make_job("io", -1, 0));
    wait_blocked();
    pools_submit(p, make_job("io", -1, 1));
    pools_submit(p, make_job("", ids[0], 2));

    ck_assert_int_eq(pools_stop(p, "io", on_answer, NULL), 0);
    /* Queued 1, then the context's own 2, then running 0: each once. */
    ck_assert_int_eq(rec.answered_by_stop, 3);
    ck_assert_int_eq(rec.stop_answers[0], 1);
    ck_assert_int_eq(rec.stop_answers[1], 2);
    ck_assert_int_eq(rec.stop_answers[2], 0);
    struct job *late = make_job("io", -1, 3);
    ck_assert_int_eq(pools_submit(p, late), -ENOENT);
    job_free(late);
    ck_assert_int_eq(pools_stop(p, "io", on_answer, NULL), -ENOENT);

    release_blocked();
    wait_ran(1);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
    ck_assert_int_eq(rec.ran, 1);
    ck_assert_int_eq(rec.answered_by_run, 0); /* the stop answered job 0 */
    ck_assert_int_eq(rec.stopped, 1);
}
END_TEST

START_TEST(test_pool_restart_after_stop_gets_new_contexts)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start(p, "io", 2, ids), 2);
    ck_assert_int_eq(pools_stop(p, "io", on_answer, NULL), 0);
    ck_assert_int_eq(pools_start(p, "io", 3, ids), 3);
    ck_assert_int_eq(ids[0], 2);
    pools_submit(p, make_job("io", -1, 0));
    wait_ran(1);
    ck_assert_int_eq(rec.answered_by_run, 1);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
    ck_assert_int_eq(rec.stopped, 5);
}
END_TEST

/* Matches jobs by their number (env.size in these tests). */
static int number_is(const struct job *job, const void *arg)
{
    return job->env.size == *(const long *)arg;
}

START_TEST(test_pool_cancel_queued_and_running)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "io", 1, ids);
    rec.block_job = 0;
    struct job *running = make_job("io", -1, 0);
    pools_submit(p, running);
    pthread_mutex_lock(&rec.mu);
    while (!rec.blocked)
        pthread_cond_wait(&rec.cond, &rec.mu);
    pthread_mutex_unlock(&rec.mu);
    pools_submit(p, make_job("io", -1, 1));
    pools_submit(p, make_job("", ids[0], 2));
    pools_submit(p, make_job("io", -1, 3));

    long two = 2, one = 1, zero = 0, nine = 9;
    ck_assert_int_eq(pools_cancel(p, number_is, &two, POOL_CANCEL_TIMEOUT),
                     1); /* queued on the context */
    ck_assert_int_eq(pools_cancel(p, number_is, &one, POOL_CANCEL_TIMEOUT),
                     1); /* queued on the pool */
    ck_assert_int_eq(pools_cancel(p, number_is, &nine, POOL_CANCEL_TIMEOUT), 0);
    ck_assert_int_eq(rec.interrupts, 0);
    ck_assert_int_eq(pools_cancel(p, number_is, &zero, POOL_CANCEL_TIMEOUT), 1); /* running */
    ck_assert_int_eq(rec.interrupts, 1);
    ck_assert_int_eq(rec.interrupted_ctx, ids[0]);
    ck_assert_int_eq(rec.interrupted_seq, 1); /* the first job submitted */

    pthread_mutex_lock(&rec.mu);
    rec.release = 1;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
    wait_ran(2);
    /* Job 0 ran to its end but could not answer; 3 ran; 1 and 2 never. */
    ck_assert_int_eq(rec.order[0], 0);
    ck_assert_int_eq(rec.order[1], 3);
    ck_assert_int_eq(rec.answered_by_run, 1);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
    ck_assert_int_eq(rec.ran, 2);
}
END_TEST

START_TEST(test_pool_interrupt_running_job_not_queued)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "io", 1, ids);
    ck_assert_int_eq(pools_interrupt(p, "", ids[0]), 0); /* idle */
    rec.block_job = 0;
    pools_submit(p, make_job("io", -1, 0));
    pthread_mutex_lock(&rec.mu);
    while (!rec.blocked)
        pthread_cond_wait(&rec.cond, &rec.mu);
    pthread_mutex_unlock(&rec.mu);
    pools_submit(p, make_job("io", -1, 1));
    ck_assert_int_eq(pools_interrupt(p, "", ids[0]), 1);
    ck_assert_int_eq(rec.interrupts, 1);
    ck_assert_int_eq(rec.interrupted_seq, 1);
    ck_assert_int_eq(pools_interrupt(p, "io", -1), 1);
    ck_assert_int_eq(pools_interrupt(p, "nope", -1), -ESRCH);
    ck_assert_int_eq(pools_interrupt(p, "", 99), -ESRCH);

    pthread_mutex_lock(&rec.mu);
    rec.release = 1;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
    wait_ran(2);
    /* Not claimed: both jobs ran and answered. */
    ck_assert_int_eq(rec.answered_by_run, 2);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

START_TEST(test_pool_stats_count_runs_errors_and_cancels)
{
    struct pools *p = pools_new(&hooks, 0);
    long ids[PY_PORT_MAX_POOL_SIZE];
    pools_start(p, "io", 2, ids);
    for (long n = 0; n < 10; n++)
        pools_submit(p, make_job("io", -1, n));
    wait_ran(10);
    wait_completed(p, 10);
    struct pool_stats st[4];
    ck_assert_int_eq(pools_stats(p, st, 4), 1);
    ck_assert_str_eq(st[0].name, "io");
    ck_assert_int_eq(st[0].size, 2);
    ck_assert_uint_eq(st[0].completed, 10);
    ck_assert_uint_eq(st[0].errors, 5); /* the odd ones */
    ck_assert_int_ge(st[0].p99_us, st[0].p50_us);
    ck_assert_int_ge(st[0].p50_us, 0);

    rec.block_job = 10; /* holds context ids[0]; 11 and 12 wait behind it */
    pools_submit(p, make_job("", ids[0], 10));
    wait_blocked();
    pools_submit(p, make_job("", ids[0], 11));
    pools_submit(p, make_job("", ids[0], 12));
    long eleven = 11, twelve = 12;
    ck_assert_int_eq(pools_stats(p, st, 4), 1);
    ck_assert_int_ge(st[0].busy, 1);
    ck_assert_int_eq(pools_cancel(p, number_is, &eleven, POOL_CANCEL_TIMEOUT), 1);
    ck_assert_int_eq(pools_cancel(p, number_is, &twelve, POOL_CANCEL_CALLER_EXIT), 1);
    release_blocked();
    wait_ran(11);
    ck_assert_int_eq(pools_stats(p, st, 4), 1);
    ck_assert_uint_eq(st[0].timeouts, 1);
    ck_assert_uint_eq(st[0].cancelled, 1);
    ck_assert_uint_eq(st[0].completed, 11);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

/* A kind of context whose jobs become tasks (pools_detach()), as a
 * coroutine call does: they are left in rec.tasks for the test to end. */
static struct pools *task_pools;
static struct job *tasks_detached[16];
static int n_detached, n_poked;
static long poked_seq;

static int on_run_detach(void *arg, void *state, struct job *job)
{
    (void)arg;
    (void)state;
    pools_detach(task_pools, job);
    pthread_mutex_lock(&rec.mu);
    tasks_detached[n_detached++] = job;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
    return POOL_RUN_DETACHED;
}

/* hooks.task_poked: pool locks held, so no rec.mu here. */
static void on_task_poked(void *arg, void *state, long seq)
{
    (void)arg;
    (void)state;
    poked_seq = seq;
    n_poked++;
}

static const struct context_kind detaching = {
    "tasks", {NULL, on_start, on_run_detach, on_stop, on_interrupt, on_task_poked}};

static void wait_detached(int n)
{
    pthread_mutex_lock(&rec.mu);
    while (n_detached < n)
        pthread_cond_wait(&rec.cond, &rec.mu);
    pthread_mutex_unlock(&rec.mu);
}

static void add_one_credit(struct job *job, const void *arg)
{
    (void)arg;
    atomic_fetch_add(&job->credit, 1);
}

/* The task of job number n, as the test saw it detached. */
static struct job *task_numbered(long n)
{
    for (int k = 0; k < n_detached; k++)
        if (tasks_detached[k]->env.size == n)
            return tasks_detached[k];
    return NULL;
}

START_TEST(test_pool_tasks_count_cancel_poke_and_bound_the_queue)
{
    struct pools *p = task_pools = pools_new(&hooks, 0);
    n_detached = n_poked = 0;
    long ids[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start_kind(p, "aio", 1, &detaching, ids), 1);
    pools_set_max_queue(p, 3);
    for (long n = 100; n < 103; n++)
        ck_assert_int_eq(pools_submit(p, make_job("aio", -1, n)), 0);
    wait_detached(3);
    struct pool_stats st[4];
    ck_assert_int_eq(pools_stats(p, st, 4), 1);
    ck_assert_int_eq(st[0].tasks, 3);
    ck_assert_int_eq(st[0].busy, 0);
    ck_assert_int_eq(st[0].queued, 0);
    /* max_queue counts the tasks: a fourth request is refused. */
    struct job *more = make_job("aio", -1, 103), *to_ctx = make_job("", ids[0], 104);
    ck_assert_int_eq(pools_submit(p, more), -EBUSY);
    ck_assert_int_eq(pools_submit(p, to_ctx), -EBUSY);
    job_free(more);
    job_free(to_ctx);
    /* A cancel claims a task and interrupts it by its seq. */
    long n101 = 101, n102 = 102;
    struct job *t101 = task_numbered(101), *t102 = task_numbered(102);
    ck_assert_int_eq(pools_cancel(p, number_is, &n101, POOL_CANCEL_TIMEOUT), 1);
    ck_assert_int_eq(rec.interrupts, 1);
    ck_assert_int_eq(rec.interrupted_seq, t101->seq);
    ck_assert_int_eq(atomic_load(&t101->answered), 1);
    /* A poke reaches a task and tells the context. */
    ck_assert_int_eq(pools_poke(p, number_is, add_one_credit, &n102), 1);
    ck_assert_int_eq(n_poked, 1);
    ck_assert_int_eq(poked_seq, t102->seq);
    ck_assert_int_eq(atomic_load(&t102->credit), 1);
    /* Done tasks are counted and leave the count. */
    pools_task_done(p, task_numbered(100), 0);
    pools_task_done(p, t101, 1);
    pools_task_done(p, t102, 0);
    ck_assert_int_eq(pools_stats(p, st, 4), 1);
    ck_assert_int_eq(st[0].tasks, 0);
    ck_assert_uint_eq(st[0].completed, 3);
    ck_assert_uint_eq(st[0].errors, 1);
    ck_assert_uint_eq(st[0].timeouts, 1);
    ck_assert_int_eq(pools_submit(p, make_job("aio", -1, 105)), 0);
    wait_detached(4);
    struct job *t105 = tasks_detached[3]; /* the others are freed: not to be read */
    ck_assert_int_eq(t105->env.size, 105);
    /* A pool stop answers a task once and interrupts it. */
    ck_assert_int_eq(pools_stop(p, "aio", on_answer, NULL), 0);
    ck_assert_int_eq(rec.answered_by_stop, 1);
    ck_assert_int_eq(rec.stop_answers[0], 105);
    ck_assert_int_eq(rec.interrupts, 2);
    pools_task_done(p, t105, 1);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

/* A task is not what pools_interrupt() reaches on its context: its first
 * step runs before pools_detach(), as part of the job. */
START_TEST(test_pool_interrupt_skips_a_task)
{
    struct pools *p = task_pools = pools_new(&hooks, 0);
    n_detached = n_poked = 0;
    long ids[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start_kind(p, "aio", 1, &detaching, ids), 1);
    ck_assert_int_eq(pools_submit(p, make_job("aio", -1, 100)), 0);
    wait_detached(1);
    struct job *task = tasks_detached[0];
    ck_assert_int_eq(pools_interrupt(p, "aio", -1), 0);
    ck_assert_int_eq(pools_interrupt(p, "", ids[0]), 0);
    ck_assert_int_eq(rec.interrupts, 0);
    pools_task_done(p, task, 1);
    ck_assert_int_eq(pools_shutdown(p, 2000), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_pool_start_gives_ids_and_restart_returns_same);
    tcase_add_test(tc, test_pool_kind_is_chosen_per_pool);
    tcase_add_test(tc, test_pool_bad_sizes);
    tcase_add_test(tc, test_pool_runs_every_job_once);
    tcase_add_test(tc, test_pool_unknown_target);
    tcase_add_test(tc, test_pool_context_of_stopped_pool_names_the_pool);
    tcase_add_test(tc, test_pool_context_jobs_run_in_order_on_that_context);
    tcase_add_test(tc, test_pool_busy_context_does_not_hold_back_others);
    tcase_add_test(tc, test_pool_shutdown_times_out_on_stuck_context);
    tcase_add_test(tc, test_pool_stop_answers_queued_and_running_once);
    tcase_add_test(tc, test_pool_restart_after_stop_gets_new_contexts);
    tcase_add_test(tc, test_pool_cancel_queued_and_running);
    tcase_add_test(tc, test_pool_interrupt_running_job_not_queued);
    tcase_add_test(tc, test_pool_interrupt_skips_a_task);
    tcase_add_test(tc, test_pool_stats_count_runs_errors_and_cancels);
    tcase_add_test(tc, test_pool_tasks_count_cancel_poke_and_bound_the_queue);
    suite_add_tcase(s, tc);
    return check_run(s);
}
