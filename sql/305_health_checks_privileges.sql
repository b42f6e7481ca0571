-- vigil.health_check() run by three roles: a LOGIN-only role, a member of pg_monitor and the owner
-- of the objects (the superuser running the tests). A check that cannot see all of what it
-- measures must not say ok: it is unknown (unless what it could see is already critical), its
-- detail names the missing privilege and its recommendation the grant. Sessions of other roles,
-- which pg_stat_activity hides from a role without pg_read_all_stats, are in
-- test/isolation/specs/health_checks_privileges.spec; here the one hidden thing is a sequence.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION pg_stat_statements;
SELECT pg_stat_statements_reset() IS NOT NULL AS reset;

CREATE ROLE hc_login LOGIN;
CREATE ROLE hc_monitor LOGIN IN ROLE pg_monitor;
GRANT USAGE ON SCHEMA vigil TO hc_login, hc_monitor;
-- The owner's smallint sequence, 97.7% through its range: critical as the owner.
CREATE SEQUENCE hc_priv_seq AS smallint;
SELECT setval('hc_priv_seq', 32000) IS NOT NULL AS set;
-- Thresholds that do not depend on what earlier tests left behind.
SET vigil.cache_hit_ratio_warning = 0;
SET vigil.cache_hit_ratio_critical = 0;
SET vigil.forced_checkpoints_warning = 1;
SET vigil.forced_checkpoints_critical = 1;

CREATE TABLE hc_seen (who text, check_name text, status text, detail text, recommendation text);
GRANT INSERT ON hc_seen TO hc_login, hc_monitor;
CREATE FUNCTION hc_record(who text) RETURNS void LANGUAGE sql AS
$$ INSERT INTO hc_seen SELECT who, check_name, status, detail, recommendation FROM vigil.health_check() $$;
GRANT EXECUTE ON FUNCTION hc_record(text) TO hc_login, hc_monitor;
CREATE FUNCTION hc_matrix() RETURNS TABLE (check_name text, owner text, pg_monitor text, login_only text)
LANGUAGE sql AS $$
  SELECT o.check_name, o.status, m.status, l.status
    FROM hc_seen o
    JOIN hc_seen m ON m.check_name = o.check_name AND m.who = 'pg_monitor'
    JOIN hc_seen l ON l.check_name = o.check_name AND l.who = 'login_only'
   WHERE o.who = 'owner' ORDER BY o.check_name $$;
CREATE FUNCTION hc_run_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM hc_seen;
  PERFORM hc_record('owner');
  SET LOCAL ROLE hc_monitor;
  PERFORM hc_record('pg_monitor');
  SET LOCAL ROLE hc_login;
  PERFORM hc_record('login_only');
END $$;

-- Every check, as each role: the same status, except where the role cannot see everything.
BEGIN;
SELECT hc_run_all();
COMMIT;
SELECT * FROM hc_matrix();
SELECT who, detail, recommendation FROM hc_seen WHERE check_name = 'sequences' ORDER BY who;

-- The grant the recommendation names lets the role see the sequence: critical for it too.
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO hc_monitor;
BEGIN;
SELECT hc_run_all();
COMMIT;
SELECT * FROM hc_matrix() WHERE owner IS DISTINCT FROM pg_monitor OR owner IS DISTINCT FROM login_only;

-- What a role could see is a lower bound: already critical stays critical. The owner's sequence at
-- 97.7% stays hidden, but one the login role may read is at 91.6%.
CREATE SEQUENCE hc_priv_readable AS smallint;
SELECT setval('hc_priv_readable', 30000) IS NOT NULL AS set;
GRANT SELECT ON SEQUENCE hc_priv_readable TO hc_login;
SET ROLE hc_login;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'sequences';
SET vigil.sequences_critical = 0.95;
SELECT status, detail, recommendation FROM vigil.health_check() WHERE check_name = 'sequences';
RESET vigil.sequences_critical;
RESET ROLE;

-- health_summary (and vigild check, which grades the same rows) is unknown for the role that
-- cannot see, not ok.
DROP SEQUENCE hc_priv_readable;
SET vigil.sequences_critical = 1;
SET vigil.sequences_warning = 1;
SET ROLE hc_login;
SELECT status, exit_code, unknown >= 1 AS counted FROM vigil.health_summary();
SELECT check_name, status FROM vigil.health_check() WHERE status = 'unknown' ORDER BY check_name;
RESET ROLE;
RESET vigil.sequences_critical; RESET vigil.sequences_warning;

DROP FUNCTION hc_run_all(), hc_matrix(), hc_record(text);
DROP TABLE hc_seen;
DROP SEQUENCE hc_priv_seq;
REVOKE SELECT ON ALL SEQUENCES IN SCHEMA public FROM hc_monitor;
REVOKE USAGE ON SCHEMA vigil FROM hc_login, hc_monitor;
DROP ROLE hc_login, hc_monitor;
DROP EXTENSION pg_stat_statements;
