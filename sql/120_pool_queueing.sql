-- Pool sizing with a queueing model: vigil.pool_wait (Erlang C), vigil.pool_size_for,
-- vigil.pool_advice and vigil.pgbouncer_config.
\set VERBOSITY terse

-- An independent Erlang C: the textbook sum C = (a^c/c! · c/(c-a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c-a)),
-- with each term a^k/k! built from the previous one in exact-enough numeric arithmetic
-- (thousands of digits for a = 9900), not with the Erlang B recurrence pgvigil uses.
CREATE FUNCTION erlang_c_reference(a numeric, c int) RETURNS float8 LANGUAGE sql AS $$
  WITH RECURSIVE terms(k, t) AS (
      SELECT 0, 1::numeric
    UNION ALL
      SELECT k + 1, round(t * a / (k + 1), 60) FROM terms WHERE k < c),
  last AS (SELECT t * c / (c - a) AS top FROM terms WHERE k = c)
  SELECT (last.top / ((SELECT sum(t) FROM terms WHERE k < c) + last.top))::float8 FROM last
$$;

CREATE TABLE pool_cases (rate float8, service_ms float8, pool int);
INSERT INTO pool_cases VALUES
  (100, 50, 10),        -- a = 5
  (50, 100, 6),         -- a = 5, tight
  (1, 1000, 2),         -- a = 1
  (1000, 20, 22),       -- a = 20
  (1234.5, 8, 13),      -- a = 9.876
  (9000, 1000, 10000),  -- a = 9000, a 10,000-connection pool at 90%
  (99000, 100, 10000),  -- a = 9900, 99%
  (49990, 100, 5000);   -- a = 4999, 99.98%

-- p_wait, mean and p99 waits agree with the reference to 1e-6 relative error.
SELECT c.pool, round((c.rate * c.service_ms / 1000)::numeric, 3) AS offered_load,
       round(w.utilization::numeric, 6) AS utilization,
       abs(w.p_wait - r.c) / r.c < 1e-6 AS p_wait_agrees,
       abs(w.mean_wait_ms - r.c * c.service_ms / (c.pool - c.rate * c.service_ms / 1000))
         / (r.c * c.service_ms / (c.pool - c.rate * c.service_ms / 1000)) < 1e-6 AS mean_wait_agrees,
       CASE WHEN r.c <= 0.01 THEN w.p99_wait_ms = 0
            ELSE abs(w.p99_wait_ms - c.service_ms / (c.pool - c.rate * c.service_ms / 1000) * ln(r.c / 0.01))
                 / (c.service_ms / (c.pool - c.rate * c.service_ms / 1000) * ln(r.c / 0.01)) < 1e-6 END AS p99_agrees,
       w.p95_wait_ms <= w.p99_wait_ms AS p95_below_p99
  FROM pool_cases c
 CROSS JOIN LATERAL vigil.pool_wait(c.rate, c.service_ms, c.pool) w
 CROSS JOIN LATERAL (SELECT erlang_c_reference((c.rate * c.service_ms / 1000)::numeric, c.pool) AS c) r
 ORDER BY c.pool, c.rate;

-- A textbook value: 100 req/s of 50 ms on 10 connections waits with probability 0.0361.
SELECT round(p_wait::numeric, 4) AS p_wait, round(mean_wait_ms::numeric, 4) AS mean_wait_ms
  FROM vigil.pool_wait(100, 50, 10);

-- A pool of a million connections computes without overflow.
SELECT p_wait >= 0 AND p_wait < 1 AS finite, utilization FROM vigil.pool_wait(900000, 1000, 1000000);

-- Utilisation at or above 1: everyone waits, for ever. Not an error.
SELECT * FROM vigil.pool_wait(200, 50, 10);
SELECT * FROM vigil.pool_wait(300, 50, 10);
-- No load: no wait.
SELECT * FROM vigil.pool_wait(0, 50, 10);

-- Bad input.
SELECT * FROM vigil.pool_wait(100, 0, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.pool_wait(-1, 50, 10);
SELECT * FROM vigil.pool_wait('NaN', 50, 10);
SELECT * FROM vigil.pool_wait(100, 'Infinity', 10);
SELECT * FROM vigil.pool_wait(100, 50, 0);
SELECT (vigil.pool_wait(100, 50, NULL)).p_wait;

-- pool_size_for: the smallest pool meeting the target; one connection fewer misses it.
SELECT metric, round(value::numeric, 4) AS value, explanation FROM vigil.pool_size_for(1000, 20, 10, 4);
SELECT w.p99_wait_ms > 10 OR w.utilization > 0.8 AS one_fewer_misses
  FROM vigil.pool_size_for(1000, 20, 10) p, vigil.pool_wait(1000, 20, p.value::int - 1) w
 WHERE p.metric = 'pool_size';
-- safety_margin caps the utilisation even when the wait target is loose.
SELECT value AS pool_size FROM vigil.pool_size_for(1000, 20, 1000, 1, 0.5) WHERE metric = 'pool_size';
-- More than this server allows: the verdict names max_connections.
SELECT explanation LIKE 'bottleneck: max_connections%' AS names_bottleneck
  FROM vigil.pool_size_for(20000, 20, 10, 1) WHERE metric = 'verdict';
-- A large pool is found quickly and agrees with pool_wait.
SELECT p.value AS pool_size, w.p99_wait_ms <= 10 AS meets_target
  FROM vigil.pool_size_for(9000, 1000, 10, 1, 0.95) p, vigil.pool_wait(9000, 1000, p.value::int) w
 WHERE p.metric = 'pool_size';
-- Bad input.
SELECT * FROM vigil.pool_size_for(100, 20, 10, 0);
SELECT * FROM vigil.pool_size_for(100, 20, 10, 1, 0);
SELECT * FROM vigil.pool_size_for(100, 20, 10, 1, 1.5);
SELECT * FROM vigil.pool_size_for(100, 20, -1);
SELECT * FROM vigil.pool_size_for(1e12, 1000);

-- pool_advice observes the server; here nothing else runs, so it starts from cores × 2.
SELECT metric FROM vigil.pool_advice('200 milliseconds');
SELECT value >= 1 AS recommends_a_pool FROM vigil.pool_advice('200 milliseconds') WHERE metric = 'recommended_pool_size';
SELECT value = vigil.host_cpu_cores() AS counts_cores FROM vigil.pool_advice('100 milliseconds') WHERE metric = 'cpu_cores';
SELECT * FROM vigil.pool_advice('0');
SELECT * FROM vigil.pool_advice('2 hours');

-- pgbouncer_config: a pgbouncer.ini section (host and port masked: they vary per run).
SELECT regexp_replace(vigil.pgbouncer_config(20), 'host=\S+ port=\d+', 'host=HOST port=PORT') AS ini;
SELECT vigil.pgbouncer_config(10, 'session') LIKE '%pool_mode = session%server_reset_query = DISCARD ALL%' AS session_mode;
SELECT vigil.pgbouncer_config() LIKE '%default_pool_size = ' || least(vigil.pool_size_formula(vigil.host_cpu_cores()), 97) || E'\n%' AS default_size;
SELECT vigil.pgbouncer_config(500) LIKE '%; warning: 600 server connections exceed the 97 available%' AS warns;
SELECT vigil.pgbouncer_config(10, 'bogus');
SELECT vigil.pgbouncer_config(0);
SELECT vigil.pgbouncer_config(10, NULL);
\echo :LAST_ERROR_SQLSTATE

-- The database name is written only where pgbouncer reads it back as that name. A line break
-- cannot be written at all (pgbouncer.ini has no escape for it): a name that tries to open a
-- [pgbouncer] section with auth_type=any is refused, not put in the header comment as it was.
\set VERBOSITY default
SELECT format('CREATE DATABASE %I', E'pool_evil\n[pgbouncer]\nauth_type=any') \gexec
\c 'dbname=''pool_evil\n[pgbouncer]\nauth_type=any'''
CREATE EXTENSION pgvigil;
SELECT vigil.pgbouncer_config(20);
\echo :LAST_ERROR_SQLSTATE
-- Other characters are quoted: the key in single quotes (pgbouncer 1.25 and later read it),
-- the connection-string value in single quotes with a quote doubled.
\c contrib_regression
CREATE DATABASE "pool sales db";
\c 'pool sales db'
CREATE EXTENSION pgvigil;
SELECT regexp_replace(vigil.pgbouncer_config(20), 'host=\S+ port=\d+', 'host=HOST port=PORT') AS ini;
-- A single quote has no escape in a key: refused, with the line to write by hand instead.
\c contrib_regression
CREATE DATABASE "pool_it's";
\c 'pool_it''s'
CREATE EXTENSION pgvigil;
SELECT vigil.pgbouncer_config(20);
\echo :LAST_ERROR_SQLSTATE
\c contrib_regression
SELECT format('DROP DATABASE %I', d) FROM unnest(ARRAY[E'pool_evil\n[pgbouncer]\nauth_type=any', 'pool sales db',
                                                      'pool_it''s']) d \gexec
\set VERBOSITY terse

DROP TABLE pool_cases;
DROP FUNCTION erlang_c_reference(numeric, int);
