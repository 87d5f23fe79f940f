/* check_cancel: interrupts of a context's Python code (port/cancel.c): an
 * interrupt that comes before the request's code began, or while it
 * waits, is set when the code runs, and never in another request. Each
 * test runs its request on a thread of its own, as a context does (the
 * interrupting thread's own thread state was made on the main thread, and
 * interrupts find a thread state by thread id). */
#include "cancel.h"
#include "check_main.h"
#include "check_python.h"

#include <pthread.h>
#include <time.h>

static struct cancel_target target;

/* What a test's request did, read by the test once its thread ended. */
static struct outcome {
    int handled;      /* the interrupting thread handled the interrupt */
    int raised;       /* the request's code raised erlang.Cancelled */
    int raised_again; /* its code raised it again after a wait */
    int raised_after; /* code run after the request's end raised it */
} got;

static void setup(void)
{
    check_python_start("import erlang");
    got = (struct outcome){0, 0, 0, 0};
}

/* Interrupts request seq (as a timeout does) and lets the interrupting
 * thread take the GIL until it has handled it (kept for later, or set):
 * 1, or 0 after 3 s. */
static int interrupt_handled(long seq)
{
    cancel_request(&target, seq);
    const struct timespec ms = {0, 1000000};
    for (int k = 0; k < 3000; k++) {
        if (target.pending == seq || target.armed)
            return 1;
        Py_BEGIN_ALLOW_THREADS nanosleep(&ms, NULL);
        Py_END_ALLOW_THREADS
    }
    return 0;
}

/* Runs a few bytecodes: 1 if erlang.Cancelled was raised, 0 if they ran
 * through, -1 if something else was raised. */
static int raises_cancelled(void)
{
    PyObject *cancelled =
        PyObject_GetAttrString(PyDict_GetItemString(globals, "erlang"), "Cancelled");
    PyObject *r =
        PyRun_String("x = 0\nfor i in range(100):\n    x += i\n", Py_file_input, globals, globals);
    int outcome = r ? 0 : cancelled && PyErr_ExceptionMatches(cancelled) ? 1 : -1;
    Py_XDECREF(r);
    Py_XDECREF(cancelled);
    PyErr_Clear();
    return outcome;
}

/* Runs body on a new thread with a thread state of its own, the target's. */
static void *on_thread(void *body)
{
    PyGILState_STATE g = PyGILState_Ensure();
    target = (struct cancel_target){.ts = PyThreadState_Get()};
    ((void (*)(void))body)();
    PyGILState_Release(g);
    return NULL;
}

static void run_request(void (*body)(void))
{
    pthread_t t;
    Py_BEGIN_ALLOW_THREADS ck_assert_int_eq(pthread_create(&t, NULL, on_thread, (void *)body), 0);
    pthread_join(t, NULL);
    Py_END_ALLOW_THREADS
}

static void interrupted_before_it_began(void)
{
    got.handled = interrupt_handled(7);
    long outer = cancel_job_begin(&target, 7);
    got.raised = raises_cancelled();
    /* The code went on (it caught erlang.Cancelled) and waited: once only. */
    long seq = cancel_wait_begin(&target);
    cancel_wait_end(&target, seq, 0);
    got.raised_again = raises_cancelled();
    cancel_job_end(&target, outer);
    got.raised_after = raises_cancelled();
}

START_TEST(interrupt_before_the_code_began_is_raised_when_it_runs)
{
    run_request(interrupted_before_it_began);
    ck_assert_int_eq(got.handled, 1);
    ck_assert_int_eq(got.raised, 1);
    ck_assert_int_eq(got.raised_again, 0);
    ck_assert_int_eq(got.raised_after, 0);
}
END_TEST

static void another_interrupted(void)
{
    got.handled = interrupt_handled(8);
    long outer = cancel_job_begin(&target, 9);
    got.raised = raises_cancelled();
    cancel_job_end(&target, outer);
}

START_TEST(interrupt_of_another_request_is_not_raised)
{
    run_request(another_interrupted);
    ck_assert_int_eq(got.handled, 1);
    ck_assert_int_eq(got.raised, 0);
}
END_TEST

static void interrupted_while_it_waits(int wait_cancelled)
{
    long outer = cancel_job_begin(&target, 10);
    long seq = cancel_wait_begin(&target);
    got.handled = interrupt_handled(10);
    cancel_wait_end(&target, seq, wait_cancelled);
    got.raised = raises_cancelled();
    cancel_job_end(&target, outer);
}

static void interrupted_while_it_waits_for_an_answer(void)
{
    interrupted_while_it_waits(0);
}

static void interrupted_by_a_cancel_that_ends_its_wait(void)
{
    interrupted_while_it_waits(1); /* the code raises erlang.Cancelled itself */
}

START_TEST(interrupt_while_the_code_waits_is_raised_after_the_wait)
{
    run_request(interrupted_while_it_waits_for_an_answer);
    ck_assert_int_eq(got.handled, 1);
    ck_assert_int_eq(got.raised, 1);
}
END_TEST

START_TEST(a_cancelled_wait_drops_the_interrupt)
{
    run_request(interrupted_by_a_cancel_that_ends_its_wait);
    ck_assert_int_eq(got.handled, 1);
    ck_assert_int_eq(got.raised, 0);
}
END_TEST

static void interrupted_as_it_ends(void)
{
    long outer = cancel_job_begin(&target, 12);
    got.handled = interrupt_handled(12) && target.armed;
    cancel_job_end(&target, outer);
    got.raised_after = raises_cancelled();
}

START_TEST(interrupt_not_raised_when_the_code_ends_is_dropped)
{
    run_request(interrupted_as_it_ends);
    ck_assert_int_eq(got.handled, 1);
    ck_assert_int_eq(got.raised_after, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cancel");
    TCase *tc = tcase_create("interrupts");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, interrupt_before_the_code_began_is_raised_when_it_runs);
    tcase_add_test(tc, interrupt_of_another_request_is_not_raised);
    tcase_add_test(tc, interrupt_while_the_code_waits_is_raised_after_the_wait);
    tcase_add_test(tc, a_cancelled_wait_drops_the_interrupt);
    tcase_add_test(tc, interrupt_not_raised_when_the_code_ends_is_dropped);
    suite_add_tcase(s, tc);
    return check_run(s);
}
