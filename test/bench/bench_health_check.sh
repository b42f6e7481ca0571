#!/usr/bin/env bash
# bench_health_check.sh RESULT.md — vigil.health_check() on a database with many tables and
# many connections, next to the equivalent PgHero-style health queries run one by one (what a
# dashboard does: one statement per check, plus reading every sequence's last_value).
#
#   VIGIL_BENCH_TABLES       tables to create (default 10000; each has a serial key, every
#                            5th an extra index, every 10th a foreign key without an index)
#   VIGIL_BENCH_CONNECTIONS  client connections held open (default 200: 150 idle, 45 active,
#                            5 idle in transaction)
#   VIGIL_BENCH_ROUNDS       timed rounds of each side (default 7; the median is reported)
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"

result=${1:?usage: bench_health_check.sh RESULT.md}
tables=${VIGIL_BENCH_TABLES:-10000}
connections=${VIGIL_BENCH_CONNECTIONS:-200}
rounds=${VIGIL_BENCH_ROUNDS:-7}

[[ -x $PG_BINDIR/postgres ]] || { echo "run make tmp-install first" >&2; exit 1; }
in_bench_cluster --preload "$0" "$result"

psql=("$VIGIL_TEST_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
work=$(mktemp -d)
clients=()
# kill_tree PID: ends PID and every process below it (psql's \! runs sh, which runs sleep).
kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
cleanup() {
  # Only the psql clients this script started, and what they started.
  for pid in "${clients[@]}"; do kill_tree "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench_health_check: creating $tables tables" >&2
start=$(date +%s)
"${psql[@]}" <<SQL
CREATE EXTENSION pgvigil;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE bench_t1 (id serial PRIMARY KEY, parent_id int, v text);
DO \$\$
BEGIN
  FOR i IN 2..$tables LOOP
    EXECUTE format('CREATE TABLE bench_t%s (id serial PRIMARY KEY, parent_id int %s, v text)', i,
                   CASE WHEN i % 10 = 0 THEN 'REFERENCES bench_t1' ELSE '' END);
    IF i % 5 = 0 THEN
      EXECUTE format('CREATE INDEX ON bench_t%s (v)', i);
    END IF;
    IF i % 200 = 0 THEN
      COMMIT;
    END IF;
  END LOOP;
END \$\$;
-- Some data and statistics in the first hundred tables.
DO \$\$
BEGIN
  FOR i IN 1..least(100, $tables) LOOP
    EXECUTE format('INSERT INTO bench_t%s (v) SELECT md5(g::text) FROM generate_series(1, 1000) g', i);
    EXECUTE format('DELETE FROM bench_t%s WHERE id %% 7 = 0', i);
    EXECUTE format('SELECT count(*) FROM bench_t%s WHERE v = ''x''', i);
  END LOOP;
END \$\$;
SQL
echo "bench_health_check: tables created in $(( $(date +%s) - start )) s" >&2
# Settle the freshly loaded tables before timing: without this, autovacuum workers vacuum and
# analyze thousands of new tables during the timed rounds and both sides measure their CPU and
# I/O too. Both sides then run against the same settled database.
"${psql[@]}" -c 'VACUUM ANALYZE'
for _ in $(seq 1 300); do
  busy=$("${psql[@]}" -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
  (( busy == 0 )) && break
  sleep 0.2
done
settled="VACUUM ANALYZE run before timing; $busy autovacuum workers running when timing started"
echo "bench_health_check: $settled; opening $connections connections" >&2

# The connections: most idle, some running a statement, a few idle in transaction.
hold=600
for ((i = 0; i < connections; i++)); do
  if (( i % 40 == 0 )); then
    "${psql[@]}" -c 'BEGIN' -c 'SELECT 1' -c "\\! sleep $hold" >/dev/null 2>&1 &
  elif (( i % 4 == 1 )); then
    "${psql[@]}" -c "SELECT pg_sleep($hold)" >/dev/null 2>&1 &
  else
    "${psql[@]}" -c 'SELECT 1' -c "\\! sleep $hold" >/dev/null 2>&1 &
  fi
  clients+=($!)
done
for _ in $(seq 1 300); do
  n=$("${psql[@]}" -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
  (( n > connections )) && break
  sleep 0.2
done
echo "bench_health_check: $n client connections open" >&2

# PgHero-style: one statement per check, as a dashboard runs them.
cat >"$work/pghero_style.sql" <<'SQL'
SELECT count(*) FROM pg_stat_activity;
SELECT state, count(*) FROM pg_stat_activity GROUP BY state;
SELECT pid, state, application_name, now() - query_start AS duration, query FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid() AND now() - query_start > interval '1 minute' ORDER BY query_start;
SELECT pid, now() - state_change AS duration, query FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' ORDER BY state_change;
SELECT a.pid, pg_blocking_pids(a.pid) AS blocked_by, now() - a.query_start AS waiting, a.query FROM pg_stat_activity a WHERE cardinality(pg_blocking_pids(a.pid)) > 0;
SELECT sum(heap_blks_hit)::float8 / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0) AS table_hit_rate FROM pg_statio_user_tables;
SELECT sum(idx_blks_hit)::float8 / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0) AS index_hit_rate FROM pg_statio_user_indexes;
SELECT datname, age(datfrozenxid), 2147483647 - age(datfrozenxid) AS remaining FROM pg_database ORDER BY 2 DESC;
SELECT c.oid::regclass, age(c.relfrozenxid) FROM pg_class c WHERE c.relkind IN ('r', 'm', 't') ORDER BY 2 DESC LIMIT 20;
SELECT c.oid::regclass, mxid_age(c.relminmxid) FROM pg_class c WHERE c.relkind IN ('r', 'm', 't') ORDER BY 2 DESC LIMIT 20;
SELECT CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS standby_lag;
SELECT application_name, state, replay_lag FROM pg_stat_replication;
SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE NOT active;
SELECT n.nspname, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid;
SELECT s.schemaname, s.relname, s.indexrelname, pg_relation_size(s.indexrelid) FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid WHERE s.idx_scan = 0 AND NOT i.indisunique ORDER BY 4 DESC;
SELECT a.indexrelid::regclass, b.indexrelid::regclass FROM pg_index a JOIN pg_index b ON a.indrelid = b.indrelid AND a.indexrelid <> b.indexrelid AND a.indpred IS NULL AND b.indpred IS NULL AND a.indexprs IS NULL AND b.indexprs IS NULL AND (b.indkey::text LIKE a.indkey::text || ' %' OR (a.indkey::text = b.indkey::text AND a.indexrelid > b.indexrelid)) WHERE NOT a.indisunique;
SELECT schemaname, relname, seq_scan, idx_scan, n_live_tup, pg_total_relation_size(relid) FROM pg_stat_user_tables WHERE seq_scan > coalesce(idx_scan, 0) AND n_live_tup > 10000 ORDER BY n_live_tup DESC;
SELECT c.conrelid::regclass, c.conname FROM pg_constraint c WHERE c.contype = 'f' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey);
SELECT schemaname, relname, n_dead_tup, n_live_tup, last_autovacuum, last_autoanalyze FROM pg_stat_user_tables WHERE n_dead_tup > 0 ORDER BY n_dead_tup DESC LIMIT 20;
SELECT schemaname, relname, n_mod_since_analyze FROM pg_stat_user_tables WHERE n_mod_since_analyze > 1000 ORDER BY 3 DESC;
SELECT c.oid::regclass FROM pg_class c WHERE c.reloptions::text LIKE '%autovacuum_enabled=false%';
SELECT gid, prepared, owner FROM pg_prepared_xacts;
SELECT deadlocks, temp_files, temp_bytes FROM pg_stat_database WHERE datname = current_database();
SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter;
SELECT query, calls, mean_exec_time FROM pg_stat_statements WHERE calls >= 100 AND mean_exec_time > 20 ORDER BY total_exec_time DESC LIMIT 100;
SELECT n.nspname, c.relname, format_type(a.atttypid, a.atttypmod) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_depend d ON d.objid = c.oid AND d.deptype IN ('a', 'i') JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid WHERE c.relkind = 'S';
SQL
# ... and the sequences' last values, read from each sequence (UNION ALL statements of 500
# sequences: one statement for all 10,000 exceeds max_stack_depth).
"${psql[@]}" -At -c "SELECT string_agg(format('SELECT %L AS seq, last_value FROM %s', oid::regclass, oid::regclass), ' UNION ALL ') || ';' FROM (SELECT oid, (row_number() OVER (ORDER BY oid) - 1) / 500 AS batch FROM pg_class WHERE relkind = 'S') s GROUP BY batch ORDER BY batch" >"$work/sequences.sql"

# time_rounds FILE: runs FILE rounds + 1 times in ONE session (one backend, like a dashboard's
# long-lived connection) and prints the total milliseconds of each of the last `rounds` runs; the
# first run only fills the backend's catalog caches and is not reported.
time_rounds() {
  local per_run
  per_run=$(grep -c ';$' "$1")
  { echo '\timing on'; for ((r = 0; r <= rounds; r++)); do cat "$1"; done; } | "${psql[@]}" -o /dev/null |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
    awk -v n="$per_run" '{ s += $1 } NR % n == 0 { if (NR > n) printf "%.1f\n", s; s = 0 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo 'SELECT count(*) FROM vigil.health_check();' >"$work/vigil.sql"
echo 'SELECT * FROM vigil.health_summary();' >"$work/summary.sql"
# The activity sampler's CPU time over the timed rounds (it samples the 200 connections every second).
postmaster=$(head -1 "$VIGIL_TEST_CLUSTER_DIR/data/postmaster.pid")
sampler=$(pgrep -P "$postmaster" -f 'pgvigil activity sampler' | head -1)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$sampler/stat"; }
ticks0=$(cpu_ticks); wall0=$(date +%s.%N)
mapfile -t vigil < <(time_rounds "$work/vigil.sql")
mapfile -t summary < <(time_rounds "$work/summary.sql")
mapfile -t pghero < <(time_rounds "$work/pghero_style.sql")
mapfile -t sequences < <(time_rounds "$work/sequences.sql")
ticks1=$(cpu_ticks); wall1=$(date +%s.%N)
# A clock tick is 1/CLK_TCK s: with no tick used, report the bound one tick would give.
sampler_pct=$(awk -v t="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" -v w0="$wall0" -v w1="$wall1" \
  'BEGIN { if (t > 0) printf "%.3f%%", 100 * t / hz / (w1 - w0); else printf "less than %.3f%% (no clock tick used)", 100 / hz / (w1 - w0) }')
sampler_secs=$(awk -v w0="$wall0" -v w1="$wall1" 'BEGIN { printf "%.0f", w1 - w0 }')
m_vigil=$(printf '%s\n' "${vigil[@]}" | median)
m_summary=$(printf '%s\n' "${summary[@]}" | median)
m_pghero=$(printf '%s\n' "${pghero[@]}" | median)
m_sequences=$(printf '%s\n' "${sequences[@]}" | median)
m_pghero_all=$(awk -v a="$m_pghero" -v b="$m_sequences" 'BEGIN { printf "%.1f", a + b }')
n_checks=$("${psql[@]}" -At -c 'SELECT count(*) FROM vigil.health_check()')
n_unknown=$("${psql[@]}" -At -c "SELECT count(*) FROM vigil.health_check() WHERE status = 'unknown'")
n_statements=$(grep -c ';$' "$work/pghero_style.sql")
n_seq_statements=$(grep -c ';$' "$work/sequences.sql")
n_tables=$("${psql[@]}" -At -c "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relname LIKE 'bench_t%'")
verdict=$(awk -v v="$m_vigil" 'BEGIN { print (v < 200) ? "met" : "NOT met" }')

{
  echo "## vigil.health_check() vs PgHero-style queries"
  echo
  echo "$n_tables tables (with $n_tables serial sequences), $n connections open, $(nproc) cores;"
  echo "median of $rounds rounds; milliseconds as measured by psql \\timing (each side in one session, after one untimed warm-up run)."
  echo "$settled."
  echo
  echo "| What | Statements | Median ms | vs. vigil.health_check() |"
  echo "|---|---|---|---|"
  echo "| \`vigil.health_check()\` ($n_checks checks, $n_unknown unknown) | 1 | $m_vigil | 1.00 |"
  echo "| \`vigil.health_summary()\` | 1 | $m_summary | $(awk -v a="$m_summary" -v b="$m_vigil" 'BEGIN { printf "%.2f", a / b }') |"
  echo "| PgHero-style health queries, one by one | $n_statements | $m_pghero | $(awk -v a="$m_pghero" -v b="$m_vigil" 'BEGIN { printf "%.2f", a / b }') |"
  echo "| PgHero-style sequence reads (\`SELECT last_value FROM\` each sequence, 500 per statement) | $n_seq_statements | $m_sequences | $(awk -v a="$m_sequences" -v b="$m_vigil" 'BEGIN { printf "%.2f", a / b }') |"
  echo "| PgHero-style total | $((n_statements + n_seq_statements)) | $m_pghero_all | $(awk -v a="$m_pghero_all" -v b="$m_vigil" 'BEGIN { printf "%.2f", a / b }') |"
  echo
  echo "Activity sampler: $sampler_pct of one core over ${sampler_secs} s (1 sample/s of $n connections; clock ticks of its process)."
  echo "Load average when done: $(cut -d' ' -f1-3 /proc/loadavg) (the host is shared)."
  echo
  echo "Target: vigil.health_check() under 200 ms: **$verdict** ($m_vigil ms)."
  echo "Rounds (ms): health_check ${vigil[*]}; PgHero-style ${pghero[*]}; sequences ${sequences[*]}."
} >"$result"
cat "$result"
