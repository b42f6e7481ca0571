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
trap 'exit 129' HUP   # a closed terminal: the EXIT trap still stops the cluster

if [[ -n ${VIGIL_DSN:-} ]]; then
  target="VIGIL_DSN ($("$VIGILD" info --json --log-level off >/dev/null 2>&1 && echo reachable || echo unreachable))"
  admin_dsn=$VIGIL_DSN
  demo_dsn=$VIGIL_DSN
else
  start_cluster "$VIGIL_ROOT/.vigil" --preload
  started=$VIGIL_ROOT/.vigil
  target="private cluster in .vigil/ on 127.0.0.1:$CLUSTER_PORT"
  admin_dsn=$CLUSTER_DSN
  # The private cluster's demo database is made afresh each run, so it always has the
  # extension exactly as this build installs it.
  "${PSQL[@]}" -d "$admin_dsn" -c "DROP DATABASE IF EXISTS vigil_demo" -c "CREATE DATABASE vigil_demo"
  # Preloaded in the private cluster; lets the slow_statements health check see statements.
  "${PSQL[@]}" -d "host=127.0.0.1 port=$CLUSTER_PORT user=postgres dbname=vigil_demo" -c "CREATE EXTENSION pg_stat_statements"
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
echo "== vigild backup create + verify"
backup_dir=$(mktemp -d)
demo_pids=()
demo_cleanup() { for p in "${demo_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$backup_dir"; cleanup; }
trap demo_cleanup EXIT
"${PSQL[@]}" -d "$demo_dsn" -c "CREATE TABLE IF NOT EXISTS demo_accounts (id int PRIMARY KEY, owner text, balance numeric)" \
  -c "INSERT INTO demo_accounts SELECT g, 'owner ' || g, g * 10 FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING"
"$VIGILD" --dsn "$demo_dsn" --log-level warn backup create --directory "$backup_dir"
verify_out=$("$VIGILD" --dsn "$demo_dsn" --log-level warn backup verify "$backup_dir") && verify_ok=passed || verify_ok=FAILED
echo "$verify_out"

echo
echo "== vigild serve: a few metric lines"
metrics_port=$(free_port)
printf '[metrics]\nlisten = "127.0.0.1:%s"\n[health]\ninterval = "1s"\n[backup]\ndirectory = "%s"\n' \
  "$metrics_port" "$backup_dir" >"$backup_dir/vigild.toml"
"$VIGILD" --dsn "$demo_dsn" --config "$backup_dir/vigild.toml" --log-level warn serve & demo_pids+=($!)
# A plain HTTP/1.0 GET through bash's /dev/tcp: no curl needed.
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}
metrics=""
for _ in $(seq 1 50); do
  metrics=$(http_get "$metrics_port" /metrics 2>/dev/null || true)
  grep -q '^vigil_up{[^}]*} 1' <<<"$metrics" && grep -q '^vigil_backup_age_seconds' <<<"$metrics" && break
  sleep 0.2
done
grep -E '^vigil_(up|database_connections|lock_waiters|transaction_id_age|database_size_bytes|backup_age_seconds|health_check_status)[ {]' <<<"$metrics" | head -12

echo
echo "== vigild serve: the web console"
console_pages=(/ /checks /queries /locks /space /pool /replication /backups /activity)
# The status code of a GET, through bash's /dev/tcp like http_get.
http_status() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3
  head -1 <&3 | cut -d' ' -f2
  exec 3<&-
}
if [[ -t 0 && -t 1 ]]; then
  # Ctrl-C reaches vigild too (same process group), which drains and exits; the demo goes on.
  echo "console: http://127.0.0.1:$metrics_port/  (Ctrl-C stops it; the demo then prints its summary)"
  trap ':' INT
  while kill -0 "${demo_pids[0]}" 2>/dev/null; do wait "${demo_pids[0]}" 2>/dev/null || true; done
  trap 'exit 130' INT TERM
  console_result="served on a terminal until Ctrl-C"
else
  console_ok=0
  for page in "${console_pages[@]}"; do
    code=$(http_status "$metrics_port" "$page" 2>/dev/null || echo none)
    printf '  GET %-13s %s\n' "$page" "$code"
    [[ $code == 200 ]] && console_ok=$((console_ok + 1))
  done
  console_result="$console_ok of ${#console_pages[@]} pages answered 200"
fi
if kill -0 "${demo_pids[0]}" 2>/dev/null; then
  kill -TERM "${demo_pids[0]}" && wait "${demo_pids[0]}" && serve_exit=0 || serve_exit=$?
else
  wait "${demo_pids[0]}" 2>/dev/null && serve_exit=0 || serve_exit=$?
fi
demo_pids=()

echo
echo "== pgvigil demo summary"
echo "target:           $target"
echo "vigild:           $("$VIGILD" --version)"
echo "extension:        pgvigil $("${PSQL[@]}" -d "$demo_dsn" -tAc "SELECT vigil.version()") in database vigil_demo (schema vigil)"
echo "pool formula:     8 cores, SSD -> $("${PSQL[@]}" -d "$demo_dsn" -tAc "SELECT vigil.pool_size_formula(8)") connections"
echo "backup verify:    $verify_ok ($(grep -c PASS <<<"$verify_out") steps passed)"
echo "metrics:          $(grep -vc '^#' <<<"$metrics") samples from vigild serve; SIGTERM exit code $serve_exit"
echo "console:          $console_result; vigild serve exit code $serve_exit"
if [[ -n $started ]]; then
  echo "cluster:          stopped again; data kept in .vigil/ for the next run"
fi
if [[ -n ${console_ok+x} && $console_ok -ne ${#console_pages[@]} ]]; then
  echo "console: a page did not answer 200" >&2
  exit 1
fi
