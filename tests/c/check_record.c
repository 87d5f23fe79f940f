/* Unit tests of port/record.c: a recording reads back as the frames. */
#include "check_main.h"
#include "frame.h"
#include "protocol.h"
#include "record.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void setup(void)
{
    strcpy(path, "/tmp/check_record_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void teardown(void)
{
    unlink(path);
}

START_TEST(test_record_frames_read_back_in_order)
{
    int fd = record_open(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(record_frame(fd, "\x83h\x01", 3), 0);
    ck_assert_int_eq(record_frame(fd, "second", 6), 0);
    close(fd);
    struct frame_reader r;
    char *f;
    size_t len;
    ck_assert_int_eq(frame_reader_init(&r, open(path, O_RDONLY), PY_PORT_MAX_FRAME), 0);
    ck_assert_int_eq(frame_read(&r, &f, &len), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(f, "\x83h\x01", 3);
    free(f);
    ck_assert_int_eq(frame_read(&r, &f, &len), 1);
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(f, "second", 6);
    free(f);
    ck_assert_int_eq(frame_read(&r, &f, &len), 0);
    close(r.fd);
    frame_reader_destroy(&r);
}
END_TEST

START_TEST(test_record_open_truncates)
{
    int fd = record_open(path);
    ck_assert_int_eq(record_frame(fd, "old", 3), 0);
    close(fd);
    fd = record_open(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(lseek(fd, 0, SEEK_END), 0);
    close(fd);
}
END_TEST

START_TEST(test_record_open_fails_with_errno)
{
    ck_assert_int_eq(record_open("/nonexistent-dir/x.rec"), -ENOENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("record");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_record_frames_read_back_in_order);
    tcase_add_test(tc, test_record_open_truncates);
    tcase_add_test(tc, test_record_open_fails_with_errno);
    suite_add_tcase(s, tc);
    return check_run(s);
}
