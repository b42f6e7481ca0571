-- Query insights: vigil.top_queries() reads pg_stat_statements; vigil.index_advice() proposes
-- indexes for the costliest statements, measured with hypothetical indexes (hypopg) or
-- estimated from statistics, and says for every statement why it proposes none. Costs and
-- timings vary from run to run, so they are compared, never printed.
\set VERBOSITY default
SET client_min_messages = warning;

-- Without pg_stat_statements in this database: 55000, and how to install it.
DROP EXTENSION IF EXISTS pg_stat_statements;
SELECT * FROM vigil.top_queries();
SELECT * FROM vigil.index_advice();
CREATE EXTENSION pg_stat_statements;
-- Only planned statements are of interest here.
SET pg_stat_statements.track_utility = off;

-- Arguments: unknown orderings list the accepted ones; NULL is refused like elsewhere.
SELECT * FROM vigil.top_queries('slowest');
SELECT * FROM vigil.top_queries('calls', 0);
SELECT * FROM vigil.top_queries(NULL);
SELECT * FROM vigil.index_advice(statements => 0);
SELECT * FROM vigil.index_advice(min_rows => NULL);

-- top_queries: statements called 4, 3, 2 and 1 times come out in that order by calls (no two
-- alike: the order among equal calls is by time, which varies).
CREATE TABLE qi_counter (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO qi_counter VALUES (1, 0), (2, 0);
SELECT pg_stat_statements_reset() IS NOT NULL AS reset;
SELECT n FROM qi_counter WHERE id = 1 \g /dev/null
SELECT n FROM qi_counter WHERE id = 2 \g /dev/null
SELECT n FROM qi_counter WHERE id = 1 \g /dev/null
SELECT n FROM qi_counter WHERE id = 2 \g /dev/null
UPDATE qi_counter SET n = n + 1 WHERE id = 1;
UPDATE qi_counter SET n = n + 1 WHERE id = 2;
UPDATE qi_counter SET n = n + 1 WHERE id = 1;
UPDATE qi_counter SET n = n + 1;
UPDATE qi_counter SET n = n + 1;
SELECT count(*) FROM qi_counter \g /dev/null
SELECT calls, rows, query FROM vigil.top_queries('calls') WHERE query LIKE '%qi\_counter%';
SELECT queryid IS NOT NULL AS has_queryid, total_time_ms >= mean_time_ms AS total_ge_mean,
       max_time_ms >= mean_time_ms AS max_ge_mean, total_percent BETWEEN 0 AND 100 AS share_is_percent,
       hit_percent BETWEEN 0 AND 100 AS hit_is_percent, temp_blks_read, temp_blks_written,
       role_name = current_user AS my_role, database_name = current_database() AS this_database,
       toplevel, query_visible
  FROM vigil.top_queries('calls') WHERE query LIKE 'UPDATE qi\_counter SET n = n + $1 WHERE%';
-- The shares add up to 100 percent; every ordering is descending.
SELECT round(sum(total_percent)) AS total_percent FROM vigil.top_queries("limit" => 1000);
SET work_mem = '64kB';
SELECT count(*) FROM (SELECT g FROM generate_series(1, 50000) g ORDER BY g DESC) spill \g /dev/null
RESET work_mem;
SELECT query, temp_blks_written > 0 AS spilled FROM vigil.top_queries('temp', 1);
SELECT o AS order_by,
       bool_and(v <= prev) AS descending, count(*) > 1 AS several
  FROM unnest(ARRAY['total_time', 'mean_time', 'calls', 'rows', 'temp']) o,
       LATERAL (SELECT v, lag(v) OVER (ORDER BY ord) AS prev
                  FROM vigil.top_queries(o, 100) WITH ORDINALITY
                       AS t(queryid, calls, total_time_ms, mean_time_ms, max_time_ms, rows,
                            total_percent, hit_percent, temp_blks_read, temp_blks_written,
                            role_name, database_name, toplevel, query_visible, query, ord),
                       LATERAL (SELECT CASE o WHEN 'total_time' THEN t.total_time_ms
                                              WHEN 'mean_time' THEN t.mean_time_ms
                                              WHEN 'calls' THEN t.calls
                                              WHEN 'rows' THEN t.rows
                                              ELSE t.temp_blks_read + t.temp_blks_written END AS v) x) s
 WHERE prev IS NOT NULL
 GROUP BY o ORDER BY o;
-- Only this database's statements, unless all_databases.
SELECT bool_and(database_name = current_database()) AS this_database_only FROM vigil.top_queries("limit" => 1000);
SELECT (SELECT count(*) FROM vigil.top_queries("limit" => 1000, all_databases => true))
       >= (SELECT count(*) FROM vigil.top_queries("limit" => 1000)) AS all_databases_include_this_one;

-- A role without pg_read_all_stats sees other roles' statements without their text.
CREATE ROLE qi_reader;
GRANT USAGE ON SCHEMA vigil TO qi_reader;
SET ROLE qi_reader;
SELECT query_visible, query, queryid FROM vigil.top_queries('calls')
 WHERE role_name <> current_user LIMIT 1;
SELECT queryid, query, create_index, regexp_replace(reason, '\d+', 'N') AS reason
  FROM vigil.index_advice() WHERE queryid IS NULL;
RESET ROLE;

-- The feed scenario: 50,000 posts, newest first, no index on created_at. Users looked up by
-- email (no index) and by status (indexed, but every user is active); a small tags table.
CREATE TABLE qi_authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE qi_posts (id bigint PRIMARY KEY, author_id int NOT NULL REFERENCES qi_authors,
                       created_at timestamptz NOT NULL, title text NOT NULL);
INSERT INTO qi_authors SELECT g, 'author ' || g FROM generate_series(1, 200) g;
INSERT INTO qi_posts SELECT g, 1 + g % 200, timestamptz '2024-01-01' + g * interval '1 minute', 'post ' || g
  FROM generate_series(1, 50000) g;
CREATE TABLE qi_users (id int PRIMARY KEY, email text NOT NULL, status text NOT NULL, score int NOT NULL);
INSERT INTO qi_users SELECT g, 'user' || g || '@example.com', 'active', g * 7919 % 30000
  FROM generate_series(1, 30000) g;
CREATE INDEX qi_users_status_idx ON qi_users (status);
CREATE TABLE qi_tags (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO qi_tags SELECT g, 'tag' || g FROM generate_series(1, 100) g;
-- Hostile names are quoted wherever they appear.
CREATE TABLE "qi Odd ""Table""" (id int PRIMARY KEY, "Col ""x""" int NOT NULL);
INSERT INTO "qi Odd ""Table""" SELECT g, g % 5000 FROM generate_series(1, 20000) g;
CREATE TABLE qi_gone (id int);
ANALYZE qi_authors, qi_posts, qi_users, qi_tags, "qi Odd ""Table""", qi_gone;

SELECT pg_stat_statements_reset() IS NOT NULL AS reset;
SELECT p.id, p.title, a.name FROM qi_posts p JOIN qi_authors a ON a.id = p.author_id
 ORDER BY p.created_at DESC LIMIT 20 \g /dev/null
SELECT p.id, p.title, a.name FROM qi_posts p JOIN qi_authors a ON a.id = p.author_id
 ORDER BY p.created_at DESC LIMIT 20 \g /dev/null
SELECT p.id, p.title, a.name FROM qi_posts p JOIN qi_authors a ON a.id = p.author_id
 ORDER BY p.created_at DESC LIMIT 20 \g /dev/null
SELECT p.id, p.title FROM qi_posts p WHERE p.author_id = 7 ORDER BY p.created_at DESC LIMIT 10 \g /dev/null
SELECT id FROM qi_users WHERE email = 'user77@example.com';
SELECT id FROM qi_users WHERE email = 'user78@example.com';
SELECT * FROM qi_users WHERE status = 'active' \g /dev/null
SELECT count(*) FROM qi_users WHERE score > 100;
SELECT id FROM qi_tags WHERE name = 'tag5';
SELECT id FROM qi_posts ORDER BY lower(title) LIMIT 1;
SELECT id FROM "qi Odd ""Table""" WHERE "Col ""x""" = 42 ORDER BY id;
-- normalised to "interval $1", which does not parse again
SELECT interval '1 day' AS qi_interval;
SELECT count(*) FROM qi_gone;
DROP TABLE qi_gone;
SELECT count(*) FROM qi_users WHERE id = 5;

-- Without hypopg the benefit is estimated from statistics.
SELECT query, table_name, columns, create_index, method, cost_after < cost_before / 10 AS much_cheaper,
       regexp_replace(reason, 'cost [0-9.]+ instead of [0-9.]+', 'cost A instead of B') AS reason
  FROM vigil.index_advice(statements => 100) WHERE query ~ 'qi_|qi Odd' ORDER BY query, create_index;

-- With hypopg it is measured: the statement is planned again with a hypothetical index.
CREATE EXTENSION hypopg;
SELECT query, table_name, columns, create_index, method, cost_after < cost_before / 10 AS much_cheaper,
       reason
  FROM vigil.index_advice(statements => 100) WHERE create_index IS NOT NULL ORDER BY query;
-- A range that matches a third of the table: the plan gets cheaper, but not twice as cheap.
SELECT query, create_index, cost_after < cost_before AS cheaper, improvement < 2 AS below_2,
       regexp_replace(reason, 'cost [0-9.]+ instead of [0-9.]+', 'cost A instead of B') AS reason
  FROM vigil.index_advice(statements => 100) WHERE query ~ 'score' ORDER BY query;
-- min_improvement: how much cheaper the plan must get for an index to be proposed.
SELECT query, create_index, improvement > 10 AS more_than_tenfold,
       regexp_replace(reason, 'cost [0-9.]+ instead of [0-9.]+', 'cost A instead of B') AS reason
  FROM vigil.index_advice(statements => 100, min_improvement => 1e9) WHERE query ~ 'email' ORDER BY query;
-- When the planner would rather keep scanning (random reads made dear here), nothing is proposed.
SET random_page_cost = 1000;
SELECT query, create_index, method, reason
  FROM vigil.index_advice(statements => 100) WHERE query ~ 'email|score' ORDER BY query;
RESET random_page_cost;
-- Nothing is left behind: no hypothetical index, no prepared statement, no lock on the tables
-- planned, and no setting changed.
SELECT count(*) AS hypothetical_indexes FROM hypopg_list_indexes;
SELECT count(*) AS prepared_statements FROM pg_prepared_statements;
BEGIN;
SELECT count(*) > 0 AS advised FROM vigil.index_advice(statements => 100);
SELECT count(*) AS locks_on_planned_tables FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation'
   AND relation IN ('qi_posts'::regclass, 'qi_users'::regclass, 'qi_authors'::regclass);
SELECT current_setting('plan_cache_mode') AS plan_cache_mode, current_setting('lock_timeout') AS lock_timeout;
COMMIT;

-- Following the advice: the index is built and the statement's plan reads it.
SELECT create_index FROM vigil.index_advice(statements => 100)
 WHERE table_name IN ('public.qi_posts', 'public."qi Odd ""Table"""') AND create_index IS NOT NULL
 ORDER BY create_index \gexec
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid IN ('qi_posts'::regclass, '"qi Odd ""Table"""'::regclass) AND NOT indisprimary
 ORDER BY 1::text;
SELECT query, create_index, reason FROM vigil.index_advice(statements => 100)
 WHERE query ~ 'qi_posts p|qi Odd' ORDER BY query;
SELECT count(*) AS hypothetical_indexes FROM hypopg_list_indexes;

-- Planning waits for a lock at most lock_timeout: the statements on the locked table get a
-- reason, the others are planned as before.
BEGIN;
LOCK TABLE qi_users IN ACCESS EXCLUSIVE MODE;
PREPARE TRANSACTION 'qi_lock';
SELECT query, create_index IS NOT NULL AS advised, reason
  FROM vigil.index_advice(statements => 100, lock_timeout => '10ms')
 WHERE query ~ 'qi_users|qi_tags' ORDER BY query;
-- The caller's statement_timeout still ends the whole call, and leaves nothing behind.
SET statement_timeout = '200ms';
\set VERBOSITY terse
SELECT count(*) FROM vigil.index_advice(statements => 100, lock_timeout => '0');
\set VERBOSITY default
RESET statement_timeout;
ROLLBACK PREPARED 'qi_lock';
SELECT count(*) AS prepared_statements FROM pg_prepared_statements;
SELECT count(*) AS hypothetical_indexes FROM hypopg_list_indexes;

-- generic_plan, the building block: parameters without a type of their own are text, and
-- only one statement is ever planned.
SELECT vigil.generic_plan('SELECT $1 AS label, id FROM qi_tags WHERE id = $2')->0->'Plan'->>'Node Type' AS node;
SELECT vigil.generic_plan('SELECT 1; DROP TABLE qi_tags');
SELECT count(*) AS tags FROM qi_tags;

DROP EXTENSION hypopg;
DROP TABLE qi_counter, qi_posts, qi_authors, qi_users, qi_tags, "qi Odd ""Table""";
DROP OWNED BY qi_reader;
DROP ROLE qi_reader;
DROP EXTENSION pg_stat_statements;
