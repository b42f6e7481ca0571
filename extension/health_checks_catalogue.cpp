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

/*
 * What wal_receiver and replication_lag know of a standby's link to its primary, one row:
 * standby, conninfo (primary_conninfo; NULL when the role may not read it), running (a WAL
 * receiver process exists), hidden (it does, but the role sees only its pid: no
 * pg_read_all_stats), expected (a standby that should stream: primary_conninfo set, a WAL receiver
 * running, or WAL streamed since start-up, which needs no privilege to see), blind (whether it
 * should stream, or does, is hidden from the role), and pg_stat_wal_receiver's columns.
 */
#define VIGIL_WAL_RECEIVER_SQL                                                                               \
    "WITH rcv AS MATERIALIZED (SELECT * FROM pg_stat_wal_receiver),\n"                                       \
    "     base AS (\n"                                                                                       \
    "  SELECT pg_is_in_recovery() AS standby,\n"                                                             \
    "         (SELECT setting FROM pg_settings WHERE name = 'primary_conninfo') AS conninfo,\n"              \
    "         r.pid IS NOT NULL AS running, r.pid IS NOT NULL AND r.status IS NULL AS hidden,\n"             \
    "         r.status, r.sender_host, r.sender_port, r.received_tli, r.flushed_lsn, "                       \
    "r.last_msg_receipt_time\n"                                                                              \
    "    FROM (SELECT 1) one LEFT JOIN rcv r ON true),\n"                                                    \
    "     link AS (\n"                                                                                       \
    "  SELECT *, standby AND (running OR coalesce(conninfo, '') <> '' OR pg_last_wal_receive_lsn() IS NOT "  \
    "NULL) AS expected,\n"                                                                                   \
    "         standby AND (hidden OR (NOT running AND conninfo IS NULL AND pg_last_wal_receive_lsn() IS "    \
    "NULL)) AS blind\n"                                                                                      \
    "    FROM base)\n"

/* The checks, in the order they are documented (docs/health-checks.md). */
const CheckDef kChecks[] = {
    {"connections", Kind::Ratio, false, 0.70, 0.85,
     "fraction of max_connections (minus superuser_reserved_connections) in use",
     R"sql(
WITH a AS MATERIALIZED (SELECT * FROM pg_stat_activity),
     clients AS (SELECT * FROM a WHERE backend_type = 'client backend' OR pid = pg_backend_pid())
SELECT count(*)::float8 / greatest(current_setting('max_connections')::int
                                   - current_setting('superuser_reserved_connections')::int, 1),
       format('%s client connections of %s available (max_connections %s minus %s reserved)',
              count(*), current_setting('max_connections')::int
                        - current_setting('superuser_reserved_connections')::int,
              current_setting('max_connections'), current_setting('superuser_reserved_connections')),
       NULL, NULL,
       (SELECT count(*) FROM a WHERE backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL
                                 AND pid <> pg_backend_pid())
  FROM clients)sql",
     "Put a pooler (PgBouncer in transaction mode) in front of the server or shrink the "
     "application pools; see vigil.pool_advice().",
     Blind::OtherSessions},

    {"idle_in_transaction", Kind::Duration, false, 60e3, 600e3,
     "longest time a session has been idle in transaction",
     R"sql(
WITH a AS MATERIALIZED (SELECT * FROM pg_stat_activity WHERE pid <> pg_backend_pid()),
     idle AS (SELECT * FROM a WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
                                AND backend_type = 'client backend')
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(state_change)) * 1000, 0),
       CASE WHEN count(*) = 0 THEN 'no session is idle in transaction'
            ELSE format('%s session(s) idle in transaction; longest: pid %s (%s) for %s',
                        count(*), (array_agg(pid ORDER BY state_change))[1],
                        (array_agg(usename ORDER BY state_change))[1],
                        date_trunc('second', clock_timestamp() - min(state_change))) END,
       NULL, NULL,
       (SELECT count(*) FROM a WHERE backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL)
  FROM idle)sql",
     "Fix the application so it commits or rolls back promptly; set "
     "idle_in_transaction_session_timeout; end the session with pg_terminate_backend(pid).",
     Blind::OtherSessions},

    {"long_running_queries", Kind::Duration, false, 60e3, 300e3, "longest running active statement",
     R"sql(
WITH a AS MATERIALIZED (SELECT * FROM pg_stat_activity WHERE pid <> pg_backend_pid()),
     running AS (SELECT * FROM a WHERE state = 'active' AND backend_type = 'client backend')
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(query_start)) * 1000, 0),
       CASE WHEN count(*) = 0 THEN 'no other statement is running'
            ELSE format('%s active statement(s); longest: pid %s for %s: %s', count(*),
                        (array_agg(pid ORDER BY query_start))[1],
                        date_trunc('second', clock_timestamp() - min(query_start)),
                        left(regexp_replace((array_agg(query ORDER BY query_start))[1], '\s+', ' ', 'g'), 80)) END,
       NULL, NULL,
       (SELECT count(*) FROM a WHERE backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL)
  FROM running)sql",
     "Check the statement with EXPLAIN; set statement_timeout for the role; cancel it with "
     "pg_cancel_backend(pid).",
     Blind::OtherSessions},

    {"long_transactions", Kind::Duration, false, 300e3, 1800e3,
     "age of the oldest open transaction, idle or not (xact_start)",
     R"sql(
WITH a AS MATERIALIZED (SELECT * FROM pg_stat_activity WHERE pid <> pg_backend_pid()),
     open AS (SELECT * FROM a WHERE xact_start IS NOT NULL AND backend_type = 'client backend')
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(xact_start)) * 1000, 0),
       coalesce((SELECT format('%s open transaction(s); oldest: pid %s (%s, %s) open for %s%s; last statement: %s',
                               (SELECT count(*) FROM open), o.pid, o.usename, o.state,
                               date_trunc('second', clock_timestamp() - o.xact_start),
                               CASE WHEN age(o.backend_xmin) > 0
                                    THEN format(', holding vacuum''s xmin horizon %s transactions back', age(o.backend_xmin))
                                    ELSE '' END,
                               left(regexp_replace(o.query, '\s+', ' ', 'g'), 80))
                   FROM open o ORDER BY o.xact_start LIMIT 1),
                'no other transaction is open'),
       NULL, NULL,
       (SELECT count(*) FROM a WHERE backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL)
  FROM open)sql",
     "Commit or roll back sooner: an open transaction, even one that only runs short statements, "
     "keeps every row version deleted since it began from being vacuumed; find the code that holds "
     "it open (application_name, client_addr); end it with pg_terminate_backend(pid).",
     Blind::OtherSessions},

    {"lock_waits", Kind::Duration, false, 5e3, 30e3, "longest time a session has been waiting for a lock",
     R"sql(
WITH locks AS MATERIALIZED (SELECT * FROM pg_locks),
     waits AS (SELECT * FROM locks WHERE NOT granted AND waitstart IS NOT NULL)
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(waitstart)) * 1000, 0),
       coalesce((SELECT format('%s lock wait(s); longest: pid %s waiting %s for a %s lock, blocked by %s',
                               (SELECT count(*) FROM waits), o.pid,
                               date_trunc('second', clock_timestamp() - o.waitstart), o.mode,
                               coalesce((SELECT string_agg(
                                   CASE WHEN b.pid <> 0 THEN 'pid ' || b.pid
                                        -- pid 0: a prepared transaction, named by the GID of the one
                                        -- holding a lock on what the session waits for (as vigil.blocking_locks)
                                        ELSE coalesce((SELECT 'prepared transaction ' || string_agg(DISTINCT quote_literal(px.gid), ', ')
                                                         FROM locks h
                                                         JOIN locks hx ON hx.pid IS NULL AND hx.locktype = 'transactionid'
                                                                      AND hx.virtualtransaction = h.virtualtransaction
                                                         JOIN pg_prepared_xacts px ON px.transaction = hx.transactionid
                                                        WHERE h.pid IS NULL AND h.granted AND h.locktype = o.locktype
                                                          AND h.database IS NOT DISTINCT FROM o.database
                                                          AND h.relation IS NOT DISTINCT FROM o.relation
                                                          AND h.page IS NOT DISTINCT FROM o.page
                                                          AND h.tuple IS NOT DISTINCT FROM o.tuple
                                                          AND h.virtualxid IS NOT DISTINCT FROM o.virtualxid
                                                          AND h.transactionid IS NOT DISTINCT FROM o.transactionid
                                                          AND h.classid IS NOT DISTINCT FROM o.classid
                                                          AND h.objid IS NOT DISTINCT FROM o.objid
                                                          AND h.objsubid IS NOT DISTINCT FROM o.objsubid),
                                                      'a prepared transaction') END,
                                   ', ' ORDER BY b.pid DESC)
                                  FROM (SELECT DISTINCT pid FROM unnest(pg_blocking_pids(o.pid)) pid) b),
                                 'nobody any more'))
                   FROM (SELECT * FROM waits ORDER BY waitstart LIMIT 1) o),
                'no session is waiting for a lock')
  FROM waits)sql",
     "Find the blocker with pg_blocking_pids(pid) (vigil.blocking_locks) and end its transaction, "
     "or finish a prepared transaction with COMMIT PREPARED or ROLLBACK PREPARED 'gid'; keep "
     "transactions that take strong locks short; set lock_timeout for DDL."},

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

    {"table_freeze_age", Kind::Factor, false, 1.1, 2.0,
     "worst table's transaction-ID age as a multiple of its autovacuum_freeze_max_age",
     R"sql(
-- one pass over every table: the oldest, and how many are past the server's autovacuum_freeze_max_age
WITH everyone AS (
  SELECT max(ARRAY[age(relfrozenxid)::bigint, oid::bigint]) AS oldest,
         count(*) FILTER (WHERE age(relfrozenxid) > current_setting('autovacuum_freeze_max_age')::int) AS past
    FROM pg_class WHERE relkind IN ('r', 'm', 't')),
-- a per-table autovacuum_freeze_max_age, which can only lower the server's: the table's, and its
-- TOAST table's unless that has options of its own (as autovacuum does)
opts AS (
  SELECT c.oid, c.relfrozenxid, c.reltoastrelid,
         least(current_setting('autovacuum_freeze_max_age')::float8, o.v) AS freeze_max_age
    FROM pg_class c
    JOIN LATERAL (SELECT o.option_value::float8 AS v FROM pg_options_to_table(c.reloptions) o
                   WHERE o.option_name = 'autovacuum_freeze_max_age') o ON true
   WHERE c.reloptions IS NOT NULL AND c.relkind IN ('r', 'm', 't')),
own AS (
  SELECT oid, age(relfrozenxid)::float8 AS xid_age, freeze_max_age FROM opts
  UNION ALL
  SELECT x.oid, age(x.relfrozenxid)::float8, opts.freeze_max_age
    FROM opts JOIN pg_class x ON x.oid = opts.reltoastrelid AND x.reloptions IS NULL),
worst AS (
  SELECT * FROM (SELECT oldest[2]::oid AS oid, oldest[1]::float8 AS xid_age,
                        current_setting('autovacuum_freeze_max_age')::float8 AS freeze_max_age
                   FROM everyone WHERE oldest IS NOT NULL
                 UNION ALL
                 SELECT * FROM own) w
   ORDER BY xid_age / freeze_max_age DESC LIMIT 1)
SELECT (SELECT xid_age / freeze_max_age FROM worst),
       coalesce((SELECT format('worst: %s%s with transaction-ID age %s, %s times its autovacuum_freeze_max_age %s; %s table(s) past theirs',
                               k.oid::regclass,
                               CASE WHEN k.relkind = 't'
                                    THEN format(' (TOAST of %s)', (SELECT p.oid::regclass FROM pg_class p WHERE p.reltoastrelid = k.oid))
                                    WHEN k.relpersistence = 't' THEN ' (a temporary table: autovacuum cannot freeze it)'
                                    ELSE '' END,
                               w.xid_age, round((w.xid_age / w.freeze_max_age)::numeric, 2), w.freeze_max_age,
                               (SELECT past FROM everyone)
                               + (SELECT count(*) FROM own
                                   WHERE xid_age > freeze_max_age
                                     AND xid_age <= current_setting('autovacuum_freeze_max_age')::float8))
                   FROM worst w JOIN pg_class k ON k.oid = w.oid),
                'no table'))sql",
     "VACUUM (FREEZE, VERBOSE) the table; find what keeps autovacuum's anti-wraparound vacuum from "
     "finishing: a lock it waits for, an old transaction, prepared transaction or replication slot "
     "holding the xmin horizon back (long_transactions, prepared_transactions, "
     "inactive_replication_slots), or a cost limit too low for the table's size."},

    {"wal_receiver", Kind::Duration, false, 45e3, 120e3,
     "on a standby that streams: time since the last message from the primary; critical while the "
     "WAL receiver is not streaming",
     VIGIL_WAL_RECEIVER_SQL R"sql(
SELECT CASE WHEN expected AND NOT blind THEN extract(epoch FROM clock_timestamp() - last_msg_receipt_time) * 1000 END,
       CASE WHEN NOT standby THEN 'not a standby'
            WHEN blind THEN 'a standby' || CASE WHEN running THEN ' with a WAL receiver' ELSE '' END
            WHEN NOT expected THEN 'a standby without primary_conninfo: it restores WAL from the archive only, nothing is expected to stream'
            WHEN NOT running
            THEN format('no WAL receiver runs although %s: nothing arrives from the primary; replayed up to %s, last replayed transaction %s',
                        CASE WHEN coalesce(conninfo, '') <> '' THEN 'primary_conninfo is set' ELSE 'WAL was streamed since start-up' END,
                        pg_last_wal_replay_lsn(), coalesce(pg_last_xact_replay_timestamp()::text, 'none since start-up'))
            ELSE format('WAL receiver %s from %s:%s (timeline %s); last message from the primary %s ago; received up to %s, replayed up to %s (%s to replay)',
                        status, coalesce(sender_host, '?'), coalesce(sender_port::text, '?'), received_tli,
                        coalesce(date_trunc('millisecond', clock_timestamp() - last_msg_receipt_time)::text, 'never'),
                        flushed_lsn, pg_last_wal_replay_lsn(),
                        coalesce(pg_size_pretty(pg_wal_lsn_diff(flushed_lsn, pg_last_wal_replay_lsn())), 'nothing')) END,
       CASE WHEN expected AND NOT blind AND status IS DISTINCT FROM 'streaming' THEN 'critical' END,
       NULL,
       CASE WHEN blind THEN 1 ELSE 0 END
  FROM link)sql",
     "Read the standby's server log for the WAL receiver's error (authentication, the network, a "
     "primary that is down or was replaced, WAL the primary no longer has: give the standby a "
     "replication slot or a restore_command); fix primary_conninfo and SELECT pg_reload_conf().",
     Blind::WalReceiver},

    {"replication_lag", Kind::Duration, false, 1e3, 10e3,
     "replication lag: replay delay on a standby, worst standby's lag on a primary",
     VIGIL_WAL_RECEIVER_SQL R"sql(
SELECT CASE WHEN NOT standby
            THEN (SELECT coalesce(max(extract(epoch FROM greatest(write_lag, flush_lag, replay_lag))) * 1000, 0)
                    FROM pg_stat_replication)
            -- receive = replay also holds on a standby whose primary is gone: no lag is measurable
            WHEN expected AND NOT hidden AND status IS DISTINCT FROM 'streaming' THEN NULL
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000 END,
       CASE WHEN standby AND expected AND NOT hidden AND status IS DISTINCT FROM 'streaming' THEN
            format('standby whose WAL receiver is %s (see the wal_receiver check): the lag cannot be measured; '
                   'replayed up to %s, last replayed transaction %s',
                   coalesce(status, 'not running'), pg_last_wal_replay_lsn(),
                   CASE WHEN pg_last_xact_replay_timestamp() IS NULL THEN 'none since start-up'
                        ELSE format('at %s (%s ago)', pg_last_xact_replay_timestamp(),
                                    date_trunc('second', clock_timestamp() - pg_last_xact_replay_timestamp())) END)
            WHEN standby THEN
            format('standby: received up to %s, replayed up to %s, last replayed transaction %s',
                   pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(),
                   coalesce('at ' || pg_last_xact_replay_timestamp(), 'none since start-up'))
       ELSE (SELECT CASE WHEN count(*) = 0 THEN 'primary with no connected standby'
                    ELSE format('primary with %s standby(s); worst: %s (%s), replay lag %s',
                                count(*), (array_agg(application_name ORDER BY replay_lag DESC NULLS LAST))[1],
                                (array_agg(state ORDER BY replay_lag DESC NULLS LAST))[1],
                                coalesce(max(replay_lag)::text, 'none')) END
               FROM pg_stat_replication) END,
       CASE WHEN standby AND expected AND NOT hidden AND status IS DISTINCT FROM 'streaming' THEN 'unknown' END,
       NULL,
       -- without pg_read_all_stats only the pid shows: of a primary's standbys, of a standby's WAL receiver
       CASE WHEN NOT standby THEN (SELECT count(*) FROM pg_stat_replication WHERE state IS NULL)
            WHEN hidden THEN 1 END
  FROM link)sql",
     "Check the standby's network, disk and CPU; long queries on a standby with "
     "max_standby_streaming_delay = -1 pause replay.",
     Blind::OtherSessions},

    {"archiving", Kind::Duration, false, 300e3, 1800e3,
     "with archive_mode on: how long WAL segments have waited while archiving made no progress; "
     "a failure since the last success warns",
     R"sql(
WITH s AS (
  SELECT a.*, pg_is_in_recovery() AS standby, current_setting('archive_mode') AS mode,
         -- archive_mode = on archives on the primary only; always, on a standby too
         current_setting('archive_mode') = 'always'
           OR (current_setting('archive_mode') = 'on' AND NOT pg_is_in_recovery()) AS expected,
         a.last_failed_time > coalesce(a.last_archived_time, '-infinity') AS failing,
         -- the segments completed since the last one archived (the one being written is not due)
         floor(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery()
                                    THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                                    ELSE pg_current_wal_lsn() END, '0/0')
               / pg_size_bytes(current_setting('wal_segment_size')))
         - coalesce(a.archived_segno, CASE WHEN a.last_failed_time > coalesce(a.last_archived_time, '-infinity')
                                           THEN a.failed_segno - 1 END)  -- the failing one waits
         - 1 AS waiting
    FROM (SELECT a.*,
                 CASE WHEN a.last_archived_wal ~ '^[0-9A-F]{24}'
                      THEN ('x' || substr(a.last_archived_wal, 9, 8))::bit(32)::bigint
                             * (4294967296 / pg_size_bytes(current_setting('wal_segment_size')))
                           + ('x' || substr(a.last_archived_wal, 17, 8))::bit(32)::bigint END AS archived_segno,
                 CASE WHEN a.last_failed_wal ~ '^[0-9A-F]{24}'
                      THEN ('x' || substr(a.last_failed_wal, 9, 8))::bit(32)::bigint
                             * (4294967296 / pg_size_bytes(current_setting('wal_segment_size')))
                           + ('x' || substr(a.last_failed_wal, 17, 8))::bit(32)::bigint END AS failed_segno
            FROM pg_stat_archiver a) a)
SELECT CASE WHEN expected AND (waiting > 0 OR (waiting IS NULL AND failing))
            THEN extract(epoch FROM clock_timestamp()
                                    - coalesce(last_archived_time, stats_reset, pg_postmaster_start_time())) * 1000
            ELSE 0 END,
       CASE WHEN mode = 'off' THEN 'archive_mode is off: WAL is not archived, so nothing is expected'
            WHEN NOT expected THEN 'a standby with archive_mode = on: the primary archives (archive_mode = always archives here too)'
            ELSE concat_ws('; ',
                   CASE WHEN failing THEN format('archiving fails: %s failed at %s', last_failed_wal, last_failed_time) END,
                   CASE WHEN last_archived_wal IS NULL THEN 'nothing archived since ' || coalesce(stats_reset::text, 'statistics were created')
                        ELSE format('last archived: %s at %s (%s ago)', last_archived_wal, last_archived_time,
                                    date_trunc('second', clock_timestamp() - last_archived_time)) END,
                   CASE WHEN waiting > 0 THEN format('%s segment(s) waiting to be archived', waiting) END,
                   format('%s archived, %s failed since %s', archived_count, failed_count,
                          coalesce(stats_reset::text, 'statistics were created'))) END,
       CASE WHEN expected AND failing THEN 'warning' END
  FROM s)sql",
     "Read the archive_command's error in the server log (a full or unreachable archive, "
     "permissions) and fix it: until archiving succeeds, WAL piles up in pg_wal and point-in-time "
     "recovery stops at the last archived segment."},

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

    {"replication_slot_wal", Kind::Bytes, true, 1024, 0,
     "WAL the slot nearest to losing WAL may still let be written (safe_wal_size, with "
     "max_slot_wal_keep_size set); a slot whose wal_status is unreserved warns, lost is critical",
     R"sql(
WITH s AS MATERIALIZED (
  SELECT slot_name, slot_type, active, wal_status, safe_wal_size,
         CASE wal_status WHEN 'lost' THEN 0 WHEN 'unreserved' THEN 1 ELSE 2 END AS rank
    FROM pg_replication_slots)
SELECT (SELECT CASE WHEN min(safe_wal_size) < 0 THEN 0 ELSE min(safe_wal_size) END  -- greatest() skips NULL
          FROM s WHERE wal_status IS NOT NULL)::float8,
       CASE WHEN count(*) = 0 THEN 'no replication slot'
            ELSE format('%s slot(s)%s: %s', count(*),
                        CASE WHEN current_setting('max_slot_wal_keep_size') = '-1'
                             THEN ' (max_slot_wal_keep_size = -1: slots may retain WAL without limit)' ELSE '' END,
                        string_agg(format('%s (%s, %s%s%s)', slot_name, slot_type,
                                          CASE WHEN active THEN 'active' ELSE 'inactive' END,
                                          ', ' || coalesce(wal_status, 'no WAL reserved'),
                                          CASE WHEN wal_status <> 'lost' AND safe_wal_size IS NOT NULL
                                               THEN ', ' || pg_size_pretty(greatest(safe_wal_size, 0)) || ' until it may lose WAL' END),
                                   ', ' ORDER BY rank, safe_wal_size NULLS LAST, slot_name)) END,
       CASE WHEN bool_or(wal_status = 'lost') THEN 'critical' WHEN bool_or(wal_status = 'unreserved') THEN 'warning' END,
       CASE WHEN bool_or(wal_status = 'lost')
            THEN format('Slot %s has lost WAL its consumer needs and cannot be used again: drop it '
                        '(SELECT pg_drop_replication_slot(%L)) and rebuild its standby (pg_basebackup) or '
                        'subscription; raise max_slot_wal_keep_size so that a late consumer keeps its WAL.',
                        (array_agg(slot_name ORDER BY slot_name) FILTER (WHERE wal_status = 'lost'))[1],
                        (array_agg(slot_name ORDER BY slot_name) FILTER (WHERE wal_status = 'lost'))[1])
            WHEN bool_or(wal_status = 'unreserved')
            THEN format('Slot %s is past max_slot_wal_keep_size: the next checkpoint removes WAL it needs; reconnect '
                        'its consumer now, or drop it (SELECT pg_drop_replication_slot(%L)); raise '
                        'max_slot_wal_keep_size.',
                        (array_agg(slot_name ORDER BY slot_name) FILTER (WHERE wal_status = 'unreserved'))[1],
                        (array_agg(slot_name ORDER BY slot_name) FILTER (WHERE wal_status = 'unreserved'))[1]) END
  FROM s)sql",
     "Reconnect the slot's consumer or drop the slot with pg_drop_replication_slot(name); raise "
     "max_slot_wal_keep_size if its consumer needs more time to catch up."},

    {"dead_tuples", Kind::Ratio, false, 0.10, 0.20,
     "dead-tuple ratio of the worst table with at least vigil.dead_tuples_min_rows rows (or mostly dead)",
     R"sql(
WITH t AS (
  SELECT oid, live, dead, dead::float8 / (live + dead) AS ratio
    FROM (SELECT c.oid, c.reltuples, pg_stat_get_live_tuples(c.oid) AS live, pg_stat_get_dead_tuples(c.oid) AS dead
            FROM pg_class c WHERE c.relkind IN ('r', 'm', 't') OFFSET 0) s
   WHERE live + dead > 0
     AND (live + dead >= (SELECT current_setting('vigil.dead_tuples_min_rows')::bigint)
          -- a small table still counts once most of it is dead and autovacuum should have come,
          -- if its live count is known: counted since it was created (never vacuumed, reltuples
          -- -1) or set by a vacuum or analyze (a catalog copied from the template database has
          -- rows its statistics never counted)
          OR (dead::float8 / (live + dead) >= (SELECT current_setting('vigil.dead_tuples_small_table_ratio')::float8)
              AND dead > (SELECT current_setting('autovacuum_vacuum_threshold')::bigint)
              AND (reltuples < 0 OR pg_stat_get_vacuum_count(oid) + pg_stat_get_autovacuum_count(oid)
                                    + pg_stat_get_analyze_count(oid) + pg_stat_get_autoanalyze_count(oid) > 0))))
SELECT coalesce(max(ratio), 0),
       coalesce((SELECT format('worst: %s with %s dead tuples (%s%%)%s', oid::regclass, dead, round(ratio::numeric * 100, 1),
                               CASE WHEN live + dead < current_setting('vigil.dead_tuples_min_rows')::bigint
                                    THEN format(' of %s rows (below vigil.dead_tuples_min_rows, but mostly dead)', live + dead)
                                    ELSE '' END)
                   FROM (SELECT * FROM t ORDER BY ratio DESC LIMIT 1) w),
                'no table reaches vigil.dead_tuples_min_rows or vigil.dead_tuples_small_table_ratio')
  FROM t)sql",
     "VACUUM the table; make autovacuum more aggressive for it (autovacuum_vacuum_scale_factor); "
     "look for long transactions that keep dead tuples alive."},

    {"autovacuum_queue", Kind::Count, false, 10, 50,
     "tables past their autovacuum vacuum trigger that no vacuum is working on",
     R"sql(
WITH d AS (
  SELECT c.oid, c.relkind, c.relname, c.reltuples, c.reloptions, pg_stat_get_dead_tuples(c.oid) AS dead
    FROM pg_class c
   WHERE c.relkind IN ('r', 'm', 't') AND c.relpersistence <> 't'
  OFFSET 0),
t AS (
  SELECT d.oid, d.reltuples, d.dead,
         -- per-table settings; a TOAST table without options of its own uses its table's (as
         -- autovacuum does), found by the name the server gives it, pg_toast_<table oid>
         coalesce(d.reloptions,
                  CASE WHEN d.relkind = 't' AND d.relname ~ '^pg_toast_[0-9]+$'
                       THEN (SELECT p.reloptions FROM pg_class p
                              WHERE p.oid = substr(d.relname, 10)::oid AND p.reltoastrelid = d.oid) END) AS opts
    FROM d WHERE d.dead > 0),
trig AS (
  SELECT t.oid, t.dead,
         coalesce((SELECT o.option_value::float8 FROM pg_options_to_table(t.opts) o
                    WHERE t.opts IS NOT NULL AND o.option_name = 'autovacuum_vacuum_threshold'),
                  current_setting('autovacuum_vacuum_threshold')::float8)
         + coalesce((SELECT o.option_value::float8 FROM pg_options_to_table(t.opts) o
                      WHERE t.opts IS NOT NULL AND o.option_name = 'autovacuum_vacuum_scale_factor'),
                    current_setting('autovacuum_vacuum_scale_factor')::float8) * greatest(t.reltuples, 0) AS trigger_at,
         t.opts IS NOT NULL AND EXISTS (SELECT FROM pg_options_to_table(t.opts) o
                                         WHERE o.option_name = 'autovacuum_enabled'
                                           AND o.option_value ~* '^(false|off|no|n|f|0)$') AS disabled
    FROM t),
-- the vacuums running here; another role's (every autovacuum worker's, without pg_read_all_stats)
-- hides its table and progress, but not the SHARE UPDATE EXCLUSIVE lock it holds on the table
progress AS MATERIALIZED (
  SELECT p.pid, coalesce(p.relid, l.relation) AS relid, p.relid IS NULL AS hidden, p.phase,
         p.heap_blks_total, p.heap_blks_scanned, a.backend_type, a.xact_start
    FROM pg_stat_progress_vacuum p
    LEFT JOIN pg_locks l ON p.relid IS NULL AND l.pid = p.pid AND l.locktype = 'relation'
                        AND l.mode = 'ShareUpdateExclusiveLock' AND l.database = p.datid
    LEFT JOIN pg_stat_activity a ON a.pid = p.pid
   WHERE p.datname = current_database()),
queued AS (
  SELECT * FROM trig
   WHERE dead > trigger_at AND oid NOT IN (SELECT relid FROM progress WHERE relid IS NOT NULL))
SELECT (SELECT count(*) FROM queued)::float8,
       concat_ws('; ',
         CASE WHEN NOT current_setting('autovacuum')::bool THEN 'autovacuum is off for the whole server' END,
         CASE WHEN NOT EXISTS (SELECT FROM queued) THEN 'no table is waiting for a vacuum'
              ELSE (SELECT format('%s table(s) past their autovacuum trigger%s; most overdue: %s',
                                  (SELECT count(*) FROM queued),
                                  ' and not being vacuumed',
                                  string_agg(format('%s with %s dead tuples (trigger %s)%s', q.oid::regclass, q.dead,
                                                    round(q.trigger_at::numeric),
                                                    CASE WHEN q.disabled THEN ', autovacuum disabled for it' ELSE '' END),
                                             ', ' ORDER BY q.dead / greatest(q.trigger_at, 1) DESC))
                      FROM (SELECT * FROM queued ORDER BY dead / greatest(trigger_at, 1) DESC LIMIT 5) q) END,
         coalesce((SELECT 'vacuuming: ' || string_agg(
                            CASE WHEN p.hidden
                                 THEN format('%s (progress hidden: seeing it needs pg_read_all_stats)',
                                             coalesce(p.relid::regclass::text, 'a table'))
                                 ELSE format('%s (%s, %s%s, for %s)',
                                             p.relid::regclass,
                                             CASE WHEN p.backend_type = 'autovacuum worker' THEN 'autovacuum' ELSE 'VACUUM' END,
                                             p.phase,
                                             CASE WHEN p.heap_blks_total > 0
                                                  THEN format(', %s%% of %s blocks scanned',
                                                              round(100.0 * p.heap_blks_scanned / p.heap_blks_total),
                                                              p.heap_blks_total)
                                                  ELSE '' END,
                                             date_trunc('second', clock_timestamp() - p.xact_start)) END,
                            ', ' ORDER BY p.relid::regclass::text)
                     FROM progress p),
                  'no vacuum is running')))sql",
     "Autovacuum does not keep up: raise autovacuum_max_workers (restart) or "
     "autovacuum_vacuum_cost_limit, lower autovacuum_vacuum_cost_delay, or VACUUM the waiting tables "
     "by hand; a table with autovacuum disabled waits for a manual VACUUM."},

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

    {"sequences", Kind::Ratio, false, 0.75, 0.90,
     "fraction of its range the fullest sequence has used, or of the range of the narrowest integer column "
     "it feeds",
     R"sql(
WITH q AS (
  SELECT q.seqrelid, q.seqtypid, q.seqincrement, q.seqmin, q.seqmax,
         vigil.sequence_last_value(q.seqrelid) AS last_value  -- NULL: unreadable or unused
    FROM pg_sequence q
   WHERE NOT q.seqcycle
  OFFSET 0),
-- the narrowest integer column each used sequence feeds: OWNED BY (serial, identity) or a nextval() default
s AS (
  SELECT q.*, col.relid, col.attname, col.coltype, col.colmin, col.colmax
    FROM q
    LEFT JOIN LATERAL (
      SELECT f.relid, a.attname, b.oid AS coltype,
             CASE b.oid WHEN 'int2'::regtype THEN -32768 WHEN 'int4'::regtype THEN -2147483648
                        ELSE -9223372036854775808 END AS colmin,
             CASE b.oid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
                        ELSE 9223372036854775807 END AS colmax
        FROM (SELECT d.refobjid AS relid, d.refobjsubid AS attnum
                FROM pg_depend d
               WHERE d.classid = 'pg_class'::regclass AND d.objid = q.seqrelid AND d.objsubid = 0
                 AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
              UNION
              SELECT ad.adrelid, ad.adnum
                FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
               WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = q.seqrelid
                 AND d.classid = 'pg_attrdef'::regclass) f
        JOIN pg_attribute a ON a.attrelid = f.relid AND a.attnum = f.attnum AND NOT a.attisdropped
        JOIN pg_type t ON t.oid = a.atttypid
        JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END  -- a domain's base type
       WHERE b.oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
       ORDER BY b.typlen LIMIT 1) col ON true
   WHERE q.last_value IS NOT NULL),
u AS (
  SELECT s.*,
         CASE WHEN seqincrement > 0 THEN colmax < seqmax ELSE colmin > seqmin END AS column_limits,
         CASE WHEN seqincrement > 0
              THEN (last_value::float8 - seqmin) / greatest(least(seqmax, coalesce(colmax, seqmax))::float8 - seqmin, 1)
              ELSE (seqmax::float8 - last_value) / greatest(seqmax::float8 - greatest(seqmin, coalesce(colmin, seqmin)), 1) END AS used
    FROM s),
worst AS (SELECT * FROM u ORDER BY used DESC LIMIT 1),
-- NULL readings of sequences the role may not read (another session's temporary ones are no one's to read)
hidden AS (
  SELECT count(*) AS n, string_agg(DISTINCT quote_ident(n.nspname), ', ') AS schemas
    FROM q JOIN pg_class c ON c.oid = q.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE q.last_value IS NULL AND NOT pg_is_other_temp_schema(c.relnamespace)
     AND NOT has_sequence_privilege(q.seqrelid, 'SELECT, USAGE'))
SELECT coalesce((SELECT used FROM worst), 0),
       coalesce((SELECT CASE WHEN column_limits
                             THEN format('fullest: %s (%s) feeds %s.%I (%s): %s%% of the column''s range used',
                                         seqrelid::regclass, format_type(seqtypid, NULL), relid::regclass, attname,
                                         format_type(coltype, NULL), round(used::numeric * 100, 1))
                             ELSE format('fullest: %s (%s) at %s%% of its range', seqrelid::regclass,
                                         format_type(seqtypid, NULL), round(used::numeric * 100, 1)) END
                   FROM worst),
                'no used sequence'),
       NULL,
       (SELECT CASE
                 WHEN column_limits
                 THEN format('ALTER TABLE %s ALTER COLUMN %I TYPE bigint%s before the column overflows (the '
                             'rewrite locks the table: plan it, or add a bigint column and backfill it).',
                             relid::regclass, attname,
                             CASE WHEN seqtypid <> 'int8'::regtype
                                  THEN format(', and ALTER SEQUENCE %s AS bigint', seqrelid::regclass) ELSE '' END)
                 WHEN seqtypid <> 'int8'::regtype
                 THEN format('ALTER SEQUENCE %s AS bigint%s before the sequence runs out.', seqrelid::regclass,
                             CASE WHEN coltype IS NOT NULL AND coltype <> 'int8'::regtype
                                  THEN format(', and ALTER TABLE %s ALTER COLUMN %I TYPE bigint', relid::regclass, attname)
                                  ELSE '' END)
                 WHEN (seqincrement > 0 AND seqmax < 9223372036854775807) OR (seqincrement < 0 AND seqmin > -9223372036854775808)
                 THEN format('ALTER SEQUENCE %s %s: its limit is below bigint''s.', seqrelid::regclass,
                             CASE WHEN seqincrement > 0 THEN 'NO MAXVALUE' ELSE 'NO MINVALUE' END)
                 ELSE format('%s is a bigint sequence near the end of bigint''s range: restart it below the values '
                             'in use (ALTER SEQUENCE ... RESTART) or give the column a new key.', seqrelid::regclass) END
          FROM worst),
       (SELECT n FROM hidden), (SELECT schemas FROM hidden))sql",
     "Widen the sequence and the column it feeds to bigint before either runs out.", Blind::Sequences},

    {"invalid_constraints", Kind::Count, false, 0, 10, "constraints added NOT VALID and never validated",
     R"sql(
WITH k AS (
  SELECT k.oid, k.conname, k.conrelid, k.contypid,
         CASE k.contype WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' ELSE k.contype::text END AS kind,
         CASE WHEN k.conrelid <> 0 THEN k.conrelid::regclass::text ELSE 'domain ' || k.contypid::regtype::text END AS owner
    FROM pg_constraint k WHERE NOT k.convalidated)
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'every constraint is validated'
            ELSE format('not validated: %s', string_agg(format('%s %I on %s', kind, conname, owner), ', '
                                                        ORDER BY owner, conname)) END,
       NULL,
       (SELECT format('%s VALIDATE CONSTRAINT %I (it takes only a SHARE UPDATE EXCLUSIVE lock: writes go on); '
                      'fix or delete the rows it rejects first. Until then old rows may break it and the '
                      'planner cannot rely on it.',
                      CASE WHEN conrelid <> 0 THEN 'ALTER TABLE ' || conrelid::regclass::text
                           ELSE 'ALTER DOMAIN ' || contypid::regtype::text END, conname)
          FROM k ORDER BY owner, conname LIMIT 1)
  FROM k)sql",
     "ALTER TABLE ... VALIDATE CONSTRAINT (or ALTER DOMAIN ... VALIDATE CONSTRAINT) after fixing the "
     "rows it rejects."},

    {"disabled_triggers", Kind::Count, false, 0, 10,
     "disabled triggers, and constraints whose enforcing triggers are disabled",
     R"sql(
WITH d AS (
  -- a user trigger one by one; a constraint's internal triggers (a foreign key's) once per table
  SELECT DISTINCT t.tgrelid, CASE WHEN t.tgisinternal THEN NULL ELSE t.tgname END AS tgname,
         CASE WHEN t.tgisinternal THEN t.tgconstraint END AS constraint_oid
    FROM pg_trigger t WHERE t.tgenabled = 'D'),
items AS (
  SELECT d.tgrelid,
         CASE WHEN d.tgname IS NOT NULL THEN format('trigger %I on %s', d.tgname, d.tgrelid::regclass)
              ELSE format('%s %I of %s, not enforced: its triggers on %s are disabled',
                          CASE k.contype WHEN 'f' THEN 'foreign key' ELSE 'constraint' END,
                          k.conname, k.conrelid::regclass, d.tgrelid::regclass) END AS item,
         CASE WHEN d.tgname IS NOT NULL THEN quote_ident(d.tgname) ELSE 'ALL' END AS to_enable
    FROM d LEFT JOIN pg_constraint k ON k.oid = d.constraint_oid)
SELECT count(*)::float8,
       CASE WHEN count(*) = 0 THEN 'no trigger is disabled'
            ELSE format('disabled: %s', string_agg(item, ', ' ORDER BY item)) END,
       NULL,
       (SELECT format('ALTER TABLE %s ENABLE TRIGGER %s, if it was disabled by mistake (a bulk load that '
                      'failed halfway, say); rows written meanwhile were not checked by it.',
                      tgrelid::regclass, to_enable)
          FROM items ORDER BY item LIMIT 1)
  FROM items)sql",
     "ALTER TABLE ... ENABLE TRIGGER; rows written while it was disabled were not checked by it."},

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

    {"checksum_failures", Kind::Count, false, 0, 0,
     "data-page checksum failures in this database (and shared catalogs) since statistics reset",
     R"sql(
SELECT CASE WHEN current_setting('data_checksums')::bool THEN sum(coalesce(checksum_failures, 0))::float8 END,
       CASE WHEN NOT current_setting('data_checksums')::bool
            THEN 'data checksums are off: a corrupted page goes unnoticed until it breaks a query (enable them '
                 'with pg_checksums --enable on the stopped cluster; vigil.verify_indexes() checks btree indexes)'
            ELSE format('data checksums are on; %s checksum failure(s) in database %s and shared catalogs since %s%s',
                        sum(coalesce(checksum_failures, 0)), current_database(),
                        coalesce(min(stats_reset) FILTER (WHERE datid <> 0)::text, 'statistics were created'),
                        coalesce(', last at ' || max(checksum_last_failure)::text, '')) END
  FROM pg_stat_database WHERE datname = current_database() OR datid = 0)sql",
     "A page on disk is corrupted: find the relation in the server log (\"invalid page in block N of "
     "relation base/...\"), check the storage (kernel log, SMART), restore the data from a backup or a "
     "replica; then reset the counter with pg_stat_reset()."},

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
double g_dead_tuples_small_table_ratio = 0.5;
int g_unused_indexes_min_size_mb = 10;
int g_seq_scan_min_size_mb = 10;
int g_stale_statistics_min_rows = 1000;
int g_slow_statements_min_calls = 10;
int g_check_timeout_ms = 2000;
int g_check_lock_timeout_ms = 500;

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

/* Defines an int vigil.* setting of the health checks (any role may set it; no upper bound). */
void define_int_setting(const char *name, const char *desc, int *var, int boot, int min, int flags) {
    vigil::pg_call([&] {
        DefineCustomIntVariable(name, desc, nullptr, var, boot, min, INT_MAX, PGC_USERSET, flags, nullptr,
                                nullptr, nullptr);
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

void define_check_settings() {
    for (int i = 0; i < kCheckCount; i++) {
        define_threshold(i, false);
        define_threshold(i, true);
    }
    define_int_setting("vigil.dead_tuples_min_rows",
                       "Tables with fewer live plus dead rows are ignored by the dead_tuples check, unless "
                       "mostly dead (vigil.dead_tuples_small_table_ratio).",
                       &g_dead_tuples_min_rows, 10000, 0, 0);
    const char *small_table_ratio_desc =
        "Tables below vigil.dead_tuples_min_rows still count in the dead_tuples check once this fraction of "
        "their rows is dead (and more than autovacuum_vacuum_threshold rows).";
    vigil::pg_call([&] {
        DefineCustomRealVariable("vigil.dead_tuples_small_table_ratio", small_table_ratio_desc, nullptr,
                                 &g_dead_tuples_small_table_ratio, 0.5, 0.0, 1.0, PGC_USERSET, 0, nullptr,
                                 nullptr, nullptr);
    });
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
    define_int_setting("vigil.health_check_timeout", "Statement timeout of each health check (0 = none).",
                       &g_check_timeout_ms, 2000, 0, GUC_UNIT_MS);
    define_int_setting("vigil.health_check_lock_timeout",
                       "Lock timeout of the health checks and of vigil.verify_indexes (0 = none).",
                       &g_check_lock_timeout_ms, 500, 0, GUC_UNIT_MS);
}

int check_timeout_ms() {
    return g_check_timeout_ms;
}

int check_lock_timeout_ms() {
    return g_check_lock_timeout_ms;
}

} // namespace vigil::health
