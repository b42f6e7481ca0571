#!/usr/bin/env bash
# run_fuzzers.sh — `make fuzz`: builds every fuzz target of test/fuzz with clang's libFuzzer,
# ASan and UBSan in build/fuzz, runs each for FUZZ_SECONDS seconds on a scratch copy of its
# seed corpus and prints, per target, the executions, exec/s, coverage (cov, ft) and whether it
# crashed. Exits non-zero when any target crashed (or timed out, leaked, ran out of memory),
# printing the path of the input that did it.
#
#   FUZZ_SECONDS  seconds per target (60)
#   FUZZ_TARGETS  the targets to run, space-separated (all of CMakeLists.txt's)
#   FUZZ_JOBS     targets run at once (the number of CPUs)
#   FUZZ_CXX      the compiler (clang++, else clang++-14)
#   JOBS          parallel compile jobs (2)
#
# The scratch corpora, build/fuzz/corpus/<target>, keep what libFuzzer adds across runs (remove
# them to start again from the seeds); crashes go to build/fuzz/artifacts/<target>/, each
# target's full output to build/fuzz/logs/<target>.log. To replay an input:
#   build/fuzz/fuzz_<target> FILE          (libFuzzer runs it once)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/test/fuzz
build=$root/build/fuzz
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
started=$SECONDS

if [[ ! $seconds =~ ^[0-9]+$ || $seconds -lt 1 ]]; then
  echo "run_fuzzers.sh: FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2
  exit 2
fi

cxx=${FUZZ_CXX:-}
if [[ -z $cxx ]]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null; then cxx=$c; break; fi
  done
fi
if [[ -z $cxx ]] || ! command -v "$cxx" >/dev/null; then
  echo "run_fuzzers.sh: clang++ not found (make deps installs clang and libfuzzer-14-dev)" >&2
  exit 2
fi

# The targets CMakeLists.txt declares, unless FUZZ_TARGETS picks some.
all_targets=$(sed -n 's/^set(VIGIL_FUZZ_TARGETS \(.*\))$/\1/p' "$here/CMakeLists.txt")
read -r -a targets <<<"${FUZZ_TARGETS:-$all_targets}"
for t in "${targets[@]}"; do
  if [[ " $all_targets " != *" $t "* ]]; then
    echo "run_fuzzers.sh: no fuzz target '$t' (there are: $all_targets)" >&2
    exit 2
  fi
done

echo "== building ${#targets[@]} fuzz targets with $cxx in $build"
build_log=$build/build.log
mkdir -p "$build"
if ! { cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DVIGIL_FUZZ=ON &&
       cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]/#/fuzz_}"; } >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  echo "run_fuzzers.sh: the build failed (full log: $build_log)" >&2
  exit 2
fi
echo "   built in $((SECONDS - started)) s"

mkdir -p "$build/logs"
run_one() {
  local t=$1
  local corpus=$build/corpus/$t artifacts=$build/artifacts/$t/
  mkdir -p "$corpus" "$artifacts"
  cp -n "$here/corpus/$t/"* "$corpus/"
  local dict=()
  [[ -f $here/dict/$t.dict ]] && dict=(-dict="$here/dict/$t.dict")
  local rc=0
  # -timeout: an input taking 10 s is a hang; -rss_limit_mb: a runaway allocation is an OOM.
  "$build/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" "${dict[@]}" "$corpus" >"$build/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$build/logs/$t.rc"
}

echo "== running each target for $seconds s, $jobs at a time"
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait

failed=0
printf '\n%-12s %12s %9s %7s %8s %8s  %s\n' target executions exec/s cov ft corpus result
for t in "${targets[@]}"; do
  log=$build/logs/$t.log
  rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  # The last status line ("#N DONE cov: C ft: F corp: U/S ..."), or the last before a crash.
  status=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$status")
  corp=$(sed -n 's/.*corp: \([0-9]*\).*/\1/p' <<<"$status")
  artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [[ $rc == 0 && -z $artifact ]]; then
    result=ok
  else
    failed=1
    kind=$(grep -oE '^==[0-9]+==ERROR: [A-Za-z]+: [a-z-]+|runtime error|fuzz invariant violated|deadly signal|ALARM: working on the last Unit|out-of-memory|LeakSanitizer' "$log" | head -n 1 || true)
    result="CRASHED (${kind:-exit $rc}): ${artifact:-no input saved}"
  fi
  printf '%-12s %12s %9s %7s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done

for t in "${targets[@]}"; do
  if grep -q 'Test unit written to' "$build/logs/$t.log" || [[ $(cat "$build/logs/$t.rc") != 0 ]]; then
    echo
    echo "== $t: the end of $build/logs/$t.log"
    grep -v -E '^#[0-9]+ ' "$build/logs/$t.log" | tail -n 40
  fi
done

echo
echo "fuzzing took $((SECONDS - started)) s (${seconds} s per target); logs in $build/logs/"
if ((failed)); then
  echo "run_fuzzers.sh: a target crashed: replay it with build/fuzz/fuzz_<target> <input>," \
       "fix the bug and add the input to test/fuzz/corpus/<target>/" >&2
  exit 1
fi
