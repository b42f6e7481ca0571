
-- Lock views (docs/locks.md).

-- The wait forest of one snapshot of pg_blocking_pids(): one row per session with its root
-- blocker, depth, path from the root and the number of sessions below it. Each session is
-- visited once, however many blockers a waiter has. NULL root/depth/path: a wait cycle.
CREATE FUNCTION vigil.wait_forest(waiting_pids int[], blocking_pids int[],
    OUT pid int, OUT root_blocker_pid int, OUT depth int, OUT path int[], OUT waiting_behind int)
    RETURNS SETOF record
    LANGUAGE c VOLATILE ROWS 100
    AS 'MODULE_PATHNAME', 'vigil_wait_forest';

-- The same over the live wait graph: pg_blocking_pids() of each of waiting_pids, called
-- once each. wait_sessions: one row per session, with the pids waiting for it directly.
CREATE FUNCTION vigil.wait_sessions(waiting_pids int[],
    OUT pid int, OUT root_blocker_pid int, OUT depth int, OUT path int[], OUT waiting_behind int,
    OUT direct_waiters int[])
    RETURNS SETOF record
    LANGUAGE c VOLATILE ROWS 100
    AS 'MODULE_PATHNAME', 'vigil_wait_sessions';

-- wait_pairs: one row per (waiter, blocker) edge, with the waiter's root blocker and depth.
CREATE FUNCTION vigil.wait_pairs(waiting_pids int[],
    OUT waiting_pid int, OUT blocking_pid int, OUT blocker_order int, OUT root_blocker_pid int,
    OUT chain_depth int)
    RETURNS SETOF record
    LANGUAGE c VOLATILE ROWS 1000
    AS 'MODULE_PATHNAME', 'vigil_wait_pairs';

-- "schema.name" of a relation of this database, or "OID n in database d" for another one.
-- Fed by pg_locks: a NULL relation (the lock has none) gives NULL; database 0 (a shared
-- catalog) or NULL means this database.
CREATE FUNCTION vigil.lock_relation_name(database oid, relation oid) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE
        WHEN relation IS NULL THEN NULL
        WHEN database IS NULL OR database IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
            THEN coalesce((SELECT format('%I.%I', n.nspname, c.relname)
                             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE c.oid = relation),
                          format('OID %s', relation))
        ELSE format('OID %s in database %s', relation,
                    coalesce((SELECT quote_ident(datname) FROM pg_database WHERE oid = database),
                             database::text))
    END
    $$;

-- A readable description of a lock's object, from the columns of pg_locks. row_relation and
-- row_tid name the row behind a transactionid wait when the waiter holds its tuple lock. Like
-- pg_locks, every column but locktype is NULL where the lock type has none; a NULL locktype
-- (no lock) describes nothing: NULL.
CREATE FUNCTION vigil.describe_lock(locktype text, database oid, relation oid, page int,
                                    tuple smallint, virtualxid text, transactionid xid,
                                    classid oid, objid oid, objsubid smallint,
                                    row_relation oid DEFAULT NULL, row_tid text DEFAULT NULL)
    RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT CASE locktype
        WHEN 'relation' THEN 'relation ' || vigil.lock_relation_name(database, relation)
        WHEN 'extend' THEN 'extension of relation ' || vigil.lock_relation_name(database, relation)
        WHEN 'page' THEN format('page %s of relation %s', page,
                                vigil.lock_relation_name(database, relation))
        WHEN 'tuple' THEN format('row (%s,%s) in %s', page, tuple,
                                 vigil.lock_relation_name(database, relation))
        WHEN 'transactionid' THEN
            CASE WHEN row_relation IS NOT NULL
                 THEN format('row %s in %s (transaction %s)', row_tid,
                             vigil.lock_relation_name(database, row_relation), transactionid)
                 ELSE format('row or key written by transaction %s', transactionid) END
        WHEN 'virtualxid' THEN format('virtual transaction %s', virtualxid)
        WHEN 'spectoken' THEN format('speculative insertion by transaction %s', transactionid)
        WHEN 'advisory' THEN
            CASE objsubid
                 -- one bigint key: high half in classid, low half in objid
                 WHEN 1 THEN format('advisory key %s', (classid::bigint << 32) | objid::bigint)
                 -- two int4 keys
                 ELSE format('advisory key (%s, %s)',
                             CASE WHEN classid::bigint >= 2147483648 THEN classid::bigint - 4294967296
                                  ELSE classid::bigint END,
                             CASE WHEN objid::bigint >= 2147483648 THEN objid::bigint - 4294967296
                                  ELSE objid::bigint END) END
        WHEN 'object' THEN
            CASE WHEN database IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                 THEN coalesce(pg_describe_object(classid, objid, objsubid),
                               format('object %s/%s/%s', classid, objid, objsubid))
                 ELSE format('object %s/%s/%s in database %s', classid, objid, objsubid, database) END
        ELSE CASE WHEN locktype IS NOT NULL THEN format('%s lock %s/%s/%s', locktype, classid, objid, objsubid) END
    END
    $$;

-- The server's waiting sessions (wait_event_type 'Lock'): the lock each waits for (its
-- ungranted pg_locks row) described in words, since when, and the GIDs of prepared
-- transactions holding that lock. Internal building block of blocking_locks and lock_tree():
-- everything per waiter is computed once here, each distinct lock described once.
CREATE FUNCTION vigil.lock_waiters(
    OUT pid int, OUT lock_type text, OUT lock_mode text, OUT locked_object text,
    OUT wait_started timestamptz, OUT prepared_gids text)
    RETURNS SETOF record
    LANGUAGE sql VOLATILE ROWS 100
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH locks AS MATERIALIZED (
        SELECT l.* FROM pg_locks l
    ), tuple_held AS MATERIALIZED (
        -- a session waiting for a row's transaction holds that row's tuple lock
        SELECT DISTINCT ON (t.pid) t.pid, t.database, t.relation,
               format('(%s,%s)', t.page, t.tuple) AS tid
          FROM locks t WHERE t.granted AND t.locktype = 'tuple'
         ORDER BY t.pid
    ), waiting AS MATERIALIZED (
        SELECT DISTINCT ON (l.pid) l.*, rh.database AS row_database, rh.relation AS row_relation,
               rh.tid AS row_tid
          FROM locks l
          JOIN pg_stat_get_activity(NULL) a ON a.pid = l.pid AND a.wait_event_type = 'Lock'
          LEFT JOIN tuple_held rh ON rh.pid = l.pid AND l.locktype = 'transactionid'
         WHERE NOT l.granted
         ORDER BY l.pid
    ), described AS MATERIALIZED (
        SELECT k.*,
               vigil.describe_lock(k.locktype, coalesce(k.database, k.row_database), k.relation,
                                   k.page, k.tuple, k.virtualxid, k.transactionid, k.classid,
                                   k.objid, k.objsubid, k.row_relation, k.row_tid) AS text
          FROM (SELECT DISTINCT locktype, database, relation, page, tuple, virtualxid,
                       transactionid::text::xid AS transactionid, classid, objid, objsubid,
                       row_database, row_relation, row_tid
                  FROM waiting) k
    ), prepared_locks AS MATERIALIZED (
        -- locks held by prepared transactions (no pid), with the GID: a prepared
        -- transaction's locks share a virtual transaction id with the lock on its own
        -- transaction id, which names it
        SELECT h.*, px.gid
          FROM locks h
          JOIN locks hx ON hx.pid IS NULL AND hx.locktype = 'transactionid'
                       AND hx.virtualtransaction = h.virtualtransaction
          JOIN pg_prepared_xacts px ON px.transaction = hx.transactionid
         WHERE h.pid IS NULL AND h.granted
    )
    SELECT w.pid, w.locktype, w.mode, d.text, w.waitstart,
           (SELECT string_agg(DISTINCT h.gid, ', ')
              FROM prepared_locks h
             WHERE h.locktype = w.locktype
               AND h.database IS NOT DISTINCT FROM w.database
               AND h.relation IS NOT DISTINCT FROM w.relation
               AND h.page IS NOT DISTINCT FROM w.page
               AND h.tuple IS NOT DISTINCT FROM w.tuple
               AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid
               AND h.transactionid IS NOT DISTINCT FROM w.transactionid
               AND h.classid IS NOT DISTINCT FROM w.classid
               AND h.objid IS NOT DISTINCT FROM w.objid
               AND h.objsubid IS NOT DISTINCT FROM w.objsubid)
      FROM waiting w
      JOIN described d
        ON d.locktype = w.locktype
       AND d.database IS NOT DISTINCT FROM w.database
       AND d.relation IS NOT DISTINCT FROM w.relation
       AND d.page IS NOT DISTINCT FROM w.page
       AND d.tuple IS NOT DISTINCT FROM w.tuple
       AND d.virtualxid IS NOT DISTINCT FROM w.virtualxid
       AND d.transactionid::text IS NOT DISTINCT FROM w.transactionid::text
       AND d.classid IS NOT DISTINCT FROM w.classid
       AND d.objid IS NOT DISTINCT FROM w.objid
       AND d.objsubid IS NOT DISTINCT FROM w.objsubid
       AND d.row_relation IS NOT DISTINCT FROM w.row_relation
       AND d.row_tid IS NOT DISTINCT FROM w.row_tid
    $$;

-- One row per (waiting session, blocking session) pair, with the root blocker of the chain.
-- Everything about a waiter is joined once per waiter (w), so the per-pair work is two hash
-- lookups: 200 sessions queued on one row make about 20,000 pairs.
CREATE VIEW vigil.blocking_locks WITH (security_invoker = true) AS
WITH act AS MATERIALIZED (
    SELECT a.pid, a.usename, a.application_name, a.query, a.state,
           now() - a.xact_start AS xact_age, a.wait_event_type = 'Lock' AS is_waiting
      FROM pg_stat_activity a
), w AS MATERIALIZED (
    SELECT lw.*, now() - lw.wait_started AS wait_duration, a.usename, a.application_name,
           a.query, px.owner::text AS prepared_owner, now() - px.prepared AS prepared_age
      FROM vigil.lock_waiters() lw
      LEFT JOIN act a ON a.pid = lw.pid
      LEFT JOIN pg_prepared_xacts px ON px.gid = split_part(lw.prepared_gids, ', ', 1)
)
SELECT e.waiting_pid,
       w.usename AS waiting_user,
       w.application_name AS waiting_application,
       w.query AS waiting_query,
       w.wait_started,
       w.wait_duration,
       w.lock_type,
       w.lock_mode,
       w.locked_object,
       e.blocking_pid,
       CASE WHEN e.blocking_pid = 0 THEN w.prepared_owner ELSE ba.usename::text END AS blocking_user,
       ba.application_name AS blocking_application,
       CASE WHEN e.blocking_pid = 0 THEN 'prepared transaction' ELSE ba.state END AS blocking_state,
       CASE WHEN e.blocking_pid = 0 THEN 'prepared transaction ' || coalesce(w.prepared_gids, '?')
            ELSE ba.query END AS blocking_query,
       CASE WHEN e.blocking_pid = 0 THEN w.prepared_age ELSE ba.xact_age END AS blocking_xact_age,
       coalesce(ba.is_waiting, false) AS blocker_is_waiting,
       e.root_blocker_pid,
       e.chain_depth
  FROM vigil.wait_pairs(ARRAY(SELECT w.pid FROM w)) e
  JOIN w ON w.pid = e.waiting_pid
  LEFT JOIN act ba ON ba.pid = e.blocking_pid;

COMMENT ON VIEW vigil.blocking_locks IS
    'One row per (waiting, blocking) session pair from pg_blocking_pids(), with the root blocker';

-- The whole wait forest: one row per session that waits or blocks, roots first.
CREATE FUNCTION vigil.lock_tree(
    OUT pid int, OUT depth int, OUT path int[], OUT root_blocker_pid int,
    OUT waiting_behind int, OUT blocking_for interval, OUT state text, OUT usename text,
    OUT application_name text, OUT xact_age interval, OUT wait_duration interval,
    OUT locked_object text, OUT query text)
    RETURNS SETOF record
    LANGUAGE sql VOLATILE ROWS 100
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH w AS MATERIALIZED (
        SELECT * FROM vigil.lock_waiters()
    ), f AS MATERIALIZED (
        SELECT * FROM vigil.wait_sessions(ARRAY(SELECT w.pid FROM w))
    ), longest AS (
        -- the longest wait among the sessions below each one in the tree or waiting for it
        -- directly, from every session's path and direct waiters
        SELECT a.pid, max(now() - w.wait_started) AS longest
          FROM f,
               LATERAL (SELECT unnest(f.path[1:array_length(f.path, 1) - 1]) AS pid, f.pid AS waiter
                        UNION ALL
                        SELECT f.pid, unnest(f.direct_waiters)) a
          JOIN w ON w.pid = a.waiter
         GROUP BY a.pid
    )
    SELECT f.pid, f.depth, f.path, f.root_blocker_pid, f.waiting_behind,
           l.longest,
           CASE WHEN f.pid = 0 THEN 'prepared transaction' ELSE a.state END,
           CASE WHEN f.pid = 0 THEN NULL ELSE a.usename::text END,
           a.application_name,
           now() - a.xact_start,
           now() - w.wait_started,
           w.locked_object,
           CASE WHEN f.pid = 0
                THEN 'prepared transaction ' ||
                     coalesce((SELECT string_agg(DISTINCT x.prepared_gids, ', ') FROM w x
                                WHERE x.pid = ANY (f.direct_waiters)), '?')
                ELSE a.query END
      FROM f
      LEFT JOIN w ON w.pid = f.pid
      LEFT JOIN pg_stat_activity a ON a.pid = f.pid AND f.pid <> 0
      LEFT JOIN longest l ON l.pid = f.pid
     ORDER BY f.root_blocker_pid NULLS LAST, f.path NULLS LAST, f.pid
    $$;

-- Root blockers that have kept others waiting for longer than min_blocking: what
-- terminate_blockers() did (dry_run => false) or would do (the default), and why.
CREATE FUNCTION vigil.terminate_blockers(min_blocking interval DEFAULT '5 minutes',
                                         only_idle_in_transaction boolean DEFAULT true,
                                         dry_run boolean DEFAULT true)
    RETURNS TABLE (pid int, action text, reason text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
    why text;
    -- PostgreSQL lets only a superuser signal a superuser's session: such a session is
    -- reported and left alone, never signalled, when the caller is not one.
    caller_is_superuser CONSTANT boolean := (SELECT a.rolsuper FROM pg_roles a WHERE a.rolname = current_user);
BEGIN
    IF min_blocking IS NULL OR only_idle_in_transaction IS NULL OR dry_run IS NULL THEN
        RAISE EXCEPTION 'arguments of vigil.terminate_blockers() must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    IF min_blocking < interval '0' THEN
        RAISE EXCEPTION 'min_blocking must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass how long a root blocker must have kept others waiting, e.g. ''5 minutes''.';
    END IF;
    IF NOT dry_run AND NOT pg_has_role(current_user, 'pg_signal_backend', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to terminate blocking sessions'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Terminating other roles'' sessions needs the pg_signal_backend role.',
                  HINT = format('GRANT pg_signal_backend TO %I; or run with dry_run => true.', current_user);
    END IF;

    FOR r IN
        SELECT t.pid, t.state, t.waiting_behind, t.blocking_for, t.xact_age,
               coalesce((SELECT u.rolsuper FROM pg_stat_activity a JOIN pg_roles u ON u.oid = a.usesysid
                          WHERE a.pid = t.pid), false) AS superuser_session
          FROM vigil.lock_tree() t
         WHERE t.depth = 0 AND t.blocking_for > min_blocking
         ORDER BY t.blocking_for DESC, t.pid
    LOOP
        pid := r.pid;
        why := format('blocks %s session(s), the longest waiting %s; state %s, transaction open for %s',
                      r.waiting_behind, date_trunc('second', r.blocking_for),
                      coalesce(r.state, 'unknown'), coalesce(date_trunc('second', r.xact_age)::text, 'unknown'));
        IF r.pid = 0 THEN
            action := 'skipped';
            reason := why || '; a prepared transaction has no session to terminate: '
                          || 'resolve it with COMMIT PREPARED or ROLLBACK PREPARED';
        ELSIF r.pid = pg_backend_pid() THEN
            action := 'skipped';
            reason := why || '; this is the calling session';
        ELSIF r.superuser_session AND NOT caller_is_superuser THEN
            action := 'skipped';
            reason := why || '; a superuser''s session, which only a superuser may terminate';
        ELSIF only_idle_in_transaction AND r.state IS DISTINCT FROM 'idle in transaction' THEN
            action := 'skipped';
            reason := why || '; not idle in transaction (only_idle_in_transaction => true)';
        ELSIF dry_run THEN
            action := 'would terminate';
            reason := why;
        ELSE
            BEGIN
                IF pg_terminate_backend(r.pid) THEN
                    action := 'terminated';
                    reason := why;
                ELSE
                    action := 'failed';
                    reason := why || '; the session was already gone';
                END IF;
            EXCEPTION WHEN insufficient_privilege THEN
                action := 'failed';
                reason := why || '; ' || SQLERRM;
            END;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
