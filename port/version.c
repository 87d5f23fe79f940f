/*
 * version: `py_port --version` (see version.h).
 *
 * DESIGN: the build passes PY_PORT_PYTHON_EXECUTABLE and PY_PORT_EI_VERSION
 * (CMakeLists.txt, cmake/FindEI.cmake); the libpython in use is found with
 * dladdr() on one of its functions, so a wrong library picked up at run
 * time (LD_LIBRARY_PATH, rpath) shows. No threads, no Python state.
 */
#include "version.h"

#include "protocol.h"

#include <Python.h>
#include <dlfcn.h>

#ifndef PY_PORT_PYTHON_EXECUTABLE
#define PY_PORT_PYTHON_EXECUTABLE "unknown"
#endif
#ifndef PY_PORT_EI_VERSION
#define PY_PORT_EI_VERSION "unknown"
#endif

void version_print(FILE *to)
{
    Dl_info info;
    const char *lib = "statically linked";
    if (dladdr((void *)Py_GetVersion, &info) != 0 && info.dli_fname)
        lib = info.dli_fname;
    fprintf(to,
            "py_port: %s\n"
            "protocol: %d\n"
            "python: %s\n"
            "libpython: %s\n"
            "python executable (build): %s\n"
            "ei: %s\n",
            PY_PORT_VERSION, PY_PORT_PROTOCOL_VERSION, Py_GetVersion(), lib,
            PY_PORT_PYTHON_EXECUTABLE, PY_PORT_EI_VERSION);
}
