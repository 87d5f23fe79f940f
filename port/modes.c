/*
 * modes: pool modes to kinds of context (see modes.h).
 *
 * DESIGN: set once before the reader starts, read only after: no lock;
 * `owngil_started` is atomic as the port's main thread reads it at exit.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "modes.h"

#include "interp_state.h"
#include "subinterp.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

static const struct context_kind *owngil;
static char owngil_why[128];

void modes_init(void *w, int trace)
{
    owngil = subinterp_kind(w, trace, owngil_why, sizeof(owngil_why));
}

static atomic_int owngil_started; /* set by the reader, read by it */

long modes_ref_owner(unsigned long long nonce)
{
    return atomic_load(&owngil_started) ? interp_state_owner_of(nonce) : -1;
}

int modes_may_finalize(void)
{
    return PY_VERSION_HEX >= 0x030D0000 || !atomic_load(&owngil_started);
}

int modes_kind_of(const char *mode, const struct context_kind **kind, const char **why)
{
    *kind = NULL;
    if (strcmp(mode, "worker") == 0)
        return 0;
    if (strcmp(mode, "owngil") != 0)
        return -EINVAL;
    if (!owngil) {
        *why = owngil_why;
        return -ENOTSUP;
    }
    *kind = owngil;
    atomic_store(&owngil_started, 1);
    return 0;
}
