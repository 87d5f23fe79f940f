#!/usr/bin/env bash
# Runs one fuzz target of a build configured with -DPY_PORT_FUZZ=ON, and
# says how many inputs it ran. `make fuzz-short` and `make fuzz` call it.
#
#   tests/fuzz/run.sh BUILD TARGET [libFuzzer options...]
#   e.g. tests/fuzz/run.sh build-fuzz envelope -max_total_time=300
#
# Inputs: the seed corpus tests/fuzz/corpus/TARGET (real request frames
# and terms, and the inputs that once crashed: each run replays them all
# first), then what libFuzzer derives from it. New inputs go to
# BUILD/fuzz/TARGET/corpus, never to the seed corpus, so runs build on
# each other in one build directory. A crash, a leak, a sanitizer report
# or an input slower than 10 s fails the run; the input is saved in
# BUILD/fuzz/TARGET/artifacts/ and the end of the log is printed.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD TARGET [libFuzzer options...]" >&2
  exit 2
fi
build=$1 target=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$build/tests/fuzz/fuzz_$target
seeds=$root/tests/fuzz/corpus/$target
work=$build/fuzz/$target
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/last.log

# UBSan aborts on its first finding (the build also has
# -fno-sanitize-recover); LeakSanitizer runs after every input that
# allocated more than it freed.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if ! "$bin" -artifact_prefix="$work/artifacts/" -print_final_stats=1 -timeout=10 \
     "$@" "$work/corpus" "$seeds" >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "fuzz_$target: FAILED; the input is in $work/artifacts/, the log in $log" >&2
  exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
corpus=$(find "$work/corpus" -type f | wc -l)
echo "fuzz_$target: ${runs} executions in ${secs:-?} s (${rate}/s), no crash;" \
     "corpus ${corpus} inputs (+ $(find "$seeds" -type f | wc -l) seeds)"
