/* Unit tests of port/waiters.c and of pools_wait(), pools_wake() and
 * pools_poke() in port/pool.c: contexts that wait for Erlang while they
 * serve the requests addressed to them. Plain C hooks, real threads. */
#include "check_main.h"
#include "pool.h"
#include "protocol.h"
#include "waiters.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Job kinds, in env.size: */
#define PLAIN 0  /* records that it ran */
#define WAITER 1 /* waits for a callback answer (waiters_wait) */
#define CREDIT 2 /* waits for credit (pools_wait on job->credit) */

static struct waiters *ws;
static struct pools *pools;

/* What the hooks saw. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    long waiter_id;   /* the waiter of the WAITER job, once it waits */
    int waiting;      /* the WAITER/CREDIT job waits */
    int wait_rc;      /* what its wait returned */
    int waits_done;   /* its wait returned */
    char answer[16];  /* the answer it got */
    int ran;          /* jobs run */
    long order[16];   /* their seq, in the order they ended */
    int nested_depth; /* how many jobs were running when a PLAIN job ran */
    int interrupts;
    long interrupted_seq;
    int stop_answers;
} rec;

static void *on_start(void *arg, long id)
{
    (void)arg;
    return (void *)(id + 1);
}

static void note_waiting(long id)
{
    pthread_mutex_lock(&rec.mu);
    rec.waiter_id = id;
    rec.waiting = 1;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
}

static int has_credit(void *arg)
{
    const struct job *job = arg;
    return atomic_load(&job->credit) > 0;
}

static int on_run(void *arg, void *state, struct job *job)
{
    (void)arg;
    (void)state;
    int rc = 0, depth = 0;
    struct waiter w;
    for (const struct job *j = job; j; j = j->outer)
        depth++;
    if (job->env.size == WAITER) {
        waiters_add(ws, &w, job->ctx_id);
        note_waiting(w.id);
        rc = waiters_wait(ws, &w);
    } else if (job->env.size == CREDIT) {
        note_waiting(-1);
        rc = pools_wait(pools, job->ctx_id, has_credit, job);
    }
    pthread_mutex_lock(&rec.mu);
    if (job->env.size != PLAIN) {
        rec.wait_rc = rc;
        rec.waits_done++;
        if (job->env.size == WAITER && rc == 0)
            memcpy(rec.answer, w.frame + w.body_off, w.len - (size_t)w.body_off);
    } else {
        rec.nested_depth = depth;
    }
    if (job->env.size == WAITER)
        free(w.frame);
    rec.order[rec.ran++] = job->seq;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.mu);
    return 0;
}

static void on_stop(void *arg, void *state)
{
    (void)arg;
    (void)state;
}

/* Pool locks held: no rec.mu. */
static void on_interrupt(void *arg, void *state, long seq)
{
    (void)arg;
    (void)state;
    rec.interrupts++;
    rec.interrupted_seq = seq;
}

static void on_answer(void *arg, struct job *job)
{
    (void)arg;
    (void)job;
    rec.stop_answers++;
}

static const struct pool_hooks hooks = {NULL, on_start, on_run, on_stop, on_interrupt, NULL};

static void setup(void)
{
    memset(&rec, 0, sizeof(rec));
    pthread_mutex_init(&rec.mu, NULL);
    pthread_cond_init(&rec.cond, NULL);
    pools = pools_new(&hooks, 0);
    ws = waiters_new(pools);
    long ids[PY_PORT_MAX_POOL_SIZE];
    ck_assert_int_eq(pools_start(pools, "p", 1, ids), 1);
    ck_assert_int_eq(ids[0], 0);
}

static void teardown(void)
{
    ck_assert_int_eq(pools_shutdown(pools, 5000), 0);
    free(ws);
}

static struct job *submit(long ctx, long kind)
{
    struct job *job = calloc(1, sizeof(*job));
    strcpy(job->env.pool, ctx < 0 ? "p" : "");
    job->env.ctx_id = ctx;
    job->env.size = kind;
    ck_assert_int_eq(pools_submit(pools, job), 0);
    return job;
}

static void wait_for(int *field, int value)
{
    pthread_mutex_lock(&rec.mu);
    while (*field < value)
        pthread_cond_wait(&rec.cond, &rec.mu);
    pthread_mutex_unlock(&rec.mu);
}

/* A frame whose body (from offset 2) is "ok". */
static char *answer_frame(size_t *len)
{
    char *f = malloc(4);
    memcpy(f, "xxok", 4);
    *len = 4;
    return f;
}

START_TEST(test_answer_ends_the_wait)
{
    submit(-1, WAITER);
    wait_for(&rec.waiting, 1);
    size_t len;
    char *f = answer_frame(&len);
    ck_assert_int_eq(waiters_deliver(ws, rec.waiter_id, f, len, 2), 0);
    wait_for(&rec.waits_done, 1);
    ck_assert_int_eq(rec.wait_rc, 0);
    ck_assert_str_eq(rec.answer, "ok");
    /* The waiter is gone: a second answer has nobody to go to. */
    f = answer_frame(&len);
    ck_assert_int_eq(waiters_deliver(ws, rec.waiter_id, f, len, 2), -ENOENT);
}
END_TEST

START_TEST(test_own_queue_served_pool_queue_not)
{
    struct job *outer = submit(-1, WAITER);
    wait_for(&rec.waiting, 1);
    long outer_seq = outer->seq; /* outer waits: it is not freed yet */
    /* The two jobs below are numbered in the order submitted; neither may
     * be read once submitted (the context may have run and freed it). */
    submit(-1, PLAIN); /* for the pool: waits */
    submit(0, PLAIN);  /* for the context: runs now */
    long nested_seq = outer_seq + 2;
    wait_for(&rec.ran, 1);
    pthread_mutex_lock(&rec.mu);
    ck_assert_int_eq(rec.order[0], nested_seq);
    ck_assert_int_eq(rec.nested_depth, 2); /* on top of the waiting job */
    ck_assert_int_eq(rec.waits_done, 0);
    pthread_mutex_unlock(&rec.mu);
    size_t len;
    char *f = answer_frame(&len);
    ck_assert_int_eq(waiters_deliver(ws, rec.waiter_id, f, len, 2), 0);
    wait_for(&rec.ran, 3);
    ck_assert_int_eq(rec.order[1], outer_seq);
    ck_assert_int_eq(rec.order[2], outer_seq + 1); /* the pool's job, last */
    ck_assert_int_eq(rec.nested_depth, 1);
}
END_TEST

static int match_all(const struct job *job, const void *arg)
{
    (void)job;
    (void)arg;
    return 1;
}

START_TEST(test_cancel_ends_the_wait)
{
    struct job *job = submit(-1, WAITER);
    wait_for(&rec.waiting, 1);
    long seq = job->seq;
    ck_assert_int_eq(pools_cancel(pools, match_all, NULL, POOL_CANCEL_TIMEOUT), 1);
    wait_for(&rec.waits_done, 1);
    ck_assert_int_eq(rec.wait_rc, -ECANCELED);
    ck_assert_int_eq(rec.interrupts, 1);
    ck_assert_int_eq(rec.interrupted_seq, seq);
    size_t len;
    char *f = answer_frame(&len); /* the late answer is dropped */
    ck_assert_int_eq(waiters_deliver(ws, rec.waiter_id, f, len, 2), -ENOENT);
}
END_TEST

START_TEST(test_pool_stop_ends_the_wait)
{
    submit(-1, WAITER);
    wait_for(&rec.waiting, 1);
    ck_assert_int_eq(pools_stop(pools, "p", on_answer, NULL), 0);
    wait_for(&rec.waits_done, 1);
    ck_assert_int_eq(rec.wait_rc, -ESHUTDOWN);
    ck_assert_int_eq(rec.stop_answers, 1);
}
END_TEST

static int is_credit_job(const struct job *job, const void *arg)
{
    (void)arg;
    return job->env.size == CREDIT;
}

static void add_two(struct job *job, const void *arg)
{
    (void)arg;
    atomic_fetch_add(&job->credit, 2);
}

/* Waits, up to 4 s, until no context of pool p runs a job: the hook's
 * wait has ended before the pool takes the job off its context. */
static void wait_idle(void)
{
    struct pool_stats st[1];
    for (int k = 0; k < 4000; k++) {
        if (pools_stats(pools, st, 1) == 1 && st[0].busy == 0)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    ck_abort_msg("the pool stayed busy");
}

START_TEST(test_poke_gives_credit)
{
    submit(-1, CREDIT);
    wait_for(&rec.waiting, 1);
    ck_assert_int_eq(pools_poke(pools, is_credit_job, add_two, NULL), 1);
    wait_for(&rec.waits_done, 1);
    ck_assert_int_eq(rec.wait_rc, 0);
    wait_idle();
    ck_assert_int_eq(pools_poke(pools, is_credit_job, add_two, NULL), 0); /* it ended */
}
END_TEST

struct foreign {
    struct waiter w;
    int rc;
};

static void *foreign_thread(void *arg)
{
    struct foreign *t = arg;
    t->rc = waiters_wait(ws, &t->w);
    return NULL;
}

START_TEST(test_foreign_thread_waits_for_its_answer)
{
    struct foreign t[3];
    pthread_t threads[3];
    for (int k = 0; k < 3; k++) {
        waiters_add(ws, &t[k].w, -1);
        ck_assert_int_eq(t[k].w.id, k);
        pthread_create(&threads[k], NULL, foreign_thread, &t[k]);
    }
    for (int k = 2; k >= 0; k--) { /* answered in reverse */
        size_t len;
        char *f = answer_frame(&len);
        f[0] = (char)('a' + k);
        ck_assert_int_eq(waiters_deliver(ws, k, f, len, 2), 0);
    }
    for (int k = 0; k < 3; k++) {
        pthread_join(threads[k], NULL);
        ck_assert_int_eq(t[k].rc, 0);
        ck_assert_int_eq(t[k].w.frame[0], 'a' + k);
        free(t[k].w.frame);
    }
}
END_TEST

START_TEST(test_wake_of_a_context_that_does_not_wait)
{
    pools_wake(pools, 0);  /* idle: nothing happens */
    pools_wake(pools, 57); /* no such context */
    submit(-1, PLAIN);
    wait_for(&rec.ran, 1);
    ck_assert_int_eq(rec.nested_depth, 1);
}
END_TEST

/* waiters_add_notify()'s notify: called by the deliverer, lock held. */
static struct waiter *notified;
static int n_notified;

static void on_notify(struct waiter *w)
{
    notified = w;
    n_notified++;
}

START_TEST(test_notify_waiter_is_handed_its_answer)
{
    struct waiter w;
    notified = NULL;
    n_notified = 0;
    waiters_add_notify(ws, &w, on_notify);
    size_t len;
    char *f = answer_frame(&len);
    ck_assert_int_eq(waiters_deliver(ws, w.id, f, len, 2), 0);
    ck_assert_int_eq(n_notified, 1);
    ck_assert_ptr_eq(notified, &w);
    ck_assert_ptr_eq(w.frame, f);
    ck_assert_int_eq(w.body_off, 2);
    /* Unregistered by the delivery: no second answer, nothing to cancel. */
    ck_assert_int_eq(waiters_cancel(ws, &w), 0);
    f = answer_frame(&len);
    ck_assert_int_eq(waiters_deliver(ws, w.id, f, len, 2), -ENOENT);
    ck_assert_int_eq(n_notified, 1);
    free(w.frame);
}
END_TEST

START_TEST(test_cancelled_notify_waiter_gets_no_answer)
{
    struct waiter w;
    n_notified = 0;
    waiters_add_notify(ws, &w, on_notify);
    ck_assert_int_eq(waiters_cancel(ws, &w), 1);
    size_t len;
    char *f = answer_frame(&len);
    ck_assert_int_eq(waiters_deliver(ws, w.id, f, len, 2), -ENOENT);
    ck_assert_int_eq(n_notified, 0);
    ck_assert_ptr_null(w.frame);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("waiters");
    TCase *tc = tcase_create("waiters");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_answer_ends_the_wait);
    tcase_add_test(tc, test_own_queue_served_pool_queue_not);
    tcase_add_test(tc, test_cancel_ends_the_wait);
    tcase_add_test(tc, test_pool_stop_ends_the_wait);
    tcase_add_test(tc, test_poke_gives_credit);
    tcase_add_test(tc, test_foreign_thread_waits_for_its_answer);
    tcase_add_test(tc, test_wake_of_a_context_that_does_not_wait);
    tcase_add_test(tc, test_notify_waiter_is_handed_its_answer);
    tcase_add_test(tc, test_cancelled_notify_waiter_gets_no_answer);
    suite_add_tcase(s, tc);
    return check_run(s);
}
