/*
 * pyinfo: which Python the port runs, for the ready event (protocol.h):
 * sys.executable, sys.prefix, sys.base_prefix, the standard library's
 * directory, the site-packages directories on sys.path, and the file of
 * the libpython that was loaded.
 *
 * DESIGN: read once, on the main thread, right after start-up
 * (pyinfo_collect(), GIL held), into plain C strings that live until the
 * process ends; pyinfo_encode() then needs no GIL. A venv shows as a
 * prefix that is not the base prefix.
 */
#ifndef PY_PORT_PYINFO_H
#define PY_PORT_PYINFO_H

#include <ei.h>
#include <stddef.h>

/* The map entries pyinfo_encode() appends. */
#define PYINFO_KEYS 6

/* GIL held, once. 0, or -1 with the Python error in err. */
int pyinfo_collect(char *err, size_t errlen);

/* Appends PYINFO_KEYS key-value pairs (atoms to binaries; site_packages
 * to a list of binaries) to a map x is encoding. 0, or -1. */
int pyinfo_encode(ei_x_buff *x);

#endif
