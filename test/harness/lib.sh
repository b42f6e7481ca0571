# lib.sh — shared by every script that runs PostgreSQL: sourced, not executed.
#
# PostgreSQL refuses to run as root, so servers and the pg_regress tools run as the
# `postgres` OS user when we are root, in directories that user owns.

VIGIL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_SYSTEM_BINDIR=/usr/lib/postgresql/15/bin
PG_PGXS_DIR=/usr/lib/postgresql/15/lib/pgxs
VIGIL_TMP_INSTALL=$VIGIL_ROOT/build/tmp_install
# The suites use the private copy made by tmp_install.sh; the demo uses the system install.
PG_BINDIR=${PG_BINDIR:-$VIGIL_TMP_INSTALL$PG_SYSTEM_BINDIR}

# Runs a command as the postgres OS user (directly when we are not root).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Creates a directory the server user can write.
make_pg_dir() {
  mkdir -p "$1"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$1"; fi
}

# Prints a loopback TCP port nobody listens on.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# start_cluster DIR [--preload] [extra postgresql.conf lines...]
# Starts the cluster in DIR (initialising it first if DIR/data does not exist) on a free
# loopback port. Sets CLUSTER_DIR, CLUSTER_PORT and CLUSTER_DSN. Stop it with stop_cluster.
start_cluster() {
  local dir=$1; shift
  local preload=0
  if [[ "${1:-}" == "--preload" ]]; then preload=1; shift; fi
  make_pg_dir "$dir"
  if [[ -d "$dir/data" ]]; then
    start_on_free_port "$dir"
    return
  fi
  as_pg "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  make_pg_dir "$dir/sock"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir/sock'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "max_connections = 300"
    echo "shared_buffers = 256MB"
    echo "max_prepared_transactions = 10"
    echo "log_min_messages = warning"
    echo "track_io_timing = on"
    if [[ $preload -eq 1 ]]; then echo "shared_preload_libraries = 'pgvigil,pg_stat_statements'"; fi
    for line in "$@"; do echo "$line"; done
  } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  start_on_free_port "$dir"
}

start_on_free_port() {
  local dir=$1 port
  for _ in 1 2 3 4 5; do
    port=$(free_port) || return 1
    if as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -o "-p $port" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
      CLUSTER_DIR=$dir
      CLUSTER_PORT=$port
      CLUSTER_DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres"
      return 0
    fi
  done
  echo "could not start a cluster in $dir; its log:" >&2
  cat "$dir/server.log" >&2
  return 1
}

# stop_cluster DIR [--keep]: stops the cluster and removes it; --keep stops it cleanly
# and keeps its data for the next start.
stop_cluster() {
  local dir=$1 keep=${2:-}
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    local mode=immediate
    [[ $keep == --keep ]] && mode=fast
    as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null 2>&1 || true
  fi
  [[ $keep == --keep ]] || rm -rf "$dir"
}

# in_bench_cluster [--preload] SCRIPT OUT.md: called at the top of a benchmark script with its
# own path and result file; re-runs the script inside a throwaway cluster (with_cluster.sh,
# which exports VIGIL_TEST_DSN and friends) unless it already runs in one. OUT.md is made
# absolute first, since the re-run may start elsewhere.
in_bench_cluster() {
  [[ -n ${VIGIL_BENCH_IN_CLUSTER:-} ]] && return 0
  local preload=()
  if [[ $1 == --preload ]]; then preload=(--preload); shift; fi
  local script=$1 out=$2
  mkdir -p "$(dirname "$out")"
  VIGIL_BENCH_IN_CLUSTER=1 exec "$VIGIL_ROOT/test/harness/with_cluster.sh" "${preload[@]}" -- \
    "$script" "$(realpath -m "$out")"
}
