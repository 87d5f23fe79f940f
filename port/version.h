/*
 * version: what `py_port --version` prints.
 *
 * DESIGN: py_port's own version, the CPython it embeds (its version, the
 * shared library it was loaded from, the interpreter it was built
 * against) and the erl_interface it was built with. Runs before Python
 * starts and does not start it: Py_GetVersion() needs no interpreter.
 */
#ifndef PY_PORT_VERSION_H
#define PY_PORT_VERSION_H

#include <stdio.h>

/* py_port's version; the OTP application's vsn is the same. */
#define PY_PORT_VERSION "0.1.0"

/* Prints one "name: value" line each for py_port, the protocol, Python,
 * libpython, the Python executable and ei, to `to`. */
void version_print(FILE *to);

#endif
