#!/usr/bin/env bash
# run_all.sh — runs every benchmark script test/bench/*.sh (each compares pgvigil side by side
# with the tool a user would otherwise pick) and collects their tables in bench-results/.
set -uo pipefail
source "$(dirname "$0")/../harness/lib.sh"
"$VIGIL_ROOT/test/harness/deps.sh" --bench

results=$VIGIL_ROOT/bench-results
mkdir -p "$results"
status=0
ran=0
for script in "$VIGIL_ROOT"/test/bench/bench_*.sh; do
  [[ -e $script ]] || continue
  name=$(basename "$script" .sh)
  echo "== $name"
  ran=$((ran + 1))
  # The script's own output goes to its log; its table is printed once, below.
  if ! "$script" "$results/$name.md" >"$results/$name.log"; then
    echo "$name: FAILED" >&2
    status=1
  fi
  [[ -f $results/$name.md ]] && cat "$results/$name.md"
  echo
done
echo "$ran benchmark scripts run; tables in bench-results/"
exit $status
