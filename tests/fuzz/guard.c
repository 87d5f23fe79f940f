/*
 * guard: see guard.h. The reservation is made once and kept for the life
 * of the process; each guard_copy() opens the pages of one buffer at the
 * end of the window in its middle, guard_release() closes them.
 */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Fence on either side of the window: more than any int index reaches. */
#define FENCE ((size_t)1 << 31 | (size_t)1 << 20)

static char *window; /* GUARD_MAX_BYTES, between two fences */
static char *open_at;
static size_t open_len;

static void reserve(void)
{
    size_t total = FENCE + GUARD_MAX_BYTES + FENCE;
    char *base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        perror("guard: mmap");
        abort();
    }
    window = base + FENCE;
}

char *guard_copy(const uint8_t *data, size_t len, size_t padding)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = len + padding;
    if (n > GUARD_MAX_BYTES || n < len)
        return NULL;
    if (!window)
        reserve();
    guard_release();
    size_t span = (n + page - 1) / page * page;
    open_at = window + GUARD_MAX_BYTES - span;
    open_len = span;
    if (mprotect(open_at, span, PROT_READ | PROT_WRITE) != 0) {
        perror("guard: mprotect");
        abort();
    }
    char *buf = window + GUARD_MAX_BYTES - n;
    memset(open_at, 0, span);
    if (len > 0)
        memcpy(buf, data, len);
    POISON(open_at, (size_t)(buf - open_at));
    return buf;
}

void guard_release(void)
{
    if (!open_at)
        return;
    UNPOISON(open_at, open_len);
    if (mprotect(open_at, open_len, PROT_NONE) != 0) {
        perror("guard: mprotect");
        abort();
    }
    open_at = NULL;
    open_len = 0;
}
