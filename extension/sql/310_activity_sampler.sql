
-- Activity sampler (docs/pool-sizing.md): needs pgvigil in shared_preload_libraries.

-- The samples in the shared-memory ring, oldest first.
CREATE FUNCTION vigil.activity_history()
    RETURNS TABLE (sampled_at timestamptz, active int, idle int, idle_in_transaction int,
                   waiting_on_lock int, total int)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'vigil_activity_history';

-- Observed concurrency over the last `window`: percentiles of active and total client sessions.
CREATE FUNCTION vigil.activity_stats("window" interval DEFAULT '5 minutes',
                                     OUT samples int, OUT active_p50 float8, OUT active_p95 float8,
                                     OUT active_max int, OUT total_p50 float8, OUT total_p95 float8,
                                     OUT total_max int)
    RETURNS record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'vigil_activity_stats';
