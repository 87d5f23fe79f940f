/*
 * check_arena: arena.c, the arenas CPython's object allocator takes and
 * gives back. Python starts in a checked fixture, after arena_install(),
 * so every test (in the default fork mode) has a fresh interpreter and no
 * arena kept.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "check_main.h"
#include "check_python.h"

static void setup(void)
{
    arena_install();
    check_python_start("import gc");
}

START_TEST(freed_arenas_are_kept_and_used_again)
{
    int before = arena_kept();
    /* 200,000 floats of 24 bytes: five 1 MiB arenas, all freed at once. */
    run("xs = [float(i) for i in range(200000)]\n"
        "del xs\n");
    int kept = arena_kept();
    ck_assert_int_ge(kept, before + 3);
    run("xs = [float(i) for i in range(200000)]\n");
    ck_assert_int_lt(arena_kept(), kept);
    run("del xs\n");
    ck_assert_int_eq(arena_kept(), kept);
}
END_TEST

START_TEST(no_more_than_arena_keep_are_kept)
{
    /* About 64 MiB of floats: many more arenas than are kept. */
    run("xs = [float(i) for i in range(3000000)]\n"
        "del xs\n");
    ck_assert_int_eq(arena_kept(), ARENA_KEEP);
}
END_TEST

static atomic_int stop_churn;

/* Takes and gives back arenas without a pause, so that the allocator's
 * lock is often held: a plain thread, as an owngil interpreter's is. */
static void *churn(void *arg)
{
    PyObjectArenaAllocator *a = arg;
    while (!atomic_load(&stop_churn)) {
        void *p = a->alloc(a->ctx, 1 << 20);
        a->free(a->ctx, p, 1 << 20);
    }
    return NULL;
}

START_TEST(a_child_forked_while_arenas_are_taken_takes_them_too)
{
    PyObjectArenaAllocator a;
    PyObject_GetArenaAllocator(&a);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, churn, &a), 0);
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            alarm(2); /* a child stuck on the lock dies of SIGALRM */
            void *p = a.alloc(a.ctx, 1 << 20);
            a.free(a.ctx, p, 1 << 20);
            _exit(p ? 0 : 1);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "fork %d: the child did not take an arena (status %#x)", i, status);
    }
    atomic_store(&stop_churn, 1);
    pthread_join(t, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("arena");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, freed_arenas_are_kept_and_used_again);
    tcase_add_test(tc, no_more_than_arena_keep_are_kept);
    tcase_add_test(tc, a_child_forked_while_arenas_are_taken_takes_them_too);
    suite_add_tcase(s, tc);
    return check_run(s);
}
