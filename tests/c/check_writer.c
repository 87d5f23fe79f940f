/* Unit tests of port/writer.c: whole frames from many threads, none lost. */
#include "check_main.h"
#include "clock.h"
#include "frame.h"
#include "spin.h"
#include "writer.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRODUCERS 4
#define PER_PRODUCER 2000

static struct writer *w;

/* A frame whose payload is `len` copies of byte `tag`. */
static void send_frame(unsigned char tag, size_t len)
{
    char *buf = malloc(4 + len);
    frame_put_length(buf, (uint32_t)len);
    memset(buf + 4, tag, len);
    ck_assert_int_eq(writer_send(w, buf, 4 + len), 0);
}

static void *produce(void *arg)
{
    unsigned char tag = (unsigned char)(uintptr_t)arg;
    for (int k = 0; k < PER_PRODUCER; k++)
        send_frame(tag, 1 + (size_t)(k % 3) * 4000); /* 1 B to 8 KB */
    return NULL;
}

START_TEST(test_writer_frames_from_many_threads_arrive_whole)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    w = writer_start(fds[1]);
    ck_assert_ptr_nonnull(w);
    pthread_t t[PRODUCERS];
    for (uintptr_t k = 0; k < PRODUCERS; k++)
        pthread_create(&t[k], NULL, produce, (void *)(k + 1));

    struct frame_reader r;
    frame_reader_init(&r, fds[0], 1 << 20);
    int seen[PRODUCERS + 1] = {0};
    for (int n = 0; n < PRODUCERS * PER_PRODUCER; n++) {
        char *data;
        size_t len;
        ck_assert_int_eq(frame_read(&r, &data, &len), 1);
        unsigned char tag = (unsigned char)data[0];
        ck_assert_int_ge(tag, 1);
        ck_assert_int_le(tag, PRODUCERS);
        ck_assert_uint_eq(len, 1 + (size_t)(seen[tag] % 3) * 4000);
        size_t same = 0;
        while (same < len && (unsigned char)data[same] == tag)
            same++;
        ck_assert_uint_eq(same, len); /* no bytes of another frame inside */
        seen[tag]++;
        free(data);
    }
    for (int k = 0; k < PRODUCERS; k++)
        pthread_join(t[k], NULL);
    writer_stop(w);
    close(fds[1]);
    char *data;
    size_t len;
    ck_assert_int_eq(frame_read(&r, &data, &len), 0);
    for (int k = 1; k <= PRODUCERS; k++)
        ck_assert_int_eq(seen[k], PER_PRODUCER);
    frame_reader_destroy(&r);
    close(fds[0]);
}
END_TEST

START_TEST(test_writer_stop_flushes_queued_frames)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    w = writer_start(fds[1]);
    for (int k = 0; k < 100; k++)
        send_frame((unsigned char)k, 10);
    writer_stop(w);
    close(fds[1]);
    struct frame_reader r;
    frame_reader_init(&r, fds[0], 1 << 20);
    for (int k = 0; k < 100; k++) {
        char *data;
        size_t len;
        ck_assert_int_eq(frame_read(&r, &data, &len), 1);
        ck_assert_uint_eq(len, 10);
        ck_assert_int_eq((unsigned char)data[0], k);
        free(data);
    }
    frame_reader_destroy(&r);
    close(fds[0]);
}
END_TEST

/* A frame queued by writer_queue() leaves before one written later by
 * writer_send_iov() from the same thread: an event for the owner (an atom
 * admitted) must precede the large reply that carries the atom. */
START_TEST(test_writer_queued_frames_leave_before_later_ones)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    w = writer_start(fds[1]);
    for (int k = 0; k < 50; k++) {
        char *buf = malloc(4 + 10);
        frame_put_length(buf, 10);
        memset(buf + 4, k, 10);
        ck_assert_int_eq(writer_queue(w, buf, 4 + 10), 0);
    }
    char big[4 + 100];
    frame_put_length(big, 100);
    memset(big + 4, 200, 100);
    struct iovec iov = {.iov_base = big, .iov_len = sizeof(big)};
    writer_send_iov(w, &iov, 1);
    writer_stop(w);
    close(fds[1]);
    struct frame_reader r;
    frame_reader_init(&r, fds[0], 1 << 20);
    for (int k = 0; k <= 50; k++) {
        char *data;
        size_t len;
        ck_assert_int_eq(frame_read(&r, &data, &len), 1);
        ck_assert_uint_eq(len, k < 50 ? 10 : 100);
        ck_assert_int_eq((unsigned char)data[0], k < 50 ? k : 200);
        free(data);
    }
    frame_reader_destroy(&r);
    close(fds[0]);
}
END_TEST

struct since {
    const struct spin_mark *mark;
    long long ns;
};

static int marked_since(void *arg)
{
    const struct since *s = arg;
    return atomic_load(&s->mark->at_ns) > s->ns;
}

/* The reader's poll is renewed by every frame written: by the thread that
 * writes it directly, and by the writer thread for a queued one. */
START_TEST(test_writer_marks_each_frame_written)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    w = writer_start(fds[1]);
    const struct spin_mark *written = writer_written(w);
    ck_assert_int_eq(atomic_load(&written->at_ns), 0);

    struct since direct = {written, clock_now_ns()};
    send_frame(1, 10); /* nobody else writes: written before it returns */
    ck_assert(marked_since(&direct));

    struct since queued = {written, clock_now_ns()};
    char *buf = malloc(4 + 10);
    frame_put_length(buf, 10);
    memset(buf + 4, 2, 10);
    ck_assert_int_eq(writer_queue(w, buf, 4 + 10), 0);
    ck_assert_int_eq(spin_until(marked_since, &queued, 10L * 1000000000L), 1);

    writer_stop(w);
    close(fds[1]);
    close(fds[0]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("writer");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_writer_frames_from_many_threads_arrive_whole);
    tcase_add_test(tc, test_writer_stop_flushes_queued_frames);
    tcase_add_test(tc, test_writer_queued_frames_leave_before_later_ones);
    tcase_add_test(tc, test_writer_marks_each_frame_written);
    suite_add_tcase(s, tc);
    return check_run(s);
}
