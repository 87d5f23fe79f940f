/* Unit tests of port/venv.c: which venvs are refused, and why. */
#include "check_main.h"
#include "venv.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char cfg[128];
static char err[1024];

static void setup(void)
{
    strcpy(dir, "/tmp/check_venv_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cfg, sizeof(cfg), "%s/pyvenv.cfg", dir);
}

static void teardown(void)
{
    unlink(cfg);
    rmdir(dir);
}

static void write_cfg(const char *text)
{
    FILE *f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_venv_same_minor_accepted)
{
    write_cfg("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n");
    ck_assert_int_eq(venv_check(dir, "3.11.2 (main, Apr 28 2025)", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_venv_other_minor_refused_naming_both)
{
    write_cfg("home = /usr/bin\nversion = 3.9.18\n");
    ck_assert_int_eq(venv_check(dir, "3.11.2 (main, Apr 28 2025)", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "made by Python 3.9.18"));
    ck_assert_ptr_nonnull(strstr(err, "runs Python 3.11.2:"));
    ck_assert_ptr_nonnull(strstr(err, "with Python 3.11,"));
    ck_assert_ptr_nonnull(strstr(err, dir));
}
END_TEST

START_TEST(test_venv_version_info_read_keys_any_case)
{
    write_cfg("Home=/opt/py/bin\nVERSION_INFO = 3.12.1.final.0\n");
    ck_assert_int_eq(venv_check(dir, "3.11.2", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "3.12.1.final.0"));
    ck_assert_int_eq(venv_check(dir, "3.12.0", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_venv_version_wins_over_version_info)
{
    write_cfg("version = 3.10.13\nversion_info = 3.11.0\n");
    ck_assert_int_eq(venv_check(dir, "3.10.1", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_venv_without_version_accepted)
{
    write_cfg("home = /usr/bin\n");
    ck_assert_int_eq(venv_check(dir, "3.11.2", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_venv_without_cfg_refused)
{
    ck_assert_int_eq(venv_check(dir, "3.11.2", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "pyvenv.cfg"));
    ck_assert_ptr_nonnull(strstr(err, "is it a virtualenv?"));
}
END_TEST

START_TEST(test_venv_program_and_pythonhome)
{
    setenv("PYTHONHOME", "/nowhere", 1);
    ck_assert_int_eq(venv_use(dir), 0);
    char want[128];
    snprintf(want, sizeof(want), "%s/bin/python", dir);
    ck_assert_str_eq(venv_program(), want);
    ck_assert_ptr_null(getenv("PYTHONHOME"));
}
END_TEST

START_TEST(test_venv_path_too_long_refused)
{
    char *big = malloc(8192);
    memset(big, 'a', 8191);
    big[8191] = '\0';
    ck_assert_int_eq(venv_check(big, "3.11.2", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "path too long"));
    ck_assert_int_eq(venv_use(big), -1);
    ck_assert_ptr_null(venv_program());
    free(big);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("venv");
    TCase *tc = tcase_create("venv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_venv_same_minor_accepted);
    tcase_add_test(tc, test_venv_other_minor_refused_naming_both);
    tcase_add_test(tc, test_venv_version_info_read_keys_any_case);
    tcase_add_test(tc, test_venv_version_wins_over_version_info);
    tcase_add_test(tc, test_venv_without_version_accepted);
    tcase_add_test(tc, test_venv_without_cfg_refused);
    tcase_add_test(tc, test_venv_program_and_pythonhome);
    tcase_add_test(tc, test_venv_path_too_long_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
