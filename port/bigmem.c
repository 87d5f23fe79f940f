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
 *
 * Above BIGMEM_MIN, glibc maps every block afresh and unmaps it when
 * freed: a 100 MB round trip mapped two (the frame read, the bytes
 * object), and the kernel cleared 200 MB of new pages for each call, at
 * times many times slower than usual on this VM (its host backing them
 * anew), while the echo reuses its one buffer. bigmem_take() keeps such
 * buffers instead, up to BIGMEM_KEEP bytes in BIGMEM_SLOTS slots: a freed
 * one stays mapped, MADV_FREE lets the kernel take its pages should
 * memory run short (it then gives zeroed ones again), and the next buffer
 * that fits takes it over. Its address is aligned to BIGMEM_ALIGN, the
 * huge page size, which is also how bigmem_release() tells its buffers
 * from malloc()'s: it looks up an aligned address only, under the lock,
 * so that freeing anything else costs one test. The frames read
 * (frame.c) and CPython's big blocks (arena.c, its raw domain) come from
 * here.
 */
#include "bigmem.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* A buffer in use (size > 0), kept (p set, size 0) or unused (p NULL). */
struct slot {
    char *p;       /* the mapping, aligned to BIGMEM_ALIGN */
    size_t mapped; /* its bytes, a multiple of BIGMEM_ALIGN */
    size_t size;   /* the bytes asked for, while in use */
};

static struct {
    pthread_mutex_t lock;
    struct slot slots[BIGMEM_SLOTS];
    size_t kept; /* the mapped bytes of the kept slots */
} big = {PTHREAD_MUTEX_INITIALIZER, {{NULL, 0, 0}}, 0};

static size_t round_up(size_t n)
{
    return (n + BIGMEM_ALIGN - 1) & ~(size_t)(BIGMEM_ALIGN - 1);
}

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

/* fork() while another thread holds the lock (mapping a buffer) would
 * leave it held for good in the child: fork() takes it first. */
static void lock_for_fork(void)
{
    pthread_mutex_lock(&big.lock);
}

static void unlock_after_fork(void)
{
    pthread_mutex_unlock(&big.lock);
}

static void register_fork_handlers(void)
{
    (void)pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork);
}

void bigmem_setup(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)mallopt(M_MMAP_THRESHOLD, (int)BIGMEM_MIN);
    (void)mallopt(M_TRIM_THRESHOLD, (int)(2 * BIGMEM_MIN));
    pthread_once(&once, register_fork_handlers);
}

/* A fresh mapping of n bytes (a multiple of BIGMEM_ALIGN) aligned to
 * BIGMEM_ALIGN, so that huge pages can back all of it, or NULL. */
static char *map_aligned(size_t n)
{
    size_t span = n + BIGMEM_ALIGN;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t at = ((uintptr_t)raw + BIGMEM_ALIGN - 1) & ~(uintptr_t)(BIGMEM_ALIGN - 1);
    char *p = raw + (at - (uintptr_t)raw);
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    munmap(p + n, (size_t)(raw + span - (p + n)));
    bigmem_advise(p, n);
    return p;
}

/* Whether p may be a slot's buffer, which is aligned: anything else is
 * told apart by this one test, without the lock. */
static int may_be_slot(const void *p)
{
    return p && ((uintptr_t)p & (BIGMEM_ALIGN - 1)) == 0;
}

/* The slot in use whose buffer is p, or NULL. Under the lock. */
static struct slot *in_use(const void *p)
{
    for (int i = 0; i < BIGMEM_SLOTS; i++)
        if (big.slots[i].size > 0 && big.slots[i].p == p)
            return &big.slots[i];
    return NULL;
}

/* The slot to hold `want` bytes: the smallest kept one that holds them,
 * else an unused one, else a kept one emptied. NULL when all are in use.
 * Under the lock. */
static struct slot *pick(size_t want)
{
    struct slot *fit = NULL, *unused = NULL, *kept = NULL;
    for (int i = 0; i < BIGMEM_SLOTS; i++) {
        struct slot *s = &big.slots[i];
        if (s->size > 0)
            continue;
        if (!s->p)
            unused = unused ? unused : s;
        else if (s->mapped >= want && (!fit || s->mapped < fit->mapped))
            fit = s;
        else
            kept = s;
    }
    if (fit || unused || !kept)
        return fit ? fit : unused;
    big.kept -= kept->mapped;
    munmap(kept->p, kept->mapped);
    *kept = (struct slot){NULL, 0, 0};
    return kept;
}

void *bigmem_take(size_t n)
{
    if (n < BIGMEM_MIN || n > BIGMEM_KEEP)
        return NULL;
    size_t want = round_up(n);
    char *p = NULL;
    pthread_mutex_lock(&big.lock);
    struct slot *s = pick(want);
    if (s && s->p) { /* kept: its pages are there; what it has beyond goes */
        big.kept -= s->mapped;
        if (s->mapped > want)
            munmap(s->p + want, s->mapped - want);
        s->mapped = want;
    } else if (s) {
        s->p = map_aligned(want);
        s->mapped = s->p ? want : 0;
    }
    if (s && s->p) {
        s->size = n;
        p = s->p;
    }
    pthread_mutex_unlock(&big.lock);
    return p;
}

void *bigmem_alloc(size_t n)
{
    void *p = bigmem_take(n);
    if (!p && (p = malloc(n)) != NULL)
        bigmem_advise(p, n);
    return p;
}

int bigmem_release(void *p)
{
    if (!may_be_slot(p))
        return 0;
    char *drop = NULL;
    size_t dropped = 0;
    pthread_mutex_lock(&big.lock);
    struct slot *s = in_use(p);
    if (s && big.kept + s->mapped <= BIGMEM_KEEP) {
        /* Before another thread can take it: advice given later could
         * let the kernel take pages that thread has written since. */
#ifdef MADV_FREE
        (void)madvise(s->p, s->mapped, MADV_FREE);
#endif
        big.kept += s->mapped;
        s->size = 0;
    } else if (s) {
        drop = s->p;
        dropped = s->mapped;
        *s = (struct slot){NULL, 0, 0};
    }
    pthread_mutex_unlock(&big.lock);
    if (drop)
        munmap(drop, dropped);
    return s != NULL;
}

void bigmem_free(void *p)
{
    if (!bigmem_release(p))
        free(p);
}

size_t bigmem_size(const void *p)
{
    if (!may_be_slot(p))
        return 0;
    pthread_mutex_lock(&big.lock);
    struct slot *s = in_use(p);
    size_t n = s ? s->size : 0;
    pthread_mutex_unlock(&big.lock);
    return n;
}

int bigmem_resize(void *p, size_t n)
{
    if (!may_be_slot(p) || n < BIGMEM_MIN)
        return 0;
    pthread_mutex_lock(&big.lock);
    struct slot *s = in_use(p);
    int fits = s && n <= s->mapped;
    if (fits)
        s->size = n;
    pthread_mutex_unlock(&big.lock);
    return fits;
}

size_t bigmem_kept(void)
{
    pthread_mutex_lock(&big.lock);
    size_t n = big.kept;
    pthread_mutex_unlock(&big.lock);
    return n;
}
