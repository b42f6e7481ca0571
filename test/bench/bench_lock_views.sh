#!/usr/bin/env bash
# bench_lock_views.sh RESULTS.md — vigil.blocking_locks and vigil.lock_tree() with N sessions
# queued for one row (default 200), side by side with what users otherwise run: the classic
# pg_locks self-join (which misses the row-lock queue) and a naive recursive CTE over
# pg_blocking_pids() (which walks every path and explodes; run under a statement_timeout and
# temp_file_limit so it cannot fill the disk).
#
#   VIGIL_BENCH_WAITERS   sessions queued behind the row lock (default 200)
#   VIGIL_BENCH_REPS      timed repetitions, the median is reported (default 10)
#   VIGIL_BENCH_NAIVE_TIMEOUT  statement_timeout for the naive recursive CTE (default 5s)
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"

out=${1:?usage: bench_lock_views.sh RESULTS.md}
in_bench_cluster "$0" "$out"

waiters=${VIGIL_BENCH_WAITERS:-200}
reps=${VIGIL_BENCH_REPS:-10}
naive_timeout=${VIGIL_BENCH_NAIVE_TIMEOUT:-5s}
sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

sql <<'SQL'
CREATE EXTENSION pgvigil;
CREATE TABLE hot_row (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO hot_row VALUES (1, 0);
CREATE FUNCTION bench_ms(q text, reps int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; times float8[] := '{}';
BEGIN
  FOR i IN 1 .. reps LOOP
    t0 := clock_timestamp();
    EXECUTE q;
    times := times || extract(epoch FROM clock_timestamp() - t0) * 1000;
  END LOOP;
  RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END $$;
SQL

pids=()
cleanup_sessions() {
  # Cancel the holder: its transaction rolls back and the queue drains.
  psql -X -q -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench_holder'" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup_sessions EXIT

PGAPPNAME=bench_holder psql -X -q -c "BEGIN; UPDATE hot_row SET n = n + 1 WHERE id = 1; SELECT pg_sleep(600); COMMIT;" >/dev/null 2>&1 &
pids+=($!)
until [[ $(sql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench_holder' AND wait_event = 'PgSleep'") == 1 ]]; do sleep 0.1; done
for ((i = 0; i < waiters; i++)); do
  PGAPPNAME=bench_waiter psql -X -q -c "UPDATE hot_row SET n = n + 1 WHERE id = 1" >/dev/null 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 600); do
  n=$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench_waiter' AND wait_event_type = 'Lock'")
  [[ $n -ge $waiters ]] && break
  sleep 0.1
done
echo "bench_lock_views: $n sessions waiting"

read -r pairs rooted edges <<<"$(sql -F ' ' -c "
  SELECT count(*),
         count(*) FILTER (WHERE root_blocker_pid = (SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_holder')),
         (SELECT count(*) FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) WHERE a.wait_event_type = 'Lock')
    FROM vigil.blocking_locks")"
t_view=$(sql -c "SELECT round(bench_ms('SELECT * FROM vigil.blocking_locks', $reps)::numeric, 1)")
t_tree=$(sql -c "SELECT round(bench_ms('SELECT * FROM vigil.lock_tree()', $reps)::numeric, 1)")
t_term=$(sql -c "SELECT round(bench_ms('SELECT * FROM vigil.terminate_blockers(min_blocking => ''0'')', $reps)::numeric, 1)")
tree_rows=$(sql -c "SELECT count(*) FROM vigil.lock_tree()")

# The classic query joins pg_locks on relation/page/tuple: the transactionid and tuple queue
# of a row lock is mostly invisible to it.
classic="SELECT bl.pid, kl.pid FROM pg_locks bl
  JOIN pg_locks kl ON kl.locktype = bl.locktype AND kl.relation IS NOT DISTINCT FROM bl.relation
   AND kl.page IS NOT DISTINCT FROM bl.page AND kl.tuple IS NOT DISTINCT FROM bl.tuple
   AND kl.transactionid IS NOT DISTINCT FROM bl.transactionid AND kl.pid <> bl.pid AND kl.granted
 WHERE NOT bl.granted"
classic_rows=$(sql -c "SELECT count(*) FROM ($classic) q")
t_classic=$(sql -c "SELECT round(bench_ms(\$q\$$classic\$q\$, $reps)::numeric, 1)")

# The naive chain walk: a recursive CTE that follows every blocker of every waiter.
naive="WITH RECURSIVE w AS (
   SELECT a.pid AS waiter, b AS blocker, 1 AS depth FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) b
    WHERE a.wait_event_type = 'Lock'
   UNION ALL
   SELECT w.waiter, b, w.depth + 1 FROM w, unnest(pg_blocking_pids(w.blocker)) b
 ) SELECT waiter, max(depth) FROM w GROUP BY waiter"
naive_result=$(sql -c "SET statement_timeout = '$naive_timeout'; SET temp_file_limit = '200MB';" \
                   -c "SELECT round(bench_ms(\$q\$$naive\$q\$, 1)::numeric, 1)" 2>&1 || true)
case $naive_result in
  *timeout*|*cancel*) naive_cell="did not finish: cancelled after $naive_timeout" ;;
  *temp_file_limit*|*temporary*) naive_cell="did not finish: exceeded temp_file_limit 200MB" ;;
  *ERROR*) naive_cell="failed: $(grep -m1 ERROR <<<"$naive_result")" ;;
  *) naive_cell="$naive_result ms" ;;
esac

{
  echo "## lock views: $n sessions queued for one row (median of $reps runs)"
  echo
  echo "| query | rows | ms | notes |"
  echo "|---|---|---|---|"
  echo "| vigil.blocking_locks | $pairs | $t_view | $rooted pairs report the holder as root; pg_blocking_pids gives $edges edges; target < 50 ms |"
  echo "| vigil.lock_tree() | $tree_rows | $t_tree | one row per session |"
  echo "| vigil.terminate_blockers() dry run | 1 | $t_term | |"
  echo "| classic pg_locks self-join | $classic_rows | $t_classic | sees only waiters whose lock matches a granted one on the same object |"
  echo "| naive recursive CTE over pg_blocking_pids() | - | $naive_cell | follows every path: exponential in queue length |"
} >"$out"
echo "bench_lock_views: done"
