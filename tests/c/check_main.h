/* The runner of every Check suite: each check_<module>.c builds its Suite
 * (its test registration stays there) and ends main() with
 * `return check_run(s);`. */
#ifndef CHECK_MAIN_H
#define CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Runs every test of s, printing Check's CK_NORMAL report (the fork mode
 * comes from CK_FORK), and frees the runner, which owns s. Returns
 * EXIT_SUCCESS if no test failed, else EXIT_FAILURE: main()'s status. */
static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
