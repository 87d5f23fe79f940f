# Sanitizer builds: -DPY_PORT_SANITIZE=address,undefined or =thread.
set(PY_PORT_SANITIZE "" CACHE STRING
    "Sanitizers to build with: address,undefined or thread (empty: none)")
if(PY_PORT_SANITIZE)
  add_compile_options(-fsanitize=${PY_PORT_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${PY_PORT_SANITIZE})
endif()
