#!/usr/bin/env bash
# Builds py_port against a CPython 3.12 or later, which owngil needs
# (default: the first pyenv one with a shared libpython), into
# build-modes, and prints the port's path on stdout. Without such a
# Python it says why on stderr and prints nothing; it still succeeds.
# Usage: scripts/modes-port.sh [python3.X]
set -euo pipefail
cd "$(dirname "$0")/.."

py=${1:-}
if [ -z "$py" ]; then
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3.1[2-9]; do
    [ -x "$p" ] && { py=$p; break; }
  done
fi
if [ -z "$py" ]; then
  echo "modes-port: no CPython 3.12+ found" >&2
  exit 0
fi
libdir=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
if ! ls "$libdir"/libpython3*.so >/dev/null 2>&1; then
  echo "modes-port: $py has no shared libpython in $libdir" >&2
  exit 0
fi

build="build-modes"
echo "modes-port: $py ($build)" >&2
cmake -S . -B "$build" -DPython3_EXECUTABLE="$py" -DPY_PORT_PRIV_DIR="$PWD/$build/priv" \
  -DPY_PORT_DEV=ON -DPY_PORT_TESTS=OFF >/dev/null
cmake --build "$build" -- --no-print-directory >/dev/null
cmake --install "$build" >/dev/null
echo "$PWD/$build/priv/py_port"
