-- The activity sampler: the regression instance preloads pgvigil, so the background worker
-- runs and fills the ring every vigil.sample_interval (1 s by default). The error raised
-- without preloading is tested in test/integration/activity_sampler_test.cpp.
\set VERBOSITY terse

SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('vigil.sample_interval', 'vigil.sample_history') ORDER BY name;

-- Wait for two samples taken while this session is running a statement.
DO $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXIT WHEN (SELECT count(*) FROM vigil.activity_history() WHERE sampled_at > started) >= 2;
    IF clock_timestamp() > started + interval '20 seconds' THEN
      RAISE EXCEPTION 'the sampler took no sample in 20 seconds';
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;

-- The samples are consistent: the states add up to at most the total, and this session
-- was active (running the DO block) while they were taken.
SELECT bool_and(active + idle + idle_in_transaction <= total) AS states_within_total,
       bool_and(waiting_on_lock <= active) AS waiting_within_active,
       bool_and(sampled_at <= clock_timestamp()) AS not_in_future
  FROM vigil.activity_history();
SELECT max(active) >= 1 AS saw_this_session
  FROM vigil.activity_history() WHERE sampled_at > clock_timestamp() - interval '3 seconds';
-- Oldest first, one sample per interval.
SELECT bool_and(sampled_at > prev) AS ordered
  FROM (SELECT sampled_at, lag(sampled_at) OVER () AS prev FROM vigil.activity_history()) h
 WHERE prev IS NOT NULL;

-- activity_stats: percentiles over a window.
SELECT samples >= 2 AS has_samples, active_p50 <= active_p95 AND active_p95 <= active_max AS active_ordered,
       total_p50 <= total_p95 AND total_p95 <= total_max AS total_ordered, active_max <= total_max AS active_within_total
  FROM vigil.activity_stats('1 hour');
SELECT samples >= 2 AS default_window FROM vigil.activity_stats();
SELECT samples, active_p50 IS NULL AS no_percentiles FROM vigil.activity_stats('1 microsecond');
SELECT * FROM vigil.activity_stats('0');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM vigil.activity_stats('-5 minutes');
SELECT * FROM vigil.activity_stats(NULL);
\echo :LAST_ERROR_SQLSTATE

-- Counting of idle-in-transaction and lock-waiting sessions needs other sessions: see
-- test/isolation/specs/activity_sampler_states.spec.
