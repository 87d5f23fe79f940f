/*
 * bigmem: huge pages for big buffers (see bigmem.h).
 *
 * DESIGN: a buffer of tens of megabytes (a frame read, a binary decoded
 * into bytes) is fresh memory from mmap, which the kernel faults in a
 * 4 KB page at a time as it is first written: 25,600 faults for 100 MB,
 * and a 100 MB round trip took 1.5 times the echo of the same bytes while
 * 10 MB, served from reused heap memory, took 0.9 times
 * (docs/performance-history.md). MADV_HUGEPAGE lets the kernel fault it
 * in 2 MB at a time. The kernel has the last word: its THP setting
 * "madvise" or "always" honours the advice, "never" ignores it; a failed
 * call changes nothing either, so its result is not looked at.
 *
 * Below that size, glibc's own rule moves its thresholds as the process
 * goes: a block above the mmap threshold (128 KB at start) is a fresh
 * mapping, whose freeing raises the threshold to its size (up to 32 MB),
 * and the free top of a heap is given back past twice that. The heap of a
 * context's thread went on being given back and faulted in again: a
 * round trip of a map of 10,000 entries faulted 110 pages each time (its
 * dict's table, its frame, its reply), a tenth of py_port's CPU for it.
 * bigmem_setup() starts the process where that rule ends (32 MB, 64 MB),
 * so that blocks below BIGMEM_MIN come from reused heap memory from the
 * first call on.
 */
#include "bigmem.h"

#include <malloc.h>
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

void bigmem_setup(void)
{
    (void)mallopt(M_MMAP_THRESHOLD, (int)BIGMEM_MIN);
    (void)mallopt(M_TRIM_THRESHOLD, (int)(2 * BIGMEM_MIN));
}
