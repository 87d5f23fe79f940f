/*
 * bigmem: huge pages for big buffers (see bigmem.h).
 *
 * DESIGN: a buffer of tens of megabytes (a frame read, a binary decoded
 * into bytes) is fresh memory from mmap, which the kernel faults in a
 * 4 KB page at a time as it is first written: 25,600 faults for 100 MB,
 * and a 100 MB round trip took 1.5 times the echo of the same bytes while
 * 10 MB, served from reused heap memory, took 0.9 times
 * (docs/performance.md). MADV_HUGEPAGE lets the kernel fault it in 2 MB
 * at a time. The kernel has the last word: its THP setting "madvise" or
 * "always" honours the advice, "never" ignores it; a failed call changes
 * nothing either, so its result is not looked at.
 */
#include "bigmem.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

void bigmem_advise(void *p, size_t n)
{
    if (n < BIGMEM_MIN)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}
