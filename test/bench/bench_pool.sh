#!/usr/bin/env bash
# bench_pool.sh OUT.md — vigild's pooled read workload side by side with pgbench on one server:
#   read, 8 clients            vs  pgbench -S -M prepared -c 8     (target >= 0.95x)
#   read --pipeline 10         vs  read unpipelined                (target >= 3x)
#   read pooled                vs  read --no-pool                  (target >= 25x)
# plus the pool's Google Benchmark micro-benchmarks (acquire+release < 1 us; 64 threads on 8
# connections without starvation). The machine is shared and noisy, so the runs alternate over
# VIGIL_BENCH_ROUNDS rounds (default 3) and each figure is the median of its rounds.
# VIGIL_BENCH_SECONDS (default 5) sets each run's length; VIGIL_BENCH_DSN runs against an
# existing server instead of a throwaway cluster.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_pool.sh OUT.md}

if [[ -z ${VIGIL_BENCH_INNER:-} ]]; then
  export VIGIL_BENCH_INNER=1
  if [[ -n ${VIGIL_BENCH_DSN:-} ]]; then
    VIGIL_TEST_DSN=$VIGIL_BENCH_DSN exec "$0" "$out"
  fi
  exec "$VIGIL_ROOT/test/harness/with_cluster.sh" --preload -- "$0" "$out"
fi

secs=${VIGIL_BENCH_SECONDS:-5}
rounds=${VIGIL_BENCH_ROUNDS:-3}
rows=100000 # pgbench scale 1 = 100,000 accounts; the same number of users
VIGILD=$VIGIL_ROOT/build/sidecar/vigild
PGBENCH=$PG_SYSTEM_BINDIR/pgbench
dsn=$VIGIL_TEST_DSN

"$VIGILD" --dsn "$dsn" init-schema --users "$rows" --posts-per-user 0 >/dev/null
"$PGBENCH" -i -q -s 1 "$dsn" >/dev/null 2>&1

# ops/s of one vigild bench run (the "overall" entry of --json).
vigild_rate() { "$VIGILD" --dsn "$dsn" bench --workload read --clients 8 --duration "$secs" --json "$@" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["overall"]["ops_per_sec"])'; }
pgbench_tps() { "$PGBENCH" -n -S -M prepared -c 8 -j 2 -T "$secs" "$@" "$dsn" 2>/dev/null |
  sed -nE 's/^tps = ([0-9.]+) .*/\1/p' | head -1; }

median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
runs_pgbench=() runs_pooled=() runs_pipelined=() runs_unpooled=() runs_connect=()
for _ in $(seq 1 "$rounds"); do
  runs_pgbench+=("$(pgbench_tps)")
  runs_pooled+=("$(vigild_rate)")
  runs_pipelined+=("$(vigild_rate --pipeline 10)")
  runs_unpooled+=("$(vigild_rate --no-pool)")
  runs_connect+=("$(pgbench_tps -C)")
done
pgbench_rate=$(median "${runs_pgbench[@]}")
pooled=$(median "${runs_pooled[@]}")
pipelined=$(median "${runs_pipelined[@]}")
unpooled=$(median "${runs_unpooled[@]}")
pgbench_connect=$(median "${runs_connect[@]}")

micro=$("$VIGIL_ROOT/build/sidecar/vigil_micro_bench" --benchmark_format=json 2>/dev/null)
read -r acquire_ns fairness mean_wait max_wait < <(python3 -c '
import json, sys
b = {x["name"]: x for x in json.loads(sys.argv[1])["benchmarks"]}
u = b["BM_AcquireReleaseUncontended"]
c = [x for n, x in b.items() if n.startswith("BM_AcquireRelease64")][0]
print(u["real_time"], c["fairness_ratio"], c["mean_wait_us"], c["max_single_wait_us"])' "$micro")

ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}x' if b else 'n/a')" "$1" "$2"; }
{
  echo "## Pool and read workload (median of $rounds alternating rounds of $secs s, 8 clients, $rows rows, $(nproc) cores shared)"
  echo
  echo "| Comparison | vigild | other | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| read vs \`pgbench -S -M prepared -c 8\` | $pooled ops/s | $pgbench_rate tps | $(ratio "$pooled" "$pgbench_rate") | >= 0.95x |"
  echo "| read --pipeline 10 vs read | $pipelined ops/s | $pooled ops/s | $(ratio "$pipelined" "$pooled") | >= 3x |"
  echo "| read pooled vs --no-pool | $pooled ops/s | $unpooled ops/s | $(ratio "$pooled" "$unpooled") | >= 25x |"
  echo "| read --no-pool vs \`pgbench -S -C\` (connect per transaction) | $unpooled ops/s | $pgbench_connect tps | $(ratio "$unpooled" "$pgbench_connect") | (context) |"
  echo
  echo "Rounds (ops/s or tps): pgbench ${runs_pgbench[*]}; read ${runs_pooled[*]}; pipeline ${runs_pipelined[*]}; no-pool ${runs_unpooled[*]}; pgbench -C ${runs_connect[*]}"
  echo
  echo "| Pool micro-benchmark (Google Benchmark) | value | target |"
  echo "|---|---|---|"
  echo "| acquire + release, uncontended | $(printf '%.0f' "$acquire_ns") ns | < 1000 ns |"
  echo "| 64 threads / 8 connections: slowest thread's mean wait / mean wait | $(printf '%.2f' "$fairness") | <= 3 |"
  echo "| 64 threads / 8 connections: single longest wait / mean wait | $(ratio "$max_wait" "$mean_wait") | (context) |"
} >"$out"
cat "$out"
