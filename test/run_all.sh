#!/usr/bin/env bash
# run_all.sh — every suite, one after another, then one closing line "N passed, N failed".
# Expects the build and build/tmp_install to be current (`make test` does both first).
# Each suite's full output is in build/test-logs/<suite>.log.
# SANITIZE=1 (`make test SANITIZE=1`): the same suites against the ASan+UBSan builds, everything
# under build/sanitize/; each sanitizer report a suite left (build/sanitize/sanitizer-reports/
# <suite>/) counts as one more failure of that suite.
set -uo pipefail
source "$(dirname "$0")/harness/lib.sh"

logs=$VIGIL_BUILD/test-logs
reports=$VIGIL_BUILD/sanitizer-reports
rm -rf "$logs"; mkdir -p "$logs"
total_passed=0
total_failed=0

# begin SUITE: under SANITIZE=1, the suite's report directory and the environment that sends
# every report of its processes (and of its servers) there.
begin() {
  if [[ ${SANITIZE:-} == 1 ]]; then sanitizer_env "$reports/$1"; fi
}

# count SUITE PASSED FAILED STATUS: adds a suite's cases to the totals. A suite that
# failed without reporting a failed case (a crash, a harness error) counts one failure;
# under SANITIZE=1 each sanitizer report counts one more, whether or not a test failed.
count() {
  local suite=$1 passed=$2 failed=$3 status=$4 found=()
  if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
  if [[ ${SANITIZE:-} == 1 ]]; then
    sanitizer_check_log "$logs/$suite.log"
    mapfile -t found < <(sanitizer_reports "$reports/$suite")
    failed=$((failed + ${#found[@]}))
  fi
  printf '%-12s %4d passed, %d failed\n' "$suite" "$passed" "$failed"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [[ ${#found[@]} -gt 0 ]]; then
    echo "${#found[@]} sanitizer report(s) in ${reports#"$VIGIL_ROOT"/}/$suite/; the first lines of each:"
    local f
    for f in "${found[@]}"; do
      echo "== ${f#"$VIGIL_ROOT"/}"
      grep -vE '^\s*$' "$f" | head -25
    done
  fi
}

# pg_regress-style output: "test name ... ok" / "... FAILED".
run_pg_regress_suite() {
  local suite=$1 log=$logs/$1.log status=0
  begin "$suite"
  "$VIGIL_ROOT/test/run_regress.sh" "$suite" >"$log" 2>&1 || status=$?
  local passed failed
  passed=$(grep -cE '\.\.\. ok' "$log")
  failed=$(grep -cE '\.\.\. (FAILED|failed)' "$log")
  count "$suite" "$passed" "$failed" "$status"
  if [[ $status -ne 0 ]]; then
    sed -n '1,200p' "$VIGIL_BUILD/$suite/regression.diffs" 2>/dev/null || tail -50 "$log"
  fi
}

# CTest: "N% tests passed, F tests failed out of T". Integration tests get a real cluster.
run_ctest_suite() {
  local suite=$1 label=$2 log=$logs/$1.log status=0
  begin "$suite"
  local cmd=(ctest --test-dir "$VIGIL_SIDECAR_BUILD" -L "^$label\$" --output-on-failure --timeout 300)
  if [[ $label == integration ]]; then
    "$VIGIL_ROOT/test/harness/with_cluster.sh" --preload -- "${cmd[@]}" >"$log" 2>&1 || status=$?
  else
    "${cmd[@]}" >"$log" 2>&1 || status=$?
  fi
  local line failed=0 all=0
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [[ -n $line ]]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
    all=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  fi
  count "$suite" "$((all - failed))" "$failed" "$status"
  if [[ $status -ne 0 ]]; then
    grep -E '^\s*[0-9]+ - |Failure|Expected|Which is|actual|error' "$log" | head -80
  fi
}

# TAP-style shell tests (test/shell/*_test.sh): "ok N - ..." / "not ok N - ...".
run_shell_suite() {
  local suite=$1 log=$logs/$1.log status=0 t
  begin "$suite"
  : >"$log"
  for t in "$VIGIL_ROOT"/test/shell/*_test.sh; do
    echo "# $t" >>"$log"
    bash "$t" >>"$log" 2>&1 || status=$?
  done
  local passed failed
  passed=$(grep -cE '^ok ' "$log")
  failed=$(grep -cE '^not ok ' "$log")
  count "$suite" "$passed" "$failed" "$status"
  if [[ $status -ne 0 ]]; then grep -E '^not ok|^#' "$log" | head -40; fi
}

# The browser suite (test/browser/run.sh): chromium against a real vigild serve, TAP lines.
run_browser_suite() {
  local suite=browser log=$logs/browser.log status=0
  begin "$suite"
  "$VIGIL_ROOT/test/browser/run.sh" >"$log" 2>&1 || status=$?
  count "$suite" "$(grep -cE '^ok ' "$log")" "$(grep -cE '^not ok ' "$log")" "$status"
  if [[ $status -ne 0 ]]; then grep -E '^not ok|^#' "$log" | head -40; fi
}

run_shell_suite shell
run_pg_regress_suite regress
run_pg_regress_suite isolation
run_ctest_suite unit unit
run_ctest_suite integration integration
run_browser_suite

# Anything a suite left running is a harness bug: fail loudly rather than leak servers. Only
# this run's own servers: those of build/sanitize/ belong to a SANITIZE=1 run, maybe under way.
if [[ ${SANITIZE:-} == 1 ]]; then
  leftover=$(pgrep -u postgres -f "$VIGIL_BUILD/" || true)
else
  leftover=$(pgrep -a -u postgres -f "$VIGIL_BUILD/" | grep -v -F "$VIGIL_BUILD/sanitize/" | cut -d' ' -f1 || true)
fi
if [[ -n $leftover ]]; then
  echo "servers left running by the suites:" $leftover >&2
  kill $leftover 2>/dev/null || true
  total_failed=$((total_failed + 1))
fi

echo "logs: ${logs#"$VIGIL_ROOT"/}/"
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
