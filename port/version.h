/*
 * version: what `py_port --version` prints.
 *
 * DESIGN: py_port's own version, the CPython it embeds (its version, the
 * shared library it was loaded from, the interpreter it was built
 * against, the standard library it finds) and the erl_interface it was
 * built with. Runs instead of the port: it starts Python once, for the
 * standard library's directory, and finalizes it.
 */
#ifndef PY_PORT_VERSION_H
#define PY_PORT_VERSION_H

#include <stdio.h>

/* py_port's version; the OTP application's vsn is the same. */
#define PY_PORT_VERSION "0.1.0"

/* The static libpython linked in (its path at build time), else the file
 * of the shared libpython this process loaded (dladdr()), or "statically
 * linked" if neither is known. Needs no Python state. */
const char *version_libpython(void);

/* The running libpython's Py_GetVersion(): "3.11.2 (main, ...)". */
const char *version_python(void);

/* Prints one "name: value" line each for py_port, the protocol, Python,
 * libpython, the Python executable and ei, to `to`. */
void version_print(FILE *to);

#endif
