# Writes the text file IN into the C header OUT as
# `static const char NAME[]`, a string literal per line, so that source
# in another language (the port's Python glue) is kept in a file of its
# own and still built into the binary. Run at build time:
#   cmake -DIN=file.py -DOUT=file.h -DNAME=IDENT -P EmbedText.cmake
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
