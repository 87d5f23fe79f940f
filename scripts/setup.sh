#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

# python3: CMake finds the interpreter beside libpython. clang and
# libclang-rt-dev (libFuzzer, the sanitizer runtimes): the fuzz targets that
# `make test` runs briefly (tests/fuzz). libasan8, libubsan1, libtsan2:
# GCC's sanitizer runtimes, for the sanitizer runs of `make test` (gcc
# brings them through libgcc-12-dev; named here so that no slimmed image
# lacks them). procps: pgrep, for the crash tests. python3-numpy: the
# numpy conversions (py_adopt_SUITE); elixir: the Mix example
# (examples/mix_demo). Neither is needed to build or use the port; both
# are for `make test`.
packages=(
  erlang-nox erlang-dev erlang-eunit erlang-common-test rebar3
  cmake make gcc pkg-config check python3 libpython3-dev
  clang libclang-rt-dev
  libasan8 libubsan1 libtsan2
  procps
  python3-numpy elixir
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages. Run as root:" >&2
  echo "  apt-get update && $cmd" >&2
  exit 1
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
