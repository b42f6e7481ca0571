-- Lock views: the wait-forest walk, the views on an idle server, and bad input.
-- (Real waits between sessions are covered by test/isolation/specs/lock_views_*.spec.)
\set VERBOSITY default

-- A chain 1 <- 2 <- 3 plus a second blocker of 4: every session gets its nearest root.
SELECT * FROM vigil.wait_forest('{2,3,4,4}', '{1,2,2,3}') ORDER BY pid;

-- Two roots: ties go to the lowest root pid, so pid 0 (a prepared transaction) wins.
SELECT * FROM vigil.wait_forest('{7,7,8}', '{0,5,5}') ORDER BY pid;

-- A wait cycle the deadlock detector has not broken yet has no root; 9 waits on the cycle.
SELECT * FROM vigil.wait_forest('{1,2,9}', '{2,1,1}') ORDER BY pid;

-- No waits at all.
SELECT count(*) AS sessions FROM vigil.wait_forest('{}', '{}');

-- 200 sessions queued for one row: waiter k is blocked by the holder (pid 1000) and by every
-- waiter ahead of it, 20,100 edges. Each session is visited once: every waiter's root is the
-- holder, at depth 1 (its nearest path), and all 200 hang below the holder.
WITH edges AS (
    SELECT 1000 + k AS waiter, 1000 + j AS blocker
      FROM generate_series(1, 200) k, generate_series(0, 199) j WHERE j < k
)
SELECT count(*) AS sessions,
       count(*) FILTER (WHERE root_blocker_pid = 1000) AS rooted_at_holder,
       max(depth) AS max_depth,
       max(waiting_behind) FILTER (WHERE pid = 1000) AS behind_holder
  FROM vigil.wait_forest(ARRAY(SELECT waiter FROM edges), ARRAY(SELECT blocker FROM edges));

-- A long single chain: depth and path follow it to the end.
SELECT depth, array_length(path, 1) AS path_length, path[1] AS root
  FROM vigil.wait_forest(ARRAY(SELECT g FROM generate_series(2, 500) g),
                         ARRAY(SELECT g - 1 FROM generate_series(2, 500) g))
 WHERE pid = 500;

-- Bad input.
SELECT * FROM vigil.wait_forest('{1,2}', '{3}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.wait_forest('{1,NULL}', '{3,4}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM vigil.wait_forest(NULL, '{1}');
\echo :LAST_ERROR_SQLSTATE

-- The live-graph variants call pg_blocking_pids() themselves: a pid that is not waiting (or
-- does not exist) has no blockers and adds nothing.
SELECT count(*) AS pairs FROM vigil.wait_pairs(ARRAY[pg_backend_pid(), 999999]);
SELECT count(*) AS sessions FROM vigil.wait_sessions(ARRAY[pg_backend_pid(), 999999]);
SELECT * FROM vigil.wait_pairs('{1,NULL}');
\echo :LAST_ERROR_SQLSTATE

-- Nothing waits in this quiet database.
SELECT count(*) AS pairs FROM vigil.blocking_locks;
SELECT count(*) AS sessions FROM vigil.lock_tree();
SELECT count(*) AS candidates FROM vigil.terminate_blockers();

-- Object descriptions for each lock type.
CREATE TABLE lock_probe (id int);
SELECT vigil.describe_lock('relation', (SELECT oid FROM pg_database WHERE datname = current_database()),
                           'lock_probe'::regclass, NULL, NULL, NULL, NULL, NULL, NULL, NULL) AS relation,
       vigil.describe_lock('tuple', (SELECT oid FROM pg_database WHERE datname = current_database()),
                           'lock_probe'::regclass, 3, 7::smallint, NULL, NULL, NULL, NULL, NULL) AS tuple,
       vigil.describe_lock('extend', 0, 'pg_database'::regclass, NULL, NULL, NULL, NULL, NULL, NULL, NULL) AS extend;
SELECT vigil.describe_lock('transactionid', NULL, NULL, NULL, NULL, NULL, '1234'::xid, NULL, NULL, NULL) AS bare_xid,
       vigil.describe_lock('transactionid', (SELECT oid FROM pg_database WHERE datname = current_database()),
                           NULL, NULL, NULL, NULL, '1234'::xid, NULL, NULL, NULL,
                           'lock_probe'::regclass, '(0,1)') AS row_xid,
       vigil.describe_lock('virtualxid', NULL, NULL, NULL, NULL, '3/45', NULL, NULL, NULL, NULL) AS vxid;
-- Advisory keys as the functions take them: pg_advisory_lock(bigint) and (int, int).
SELECT vigil.describe_lock('advisory', 1, NULL, NULL, NULL, NULL, NULL, 0, 42, 1::smallint) AS key_42,
       vigil.describe_lock('advisory', 1, NULL, NULL, NULL, NULL, NULL, 4294967295, 4294967291, 1::smallint) AS key_minus_5,
       vigil.describe_lock('advisory', 1, NULL, NULL, NULL, NULL, NULL, 7, 4294967294, 2::smallint) AS pair;
-- The key really is what pg_locks shows for a held advisory lock.
SELECT pg_advisory_lock(-1234567890123);
SELECT vigil.describe_lock(locktype, database, relation, page, tuple, virtualxid, transactionid,
                           classid, objid, objsubid) AS held
  FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT pg_advisory_unlock_all();
DROP TABLE lock_probe;

-- terminate_blockers() checks its arguments before looking at anything.
SELECT * FROM vigil.terminate_blockers(min_blocking => '-1 minute');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.terminate_blockers(dry_run => NULL);
\echo :LAST_ERROR_SQLSTATE
-- Terminating needs pg_signal_backend; a dry run does not.
CREATE ROLE vigil_lock_reader;
GRANT USAGE ON SCHEMA vigil TO vigil_lock_reader;
SET ROLE vigil_lock_reader;
SELECT count(*) AS dry_run_ok FROM vigil.terminate_blockers();
SELECT * FROM vigil.terminate_blockers(dry_run => false);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT pg_signal_backend TO vigil_lock_reader;
SET ROLE vigil_lock_reader;
SELECT count(*) AS granted_ok FROM vigil.terminate_blockers(dry_run => false);
RESET ROLE;
REVOKE USAGE ON SCHEMA vigil FROM vigil_lock_reader;
DROP ROLE vigil_lock_reader;
