# test/harness/ha/lib.sh — a real Patroni cluster for the high-availability tests: sourced, not
# executed. On 127.0.0.1 only: a single-node etcd, two Patroni members (m1, m2) running
# PostgreSQL 15 from build/tmp_install with pgvigil preloaded, and PgBouncer in front of the
# leader. Everything runs as the postgres OS user when we are root, in HA_DIR, and ha_stop stops
# it by pid and data directory (docs/high-availability.md).
#
#   ha_start DIR        starts it all; m1 is the first leader, m2 streams from it
#   ha_stop             stops everything ha_start started (call it from a trap)
#   ha_load DIR         in another script: the ports and names of a cluster that is running
#   ha_leader           the current leader's name (m1 or m2), empty while there is none
#   ha_wait_leader [NOT] [SECONDS]   waits for a leader (other than NOT) and prints its name
#   ha_wait_streaming [sync] [SECONDS]  waits until the leader has a streaming (sync) replica
#   ha_set_sync on|off  Patroni's synchronous_mode, through patronictl edit-config
#   ha_switchover       patronictl switchover --force to the other member
#   ha_kill_leader      kill -9 of the leader's postmaster (by its data directory's postmaster.pid);
#                       prints "PID UNIX_TIME", the time taken just before the signal
#   ha_psql NAME ARGS   psql on member NAME; ha_port NAME its PostgreSQL port
#   ha_dsn              the multi-host DSN with target_session_attrs=read-write
#   ha_pgbouncer_follow points PgBouncer at the current leader and reloads it
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

HA_TEMPLATES=$VIGIL_ROOT/test/harness/ha
HA_MEMBERS=(m1 m2)
HA_PATRONI=${HA_PATRONI:-/usr/bin/patroni}
HA_PATRONICTL=${HA_PATRONICTL:-/usr/bin/patronictl}
HA_ETCD=${HA_ETCD:-/usr/bin/etcd}

ha_log() { echo "# ha: $*" >&2; }

# ha_spawn PIDFILE LOG COMMAND...: runs COMMAND as postgres in the background; PIDFILE gets the
# pid of COMMAND itself (exec'd), not of runuser.
ha_spawn() {
  local pidfile=$1 log=$2; shift 2
  # shellcheck disable=SC2016
  as_pg bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [[ -s $pidfile ]] && return 0; sleep 0.1; done
  echo "ha: $1 did not start" >&2
  return 1
}

# ha_wait SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds; fails after SECONDS.
ha_wait() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

ha_load() {
  HA_DIR=$1
  # shellcheck disable=SC1091
  source "$HA_DIR/ports.env"
}

ha_port() { local v="HA_PG_PORT_$1"; echo "${!v}"; }
ha_rest() { local v="HA_REST_PORT_$1"; echo "${!v}"; }
ha_other() { [[ $1 == m1 ]] && echo m2 || echo m1; }

ha_dsn() {
  echo "host=127.0.0.1,127.0.0.1 port=$HA_PG_PORT_m1,$HA_PG_PORT_m2 user=postgres dbname=postgres" \
    "target_session_attrs=read-write connect_timeout=2"
}

ha_psql() {
  local name=$1; shift
  "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At \
    "host=127.0.0.1 port=$(ha_port "$name") user=postgres dbname=postgres connect_timeout=2" "$@"
}

ha_patronictl() { "$HA_PATRONICTL" -c "$HA_DIR/m1/patroni.yml" "$@"; }

# Whether member NAME's REST API says it is the running primary.
ha_is_primary() {
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$(ha_rest "$1")/primary") == 200 ]]
}

ha_leader() {
  local m
  for m in "${HA_MEMBERS[@]}"; do
    if ha_is_primary "$m"; then echo "$m"; return 0; fi
  done
}

# A leader other than $1 that accepts writes.
ha_has_leader() {
  local leader
  leader=$(ha_leader)
  [[ -n $leader && $leader != "${1:-}" ]] || return 1
  [[ $(ha_psql "$leader" -c 'select pg_is_in_recovery()') == f ]]
}

ha_wait_leader() {
  local not=${1:-} seconds=${2:-60}
  if ! ha_wait "$seconds" ha_has_leader "$not"; then
    echo "ha: no leader${not:+ other than $not} within ${seconds}s" >&2
    return 1
  fi
  ha_leader
}

# Whether the leader has a replica streaming (sync: a synchronous one).
ha_is_streaming() {
  local want=$1 leader
  leader=$(ha_leader)
  [[ -n $leader ]] || return 1
  local filter="state = 'streaming'"
  [[ $want == sync ]] && filter+=" and sync_state = 'sync'"
  [[ $want == async ]] && filter+=" and sync_state = 'async'"
  [[ $(ha_psql "$leader" -c "select count(*) from pg_stat_replication where $filter") -ge 1 ]]
}

ha_wait_streaming() {
  local want=${1:-any} seconds=${2:-90}
  if ! ha_wait "$seconds" ha_is_streaming "$want"; then
    echo "ha: the leader has no streaming $want replica within ${seconds}s" >&2
    return 1
  fi
}

# Whether the replica (the member that is not the leader) has the role Patroni's REST API
# answers 200 to: sync (the synchronous standby, also in the DCS, so a switchover may pick it)
# or async.
ha_replica_is() {
  local leader
  leader=$(ha_leader)
  [[ -n $leader ]] || return 1
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' \
    "http://127.0.0.1:$(ha_rest "$(ha_other "$leader")")/$1") == 200 ]]
}

ha_set_sync() {
  local value=false want=async
  [[ $1 == on ]] && { value=true; want=sync; }
  ha_patronictl edit-config --set "synchronous_mode=$value" --force --quiet >/dev/null || return 1
  ha_wait_streaming "$want" 60 || return 1
  if ! ha_wait 60 ha_replica_is "$want"; then
    echo "ha: Patroni does not call the replica $want within 60s" >&2
    return 1
  fi
}

ha_switchover() {
  local leader
  leader=$(ha_leader)
  [[ -n $leader ]] || { echo "ha: switchover: no leader" >&2; return 1; }
  ha_patronictl switchover --leader "$leader" --candidate "$(ha_other "$leader")" --force >&2
}

# Prints the pid it killed and when (Unix time, just before the kill).
ha_kill_leader() {
  local leader pid at
  leader=$(ha_leader)
  [[ -n $leader ]] || { echo "ha: kill: no leader" >&2; return 1; }
  pid=$(head -1 "$HA_DIR/$leader/data/postmaster.pid") || return 1
  at=$(date +%s.%N)
  kill -9 "$pid" || return 1
  echo "$pid $at"
}

ha_fill() {
  local template=$1 out=$2; shift 2
  local sed_args=() kv
  for kv in "$@"; do sed_args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${sed_args[@]}" "$template" | as_pg tee "$out" >/dev/null
}

ha_pgbouncer_follow() {
  local leader
  leader=$(ha_leader)
  [[ -n $leader ]] || { echo "ha: pgbouncer: no leader to follow" >&2; return 1; }
  ha_fill "$HA_TEMPLATES/pgbouncer.ini.in" "$HA_DIR/pgbouncer/pgbouncer.ini" \
    "LEADER_PORT=$(ha_port "$leader")" "PORT=$HA_PGBOUNCER_PORT" "DIR=$HA_DIR/pgbouncer"
  kill -HUP "$(cat "$HA_DIR/pgbouncer/pid")"
}

ha_start_member() {
  local name=$1
  ha_spawn "$HA_DIR/$name/pid" "$HA_DIR/$name/patroni.log" "$HA_PATRONI" "$HA_DIR/$name/patroni.yml"
}

ha_start() {
  HA_DIR=$1
  make_pg_dir "$HA_DIR"
  chmod 700 "$HA_DIR"
  local m
  {
    echo "HA_ETCD_PORT=$(free_port)"
    echo "HA_ETCD_PEER_PORT=$(free_port)"
    echo "HA_PGBOUNCER_PORT=$(free_port)"
    for m in "${HA_MEMBERS[@]}"; do
      echo "HA_PG_PORT_$m=$(free_port)"
      echo "HA_REST_PORT_$m=$(free_port)"
    done
  } >"$HA_DIR/ports.env"
  ha_load "$HA_DIR"
  rm -rf "$VIGIL_BUILD/test-logs/ha"

  make_pg_dir "$HA_DIR/etcd"
  ha_spawn "$HA_DIR/etcd/pid" "$HA_DIR/etcd/etcd.log" "$HA_ETCD" --name vigil-ha \
    --data-dir "$HA_DIR/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$HA_ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$HA_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$HA_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$HA_ETCD_PEER_PORT" \
    --initial-cluster "vigil-ha=http://127.0.0.1:$HA_ETCD_PEER_PORT" || return 1
  if ! ha_wait 30 etcdctl --endpoints="http://127.0.0.1:$HA_ETCD_PORT" endpoint health; then
    echo "ha: etcd did not become healthy; its log:" >&2
    tail -20 "$HA_DIR/etcd/etcd.log" >&2
    return 1
  fi

  for m in "${HA_MEMBERS[@]}"; do
    make_pg_dir "$HA_DIR/$m"
    make_pg_dir "$HA_DIR/$m/sock"
    ha_fill "$HA_TEMPLATES/patroni.yml.in" "$HA_DIR/$m/patroni.yml" "NAME=$m" \
      "REST_PORT=$(ha_rest "$m")" "ETCD_PORT=$HA_ETCD_PORT" "PG_PORT=$(ha_port "$m")" \
      "MEMBER_DIR=$HA_DIR/$m" "PG_BINDIR=$PG_BINDIR"
  done
  # m1 bootstraps and leads; m2 starts once there is a leader to clone.
  ha_start_member m1 || return 1
  if ! ha_wait_leader "" 90 >/dev/null; then
    tail -30 "$HA_DIR/m1/patroni.log" >&2
    return 1
  fi
  ha_psql m1 -c 'create extension if not exists pgvigil' || return 1
  ha_start_member m2 || return 1
  if ! ha_wait_streaming any 120; then
    tail -30 "$HA_DIR/m2/patroni.log" >&2
    return 1
  fi

  make_pg_dir "$HA_DIR/pgbouncer"
  echo '"postgres" ""' | as_pg tee "$HA_DIR/pgbouncer/userlist.txt" >/dev/null
  ha_fill "$HA_TEMPLATES/pgbouncer.ini.in" "$HA_DIR/pgbouncer/pgbouncer.ini" \
    "LEADER_PORT=$HA_PG_PORT_m1" "PORT=$HA_PGBOUNCER_PORT" "DIR=$HA_DIR/pgbouncer"
  ha_spawn "$HA_DIR/pgbouncer/pid" "$HA_DIR/pgbouncer/stderr.log" /usr/sbin/pgbouncer \
    "$HA_DIR/pgbouncer/pgbouncer.ini" || return 1
  if ! ha_wait 20 "$PG_BINDIR/psql" -X -At -c 'select 1' \
    "host=127.0.0.1 port=$HA_PGBOUNCER_PORT user=postgres dbname=postgres connect_timeout=2"; then
    echo "ha: pgbouncer does not answer; its log:" >&2
    tail -20 "$HA_DIR/pgbouncer/pgbouncer.log" >&2
    return 1
  fi
}

# ha_stop_pid PIDFILE SECONDS: SIGTERM, then SIGKILL after SECONDS; the pid only.
ha_stop_pid() {
  local pidfile=$1 seconds=$2 pid
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  ha_wait "$seconds" bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null || true
}

# ha_stop [--keep]: stops PgBouncer, the members (Patroni stops its PostgreSQL; a postmaster
# left behind is stopped by its data directory) and etcd; removes HA_DIR unless --keep, after
# copying the logs to build/test-logs/ha/.
ha_stop() {
  [[ -n ${HA_DIR:-} && -d $HA_DIR ]] || return 0
  local m
  ha_stop_pid "$HA_DIR/pgbouncer/pid" 5
  for m in "${HA_MEMBERS[@]}"; do ha_stop_pid "$HA_DIR/$m/pid" 30; done
  for m in "${HA_MEMBERS[@]}"; do
    if [[ -f $HA_DIR/$m/data/postmaster.pid ]]; then
      as_pg "$PG_BINDIR/pg_ctl" -D "$HA_DIR/$m/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
  ha_stop_pid "$HA_DIR/etcd/pid" 10
  local logs=$VIGIL_BUILD/test-logs/ha
  mkdir -p "$logs"
  local f
  for m in "${HA_MEMBERS[@]}" etcd pgbouncer; do
    for f in "$HA_DIR/$m"/*.log "$HA_DIR/$m"/data/log/*; do
      [[ -f $f ]] && cp "$f" "$logs/$m.$(basename "$f")"
    done
  done
  [[ ${1:-} == --keep ]] || rm -rf "$HA_DIR"
  HA_DIR=
}
