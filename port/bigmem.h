/*
 * bigmem: huge pages for big buffers, and big buffers kept for reuse.
 *
 * Pure C: no Python, any thread.
 */
#ifndef PY_PORT_BIGMEM_H
#define PY_PORT_BIGMEM_H

#include <stddef.h>

/* Buffers of at least this many bytes are advised: malloc() gives each
 * its own mapping (glibc's largest mmap threshold), which the advice
 * then concerns alone. */
#define BIGMEM_MIN (32u * 1024 * 1024)

/* Sets malloc's thresholds once, before any thread starts: a buffer of
 * BIGMEM_MIN and more is a mapping of its own, anything smaller comes
 * from the heap, whose free top is given back to the kernel past twice
 * BIGMEM_MIN. */
void bigmem_setup(void);

/* Asks the kernel to back the whole pages of p[0..n) with transparent
 * huge pages, when n >= BIGMEM_MIN; call it before the buffer is first
 * written. Nothing happens where the kernel does not use them. */
void bigmem_advise(void *p, size_t n);

/* Big buffers kept for reuse: a buffer of BIGMEM_MIN to BIGMEM_KEEP bytes
 * is a mapping of its own, aligned to BIGMEM_ALIGN and advised as above;
 * once freed it stays mapped, its pages given to the kernel to take back
 * only if memory runs short (MADV_FREE), for as long as all those kept
 * come to at most BIGMEM_KEEP bytes, and the next buffer that fits takes
 * it over, its pages already there. At most BIGMEM_SLOTS such buffers
 * exist at a time, in use or kept; beyond that, and below or above the
 * sizes, bigmem_alloc() is malloc(). */
#define BIGMEM_KEEP (256u * 1024 * 1024)
#define BIGMEM_SLOTS 8
#define BIGMEM_ALIGN (2u * 1024 * 1024)

/* n bytes, uninitialised, or NULL. Free it with bigmem_free(). */
void *bigmem_alloc(size_t n);

/* A buffer of n bytes (BIGMEM_MIN to BIGMEM_KEEP) kept or newly mapped,
 * or NULL when n is outside those sizes, all BIGMEM_SLOTS are in use or
 * there is no memory: then the caller allocates as it would have. */
void *bigmem_take(size_t n);

/* Frees p, from bigmem_alloc() or from malloc(); NULL does nothing. */
void bigmem_free(void *p);

/* 1 when p is a buffer of bigmem_alloc() in use, which is then freed;
 * else 0 and nothing happens (p may be anything malloc() gave). For an
 * allocator that hands out both (port/arena.c). */
int bigmem_release(void *p);

/* The usable bytes of p, a buffer of bigmem_alloc() in use, or 0 when p
 * is not one. */
size_t bigmem_size(const void *p);

/* 1 when p, a buffer of bigmem_alloc() in use, now holds n bytes in
 * place (n from BIGMEM_MIN up to what its mapping holds), else 0 and
 * nothing changed. */
int bigmem_resize(void *p, size_t n);

/* The bytes kept for reuse now (tests). */
size_t bigmem_kept(void);

#endif
