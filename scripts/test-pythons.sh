#!/usr/bin/env bash
# Builds py_port against every other CPython found (pyenv builds with a
# shared libpython, 3.9 and later: with Debian's 3.11 that is the five of
# 3.9 to 3.13) and runs the C tests and the Common Test suites against
# each. Nothing here is required: a Python that is absent is
# skipped, and so are the numpy cases for a Python without numpy
# (PY_PORT_NUMPY_OPTIONAL; `make test` requires numpy).
# Usage: scripts/test-pythons.sh [python3.X ...]
set -euo pipefail
export PY_PORT_NUMPY_OPTIONAL=1
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then
  pythons=("$@")
else
  pythons=()
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9.*/bin/python3.9 \
           "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[0-9].*/bin/python3.1[0-9]; do
    [ -x "$p" ] && pythons+=("$p")
  done
fi
if [ ${#pythons[@]} -eq 0 ]; then
  echo "no other Python found; nothing to do"
  exit 0
fi

for py in "${pythons[@]}"; do
  libdir=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
  if ! ls "$libdir"/libpython3*.so >/dev/null 2>&1; then
    echo "== $py: no shared libpython in $libdir, skipped"
    continue
  fi
  name=$(basename "$py")
  build="build-$name"
  echo "== $py ($build)"
  cmake -S . -B "$build" -DPython3_EXECUTABLE="$py" -DPY_PORT_PRIV_DIR="$PWD/$build/priv" \
    -DPY_PORT_DEV=ON >/dev/null
  cmake --build "$build" -- --no-print-directory >/dev/null
  cmake --install "$build" >/dev/null
  ctest --test-dir "$build" --output-on-failure
  config="$build/sys.config"
  echo "[{erlang_python, [{port_executable, \"$PWD/$build/priv/py_port\"}]}]." > "$config"
  rebar3 ct --sys_config "$config"
done
