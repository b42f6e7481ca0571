-- A caller's search_path never reaches inside pgvigil: objects in public that shadow catalog
-- functions, operators and views (a search_path of public, pg_catalog puts them first) change
-- no answer. Every SQL and PL/pgSQL function runs with search_path = pg_catalog, pg_temp; the
-- views and C functions name what they use by OID; generic_plan and index_advice resolve only
-- the statement being planned with the caller's search_path (so the statement planned here
-- uses no operator the hostile objects shadow: for it, the caller's operators are the point).
\set VERBOSITY terse
CREATE ROLE regress_vigil_sp_app;
GRANT USAGE ON SCHEMA vigil TO regress_vigil_sp_app;
CREATE TABLE sp_orders (id int PRIMARY KEY, customer int NOT NULL, note text) WITH (autovacuum_enabled = off);
INSERT INTO sp_orders SELECT g, g % 7, repeat('n', g % 30) FROM generate_series(1, 5000) g;
ANALYZE sp_orders;

-- The answers, once with the usual search_path and once with the hostile one. The statement
-- is prepared once: a prepared statement is parsed again under a changed search_path, so only
-- what the functions themselves look up could differ.
CREATE TABLE sp_answers (phase text, label text, answer text);
PREPARE sp_battery(text) AS
INSERT INTO sp_answers
SELECT $1, 'describe_lock relation',
       vigil.describe_lock('relation', 0, 'sp_orders'::regclass, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
UNION ALL
SELECT $1, 'describe_lock tuple',
       vigil.describe_lock('tuple', 0, 'sp_orders'::regclass, 3, 7::smallint, NULL, NULL, NULL, NULL, NULL)
UNION ALL
SELECT $1, 'describe_lock advisory',
       vigil.describe_lock('advisory', 1, NULL, NULL, NULL, NULL, NULL, 4294967295, 4294967291, 1::smallint)
UNION ALL
SELECT $1, 'describe_lock transactionid',
       vigil.describe_lock('transactionid', 0, NULL, NULL, NULL, NULL, '1234'::xid, NULL, NULL, NULL,
                           'sp_orders'::regclass, '(0,1)')
UNION ALL
SELECT $1, 'lock_relation_name', vigil.lock_relation_name(0, 'sp_orders'::regclass)
UNION ALL
SELECT $1, 'estimated_data_width',
       vigil.estimated_data_width('{4,4,15.5}', '{i,i,i}', '{4,4,-1}', '{0,0,0.25}')::text
UNION ALL
SELECT $1, 'plan_conditions', (SELECT string_agg(c, ' | ') FROM vigil.plan_conditions('((a = 1) AND ((b)::text > ''x''))') c)
UNION ALL
SELECT $1, 'condition_columns',
       (SELECT string_agg(attname || ' ' || usage, ', ') FROM vigil.condition_columns('(sp_orders.customer = 3)', 'sp_orders',
                                                                                     'sp_orders'::regclass))
UNION ALL
SELECT $1, 'table_bloat', (SELECT estimate_quality || ' ' || expected_bytes FROM vigil.table_bloat WHERE table_name = 'sp_orders')
UNION ALL
SELECT $1, 'index_bloat', (SELECT estimate_quality FROM vigil.index_bloat WHERE index_name = 'sp_orders_pkey')
UNION ALL
SELECT $1, 'lock_tree', (SELECT count(*)::text FROM vigil.lock_tree())
UNION ALL
SELECT $1, 'terminate_blockers', (SELECT count(*)::text FROM vigil.terminate_blockers())
UNION ALL
SELECT $1, 'generic_plan', vigil.generic_plan('SELECT * FROM sp_orders WHERE note = $1')->0->'Plan'->>'Node Type'
UNION ALL
SELECT $1, 'pgbouncer_config',
       regexp_replace(vigil.pgbouncer_config(20), 'host=\S+ port=\d+', 'host=HOST port=PORT');
EXECUTE sp_battery('trusted');

-- Hostile objects, made by whoever may create in public.
CREATE FUNCTION public.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS $$SELECT 'hijacked format'$$;
CREATE FUNCTION public.pg_backend_pid() RETURNS int LANGUAGE sql AS 'SELECT -1';
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01'::timestamptz$$;
CREATE FUNCTION public.quote_ident(text) RETURNS text LANGUAGE sql AS $$SELECT 'hijacked'$$;
CREATE FUNCTION public.ceil(float8) RETURNS float8 LANGUAGE sql AS 'SELECT 1e6::float8';
CREATE FUNCTION public.regexp_replace(text, text, text, text) RETURNS text LANGUAGE sql AS $$SELECT 'hijacked'$$;
CREATE FUNCTION public.pg_has_role(name, text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION public.sp_never_equal(int, int) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR public.= (LEFTARG = int, RIGHTARG = int, FUNCTION = public.sp_never_equal);
CREATE VIEW public.pg_locks AS SELECT * FROM pg_catalog.pg_locks WHERE false;
CREATE VIEW public.pg_stats AS
    SELECT schemaname, tablename, attname, inherited, null_frac, avg_width, n_distinct, correlation
      FROM pg_catalog.pg_stats WHERE false;
CREATE VIEW public.pg_database AS SELECT * FROM pg_catalog.pg_database WHERE false;
GRANT SELECT ON public.pg_locks, public.pg_stats, public.pg_database TO PUBLIC;

SET search_path = public, pg_catalog;
EXECUTE sp_battery('hostile');
-- A refusal is still a refusal: a hijacked pg_has_role() does not let a role without
-- pg_signal_backend terminate.
SET ROLE regress_vigil_sp_app;
SELECT * FROM vigil.terminate_blockers(dry_run => false);
RESET ROLE;
RESET search_path;

SELECT label, answer FROM sp_answers WHERE phase = 'trusted' ORDER BY label;
-- No answer changed.
SELECT t.label, t.answer AS trusted, h.answer AS hostile
  FROM sp_answers t JOIN sp_answers h ON h.label = t.label AND h.phase = 'hostile'
 WHERE t.phase = 'trusted' AND t.answer IS DISTINCT FROM h.answer;
SELECT count(*) AS answers_compared FROM sp_answers WHERE phase = 'hostile';

DEALLOCATE sp_battery;
DROP OPERATOR public.= (int, int);
DROP FUNCTION public.sp_never_equal(int, int), public.format(text, VARIADIC text[]), public.pg_backend_pid(),
              public.now(), public.quote_ident(text), public.ceil(float8), public.regexp_replace(text, text, text, text),
              public.pg_has_role(name, text, text);
DROP VIEW public.pg_locks, public.pg_stats, public.pg_database;
DROP TABLE sp_answers, sp_orders;
REVOKE USAGE ON SCHEMA vigil FROM regress_vigil_sp_app;
DROP ROLE regress_vigil_sp_app;
