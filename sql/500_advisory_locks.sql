-- Advisory locks by name: vigil.lock_key, advisory_lock / advisory_xact_lock / advisory_unlock,
-- advisory_lock_all and the vigil.advisory_locks view. Hostile input is refused with a clear
-- error or handled correctly. (Waiting, timeouts and cancels are in test/isolation/specs.)
\set VERBOSITY default

-- lock_key agrees with every row of the vectors shared with vigild's unit test.
\getenv abs_srcdir PG_ABS_SRCDIR
\set vectors :abs_srcdir '/test/vectors/lock_key.tsv'
CREATE TEMP TABLE lock_key_vectors (name text, key bigint, hex text);
COPY lock_key_vectors FROM :'vectors' WITH (FORMAT csv, HEADER true, DELIMITER E'\t', QUOTE E'\x01');
SELECT count(*) >= 20 AS enough_vectors,
       count(*) FILTER (WHERE vigil.lock_key(name) <> key) AS mismatches,
       count(*) FILTER (WHERE lpad(to_hex(key), 16, '0') <> hex) AS hex_mismatches
  FROM lock_key_vectors;
-- The published FNV-1a 64 values: "a" and "foobar".
SELECT to_hex(vigil.lock_key('a')) AS a, to_hex(vigil.lock_key('foobar')) AS foobar;
-- All 64 bits are used: not hashtext's 32.
SELECT vigil.lock_key('a') < -4294967296 AS below_int4_range,
       vigil.lock_key('orders:42') > 4294967296 AS above_int4_range;
-- The key depends on the UTF-8 bytes only.
SELECT vigil.lock_key('ключ') = vigil.lock_key(convert_from('\xd0bad0bbd18ed187'::bytea, 'UTF8')) AS same_bytes_same_key;
SELECT vigil.lock_key(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.lock_key('');
\echo :LAST_ERROR_SQLSTATE

-- A session lock, visible in the view under the name's key, re-entrant like pg_advisory_lock.
SELECT vigil.advisory_lock('jobs/nightly') AS first, vigil.advisory_lock('jobs/nightly') AS again;
SELECT key = vigil.lock_key('jobs/nightly') AS key_matches, mode, granted, pid = pg_backend_pid() AS mine
  FROM vigil.advisory_locks WHERE key = vigil.lock_key('jobs/nightly');
-- It is the very lock pg_advisory_lock(bigint) takes on the key: the built-in releases one hold.
SELECT pg_advisory_unlock(vigil.lock_key('jobs/nightly')) AS builtin_released_one;
SELECT vigil.advisory_unlock('jobs/nightly') AS released_last;
-- Releasing a lock not held returns false with PostgreSQL's usual warning.
SELECT vigil.advisory_unlock('jobs/nightly') AS not_held;
SELECT count(*) AS left_over FROM vigil.advisory_locks WHERE pid = pg_backend_pid();

-- Shared mode and the bigint overloads.
SELECT vigil.advisory_lock(42::bigint, shared => true) AS shared_by_key;
SELECT key, mode FROM vigil.advisory_locks WHERE pid = pg_backend_pid();
SELECT vigil.advisory_unlock(42::bigint, true) AS released_shared;

-- Transaction locks go at commit; the session's lock_timeout is never touched.
SET lock_timeout = '7s';
BEGIN;
SELECT vigil.advisory_xact_lock('invoice:1', '1s') AS xact_by_name,
       vigil.advisory_xact_lock(7::bigint, '0', true) AS xact_by_key_try_once;
SELECT count(*) AS held_in_xact FROM vigil.advisory_locks WHERE pid = pg_backend_pid();
COMMIT;
SELECT count(*) AS held_after_commit FROM vigil.advisory_locks WHERE pid = pg_backend_pid();
SHOW lock_timeout;
RESET lock_timeout;

-- advisory_lock_all: all the names, duplicates once, released together at commit.
BEGIN;
SELECT vigil.advisory_lock_all(ARRAY['b', 'a', 'c', 'a'], '1s') AS took_all;
SELECT array_agg(key ORDER BY key) = (SELECT array_agg(DISTINCT vigil.lock_key(n) ORDER BY vigil.lock_key(n))
                                        FROM unnest(ARRAY['a', 'b', 'c']) n) AS exactly_those_keys
  FROM vigil.advisory_locks WHERE pid = pg_backend_pid();
COMMIT;
-- Session scope on request.
SELECT vigil.advisory_lock_all(ARRAY['s1', 's2'], xact => false) AS took_session_locks;
SELECT count(*) AS session_locks FROM vigil.advisory_locks WHERE pid = pg_backend_pid();
SELECT vigil.advisory_unlock('s1') AND vigil.advisory_unlock('s2') AS released_both;

-- NULLs, empty names and arrays, bad timeouts: clear errors.
SELECT vigil.advisory_lock(NULL::text);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock(NULL::bigint);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock('x', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock('');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_xact_lock('', '1s');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_unlock('');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock('x', '-1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock('x', '1 day -25 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock('x', '100 years');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock_all(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock_all('{}');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock_all(ARRAY['a', NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock_all(ARRAY['a', '']);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock_all('{{a,b},{c,d}}');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock_all(ARRAY['a'], '-1s');
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.advisory_lock_all(ARRAY['a'], NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
-- None of those left a lock behind.
SELECT count(*) AS left_over FROM vigil.advisory_locks WHERE pid = pg_backend_pid();
-- A positive timeout under a millisecond still means "wait a little", not "no limit".
SELECT vigil.advisory_xact_lock('tiny', '1 microsecond') AS tiny_timeout_ok;

-- Names that look like SQL are just names: locked, listed and released like any other.
CREATE TABLE lock_victim (id int PRIMARY KEY);
INSERT INTO lock_victim VALUES (1), (2);
SELECT vigil.advisory_lock($$'); DROP TABLE lock_victim; --$$) AS quote_drop,
       vigil.advisory_lock('a;b"c''d') AS semicolon_quotes,
       vigil.advisory_lock(E'line\nbreak\ttab') AS control_chars;
SELECT count(*) AS three_locks FROM vigil.advisory_locks
 WHERE pid = pg_backend_pid()
   AND key IN (vigil.lock_key($$'); DROP TABLE lock_victim; --$$), vigil.lock_key('a;b"c''d'),
               vigil.lock_key(E'line\nbreak\ttab'));
SELECT vigil.advisory_lock_all(ARRAY[$$x'); DROP TABLE lock_victim; --$$, '; SELECT pg_sleep(10)'], '1s') AS hostile_all;
SELECT vigil.advisory_unlock($$'); DROP TABLE lock_victim; --$$) AND vigil.advisory_unlock('a;b"c''d')
   AND vigil.advisory_unlock(E'line\nbreak\ttab') AS released;
SELECT count(*) AS victim_rows FROM lock_victim;
DROP TABLE lock_victim;
