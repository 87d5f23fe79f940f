/* Unit tests of port/forkguard.c: what a process forked from py_port
 * keeps of the protocol channel. */
#include "check_main.h"
#include "forkguard.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whether fd is /dev/null, close-on-exec. */
static int is_dev_null(int fd)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 && S_ISCHR(a.st_mode) &&
           a.st_rdev == b.st_rdev && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* The exit status of child, or -1 if it did not exit normally. */
static int exit_status(pid_t child)
{
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_forkguard_child_channel_is_dev_null)
{
    int in[2], out[2];
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
    ck_assert_int_eq(forkguard_setup(in[0], out[1]), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) /* writes nothing that the parent can read */
        _exit(forkguard_in_child() && is_dev_null(in[0]) && is_dev_null(out[1]) &&
                      write(out[1], "x", 1) == 1
                  ? 0
                  : 1);
    ck_assert_int_eq(exit_status(child), 0);
    ck_assert_int_eq(forkguard_in_child(), 0);
    char c;
    ck_assert_int_eq(read(out[0], &c, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(write(out[1], "y", 1), 1); /* the parent's channel still works */
    ck_assert_int_eq(read(out[0], &c, 1), 1);
}
END_TEST

static pid_t forked;
static int ready[2];

/* Forks a child that sleeps, and ends once the child runs (the handler
 * has run in it by then: it runs before fork() returns). */
static void *fork_a_sleeper(void *arg)
{
    (void)arg;
    forked = fork();
    if (forked == 0) {
        (void)write(ready[1], "r", 1);
        sleep(30);
        _exit(0);
    }
    char c;
    (void)read(ready[0], &c, 1);
    return NULL;
}

START_TEST(test_forkguard_child_dies_with_the_forking_thread)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(forkguard_setup(p[0], p[1]), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fork_a_sleeper, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_gt(forked, 0);
    int status;
    ck_assert_int_eq(waitpid(forked, &status, 0), forked);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forkguard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_forkguard_child_channel_is_dev_null);
    tcase_add_test(tc, test_forkguard_child_dies_with_the_forking_thread);
    suite_add_tcase(s, tc);
    return check_run(s);
}
