-- Bloat: exact measurement equals pgstattuple, sampling stays close, estimates say when they
-- cannot be trusted, and bad input is refused with a clear error.
\set VERBOSITY default
CREATE EXTENSION pgstattuple;

-- 3,000 rows, every third updated without vacuum: a third of the versions are dead.
CREATE TABLE bloat_accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL)
    WITH (autovacuum_enabled = off);
INSERT INTO bloat_accounts SELECT g, 'owner-' || g, g * 10 FROM generate_series(1, 3000) g;
UPDATE bloat_accounts SET balance = balance + 1 WHERE id % 3 = 0;
-- pgstattuple's scan may prune pages (a measurement by vigil never does): let it go first.
SELECT tuple_count, dead_tuple_count FROM pgstattuple('bloat_accounts');

-- Exact mode: the same live, dead and free bytes as pgstattuple, to the byte.
SELECT m.method, m.scanned_pages = m.table_bytes / 8192 AS read_every_page,
       m.table_bytes = p.table_len AS same_size,
       m.live_tuples = p.tuple_count AS same_live_count,
       m.dead_tuples = p.dead_tuple_count AS same_dead_count,
       m.live_bytes = p.tuple_len AS same_live_bytes,
       m.dead_bytes = p.dead_tuple_len AS same_dead_bytes,
       m.free_bytes = p.free_space AS same_free_bytes,
       abs(m.bloat_ratio - (1 - p.tuple_percent / 100)) < 0.0001 AS ratio_is_100_minus_tuple_percent
  FROM vigil.measure_bloat('bloat_accounts') m, pgstattuple('bloat_accounts') p;
SELECT live_tuples, dead_tuples FROM vigil.measure_bloat('bloat_accounts');

-- Sampled mode reads only the pages asked for and scales up. In a table whose pages all
-- look alike (every other row deleted and vacuumed) any sample gives nearly the exact ratio.
CREATE TABLE bloat_even WITH (autovacuum_enabled = off) AS
    SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
DELETE FROM bloat_even WHERE id % 2 = 0;
VACUUM bloat_even;
SELECT s.method, s.scanned_pages, s.table_bytes = e.table_bytes AS same_size,
       abs(s.bloat_ratio - e.bloat_ratio) < 0.02 AS within_2_points,
       abs(s.live_tuples - e.live_tuples) < e.live_tuples * 0.05 AS live_count_close
  FROM vigil.measure_bloat('bloat_even', 20) s, vigil.measure_bloat('bloat_even') e;
-- Sampling an uneven table still reads exactly the pages asked for.
SELECT method, scanned_pages FROM vigil.measure_bloat('bloat_accounts', 10);
-- Asking for at least every page is an exact scan.
SELECT method, scanned_pages = table_bytes / 8192 AS read_every_page
  FROM vigil.measure_bloat('bloat_accounts', 1000000);

-- VACUUM turns the dead versions into free space; exact still matches pgstattuple.
VACUUM bloat_accounts;
SELECT m.dead_tuples, m.live_bytes = p.tuple_len AND m.dead_bytes = p.dead_tuple_len
           AND m.free_bytes = p.free_space AS same_as_pgstattuple
  FROM vigil.measure_bloat('bloat_accounts') m, pgstattuple('bloat_accounts') p;

-- An empty table and a materialized view.
CREATE TABLE bloat_empty (id int);
SELECT * FROM vigil.measure_bloat('bloat_empty');
CREATE MATERIALIZED VIEW bloat_mv AS SELECT id FROM bloat_accounts;
SELECT live_tuples, dead_tuples, method FROM vigil.measure_bloat('bloat_mv');

-- Btree indexes: the leaf scan counts what pgstattuple counts.
SELECT m.live_items = p.tuple_count AND m.dead_items = p.dead_tuple_count
           AND m.live_bytes = p.tuple_len AND m.dead_bytes = p.dead_tuple_len
           AND m.free_bytes = p.free_space AND m.index_bytes = p.table_len AS same_as_pgstattuple,
       m.leaf_pages >= 1 AS has_leaves, m.method
  FROM vigil.measure_index_bloat('bloat_accounts_pkey') m, pgstattuple('bloat_accounts_pkey') p;
-- A sample of two reads two pages, and one more when a slice's random page is the root.
SELECT method, scanned_pages IN (2, 3) AS read_the_sample, leaf_pages > 0 AS measured_leaves
  FROM vigil.measure_index_bloat('bloat_accounts_pkey', 2);

-- A sample measures a btree's leaf level only: the metapage and inner pages hold no entries,
-- and a ratio taken from one would call the whole index bloat. A slice whose random page is
-- an inner page reads on to its next leaf-level page. Many runs, so that every page is picked.
-- A metapage and one root leaf: a sample of its one page is the exact scan.
CREATE TABLE bloat_tiny (id int PRIMARY KEY) WITH (autovacuum_enabled = off);
INSERT INTO bloat_tiny SELECT generate_series(1, 100);
SELECT pg_relation_size('bloat_tiny_pkey') / 8192 AS pages;
SELECT count(*) AS runs,
       bool_and(m.method = 'exact' AND m.leaf_pages = 1 AND m.bloat_ratio = e.bloat_ratio) AS every_run_exact
  FROM generate_series(1, 50) g
 CROSS JOIN LATERAL vigil.measure_index_bloat('bloat_tiny_pkey', 1 + 0 * g) m,
       vigil.measure_index_bloat('bloat_tiny_pkey') e;
-- A metapage, a root and three leaves.
CREATE TABLE bloat_small (id int PRIMARY KEY) WITH (autovacuum_enabled = off);
INSERT INTO bloat_small SELECT generate_series(1, 1000);
SELECT pg_relation_size('bloat_small_pkey') / 8192 AS pages, leaf_pages, round(bloat_ratio::numeric, 3) AS exact_ratio
  FROM vigil.measure_index_bloat('bloat_small_pkey');
SELECT n AS sample_pages, count(*) AS runs, bool_and(m.method = 'sampled') AS sampled,
       bool_and(m.leaf_pages > 0 AND m.live_items > 0) AS measured_a_leaf,
       bool_and(m.bloat_ratio < 1) AS never_all_bloat,
       bool_and(abs(m.bloat_ratio - e.bloat_ratio) < 0.1) AS within_10_points
  FROM generate_series(1, 2) n
 CROSS JOIN generate_series(1, 200) g
 CROSS JOIN LATERAL vigil.measure_index_bloat('bloat_small_pkey', n + 0 * g) m,
       vigil.measure_index_bloat('bloat_small_pkey') e
 GROUP BY n ORDER BY n;

-- Estimates: ANALYZE gives statistics; the estimate lands near the measured ratio.
ANALYZE bloat_accounts;
SELECT e.estimate_quality, e.live_tuples,
       abs(e.bloat_ratio - m.bloat_ratio) < 0.10 AS within_10_points,
       e.expected_bytes + e.bloat_bytes = e.real_bytes AS parts_add_up,
       e.reclaimable_bytes BETWEEN 0 AND e.real_bytes AS reclaimable_in_range,
       e.last_analyze IS NOT NULL AS analyzed
  FROM vigil.table_bloat e, vigil.measure_bloat('bloat_accounts') m
 WHERE e.schema_name = 'public' AND e.table_name = 'bloat_accounts';
SELECT i.estimate_quality, abs(i.bloat_ratio - m.bloat_ratio) < 0.15 AS near_measured
  FROM vigil.index_bloat i, vigil.measure_index_bloat('bloat_accounts_pkey') m
 WHERE i.index_name = 'bloat_accounts_pkey';

-- The estimate says when it cannot be trusted, and then prints no number.
CREATE TABLE bloat_unanalyzed WITH (autovacuum_enabled = off) AS
    SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g;
ALTER TABLE bloat_accounts ADD COLUMN note text;
SELECT table_name, estimate_quality, bloat_ratio IS NULL AS no_ratio, expected_bytes IS NULL AS no_expected
  FROM vigil.table_bloat
 WHERE table_name IN ('bloat_accounts', 'bloat_unanalyzed', 'bloat_empty')
 ORDER BY table_name;
-- A low-cardinality index is packed by deduplication: flagged, not guessed.
CREATE INDEX bloat_owner_kind ON bloat_accounts ((id % 3));
ANALYZE bloat_accounts;
SELECT index_name, estimate_quality FROM vigil.index_bloat
 WHERE table_name = 'bloat_accounts' ORDER BY index_name;

-- Bad input.
SELECT * FROM vigil.measure_bloat('bloat_accounts_pkey');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW bloat_view AS SELECT 1 AS x;
SELECT * FROM vigil.measure_bloat('bloat_view');
\echo :LAST_ERROR_SQLSTATE
CREATE SEQUENCE bloat_seq;
SELECT * FROM vigil.measure_bloat('bloat_seq');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE bloat_parted (id int) PARTITION BY RANGE (id);
SELECT * FROM vigil.measure_bloat('bloat_parted');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_bloat('bloat_accounts', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_bloat('no_such_table');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_index_bloat('bloat_accounts');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_index_bloat('bloat_accounts_pkey', -5);
\echo :LAST_ERROR_SQLSTATE
CREATE INDEX bloat_hash ON bloat_accounts USING hash (id);
SELECT * FROM vigil.measure_index_bloat('bloat_hash');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_bloat(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_index_bloat('bloat_accounts_pkey', NULL);
\echo :LAST_ERROR_SQLSTATE
-- OID 0 (what a regclass of nothing is) and a dropped relation's OID name nothing: 42P01.
SELECT * FROM vigil.measure_bloat(0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_index_bloat(0);
\echo :LAST_ERROR_SQLSTATE

-- A role that may not read the table may not measure it either.
CREATE ROLE vigil_bloat_reader;
GRANT USAGE ON SCHEMA vigil TO vigil_bloat_reader;
GRANT SELECT ON vigil.table_bloat, vigil.index_bloat TO vigil_bloat_reader;
SET ROLE vigil_bloat_reader;
SELECT * FROM vigil.measure_bloat('bloat_accounts');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.measure_index_bloat('bloat_accounts_pkey');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- The estimates need the column statistics, which pg_stats shows only for columns the role
-- may read: the view says so instead of "no statistics".
SET ROLE vigil_bloat_reader;
SELECT table_name, estimate_quality, bloat_ratio FROM vigil.table_bloat WHERE table_name = 'bloat_accounts';
SELECT index_name, estimate_quality FROM vigil.index_bloat WHERE index_name = 'bloat_accounts_pkey';
RESET ROLE;
-- SELECT on the table, or pg_stat_scan_tables, is enough.
GRANT SELECT ON bloat_accounts TO vigil_bloat_reader;
SET ROLE vigil_bloat_reader;
SELECT method FROM vigil.measure_bloat('bloat_accounts');
SELECT table_name, estimate_quality <> 'statistics not visible' AS visible
  FROM vigil.table_bloat WHERE table_name = 'bloat_accounts';
RESET ROLE;
REVOKE SELECT ON bloat_accounts FROM vigil_bloat_reader;
GRANT pg_stat_scan_tables TO vigil_bloat_reader;
SET ROLE vigil_bloat_reader;
SELECT method FROM vigil.measure_index_bloat('bloat_accounts_pkey');
RESET ROLE;

-- A cancel (here: statement_timeout) stops a measurement cleanly; the session carries on.
CREATE TABLE bloat_big WITH (autovacuum_enabled = off) AS
    SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 200000) g;
-- SET LOCAL: the abort restores the setting at once, so no later statement runs under a 1 ms
-- timer (a timer firing as a tiny statement ends leaves a stray cancel for the next one).
BEGIN;
SET LOCAL statement_timeout = '1ms';
SELECT * FROM vigil.measure_bloat('bloat_big');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT method FROM vigil.measure_bloat('bloat_big', 5);

DROP MATERIALIZED VIEW bloat_mv;
DROP TABLE bloat_big, bloat_accounts, bloat_empty, bloat_unanalyzed, bloat_parted, bloat_even, bloat_tiny, bloat_small;
DROP VIEW bloat_view;
DROP SEQUENCE bloat_seq;
REVOKE SELECT ON vigil.table_bloat, vigil.index_bloat FROM vigil_bloat_reader;
REVOKE USAGE ON SCHEMA vigil FROM vigil_bloat_reader;
DROP ROLE vigil_bloat_reader;
DROP EXTENSION pgstattuple;
