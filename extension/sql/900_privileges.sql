
-- Privileges (docs/extension.md#privileges). Monitoring is set up with GRANT pg_monitor TO role:
-- members of pg_monitor reach the schema and read every view. Every function keeps
-- PostgreSQL's default EXECUTE for PUBLIC, so any role given USAGE on the schema (an
-- application that takes advisory locks or updates optimistically) can call them; each runs
-- with the caller's privileges (SECURITY INVOKER, views with security_invoker) and refuses,
-- with SQLSTATE 42501 and a hint naming the grant, what the caller may not do: terminating
-- needs pg_signal_backend, measuring bloat SELECT on the table or pg_stat_scan_tables,
-- optimistic updates the table's privileges, versioning its ownership.
GRANT USAGE ON SCHEMA vigil TO pg_monitor;
GRANT SELECT ON vigil.blocking_locks, vigil.advisory_locks, vigil.table_bloat, vigil.index_bloat TO pg_monitor;
