
-- Health checks (docs/health-checks.md). Grant pg_monitor to the roles that call them.

-- One row per check, the statuses needing attention first.
CREATE FUNCTION vigil.health_check()
    RETURNS TABLE (check_name text, status text, severity int, current_value text, threshold text,
                   detail text, recommendation text)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'vigil_health_check';

-- The worst status and the count of each status; exit_code follows Nagios (0 ok .. 3 unknown).
CREATE FUNCTION vigil.health_summary(OUT status text, OUT exit_code int, OUT critical int, OUT warning int,
                                     OUT ok int, OUT unknown int)
    RETURNS record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'vigil_health_summary';

-- pg_sequence_last_value() without a relcache entry per sequence or a lock held to the end of the
-- transaction; NULL when never called, not readable by the role, or another session's temporary one.
CREATE FUNCTION vigil.sequence_last_value(seq regclass)
    RETURNS bigint
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'vigil_sequence_last_value';

-- amcheck's bt_index_check() on every btree index within a time budget: one row per index, ok,
-- corrupt or skipped (not reached in time, not lockable, not valid), with what was found. Needs
-- CREATE EXTENSION amcheck and EXECUTE on its bt_index_check(regclass).
CREATE FUNCTION vigil.verify_indexes(time_budget interval DEFAULT '1 min',
                                     OUT index regclass, OUT status text, OUT detail text)
    RETURNS SETOF record
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'vigil_verify_indexes';
