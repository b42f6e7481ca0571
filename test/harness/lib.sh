# lib.sh — shared by every script that runs PostgreSQL: sourced, not executed.
#
# PostgreSQL refuses to run as root, so servers and the pg_regress tools run as the
# `postgres` OS user when we are root, in directories that user owns.

VIGIL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_SYSTEM_BINDIR=/usr/lib/postgresql/15/bin
PG_PGXS_DIR=/usr/lib/postgresql/15/lib/pgxs
# SANITIZE=1 (`make test SANITIZE=1`): the same harness against the ASan+UBSan builds, all of
# whose files live under build/sanitize/: the tmp install, the CTest build, the clusters, the
# suites' output and logs (docs/development.md, "Sanitizers").
if [[ ${SANITIZE:-} == 1 ]]; then
  VIGIL_BUILD=$VIGIL_ROOT/build/sanitize
else
  VIGIL_BUILD=$VIGIL_ROOT/build
fi
VIGIL_TMP_INSTALL=$VIGIL_BUILD/tmp_install
VIGIL_SIDECAR_BUILD=$VIGIL_BUILD/sidecar
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
  if [[ ${SANITIZE:-} == 1 ]]; then
    local log
    # The cluster's log and those of servers a test started beside it (a standby's).
    while IFS= read -r log; do sanitizer_check_log "$log"; done < <(find "$dir" -maxdepth 2 -name '*.log' 2>/dev/null)
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

# ---------------------------------------------------------------------------------------------
# Sanitizers (SANITIZE=1; docs/development.md, "Sanitizers").
#
# Every ASan report goes to a file of its own (log_path, with log_exe_name: DIR/asan.<program>.<pid>)
# in $VIGIL_SANITIZER_REPORTS, which run_all.sh sets per suite and reads after it: a report fails
# the run even when it came from a server backend (whose stderr is only the server log) or a
# vigild child whose exit status no test looks at. UBSan's reports go to stderr whatever
# log_path says (gcc's libubsan beside libasan: its report-path call binds to libasan's), so the
# harness also greps the logs that get stderr (servers' logs, the suites' output) for reports,
# and every finding of UBSan ends its process (-fno-sanitize-recover=undefined, abort_on_error),
# which fails the test or, in a server, crashes it.
#
# The suites' own programs (the GoogleTest binaries, vigild and the fuzz replays), instrumented:
#   abort_on_error=1         an error ends the process with SIGABRT, never with exit status 1,
#                            which a test expecting vigild to fail could take for the failure
#   detect_leaks=1           LeakSanitizer at exit (the default, stated): vigild frees what it owns
#   check_initialization_order=1, strict_init_order=1
#                            a static initialiser that reads another translation unit's global
#   detect_stack_use_after_return=1
#                            a pointer or reference to a returned frame's local (not the
#                            default with gcc; costs a little memory per thread)
#   UBSan print_stacktrace=1 the whole stack, not the line alone
#   UBSan halt_on_error=1    stop at the first report even for a check built recoverable
SANITIZER_CLIENT_ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:log_exe_name=1
#   UBSan abort_on_error=1   as for ASan
SANITIZER_UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1
# The server. postgres itself is not instrumented, only pgvigil.so, which PostgreSQL dlopen()s;
# the ASan runtime must come first in the initial library list, so the sanitized tmp install's
# bin/postgres is a wrapper (tmp_install.sh writes it) that LD_PRELOADs gcc's libasan and libubsan
# and execs the real binary, with:
#   detect_leaks=0           PostgreSQL frees by exiting and by dropping memory contexts: every
#                            backend would "leak" at exit, none of it ours
#   abort_on_error=1         a backend that reports dies of SIGABRT, so the postmaster sees a crash,
#                            ends every session and the suite's tests fail; with the default
#                            (exit status 1) the postmaster takes it for an ordinary FATAL exit
#                            and carries on, and only the report file would tell
# Servers started any way (pg_regress's temp instance, with_cluster.sh, a test's own pg_ctl)
# get the runtime, since all of them run bin/postgres.
SANITIZER_SERVER_ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_exe_name=1

# What marks a sanitizer report in a log that is not a report file (a server log, a suite log).
SANITIZER_REPORT_PATTERN='ERROR: (AddressSanitizer|LeakSanitizer)|:[0-9]+:[0-9]+: runtime error: |SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)|ERROR: Can.t open file'

# sanitizer_env DIR: an empty report directory DIR that every user can write (servers run as
# postgres, the suites as root), and the environment that sends every report there.
sanitizer_env() {
  local dir=$1
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 1777 "$dir"
  export VIGIL_SANITIZER_REPORTS=$dir
  export ASAN_OPTIONS="$SANITIZER_CLIENT_ASAN_OPTIONS:log_path=$dir/asan"
  export UBSAN_OPTIONS=$SANITIZER_UBSAN_OPTIONS
}

# sanitizer_reports DIR: the report files in DIR, one a line.
sanitizer_reports() {
  find "$1" -maxdepth 1 -type f -size +0 2>/dev/null | sort
}

# sanitizer_check_log LOG: under SANITIZE=1, copies a log's sanitizer lines (a report that could
# not go to its file, a server started without the wrapper's log_path) into a report file.
sanitizer_check_log() {
  local log=$1
  [[ ${SANITIZE:-} == 1 && -f $log ]] || return 0
  local dir=${VIGIL_SANITIZER_REPORTS:-$VIGIL_BUILD/sanitizer-reports/manual}
  if grep -qE "$SANITIZER_REPORT_PATTERN" "$log"; then
    mkdir -p "$dir"
    grep -E -B2 -A30 "$SANITIZER_REPORT_PATTERN" "$log" >"$dir/log.$(basename "$log").$$.$RANDOM"
  fi
}
