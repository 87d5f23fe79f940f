# The libpython py_port links: py_port_libpython, an interface library
# (docs/environments.md).
#
# Where the Python ships a static libpython (its sysconfig LIBPL/LIBRARY,
# as Debian's and pyenv's builds do), py_port links it into a
# position-dependent executable, as Debian links its own /usr/bin/python3:
# the interpreter's code then reaches its own functions and data without
# the indirections of the shared library's position-independent code.
# Measured on Debian's 3.11 (docs/performance.md, case 13): pure-Python
# work about 15 % faster than with libpython3.11.so, as fast as python3.
# The executable exports its symbols (-Wl,-E, Python's own LINKFORSHARED)
# so that extension modules find the C API in it, and links what the
# Python's own executable links (its LIBS, MODLIBS and SYSLIBS).
#
# Otherwise the shared libpython, found by the rpath: with
# -DPY_PORT_STATIC_PYTHON=OFF, in sanitizer builds (ThreadSanitizer needs a
# position-independent executable), and where a program that starts
# Python does not link with the static library (a library it needs is
# missing, say), which the configure step tries first and reports.
#
# Sets PY_PORT_LIBPYTHON_STATIC to the static library's path, or empty.
option(PY_PORT_STATIC_PYTHON "Link the Python's static libpython where it has one" ON)

set(PY_PORT_LIBPYTHON_STATIC "")
if(PY_PORT_STATIC_PYTHON AND NOT PY_PORT_SANITIZE)
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c [=[
import os, sysconfig
v = sysconfig.get_config_var
lib = os.path.join(v('LIBPL') or '', v('LIBRARY') or '')
print(lib if os.path.isfile(lib) else '')
print(' '.join(v(k) or '' for k in ('LIBS', 'MODLIBS', 'SYSLIBS')))
]=]
    OUTPUT_VARIABLE _py_port_static
    RESULT_VARIABLE _py_port_rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_py_port_rc EQUAL 0)
    string(REPLACE "\n" ";" _py_port_static "${_py_port_static}")
    list(LENGTH _py_port_static _py_port_n)
    if(_py_port_n EQUAL 2)
      list(GET _py_port_static 0 PY_PORT_LIBPYTHON_STATIC)
      list(GET _py_port_static 1 _py_port_static_libs)
      separate_arguments(_py_port_static_libs UNIX_COMMAND "${_py_port_static_libs}")
    endif()
  endif()
endif()
# What a program linking the static library links, and how: the same for
# the configure check below and for py_port_libpython.
set(_py_port_static_link
  "${PY_PORT_LIBPYTHON_STATIC}" ${_py_port_static_libs} ${CMAKE_DL_LIBS} Threads::Threads)
set(_py_port_static_options -no-pie LINKER:-E)
if(PY_PORT_LIBPYTHON_STATIC)
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_INCLUDES ${Python3_INCLUDE_DIRS})
  set(CMAKE_REQUIRED_LIBRARIES ${_py_port_static_link})
  set(CMAKE_REQUIRED_LINK_OPTIONS ${_py_port_static_options})
  set(CMAKE_REQUIRED_QUIET ON)
  unset(PY_PORT_STATIC_PYTHON_LINKS CACHE) # tried again for every Python
  check_c_source_compiles([=[
#include <Python.h>
int main(void) { Py_Initialize(); return Py_FinalizeEx(); }
]=] PY_PORT_STATIC_PYTHON_LINKS)
  unset(CMAKE_REQUIRED_INCLUDES)
  unset(CMAKE_REQUIRED_LIBRARIES)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  unset(CMAKE_REQUIRED_QUIET)
  if(NOT PY_PORT_STATIC_PYTHON_LINKS)
    message(STATUS "libpython: ${PY_PORT_LIBPYTHON_STATIC} does not link "
                   "(CMakeFiles/CMakeError.log): the shared library instead")
    set(PY_PORT_LIBPYTHON_STATIC "")
  endif()
endif()

add_library(py_port_libpython INTERFACE)
if(PY_PORT_LIBPYTHON_STATIC)
  message(STATUS "libpython: ${PY_PORT_LIBPYTHON_STATIC} (static)")
  target_include_directories(py_port_libpython INTERFACE ${Python3_INCLUDE_DIRS})
  target_link_libraries(py_port_libpython INTERFACE ${_py_port_static_link})
  target_link_options(py_port_libpython INTERFACE ${_py_port_static_options})
else()
  message(STATUS "libpython: ${Python3_LIBRARIES} (shared)")
  target_link_libraries(py_port_libpython INTERFACE Python3::Python)
endif()
