/* Unit tests of port/bigmem.c: a big buffer advised before its first
 * write is backed by huge pages where the kernel's THP setting is
 * "madvise" (as on Debian), a small one is left alone. */
#include "bigmem.h"
#include "check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    Suite *s = suite_create("bigmem");
    TCase *tc = tcase_create("bigmem");
    tcase_add_test(tc, test_bigmem_big_buffer_gets_huge_pages);
    suite_add_tcase(s, tc);
    return check_run(s);
}
