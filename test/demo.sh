#!/usr/bin/env bash
# demo.sh — what `make demo` runs after deps, build and install: starts the private cluster
# under .vigil/ (unless VIGIL_DSN points at a server), creates the database `vigil_demo`
# and the extension, runs vigild against it and prints a summary. It stops what it started.
set -euo pipefail
source "$(dirname "$0")/harness/lib.sh"
PG_BINDIR=$PG_SYSTEM_BINDIR   # the demo uses the system install that `make install` updated
VIGILD=$VIGIL_ROOT/build/sidecar/vigild
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

started=""
cleanup() { if [[ -n $started ]]; then stop_cluster "$started" --keep; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${VIGIL_DSN:-} ]]; then
  target="VIGIL_DSN ($("$VIGILD" info --json --log-level off >/dev/null 2>&1 && echo reachable || echo unreachable))"
  admin_dsn=$VIGIL_DSN
  demo_dsn=$VIGIL_DSN
else
  start_cluster "$VIGIL_ROOT/.vigil" --preload
  started=$VIGIL_ROOT/.vigil
  target="private cluster in .vigil/ on 127.0.0.1:$CLUSTER_PORT"
  admin_dsn=$CLUSTER_DSN
  if [[ $("${PSQL[@]}" -d "$admin_dsn" -tAc "SELECT 1 FROM pg_database WHERE datname = 'vigil_demo'") != 1 ]]; then
    "${PSQL[@]}" -d "$admin_dsn" -c "CREATE DATABASE vigil_demo"
  fi
  demo_dsn="host=127.0.0.1 port=$CLUSTER_PORT user=postgres dbname=vigil_demo"
fi

"${PSQL[@]}" -d "$demo_dsn" -c "CREATE EXTENSION IF NOT EXISTS pgvigil"
# An extension installed by an older build is brought up to the library's version.
"${PSQL[@]}" -d "$demo_dsn" -c "ALTER EXTENSION pgvigil UPDATE" 2>/dev/null || true

echo
echo "== vigild info"
"$VIGILD" --dsn "$demo_dsn" info

echo
echo "== vigild init-schema and a short crud workload (4 clients, 5 s, pooled)"
"$VIGILD" --dsn "$demo_dsn" init-schema
"$VIGILD" --dsn "$demo_dsn" bench --workload crud --clients 4 --duration 5

echo
echo "== pgvigil demo summary"
echo "target:           $target"
echo "vigild:           $("$VIGILD" --version)"
echo "extension:        pgvigil $("${PSQL[@]}" -d "$demo_dsn" -tAc "SELECT vigil.version()") in database vigil_demo (schema vigil)"
echo "pool formula:     8 cores, SSD -> $("${PSQL[@]}" -d "$demo_dsn" -tAc "SELECT vigil.pool_size_formula(8)") connections"
if [[ -n $started ]]; then
  echo "cluster:          stopped again; data kept in .vigil/ for the next run"
fi
