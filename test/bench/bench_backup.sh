#!/usr/bin/env bash
# bench_backup.sh OUT.md — `vigild backup verify` of a dump next to a bare `pg_restore` of the
# same dump into a fresh database (what a user would otherwise run), in one run. Database size
# from VIGIL_BENCH_BACKUP_MB (default 150; the target is stated for 1024). Target: verify at
# most 1.5x the bare restore.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_backup.sh OUT.md}
mb=${VIGIL_BENCH_BACKUP_MB:-150}
"$VIGIL_ROOT/test/harness/deps.sh" --bench

in_bench_cluster "$0" "$out"

VIGILD=$VIGIL_ROOT/build/sidecar/vigild
BIN=$VIGIL_TEST_PG_BINDIR
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pgbench's schema: about 15 MB per scale unit with its indexes.
scale=$(( (mb + 14) / 15 ))
echo "bench_backup: pgbench -i -s $scale (about $mb MB)"
"$BIN/pgbench" -i -q -s "$scale" postgres >/dev/null 2>&1
size=$(psql -X -tAc "SELECT pg_size_pretty(pg_database_size('postgres'))")

seconds() { local s; s=$(date +%s.%N); "$@" >/dev/null; awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'; }

create_s=$(seconds "$VIGILD" --dsn "$VIGIL_TEST_DSN" backup create --directory "$work")
dump=$(ls "$work"/*.dump)
dump_size=$(du -h "$dump" | cut -f1)

# Alternating rounds, best of each: neither side profits from a warmer cache.
rounds=${VIGIL_BENCH_ROUNDS:-2}
restore_s=999999; verify_s=999999
verify_json=$work/verify.json
for _ in $(seq 1 "$rounds"); do
  psql -X -q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS bench_restore" -c "CREATE DATABASE bench_restore"
  t=$(seconds "$BIN/pg_restore" --no-owner --no-privileges --exit-on-error -d bench_restore "$dump")
  restore_s=$(awk -v a="$t" -v b="$restore_s" 'BEGIN { print (a < b) ? a : b }')
  psql -X -q -c "DROP DATABASE bench_restore"
  t=$(seconds bash -c "'$VIGILD' --dsn '$VIGIL_TEST_DSN' backup verify --json '$dump' > '$verify_json'")
  verify_s=$(awk -v a="$t" -v b="$verify_s" 'BEGIN { print (a < b) ? a : b }')
done
passed=$(grep -m1 '"passed"' "$verify_json" | tr -d ' ,' | cut -d: -f2)
steps=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(', '.join('%s %.2fs' % (s['name'], s['seconds']) for s in r['steps']))" "$verify_json" 2>/dev/null || echo "see verify.json")
dump_s=$(seconds "$BIN/pg_dump" -Fc -f "$work/plain.dump" postgres)

ratio=$(awk -v a="$verify_s" -v b="$restore_s" 'BEGIN { printf "%.2f", a / b }')
cratio=$(awk -v a="$create_s" -v b="$dump_s" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5) ? "met" : "NOT met" }')
cat >"$out" <<MD
### backup of a $size database (pgbench scale $scale), dump $dump_size

| Operation | seconds | ratio |
|---|---|---|
| pg_restore into a fresh database (bare, best of $rounds) | $restore_s | 1 |
| vigild backup verify (sha256, list, restore, row checksums, drop; best of $rounds) | $verify_s | $ratio |
| pg_dump -Fc (bare) | $dump_s | 1 |
| vigild backup create (pg_dump + manifest from the same snapshot) | $create_s | $cratio |

verify passed: $passed; steps: $steps.
Target "verify at most 1.5x a bare pg_restore": $verdict.
MD
cat "$out"
