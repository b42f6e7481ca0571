-- The C++/PostgreSQL error boundary: a C++ exception becomes a clean ERROR with a proper
-- SQLSTATE, and the session (and an open transaction's savepoints) keep working after it.
\set VERBOSITY default
SELECT vigil.version() = extversion AS library_matches_extension
  FROM pg_extension WHERE extname = 'pgvigil';

-- A bad argument makes the C++ body throw; the SQLSTATE is 22023 (invalid_parameter_value).
SELECT vigil.pool_size_formula(0);
\echo :LAST_ERROR_SQLSTATE
SELECT vigil.pool_size_formula(4, -1);
\echo :LAST_ERROR_SQLSTATE

-- The session keeps working.
SELECT vigil.pool_size_formula(4) AS four_cores, vigil.pool_size_formula(4, 2) AS with_spindles;

-- Inside a transaction the error aborts only up to the savepoint.
BEGIN;
CREATE TABLE guard_probe (id int);
SAVEPOINT before_error;
SELECT vigil.pool_size_formula(-5);
ROLLBACK TO SAVEPOINT before_error;
INSERT INTO guard_probe VALUES (1);
COMMIT;
SELECT count(*) AS rows_kept FROM guard_probe;
DROP TABLE guard_probe;

-- Overflow is an error, not a wrapped number.
SELECT vigil.pool_size_formula(2000000000);
\echo :LAST_ERROR_SQLSTATE

-- A NULL argument is an error with a hint (22004), never a silent NULL (sql/700_privileges.sql
-- holds every function to that rule).
SELECT vigil.pool_size_formula(NULL);
\echo :LAST_ERROR_SQLSTATE

-- Many errors in a row leak nothing and never crash the backend.
DO $$
BEGIN
  FOR i IN 1..2000 LOOP
    BEGIN
      PERFORM vigil.pool_size_formula(-i);
    EXCEPTION WHEN invalid_parameter_value THEN
      NULL;
    END;
  END LOOP;
END $$;
SELECT vigil.pool_size_formula(1) AS still_alive;

-- Messages and details reach the client in full, however long (no fixed-size buffer cuts
-- them): a 2000-character column name in the message, a 2000-character value in the detail.
CREATE TABLE guard_long (id int PRIMARY KEY, version bigint NOT NULL DEFAULT 1);
DO $$
DECLARE
  message text;
  detail text;
BEGIN
  BEGIN
    PERFORM vigil.optimistic_update('guard_long', jsonb_build_object(repeat('k', 2000), 1), 1, '{}');
  EXCEPTION WHEN undefined_column THEN
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
    RAISE NOTICE 'message of % characters: %...%', length(message), left(message, 15), right(message, 40);
  END;
  BEGIN
    PERFORM vigil.optimistic_update('guard_long', jsonb_build_object('id', repeat('x', 2000)), 1, '{}');
  EXCEPTION WHEN invalid_text_representation THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'detail of % characters: %...%', length(detail), left(detail, 40), right(detail, 5);
  END;
END $$;
DROP TABLE guard_long;
