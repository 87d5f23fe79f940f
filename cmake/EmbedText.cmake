# Source in another language that py_port runs (its Python glue) is kept
# in files of its own and built into the binary as C strings.
#
# Included: py_port_embed(Target Name File) makes embedded/<stem>.h in
# the build tree (port/x.py: x.h), holding File as `static const char
# Name[]`, for Target's sources to include; it is made again when File
# changes.
#
# Run as a script (how py_port_embed's build step runs it):
#   cmake -DIN=file.py -DOUT=file.h -DNAME=IDENT -P EmbedText.cmake
if(CMAKE_SCRIPT_MODE_FILE)
  foreach(_var IN ITEMS IN OUT NAME)
    if(NOT DEFINED ${_var})
      message(FATAL_ERROR "EmbedText.cmake: -D${_var}=... is missing")
    endif()
  endforeach()
  file(READ "${IN}" _text)
  # C escapes: the backslash first; `?` so that no `??x` is read as a
  # trigraph (-std=c11 has them).
  string(REPLACE "\\" "\\\\" _text "${_text}")
  string(REPLACE "\"" "\\\"" _text "${_text}")
  string(REPLACE "?" "\\?" _text "${_text}")
  string(REPLACE "\n" "\\n\"\n    \"" _text "${_text}")
  get_filename_component(_from "${IN}" NAME)
  file(WRITE "${OUT}"
    "/* Generated from ${_from} by cmake/EmbedText.cmake: edit that file. */\n"
    "static const char ${NAME}[] =\n    \"${_text}\";\n")
  return()
endif()

set(_py_port_embed_script ${CMAKE_CURRENT_LIST_FILE})

function(py_port_embed target name file)
  get_filename_component(_stem "${file}" NAME_WE)
  set(_dir ${CMAKE_CURRENT_BINARY_DIR}/embedded)
  set(_in ${CMAKE_CURRENT_SOURCE_DIR}/${file})
  add_custom_command(
    OUTPUT ${_dir}/${_stem}.h
    COMMAND ${CMAKE_COMMAND} -DIN=${_in} -DOUT=${_dir}/${_stem}.h -DNAME=${name}
            -P ${_py_port_embed_script}
    DEPENDS ${_in} ${_py_port_embed_script}
    COMMENT "Embedding ${file}"
    VERBATIM)
  target_sources(${target} PRIVATE ${_dir}/${_stem}.h)
  target_include_directories(${target} PRIVATE ${_dir})
endfunction()
