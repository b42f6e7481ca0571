-- Least privilege, proved: every function and view of pgvigil, called as each kind of role,
-- either works or is refused with SQLSTATE 42501 and a hint naming the grant (PostgreSQL's own
-- check of USAGE on the schema and SELECT on a view refuses with its own message, which names
-- the object); and every argument without a documented meaning for NULL is refused with 22004
-- and a hint. The objects are read from the catalog (pg_depend on the extension): one without a
-- row in the matrix below, or a row without an object, fails this test.
\set VERBOSITY default

-- The roles: nothing; USAGE on the schema (an application using advisory locks and optimistic
-- updates); pg_signal_backend alone; pg_monitor (the monitoring set-up); the on-call set-up
-- docs/locks.md gives (pg_monitor and pg_signal_backend); and the owner (the superuser who
-- created the extension, this session's user).
CREATE ROLE regress_vigil_login LOGIN;
CREATE ROLE regress_vigil_app LOGIN;
GRANT USAGE ON SCHEMA vigil TO regress_vigil_app;
CREATE ROLE regress_vigil_signal LOGIN IN ROLE pg_signal_backend;
CREATE ROLE regress_vigil_monitor LOGIN IN ROLE pg_monitor;
CREATE ROLE regress_vigil_oncall LOGIN IN ROLE pg_monitor, pg_signal_backend;

-- What the calls work on, all owned by the owner: a table nobody else was granted anything on,
-- a versioned table everyone may update (the versioning trigger fires for them), a sequence.
CREATE TABLE priv_accounts (id int PRIMARY KEY, balance int NOT NULL, version bigint NOT NULL DEFAULT 1);
INSERT INTO priv_accounts VALUES (1, 100);
CREATE TABLE priv_versioned (id int PRIMARY KEY, note text);
INSERT INTO priv_versioned VALUES (1, 'x');
SELECT vigil.enable_versioning('priv_versioned');
GRANT SELECT, UPDATE ON priv_versioned TO PUBLIC;
CREATE SEQUENCE priv_seq;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS amcheck;

-- The matrix: one row per call. args are the call's arguments, all of them (the NULL test
-- below puts NULL in each place in turn); call, when set, is the statement instead (a trigger
-- fires through an UPDATE). null_ok lists the arguments that document what NULL means, and
-- null_means says what; null_note marks a function that does not follow the rule yet.
CREATE TABLE priv_matrix (object text NOT NULL, label text NOT NULL DEFAULT '', args text[], call text,
                          null_ok int[] NOT NULL DEFAULT '{}', null_means text, null_note text);
INSERT INTO priv_matrix (object, args, null_ok, null_means) VALUES
  ('vigil.activity_history()', '{}', '{}', NULL),
  ('vigil.activity_stats(interval)', ARRAY[$$'5 minutes'::interval$$], '{}', NULL),
  ('vigil.advisory_lock(bigint,interval,boolean)', ARRAY[$$42::bigint$$, $$'0'::interval$$, $$false$$], '{2}', 'timeout: no limit'),
  ('vigil.advisory_lock(text,interval,boolean)', ARRAY[$$'regress:lock'::text$$, $$'0'::interval$$, $$false$$], '{2}', 'timeout: no limit'),
  ('vigil.advisory_lock_all(text[],interval,boolean)', ARRAY[$$'{regress:a,regress:b}'::text[]$$, $$'0'::interval$$, $$true$$], '{2}', 'timeout: no limit'),
  ('vigil.advisory_unlock(bigint,boolean)', ARRAY[$$42::bigint$$, $$false$$], '{}', NULL),
  ('vigil.advisory_unlock(text,boolean)', ARRAY[$$'regress:lock'::text$$, $$false$$], '{}', NULL),
  ('vigil.advisory_xact_lock(bigint,interval,boolean)', ARRAY[$$42::bigint$$, $$'0'::interval$$, $$false$$], '{2}', 'timeout: no limit'),
  ('vigil.advisory_xact_lock(text,interval,boolean)', ARRAY[$$'regress:lock'::text$$, $$'0'::interval$$, $$false$$], '{2}', 'timeout: no limit'),
  ('vigil.condition_columns(text,text,oid)', ARRAY[$$'(priv_accounts.id = 1)'::text$$, $$'priv_accounts'::text$$, $$'priv_accounts'::regclass::oid$$], '{1,2,3}', 'building block: no row'),
  ('vigil.covering_index(oid,smallint[],integer,integer[])', ARRAY[$$'priv_accounts'::regclass::oid$$, $$'{1}'::smallint[]$$, $$1$$, $$'{-1}'::int[]$$], '{1,2,3,4}', 'building block: NULL'),
  ('vigil.describe_lock(text,oid,oid,integer,smallint,text,xid,oid,oid,smallint,oid,text)',
   ARRAY[$$'relation'::text$$, $$0::oid$$, $$'priv_accounts'::regclass::oid$$, $$NULL::int$$, $$NULL::smallint$$, $$NULL::text$$,
         $$NULL::xid$$, $$NULL::oid$$, $$NULL::oid$$, $$NULL::smallint$$, $$NULL::oid$$, $$NULL::text$$],
   '{1,2,3,4,5,6,7,8,9,10,11,12}', 'building block: a pg_locks column the lock type lacks; no locktype: NULL'),
  ('vigil.disable_versioning(regclass)', ARRAY[$$'priv_versioned'::regclass$$], '{}', NULL),
  ('vigil.enable_versioning(regclass,name)', ARRAY[$$'priv_accounts'::regclass$$, $$'version'::name$$], '{}', NULL),
  ('vigil.estimated_data_width(double precision[],"char"[],integer[],double precision[])',
   ARRAY[$$'{4}'::float8[]$$, $$'{i}'::"char"[]$$, $$'{4}'::int[]$$, $$'{0}'::float8[]$$], '{1,2,3,4}', 'building block: NULL'),
  ('vigil.estimated_index_scan_cost(oid,smallint,double precision)', ARRAY[$$'priv_accounts'::regclass::oid$$, $$1::smallint$$, $$10::float8$$], '{1,2,3}', 'building block: NULL'),
  ('vigil.generic_plan(text,text)', ARRAY[$$'SELECT 1'::text$$, $$'public'::text$$], '{}', NULL),
  ('vigil.health_check()', '{}', '{}', NULL),
  ('vigil.health_summary()', '{}', '{}', NULL),
  ('vigil.host_cpu_cores()', '{}', '{}', NULL),
  ('vigil.index_advice(integer,bigint,double precision,interval,text)', ARRAY[$$1$$, $$10000::bigint$$, $$2::float8$$, $$'500ms'::interval$$, $$'public'::text$$], '{}', NULL),
  ('vigil.index_advice_cleanup(name,oid[])', ARRAY[$$NULL::name$$, $$'{}'::oid[]$$], '{1,2}', 'building block: no hypopg; no hypothetical index'),
  ('vigil.index_candidates(jsonb)', ARRAY[$$'[{"Plan": {"Node Type": "Result"}}]'::jsonb$$], '{1}', 'building block: no row'),
  ('vigil.lock_key(text)', ARRAY[$$'regress:lock'::text$$], '{}', NULL),
  ('vigil.lock_relation_name(oid,oid)', ARRAY[$$0::oid$$, $$'priv_accounts'::regclass::oid$$], '{1,2}', 'building block: this database; no relation: NULL'),
  ('vigil.lock_tree()', '{}', '{}', NULL),
  ('vigil.lock_waiters()', '{}', '{}', NULL),
  ('vigil.measure_bloat(regclass,integer)', ARRAY[$$'priv_accounts'::regclass$$, $$0$$], '{}', NULL),
  ('vigil.measure_index_bloat(regclass,integer)', ARRAY[$$'priv_accounts_pkey'::regclass$$, $$0$$], '{}', NULL),
  ('vigil.optimistic_delete(regclass,jsonb,bigint,name)', ARRAY[$$'priv_accounts'::regclass$$, $$'{"id": 1}'::jsonb$$, $$1::bigint$$, $$'version'::name$$], '{}', NULL),
  ('vigil.optimistic_update(regclass,jsonb,bigint,jsonb,name)',
   ARRAY[$$'priv_accounts'::regclass$$, $$'{"id": 1}'::jsonb$$, $$1::bigint$$, $$'{"balance": 5}'::jsonb$$, $$'version'::name$$], '{}', NULL),
  ('vigil.pg_stat_statements_view()', '{}', '{}', NULL),
  ('vigil.pgbouncer_config(integer,text,integer)', ARRAY[$$20$$, $$'transaction'::text$$, $$1000$$], '{1}', 'pool_size: cores × 2'),
  ('vigil.plan_conditions(text)', ARRAY[$$'((a = 1) AND (b > 2))'::text$$], '{1}', 'building block: no row'),
  ('vigil.plan_nodes(jsonb)', ARRAY[$$'[{"Plan": {"Node Type": "Result"}}]'::jsonb$$], '{1}', 'building block: no row'),
  ('vigil.plan_parens_balanced(text)', ARRAY[$$'(a)'::text$$], '{1}', 'building block: NULL'),
  ('vigil.plan_relation_name(oid)', ARRAY[$$'priv_accounts'::regclass::oid$$], '{1}', 'building block: NULL'),
  ('vigil.pool_advice(interval)', ARRAY[$$'0.1 seconds'::interval$$], '{}', NULL),
  ('vigil.pool_size_for(double precision,double precision,double precision,integer,double precision)',
   ARRAY[$$1000::float8$$, $$20::float8$$, $$10::float8$$, $$4$$, $$0.8::float8$$], '{}', NULL),
  ('vigil.pool_size_formula(integer,integer)', ARRAY[$$8$$, $$0$$], '{}', NULL),
  ('vigil.pool_wait(double precision,double precision,integer)', ARRAY[$$100::float8$$, $$50::float8$$, $$10$$], '{}', NULL),
  ('vigil.terminate_blockers(interval,boolean,boolean)', ARRAY[$$'5 minutes'::interval$$, $$true$$, $$true$$], '{}', NULL),
  ('vigil.top_queries(text,integer,boolean)', ARRAY[$$'total_time'::text$$, $$5$$, $$false$$], '{}', NULL),
  ('vigil.version()', '{}', '{}', NULL),
  ('vigil.wait_forest(integer[],integer[])', ARRAY[$$'{2,3}'::int[]$$, $$'{1,1}'::int[]$$], '{}', NULL),
  ('vigil.wait_pairs(integer[])', ARRAY[$$'{}'::int[]$$], '{}', NULL),
  ('vigil.wait_sessions(integer[])', ARRAY[$$'{}'::int[]$$], '{}', NULL);
-- The health checks' functions are declared by extension/sql/300_health_checks.sql (STRICT).
INSERT INTO priv_matrix (object, args, null_note) VALUES
  ('vigil.sequence_last_value(regclass)', ARRAY[$$'priv_seq'::regclass$$], 'STRICT: NULL in, NULL out'),
  ('vigil.verify_indexes(interval)', ARRAY[$$'1 second'::interval$$], 'STRICT: NULL in, no row');
-- Calls of their own: terminating for real, a trigger, the views.
INSERT INTO priv_matrix (object, label, call) VALUES
  ('vigil.terminate_blockers(interval,boolean,boolean)', 'dry_run => false',
   'SELECT * FROM vigil.terminate_blockers(dry_run => false)'),
  ('vigil.versioning_trigger()', 'fires on UPDATE', 'UPDATE priv_versioned SET note = note WHERE id = 1'),
  ('vigil.advisory_locks', '', 'SELECT count(*) FROM vigil.advisory_locks'),
  ('vigil.blocking_locks', '', 'SELECT count(*) FROM vigil.blocking_locks'),
  ('vigil.index_bloat', '', 'SELECT count(*) FROM vigil.index_bloat'),
  ('vigil.table_bloat', '', 'SELECT count(*) FROM vigil.table_bloat');

-- Every function and view of the extension has a row, and every row is one of them.
CREATE VIEW priv_objects AS
SELECT p.oid::regprocedure::text AS object, p.oid AS fn
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgvigil'
UNION ALL
SELECT c.oid::regclass::text, NULL
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgvigil';
SELECT o.object, 'has no row in the matrix: add one to sql/700_privileges.sql' AS problem
  FROM priv_objects o WHERE o.object NOT IN (SELECT object FROM priv_matrix)
UNION ALL
SELECT m.object, 'is not an object of the extension' FROM priv_matrix m
 WHERE m.object NOT IN (SELECT object FROM priv_objects)
UNION ALL
SELECT m.object, 'has args of the wrong length' FROM priv_matrix m JOIN priv_objects o USING (object)
 WHERE m.call IS NULL AND cardinality(m.args) <> (SELECT pronargs FROM pg_proc WHERE oid = o.fn);
SELECT count(*) AS objects, count(*) FILTER (WHERE fn IS NULL) AS views FROM priv_objects;

-- Every call as every role. Each runs in a subtransaction that is always rolled back (a
-- success raises VGOK0 at its end), so no call changes what the next one sees; session
-- advisory locks, which outlive a rollback, are released after each.
CREATE TABLE priv_results (object text, label text, role text, role_order int, sqlstate text, message text,
                           hint text);
SET client_min_messages = error;
DO $$
DECLARE
    m record;
    roles CONSTANT text[] := ARRAY['regress_vigil_login', 'regress_vigil_app', 'regress_vigil_signal',
                                   'regress_vigil_monitor', 'regress_vigil_oncall', 'owner'];
    role text;
    st text;
    msg text;
    hnt text;
BEGIN
    FOR m IN SELECT * FROM priv_matrix ORDER BY object, label LOOP
        FOREACH role IN ARRAY roles LOOP
            BEGIN
                IF role <> 'owner' THEN
                    EXECUTE format('SET ROLE %I', role);
                END IF;
                EXECUTE coalesce(m.call, format('SELECT * FROM %s(%s)', split_part(m.object, '(', 1),
                                                array_to_string(m.args, ', ')));
                RAISE SQLSTATE 'VGOK0';
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hnt = PG_EXCEPTION_HINT;
                INSERT INTO priv_results
                VALUES (m.object, m.label, role, array_position(roles, role), st,
                        CASE WHEN st <> 'VGOK0' THEN msg END, nullif(hnt, ''));
            END;
            PERFORM pg_advisory_unlock_all();
        END LOOP;
    END LOOP;
END
$$;
RESET client_min_messages;

-- The matrix: ok, or the SQLSTATE of the refusal.
SELECT r.object || CASE WHEN r.label <> '' THEN ' [' || r.label || ']' ELSE '' END AS object,
       max(CASE r.role WHEN 'regress_vigil_login' THEN o END) AS login_only,
       max(CASE r.role WHEN 'regress_vigil_app' THEN o END) AS schema_usage,
       max(CASE r.role WHEN 'regress_vigil_signal' THEN o END) AS pg_signal_backend,
       max(CASE r.role WHEN 'regress_vigil_monitor' THEN o END) AS pg_monitor,
       max(CASE r.role WHEN 'regress_vigil_oncall' THEN o END) AS monitor_and_signal,
       max(CASE r.role WHEN 'owner' THEN o END) AS owner
  FROM (SELECT *, CASE WHEN sqlstate = 'VGOK0' THEN 'ok' ELSE sqlstate END AS o FROM priv_results) r
 GROUP BY r.object, r.label ORDER BY r.object, r.label;

-- What each refusal says, PostgreSQL's refusal of the schema aside (every call of a role
-- without USAGE on vigil: it names the schema).
SELECT count(*) AS refused_for_the_schema, array_agg(DISTINCT role ORDER BY role) AS roles
  FROM priv_results WHERE message = 'permission denied for schema vigil';
SELECT object || CASE WHEN label <> '' THEN ' [' || label || ']' ELSE '' END AS object,
       string_agg(replace(role, 'regress_vigil_', ''), ', ' ORDER BY role_order) AS roles, sqlstate, message,
       replace(hint, 'regress_vigil_', 'ROLE_') AS hint
  FROM priv_results
 WHERE sqlstate <> 'VGOK0' AND message <> 'permission denied for schema vigil'
 GROUP BY object, label, sqlstate, message, replace(hint, 'regress_vigil_', 'ROLE_')
 ORDER BY 1, 2;

-- The rule: a refusal is 42501, and pgvigil's own refusals carry a hint (PostgreSQL's ACL
-- checks of the schema and of a view do not: their message names the object). No row here.
SELECT object, label, role, sqlstate, message, hint FROM priv_results
 WHERE sqlstate <> 'VGOK0'
   AND (sqlstate <> '42501' OR (hint IS NULL AND message !~ '^permission denied for (schema|view) '));
-- And the owner may do everything.
SELECT object, label, sqlstate, message FROM priv_results WHERE role = 'owner' AND sqlstate <> 'VGOK0';

-- NULL arguments, as the owner: each argument in turn is NULL, the others as in the matrix.
CREATE TABLE priv_nulls (object text, argument text, position int, sqlstate text, message text, hint text);
SET client_min_messages = error;
DO $$
DECLARE
    m record;
    a text[];
    st text;
    msg text;
    hnt text;
BEGIN
    FOR m IN SELECT pm.object, pm.args, p.proargtypes, p.proargnames
               FROM priv_matrix pm JOIN priv_objects o USING (object) JOIN pg_proc p ON p.oid = o.fn
              WHERE pm.call IS NULL AND cardinality(pm.args) > 0 ORDER BY pm.object LOOP
        FOR i IN 1 .. cardinality(m.args) LOOP
            a := m.args;
            a[i] := 'NULL::' || format_type(m.proargtypes[i - 1], NULL);
            BEGIN
                EXECUTE format('SELECT * FROM %s(%s)', split_part(m.object, '(', 1), array_to_string(a, ', '));
                RAISE SQLSTATE 'VGOK0';
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hnt = PG_EXCEPTION_HINT;
                INSERT INTO priv_nulls
                VALUES (m.object, m.proargnames[i], i, st, CASE WHEN st <> 'VGOK0' THEN msg END, nullif(hnt, ''));
            END;
            PERFORM pg_advisory_unlock_all();
        END LOOP;
    END LOOP;
END
$$;
RESET client_min_messages;
SELECT n.object, n.argument,
       CASE WHEN n.sqlstate = 'VGOK0' AND n.position = ANY (m.null_ok) THEN 'accepted: ' || m.null_means
            WHEN n.sqlstate = 'VGOK0' THEN 'accepted (' || coalesce(m.null_note, 'no documented meaning') || ')'
            ELSE n.sqlstate || ': ' || n.message || CASE WHEN n.hint IS NULL THEN ' (no hint)' ELSE '' END END
           AS a_null_argument
  FROM priv_nulls n JOIN priv_matrix m ON m.object = n.object AND m.call IS NULL
 ORDER BY n.object, n.position;
-- The rule: 22004 with a hint, unless the argument documents what NULL means. Only the
-- functions marked with a null_note may appear here.
SELECT n.object, n.argument, n.sqlstate, n.message, n.hint, m.null_note
  FROM priv_nulls n JOIN priv_matrix m ON m.object = n.object AND m.call IS NULL
 WHERE NOT (n.position = ANY (m.null_ok) AND n.sqlstate = 'VGOK0')
   AND NOT (n.sqlstate = '22004' AND n.hint IS NOT NULL)
 ORDER BY n.object, n.position;

DROP TABLE priv_results, priv_nulls, priv_matrix;
DROP VIEW priv_objects;
DROP TABLE priv_accounts, priv_versioned;
DROP SEQUENCE priv_seq;
DROP EXTENSION pg_stat_statements;
DROP EXTENSION amcheck;
REVOKE USAGE ON SCHEMA vigil FROM regress_vigil_app;
DROP ROLE regress_vigil_login, regress_vigil_app, regress_vigil_signal, regress_vigil_monitor, regress_vigil_oncall;
