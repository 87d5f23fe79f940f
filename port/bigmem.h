/*
 * bigmem: huge pages for big buffers.
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

#endif
