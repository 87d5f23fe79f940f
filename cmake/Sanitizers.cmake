# Sanitizer and fuzzing builds (docs/reliability.md, `make asan`, `make
# tsan`, `make fuzz`):
#
#   -DPY_PORT_SANITIZE=address,undefined  AddressSanitizer (with
#       LeakSanitizer) and UndefinedBehaviorSanitizer; a UBSan finding
#       aborts (-fno-sanitize-recover) instead of scrolling past.
#   -DPY_PORT_SANITIZE=thread             ThreadSanitizer.
#   -DPY_PORT_FUZZ=ON                     the libFuzzer targets of
#       tests/fuzz (clang only); every library gets libFuzzer's coverage
#       instrumentation and, unless PY_PORT_SANITIZE says otherwise,
#       address,undefined.
#
# Included after project(), before any target, so that the flags reach
# every library the tests and fuzz targets link.
set(PY_PORT_SANITIZE "" CACHE STRING
    "Sanitizers to build with: address,undefined or thread (empty: none)")
option(PY_PORT_FUZZ "Build the libFuzzer targets of tests/fuzz (clang only)" OFF)

if(PY_PORT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PY_PORT_FUZZ needs clang (libFuzzer): "
                        "configure a fresh build directory with -DCMAKE_C_COMPILER=clang")
  endif()
  if(NOT PY_PORT_SANITIZE)
    set(PY_PORT_SANITIZE address,undefined)
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(PY_PORT_SANITIZE)
  add_compile_options(-fsanitize=${PY_PORT_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${PY_PORT_SANITIZE})
  if(PY_PORT_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()
