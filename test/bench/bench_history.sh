#!/usr/bin/env bash
# bench_history.sh OUT.md — what the console's history store costs (docs/history.md): a fleet of
# VIGIL_BENCH_TARGETS (default 10) targets x 4 databases, 20 top tables, 20 top statements and
# 15 checks each, captured every 60 s (history.interval's default) for one simulated day
# (timestamps advanced, not waited for) in VIGIL_BENCH_ROUNDS (default 3) fresh stores:
#   - the store's size per target per day (the median of the rounds),
#   - record()'s time (median, mean, p95 and max of one capture of the whole fleet),
#   - record()'s time on day 2, when raw points are being downsampled,
#   - the size one target's history settles at once full (retention + 1 = 15 simulated days).
# No server: the fleet is synthetic (test/support/history_fleet.hpp); the store is a real file.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_history.sh OUT.md}

bench=$VIGIL_ROOT/build/sidecar/vigil_history_bench
[[ -x $bench ]] || cmake --build "$VIGIL_ROOT/build/sidecar" --target vigil_history_bench -j "${JOBS:-2}" >&2
work=$(mktemp -d "$VIGIL_ROOT/build/bench_history.XXXXXX")
trap 'rm -rf "$work"' EXIT

json=$("$bench" "$work/store" --targets "${VIGIL_BENCH_TARGETS:-10}" --rounds "${VIGIL_BENCH_ROUNDS:-3}" \
  --full-days "${VIGIL_BENCH_FULL_DAYS:-15}")
echo "$json"
python3 - "$json" >"$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
mb = lambda b: f"{b / 1e6:.1f} MB"
print(f"## History store ({r['targets']} targets x {r['databases']} databases, {r['tables']} tables, "
      f"{r['statements']} statements, {r['checks']} checks; a capture every {r['interval_s']} s, "
      f"{r['captures_per_day']} a day; median of {r['rounds']} rounds)")
print()
print("| What | Measured |")
print("|---|---|")
print(f"| store size per target per day (first day, all raw) | {mb(r['bytes_per_target_day'])} "
      f"(files with WAL: {mb(r['file_bytes_per_target_day'])}) |")
print(f"| store size per target once full ({r['full_days']} days: 1 raw, 6 at 5 min, 7 at 1 h) | "
      f"{mb(r['full_bytes_per_target'])} |")
print(f"| record() of the whole fleet, day 1: median / mean / p95 / max | {r['record_ms_median']:.2f} / "
      f"{r['record_ms_mean']:.2f} / {r['record_ms_p95']:.1f} / {r['record_ms_max']:.1f} ms |")
print(f"| record(), first {r['day2_hours']} h of day 2 (downsampling runs): median / mean / p95 / max | "
      f"{r['day2_record_ms_median']:.2f} / {r['day2_record_ms_mean']:.2f} / {r['day2_record_ms_p95']:.1f} / "
      f"{r['day2_record_ms_max']:.1f} ms |")
print(f"| record() medians of the rounds | {', '.join(f'{x:.2f}' for x in r['record_ms_round_medians'])} ms |")
print()
print("The p95 is a capture that moves the ten staged captures into the series-ordered table (and, on day 2, merges an hour of raw points); "
      "the machine is shared, so read the times as orders of magnitude.")
PY
