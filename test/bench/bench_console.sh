#!/usr/bin/env bash
# bench_console.sh OUT.md — the console's overview and checks pages next to a /metrics scrape of
# the same data: 10 targets (VIGIL_BENCH_TARGETS; real pollers, one per database of the bench
# cluster), 50 concurrent clients (VIGIL_BENCH_CLIENTS) for VIGIL_BENCH_SECONDS (10) each, with
# wrk. Target: p99 under 20 ms, every page under 200 KB, and no query on the request path (the
# server's committed transactions during a page run are no more than during the /metrics run:
# the pollers' own). The server is a child of this script, stopped by its pid.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_console.sh OUT.md}
targets=${VIGIL_BENCH_TARGETS:-10}
clients=${VIGIL_BENCH_CLIENTS:-50}
seconds=${VIGIL_BENCH_SECONDS:-10}
"$VIGIL_ROOT/test/harness/deps.sh" --bench

in_bench_cluster --preload "$0" "$out"

SERVER=$VIGIL_ROOT/build/sidecar/vigil_console_bench_server
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench_console: $targets databases with pgvigil and pg_stat_statements"
for i in $(seq 1 "$targets"); do
  psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS bench_db$i" -c "CREATE DATABASE bench_db$i" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d "bench_db$i" -c "CREATE EXTENSION pgvigil" -c "CREATE EXTENSION pg_stat_statements" \
    -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g" -c "ANALYZE" >/dev/null
done

port=$(free_port)
"$SERVER" "127.0.0.1:$port" "host=127.0.0.1 port=$PGPORT user=postgres" "$targets" >"$work/server.log" 2>&1 & pids+=($!)
for _ in $(seq 1 300); do grep -q '^ready' "$work/server.log" && break; sleep 0.1; done
grep -q '^ready' "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
base=http://127.0.0.1:$port

commits() { psql -X -tAc "SELECT sum(xact_commit) FROM pg_stat_database"; }

# run PATH: "p50_ms p99_ms requests_per_s bytes commits" for PATH under wrk.
run() {
  local path=$1 before after bytes
  bytes=$(curl -s -o /dev/null -w '%{size_download}' "$base$path")
  before=$(commits)
  wrk -t2 -c"$clients" -d"${seconds}s" --latency "$base$path" >"$work/wrk.txt"
  after=$(commits)
  awk -v bytes="$bytes" -v commits="$((after - before))" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } $1 == "Requests/sec:" { rps = $2 }
    $0 ~ /Non-2xx/ { bad = $NF }
    END { if (bad) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 }
          printf "%.2f %.2f %.0f %d %d\n", p50, p99, rps, bytes, commits }' "$work/wrk.txt"
}

read -r m50 m99 mrps mbytes mcommits < <(run /metrics)
{
  echo "## Console pages vs /metrics: $targets targets, $clients concurrent clients, ${seconds}s each (wrk)"
  echo
  echo "Load average when the runs started: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wrk shares them)."
  echo
  echo "| Path | p50 ms | p99 ms | p99 / metrics p99 | requests/s | bytes | transactions during the run | verdict |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| /metrics | $m50 | $m99 | 1.00 | $mrps | $mbytes | $mcommits | |"
  status=0
  for path in / /checks; do
    read -r p50 p99 rps bytes txns < <(run "$path")
    ratio=$(awk -v a="$p99" -v b="$m99" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    verdict=ok
    if awk -v p="$p99" 'BEGIN { exit !(p >= 20) }'; then verdict="p99 over 20 ms"; status=1; fi
    if [[ $bytes -ge 204800 ]]; then verdict="over 200 KB"; status=1; fi
    # The pollers commit a few transactions per poll either way; a page that queried would add
    # one per request (thousands here).
    if [[ $txns -gt $((mcommits * 2 + 100)) ]]; then verdict="queries on the request path"; status=1; fi
    echo "| $path | $p50 | $p99 | $ratio | $rps | $bytes | $txns | $verdict |"
  done
  echo
  echo "Every page once (bytes; limit 204800):"
  echo
  echo "| Page | bytes |"
  echo "|---|---|"
  for path in / /checks /queries /locks /space /pool /replication /backups /activity /static/console.css /static/console.js; do
    echo "| $path | $(curl -s -o /dev/null -w '%{size_download}' "$base$path") |"
  done
} >"$out"
cat "$out"
exit "$status"
