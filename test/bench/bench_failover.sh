#!/usr/bin/env bash
# bench_failover.sh OUT.md — how long writes stop when the leader of a Patroni cluster dies:
# from the kill -9 of its postmaster to the first acknowledged write on the new leader, for
# vigild's pool (`vigild bench --workload transfer`, one client) against a bare libpq client
# that reconnects in a loop (test/bench/failover_client.c), both with the same multi-host DSN
# (target_session_attrs=read-write) and running at the same time through the same failover.
# Synchronous mode, so an acknowledged write is one the new leader has. FAILOVER_ROUNDS rounds
# (default 5); medians and their ratio go to OUT.md, and whether the aim is met: vigild no slower
# than the bare client plus one validation (a ping round trip, under 1 ms on loopback; counted as
# FAILOVER_VALIDATION_MS, default 5), both on the medians and on the median of the per-round
# differences (the two clients race through the same failover, so a round's difference is the
# less noisy number). Each round's raw data (the kill time, both
# clients' acknowledgements, vigild's log) is kept in build/test-logs/ha-bench/.
set -euo pipefail
source "$(dirname "$0")/../harness/ha/lib.sh"

out=$(realpath -m "${1:?usage: bench_failover.sh OUT.md}")
rounds=${FAILOVER_ROUNDS:-5}
validation_ms=${FAILOVER_VALIDATION_MS:-5}
VIGILD=${VIGILD:-$VIGIL_SIDECAR_BUILD/vigild}
mkdir -p "$VIGIL_BUILD" "$(dirname "$out")"
dir=$(mktemp -d "$VIGIL_BUILD/ha-bench.XXXXXX")
keep=$VIGIL_BUILD/test-logs/ha-bench
rm -rf "$keep"
mkdir -p "$keep"
trap 'cp "$dir"/ack.* "$dir"/libpq.* "$dir"/bench.* "$dir"/kill.* "$keep"/ 2>/dev/null; ha_stop' EXIT
trap 'exit 130' INT TERM

client=$dir/failover_client
gcc -O2 -Wall -Wextra -Werror -o "$client" "$VIGIL_ROOT/test/bench/failover_client.c" \
  -I"$(pg_config --includedir)" -lpq

ha_start "$dir"
ha_set_sync on
DSN=$(ha_dsn)
"$VIGILD" init-schema --dsn "$DSN" --accounts 200 --users 100 >/dev/null
ha_psql "$(ha_leader)" -c 'create table failover_probe (id bigserial primary key, client text,
                                                        at timestamptz default now())'

# recovery KILL_TIME FILE: seconds from the kill to the first acknowledgement that ends the
# longest pause in FILE (one time per line, in the first column) after it.
recovery() {
  cut -f2- "$2" | awk -v kill="$1" '
    { t = $NF } t > kill - 1 && prev != "" && t - prev > gap { gap = t - prev; first = t }
    { prev = t }
    END { if (first == "" || first < kill) exit 1; printf "%.3f\n", first - kill }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$dir/vigild.times"
: >"$dir/libpq.times"
: >"$dir/diff.times"
for round in $(seq 1 "$rounds"); do
  ha_wait_streaming sync 120
  ack=$dir/ack.$round
  VIGIL_BENCH_ACKNOWLEDGED_LOG=$ack "$VIGILD" bench --dsn "$DSN" --workload transfer --clients 1 \
    --pool-size 1 --duration 20s --acquire-timeout 30s --max-retries 100 --json \
    >"$dir/bench.$round.json" 2>"$dir/bench.$round.err" &
  bench_pid=$!
  "$client" "$DSN" 20 >"$dir/libpq.$round" 2>"$dir/libpq.$round.err" &
  client_pid=$!
  sleep 5
  leader=$(ha_leader)
  read -r _ kill_time < <(ha_kill_leader)
  echo "$kill_time" >"$dir/kill.$round"
  new_leader=$(ha_wait_leader "$leader" 60)
  bench_status=0
  wait "$bench_pid" || bench_status=$?
  wait "$client_pid"
  v=$(recovery "$kill_time" "$ack") || { echo "round $round: vigild wrote nothing after the kill" >&2; exit 1; }
  l=$(recovery "$kill_time" "$dir/libpq.$round") || { echo "round $round: libpq wrote nothing after the kill" >&2; exit 1; }
  echo "round $round: $leader -> $new_leader; vigild ${v} s (bench exit $bench_status), libpq ${l} s"
  echo "$v" >>"$dir/vigild.times"
  echo "$l" >>"$dir/libpq.times"
  awk -v a="$v" -v b="$l" 'BEGIN { printf "%.3f\n", a - b }' >>"$dir/diff.times"
  echo "| $round | $leader → $new_leader | $v | $l | $bench_status |" >>"$dir/rows"
done

v_median=$(median <"$dir/vigild.times")
l_median=$(median <"$dir/libpq.times")
d_median=$(median <"$dir/diff.times")
aim() { awk -v d="$1" -v ms="$validation_ms" 'BEGIN { print (d <= ms / 1000 ? "met" : "**not met**") }'; }
aim_medians=$(aim "$(awk -v a="$v_median" -v b="$l_median" 'BEGIN { print a - b }')")
aim_rounds=$(aim "$d_median")
ratio=$(awk -v a="$v_median" -v b="$l_median" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
{
  echo "## Failover: kill -9 of the leader's postmaster to the first acknowledged write"
  echo
  echo "Patroni (ttl 10, loop_wait 2, primary_start_timeout 0, synchronous_mode on), $rounds rounds;"
  echo "both clients write through \`$DSN\`."
  echo
  echo "| round | leader | vigild pool (s) | bare libpq loop (s) | vigild bench exit |"
  echo "|---|---|---|---|---|"
  cat "$dir/rows"
  echo "| median | | $v_median | $l_median | |"
  echo
  echo "vigild / libpq: **$ratio** (1.00 = as fast as a client that reconnects every 10 ms);"
  echo "median of the per-round differences (vigild − libpq): $d_median s."
  echo
  echo "Aim, vigild no slower than the bare client plus one validation ($validation_ms ms):"
  echo "$aim_medians on the medians, $aim_rounds on the per-round differences."
} >"$out"
cat "$out"
