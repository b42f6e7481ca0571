
-- Advisory locks by name, with real timeouts (docs/advisory-locks.md).

-- The 64-bit key of a lock name: FNV-1a 64 of its UTF-8 bytes as a signed bigint. The same
-- value pg_advisory_lock(bigint) accepts, and the one vigild computes.
CREATE FUNCTION vigil.lock_key(name text) RETURNS bigint
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_lock_key';

-- Session-level lock. timeout NULL: no limit of its own; '0': try once; otherwise wait at most
-- that long and return false on timeout.
CREATE FUNCTION vigil.advisory_lock(name text, timeout interval DEFAULT NULL, shared bool DEFAULT false)
    RETURNS bool
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_advisory_lock_name';

CREATE FUNCTION vigil.advisory_lock(key bigint, timeout interval DEFAULT NULL, shared bool DEFAULT false)
    RETURNS bool
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_advisory_lock_key';

-- Transaction-level lock: released at commit or rollback.
CREATE FUNCTION vigil.advisory_xact_lock(name text, timeout interval DEFAULT NULL, shared bool DEFAULT false)
    RETURNS bool
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_advisory_xact_lock_name';

CREATE FUNCTION vigil.advisory_xact_lock(key bigint, timeout interval DEFAULT NULL, shared bool DEFAULT false)
    RETURNS bool
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_advisory_xact_lock_key';

-- Releases one session-level hold; false (with a warning) when it was not held.
CREATE FUNCTION vigil.advisory_unlock(name text, shared bool DEFAULT false)
    RETURNS bool
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_advisory_unlock_name';

CREATE FUNCTION vigil.advisory_unlock(key bigint, shared bool DEFAULT false)
    RETURNS bool
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_advisory_unlock_key';

-- Every named lock, exclusively, in ascending key order (no deadlock between callers), all or
-- nothing within one timeout. xact: transaction-level (the default) or session-level locks.
CREATE FUNCTION vigil.advisory_lock_all(names text[], timeout interval DEFAULT NULL, xact bool DEFAULT true)
    RETURNS bool
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'vigil_advisory_lock_all';

-- Who holds and who waits for which advisory lock. key is the bigint key (what lock_key returns);
-- locks taken with the two-int4 form show key NULL and key_pair. scope is 'session' when the
-- holder has no transaction open (only a session lock can then still be held), NULL where
-- PostgreSQL does not say. Other users' queries need pg_read_all_stats (or pg_monitor).
CREATE VIEW vigil.advisory_locks WITH (security_invoker = true) AS
SELECT l.pid,
       d.datname AS database,
       CASE WHEN l.objsubid = 1 THEN (l.classid::int8 << 32) | l.objid::int8 END AS key,
       CASE WHEN l.objsubid = 2 THEN ARRAY[l.classid::int8::int4, l.objid::int8::int4] END AS key_pair,
       CASE l.mode WHEN 'ExclusiveLock' THEN 'exclusive' WHEN 'ShareLock' THEN 'shared' ELSE l.mode END AS mode,
       l.granted,
       CASE WHEN l.granted AND a.state = 'idle' THEN 'session' END AS scope,
       CASE WHEN NOT l.granted THEN clock_timestamp() - l.waitstart END AS wait_duration,
       CASE WHEN NOT l.granted THEN pg_catalog.pg_blocking_pids(l.pid) END AS blocked_by,
       a.usename,
       a.application_name,
       a.state,
       a.query
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_database d ON d.oid = l.database
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory';
