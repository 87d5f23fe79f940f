/*
 * modes: which kind of context each pool mode is (docs/pools.md, "Pool
 * modes").
 *
 * DESIGN: the seam between a pool's Mode and the port: start_pool names a
 * mode, and the pool's contexts are then of that kind (pool.h's
 * context_kind: start, run a job, interrupt, stop), for the pool's life.
 * worker: pyrun's hooks, all contexts in the main interpreter; owngil:
 * subinterp.h. The `process` mode is the application's business (a port
 * of its own per context) and never reaches a port.
 */
#ifndef PY_PORT_MODES_H
#define PY_PORT_MODES_H

#include "pool.h"

/* Once, after pyrun_start(), before the reader runs: the worker kind is
 * the pools' default (hooks as given to pools_new()); w is the writer,
 * trace whether jobs are traced (trace.h). */
void modes_init(void *w, int trace);

/* dispatch.h's kind_of: 0 with *kind (NULL: the default, worker), or
 * -ENOTSUP with *why, or -EINVAL for a mode this port does not know. */
int modes_kind_of(const char *mode, const struct context_kind **kind, const char **why);

/* dispatch.h's ref_owner: the owngil context a reference nonce belongs
 * to, or -1; costs nothing until an owngil context has started. */
long modes_ref_owner(unsigned long long nonce);

/* Whether CPython may be finalized: not after owngil interpreters ran on
 * a CPython before 3.13, whose finalization then crashes (CPython
 * gh-112140, seen with 3.12.1 after `import hashlib` in one). */
int modes_may_finalize(void);

#endif
