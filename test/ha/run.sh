#!/usr/bin/env bash
# run.sh — the high-availability suite (`make test-ha`): every test/ha/*_test.sh against a real
# Patroni cluster of its own (test/harness/ha/lib.sh), one after another, then one closing line
# "N passed, N failed" (SKIPs are counted apart, and said). A test that exits non-zero without a
# failed case (a harness error, "Bail out!") counts one failure. Output: build/test-logs/ha-*.log;
# the cluster's logs (Patroni, PostgreSQL, etcd, PgBouncer): build/test-logs/ha/.
set -uo pipefail
source "$(dirname "$0")/../harness/lib.sh"

mkdir -p "$VIGIL_BUILD/test-logs"
passed=0 failed=0 skipped=0
for t in "$VIGIL_ROOT"/test/ha/*_test.sh; do
  name=$(basename "$t" .sh)
  log=$VIGIL_BUILD/test-logs/ha-$name.log
  echo "# $name"
  status=0
  bash "$t" 2>&1 | tee "$log" || status=$?
  p=$(grep -E '^ok ' "$log" | grep -cv '# SKIP')
  s=$(grep -cE '^ok .*# SKIP' "$log")
  f=$(grep -cE '^not ok ' "$log")
  if [[ $status -ne 0 && $f -eq 0 ]]; then f=1; fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

# What a test left running is a harness bug.
leftover=$(pgrep -u postgres -f "$VIGIL_BUILD/ha" | tr '\n' ' ' || true)
if [[ -n $leftover ]]; then
  echo "processes left running by the HA tests: $leftover" >&2
  failed=$((failed + 1))
fi
[[ $skipped -gt 0 ]] && echo "$skipped skipped (see '# SKIP' above)"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
