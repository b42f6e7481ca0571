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

-- table_freeze_age: like xid_wraparound, a zero threshold stands in for an old relfrozenxid; the
-- worst table is named, and a per-table autovacuum_freeze_max_age (which only lowers the
-- server's) makes a table the worst.
CREATE TABLE hc_freeze (id int, note text) WITH (autovacuum_freeze_max_age = 100000);
INSERT INTO hc_freeze VALUES (1);
SELECT txid_current() IS NOT NULL AS consumed_an_xid;
SET vigil.table_freeze_age_warning = 0;
SELECT hc_status('table_freeze_age') AS provoked_warning,
       hc_mentions('table_freeze_age', 'autovacuum_freeze_max_age 100000') AS per_table_limit;
-- Its TOAST table has no options of its own, so it has the table's limit: freezing the table but
-- not its TOAST table leaves the TOAST table the worst, named with its table.
SELECT txid_current() IS NOT NULL AS consumed_an_xid;
VACUUM (FREEZE, PROCESS_TOAST false) hc_freeze;
SELECT regexp_replace(detail, 'pg_toast_\d+ (.*) age \d+, [0-9.]+ times', 'pg_toast_N \1 age N, N times') AS detail
  FROM vigil.health_check() WHERE check_name = 'table_freeze_age';
RESET vigil.table_freeze_age_warning;
SELECT hc_status('table_freeze_age') AS cleared;
DROP TABLE hc_freeze;

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

-- wal_receiver: a primary has no WAL receiver to watch and says so (a streaming standby, one whose
-- link is broken and one whose receiver the role cannot see are in test/integration/replication_test.cpp).
SELECT status, current_value IS NULL AS no_value, detail FROM vigil.health_check() WHERE check_name = 'wal_receiver';
SET vigil.wal_receiver_warning = 0;
SET vigil.wal_receiver_critical = 0;
SELECT hc_status('wal_receiver') AS primary_never_fires;
RESET vigil.wal_receiver_warning; RESET vigil.wal_receiver_critical;
SELECT name, setting, unit FROM pg_settings WHERE name LIKE 'vigil.wal_receiver_%' ORDER BY name;

-- archiving: with archive_mode off nothing is expected, and the detail says so (failures and a
-- stalled archive are in the integration tests, which run a cluster with archive_mode on).
SELECT hc_status('archiving') AS archive_mode_off, hc_mentions('archiving', 'archive_mode is off') AS says_so;

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

-- replication_slot_wal: with max_slot_wal_keep_size = -1 (the default) no slot can lose WAL, so
-- there is nothing to measure: ok, and the detail lists each slot with its wal_status (a slot
-- driven to unreserved and lost is in test/integration/replication_test.cpp).
SELECT hc_status('replication_slot_wal') AS no_slot, hc_mentions('replication_slot_wal', 'no replication slot') AS says_so;
SELECT 1 FROM pg_create_physical_replication_slot('hc_reserved_slot', true);
SELECT 1 FROM pg_create_physical_replication_slot('hc_unreserved_slot');
SELECT status, current_value IS NULL AS no_value, detail FROM vigil.health_check() WHERE check_name = 'replication_slot_wal';
SELECT threshold FROM vigil.health_check() WHERE check_name = 'replication_slot_wal';
SET vigil.replication_slot_wal_warning = '2GB';
SELECT current_setting('vigil.replication_slot_wal_warning') AS warning, hc_status('replication_slot_wal') AS still_ok_unmeasured;
RESET vigil.replication_slot_wal_warning;
SELECT pg_drop_replication_slot('hc_reserved_slot'), pg_drop_replication_slot('hc_unreserved_slot');
SELECT hc_status('replication_slot_wal') AS cleared;

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
-- Tables below vigil.dead_tuples_min_rows are ignored while a small part of them is dead ...
RESET vigil.dead_tuples_min_rows;
DELETE FROM hc_dead WHERE id <= 400;
SELECT pg_stat_force_next_flush();
SELECT hc_mentions('dead_tuples', 'hc_dead') AS small_table_named_at_14_percent;
-- ... but not once most of them is dead (here 86%): a small table cannot hide a problem.
DELETE FROM hc_dead WHERE id <= 900;
SELECT pg_stat_force_next_flush();
SELECT hc_status('dead_tuples') AS small_mostly_dead_critical,
       hc_mentions('dead_tuples', 'worst: hc_dead with 600 dead tuples (85.7%) of 700 rows') AS names_table;
SET vigil.dead_tuples_small_table_ratio = 0.9;
SELECT hc_mentions('dead_tuples', 'hc_dead') AS named_below_the_ratio;
RESET vigil.dead_tuples_small_table_ratio;
VACUUM hc_dead;
SELECT hc_mentions('dead_tuples', 'hc_dead') AS named_after_vacuum;
-- A tiny table, mostly dead but with fewer dead rows than autovacuum_vacuum_threshold (50), is noise.
CREATE TABLE hc_tiny (id int) WITH (autovacuum_enabled = false);
INSERT INTO hc_tiny SELECT g FROM generate_series(1, 40) g;
DELETE FROM hc_tiny WHERE id <= 30;
SELECT pg_stat_force_next_flush();
SELECT hc_mentions('dead_tuples', 'hc_tiny') AS tiny_table_named;
DROP TABLE hc_dead, hc_tiny;

-- autovacuum_queue: a table past its autovacuum trigger (50 + 0.2 * reltuples dead tuples) that
-- no vacuum works on; autovacuum is disabled for it, so no worker comes while the test runs.
-- Per-table settings move the trigger. VACUUM clears it.
CREATE TABLE hc_queue (id int) WITH (autovacuum_enabled = false);
INSERT INTO hc_queue SELECT g FROM generate_series(1, 1000) g;
ANALYZE hc_queue;
DELETE FROM hc_queue WHERE id <= 300;
SELECT pg_stat_force_next_flush();
SELECT hc_status('autovacuum_queue') AS default_threshold_ok,
       hc_mentions('autovacuum_queue', 'hc_queue with 300 dead tuples (trigger 250), autovacuum disabled for it') AS names_table;
SET vigil.autovacuum_queue_warning = 0;
SELECT hc_status('autovacuum_queue') AS provoked_warning;
ALTER TABLE hc_queue SET (autovacuum_vacuum_threshold = 100000);
SELECT hc_mentions('autovacuum_queue', 'hc_queue') AS named_with_a_higher_threshold;
ALTER TABLE hc_queue RESET (autovacuum_vacuum_threshold);
ALTER TABLE hc_queue SET (autovacuum_vacuum_scale_factor = 0.5);
SELECT hc_mentions('autovacuum_queue', 'hc_queue') AS named_with_a_higher_scale_factor;
ALTER TABLE hc_queue RESET (autovacuum_vacuum_scale_factor);
SELECT hc_mentions('autovacuum_queue', 'hc_queue') AS named_again;
VACUUM hc_queue;
SELECT hc_mentions('autovacuum_queue', 'hc_queue') AS named_after_vacuum;
RESET vigil.autovacuum_queue_warning;
DROP TABLE hc_queue;

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
-- A bigint sequence feeding an int column overflows the column first: its fraction is of the
-- column's range, and the fix is to widen the column, not the sequence (already bigint).
CREATE TABLE hc_feed (id int PRIMARY KEY);
CREATE SEQUENCE hc_feed_seq OWNED BY hc_feed.id;
ALTER TABLE hc_feed ALTER COLUMN id SET DEFAULT nextval('hc_feed_seq');
SELECT setval('hc_feed_seq', 2100000000) IS NOT NULL AS set;
SELECT status, current_value, detail, recommendation FROM vigil.health_check() WHERE check_name = 'sequences';
ALTER TABLE hc_feed ALTER COLUMN id TYPE bigint;
SELECT status, current_value FROM vigil.health_check() WHERE check_name = 'sequences';
-- The same through a nextval() default alone (no OWNED BY), into a smallint behind a domain.
CREATE DOMAIN hc_small AS smallint;
CREATE SEQUENCE hc_feed_small_seq;
CREATE TABLE hc_feed_small (n hc_small DEFAULT nextval('hc_feed_small_seq'));
SELECT setval('hc_feed_small_seq', 30000) IS NOT NULL AS set;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'sequences';
DROP TABLE hc_feed_small;
DROP SEQUENCE hc_feed_small_seq;
DROP DOMAIN hc_small;
-- A smallint sequence feeding an int column: widen both.
CREATE TABLE hc_feed_int (id smallserial, n int);
ALTER TABLE hc_feed_int ALTER COLUMN id TYPE int;
SELECT setval('hc_feed_int_id_seq', 32000) IS NOT NULL AS set;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'sequences';
-- A MAXVALUE below the type's limit.
DROP TABLE hc_feed_int;
CREATE SEQUENCE hc_seq_max MAXVALUE 1000;
SELECT setval('hc_seq_max', 990) IS NOT NULL AS set;
SELECT status, recommendation FROM vigil.health_check() WHERE check_name = 'sequences';
DROP SEQUENCE hc_seq_max;
DROP TABLE hc_feed;
SELECT hc_status('sequences') AS cleared;

-- invalid_constraints: a constraint added NOT VALID and never validated, on a table and on a
-- domain; VALIDATE CONSTRAINT clears it.
CREATE TABLE hc_nv (x int);
INSERT INTO hc_nv VALUES (-1), (1);
ALTER TABLE hc_nv ADD CONSTRAINT hc_nv_positive CHECK (x > 0) NOT VALID;
CREATE DOMAIN hc_nv_dom AS int;
ALTER DOMAIN hc_nv_dom ADD CONSTRAINT hc_nv_dom_small CHECK (VALUE < 10) NOT VALID;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'invalid_constraints';
DELETE FROM hc_nv WHERE x < 0;
ALTER TABLE hc_nv VALIDATE CONSTRAINT hc_nv_positive;
ALTER DOMAIN hc_nv_dom VALIDATE CONSTRAINT hc_nv_dom_small;
SELECT status, detail FROM vigil.health_check() WHERE check_name = 'invalid_constraints';
DROP TABLE hc_nv;
DROP DOMAIN hc_nv_dom;

-- disabled_triggers: a disabled trigger; DISABLE TRIGGER ALL, which stops enforcing a foreign key.
CREATE TABLE hc_tg_parent (id int PRIMARY KEY);
CREATE TABLE hc_tg (id int REFERENCES hc_tg_parent);
CREATE FUNCTION hc_tg_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER hc_tg_audit BEFORE INSERT ON hc_tg FOR EACH ROW EXECUTE FUNCTION hc_tg_noop();
ALTER TABLE hc_tg DISABLE TRIGGER hc_tg_audit;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'disabled_triggers';
ALTER TABLE hc_tg ENABLE TRIGGER hc_tg_audit;
SELECT status FROM vigil.health_check() WHERE check_name = 'disabled_triggers';
ALTER TABLE hc_tg DISABLE TRIGGER ALL;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'disabled_triggers';
ALTER TABLE hc_tg ENABLE TRIGGER ALL;
SELECT status, detail FROM vigil.health_check() WHERE check_name = 'disabled_triggers';
DROP TABLE hc_tg, hc_tg_parent;
DROP FUNCTION hc_tg_noop();

-- checksum_failures: the test instance has no data checksums, which the detail says (failures
-- on a cluster with checksums are in the integration tests).
SELECT status, current_value, detail LIKE 'data checksums are off%' AS says_off
  FROM vigil.health_check() WHERE check_name = 'checksum_failures';

-- vigil.verify_indexes: amcheck's bt_index_check on every btree index within a time budget
-- (finding a corrupted index is in the integration tests, which corrupt one on a stopped cluster).
DROP EXTENSION IF EXISTS amcheck;
\set VERBOSITY default
SELECT * FROM vigil.verify_indexes('1 min');
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION amcheck;
CREATE TABLE hc_verify (id int PRIMARY KEY, v text);
INSERT INTO hc_verify SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
CREATE INDEX hc_verify_v ON hc_verify (v);
SELECT index, status, regexp_replace(detail, '\d+ ms', 'N ms') AS detail
  FROM vigil.verify_indexes('1 min') WHERE index::text LIKE 'hc_verify%' ORDER BY 1::text;
SELECT count(*) > 100 AS catalogs_too, bool_and(status = 'ok') AS all_ok FROM vigil.verify_indexes();
-- User indexes come first; what the budget does not reach is skipped, and says so.
SELECT (array_agg(index ORDER BY ord))[1:2] AS first FROM vigil.verify_indexes() WITH ORDINALITY AS v(index, status, detail, ord)
 WHERE index::text LIKE 'hc_verify%';
SELECT status, detail, count(*) > 100 AS every_index FROM vigil.verify_indexes('0') GROUP BY 1, 2;
-- An invalid index is not checked (bt_index_check cannot), and says why.
INSERT INTO hc_verify VALUES (1001, 'x'), (1002, 'x');
CREATE UNIQUE INDEX CONCURRENTLY hc_verify_v_unique ON hc_verify (v);
SELECT index, status, detail FROM vigil.verify_indexes() WHERE index = 'hc_verify_v_unique'::regclass;
DROP INDEX hc_verify_v_unique;
-- An index it cannot lock in time is skipped, not waited for.
BEGIN; LOCK TABLE hc_verify IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'hc_verify_lock';
SET vigil.health_check_lock_timeout = '50ms';
SELECT index, status, detail FROM vigil.verify_indexes() WHERE index::text LIKE 'hc_verify%' ORDER BY 1::text;
RESET vigil.health_check_lock_timeout;
ROLLBACK PREPARED 'hc_verify_lock';
-- Arguments: a negative budget is an error; NULL returns nothing.
SELECT * FROM vigil.verify_indexes('-1 s');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS null_budget FROM vigil.verify_indexes(NULL);
-- A role without EXECUTE on bt_index_check (amcheck grants it to no one) is told what to grant.
CREATE ROLE hc_verifier;
GRANT USAGE ON SCHEMA vigil TO hc_verifier;
SET ROLE hc_verifier;
\set VERBOSITY default
SELECT * FROM vigil.verify_indexes();
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION bt_index_check(regclass) TO hc_verifier;
SET ROLE hc_verifier;
SELECT index, status FROM vigil.verify_indexes() WHERE index::text LIKE 'hc_verify%' ORDER BY 1::text;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION bt_index_check(regclass) FROM hc_verifier;
REVOKE USAGE ON SCHEMA vigil FROM hc_verifier;
DROP ROLE hc_verifier;
DROP TABLE hc_verify;
DROP EXTENSION amcheck;

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
