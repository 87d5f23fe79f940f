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

/* Asks the kernel to back the whole pages of p[0..n) with transparent
 * huge pages, when n >= BIGMEM_MIN; call it before the buffer is first
 * written. Nothing happens where the kernel does not use them. */
void bigmem_advise(void *p, size_t n);

#endif
