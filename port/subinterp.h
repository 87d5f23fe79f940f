/*
 * subinterp: the owngil kind of context (Python 3.12 and later).
 *
 * DESIGN: each context of an owngil pool creates, on its own thread, a
 * sub-interpreter with its own GIL (PEP 684) and runs every job there,
 * with pyrun's code: its `erlang` module, reference table, module cache
 * and __main__ are its own (interp_state.h). Contexts of an owngil pool
 * thus run Python at the same time. Extension modules that do not declare
 * support for a per-interpreter GIL (single-phase init) fail to import
 * there with ImportError. Built against a Python older than 3.12, the kind
 * does not exist and subinterp_kind() says why.
 */
#ifndef PY_PORT_SUBINTERP_H
#define PY_PORT_SUBINTERP_H

#include "pool.h"

#include <stddef.h>

/* The owngil kind, whose hooks' arg is w (the writer replies go to),
 * tracing each job it ran when `trace` is set (trace.h), or NULL with a
 * readable reason in why[0, len) when this Python cannot run it. Call
 * once, after pyrun_start(). */
const struct context_kind *subinterp_kind(void *w, int trace, char *why, size_t len);

#endif
