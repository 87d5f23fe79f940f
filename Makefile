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

.PHONY: all setup port compile demo test test-c test-erl format clean

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

# Formats the C sources with the repository's .clang-format.
format:
	clang-format -i port/*.c port/*.h tests/c/*.c

clean:
	rm -rf $(BUILD) _build priv/py_port logs
