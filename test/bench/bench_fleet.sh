#!/usr/bin/env bash
# bench_fleet.sh OUT.md — the fleet at scale: VIGIL_BENCH_CLUSTERS clusters (default 5) on this
# machine with VIGIL_BENCH_DATABASES databases each (default 40), configured as targets of
# VIGIL_BENCH_TARGET_DATABASES databases (default 4: 50 targets, 200 databases), one vigild
# polling all of them every VIGIL_BENCH_INTERVAL (default 10s). In VIGIL_BENCH_ROUNDS rounds
# (default 3), each VIGIL_BENCH_WINDOW seconds long (default 60):
#   - vigild's CPU share: clock ticks (utime + stime, /proc/PID/stat) over the window, as a share
#     of one core (target: under 2%);
#   - the per-target poll time, from vigild's own vigil_health_poll_duration_seconds (or the
#     family VIGIL_BENCH_POLL_METRIC names);
#   - the scrape of the whole fleet (VIGIL_BENCH_SCRAPES sequential scrapes, default 5) from
#     vigild's /metrics next to prometheus-postgres-exporter's scrape of the same 200 databases
#     (target: no slower). Debian's exporter (0.11.1) has no /probe, so it gets the fleet the
#     way that version monitors several servers: DATA_SOURCE_NAME as a comma-separated list of
#     DSNs, one per server (see below), all scraped by one /metrics request.
# The medians of the rounds are reported, with their ratios. The exporter and vigild run as plain
# children of this script and are stopped by their pids; the clusters are stopped by their data
# directories, however the script ends. VIGIL_BENCH_EXPORTER_ONLY=1 sets up the clusters and
# measures the exporter's side only (for a vigild without [[targets]]).
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_fleet.sh OUT.md}
out=$(realpath -m "$out")
clusters=${VIGIL_BENCH_CLUSTERS:-5}
databases=${VIGIL_BENCH_DATABASES:-40}
per_target=${VIGIL_BENCH_TARGET_DATABASES:-4}
interval=${VIGIL_BENCH_INTERVAL:-10s}
rounds=${VIGIL_BENCH_ROUNDS:-3}
window=${VIGIL_BENCH_WINDOW:-60}
scrapes=${VIGIL_BENCH_SCRAPES:-5}
exporter_only=${VIGIL_BENCH_EXPORTER_ONLY:-}
# The family that holds each target's (and database's) last poll time.
poll_metric=${VIGIL_BENCH_POLL_METRIC:-vigil_health_poll_duration_seconds}
"$VIGIL_ROOT/test/harness/deps.sh" --bench

VIGILD=$VIGIL_ROOT/build/sidecar/vigild
EXPORTER=/usr/bin/prometheus-postgres-exporter
mkdir -p "$VIGIL_BUILD" "$(dirname "$out")"
work=$(mktemp -d "$VIGIL_BUILD/bench-fleet.XXXXXX")
make_pg_dir "$work"
pids=()
cluster_dirs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for d in "${cluster_dirs[@]}"; do stop_cluster "$d"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The clusters: small shared_buffers (five share the machine), pgvigil and pg_stat_statements
# preloaded and created in template1, so that every database has them.
ports=()
for c in $(seq 1 "$clusters"); do
  dir=$work/cluster$c
  start_cluster "$dir" --preload "shared_buffers = 32MB" "max_connections = 100"
  cluster_dirs+=("$dir")
  ports+=("$CLUSTER_PORT")
  psql_c=("$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$CLUSTER_PORT" -U postgres)
  "${psql_c[@]}" -d template1 -c "CREATE EXTENSION IF NOT EXISTS pgvigil" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  for d in $(seq 1 "$databases"); do echo "CREATE DATABASE db$d;"; done | "${psql_c[@]}" -d postgres >/dev/null
  echo "bench_fleet: cluster $c on port $CLUSTER_PORT with $databases databases"
done
targets=$((clusters * databases / per_target))
total_dbs=$((targets * per_target))

# vigild's configuration: one [[targets]] entry per group of per_target databases of a cluster.
vport=$(free_port)
{
  printf '[metrics]\nlisten = "127.0.0.1:%s"\n[health]\ninterval = "%s"\n' "$vport" "$interval"
  for c in $(seq 1 "$clusters"); do
    for t in $(seq 0 $((databases / per_target - 1))); do
      dbs=$(seq $((t * per_target + 1)) $(((t + 1) * per_target)) | sed 's/^/"db/; s/$/"/' | paste -sd, | sed 's/,/, /g')
      printf '\n[[targets]]\nname = "c%s_t%s"\ndsn = "host=127.0.0.1 port=%s user=postgres dbname=postgres"\ndatabases = [%s]\n' \
        "$c" "$t" "${ports[$((c - 1))]}" "$dbs"
    done
  done
} >"$work/vigild.toml"

# The exporters: one per server, as Debian's 0.11.1 must be run. Its DATA_SOURCE_NAME takes a
# comma-separated list, but two DSNs make its collectors emit the same series twice ("was
# collected before with the same name and label values"), which fails the whole scrape; and it has
# no /probe. Its default collectors read server-wide views (pg_stat_database has a row for every
# database), so a DSN per server covers the fleet's databases as far as it covers any.
eports=() exporter_pids=()
for c in $(seq 1 "$clusters"); do
  eport=$(free_port)
  DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:${ports[$((c - 1))]}/postgres?sslmode=disable" \
    "$EXPORTER" --web.listen-address="127.0.0.1:$eport" --log.level=error & pids+=($!)
  exporter_pids+=($!)
  eports+=("$eport")
done

# scrape_ms URL N: median and max of N sequential scrapes (ms, curl time_total), and the samples
# of the last one.
scrape_ms() {
  local url=$1 n=$2
  for _ in $(seq 1 "$n"); do
    curl -s -o /dev/null -w '%{time_total}\n' --max-time 120 "$url"
  done | sort -n | awk '{ t[NR] = $1 * 1000 } END { printf "%.1f %.1f\n", t[int((NR + 1) / 2)], t[NR] }'
}
samples() { curl -s --max-time 120 "$1" | grep -vc '^#' || true; }
# cpu_ticks PID: utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat,
# counted after the command name, which may contain spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
median() { sort -g | awk 'NF { v[++n] = $1 } END { if (n) printf "%.3f", v[int((n + 1) / 2)]; else print "n/a" }'; }
hz=$(getconf CLK_TCK)

# has URL PATTERN: a line of the body at URL matches (read whole first: `curl | grep -q` fails
# under pipefail when grep stops reading early).
has() {
  local body
  body=$(curl -sf --max-time 60 "$1" 2>/dev/null) || return 1
  grep -q "$2" <<<"$body"
}
for eport in "${eports[@]}"; do
  for _ in $(seq 1 100); do
    has "http://127.0.0.1:$eport/metrics" '^pg_up 1' && break
    sleep 0.2
  done
  has "http://127.0.0.1:$eport/metrics" '^pg_up 1' || { echo "the exporter on $eport did not answer a scrape" >&2; exit 1; }
done
# exporters_ms N: N scrapes of the whole fleet from the exporters, each scrape all of them at once
# (as Prometheus would): the median wall time and the median of the summed curl times, in ms.
exporters_ms() {
  local n=$1 i
  for i in $(seq 1 "$n"); do
    local t0 t1 e
    t0=$(date +%s%N)
    for e in "${eports[@]}"; do
      curl -s -o /dev/null -w '%{time_total}\n' --max-time 120 "http://127.0.0.1:$e/metrics" >"$work/exp.$e" &
    done
    wait # the curls: exporters_ms runs in a subshell, whose only children they are
    t1=$(date +%s%N)
    echo "$(((t1 - t0) / 1000000)) $(cat "$work"/exp.* | awk '{ s += $1 * 1000 } END { printf "%.1f", s }')"
  done >"$work/exporters"
  echo "$(awk '{ print $1 }' "$work/exporters" | median) $(awk '{ print $2 }' "$work/exporters" | median)"
}

vigild_pid=
if [[ -z $exporter_only ]]; then
  "$VIGILD" --config "$work/vigild.toml" --log-level warn serve >"$work/vigild.log" 2>&1 & pids+=($!)
  vigild_pid=$!
  # Up once every target has been polled: every vigil_up sample of each target is 1.
  up_targets() {
    curl -s "http://127.0.0.1:$vport/metrics" | awk '/^vigil_up\{/ && match($0, /target="[^"]*"/) {
        t = substr($0, RSTART, RLENGTH); seen[t] = 1; if ($2 != 1) down[t] = 1 }
      END { n = 0; for (t in seen) if (!(t in down)) n++; print n }'
  }
  for _ in $(seq 1 300); do
    kill -0 "$vigild_pid" 2>/dev/null || { echo "vigild exited; its log:" >&2; cat "$work/vigild.log" >&2; exit 1; }
    [[ $(up_targets) -ge $targets ]] && break
    sleep 1
  done
  up=$(up_targets)
  [[ $up -ge $targets ]] || { echo "only $up of $targets targets are up after 300 s; vigild's log:" >&2; tail -20 "$work/vigild.log" >&2; exit 1; }
  echo "bench_fleet: vigild polls $targets targets ($total_dbs databases)"
fi

cpu_rounds=() poll_med_rounds=() poll_max_rounds=() v_rounds=() e_rounds=() e_sum_rounds=() ratio_rounds=()
for r in $(seq 1 "$rounds"); do
  if [[ -n $vigild_pid ]]; then
    t0=$(cpu_ticks "$vigild_pid"); s0=$(date +%s.%N)
    sleep "$window"
    t1=$(cpu_ticks "$vigild_pid"); s1=$(date +%s.%N)
    cpu=$(awk -v a="$t0" -v b="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz / (s1 - s0) * 100 }')
    cpu_rounds+=("$cpu")
    # The last poll of every target (and database, if vigild labels it so), in ms.
    curl -s "http://127.0.0.1:$vport/metrics" | awk -v m="$poll_metric" 'index($0, m "{") == 1 { print $2 * 1000 }' >"$work/polls"
    [[ -s $work/polls ]] || echo "bench_fleet: vigild exports no $poll_metric{...} samples (VIGIL_BENCH_POLL_METRIC names the family)" >&2
    poll_med_rounds+=("$(median <"$work/polls")")
    poll_max_rounds+=("$(sort -g "$work/polls" | tail -1)")
    read -r v_med _ < <(scrape_ms "http://127.0.0.1:$vport/metrics" "$scrapes")
    v_rounds+=("$v_med")
  fi
  read -r e_med e_sum < <(exporters_ms "$scrapes")
  e_rounds+=("$e_med") e_sum_rounds+=("$e_sum")
  [[ -n $vigild_pid ]] && ratio_rounds+=("$(awk -v a="$v_med" -v b="$e_med" 'BEGIN { printf "%.4f", a / b }')")
  echo "bench_fleet: round $r: vigild cpu ${cpu:-n/a}% of a core, scrape ${v_med:-n/a} ms; exporter scrape $e_med ms"
done

e_ticks=0 e_samples=0
for p in "${exporter_pids[@]}"; do e_ticks=$((e_ticks + $(cpu_ticks "$p"))); done
for e in "${eports[@]}"; do e_samples=$((e_samples + $(samples "http://127.0.0.1:$e/metrics"))); done
e_sum=$(printf '%s\n' "${e_sum_rounds[@]}" | median)
e_version=$("$EXPORTER" --version 2>&1 | head -1 | awk '{ print $3 }')
cpu_med=$(printf '%s\n' "${cpu_rounds[@]}" | median)
e_med=$(printf '%s\n' "${e_rounds[@]}" | median)
if [[ -n $vigild_pid ]]; then
  v_samples=$(samples "http://127.0.0.1:$vport/metrics")
  v_med=$(printf '%s\n' "${v_rounds[@]}" | median)
  ratio=$(printf '%s\n' "${ratio_rounds[@]}" | median)
  poll_med=$(printf '%s\n' "${poll_med_rounds[@]}" | median)
  poll_max=$(printf '%s\n' "${poll_max_rounds[@]}" | median)
  cpu_verdict=$(awk -v c="$cpu_med" 'BEGIN { print (c < 2) ? "met" : "NOT met" }')
  scrape_verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1) ? "met" : "NOT met" }')
else
  v_samples=n/a v_med=n/a ratio=n/a poll_med=n/a poll_max=n/a cpu_verdict="not measured" scrape_verdict="not measured"
fi
cat >"$out" <<MD
### Fleet: $clusters clusters × $databases databases = $targets targets of $per_target databases ($total_dbs databases), poll every $interval

Medians of $rounds rounds; each round: vigild's CPU over ${window} s, then $scrapes sequential scrapes of each side
(curl time_total). The exporter runs once per server ($clusters processes, scraped at once): 0.11.1 has no /probe and
fails a scrape of two DSNs; its default collectors read server-wide views, which cover every database's
pg_stat_database row. vigild's scrape is answered from its last polls; the exporters query their server on
each scrape.

| Measure | vigild | prometheus-postgres-exporter $e_version | vigild / exporters |
|---|---|---|---|
| CPU, share of one core, while polling every $interval | ${cpu_med}${cpu_rounds[*]:+%} | (they work on scrapes only: ${e_ticks} ticks in all) | |
| poll time per target and database ($poll_metric), median / max ms | $poll_med / $poll_max | | |
| whole-fleet scrape, median ms (exporters: all $clusters at once, wall time) | $v_med | $e_med | $ratio |
| the same, exporters' scrape times summed | | $e_sum | |
| samples per scrape | $v_samples | $e_samples | |

Rounds (vigild CPU %): ${cpu_rounds[*]:-n/a}; vigild scrape ms: ${v_rounds[*]:-n/a}; exporter scrape ms: ${e_rounds[*]}.

Target "vigild under 2% of one core": $cpu_verdict. Target "fleet scrape no slower than the exporter's": $scrape_verdict.
MD
cat "$out"
