#!/usr/bin/env bash
# bench_optimistic.sh OUT.md — optimistic updates against what a user would write by hand.
#
#  1. Throughput of a read-then-versioned-write cycle (pgbench, prepared statements): the
#     hand-written "SELECT version ...; UPDATE ... WHERE id = $1 AND version = $2" against
#     "SELECT version ...; SELECT vigil.optimistic_update(...)". Target: at least 0.7x.
#  2. Cost of the versioning trigger on a plain bulk UPDATE of every row, next to PostgreSQL's
#     built-in C trigger suppress_redundant_updates_trigger on the same update. Target: under 20%.
#
# Sizes: BENCH_SECONDS (per pgbench run, default 8), BENCH_CLIENTS (default 4),
# BENCH_ROWS (pgbench table, default 10000), BENCH_BULK_ROWS (bulk table, default 200000),
# BENCH_REPEAT (runs of each variant, alternating; the median is reported; default 3).
set -euo pipefail
out=${1:?usage: bench_optimistic.sh OUT.md}
root=$(cd "$(dirname "$0")/../.." && pwd)

if [[ -z ${VIGIL_TEST_DSN:-} ]]; then
  exec "$root/test/harness/with_cluster.sh" --preload -- "$0" "$@"
fi

seconds=${BENCH_SECONDS:-8}
clients=${BENCH_CLIENTS:-4}
rows=${BENCH_ROWS:-10000}
bulk_rows=${BENCH_BULK_ROWS:-200000}
repeat=${BENCH_REPEAT:-3}
pgbench=${VIGIL_TEST_PG_BINDIR:-/usr/lib/postgresql/15/bin}/pgbench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

q <<SQL
CREATE EXTENSION IF NOT EXISTS pgvigil;
DROP TABLE IF EXISTS bench_accounts, bench_bulk;
CREATE TABLE bench_accounts (id int PRIMARY KEY, balance int NOT NULL, note text NOT NULL,
                             version bigint NOT NULL DEFAULT 1);
INSERT INTO bench_accounts SELECT g, 0, 'account ' || g FROM generate_series(1, $rows) g;
CREATE TABLE bench_bulk (id int PRIMARY KEY, payload int NOT NULL, note text NOT NULL,
                         version bigint NOT NULL DEFAULT 1);
INSERT INTO bench_bulk SELECT g, 0, 'row ' || g FROM generate_series(1, $bulk_rows) g;
VACUUM ANALYZE bench_accounts, bench_bulk;
CREATE OR REPLACE FUNCTION bench_timed(sql text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE sql;
  RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END \$\$;
SQL

# --- 1. read + versioned write, by hand and through vigil.optimistic_update ------------------
cat >"$work/hand.sql" <<EOF2
\set id random(1, $rows)
\set amount random(1, 1000000)
SELECT version AS v FROM bench_accounts WHERE id = :id \gset
UPDATE bench_accounts SET balance = :amount, version = version + 1 WHERE id = :id AND version = :v;
EOF2
cat >"$work/vigil.sql" <<EOF2
\set id random(1, $rows)
\set amount random(1, 1000000)
SELECT version AS v FROM bench_accounts WHERE id = :id \gset
SELECT status FROM vigil.optimistic_update('bench_accounts', jsonb_build_object('id', :id::int), :v::bigint, jsonb_build_object('balance', :amount::int));
EOF2

tps() {
  "$pgbench" -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "$1" 2>&1 |
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

hand_runs=() vigil_runs=()
for ((i = 0; i < repeat; i++)); do
  hand_runs+=("$(tps "$work/hand.sql")")
  vigil_runs+=("$(tps "$work/vigil.sql")")
done
hand=$(printf '%s\n' "${hand_runs[@]}" | median)
vigil=$(printf '%s\n' "${vigil_runs[@]}" | median)
ratio=$(awk -v a="$vigil" -v b="$hand" 'BEGIN {printf "%.2f", a / b}')

# With the versioning trigger on the table, optimistic_update lets the trigger bump the version.
q -c "SELECT vigil.enable_versioning('bench_accounts')" >/dev/null
trig_runs=()
for ((i = 0; i < repeat; i++)); do trig_runs+=("$(tps "$work/vigil.sql")"); done
q -c "SELECT vigil.disable_versioning('bench_accounts')" >/dev/null
vigil_trig=$(printf '%s\n' "${trig_runs[@]}" | median)
ratio_trig=$(awk -v a="$vigil_trig" -v b="$hand" 'BEGIN {printf "%.2f", a / b}')

# --- 2. bulk UPDATE of every row: no trigger, suppress_redundant_updates_trigger, vigil -------
set_trigger() {
  q <<SQL >/dev/null
DROP TRIGGER IF EXISTS bench_suppress ON bench_bulk;
SELECT vigil.disable_versioning('bench_bulk');
$1
VACUUM bench_bulk;
SQL
}
bulk_ms() { q -c "SELECT bench_timed('UPDATE bench_bulk SET payload = payload + 1')"; }

none_runs=() suppress_runs=() versioning_runs=()
bulk_ms >/dev/null   # warm-up: the first pass sets hint bits and fills the cache
for ((i = 0; i < repeat; i++)); do
  set_trigger ""
  none_runs+=("$(bulk_ms)")
  set_trigger "CREATE TRIGGER bench_suppress BEFORE UPDATE ON bench_bulk FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();"
  suppress_runs+=("$(bulk_ms)")
  set_trigger "SELECT vigil.enable_versioning('bench_bulk');"
  versioning_runs+=("$(bulk_ms)")
done
set_trigger ""
none=$(printf '%s\n' "${none_runs[@]}" | median)
suppress=$(printf '%s\n' "${suppress_runs[@]}" | median)
versioning=$(printf '%s\n' "${versioning_runs[@]}" | median)
pct() { awk -v a="$1" -v b="$none" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}'; }

verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN {ok = dir == "ge" ? v >= t : v < t; print ok ? "met" : "NOT met"}'; }
versioning_overhead=$(awk -v a="$versioning" -v b="$none" 'BEGIN {printf "%.3f", a / b - 1}')

{
  echo "### Optimistic updates ($(nproc) cores, $clients clients, ${seconds}s per run, median of $repeat)"
  echo
  echo "Read-then-versioned-write cycle on a $rows-row table (pgbench -M prepared):"
  echo
  echo "| Variant | tps | vs hand-written |"
  echo "|---|---:|---:|"
  echo "| hand-written \`UPDATE ... WHERE id = \$1 AND version = \$2\` | $hand | 1.00 |"
  echo "| \`vigil.optimistic_update\` | $vigil | $ratio |"
  echo "| \`vigil.optimistic_update\`, table versioned by the trigger | $vigil_trig | $ratio_trig |"
  echo
  echo "Target at least 0.70x: $(verdict "$ratio" 0.7 ge)."
  echo
  echo "Bulk \`UPDATE bench_bulk SET payload = payload + 1\` of $bulk_rows rows (median ms):"
  echo
  echo "| Trigger | ms | overhead |"
  echo "|---|---:|---:|"
  echo "| none | $none | |"
  echo "| \`suppress_redundant_updates_trigger\` (built-in, C) | $suppress | $(pct "$suppress") |"
  echo "| \`vigil_versioning\` (enable_versioning) | $versioning | $(pct "$versioning") |"
  echo
  echo "Target under 20%: $(verdict "$versioning_overhead" 0.2 lt)."
} >"$out"
cat "$out"
