/* Unit tests of port/frame.c: framing over a real pipe. */
#include "check_main.h"
#include "frame.h"
#include "protocol.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fds[2];
static struct frame_reader reader;

static void setup(void)
{
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(frame_reader_init(&reader, fds[0], 1024 * 1024), 0);
}

static void teardown(void)
{
    frame_reader_destroy(&reader);
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
}

/* Writes the 4-byte length header of a frame of len bytes. */
static void put_length(uint32_t len)
{
    char hdr[4];
    frame_put_length(hdr, len);
    ck_assert_int_eq(write(fds[1], hdr, 4), 4);
}

static void put_frame(const char *bytes, uint32_t len)
{
    put_length(len);
    ck_assert_int_eq(write(fds[1], bytes, len), (ssize_t)len);
}

/* frame_read's result where no frame may come (end of input or an
 * error): there is then nothing to free. */
static int read_no_frame(void)
{
    char *data;
    size_t len;
    return frame_read(&reader, &data, &len);
}

static void close_writer(void)
{
    close(fds[1]);
    fds[1] = -1;
}

START_TEST(test_frame_length_roundtrip)
{
    char b[4];
    frame_put_length(b, 0x01020304u);
    ck_assert_int_eq((unsigned char)b[0], 1);
    ck_assert_int_eq((unsigned char)b[3], 4);
    ck_assert_uint_eq(frame_get_length(b), 0x01020304u);
}
END_TEST

START_TEST(test_frame_many_frames_in_order)
{
    put_frame("a", 1);
    put_frame("bc", 2);
    put_frame("def", 3);
    close_writer();
    const char *want[] = {"a", "bc", "def"};
    for (int k = 0; k < 3; k++) {
        char *data;
        size_t len;
        ck_assert_int_eq(frame_read(&reader, &data, &len), 1);
        ck_assert_uint_eq(len, strlen(want[k]));
        ck_assert_mem_eq(data, want[k], len);
        free(data);
    }
    ck_assert_int_eq(read_no_frame(), 0);
}
END_TEST

static void *dribble(void *arg)
{
    /* One frame of 1000 bytes written a byte at a time. */
    (void)arg;
    char hdr[4];
    frame_put_length(hdr, 1000);
    for (int k = 0; k < 4; k++)
        if (write(fds[1], &hdr[k], 1) != 1)
            return NULL;
    for (int k = 0; k < 1000; k++) {
        char c = (char)(k % 251);
        if (write(fds[1], &c, 1) != 1)
            return NULL;
    }
    return NULL;
}

/* Reads one frame while a thread runs write_fn(arg): its length, the frame
 * in *data (the caller frees it). */
static size_t read_beside(void *(*write_fn)(void *), void *arg, char **data)
{
    pthread_t t;
    pthread_create(&t, NULL, write_fn, arg);
    size_t len;
    ck_assert_int_eq(frame_read(&reader, data, &len), 1);
    pthread_join(t, NULL);
    return len;
}

START_TEST(test_frame_reassembles_partial_reads)
{
    char *data;
    ck_assert_uint_eq(read_beside(dribble, NULL, &data), 1000);
    for (int k = 0; k < 1000; k++)
        ck_assert_int_eq((unsigned char)data[k], k % 251);
    free(data);
}
END_TEST

static void *write_big(void *arg)
{
    size_t n = *(size_t *)arg;
    char *big = malloc(n);
    for (size_t k = 0; k < n; k++)
        big[k] = (char)(k * 7);
    char hdr[4];
    frame_put_length(hdr, (uint32_t)n);
    if (write(fds[1], hdr, 4) == 4) {
        size_t off = 0;
        while (off < n) {
            ssize_t put = write(fds[1], big + off, n - off);
            if (put <= 0)
                break;
            off += (size_t)put;
        }
    }
    free(big);
    return NULL;
}

START_TEST(test_frame_large_frame_beyond_buffer)
{
    size_t n = 900 * 1024; /* above the reader's buffer */
    char *data;
    ck_assert_uint_eq(read_beside(write_big, &n, &data), n);
    for (size_t k = 0; k < n; k += 4099)
        ck_assert_int_eq(data[k], (char)(k * 7));
    for (int k = 0; k < FRAME_PADDING; k++)
        ck_assert_int_eq(data[n + k], 0);
    free(data);
}
END_TEST

START_TEST(test_frame_zero_length_is_untrusted)
{
    char hdr[4] = {0, 0, 0, 0};
    ck_assert_int_eq(write(fds[1], hdr, 4), 4);
    ck_assert_int_eq(read_no_frame(), -EPROTO);
}
END_TEST

START_TEST(test_frame_oversized_length_is_untrusted)
{
    put_length(1024 * 1024 + 1);
    ck_assert_int_eq(read_no_frame(), -EPROTO);
}
END_TEST

START_TEST(test_frame_eof_inside_frame)
{
    put_length(10);
    ck_assert_int_eq(write(fds[1], "abc", 3), 3);
    close_writer();
    ck_assert_int_eq(read_no_frame(), -EPIPE);
}
END_TEST

START_TEST(test_frame_eof_inside_length)
{
    ck_assert_int_eq(write(fds[1], "\0\0", 2), 2);
    close_writer();
    ck_assert_int_eq(read_no_frame(), -EPIPE);
}
END_TEST

static void *write_hello(void *arg)
{
    (void)arg;
    put_frame("hello", 5);
    return NULL;
}

/* The reader polls far longer than the test may last: a frame that comes
 * meanwhile, and then the end of input, must each end the polling. */
START_TEST(test_frame_polling_reader_sees_frames_and_end_of_input)
{
    frame_reader_spin(&reader, 60L * 1000000000L, NULL);
    char *data;
    ck_assert_uint_eq(read_beside(write_hello, NULL, &data), 5);
    ck_assert_mem_eq(data, "hello", 5);
    free(data);
    close_writer();
    ck_assert_int_eq(read_no_frame(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("frame");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_frame_length_roundtrip);
    tcase_add_test(tc, test_frame_many_frames_in_order);
    tcase_add_test(tc, test_frame_reassembles_partial_reads);
    tcase_add_test(tc, test_frame_large_frame_beyond_buffer);
    tcase_add_test(tc, test_frame_zero_length_is_untrusted);
    tcase_add_test(tc, test_frame_oversized_length_is_untrusted);
    tcase_add_test(tc, test_frame_eof_inside_frame);
    tcase_add_test(tc, test_frame_eof_inside_length);
    tcase_add_test(tc, test_frame_polling_reader_sees_frames_and_end_of_input);
    suite_add_tcase(s, tc);
    return check_run(s);
}
