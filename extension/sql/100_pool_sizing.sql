
-- Connection-pool sizing (docs/pool-sizing.md).

-- The classic starting point: cpu_cores × 2 + effective_spindles.
CREATE FUNCTION vigil.pool_size_formula(cpu_cores int, effective_spindles int DEFAULT 0)
    RETURNS int
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_pool_size_formula';

-- Erlang C (M/M/c): how long requests wait for a connection from a pool of pool_size.
CREATE FUNCTION vigil.pool_wait(arrival_rate_per_s float8, service_time_ms float8, pool_size int,
                                OUT utilization float8, OUT p_wait float8, OUT mean_wait_ms float8,
                                OUT p95_wait_ms float8, OUT p99_wait_ms float8)
    RETURNS record
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_pool_wait';

-- The smallest pool meeting a p99 wait target, per application instance, against max_connections.
CREATE FUNCTION vigil.pool_size_for(arrival_rate_per_s float8, service_time_ms float8,
                                    target_p99_wait_ms float8 DEFAULT 10, app_instances int DEFAULT 1,
                                    safety_margin float8 DEFAULT 0.8)
    RETURNS TABLE (metric text, value float8, explanation text)
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_pool_size_for';

-- Online CPU cores of the database host.
CREATE FUNCTION vigil.host_cpu_cores() RETURNS int
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_host_cpu_cores';

-- Observes this database for `sample` and recommends a pool size, with its reasoning.
CREATE FUNCTION vigil.pool_advice(sample interval DEFAULT '5 seconds')
    RETURNS TABLE (metric text, value float8, explanation text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- Each read must see the counters of the moment, whatever the caller's setting.
    SET stats_fetch_consistency = none
AS $$
DECLARE
    seconds      float8 := extract(epoch FROM sample);
    xacts_before bigint;
    xacts_after  bigint;
    started      timestamptz;
    elapsed      float8;
    pss_schema   text;
    exec_before  float8;
    exec_after   float8;
    calls_before float8;
    calls_after  float8;
    rate         float8;
    service_ms   float8;
    service_src  text;
    rate_src     text;
    mean_active  float8;
    active_p95   float8;
    sampler      boolean := true;
    cores        int := vigil.host_cpu_cores();
    available    int := current_setting('max_connections')::int
                        - current_setting('superuser_reserved_connections')::int;
    formula      int;
    queueing     int;
    recommended  int;
    verdict      text;
BEGIN
    IF sample IS NULL THEN
        RAISE EXCEPTION 'sample must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave sample out to use its default (5 seconds).';
    END IF;
    IF seconds < 0.1 OR seconds > 3600 THEN
        RAISE EXCEPTION 'sample must be between 100 milliseconds and 1 hour, not %', sample
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A longer sample (10 seconds or more) smooths the statistics flush delay.';
    END IF;
    -- pg_stat_statements counts only when its library is loaded (its settings then exist).
    SELECT n.nspname INTO pss_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements' AND current_setting('pg_stat_statements.max', true) IS NOT NULL;

    -- With stats_fetch_consistency = cache or snapshot, the second read would see the first
    -- read's values: clear the snapshot before each read. No subtransaction (EXCEPTION
    -- block) may run between the reads: with a snapshot, it keeps the first one alive.
    PERFORM pg_stat_clear_snapshot();
    SELECT xact_commit + xact_rollback INTO xacts_before FROM pg_stat_database WHERE datname = current_database();
    IF pss_schema IS NOT NULL THEN
        EXECUTE format('SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0) FROM %I.pg_stat_statements
                         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
                       pss_schema) INTO exec_before, calls_before;
    END IF;
    started := clock_timestamp();
    PERFORM pg_sleep(seconds);
    elapsed := extract(epoch FROM clock_timestamp() - started);
    PERFORM pg_stat_clear_snapshot();
    SELECT xact_commit + xact_rollback INTO xacts_after FROM pg_stat_database WHERE datname = current_database();
    IF pss_schema IS NOT NULL THEN
        EXECUTE format('SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0) FROM %I.pg_stat_statements
                         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
                       pss_schema) INTO exec_after, calls_after;
    END IF;
    -- pg_stat_statements counts each statement as it ends; pg_stat_database's transaction
    -- counters reach shared memory only when a backend flushes them (at most once a second,
    -- later under contention), so the statement rate is preferred when it is available.
    IF pss_schema IS NOT NULL AND calls_after > calls_before THEN
        rate := (calls_after - calls_before) / elapsed;
        rate_src := format('statements per second in database %s over %s s (pg_stat_statements)',
                           current_database(), round(elapsed::numeric, 1));
    ELSE
        rate := greatest(xacts_after - xacts_before, 0) / elapsed;
        rate_src := format('commits and rollbacks per second in database %s over %s s (pg_stat_database)',
                           current_database(), round(elapsed::numeric, 1));
    END IF;

    BEGIN
        SELECT avg(h.active) INTO mean_active FROM vigil.activity_history() h WHERE h.sampled_at >= started;
        SELECT s.active_p95 INTO active_p95 FROM vigil.activity_stats(greatest(sample, interval '5 minutes')) s;
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        sampler := false;
    END;

    IF pss_schema IS NOT NULL AND calls_after > calls_before THEN
        service_ms := (exec_after - exec_before) / (calls_after - calls_before);
        service_src := 'pg_stat_statements: mean execution time of the statements run during the sample';
    ELSIF sampler AND rate > 0 AND mean_active > 0 THEN
        service_ms := mean_active / rate * 1000;
        service_src := 'Little''s law: mean active sessions from the sampler / transaction rate';
    END IF;

    formula := least(vigil.pool_size_formula(cores), available);
    IF rate > 0 AND service_ms > 0 THEN
        SELECT p.value INTO queueing FROM vigil.pool_size_for(rate, service_ms) p WHERE p.metric = 'pool_size';
    END IF;

    IF queueing IS NULL THEN
        recommended := formula;
        verdict := 'not enough activity to model the queue: starting from cores × 2';
    ELSIF queueing > available THEN
        recommended := available;
        verdict := format('bottleneck: max_connections; the load needs %s connections but %s are available: '
                          'put PgBouncer in front and raise max_connections or reduce the service time',
                          queueing, available);
    ELSIF queueing > 2 * cores THEN
        recommended := greatest(formula, least(queueing, available));
        verdict := format('bottleneck: CPU if the statements are CPU-bound; the load keeps %s connections busy '
                          'on %s cores and needs %s for the wait target: more than cores × 2 only helps while '
                          'statements wait on I/O or locks; otherwise shorten them or add cores',
                          round((rate * service_ms / 1000)::numeric, 1), cores, queueing);
    ELSE
        recommended := greatest(queueing, least(ceil(coalesce(active_p95, 0))::int, formula));
        verdict := format('ok: a pool of %s keeps the p99 wait under 10 ms within %s cores', recommended, cores);
    END IF;

    metric := 'request_rate'; value := rate;
    explanation := rate_src;
    RETURN NEXT;
    metric := 'mean_service_time_ms'; value := service_ms;
    explanation := coalesce(service_src, 'unknown: install pg_stat_statements or preload pgvigil');
    RETURN NEXT;
    metric := 'offered_load'; value := rate * service_ms / 1000;
    explanation := 'connections busy on average (Little''s law)';
    RETURN NEXT;
    metric := 'observed_active_p95'; value := active_p95;
    explanation := CASE WHEN sampler THEN '95th percentile of active sessions from the activity sampler'
                        ELSE 'unknown: pgvigil is not in shared_preload_libraries' END;
    RETURN NEXT;
    metric := 'cpu_cores'; value := cores; explanation := 'online CPU cores of the database host';
    RETURN NEXT;
    metric := 'formula_pool_size'; value := formula; explanation := 'cores × 2 (vigil.pool_size_formula)';
    RETURN NEXT;
    metric := 'queueing_pool_size'; value := queueing;
    explanation := 'smallest pool with p99 wait <= 10 ms at <= 80% utilisation (vigil.pool_size_for)';
    RETURN NEXT;
    metric := 'available_connections'; value := available;
    explanation := 'max_connections minus superuser_reserved_connections';
    RETURN NEXT;
    metric := 'recommended_pool_size'; value := recommended; explanation := verdict;
    RETURN NEXT;
END
$$;

-- A ready pgbouncer.ini section for this database. pool_size NULL: cores × 2, capped at the
-- server's connection slots. A value pgbouncer.ini cannot hold safely (a database name with a
-- line break) is refused (22023), never written (core/pgbouncer_ini.hpp).
CREATE FUNCTION vigil.pgbouncer_config(pool_size int DEFAULT NULL, pool_mode text DEFAULT 'transaction',
                                       max_client_conn int DEFAULT 1000)
    RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_pgbouncer_config';
