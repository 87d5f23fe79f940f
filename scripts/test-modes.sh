#!/usr/bin/env bash
# Runs the pool-mode tests where they mean something: builds py_port
# against a CPython 3.12 or later (owngil needs it; default: the first
# pyenv one with a shared libpython), then runs py_modes_SUITE and the main
# Common Test suites with owngil as the default pool's mode
# (PY_POOL_MODE, read by py_test_lib). Without such a Python it says so
# and succeeds: the 3.11 build already ran py_modes_SUITE's worker and
# unsupported groups. Usage: scripts/test-modes.sh [python3.X]
set -euo pipefail
cd "$(dirname "$0")/.."

py=${1:-}
if [ -z "$py" ]; then
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3.1[2-9]; do
    [ -x "$p" ] && { py=$p; break; }
  done
fi
if [ -z "$py" ]; then
  echo "test-modes: no CPython 3.12+ found; owngil not tested"
  exit 0
fi
libdir=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
if ! ls "$libdir"/libpython3*.so >/dev/null 2>&1; then
  echo "test-modes: $py has no shared libpython in $libdir; owngil not tested"
  exit 0
fi

build="build-modes"
echo "== test-modes: $py ($build)"
cmake -S . -B "$build" -DPython3_EXECUTABLE="$py" -DPY_PORT_PRIV_DIR="$PWD/$build/priv" \
  -DPY_PORT_DEV=ON -DPY_PORT_TESTS=OFF >/dev/null
cmake --build "$build" -- --no-print-directory >/dev/null
cmake --install "$build" >/dev/null
config="$build/sys.config"
echo "[{erlang_python, [{port_executable, \"$PWD/$build/priv/py_port\"}]}]." > "$config"

rebar3 ct --sys_config "$config" --suite tests/erl/py_modes_SUITE
# The main suites, with the cases that need one shared interpreter skipped
# (tests/erl/owngil.spec says which and why).
PY_POOL_MODE=owngil rebar3 ct --sys_config "$config" --spec tests/erl/owngil.spec
