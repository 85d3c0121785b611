#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan, UBSan) and runs each on its corpus for a bounded
# time; fails on any crash, leak, sanitizer report or broken property. `make test-fuzz` and
# `make fuzz` run it.
#
#   tests/fuzz/run.sh <build-dir> <seconds-per-target> [fresh]
#
# A target is named after its corpus: tests/fuzz/corpus/<target>/ (committed seeds and fixed
# crashes, read only) for build-dir/tests/fuzz/<target>. What a run discovers goes to
# build-dir/fuzz/corpus/<target>/, which later runs start from, unless `fresh` (make test-fuzz):
# then each run starts from the committed corpus alone, so that it takes the same time whatever
# ran before. Logs and crashing inputs go to build-dir/fuzz/. Targets run FUZZ_JOBS at a time
# (default: one per core).
# Exit status: 0 when every target ran its time cleanly, 1 otherwise, 2 on a usage problem.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/../../scripts/lib.sh" fuzz 2
usage() { die "usage: $0 <build-dir> <seconds-per-target> [fresh]"; }
[[ ($# -eq 2 || ($# -eq 3 && $3 == fresh)) && $2 =~ ^[1-9][0-9]*$ ]] || usage
build=$(mkdir -p "$1" && cd "$1" && pwd)
seconds=$2
jobs=${FUZZ_JOBS:-$(nproc)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || usage

command -v clang++ >/dev/null || die "clang++ is missing; make deps installs clang and libFuzzer"

targets=()
for dir in "$here"/corpus/*/; do targets+=("$(basename "$dir")"); done

# -O1 and line tables only: the build is most of a bounded run's time, and stack traces still
# name files and lines. A fixed revision: a new commit does not rebuild the app.
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DWAITLINE_REVISION=fuzz \
  -DWAITLINE_FUZZ=ON -DWAITLINE_TESTS=OFF >/dev/null
cmake --build "$build" --target "${targets[@]}"

work="$build/fuzz"
corpus="$work/corpus"
if [[ ${3:-} == fresh ]]; then
  corpus="$work/corpus-fresh"
  rm -rf "$corpus"
fi
mkdir -p "$work/crashes" "$work/tmp"
export TMPDIR="$work/tmp"  # what a target leaves behind when it crashes stays in the build directory
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run() {
  local target=$1 extra=()
  # The service's thread allocates while an input runs, so libFuzzer's per-input leak check would
  # fire at almost every input; leaks are still checked at exit, once the service has stopped.
  [[ $target == fuzz_http ]] && extra+=(-detect_leaks=0)
  mkdir -p "$corpus/$target"
  # The first corpus directory receives new inputs; the committed one is only read. An input
  # running 3 minutes is a hang (fuzz_http allows one 2 minutes on a loaded machine).
  "$build/tests/fuzz/$target" "$corpus/$target" "$here/corpus/$target" \
    -max_total_time="$seconds" -timeout=180 -rss_limit_mb=2048 -max_len=4096 "${extra[@]}" \
    -print_final_stats=1 -artifact_prefix="$work/crashes/$target-" >"$work/$target.log" 2>&1
}

pids=()
for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  run "$target" &
  pids+=($!)
done

failed=0
executions=0
for i in "${!targets[@]}"; do
  target=${targets[$i]}
  status=0
  wait "${pids[$i]}" || status=$?
  log="$work/$target.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  units=$(find "$corpus/$target" "$here/corpus/$target" -type f | wc -l)
  if ((status == 0)) && [[ -n $runs ]]; then
    executions=$((executions + runs))
    printf '%-16s %10d executions in %ss, corpus %d inputs: ok\n' "$target" "$runs" "$seconds" "$units"
  else
    failed=$((failed + 1))
    printf '%-16s FAILED (exit %d), %s executions; log %s, last lines:\n' "$target" "$status" "${runs:-?}" "$log"
    grep -E 'ERROR|SUMMARY|property violated|runtime error|Test unit written' "$log" | head -20 | sed 's/^/    /' || true
  fi
done

if ((failed)); then
  echo "fuzz: $failed of ${#targets[@]} targets FAILED; reproduce with: $build/tests/fuzz/<target> <crash file>"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $executions executions, ${seconds}s each, no crash, leak or sanitizer report"
