# erlang_python: the two commands of the README are `make demo` and
# `make test`. Both set the machine up first (scripts/setup.sh).
#
# PYTHON=/path/to/python3 builds the port against another CPython, 3.9 to
# 3.13 (one with a shared libpython, e.g. a pyenv build with
# --enable-shared). Changing it and building again rebuilds against the
# new one (CMakeLists.txt forgets the old one's library and headers).

# A dependency build (the rebar3 of a project that depends on this one, or
# mix, which runs `rebar3 bare compile`) builds py_port only: no Check, no C
# tests, no echo port, no -Werror. rebar3 sets REBAR_ROOT_DIR to the
# top-level project, which is this directory only in this repository's own
# build. PY_PORT_DEV=ON|OFF on the command line decides instead. A dependency
# build has a build directory of its own: a Mix path dependency on this
# repository must not reconfigure the repository's own build.
DEPENDENCY_BUILD := $(or $(REBAR_BARE_COMPILER_OUTPUT_DIR),$(if $(REBAR_ROOT_DIR),$(filter-out $(realpath $(REBAR_ROOT_DIR)),$(realpath $(CURDIR)))))
PY_PORT_DEV ?= $(if $(DEPENDENCY_BUILD),OFF,ON)

PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3)
BUILD  ?= $(if $(filter OFF,$(PY_PORT_DEV)),build-dep,build)
CMAKE_FLAGS ?=
ifneq ($(PYTHON),)
CMAKE_FLAGS += -DPython3_EXECUTABLE=$(PYTHON)
endif
CMAKE_FLAGS += -DPY_PORT_DEV=$(PY_PORT_DEV)

# The echo port of the benchmark, built beside py_port (bench/CMakeLists.txt);
# tests/erl/py_bench_SUITE.erl finds it here too.
export PY_BENCH_ECHO_PORT := $(abspath $(BUILD))/bench/echo_port

.PHONY: all setup port compile demo test test-c test-erl test-process test-modes test-pythons bench format
.PHONY: test-edoc test-elixir
.PHONY: clean
.PHONY: fuzz fuzz-short fuzz-build asan asan-ct tsan test-san

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

# The sanitizer runs (test-san) come last: the plain suites fail faster.
test: compile test-c test-erl test-edoc test-elixir test-process test-modes fuzz-short test-san

test-c: compile
	ctest --test-dir $(BUILD) --output-on-failure

test-erl: compile
	rebar3 eunit
	rebar3 ct

# The edoc of every module builds (a bad @equiv or tag fails it).
test-edoc: compile
	rebar3 edoc

# examples/mix_demo, a Mix project that depends on this one by path: mix
# builds it (as a dependency: py_port only) and runs its tests. Offline:
# mix uses Debian's rebar3 (MIX_REBAR3), no Hex.
test-elixir: compile
	cd examples/mix_demo && MIX_REBAR3=$$(command -v rebar3) MIX_ENV=test \
	  mix do deps.compile, test

# The main suites with a process pool as the default pool (any Python):
# tests/erl/process.spec says which cases are skipped and why.
test-process: compile
	PY_POOL_MODE=process rebar3 ct --spec tests/erl/process.spec

# Pool modes where they mean something: owngil needs CPython 3.12+. Builds
# against the first pyenv 3.12+ (or MODES_PYTHON) into build-modes and runs
# py_modes_SUITE and the main suites with owngil as the default pool's
# mode; says so and succeeds when there is no such Python.
test-modes: compile
	scripts/test-modes.sh $(MODES_PYTHON)

# The C tests and the Common Test suites against every other CPython that
# pyenv has (3.9 and later, with a shared libpython), one build each.
test-pythons: compile
	scripts/test-pythons.sh

# Measures the port against a bare C echo port (docs/performance.md): a
# table on stdout, bench/out/results.csv, and the plot, also copied to
# docs/performance.png; then case 8 (pool modes) again against a CPython
# 3.12+ build (scripts/modes-port.sh), where owngil runs, into
# bench/out-modes. The plot needs gnuplot (Debian: gnuplot-nox), which
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
	@port=$$(scripts/modes-port.sh $(MODES_PYTHON)); \
	if [ -n "$$port" ]; then \
	  echo "== case 8 again, against $$port (owngil needs 3.12+)"; \
	  escript bench/bench.escript --echo-port $(PY_BENCH_ECHO_PORT) --cases modes \
	    --port-executable "$$port" --out bench/out-modes --no-plot; \
	fi

# Sanitizers and fuzzing (docs/reliability.md). The fuzz targets need clang
# and libFuzzer (scripts/setup.sh installs them); ASan and TSan use the
# default compiler, SAN_CC=clang to change it. Each has its own build.
SAN_CC     ?= cc
FUZZ_BUILD ?= build-fuzz
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_TARGETS := envelope convert
# make test runs each fuzz target briefly; make fuzz for longer.
FUZZ_SHORT ?= -max_total_time=20
FUZZ_LONG  ?= -max_total_time=300
# A UBSan finding aborts (the builds also have -fno-sanitize-recover);
# CPython allocates with malloc so that LeakSanitizer sees its objects as
# reachable (tests/c/CMakeLists.txt says why).
SAN_ENV = UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 PYTHONMALLOC=malloc
# TSan before LLVM 18 (clang 14, GCC 12's libtsan) dies with "unexpected
# memory mapping" where the kernel randomises mmap with more bits than it
# supports (vm.mmap_rnd_bits = 32 on many kernels since 6.6): the suites
# run without address randomisation (setarch -R) where the system allows
# it; elsewhere `sysctl vm.mmap_rnd_bits=28` is the way.
TSAN_RUN = $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)

fuzz-build: setup
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DPY_PORT_FUZZ=ON -DPY_PORT_TESTS=OFF \
	  $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) --target $(FUZZ_TARGETS:%=fuzz_%) -- --no-print-directory

fuzz-short: fuzz-build
	@for t in $(FUZZ_TARGETS); do tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_SHORT) || exit 1; done

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_LONG) || exit 1; done

# The C tests built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_C_COMPILER=$(SAN_CC) -DPY_PORT_SANITIZE=address,undefined \
	  -DPY_PORT_PRIV_DIR=$(abspath $(ASAN_BUILD))/priv $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -- --no-print-directory
	@cmake --install $(ASAN_BUILD) >/dev/null
	$(SAN_ENV) ctest --test-dir $(ASAN_BUILD) --output-on-failure

# The Common Test suites against the ASan+UBSan py_port of `make asan`.
# Reports go to files (the port's stderr is the VM's), checked after;
# deliberate crashes of the crash suite keep their signal (handle_*=0); a
# small quarantine, given back to the system, keeps the port's RSS near
# what py_reliability_SUITE's memory bound expects. (Sanitizer options
# may be separated by spaces as well as colons.)
ASAN_LOGS = $(abspath $(ASAN_BUILD))/asan-logs
ASAN_CT_OPTIONS = log_path=$(ASAN_LOGS)/py_port
ASAN_CT_OPTIONS += handle_segv=0 handle_abort=0 handle_sigbus=0 handle_sigfpe=0 handle_sigill=0
ASAN_CT_OPTIONS += quarantine_size_mb=8 allocator_release_to_os_interval_ms=0
# An allocation the system refuses returns NULL (Python raises MemoryError),
# as without ASan, rather than aborting: py_channel_SUITE limits the port's
# address space on purpose.
ASAN_CT_OPTIONS += allocator_may_return_null=1
asan-ct: asan compile
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	@echo '[{erlang_python, [{port_executable, "$(abspath $(ASAN_BUILD))/priv/py_port"}]}].' \
	  > $(ASAN_BUILD)/sys.config
	@rc=0; $(SAN_ENV) ASAN_OPTIONS='$(strip $(ASAN_CT_OPTIONS))' \
	  UBSAN_OPTIONS='halt_on_error=1 print_stacktrace=1 log_path=$(ASAN_LOGS)/py_port' \
	  rebar3 ct --sys_config $(ASAN_BUILD)/sys.config || rc=$$?; \
	if [ -n "$$(ls -A $(ASAN_LOGS))" ]; then \
	  cat $(ASAN_LOGS)/* >&2; echo "asan-ct: sanitizer reports in $(ASAN_LOGS)" >&2; exit 1; \
	fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; echo "asan-ct: no sanitizer report"

# What `make test` runs under the sanitizers: every C suite with ASan and
# UBSan (asan), every Common Test suite against that port (asan-ct), the
# threaded C suites with TSan (tsan). Any report fails it.
test-san: asan-ct tsan

# The threaded C suites built with ThreadSanitizer.
tsan: setup
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_C_COMPILER=$(SAN_CC) -DPY_PORT_SANITIZE=thread \
	  $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) --target check_pool check_waiters check_writer check_frame check_trace -- --no-print-directory
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(TSAN_RUN) \
	  ctest --test-dir $(TSAN_BUILD) --output-on-failure -R '^check_(pool|waiters|writer|frame|trace)$$'

# Formats the C sources with the repository's .clang-format.
format:
	clang-format -i port/*.c port/*.h tests/c/*.c bench/*.c

clean:
	rm -rf $(BUILD) build-* _build priv/py_port logs bench/out
