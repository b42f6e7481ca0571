#!/usr/bin/env bash
# bench_import.sh OUT.md — `vigild import` side by side with `psql \copy` of the same file
# (target >= 0.9x) and with row-by-row autocommit INSERTs via psql (measured on a sample, extrapolated;
# target >= 30x); peak memory of vigild (target < 100 MB). VIGIL_BENCH_IMPORT_ROWS sets the
# file's size (default 1,000,000); VIGIL_BENCH_DSN runs against an existing server.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
out=${1:?usage: bench_import.sh OUT.md}

if [[ -z ${VIGIL_BENCH_INNER:-} ]]; then
  export VIGIL_BENCH_INNER=1
  if [[ -n ${VIGIL_BENCH_DSN:-} ]]; then
    VIGIL_TEST_DSN=$VIGIL_BENCH_DSN exec "$0" "$out"
  fi
  # A durable server (fsync, synchronous_commit and full_page_writes on, PostgreSQL's defaults),
  # not the test harness's throwaway settings: row-by-row commits cost what they cost in production.
  mkdir -p "$VIGIL_ROOT/build"
  dir=$(mktemp -d "$VIGIL_ROOT/build/cluster.XXXXXX")
  trap 'stop_cluster "$dir"' EXIT
  start_cluster "$dir" "fsync = on" "synchronous_commit = on" "full_page_writes = on"
  VIGIL_TEST_DSN=$CLUSTER_DSN "$0" "$out"
  exit
fi

rows=${VIGIL_BENCH_IMPORT_ROWS:-1000000}
sample=5000
VIGILD=$VIGIL_ROOT/build/sidecar/vigild
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$VIGIL_TEST_DSN")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
csv=$work/users.csv

python3 - "$csv" "$rows" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("id,email,username,full_name,age\n")
    for i in range(1, n + 1):
        f.write(f'{i},user{i}@example.com,user{i},"User, Number {i}",{13 + i % 100}\n')
PY
table_sql="DROP TABLE IF EXISTS bench_import;
CREATE TABLE bench_import (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, username text NOT NULL,
                           full_name text, age int CHECK (age BETWEEN 13 AND 120));"
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.0f}')" "$1" "$2"; }

# Two alternating rounds (psql, vigild, vigild, psql) so neither gains from going second; the
# faster of each tool's two runs counts.
psql_secs=999999 vigild_secs=999999
for order in psql vigild vigild psql; do
  "${PSQL[@]}" -c "$table_sql"
  if [[ $order == psql ]]; then
    t0=$(now); "${PSQL[@]}" -c "\\copy bench_import FROM '$csv' WITH (FORMAT csv, HEADER)"; t1=$(now)
    psql_secs=$(python3 -c "print(min($psql_secs, $t1 - $t0))")
  else
    t0=$(now); json=$("$VIGILD" --dsn "$VIGIL_TEST_DSN" import --table bench_import --csv "$csv" --json); t1=$(now)
    vigild_secs=$(python3 -c "print(min($vigild_secs, $t1 - $t0))")
    peak=$(python3 -c 'import json,sys; print(round(json.load(sys.stdin)["peak_memory_mb"], 1))' <<<"$json")
    imported=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["imported"])' <<<"$json")
    [[ $imported == "$rows" ]] || { echo "vigild imported $imported of $rows rows" >&2; exit 1; }
  fi
done

"${PSQL[@]}" -c "$table_sql"
t0=$(now); "$VIGILD" --dsn "$VIGIL_TEST_DSN" import --table bench_import --csv "$csv" --on-error skip \
  --reject-file "$work/rejects.csv" --json >/dev/null; t1=$(now)
skip_secs=$(python3 -c "print($t1 - $t0)")

# Row by row, autocommit: what a loop of single INSERTs costs (a sample, extrapolated).
"${PSQL[@]}" -c "$table_sql"
python3 - "$csv" "$sample" >"$work/inserts.sql" <<'PY'
import csv, sys
with open(sys.argv[1]) as f:
    r = csv.reader(f); next(r)
    for i, row in zip(range(int(sys.argv[2])), r):
        vals = ", ".join("'" + v.replace("'", "''") + "'" for v in row)
        print(f"INSERT INTO bench_import (id, email, username, full_name, age) VALUES ({vals});")
PY
t0=$(now); "${PSQL[@]}" -f "$work/inserts.sql"; t1=$(now)
insert_secs=$(python3 -c "print($t1 - $t0)")

vigild_rate=$(rate "$rows" "$vigild_secs"); psql_rate=$(rate "$rows" "$psql_secs")
skip_rate=$(rate "$rows" "$skip_secs"); insert_rate=$(rate "$sample" "$insert_secs")
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" "$1" "$2"; }
{
  echo "## Import of $rows rows ($(du -h "$csv" | cut -f1) CSV, table with 2 unique indexes and a check; server with fsync and synchronous_commit on)"
  echo
  echo "| Comparison | vigild | other | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| \`vigild import\` vs \`psql \\copy\` | $vigild_rate rows/s | $psql_rate rows/s | $(ratio "$vigild_rate" "$psql_rate") | >= 0.9x |"
  echo "| \`vigild import\` vs row-by-row autocommit INSERT ($sample-row sample) | $vigild_rate rows/s | $insert_rate rows/s | $(ratio "$vigild_rate" "$insert_rate") | >= 30x |"
  echo "| \`--on-error skip\` (savepoint batches) vs \`psql \\copy\` | $skip_rate rows/s | $psql_rate rows/s | $(ratio "$skip_rate" "$psql_rate") | (context) |"
  echo "| vigild peak memory (ru_maxrss) | $peak MB | | | < 100 MB |"
} >"$out"
cat "$out"
