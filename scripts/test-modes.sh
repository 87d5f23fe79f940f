#!/usr/bin/env bash
# Runs the pool-mode tests where they mean something: builds py_port
# against a CPython 3.12 or later (scripts/modes-port.sh; owngil needs
# it), then runs py_modes_SUITE and the main Common Test suites with
# owngil as the default pool's mode (PY_POOL_MODE, read by py_test_lib).
# Without such a Python it says so and succeeds: the 3.11 build already
# ran py_modes_SUITE's worker and unsupported groups.
# Usage: scripts/test-modes.sh [python3.X]
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(scripts/modes-port.sh "$@")
if [ -z "$port" ]; then
  echo "test-modes: owngil not tested"
  exit 0
fi
config="build-modes/sys.config"
echo "[{erlang_python, [{port_executable, \"$port\"}]}]." > "$config"

rebar3 ct --sys_config "$config" --suite tests/erl/py_modes_SUITE
# The main suites, with the cases that need one shared interpreter skipped
# (tests/erl/owngil.spec says which and why).
PY_POOL_MODE=owngil rebar3 ct --sys_config "$config" --spec tests/erl/owngil.spec
