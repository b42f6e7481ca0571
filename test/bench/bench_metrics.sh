#!/usr/bin/env bash
# bench_metrics.sh OUT.md — a /metrics scrape of vigild next to prometheus-postgres-exporter's
# default scrape of the same database with VIGIL_BENCH_TABLES tables (default 1000), in one run;
# then vigild's scrape with the database unreachable (target: under 50 ms).
# The exporter runs as a plain child process of this script (never the Debian service) and is
# stopped by its pid when the script ends.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_metrics.sh OUT.md}
tables=${VIGIL_BENCH_TABLES:-1000}
scrapes=${VIGIL_BENCH_SCRAPES:-50}
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

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS pgvigil" >/dev/null
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
  curl -sf "http://127.0.0.1:$vport/metrics" | grep -q '^vigil_up 1' && \
    curl -sf "http://127.0.0.1:$eport/metrics" | grep -q '^pg_up 1' && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$vport/metrics" | grep -q '^vigil_up 1' || { echo "vigild did not come up" >&2; exit 1; }

read -r v_med v_max < <(median_ms "http://127.0.0.1:$vport/metrics" "$scrapes")
read -r e_med e_max < <(median_ms "http://127.0.0.1:$eport/metrics" "$scrapes")
poll_ms=$(curl -s "http://127.0.0.1:$vport/metrics" | awk '/^vigil_health_poll_duration_seconds /{ printf "%.2f", $2 * 1000 }')
v_lines=$(curl -s "http://127.0.0.1:$vport/metrics" | grep -vc '^#')
e_lines=$(curl -s "http://127.0.0.1:$eport/metrics" | grep -vc '^#')

# The database unreachable: a second vigild pointed at a port nobody listens on.
dport=$(free_port)
printf '[metrics]\nlisten = "127.0.0.1:%s"\n[health]\ninterval = "1s"\n' "$dport" >"$work/down.toml"
"$VIGILD" --dsn "host=127.0.0.1 port=1 connect_timeout=2" --config "$work/down.toml" --log-level off serve & pids+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$dport/metrics" | grep -q '^vigil_up 0' && break; sleep 0.2; done
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

vigild's background poll of the same database took $poll_ms ms (off the scrape path, every health.interval).
Target "scrape no slower than the exporter": $verdict. Target "unreachable database, scrape < 50 ms" (max): $down_verdict.
MD
cat "$out"
