/*
 * venv: running py_port as the interpreter of a virtualenv (`--venv DIR`).
 *
 * DESIGN: py_port does what `DIR/bin/python` would do, nothing more:
 * pyrun.c names DIR/bin/python as the program, so that CPython's path
 * configuration reads DIR/pyvenv.cfg (its `home` gives the base
 * installation and its standard library), and the site module, run at
 * start-up, makes sys.prefix the venv, adds its site-packages and runs its
 * .pth files, and keeps or drops the base installation's site-packages as
 * `include-system-site-packages` says. What is checked here, before
 * Python starts: that DIR has a pyvenv.cfg, and that the Python that made
 * the venv (`version`, or `version_info`) has the major.minor version of
 * the libpython this program runs. No Python, no threads: main thread,
 * before Python starts.
 */
#ifndef PY_PORT_VENV_H
#define PY_PORT_VENV_H

#include <stddef.h>

/*
 * Checks the venv `dir` against `python`, the running libpython's version
 * ("3.11.2 (main, ...)", Py_GetVersion()). Returns 0, or -1 with a
 * message naming the venv and both versions (or what is wrong with the
 * venv) in err.
 */
int venv_check(const char *dir, const char *python, char *err, size_t errlen);

/*
 * Makes `dir` the venv that venv_program() names, and removes PYTHONHOME
 * from the environment: it would stop CPython from reading pyvenv.cfg
 * (the venv's `home` says where the base installation is). Returns 0, or
 * -1 when the path is too long. `dir` must outlive the program.
 */
int venv_use(const char *dir);

/* "DIR/bin/python" of the venv in use, or NULL without one. */
const char *venv_program(void);

#endif
