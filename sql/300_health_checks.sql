-- vigil.health_check() and vigil.health_summary(): every check with a condition that
-- provokes it and one that clears it. Checks that need a second session (idle in
-- transaction, lock waits, long queries, deadlocks) are in test/isolation/specs/health_checks_*.
-- The regression database is shared with other tests, so count-based checks are asserted
-- through their detail naming (or no longer naming) this file's objects.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE FUNCTION hc_status(name text) RETURNS text LANGUAGE sql AS
$$ SELECT status FROM vigil.health_check() WHERE check_name = name $$;
CREATE FUNCTION hc_mentions(name text, needle text) RETURNS boolean LANGUAGE sql AS
$$ SELECT detail LIKE '%' || needle || '%' FROM vigil.health_check() WHERE check_name = name $$;

-- Shape: one row per check, a valid status, severity in Nagios order, attention order.
SELECT count(*) AS checks, count(DISTINCT check_name) AS distinct_names FROM vigil.health_check();
SELECT check_name FROM vigil.health_check() ORDER BY check_name;
SELECT bool_and(severity = CASE status WHEN 'ok' THEN 0 WHEN 'warning' THEN 1
                                       WHEN 'critical' THEN 2 WHEN 'unknown' THEN 3 END) AS severity_matches,
       bool_and(threshold LIKE 'warning % critical %') AS thresholds_shown,
       bool_and((status = 'ok') = (recommendation IS NULL)) AS recommendation_when_not_ok
  FROM vigil.health_check();
SELECT bool_and(rank >= prev) AS attention_order
  FROM (SELECT rank, lag(rank, 1, 0) OVER (ORDER BY ord) AS prev
          FROM (SELECT ord, CASE status WHEN 'critical' THEN 0 WHEN 'warning' THEN 1
                                        WHEN 'unknown' THEN 2 ELSE 3 END AS rank
                  FROM vigil.health_check() WITH ORDINALITY AS h(c, s, sev, v, t, d, r, ord)
                  CROSS JOIN LATERAL (SELECT h.s AS status) x) a) b;

-- The summary counts what health_check reports and the worst status wins.
SELECT s.critical + s.warning + s.ok + s.unknown AS total,
       s.critical = c.critical AND s.warning = c.warning AND s.ok = c.ok AND s.unknown = c.unknown AS counts_match
  FROM vigil.health_summary() s,
       (SELECT count(*) FILTER (WHERE status = 'critical') AS critical,
               count(*) FILTER (WHERE status = 'warning') AS warning,
               count(*) FILTER (WHERE status = 'ok') AS ok,
               count(*) FILTER (WHERE status = 'unknown') AS unknown FROM vigil.health_check()) c;
SET vigil.connections_warning = 0.0001;
SET vigil.connections_critical = 0.0001;
SELECT status, exit_code, critical >= 1 AS counted FROM vigil.health_summary();
RESET vigil.connections_critical;
SELECT status IN ('warning', 'critical') AS warning_or_worse, exit_code IN (1, 2) AS exit_1_or_2,
       warning >= 1 AS counted FROM vigil.health_summary();
RESET vigil.connections_warning;

-- Thresholds are GUCs: durations take time units, ratios are fractions, sizes memory units.
SET vigil.idle_in_transaction_warning = '2min';
SELECT current_setting('vigil.idle_in_transaction_warning') AS idle_warning,
       (SELECT threshold FROM vigil.health_check() WHERE check_name = 'idle_in_transaction') AS shown;
RESET vigil.idle_in_transaction_warning;
SET vigil.cache_hit_ratio_warning = 1.5;
SET vigil.temp_files_warning = '2GB';
SELECT current_setting('vigil.temp_files_warning') AS temp_files_warning;
RESET vigil.temp_files_warning;
SET vigil.connections_critical = -0.1;
SELECT name, setting, unit, boot_val FROM pg_settings
 WHERE name IN ('vigil.connections_warning', 'vigil.idle_in_transaction_critical',
                'vigil.inactive_replication_slots_critical', 'vigil.health_check_timeout')
 ORDER BY name;

SELECT short_desc FROM pg_settings WHERE name IN ('vigil.connections_warning', 'vigil.dead_tuples_critical')
 ORDER BY name;

-- connections: provoked by thresholds below the current use.
SET vigil.connections_warning = 0.0001;
SELECT hc_status('connections') AS provoked_warning;
SET vigil.connections_critical = 0.0001;
SELECT hc_status('connections') AS provoked_critical;
RESET vigil.connections_warning; RESET vigil.connections_critical;
SELECT hc_status('connections') AS cleared;

-- cache_hit_ratio: lower is worse. The database has read blocks from disk since it was
-- created, so its ratio is below 1: a threshold of 1 fires, a threshold of 0 cannot.
SET vigil.cache_hit_ratio_warning = 1;
SET vigil.cache_hit_ratio_critical = 1;
SELECT hc_status('cache_hit_ratio') AS provoked_critical;
SET vigil.cache_hit_ratio_warning = 0;
SET vigil.cache_hit_ratio_critical = 0;
SELECT hc_status('cache_hit_ratio') AS cleared;
RESET vigil.cache_hit_ratio_warning; RESET vigil.cache_hit_ratio_critical;

-- xid_wraparound: a test cannot consume 200 million transaction IDs; a zero threshold
-- stands in for an old datfrozenxid.
SET vigil.xid_wraparound_warning = 0;
SELECT hc_status('xid_wraparound') AS provoked_warning;
RESET vigil.xid_wraparound_warning;
SELECT hc_status('xid_wraparound') AS cleared;

-- multixact_wraparound and prepared_transactions: two prepared transactions share a row
-- lock, which creates a multixact; the prepared transactions then age.
CREATE TABLE hc_mx (id int PRIMARY KEY);
INSERT INTO hc_mx VALUES (1);
BEGIN; SELECT id FROM hc_mx WHERE id = 1 FOR SHARE; PREPARE TRANSACTION 'hc_mx_1';
BEGIN; SELECT id FROM hc_mx WHERE id = 1 FOR SHARE; PREPARE TRANSACTION 'hc_mx_2';
SELECT mxid_age(datminmxid) > 0 AS multixact_created FROM pg_database WHERE datname = current_database();
SET vigil.multixact_wraparound_warning = 0;
SELECT hc_status('multixact_wraparound') AS provoked_warning;
RESET vigil.multixact_wraparound_warning;
SELECT hc_status('multixact_wraparound') AS cleared;
SET vigil.prepared_transactions_warning = '50ms';
SELECT pg_sleep(0.1);
SELECT hc_status('prepared_transactions') AS provoked_warning, hc_mentions('prepared_transactions', 'hc_mx_1') AS names_oldest;
SET vigil.prepared_transactions_critical = '60ms';
SELECT hc_status('prepared_transactions') AS provoked_critical;
COMMIT PREPARED 'hc_mx_1';
COMMIT PREPARED 'hc_mx_2';
SELECT hc_status('prepared_transactions') AS cleared;
RESET vigil.prepared_transactions_warning; RESET vigil.prepared_transactions_critical;
DROP TABLE hc_mx;

-- replication_lag: a primary without standbys has no lag (the standby case is in the
-- integration tests, which run a real standby).
SELECT hc_status('replication_lag') AS no_standby, hc_mentions('replication_lag', 'no connected standby') AS says_so;

-- inactive_replication_slots: a slot that nobody consumes retains WAL.
SELECT 1 FROM pg_create_physical_replication_slot('hc_idle_slot', true);
CREATE TABLE hc_wal AS SELECT g FROM generate_series(1, 10000) g;
SELECT hc_status('inactive_replication_slots') AS provoked_warning,
       hc_mentions('inactive_replication_slots', 'hc_idle_slot') AS names_slot;
SET vigil.inactive_replication_slots_critical = 0;
SELECT hc_status('inactive_replication_slots') AS provoked_critical;
RESET vigil.inactive_replication_slots_critical;
SELECT pg_drop_replication_slot('hc_idle_slot');
SELECT hc_status('inactive_replication_slots') AS cleared;
DROP TABLE hc_wal;

-- dead_tuples: deleting 30% of a table leaves dead tuples until VACUUM.
SET vigil.dead_tuples_min_rows = 500;
CREATE TABLE hc_dead (id int) WITH (autovacuum_enabled = false);
INSERT INTO hc_dead SELECT g FROM generate_series(1, 1000) g;
DELETE FROM hc_dead WHERE id <= 300;
SELECT pg_stat_force_next_flush();
SELECT hc_status('dead_tuples') AS provoked_critical, hc_mentions('dead_tuples', 'hc_dead') AS names_table;
SET vigil.dead_tuples_critical = 0.5;
SELECT hc_status('dead_tuples') AS provoked_warning;
RESET vigil.dead_tuples_critical;
VACUUM hc_dead;
SELECT hc_mentions('dead_tuples', 'hc_dead') AS still_named_after_vacuum;
-- tiny tables are ignored
RESET vigil.dead_tuples_min_rows;
DELETE FROM hc_dead WHERE id <= 900;
SELECT pg_stat_force_next_flush();
SELECT hc_mentions('dead_tuples', 'hc_dead') AS tiny_table_named;
DROP TABLE hc_dead;

-- invalid_indexes: a failed CREATE UNIQUE INDEX CONCURRENTLY leaves an invalid index.
CREATE TABLE hc_inv (x int);
INSERT INTO hc_inv VALUES (1), (1);
CREATE UNIQUE INDEX CONCURRENTLY hc_inv_x ON hc_inv (x);
SELECT hc_status('invalid_indexes') AS provoked_warning, hc_mentions('invalid_indexes', 'hc_inv_x') AS names_index;
DROP INDEX hc_inv_x;
SELECT hc_mentions('invalid_indexes', 'hc_inv_x') AS named_after_drop;
DROP TABLE hc_inv;

-- unused_indexes: an index never scanned; scanning it clears it. Unique indexes never count.
SET vigil.unused_indexes_min_size = 0;
CREATE TABLE hc_unused (id int PRIMARY KEY, y int);
INSERT INTO hc_unused SELECT g, g % 100 FROM generate_series(1, 1000) g;
CREATE INDEX hc_unused_y ON hc_unused (y);
SELECT hc_status('unused_indexes') AS provoked_warning, hc_mentions('unused_indexes', 'hc_unused_y') AS names_index,
       hc_mentions('unused_indexes', 'hc_unused_pkey') AS names_primary_key;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) FROM hc_unused WHERE y = 5;
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT pg_stat_force_next_flush();
SELECT hc_mentions('unused_indexes', 'hc_unused_y') AS named_after_scan;
RESET vigil.unused_indexes_min_size;
DROP TABLE hc_unused;

-- duplicate_indexes: an exact duplicate and a btree prefix are redundant; a unique index,
-- another predicate or another access method is not.
CREATE TABLE hc_dup (a int, b int, c text);
CREATE INDEX hc_dup_a ON hc_dup (a);
CREATE INDEX hc_dup_ab ON hc_dup (a, b);
CREATE INDEX hc_dup_ab_again ON hc_dup (a, b);
CREATE UNIQUE INDEX hc_dup_b_unique ON hc_dup (b);
CREATE INDEX hc_dup_bc ON hc_dup (b, c);
CREATE INDEX hc_dup_a_partial ON hc_dup (a) WHERE b > 0;
CREATE INDEX hc_dup_c_hash ON hc_dup USING hash (c);
CREATE INDEX hc_dup_c ON hc_dup (c);
SELECT hc_status('duplicate_indexes') AS provoked_warning;
SELECT detail FROM vigil.health_check() WHERE check_name = 'duplicate_indexes';
DROP INDEX hc_dup_a, hc_dup_ab_again;
SELECT hc_mentions('duplicate_indexes', 'hc_dup') AS named_after_drop;
DROP TABLE hc_dup;

-- unindexed_foreign_keys: a foreign key without an index on its columns; an index whose
-- leading columns are the key's (in any order) clears it.
CREATE TABLE hc_parent (a int, b int, PRIMARY KEY (a, b));
CREATE TABLE hc_child (id int, b int, a int, FOREIGN KEY (a, b) REFERENCES hc_parent);
SELECT hc_status('unindexed_foreign_keys') AS provoked_warning,
       hc_mentions('unindexed_foreign_keys', 'hc_child') AS names_table;
CREATE INDEX hc_child_a ON hc_child (a);
SELECT hc_mentions('unindexed_foreign_keys', 'hc_child') AS named_with_partial_cover;
CREATE INDEX hc_child_ba ON hc_child (b, a, id);
SELECT hc_mentions('unindexed_foreign_keys', 'hc_child') AS named_when_covered;
DROP TABLE hc_child, hc_parent;

-- missing_indexes: a table read by sequential scans; index scans clear it.
SET vigil.seq_scan_min_size = 0;
CREATE TABLE hc_seq (id int, v int);
INSERT INTO hc_seq SELECT g, g FROM generate_series(1, 2000) g;
SELECT count(*) FROM hc_seq WHERE v = 7;
SELECT count(*) FROM hc_seq WHERE v = 8;
SELECT pg_stat_force_next_flush();
SELECT hc_status('missing_indexes') AS provoked_warning, hc_mentions('missing_indexes', 'hc_seq') AS names_table;
CREATE INDEX hc_seq_v ON hc_seq (v);
SET enable_seqscan = off;
SELECT count(*) FROM hc_seq WHERE v = 1;
SELECT count(*) FROM hc_seq WHERE v = 2;
SELECT count(*) FROM hc_seq WHERE v = 3;
RESET enable_seqscan;
SELECT pg_stat_force_next_flush();
SELECT hc_mentions('missing_indexes', 'hc_seq') AS named_after_index_scans;
RESET vigil.seq_scan_min_size;
DROP TABLE hc_seq;

-- sequences: a smallint sequence near its maximum, in both directions.
CREATE SEQUENCE hc_seq_up AS smallint;
SELECT setval('hc_seq_up', 25000) IS NOT NULL AS set;
SELECT hc_status('sequences') AS provoked_warning, hc_mentions('sequences', 'hc_seq_up') AS names_sequence;
SELECT setval('hc_seq_up', 32000) IS NOT NULL AS set;
SELECT hc_status('sequences') AS provoked_critical;
ALTER SEQUENCE hc_seq_up AS int;
SELECT hc_status('sequences') AS cleared_by_widening;
CREATE SEQUENCE hc_seq_down AS smallint INCREMENT BY -1;
SELECT setval('hc_seq_down', -32000) IS NOT NULL AS set;
SELECT hc_status('sequences') AS descending_critical, hc_mentions('sequences', 'hc_seq_down') AS names_sequence;
DROP SEQUENCE hc_seq_up, hc_seq_down;
SELECT hc_status('sequences') AS cleared;

-- vigil.sequence_last_value, which the sequences check reads every sequence with: the same value
-- as pg_sequence_last_value for every kind of sequence, NULL where that one errors or has none.
CREATE SEQUENCE hc_lv;
CREATE UNLOGGED SEQUENCE hc_lv_unlogged;
CREATE TEMP SEQUENCE hc_lv_temp;
SELECT vigil.sequence_last_value('hc_lv') AS never_called, pg_sequence_last_value('hc_lv') AS builtin;
SELECT nextval('hc_lv'), nextval('hc_lv'), nextval('hc_lv_unlogged'), nextval('hc_lv_temp'), nextval('hc_lv_temp');
SELECT vigil.sequence_last_value(s) AS vigil, pg_sequence_last_value(s) AS builtin
  FROM unnest(ARRAY['hc_lv', 'hc_lv_unlogged', 'hc_lv_temp']::regclass[]) s;
-- ALTER SEQUENCE ... RESTART gives the sequence new storage: the new value is read.
ALTER SEQUENCE hc_lv RESTART WITH 500;
SELECT vigil.sequence_last_value('hc_lv') AS after_restart_uncalled;
SELECT nextval('hc_lv');
SELECT vigil.sequence_last_value('hc_lv') AS after_restart;
-- Inside a transaction that changed it, and after a rollback (sequences are not transactional).
BEGIN;
SELECT setval('hc_lv', 77);
SELECT vigil.sequence_last_value('hc_lv') AS in_transaction;
ROLLBACK;
SELECT vigil.sequence_last_value('hc_lv') AS after_rollback;
-- A role without SELECT or USAGE gets NULL, not an error; USAGE alone is enough.
CREATE ROLE hc_lv_reader;
GRANT USAGE ON SCHEMA vigil TO hc_lv_reader;
SET ROLE hc_lv_reader;
SELECT vigil.sequence_last_value('hc_lv') AS no_privilege;
RESET ROLE;
GRANT USAGE ON SEQUENCE hc_lv TO hc_lv_reader;
SET ROLE hc_lv_reader;
SELECT vigil.sequence_last_value('hc_lv') AS with_usage;
RESET ROLE;
REVOKE ALL ON SEQUENCE hc_lv FROM hc_lv_reader;
REVOKE USAGE ON SCHEMA vigil FROM hc_lv_reader;
DROP ROLE hc_lv_reader;
-- Not a sequence: an error naming it. No such relation (dropped meanwhile): NULL. NULL in, NULL out.
SELECT vigil.sequence_last_value('pg_class');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.sequence_last_value(4294967295::oid::regclass) AS no_such_relation;
SELECT vigil.sequence_last_value(NULL) IS NULL AS null_in;
-- Each reading releases its lock at once: none is left behind in this transaction.
BEGIN;
SELECT vigil.sequence_last_value('hc_lv') > 0 AS read;
SELECT count(*) AS sequence_locks_held FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND c.relkind = 'S';
COMMIT;
DROP SEQUENCE hc_lv, hc_lv_unlogged, hc_lv_temp;

-- stale_statistics and autovacuum_disabled: a table with autovacuum off that was never
-- analyzed after 2000 inserts.
SET vigil.stale_statistics_min_rows = 100;
CREATE TABLE hc_stale (id int) WITH (autovacuum_enabled = off);
INSERT INTO hc_stale SELECT g FROM generate_series(1, 2000) g;
SELECT pg_stat_force_next_flush();
SELECT hc_status('stale_statistics') AS provoked_warning, hc_mentions('stale_statistics', 'hc_stale') AS names_table;
SELECT hc_status('autovacuum_disabled') AS provoked_warning, hc_mentions('autovacuum_disabled', 'hc_stale') AS names_table;
ANALYZE hc_stale;
SELECT hc_mentions('stale_statistics', 'hc_stale') AS named_after_analyze;
ALTER TABLE hc_stale RESET (autovacuum_enabled);
SELECT hc_mentions('autovacuum_disabled', 'hc_stale') AS named_after_reset;
RESET vigil.stale_statistics_min_rows;
DROP TABLE hc_stale;

-- temp_files: a sort larger than work_mem spills to disk.
SELECT pg_stat_reset();
SET vigil.temp_files_warning = 0;
SELECT hc_status('temp_files') AS before_spill;
SET work_mem = '64kB';
SELECT count(*) FROM (SELECT g FROM generate_series(1, 100000) g ORDER BY g DESC) s;
RESET work_mem;
SELECT pg_stat_force_next_flush();
SELECT hc_status('temp_files') AS provoked_warning;
SELECT pg_stat_reset();
SELECT hc_status('temp_files') AS cleared_by_reset;
RESET vigil.temp_files_warning;

-- forced_checkpoints: CHECKPOINT is a requested checkpoint. The checkpointer reports its
-- statistics just after the command returns, so wait for them.
SELECT pg_stat_reset_shared('bgwriter');
SELECT hc_status('forced_checkpoints') AS after_reset;
CHECKPOINT;
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN (SELECT checkpoints_req FROM pg_stat_bgwriter) > 0;
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT hc_status('forced_checkpoints') AS provoked_critical;
SELECT pg_stat_reset_shared('bgwriter');
SELECT hc_status('forced_checkpoints') AS cleared_by_reset;

-- slow_statements: unknown without pg_stat_statements; then a slow statement fires it.
DROP EXTENSION IF EXISTS pg_stat_statements;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'slow_statements';
CREATE EXTENSION pg_stat_statements;
SELECT pg_stat_statements_reset() IS NOT NULL AS reset;
SET vigil.slow_statements_min_calls = 1;
SELECT pg_sleep(0.15);
SELECT hc_status('slow_statements') AS provoked_warning, hc_mentions('slow_statements', 'pg_sleep') AS names_statement;
SET vigil.slow_statements_min_calls = 2;
SELECT hc_status('slow_statements') AS ignored_below_min_calls;
SELECT pg_stat_statements_reset() IS NOT NULL AS reset;
SET vigil.slow_statements_min_calls = 1;
SELECT hc_status('slow_statements') AS cleared_by_reset;
RESET vigil.slow_statements_min_calls;

-- Isolation: a check that cannot get its lock becomes unknown after
-- vigil.health_check_lock_timeout; the others still run. A prepared transaction holds the lock.
BEGIN; LOCK TABLE pg_stat_statements IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'hc_lock';
SET vigil.health_check_lock_timeout = '100ms';
SELECT check_name, status, detail FROM vigil.health_check() WHERE status = 'unknown';
SELECT count(*) AS other_checks_ran FROM vigil.health_check() WHERE status <> 'unknown';
-- With no lock timeout, the per-check statement timeout ends the wait instead.
SET vigil.health_check_lock_timeout = 0;
SET vigil.health_check_timeout = '200ms';
SELECT check_name, status, detail FROM vigil.health_check() WHERE status = 'unknown';
-- The caller's own statement_timeout is not swallowed: the call fails as a whole.
SET vigil.health_check_timeout = '5s';
BEGIN;
SET LOCAL statement_timeout = '300ms';
SELECT count(*) FROM vigil.health_check();
ROLLBACK;
-- ... and so is a cancel, seen as the same SQLSTATE.
\echo :LAST_ERROR_SQLSTATE
ROLLBACK PREPARED 'hc_lock';
RESET vigil.health_check_lock_timeout; RESET vigil.health_check_timeout;
SELECT count(*) AS unknown_after_release FROM vigil.health_check() WHERE status = 'unknown';
-- lock_timeout is restored after the call
SELECT current_setting('lock_timeout') AS lock_timeout_after;

-- Works inside a read-only transaction (as on a hot standby) and needs only pg_monitor.
BEGIN TRANSACTION READ ONLY;
SELECT count(*) AS checks_read_only FROM vigil.health_check();
COMMIT;
CREATE ROLE hc_monitor LOGIN;
GRANT pg_monitor TO hc_monitor;
GRANT USAGE ON SCHEMA vigil TO hc_monitor;
SET ROLE hc_monitor;
SELECT count(*) AS checks, count(*) FILTER (WHERE status = 'unknown') AS unknown FROM vigil.health_check();
RESET ROLE;
REVOKE USAGE ON SCHEMA vigil FROM hc_monitor;
DROP ROLE hc_monitor;
DROP EXTENSION pg_stat_statements;
DROP FUNCTION hc_status(text), hc_mentions(text, text);
