# erlang_python: the two commands of the README are `make demo` and
# `make test`. Both set the machine up first (scripts/setup.sh).
#
# PYTHON=/path/to/python3 builds the port against another CPython (one
# with a shared libpython, e.g. a pyenv build with --enable-shared).

PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3)
BUILD  ?= build
CMAKE_FLAGS ?=
ifneq ($(PYTHON),)
CMAKE_FLAGS += -DPython3_EXECUTABLE=$(PYTHON)
endif

# The echo port of the benchmark, built beside py_port (bench/CMakeLists.txt);
# tests/erl/py_bench_SUITE.erl finds it here too.
export PY_BENCH_ECHO_PORT := $(abspath $(BUILD))/bench/echo_port

.PHONY: all setup port compile demo test test-c test-erl test-pythons bench format clean

all: compile

setup:
	@scripts/setup.sh

# Configures, builds and installs priv/py_port. rebar3 runs this as a
# pre-compile hook, so `rebar3 compile` builds everything.
port:
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -- --no-print-directory
	@cmake --install $(BUILD) >/dev/null

compile: setup
	rebar3 compile

demo: compile
	escript scripts/demo.escript

test: compile test-c test-erl

test-c: compile
	ctest --test-dir $(BUILD) --output-on-failure

test-erl: compile
	rebar3 eunit
	rebar3 ct

# The C tests and the Common Test suites against every other CPython that
# pyenv has (3.11 and later, with a shared libpython), one build each.
test-pythons: compile
	scripts/test-pythons.sh

# Measures the port against a bare C echo port (docs/performance.md): a
# table on stdout, bench/out/results.csv, and the plot, also copied to
# docs/performance.png. The plot needs gnuplot (Debian: gnuplot-nox), which
# only this target installs; without it the rest still runs.
bench: compile
	@if ! command -v gnuplot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" -eq 0 ]; then \
	    echo "Installing: gnuplot-nox"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gnuplot-nox; \
	  else \
	    echo "gnuplot is missing, so no plot. Run as root:" >&2; \
	    echo "  apt-get update && apt-get install -y --no-install-recommends gnuplot-nox" >&2; \
	  fi; \
	fi
	escript bench/bench.escript --echo-port $(PY_BENCH_ECHO_PORT) \
	  --out bench/out --doc-png docs/performance.png

# Formats the C sources with the repository's .clang-format.
format:
	clang-format -i port/*.c port/*.h tests/c/*.c bench/*.c

clean:
	rm -rf $(BUILD) _build priv/py_port logs
