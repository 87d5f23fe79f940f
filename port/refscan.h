/*
 * refscan: finding the references ({'$py_ref', Nonce, Id}) in a request.
 *
 * DESIGN: an owngil context's objects live in its own interpreter
 * (docs/pools.md, "Pool modes"), so the reader sends a request to a pool
 * that carries one of its references to that context instead
 * (dispatch.c). This walks the body's terms, bounded like
 * envelope_skip_term(), and reports the first reference's nonce. No
 * Python, no state: any thread.
 */
#ifndef PY_PORT_REFSCAN_H
#define PY_PORT_REFSCAN_H

#include <stddef.h>

/* The nonce of the first reference term in the terms of frame[index,
 * len) (all of them, to the end): 1 with *nonce set, 0 if there is none
 * (or the terms are malformed: the context reports those). */
int refscan_first(const char *frame, size_t len, int index, unsigned long long *nonce);

#endif
