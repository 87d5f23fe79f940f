/*
 * version: `py_port --version` (see version.h).
 *
 * DESIGN: the build passes PY_PORT_PYTHON_EXECUTABLE and PY_PORT_EI_VERSION
 * (CMakeLists.txt, cmake/FindEI.cmake); a shared libpython in use is found
 * with dladdr() on one of its functions, so a wrong library picked up at
 * run time (LD_LIBRARY_PATH, rpath) shows; a static one linked in is named
 * by PY_PORT_LIBPYTHON_STATIC (cmake/LibPython.cmake). version_print()
 * starts Python once (and finalizes it) to say which standard library it
 * finds; it runs instead of the port, never beside it.
 */
#include "version.h"

#include "protocol.h"
#include "venv.h"

#include <Python.h>
#include <dlfcn.h>

#ifndef PY_PORT_PYTHON_EXECUTABLE
#define PY_PORT_PYTHON_EXECUTABLE "unknown"
#endif
#ifndef PY_PORT_EI_VERSION
#define PY_PORT_EI_VERSION "unknown"
#endif
#ifndef PY_PORT_LIBPYTHON_STATIC
#define PY_PORT_LIBPYTHON_STATIC ""
#endif

const char *version_libpython(void)
{
    if (PY_PORT_LIBPYTHON_STATIC[0])
        return PY_PORT_LIBPYTHON_STATIC;
    Dl_info info;
    if (dladdr((void *)Py_GetVersion, &info) != 0 && info.dli_fname)
        return info.dli_fname;
    return "statically linked";
}

const char *version_python(void)
{
    return Py_GetVersion();
}

/* Starts Python as py_port would (its venv and site too) and prints the
 * standard library and the prefixes it found: what a port started now would use. */
static void print_paths(FILE *to)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    const char *program = venv_program() ? venv_program() : PY_PORT_PYTHON_EXECUTABLE;
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, program);
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        fprintf(to, "stdlib: Python does not start: %s\n", st.err_msg ? st.err_msg : "?");
        return;
    }
    fflush(to);
    PyRun_SimpleString("import sys, sysconfig\n"
                       "print('stdlib:', sysconfig.get_path('stdlib'))\n"
                       "print('prefix:', sys.prefix)\n"
                       "print('base prefix:', sys.base_prefix)\n");
    Py_FinalizeEx();
}

void version_print(FILE *to)
{
    const char *lib = version_libpython();
    fprintf(to,
            "py_port: %s\n"
            "protocol: %d\n"
            "python: %s\n"
            "libpython: %s\n"
            "python executable (build): %s\n"
            "ei: %s\n",
            PY_PORT_VERSION, PY_PORT_PROTOCOL_VERSION, Py_GetVersion(), lib,
            PY_PORT_PYTHON_EXECUTABLE, PY_PORT_EI_VERSION);
    print_paths(to);
}
