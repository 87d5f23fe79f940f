/* Unit tests of port/trace.c: trace lines leave through a thread of their
 * own, and a stderr that nobody reads costs lines, never a wait. Each
 * test points this process's stderr at a pipe (Check forks each test). */
#include "check_main.h"
#include "clock.h"
#include "envelope.h"
#include "pool.h"
#include "trace.h"

#include <check.h>
#include <ei.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int err_r; /* the reading end of this process's stderr */

static int run_nothing(void *arg, void *state, struct job *job)
{
    (void)arg;
    (void)state;
    (void)job;
    return 0;
}

static void setup(void)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(dup2(p[1], 2), 2);
    close(p[1]);
    err_r = p[0];
    struct pool_hooks hooks = {NULL, NULL, run_nothing, NULL, NULL, NULL};
    trace_wrap_hooks(&hooks); /* starts the trace thread */
}

/* A job of the request {call, 7, default, m, f, [], #{}}. */
static struct job *call_job(void)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 7);
    ei_x_encode_atom(&x, "call");
    ei_x_encode_long(&x, 7);
    ei_x_encode_atom(&x, "default");
    ei_x_encode_atom(&x, "m");
    ei_x_encode_atom(&x, "f");
    ei_x_encode_empty_list(&x);
    ei_x_encode_map_header(&x, 0);
    struct job *job = calloc(1, sizeof(*job));
    job->frame = x.buff;
    job->len = (size_t)x.index;
    ck_assert_int_eq(envelope_decode(job->frame, job->len, &job->env), 0);
    job->t_read_ns = clock_now_ns();
    return job;
}

/* What arrives on stderr within ms milliseconds of quiet, NUL-terminated
 * (malloc'd); *len its length. */
static char *drain(int ms, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    struct pollfd pfd = {err_r, POLLIN, 0};
    while (poll(&pfd, 1, ms) == 1) {
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
        ssize_t got = read(err_r, buf + n, cap - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int count(const char *text, const char *part)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, part)) != NULL; p += strlen(part))
        n++;
    return n;
}

START_TEST(test_trace_full_stderr_costs_lines_not_time)
{
    enum { LINES = 20000 }; /* about 2 MB: more than the pipe and the buffer */
    struct job *job = call_job();
    long long t0 = clock_now_ns();
    for (int k = 0; k < LINES; k++)
        trace_job(job, "context");
    long long ms = (clock_now_ns() - t0) / 1000000;
    ck_assert_int_lt(ms, 5000); /* nobody read stderr: had a line waited, this hangs */
    size_t len;
    char *out = drain(500, &len);
    const char *note = strstr(out, "py_port trace: ");
    long long dropped = 0;
    for (const char *p = out; (p = strstr(p, "py_port trace: ")) != NULL; p++) {
        long long n;
        if (sscanf(p, "py_port trace: %lld lines dropped", &n) == 1)
            dropped += n;
    }
    ck_assert_ptr_nonnull(note);
    ck_assert_int_gt(dropped, 0);
    /* Every line is either written or counted. */
    ck_assert_int_eq(count(out, "py_port trace: call reply_to=7 target=default ") + dropped, LINES);
    free(out);
    job_free(job);
}
END_TEST

START_TEST(test_trace_flush_writes_the_last_lines)
{
    struct job *job = call_job();
    for (int k = 0; k < 3; k++)
        trace_job(job, "reader");
    trace_flush(1000);
    size_t len;
    char *out = drain(0, &len); /* written already: no waiting */
    ck_assert_int_eq(count(out, "py_port trace: call reply_to=7 target=default frame="), 3);
    ck_assert_int_eq(count(out, "by=reader\n"), 3);
    free(out);
    job_free(job);
}
END_TEST

START_TEST(test_trace_long_line_is_cut)
{
    ei_x_buff x;
    ei_x_new_with_version(&x);
    ei_x_encode_tuple_header(&x, 7);
    ei_x_encode_atom(&x, "call");
    char big[4000];
    memset(big, 'a', sizeof(big));
    ei_x_encode_binary(&x, big, sizeof(big)); /* a ReplyTo of 4000 bytes */
    ei_x_encode_atom(&x, "default");
    ei_x_encode_atom(&x, "m");
    ei_x_encode_atom(&x, "f");
    ei_x_encode_empty_list(&x);
    ei_x_encode_map_header(&x, 0);
    struct job job = {.frame = x.buff, .len = (size_t)x.index};
    ck_assert_int_eq(envelope_decode(job.frame, job.len, &job.env), 0);
    trace_job(&job, "context");
    trace_flush(1000);
    size_t len;
    char *out = drain(0, &len);
    ck_assert_uint_eq(len, TRACE_LINE_MAX - 1);
    ck_assert_str_eq(out + len - 4, "...\n");
    free(out);
    ei_x_free(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_trace_full_stderr_costs_lines_not_time);
    tcase_add_test(tc, test_trace_flush_writes_the_last_lines);
    tcase_add_test(tc, test_trace_long_line_is_cut);
    suite_add_tcase(s, tc);
    return check_run(s);
}
