#!/usr/bin/env bash
# bench_metrics.sh OUT.md — a /metrics scrape of vigild next to prometheus-postgres-exporter's
# default scrape of the same database with VIGIL_BENCH_TABLES tables (default 1000), in one run;
# then what vigild's background poll costs (VIGIL_BENCH_POLLS warm polls, default 10, each
# started by a SIGHUP: the whole poll and each of its queries); then vigild's scrape with the
# database unreachable (target: under 50 ms).
# The exporter runs as a plain child process of this script (never the Debian service) and is
# stopped by its pid when the script ends.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_metrics.sh OUT.md}
tables=${VIGIL_BENCH_TABLES:-1000}
scrapes=${VIGIL_BENCH_SCRAPES:-50}
polls=${VIGIL_BENCH_POLLS:-10}
"$VIGIL_ROOT/test/harness/deps.sh" --bench

in_bench_cluster --preload "$0" "$out"

VIGILD=$VIGIL_ROOT/build/sidecar/vigild
EXPORTER=/usr/bin/prometheus-postgres-exporter
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS pgvigil" \
  -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
echo "bench_metrics: creating $tables tables"
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
  FOR i IN 1..$tables LOOP
    EXECUTE format('CREATE TABLE IF NOT EXISTS bench_t%s (id int PRIMARY KEY, v text)', i);
    EXECUTE format('INSERT INTO bench_t%s SELECT g, md5(g::text) FROM generate_series(1, 20) g ON CONFLICT DO NOTHING', i);
  END LOOP;
END \$\$;
ANALYZE;
SQL

# has URL PATTERN: the body at URL has a line matching PATTERN (read whole first: `curl | grep -q`
# fails under pipefail when grep stops reading a large body early).
has() {
  local body
  body=$(curl -sf "$1") || return 1
  grep -q "$2" <<<"$body"
}

# median_ms URL N: median and max of N sequential scrapes, in milliseconds.
median_ms() {
  local url=$1 n=$2
  for _ in $(seq 1 "$n"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$url"
  done | sort -n | awk '{ t[NR] = $1 * 1000 } END { printf "%.2f %.2f\n", t[int((NR + 1) / 2)], t[NR] }'
}

vport=$(free_port)
printf '[metrics]\nlisten = "127.0.0.1:%s"\n[health]\ninterval = "15s"\n' "$vport" >"$work/vigild.toml"
"$VIGILD" --dsn "$VIGIL_TEST_DSN" --config "$work/vigild.toml" --log-level warn serve & pids+=($!)
eport=$(free_port)
DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable" \
  "$EXPORTER" --web.listen-address="127.0.0.1:$eport" --log.level=error & pids+=($!)

for _ in $(seq 1 100); do
  has "http://127.0.0.1:$vport/metrics" '^vigil_up{[^}]*} 1' && has "http://127.0.0.1:$eport/metrics" '^pg_up 1' && break
  sleep 0.2
done
has "http://127.0.0.1:$vport/metrics" '^vigil_up{[^}]*} 1' || { echo "vigild did not come up" >&2; exit 1; }

read -r v_med v_max < <(median_ms "http://127.0.0.1:$vport/metrics" "$scrapes")
read -r e_med e_max < <(median_ms "http://127.0.0.1:$eport/metrics" "$scrapes")
v_lines=$(curl -s "http://127.0.0.1:$vport/metrics" | grep -vc '^#')
e_lines=$(curl -s "http://127.0.0.1:$eport/metrics" | grep -vc '^#')
for family in vigil_database_transactions_committed_total vigil_wal_bytes_total vigil_table_size_bytes \
  vigil_statement_calls_total vigil_health_check_value; do
  has "http://127.0.0.1:$vport/metrics" "^$family" || { echo "vigild exports no $family" >&2; exit 1; }
done

# The poll's cost, off the scrape path. The first poll ran on a fresh connection; a SIGHUP (same
# configuration) starts another at once, so these are warm polls of the same pooled connection.
metric() { curl -s "http://127.0.0.1:$vport/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { print $2 }'; }
# op_sums: "operation sum count" of vigil_query_duration_seconds, one line per operation.
op_sums() {
  curl -s "http://127.0.0.1:$vport/metrics" | awk '
    /^vigil_query_duration_seconds_(sum|count)\{operation="/ {
      split($1, a, "\""); kind = ($1 ~ /_sum\{/) ? "sum" : "count"; v[a[2], kind] = $2; ops[a[2]] = 1 }
    END { for (op in ops) print op, v[op, "sum"], v[op, "count"] }' | LC_ALL=C sort
}
op_sums >"$work/ops_before"
poll_times=()
for _ in $(seq 1 "$polls"); do
  last=$(metric vigil_health_poll_timestamp_seconds)
  kill -HUP "${pids[0]}"
  for _ in $(seq 1 200); do
    [[ $(metric vigil_health_poll_timestamp_seconds) != "$last" ]] && break
    sleep 0.05
  done
  poll_times+=("$(metric vigil_health_poll_duration_seconds)")
done
op_sums >"$work/ops_after"
poll_ms=$(printf '%s\n' "${poll_times[@]}" | sort -g | awk '{ t[NR] = $1 * 1000 } END { printf "%.2f", t[int((NR + 1) / 2)] }')
poll_max=$(printf '%s\n' "${poll_times[@]}" | sort -g | awk '{ t = $1 * 1000 } END { printf "%.2f", t }')
# What each poll operation cost per poll over the warm polls (ms, and how often it ran); and the
# same summed over the statistics views' queries.
stats_ops=" poll_database_stats poll_bgwriter poll_wal poll_archiver poll_replication_slots poll_tables poll_statements poll_statement_texts "
op_rows=$(awk -v polls="$polls" 'NR == FNR { sum[$1] = $2; n[$1] = $3; next }
  $1 ~ /^poll_/ && $3 > n[$1] { printf "| `%s` | %.2f | %d |\n", $1, ($2 - sum[$1]) / polls * 1000, $3 - n[$1] }' \
  "$work/ops_before" "$work/ops_after")
stats_ms=$(awk -v polls="$polls" -v ops="$stats_ops" 'NR == FNR { sum[$1] = $2; next }
  index(ops, " " $1 " ") { t += $2 - sum[$1] } END { printf "%.2f", t / polls * 1000 }' \
  "$work/ops_before" "$work/ops_after")
poll_ratio=$(awk -v a="$poll_ms" -v b="$e_med" 'BEGIN { printf "%.3f", a / b }')

# The database unreachable: a second vigild pointed at a port nobody listens on.
dport=$(free_port)
printf '[metrics]\nlisten = "127.0.0.1:%s"\n[health]\ninterval = "1s"\n' "$dport" >"$work/down.toml"
"$VIGILD" --dsn "host=127.0.0.1 port=1 connect_timeout=2" --config "$work/down.toml" --log-level off serve & pids+=($!)
for _ in $(seq 1 50); do has "http://127.0.0.1:$dport/metrics" '^vigil_up{[^}]*} 0' && break; sleep 0.2; done
read -r d_med d_max < <(median_ms "http://127.0.0.1:$dport/metrics" "$scrapes")

ratio=$(awk -v a="$v_med" -v b="$e_med" 'BEGIN { printf "%.3f", a / b }')
verdict=$(awk -v a="$v_med" -v b="$e_med" 'BEGIN { print (a <= b) ? "met" : "NOT met" }')
down_verdict=$(awk -v m="$d_max" 'BEGIN { print (m < 50) ? "met" : "NOT met" }')
cat >"$out" <<MD
### /metrics scrape, $tables tables ($scrapes sequential scrapes each, curl time_total)

| Target | median ms | max ms | samples | vigild / exporter (median) |
|---|---|---|---|---|
| vigild serve (answered from memory) | $v_med | $v_max | $v_lines | $ratio |
| prometheus-postgres-exporter $("$EXPORTER" --version 2>&1 | head -1 | awk '{print $3}') default scrape | $e_med | $e_max | $e_lines | 1 |
| vigild, database unreachable | $d_med | $d_max | | |

Target "scrape no slower than the exporter": $verdict. Target "unreachable database, scrape < 50 ms" (max): $down_verdict.

### vigild's background poll ($polls warm polls; off the scrape path, once every health.interval)

The whole poll: median $poll_ms ms, max $poll_max ms ($poll_ratio × the exporter's median scrape, which runs its
queries on every scrape). Of that, the statistics views (pg_stat_database, pg_stat_bgwriter, pg_stat_wal,
pg_stat_archiver, pg_replication_slots, the top tables, the top statements) take $stats_ms ms per poll.

| Operation | ms per poll | runs in $polls polls |
|---|---|---|
$op_rows
MD
cat "$out"
