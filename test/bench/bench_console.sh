#!/usr/bin/env bash
# bench_console.sh OUT.md — the console's overview and checks pages next to a /metrics scrape of
# the same data: a real `vigild serve` with 10 [[targets]] (VIGIL_BENCH_TARGETS; one per
# database of the bench cluster, polled every 5 s, history recorded), 50 concurrent clients
# (VIGIL_BENCH_CLIENTS) for VIGIL_BENCH_SECONDS (10) each, with wrk, in VIGIL_BENCH_ROUNDS
# rounds (3; the medians are reported). Target: p99 under 20 ms, every page under 200 KB, and
# no query on the request path (the server's committed transactions during a page run are no
# more than during the /metrics run: the pollers' own). vigild is a child of this script,
# stopped by its pid.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_console.sh OUT.md}
targets=${VIGIL_BENCH_TARGETS:-10}
clients=${VIGIL_BENCH_CLIENTS:-50}
seconds=${VIGIL_BENCH_SECONDS:-10}
rounds=${VIGIL_BENCH_ROUNDS:-3}
"$VIGIL_ROOT/test/harness/deps.sh" --bench

in_bench_cluster --preload "$0" "$out"

VIGILD=$VIGIL_ROOT/build/sidecar/vigild
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench_console: $targets databases with pgvigil and pg_stat_statements"
port=$(free_port)
{
  printf '[metrics]\nlisten = "127.0.0.1:%s"\n[health]\ninterval = "5s"\n' "$port"
  printf '[history]\npath = "%s/history.sqlite3"\ninterval = "5s"\n' "$work"
} >"$work/vigild.toml"
for i in $(seq 1 "$targets"); do
  psql -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS bench_db$i" -c "CREATE DATABASE bench_db$i" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d "bench_db$i" -c "CREATE EXTENSION pgvigil" -c "CREATE EXTENSION pg_stat_statements" \
    -c "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g" -c "ANALYZE" >/dev/null
  printf '\n[[targets]]\nname = "target%02d"\ndsn = "host=127.0.0.1 port=%s user=postgres dbname=bench_db%s"\ndatabases = ["bench_db%s"]\n' \
    "$i" "$PGPORT" "$i" "$i" >>"$work/vigild.toml"
done

"$VIGILD" --config "$work/vigild.toml" --log-level warn serve >"$work/vigild.log" 2>&1 & pids+=($!)
vigild_pid=$!
base=http://127.0.0.1:$port
# Ready once every target has been polled and is up.
up_targets() { curl -s "$base/metrics" | grep -c '^vigil_up{.*} 1$' || true; }
for _ in $(seq 1 300); do
  kill -0 "$vigild_pid" 2>/dev/null || { echo "vigild exited; its log:" >&2; cat "$work/vigild.log" >&2; exit 1; }
  [[ $(up_targets) -ge $targets ]] && break
  sleep 0.2
done
[[ $(up_targets) -ge $targets ]] || { echo "only $(up_targets) of $targets targets are up; vigild's log:" >&2; tail -20 "$work/vigild.log" >&2; exit 1; }

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

median() { sort -g | awk 'NF { v[++n] = $1 } END { printf "%.2f", v[int((n + 1) / 2)] }'; }
# Rounds, the three paths side by side in each: "ROUND PATH p50 p99 rps bytes commits" lines.
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$rounds"); do
  for path in /metrics / /checks; do
    echo "$r $path $(run "$path")"
  done
done >"$work/rounds"
# col PATH N: the median of column N over the rounds of PATH.
col() { awk -v p="$1" -v n="$2" '$2 == p { print $n }' "$work/rounds" | median; }
m99=$(col /metrics 4)
{
  echo "## Console pages vs /metrics: a real vigild serve with $targets targets, $clients concurrent clients, ${seconds}s each (wrk), medians of $rounds rounds"
  echo
  echo "Load average when the runs started: $load_at_start on $(nproc) cores (wrk shares them); at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| Path | p50 ms | p99 ms | p99 / metrics p99 | requests/s | bytes | transactions during a run (max) | verdict |"
  echo "|---|---|---|---|---|---|---|---|"
  mcommits=$(awk '$2 == "/metrics" { print $7 }' "$work/rounds" | sort -g | tail -1)
  status=0
  for path in /metrics / /checks; do
    p50=$(col "$path" 3) p99=$(col "$path" 4) rps=$(col "$path" 5) bytes=$(col "$path" 6)
    txns=$(awk -v p="$path" '$2 == p { print $7 }' "$work/rounds" | sort -g | tail -1)
    ratio=$(awk -v a="$p99" -v b="$m99" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    verdict=
    if [[ $path != /metrics ]]; then
      verdict=ok
      if awk -v p="$p99" 'BEGIN { exit !(p >= 20) }'; then verdict="p99 over 20 ms"; status=1; fi
      if awk -v b="$bytes" 'BEGIN { exit !(b >= 204800) }'; then verdict="over 200 KB"; status=1; fi
      # The pollers commit a few transactions per poll either way; a page that queried would add
      # one per request (thousands here).
      if [[ $txns -gt $((mcommits * 2 + 100)) ]]; then verdict="queries on the request path"; status=1; fi
    fi
    echo "| $path | $p50 | $p99 | $ratio | $rps | ${bytes%.*} | $txns | $verdict |"
  done
  echo
  echo "Each round's p99 (ms), /metrics, / and /checks:"
  echo
  for r in $(seq 1 "$rounds"); do
    echo "- round $r: $(awk -v r="$r" '$1 == r { printf "%s %s  ", $2, $4 }' "$work/rounds")"
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
