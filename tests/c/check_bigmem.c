/* Unit tests of port/bigmem.c: a big buffer advised before its first
 * write is backed by huge pages where the kernel's THP setting is
 * "madvise" (as on Debian), a small one is left alone; big buffers are
 * kept for reuse within their limits. Each test runs in a child of its
 * own (Check's fork mode), so each starts with nothing kept. */
#include "bigmem.h"
#include "check_main.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whether the kernel's THP setting file names `setting` as chosen. */
static int thp_chosen(const char *file, const char *setting)
{
    char line[256] = "", want[64];
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    snprintf(want, sizeof(want), "[%s]", setting);
    return strstr(line, want) != NULL;
}

/* The AnonHugePages, in kB, of the mapping of this process that holds p. */
static long huge_kb_at(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int inside = 0;
    long kb = -1;
    while (kb < 0 && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
            inside = (unsigned long)p >= lo && (unsigned long)p < hi;
        else if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

/* A buffer of n bytes, advised, then written all over; its huge kB. */
static long huge_kb_of_buffer(size_t n)
{
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    bigmem_advise(p, n);
    memset(p, 1, n);
    long kb = huge_kb_at(p + n / 2);
    free(p);
    return kb;
}

START_TEST(test_bigmem_big_buffer_gets_huge_pages)
{
    if (!thp_chosen("/sys/kernel/mm/transparent_hugepage/enabled", "madvise") ||
        thp_chosen("/sys/kernel/mm/transparent_hugepage/defrag", "never")) {
        fprintf(stderr, "check_bigmem: THP is not 'madvise' here; nothing to check\n");
        return;
    }
    ck_assert_int_gt(huge_kb_of_buffer(BIGMEM_MIN * 2), 0);
    ck_assert_int_eq(huge_kb_of_buffer(BIGMEM_MIN / 2), 0); /* too small: not advised */
}
END_TEST

#define MB ((size_t)1 << 20)

START_TEST(test_bigmem_freed_buffer_is_kept_and_taken_again)
{
    ck_assert_uint_eq(bigmem_kept(), 0);
    char *p = bigmem_take(40 * MB);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % BIGMEM_ALIGN, 0);
    ck_assert_uint_eq(bigmem_size(p), 40 * MB);
    memset(p, 7, 40 * MB);
    bigmem_free(p);
    ck_assert_uint_eq(bigmem_kept(), 40 * MB);
    ck_assert_uint_eq(bigmem_size(p), 0); /* not in use */
    /* A smaller one takes it over; what it held beyond goes. */
    char *q = bigmem_take(33 * MB + 1);
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(bigmem_kept(), 0);
    memset(q, 8, 33 * MB + 1);
    bigmem_free(q);
    ck_assert_uint_eq(bigmem_kept(), 34 * MB); /* rounded to BIGMEM_ALIGN */
    /* A bigger one does not fit: a fresh mapping, the kept one stays. */
    char *r = bigmem_take(64 * MB);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_ne(r, p);
    ck_assert_uint_eq(bigmem_kept(), 34 * MB);
    bigmem_free(r);
    ck_assert_uint_eq(bigmem_kept(), 98 * MB);
}
END_TEST

START_TEST(test_bigmem_sizes_outside_are_not_taken)
{
    ck_assert_ptr_null(bigmem_take(BIGMEM_MIN - 1));
    ck_assert_ptr_null(bigmem_take(BIGMEM_KEEP + 1));
    ck_assert_ptr_nonnull(bigmem_take(BIGMEM_MIN));
    /* bigmem_alloc() is malloc() for them, and bigmem_free() frees that. */
    char *small = bigmem_alloc(1000), *huge = bigmem_alloc(BIGMEM_KEEP + 1);
    ck_assert_ptr_nonnull(small);
    ck_assert_ptr_nonnull(huge);
    ck_assert_uint_eq(bigmem_size(small), 0);
    ck_assert_uint_eq(bigmem_size(huge), 0);
    ck_assert_int_eq(bigmem_release(small), 0);
    bigmem_free(small);
    bigmem_free(huge);
    bigmem_free(NULL);
}
END_TEST

START_TEST(test_bigmem_aligned_pointer_of_malloc_is_not_released)
{
    void *p = aligned_alloc(BIGMEM_ALIGN, BIGMEM_ALIGN);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(bigmem_release(p), 0);
    ck_assert_uint_eq(bigmem_size(p), 0);
    ck_assert_int_eq(bigmem_resize(p, BIGMEM_MIN), 0);
    free(p);
}
END_TEST

START_TEST(test_bigmem_kept_bytes_stay_within_the_keep)
{
    char *p[4];
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_nonnull(p[i] = bigmem_take(100 * MB));
    for (int i = 0; i < 4; i++)
        bigmem_free(p[i]);
    ck_assert_uint_eq(bigmem_kept(), 200 * MB); /* two of 100 MB; a third would pass 256 */
}
END_TEST

START_TEST(test_bigmem_slots_run_out_then_malloc)
{
    char *p[BIGMEM_SLOTS];
    for (int i = 0; i < BIGMEM_SLOTS; i++)
        ck_assert_ptr_nonnull(p[i] = bigmem_take(BIGMEM_MIN));
    ck_assert_ptr_null(bigmem_take(BIGMEM_MIN));
    char *extra = bigmem_alloc(BIGMEM_MIN); /* malloc()'s */
    ck_assert_ptr_nonnull(extra);
    ck_assert_uint_eq(bigmem_size(extra), 0);
    memset(extra, 1, BIGMEM_MIN);
    bigmem_free(extra);
    for (int i = 0; i < BIGMEM_SLOTS; i++)
        bigmem_free(p[i]);
    /* Eight kept of 32 MB (256 MB): all slots hold a buffer; a bigger
     * request empties one of them instead of failing. */
    ck_assert_uint_eq(bigmem_kept(), BIGMEM_KEEP);
    char *big = bigmem_take(100 * MB);
    ck_assert_ptr_nonnull(big);
    ck_assert_uint_eq(bigmem_kept(), BIGMEM_KEEP - BIGMEM_MIN);
    bigmem_free(big); /* 224 + 100 > 256: not kept */
    ck_assert_uint_eq(bigmem_kept(), BIGMEM_KEEP - BIGMEM_MIN);
}
END_TEST

START_TEST(test_bigmem_resize_in_place_within_the_mapping)
{
    char *p = bigmem_take(40 * MB + 1); /* rounded up: 42 MB mapped */
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(bigmem_resize(p, 40 * MB), 1);
    ck_assert_uint_eq(bigmem_size(p), 40 * MB);
    ck_assert_int_eq(bigmem_resize(p, 42 * MB), 1);
    memset(p, 3, 42 * MB);
    ck_assert_int_eq(bigmem_resize(p, 42 * MB + 1), 0);
    ck_assert_int_eq(bigmem_resize(p, BIGMEM_MIN - 1), 0);
    ck_assert_uint_eq(bigmem_size(p), 42 * MB);
    bigmem_free(p);
}
END_TEST

static atomic_int stop_churn;

/* Takes and frees big buffers without a pause, so that the lock is
 * often held when the test forks. */
static void *churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_churn))
        bigmem_free(bigmem_take(BIGMEM_MIN));
    return NULL;
}

START_TEST(test_bigmem_child_forked_while_buffers_are_taken_takes_them_too)
{
    bigmem_setup();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, churn, NULL), 0);
    for (int i = 0; i < 50; i++) {
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
            alarm(5);
            char *p = bigmem_take(BIGMEM_MIN);
            bigmem_free(p);
            _exit(p ? 0 : 1);
        }
        int status;
        ck_assert_int_eq(waitpid(child, &status, 0), child);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&stop_churn, 1);
    pthread_join(t, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bigmem");
    TCase *tc = tcase_create("bigmem");
    tcase_add_test(tc, test_bigmem_big_buffer_gets_huge_pages);
    tcase_add_test(tc, test_bigmem_freed_buffer_is_kept_and_taken_again);
    tcase_add_test(tc, test_bigmem_sizes_outside_are_not_taken);
    tcase_add_test(tc, test_bigmem_aligned_pointer_of_malloc_is_not_released);
    tcase_add_test(tc, test_bigmem_kept_bytes_stay_within_the_keep);
    tcase_add_test(tc, test_bigmem_slots_run_out_then_malloc);
    tcase_add_test(tc, test_bigmem_resize_in_place_within_the_mapping);
    tcase_add_test(tc, test_bigmem_child_forked_while_buffers_are_taken_takes_them_too);
    suite_add_tcase(s, tc);
    return check_run(s);
}
