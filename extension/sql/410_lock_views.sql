
-- Lock views (docs/locks.md).

-- The wait forest of one snapshot of pg_blocking_pids(): one row per session with its root
-- blocker, depth, path from the root and the number of sessions below it. Each session is
-- visited once, however many blockers a waiter has. NULL root/depth/path: a wait cycle.
CREATE FUNCTION vigil.wait_forest(waiting_pids int[], blocking_pids int[],
    OUT pid int, OUT root_blocker_pid int, OUT depth int, OUT path int[], OUT waiting_behind int)
    RETURNS SETOF record
    LANGUAGE c STRICT VOLATILE
    AS 'MODULE_PATHNAME', 'vigil_wait_forest';

-- "schema.name" of a relation of this database, or "OID n in database d" for another one.
CREATE FUNCTION vigil.lock_relation_name(database oid, relation oid) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE
        WHEN relation IS NULL THEN NULL
        WHEN database IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
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
-- row_tid name the row behind a transactionid wait when the waiter holds its tuple lock.
CREATE FUNCTION vigil.describe_lock(locktype text, database oid, relation oid, page int,
                                    tuple smallint, virtualxid text, transactionid xid,
                                    classid oid, objid oid, objsubid smallint,
                                    row_relation oid DEFAULT NULL, row_tid text DEFAULT NULL)
    RETURNS text
    LANGUAGE sql STABLE
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
        ELSE format('%s lock %s/%s/%s', locktype, classid, objid, objsubid)
    END
    $$;

-- One snapshot of the server's waits: who waits (pg_stat_activity, wait_event_type 'Lock'),
-- for which lock (pg_locks, not granted) and behind whom (pg_blocking_pids()), with the wait
-- forest over it. Internal building block of blocking_locks and lock_tree().
CREATE FUNCTION vigil.lock_waits(
    OUT waiting_pid int, OUT blocking_pid int, OUT blocker_order bigint,
    OUT root_blocker_pid int, OUT chain_depth int, OUT path int[], OUT waiting_behind int,
    OUT lock_type text, OUT lock_mode text, OUT locked_object text, OUT wait_started timestamptz,
    OUT prepared_gid text)
    RETURNS SETOF record
    LANGUAGE sql VOLATILE
    AS $$
    WITH waiting AS MATERIALIZED (
        SELECT a.pid, pg_blocking_pids(a.pid) AS blockers
          FROM pg_stat_activity a
         WHERE a.wait_event_type = 'Lock'
    ), edges AS MATERIALIZED (
        SELECT w.pid AS waiting_pid, b.pid AS blocking_pid, b.ord
          FROM waiting w, unnest(w.blockers) WITH ORDINALITY AS b(pid, ord)
    ), forest AS MATERIALIZED (
        SELECT f.*
          FROM vigil.wait_forest(ARRAY(SELECT waiting_pid FROM edges ORDER BY waiting_pid, ord),
                                 ARRAY(SELECT blocking_pid FROM edges ORDER BY waiting_pid, ord)) f
    ), locks AS MATERIALIZED (
        SELECT l.* FROM pg_locks l
         WHERE l.pid IN (SELECT waiting_pid FROM edges) OR l.pid IS NULL
    ), waited AS (
        SELECT DISTINCT ON (l.pid) l.* FROM locks l WHERE NOT l.granted ORDER BY l.pid
    ), row_held AS (
        -- a session waiting for a row's transaction holds that row's tuple lock
        SELECT DISTINCT ON (l.pid) l.pid, l.database, l.relation, format('(%s,%s)', l.page, l.tuple) AS tid
          FROM locks l WHERE l.granted AND l.locktype = 'tuple' ORDER BY l.pid
    )
    SELECT e.waiting_pid, e.blocking_pid, e.ord,
           fw.root_blocker_pid, fw.depth, fw.path, fw.waiting_behind,
           w.locktype, w.mode,
           vigil.describe_lock(w.locktype, coalesce(w.database, rh.database), w.relation, w.page, w.tuple, w.virtualxid,
                               w.transactionid, w.classid, w.objid, w.objsubid,
                               rh.relation, rh.tid),
           w.waitstart,
           CASE WHEN e.blocking_pid = 0 THEN
               (SELECT string_agg(px.gid, ', ' ORDER BY px.gid)
                  FROM locks h
                  -- a prepared transaction's locks share a virtual transaction id with
                  -- the lock on its own transaction id, which names it
                  JOIN locks hx ON hx.pid IS NULL AND hx.locktype = 'transactionid'
                               AND hx.virtualtransaction = h.virtualtransaction
                  JOIN pg_prepared_xacts px ON px.transaction = hx.transactionid
                 WHERE h.pid IS NULL AND h.granted
                   AND h.locktype = w.locktype
                   AND h.database IS NOT DISTINCT FROM w.database
                   AND h.relation IS NOT DISTINCT FROM w.relation
                   AND h.page IS NOT DISTINCT FROM w.page
                   AND h.tuple IS NOT DISTINCT FROM w.tuple
                   AND h.virtualxid IS NOT DISTINCT FROM w.virtualxid
                   AND h.transactionid IS NOT DISTINCT FROM w.transactionid
                   AND h.classid IS NOT DISTINCT FROM w.classid
                   AND h.objid IS NOT DISTINCT FROM w.objid
                   AND h.objsubid IS NOT DISTINCT FROM w.objsubid) END
      FROM edges e
      JOIN forest fw ON fw.pid = e.waiting_pid
      LEFT JOIN waited w ON w.pid = e.waiting_pid
      LEFT JOIN row_held rh ON rh.pid = e.waiting_pid AND w.locktype = 'transactionid'
    $$;

-- One row per (waiting session, blocking session) pair, with the root blocker of the chain.
CREATE VIEW vigil.blocking_locks AS
SELECT lw.waiting_pid,
       wa.usename AS waiting_user,
       wa.application_name AS waiting_application,
       wa.query AS waiting_query,
       lw.wait_started,
       now() - lw.wait_started AS wait_duration,
       lw.lock_type,
       lw.lock_mode,
       lw.locked_object,
       lw.blocking_pid,
       CASE WHEN lw.blocking_pid = 0 THEN px.owner::text ELSE ba.usename::text END AS blocking_user,
       ba.application_name AS blocking_application,
       CASE WHEN lw.blocking_pid = 0 THEN 'prepared transaction' ELSE ba.state END AS blocking_state,
       CASE WHEN lw.blocking_pid = 0 THEN 'prepared transaction ' || coalesce(lw.prepared_gid, '?')
            ELSE ba.query END AS blocking_query,
       CASE WHEN lw.blocking_pid = 0 THEN now() - px.prepared
            ELSE now() - ba.xact_start END AS blocking_xact_age,
       (lw.blocking_pid <> 0 AND ba.wait_event_type = 'Lock') AS blocker_is_waiting,
       lw.root_blocker_pid,
       lw.chain_depth
  FROM vigil.lock_waits() lw
  LEFT JOIN pg_stat_activity wa ON wa.pid = lw.waiting_pid
  LEFT JOIN pg_stat_activity ba ON ba.pid = lw.blocking_pid AND lw.blocking_pid <> 0
  LEFT JOIN LATERAL (SELECT p.owner, p.prepared FROM pg_prepared_xacts p
                      WHERE p.gid = split_part(lw.prepared_gid, ', ', 1)) px ON lw.blocking_pid = 0;

COMMENT ON VIEW vigil.blocking_locks IS
    'One row per (waiting, blocking) session pair from pg_blocking_pids(), with the root blocker';

-- The whole wait forest: one row per session that waits or blocks, roots first.
CREATE FUNCTION vigil.lock_tree(
    OUT pid int, OUT depth int, OUT path int[], OUT root_blocker_pid int,
    OUT waiting_behind int, OUT blocking_for interval, OUT state text, OUT usename text,
    OUT application_name text, OUT xact_age interval, OUT wait_duration interval,
    OUT locked_object text, OUT query text)
    RETURNS SETOF record
    LANGUAGE sql VOLATILE
    AS $$
    WITH lw AS MATERIALIZED (SELECT * FROM vigil.lock_waits()),
    sessions AS (
        SELECT DISTINCT waiting_pid AS pid FROM lw
        UNION
        SELECT blocking_pid FROM lw
    ), node AS (
        SELECT s.pid,
               coalesce(w.chain_depth, CASE WHEN NOT EXISTS (SELECT 1 FROM lw x WHERE x.waiting_pid = s.pid)
                                             THEN 0 END) AS depth,
               coalesce(w.path, CASE WHEN NOT EXISTS (SELECT 1 FROM lw x WHERE x.waiting_pid = s.pid)
                                      THEN ARRAY[s.pid] END) AS path,
               coalesce(w.root_blocker_pid,
                        CASE WHEN NOT EXISTS (SELECT 1 FROM lw x WHERE x.waiting_pid = s.pid)
                             THEN s.pid END) AS root_blocker_pid,
               coalesce(w.waiting_behind, (SELECT count(DISTINCT x.waiting_pid)::int
                                             FROM lw x WHERE x.root_blocker_pid = s.pid
                                                          OR x.blocking_pid = s.pid)) AS waiting_behind,
               w.wait_started, w.locked_object
          FROM sessions s
          LEFT JOIN LATERAL (SELECT * FROM lw x WHERE x.waiting_pid = s.pid LIMIT 1) w ON true
    )
    SELECT n.pid, n.depth, n.path, n.root_blocker_pid, n.waiting_behind,
           -- the longest wait among sessions below it in the tree or waiting for it directly
           (SELECT max(now() - x.wait_started) FROM lw x
             WHERE (x.path @> ARRAY[n.pid] OR x.blocking_pid = n.pid) AND x.waiting_pid <> n.pid),
           CASE WHEN n.pid = 0 THEN 'prepared transaction' ELSE a.state END,
           CASE WHEN n.pid = 0 THEN NULL ELSE a.usename::text END,
           a.application_name,
           now() - a.xact_start,
           now() - n.wait_started,
           n.locked_object,
           CASE WHEN n.pid = 0
                THEN 'prepared transaction ' ||
                     coalesce((SELECT string_agg(DISTINCT x.prepared_gid, ', ') FROM lw x
                                WHERE x.blocking_pid = 0), '?')
                ELSE a.query END
      FROM node n
      LEFT JOIN pg_stat_activity a ON a.pid = n.pid AND n.pid <> 0
     ORDER BY n.root_blocker_pid NULLS LAST, n.path NULLS LAST, n.pid
    $$;

-- Root blockers that have kept others waiting for longer than min_blocking: what
-- terminate_blockers() did (dry_run => false) or would do (the default), and why.
CREATE FUNCTION vigil.terminate_blockers(min_blocking interval DEFAULT '5 minutes',
                                         only_idle_in_transaction boolean DEFAULT true,
                                         dry_run boolean DEFAULT true)
    RETURNS TABLE (pid int, action text, reason text)
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    r record;
    why text;
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
                  HINT = 'GRANT pg_signal_backend TO the calling role, or run with dry_run => true.';
    END IF;

    FOR r IN
        SELECT t.pid, t.state, t.waiting_behind, t.blocking_for, t.xact_age
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
