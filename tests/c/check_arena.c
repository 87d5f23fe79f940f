/*
 * check_arena: arena.c, the arenas CPython's object allocator takes and
 * gives back. Python starts in a checked fixture, after arena_install(),
 * so every test (in the default fork mode) has a fresh interpreter and no
 * arena kept.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <check.h>

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

int main(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("arena");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, freed_arenas_are_kept_and_used_again);
    tcase_add_test(tc, no_more_than_arena_keep_are_kept);
    suite_add_tcase(s, tc);
    return check_run(s);
}
