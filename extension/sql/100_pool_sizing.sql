
-- Connection-pool sizing (docs/pool-sizing.md).

-- The classic starting point: cpu_cores × 2 + effective_spindles.
CREATE FUNCTION vigil.pool_size_formula(cpu_cores int, effective_spindles int DEFAULT 0)
    RETURNS int
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_pool_size_formula';
