/*
 * health_checks_catalogue.cpp — the health checks and their thresholds (see
 * health_checks_catalogue.hpp). The runner is health_checks_runner.cpp.
 */
#include "guard.hpp"
#include "health_checks_catalogue.hpp"
#include "spi.hpp"
#include "core/value_format.hpp"

extern "C" {
#include "utils/guc.h"
}

#include <optional>
#include <string>

namespace vigil::health {

namespace {

/* The checks, in the order they are documented (docs/health-checks.md). */
const CheckDef kChecks[] = {
    {"connections", Kind::Ratio, false, 0.70, 0.85,
     "fraction of max_connections (minus superuser_reserved_connections) in use",
     R"sql(
SELECT count(*)::float8 / greatest(current_setting('max_connections')::int
                                   - current_setting('superuser_reserved_connections')::int, 1),
       format('%s client connections of %s available (max_connections %s minus %s reserved)',
              count(*), current_setting('max_connections')::int
                        - current_setting('superuser_reserved_connections')::int,
              current_setting('max_connections'), current_setting('superuser_reserved_connections'))
  FROM pg_stat_activity WHERE backend_type = 'client backend')sql",
     "Put a pooler (PgBouncer in transaction mode) in front of the server or shrink the "
     "application pools; see vigil.pool_advice()."},

    {"idle_in_transaction", Kind::Duration, false, 60e3, 600e3,
     "longest time a session has been idle in transaction",
     R"sql(
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(state_change)) * 1000, 0),
       CASE WHEN count(*) = 0 THEN 'no session is idle in transaction'
            ELSE format('%s session(s) idle in transaction; longest: pid %s (%s) for %s',
                        count(*), (array_agg(pid ORDER BY state_change))[1],
                        (array_agg(usename ORDER BY state_change))[1],
                        date_trunc('second', clock_timestamp() - min(state_change))) END
  FROM pg_stat_activity
 WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
   AND backend_type = 'client backend' AND pid <> pg_backend_pid())sql",
     "Fix the application so it commits or rolls back promptly; set "
     "idle_in_transaction_session_timeout; end the session with pg_terminate_backend(pid)."},

    {"long_running_queries", Kind::Duration, false, 60e3, 300e3, "longest running active statement",
     R"sql(
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(query_start)) * 1000, 0),
       CASE WHEN count(*) = 0 THEN 'no other statement is running'
            ELSE format('%s active statement(s); longest: pid %s for %s: %s', count(*),
                        (array_agg(pid ORDER BY query_start))[1],
                        date_trunc('second', clock_timestamp() - min(query_start)),
                        left(regexp_replace((array_agg(query ORDER BY query_start))[1], '\s+', ' ', 'g'), 80)) END
  FROM pg_stat_activity
 WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid())sql",
     "Check the statement with EXPLAIN; set statement_timeout for the role; cancel it with "
     "pg_cancel_backend(pid)."},

    {"lock_waits", Kind::Duration, false, 5e3, 30e3, "longest time a session has been waiting for a lock",
     R"sql(
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(waitstart)) * 1000, 0),
       CASE WHEN count(*) = 0 THEN 'no session is waiting for a lock'
            ELSE format('%s lock wait(s); longest: pid %s waiting %s for a %s lock, blocked by pid(s) %s',
                        count(*), (array_agg(pid ORDER BY waitstart))[1],
                        date_trunc('second', clock_timestamp() - min(waitstart)),
                        (array_agg(mode ORDER BY waitstart))[1],
                        array_to_string(pg_blocking_pids((array_agg(pid ORDER BY waitstart))[1]), ', ')) END
  FROM pg_locks WHERE NOT granted AND waitstart IS NOT NULL)sql",
     "Find the blocker with pg_blocking_pids(pid) and end its transaction; keep transactions "
     "that take strong locks short; set lock_timeout for DDL."},

    {"cache_hit_ratio", Kind::Ratio, true, 0.95, 0.90,
     "shared_buffers hit ratio of this database since statistics reset",
     R"sql(
SELECT CASE WHEN blks_hit + blks_read > 0 THEN blks_hit::float8 / (blks_hit + blks_read) END,
       format('%s block hits, %s reads outside shared_buffers in database %s since %s',
              blks_hit, blks_read, datname, coalesce(stats_reset::text, 'statistics were created'))
  FROM pg_stat_database WHERE datname = current_database())sql",
     "Raise shared_buffers (often 25% of RAM) or add memory; look for sequential scans of large "
     "tables (the missing_indexes check)."},

    {"xid_wraparound", Kind::Factor, false, 1.5, 5.0,
     "oldest database's transaction-ID age as a multiple of autovacuum_freeze_max_age",
     R"sql(
SELECT max(age(datfrozenxid))::float8 / current_setting('autovacuum_freeze_max_age')::float8,
       format('database %s has transaction-ID age %s (autovacuum_freeze_max_age %s; wraparound at 2^31)',
              (array_agg(datname ORDER BY age(datfrozenxid) DESC))[1], max(age(datfrozenxid)),
              current_setting('autovacuum_freeze_max_age'))
  FROM pg_database)sql",
     "Find what holds back freezing (long transactions, prepared transactions, replication slots) "
     "and run VACUUM (FREEZE) on the oldest tables of that database."},

    {"multixact_wraparound", Kind::Factor, false, 1.5, 4.0,
     "oldest database's multixact age as a multiple of autovacuum_multixact_freeze_max_age",
     R"sql(
SELECT max(mxid_age(datminmxid))::float8 / current_setting('autovacuum_multixact_freeze_max_age')::float8,
       format('database %s has multixact age %s (autovacuum_multixact_freeze_max_age %s)',
              (array_agg(datname ORDER BY mxid_age(datminmxid) DESC))[1], max(mxid_age(datminmxid)),
              current_setting('autovacuum_multixact_freeze_max_age'))
  FROM pg_database)sql",
     "Run VACUUM (FREEZE) on the tables with the oldest relminmxid; look for long transactions "
     "holding row locks."},

    {"replication_lag", Kind::Duration, false, 1e3, 10e3,
     "replication lag: replay delay on a standby, worst standby's lag on a primary",
     R"sql(
SELECT CASE WHEN pg_is_in_recovery() THEN
            CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
                 ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000 END
       ELSE (SELECT coalesce(max(extract(epoch FROM greatest(write_lag, flush_lag, replay_lag))) * 1000, 0)
               FROM pg_stat_replication) END,
       CASE WHEN pg_is_in_recovery() THEN
            format('standby: received up to %s, replayed up to %s, last replayed transaction at %s',
                   pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp())
       ELSE (SELECT CASE WHEN count(*) = 0 THEN 'primary with no connected standby'
                    ELSE format('primary with %s standby(s); worst: %s (%s), replay lag %s',
                                count(*), (array_agg(application_name ORDER BY replay_lag DESC NULLS LAST))[1],
                                (array_agg(state ORDER BY replay_lag DESC NULLS LAST))[1],
                                coalesce(max(replay_lag)::text, 'none')) END
               FROM pg_stat_replication) END)sql",
     "Check the standby's network, disk and CPU; long queries on a standby with "
     "max_standby_streaming_delay = -1 pause replay."},

    {"inactive_replication_slots", Kind::Bytes, false, 0, 1024,
     "WAL retained by the worst inactive replication slot",
     R"sql(
SELECT coalesce(max(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                                         ELSE pg_current_wal_lsn() END, restart_lsn)), 0)::float8,
       CASE WHEN count(*) = 0 THEN 'no inactive replication slot'
            ELSE format('%s inactive slot(s): %s', count(*),
                        string_agg(format('%s (%s) retains %s', slot_name, slot_type,
                                          coalesce(pg_size_pretty(pg_wal_lsn_diff(
                                              CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                                                   ELSE pg_current_wal_lsn() END, restart_lsn)), 'no WAL')),
                                   ', ' ORDER BY slot_name)) END
  FROM pg_replication_slots WHERE NOT active)sql",
     "Reconnect the consumer or drop the slot with pg_drop_replication_slot(name); set "
     "max_slot_wal_keep_size to cap the WAL a slot may retain."},

    {"dead_tuples", Kind::Ratio, false, 0.10, 0.20,
     "dead-tuple ratio of the worst table with at least vigil.dead_tuples_min_rows rows",
     R"sql(
WITH t AS (
  SELECT oid, dead, dead::float8 / (live + dead) AS ratio
    FROM (SELECT c.oid, pg_stat_get_live_tuples(c.oid) AS live, pg_stat_get_dead_tuples(c.oid) AS dead
            FROM pg_class c WHERE c.relkind IN ('r', 'm', 't') OFFSET 0) s
   WHERE live + dead >= (SELECT current_setting('vigil.dead_tuples_min_rows')::bigint) AND live + dead > 0)
SELECT coalesce(max(ratio), 0),
       coalesce((SELECT format('worst: %s with %s dead tuples (%s%%)', oid::regclass, dead, round(ratio::numeric * 100, 1))
                   FROM t ORDER BY ratio DESC LIMIT 1),
                'no table reaches vigil.dead_tuples_min_rows')
  FROM t)sql",
     "VACUUM the table; make autovacuum more aggressive for it (autovacuum_vacuum_scale_factor); "
     "look for long transactions that keep dead tuples alive."},

    {"invalid_indexes", Kind::Count, false, 0, 10,
     "indexes left invalid (a failed CREATE INDEX CONCURRENTLY)",
     R"sql(
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'no invalid index'
            ELSE format('invalid: %s', string_agg(i.indexrelid::regclass::text, ', ' ORDER BY i.indexrelid::regclass::text)) END
  FROM pg_index i
 WHERE NOT i.indisvalid
   AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid))sql",
     "Drop the index and build it again (DROP INDEX CONCURRENTLY, then CREATE INDEX "
     "CONCURRENTLY), or REINDEX INDEX CONCURRENTLY."},

    {"unused_indexes", Kind::Count, false, 0, 10,
     "non-unique indexes of at least vigil.unused_indexes_min_size never scanned since statistics reset",
     R"sql(
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'no unused index above vigil.unused_indexes_min_size'
            ELSE format('never scanned: %s', string_agg(format('%s (%s)', i.indexrelid::regclass,
                        pg_size_pretty(c.relpages::bigint * current_setting('block_size')::int)),
                        ', ' ORDER BY c.relpages DESC)) END
  FROM (SELECT i.indexrelid, c.relpages  -- the size filter first: OFFSET 0 keeps it below the statistics lookups
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
          JOIN pg_class t ON t.oid = i.indrelid
         WHERE c.relpages::bigint >= (SELECT pg_size_bytes(current_setting('vigil.unused_indexes_min_size'))
                                             / current_setting('block_size')::int)
           AND NOT i.indisunique AND NOT i.indisprimary
           AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        OFFSET 0) i
  JOIN pg_class c ON c.oid = i.indexrelid
 WHERE pg_stat_get_numscans(i.indexrelid) = 0
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid))sql",
     "Confirm on every replica (statistics are per server), then DROP INDEX CONCURRENTLY."},

    {"duplicate_indexes", Kind::Count, false, 0, 10,
     "indexes made redundant by another index (same columns, or a btree prefix of one)",
     R"sql(
WITH idx AS (
  SELECT i.indexrelid, i.indrelid, c.relam, i.indisunique, i.indkey::text AS keys,
         i.indclass::text AS classes, i.indcollation::text AS collations,
         CASE WHEN i.indexprs IS NULL THEN '' ELSE pg_get_expr(i.indexprs, i.indrelid) END AS exprs,
         CASE WHEN i.indpred IS NULL THEN '' ELSE pg_get_expr(i.indpred, i.indrelid) END AS pred
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\_toast%'
     AND i.indrelid IN (SELECT indrelid FROM pg_index GROUP BY indrelid HAVING count(*) > 1)),
dup AS (
  SELECT DISTINCT ON (a.indexrelid) a.indexrelid AS redundant, b.indexrelid AS covered_by
    FROM idx a JOIN idx b
      ON a.indrelid = b.indrelid AND a.indexrelid <> b.indexrelid AND a.relam = b.relam
     AND a.exprs = b.exprs AND a.pred = b.pred
   WHERE (a.keys = b.keys AND a.classes = b.classes AND a.collations = b.collations
          AND (NOT a.indisunique OR b.indisunique)
          AND (a.indisunique <> b.indisunique OR a.indexrelid > b.indexrelid))
      OR (NOT a.indisunique AND a.exprs = '' AND a.relam = 403
          AND b.keys LIKE a.keys || ' %' AND b.classes LIKE a.classes || ' %'
          AND b.collations LIKE a.collations || ' %')
   ORDER BY a.indexrelid, b.indexrelid)
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'no redundant index'
            ELSE string_agg(format('%s is covered by %s', redundant::regclass, covered_by::regclass),
                            ', ' ORDER BY redundant::regclass::text) END
  FROM dup)sql",
     "Drop the redundant index with DROP INDEX CONCURRENTLY after checking that no constraint "
     "uses it."},

    {"unindexed_foreign_keys", Kind::Count, false, 0, 10,
     "foreign keys whose columns are not the leading columns of any index",
     R"sql(
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'every foreign key has an index'
            ELSE format('no index: %s', string_agg(format('%s on %s', k.conname, k.conrelid::regclass),
                                                   ', ' ORDER BY k.conrelid::regclass::text, k.conname)) END
  FROM pg_constraint k
 WHERE k.contype = 'f'
   AND NOT EXISTS (SELECT 1 FROM pg_index i
                    WHERE i.indrelid = k.conrelid AND i.indisvalid AND i.indpred IS NULL
                      AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] @> k.conkey))sql",
     "CREATE INDEX CONCURRENTLY on the referencing columns: deletes and key updates of the "
     "referenced table otherwise scan the whole referencing table."},

    {"missing_indexes", Kind::Count, false, 0, 10,
     "tables of at least vigil.seq_scan_min_size read more often by sequential than by index scans",
     R"sql(
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'no large table is read mostly by sequential scans'
            ELSE format('mostly sequential scans: %s', string_agg(format('%s (%s seq, %s idx scans)',
                        s.relid::regclass, s.seq_scan, s.idx_scan), ', ' ORDER BY s.seq_scan DESC)) END
  FROM (SELECT c.oid AS relid, pg_stat_get_numscans(c.oid) AS seq_scan,
               coalesce((SELECT sum(pg_stat_get_numscans(i.indexrelid)) FROM pg_index i
                          WHERE i.indrelid = c.oid), 0) AS idx_scan
          FROM (SELECT c.oid  -- the size filter first: OFFSET 0 keeps it below the statistics lookups
                  FROM pg_class c
                 WHERE c.relkind IN ('r', 'm')
                   AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
                   AND c.relpages::bigint >= (SELECT pg_size_bytes(current_setting('vigil.seq_scan_min_size'))
                                                     / current_setting('block_size')::int)
                OFFSET 0) c) s
 WHERE s.seq_scan > s.idx_scan)sql",
     "Find the queries that scan the table (pg_stat_statements, EXPLAIN) and index their WHERE "
     "and JOIN columns."},

    {"sequences", Kind::Ratio, false, 0.75, 0.90, "fraction of its range the fullest sequence has used",
     R"sql(
WITH s AS (
  SELECT seqrelid, seqtypid,
         CASE WHEN seqincrement > 0 THEN (last_value::float8 - seqmin) / (seqmax::float8 - seqmin)
              ELSE (seqmax::float8 - last_value) / (seqmax::float8 - seqmin) END AS used
    FROM (SELECT q.seqrelid, q.seqtypid, q.seqincrement, q.seqmin, q.seqmax,
                 vigil.sequence_last_value(q.seqrelid) AS last_value  -- NULL: unreadable or unused
            FROM pg_sequence q
           WHERE NOT q.seqcycle
          OFFSET 0) v
   WHERE last_value IS NOT NULL)
SELECT coalesce(max(used), 0),
       coalesce((SELECT format('fullest: %s (%s) at %s%% of its range', seqrelid::regclass,
                               format_type(seqtypid, NULL), round(used::numeric * 100, 1))
                   FROM s ORDER BY used DESC LIMIT 1),
                'no used sequence (sequences the current role cannot read are skipped)')
  FROM s)sql",
     "ALTER SEQUENCE ... AS bigint and change the column to bigint before the sequence runs out."},

    {"prepared_transactions", Kind::Duration, false, 300e3, 1800e3,
     "age of the oldest prepared (two-phase) transaction",
     R"sql(
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(prepared)) * 1000, 0),
       CASE WHEN count(*) = 0 THEN 'no prepared transaction'
            ELSE format('%s prepared transaction(s); oldest: %L by %s in database %s, prepared %s ago',
                        count(*), (array_agg(gid ORDER BY prepared))[1], (array_agg(owner ORDER BY prepared))[1],
                        (array_agg(database ORDER BY prepared))[1],
                        date_trunc('second', clock_timestamp() - min(prepared))) END
  FROM pg_prepared_xacts)sql",
     "Ask the transaction manager to finish it, or resolve it by hand with COMMIT PREPARED or "
     "ROLLBACK PREPARED 'gid' (it holds locks and blocks vacuum)."},

    {"stale_statistics", Kind::Count, false, 0, 10,
     "tables modified more than twice past their autoanalyze trigger and at least "
     "vigil.stale_statistics_min_rows times since the last analyze",
     R"sql(
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'planner statistics are current'
            ELSE format('stale: %s', string_agg(format('%s (%s changes since analyze)', s.relid::regclass,
                        s.n_mod_since_analyze), ', ' ORDER BY s.n_mod_since_analyze DESC)) END
  FROM (SELECT c.oid AS relid, c.reltuples, pg_stat_get_mod_since_analyze(c.oid) AS n_mod_since_analyze
          FROM pg_class c
         WHERE c.relkind IN ('r', 'm')
           AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)) s
 WHERE s.n_mod_since_analyze >= (SELECT current_setting('vigil.stale_statistics_min_rows')::bigint)
   AND s.n_mod_since_analyze > 2 * (current_setting('autovacuum_analyze_threshold')::float8
       + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(s.reltuples, 0)))sql",
     "ANALYZE the tables; check that autovacuum keeps up (autovacuum_max_workers, "
     "autovacuum_naptime) and is not disabled for them."},

    {"autovacuum_disabled", Kind::Count, false, 0, 10,
     "tables with autovacuum_enabled = false (critical when autovacuum is off server-wide)",
     R"sql(
SELECT count(*)::float8,
       CASE WHEN NOT current_setting('autovacuum')::bool THEN 'autovacuum is off for the whole server'
            WHEN count(*) = 0 THEN 'autovacuum is enabled for every table'
            ELSE format('autovacuum disabled: %s', string_agg(c.oid::regclass::text, ', ' ORDER BY c.oid::regclass::text)) END,
       CASE WHEN NOT current_setting('autovacuum')::bool THEN 'critical' END
  FROM pg_class c
 WHERE c.reloptions IS NOT NULL AND c.relkind IN ('r', 'm', 't') AND c.relpersistence <> 't'
   AND EXISTS (SELECT 1 FROM unnest(c.reloptions) o
                WHERE o ~* '^autovacuum_enabled=(false|off|no|n|f|0)$'))sql",
     "ALTER TABLE ... RESET (autovacuum_enabled) and set autovacuum = on; without vacuum, tables "
     "bloat and transaction IDs wrap around."},

    {"deadlocks", Kind::Count, false, 0, 100, "deadlocks in this database since statistics reset",
     R"sql(
SELECT deadlocks::float8,
       format('%s deadlock(s) in database %s since %s', deadlocks, datname,
              coalesce(stats_reset::text, 'statistics were created'))
  FROM pg_stat_database WHERE datname = current_database())sql",
     "Make transactions lock rows in one consistent order (log_lock_waits and the server log "
     "show the statements); reset the counter with pg_stat_reset() once fixed."},

    {"temp_files", Kind::Bytes, false, 1024, 10240,
     "bytes written to temporary files in this database since statistics reset",
     R"sql(
SELECT temp_bytes::float8,
       format('%s temporary file(s), %s in database %s since %s', temp_files, pg_size_pretty(temp_bytes),
              datname, coalesce(stats_reset::text, 'statistics were created'))
  FROM pg_stat_database WHERE datname = current_database())sql",
     "Find the sorts and hashes that spill (log_temp_files, pg_stat_statements.temp_blks_written) "
     "and raise work_mem for them or add indexes."},

    {"forced_checkpoints", Kind::Ratio, false, 0.20, 0.50,
     "fraction of checkpoints that were requested rather than timed",
     R"sql(
SELECT CASE WHEN checkpoints_timed + checkpoints_req = 0 THEN 0
            ELSE checkpoints_req::float8 / (checkpoints_timed + checkpoints_req) END,
       format('%s requested and %s timed checkpoints since %s (max_wal_size %s, checkpoint_timeout %s)',
              checkpoints_req, checkpoints_timed, coalesce(stats_reset::text, 'statistics were created'),
              current_setting('max_wal_size'), current_setting('checkpoint_timeout'))
  FROM pg_stat_bgwriter)sql",
     "Raise max_wal_size so that checkpoints happen on checkpoint_timeout rather than when WAL "
     "fills up."},

    {"slow_statements", Kind::Duration, false, 100, 1000,
     "highest mean execution time of a statement with at least vigil.slow_statements_min_calls calls",
     nullptr, /* built at run time: pg_stat_statements lives in the schema it was created in */
     "EXPLAIN (ANALYZE, BUFFERS) the statement; index its predicates or rewrite it."},
};

constexpr int kCheckCount = sizeof(kChecks) / sizeof(kChecks[0]);

/* Storage of the threshold GUCs: real for ratios and factors, int for the others. */
struct ThresholdVars {
    double warning_real, critical_real;
    int warning_int, critical_int;
};
ThresholdVars g_thresholds[kCheckCount];

int g_dead_tuples_min_rows = 10000;
int g_unused_indexes_min_size_mb = 10;
int g_seq_scan_min_size_mb = 10;
int g_stale_statistics_min_rows = 1000;
int g_slow_statements_min_calls = 10;

constexpr double kBytesPerMb = 1024.0 * 1024.0;

/* Whether a check of this kind has real-valued thresholds (ratios and factors) or int ones. */
bool is_real(Kind k) {
    return k == Kind::Ratio || k == Kind::Factor;
}

/* The schema pg_stat_statements was created in, quoted, or "" when it is not installed here. */
std::string pg_stat_statements_schema() {
    vigil::SpiConnection spi;
    const std::string sql =
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_stat_statements'";
    if (spi.execute(sql, true, 1) != SPI_OK_SELECT || spi.rows() != 1)
        return "";
    const std::optional<std::string> schema = spi.text(0, 1);
    return schema ? vigil::quote_ident(*schema) : "";
}

/* The query of the slow_statements check; unknown when pg_stat_statements is missing. */
std::string slow_statements_sql() {
    const std::string schema = pg_stat_statements_schema();
    if (schema.empty())
        throw vigil::Error(ERRCODE_UNDEFINED_OBJECT, "pg_stat_statements is not installed in this database",
                           "",
                           "CREATE EXTENSION pg_stat_statements (it must be in shared_preload_libraries).");
    return R"sql(
SELECT coalesce(max(mean_exec_time), 0),
       CASE WHEN count(*) = 0 THEN 'no statement has vigil.slow_statements_min_calls calls'
            ELSE format('slowest mean: %s ms over %s calls: %s',
                        round((array_agg(mean_exec_time ORDER BY mean_exec_time DESC))[1]::numeric, 1),
                        (array_agg(calls ORDER BY mean_exec_time DESC))[1],
                        left(regexp_replace((array_agg(query ORDER BY mean_exec_time DESC))[1], '\s+', ' ', 'g'), 80)) END
  FROM )sql" +
           schema + R"sql(.pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND calls >= current_setting('vigil.slow_statements_min_calls')::bigint)sql";
}

/* Defines one threshold GUC: vigil.<check>_warning or vigil.<check>_critical. */
void define_threshold(int i, bool critical) {
    const CheckDef &def = kChecks[i];
    ThresholdVars &t = g_thresholds[i];
    const std::string name = std::string("vigil.") + def.name + (critical ? "_critical" : "_warning");
    const std::string desc = std::string(critical ? "Critical" : "Warning") + " threshold of the " +
                             def.name + " health check: " + def.measures + ".";
    const double boot = critical ? def.critical : def.warning;
    vigil::pg_call([&] {
        /* PostgreSQL keeps the description pointer: it must live as long as the process. */
        const char *long_lived_desc = MemoryContextStrdup(TopMemoryContext, desc.c_str());
        if (is_real(def.kind)) {
            double *var = critical ? &t.critical_real : &t.warning_real;
            DefineCustomRealVariable(name.c_str(), long_lived_desc, nullptr, var, boot, 0.0,
                                     def.kind == Kind::Ratio ? 1.0 : 100.0, PGC_USERSET, 0, nullptr, nullptr,
                                     nullptr);
        } else {
            int *var = critical ? &t.critical_int : &t.warning_int;
            const int flags = def.kind == Kind::Duration ? GUC_UNIT_MS
                              : def.kind == Kind::Bytes  ? GUC_UNIT_MB
                                                         : 0;
            DefineCustomIntVariable(name.c_str(), long_lived_desc, nullptr, var, static_cast<int>(boot), 0,
                                    INT_MAX, PGC_USERSET, flags, nullptr, nullptr, nullptr);
        }
    });
}

} // namespace

int check_count() {
    return kCheckCount;
}

const CheckDef &check(int i) {
    return kChecks[i];
}

double threshold_value(int i, bool critical) {
    const ThresholdVars &t = g_thresholds[i];
    const Kind k = kChecks[i].kind;
    if (is_real(k))
        return critical ? t.critical_real : t.warning_real;
    const double v = critical ? t.critical_int : t.warning_int;
    return k == Kind::Bytes ? v * kBytesPerMb : v;
}

std::string check_query(int i) {
    return kChecks[i].sql ? std::string(kChecks[i].sql) : slow_statements_sql();
}

std::string format_value(Kind kind, double v) {
    switch (kind) {
    case Kind::Ratio:
        return core::format_percent(v);
    case Kind::Factor:
        return core::format_factor(v);
    case Kind::Count:
        return core::format_count(v);
    case Kind::Duration:
        return core::format_duration_ms(v);
    case Kind::Bytes:
        return core::format_bytes(v);
    }
    return core::format_factor(v);
}

void define_int_setting(const char *name, const char *desc, int *var, int boot, int min, int flags) {
    vigil::pg_call([&] {
        DefineCustomIntVariable(name, desc, nullptr, var, boot, min, INT_MAX, PGC_USERSET, flags, nullptr,
                                nullptr, nullptr);
    });
}

void define_check_settings() {
    for (int i = 0; i < kCheckCount; i++) {
        define_threshold(i, false);
        define_threshold(i, true);
    }
    define_int_setting("vigil.dead_tuples_min_rows",
                       "Tables with fewer live plus dead rows are ignored by the dead_tuples check.",
                       &g_dead_tuples_min_rows, 10000, 0, 0);
    define_int_setting("vigil.unused_indexes_min_size",
                       "Smaller indexes are ignored by the unused_indexes check.",
                       &g_unused_indexes_min_size_mb, 10, 0, GUC_UNIT_MB);
    define_int_setting("vigil.seq_scan_min_size", "Smaller tables are ignored by the missing_indexes check.",
                       &g_seq_scan_min_size_mb, 10, 0, GUC_UNIT_MB);
    define_int_setting("vigil.stale_statistics_min_rows",
                       "Tables with fewer changes since the last analyze are ignored by the stale_statistics "
                       "check.",
                       &g_stale_statistics_min_rows, 1000, 0, 0);
    define_int_setting("vigil.slow_statements_min_calls",
                       "Statements called fewer times are ignored by the slow_statements check.",
                       &g_slow_statements_min_calls, 10, 1, 0);
}

} // namespace vigil::health
