-- pgvigil install script. Built from extension/sql/*.sql in file-name order.
\echo Use "CREATE EXTENSION pgvigil" to load this file. \quit

COMMENT ON SCHEMA vigil IS 'pgvigil: keep PostgreSQL healthy under load';

-- The version of the loaded pgvigil library.
CREATE FUNCTION vigil.version() RETURNS text
    LANGUAGE c PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'vigil_version';
