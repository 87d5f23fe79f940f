/*
 * arena: CPython's object arenas and big blocks, kept for reuse (see arena.h).
 *
 * DESIGN: a stack of at most ARENA_KEEP mappings under one mutex. The
 * size is CPython's ARENA_SIZE, the same for every call; a kept arena of
 * another size (never seen) would not be handed out for it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "arena.h"
#include "bigmem.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

static struct {
    pthread_mutex_t lock;
    void *kept[ARENA_KEEP];
    size_t size[ARENA_KEEP];
    int n;
} arenas = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};

static void *arena_alloc(void *ctx, size_t size)
{
    void *p = NULL;
    (void)ctx;
    pthread_mutex_lock(&arenas.lock);
    if (arenas.n > 0 && arenas.size[arenas.n - 1] == size)
        p = arenas.kept[--arenas.n];
    pthread_mutex_unlock(&arenas.lock);
    if (p)
        return p;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void arena_free(void *ctx, void *p, size_t size)
{
    int kept = 0;
    (void)ctx;
    pthread_mutex_lock(&arenas.lock);
    if (arenas.n < ARENA_KEEP) {
        arenas.kept[arenas.n] = p;
        arenas.size[arenas.n++] = size;
        kept = 1;
    }
    pthread_mutex_unlock(&arenas.lock);
    if (!kept)
        munmap(p, size);
}

/* fork() while another thread holds the lock (an owngil interpreter
 * taking an arena) would leave it held for good in the child, whose
 * Python code (os.fork() and on) then hangs at its next arena: fork()
 * takes the lock first and both sides let it go. */
static void lock_for_fork(void)
{
    pthread_mutex_lock(&arenas.lock);
}

static void unlock_after_fork(void)
{
    pthread_mutex_unlock(&arenas.lock);
}

static void register_fork_handlers(void)
{
    pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork);
}

/* The raw domain as it was (CPython's malloc(), or its debug hooks):
 * everything that is not a big buffer goes there. A block it gave before
 * the wrapping is freed there too: bigmem_release() does not know it. */
static PyMemAllocatorEx raw;

static void *raw_malloc(void *ctx, size_t n)
{
    (void)ctx;
    void *p = bigmem_take(n);
    return p ? p : raw.malloc(raw.ctx, n);
}

static void *raw_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    return raw.calloc(raw.ctx, nelem, elsize);
}

static void *raw_realloc(void *ctx, void *p, size_t n)
{
    size_t old = bigmem_size(p);
    if (old == 0)
        return raw.realloc(raw.ctx, p, n);
    if (bigmem_resize(p, n))
        return p;
    void *q = raw_malloc(ctx, n);
    if (q) {
        memcpy(q, p, old < n ? old : n);
        bigmem_release(p);
    }
    return q;
}

static void raw_free(void *ctx, void *p)
{
    (void)ctx;
    if (!bigmem_release(p))
        raw.free(raw.ctx, p);
}

void arena_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    PyObjectArenaAllocator a = {NULL, arena_alloc, arena_free};
    PyObject_SetArenaAllocator(&a);
    pthread_once(&once, register_fork_handlers);
}

void arena_wrap_raw(void)
{
    if (raw.malloc) /* once: else raw would be raw_malloc itself */
        return;
    PyMemAllocatorEx big = {NULL, raw_malloc, raw_calloc, raw_realloc, raw_free};
    PyMem_GetAllocator(PYMEM_DOMAIN_RAW, &raw);
    PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &big);
}

int arena_kept(void)
{
    pthread_mutex_lock(&arenas.lock);
    int n = arenas.n;
    pthread_mutex_unlock(&arenas.lock);
    return n;
}
