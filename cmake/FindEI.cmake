# FindEI: the erl_interface library (ei) of the installed Erlang/OTP.
#
# Asks `erl` where erl_interface lives, so the ei that is found matches the
# runtime the port will talk to. Defines the imported target EI::EI and
# EI_VERSION, erl_interface's version read from its directory name
# (.../lib/erl_interface-5.3 gives "5.3"; "unknown" when the name has none).
find_program(ERL_EXECUTABLE erl)
if(ERL_EXECUTABLE)
  execute_process(
    COMMAND ${ERL_EXECUTABLE} -noshell -eval
            "io:format(\"~s\", [code:lib_dir(erl_interface)]), halt()."
    OUTPUT_VARIABLE EI_ROOT
    RESULT_VARIABLE _ei_rc
    ERROR_QUIET)
  if(NOT _ei_rc EQUAL 0)
    unset(EI_ROOT)
  endif()
endif()

find_path(EI_INCLUDE_DIR ei.h HINTS ${EI_ROOT}/include)
find_library(EI_LIBRARY NAMES ei HINTS ${EI_ROOT}/lib)

set(EI_VERSION "unknown")
if(EI_INCLUDE_DIR MATCHES "erl_interface-([0-9][0-9.]*)")
  set(EI_VERSION "${CMAKE_MATCH_1}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(EI REQUIRED_VARS EI_LIBRARY EI_INCLUDE_DIR
  VERSION_VAR EI_VERSION)

if(EI_FOUND AND NOT TARGET EI::EI)
  find_package(Threads REQUIRED)
  add_library(EI::EI STATIC IMPORTED)
  set_target_properties(EI::EI PROPERTIES
    IMPORTED_LOCATION ${EI_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${EI_INCLUDE_DIR}
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
