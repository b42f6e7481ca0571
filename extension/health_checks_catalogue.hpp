/*
 * health_checks_catalogue.hpp — the health checks: what each measures, its query, its
 * thresholds (the vigil.<check>_warning and _critical settings) and what to do when it fires.
 */
#pragma once

#include "core/partial_sight.hpp"

#include <string>

namespace vigil::health {

using core::Blind;

/* How a check's value and thresholds are measured. */
enum class Kind {
    Ratio,    /* fraction 0..1, shown as a percentage */
    Factor,   /* multiple of a server setting, 0..100 */
    Duration, /* milliseconds; the GUCs take time units like statement_timeout */
    Count,    /* number of objects or events */
    Bytes,    /* bytes; the GUCs take memory units (MB) */
};

/*
 * One health check: its thresholds, its query and what to do when it fires.
 *
 * The query returns one row: value (a number, NULL = no data), detail (text), and optionally
 * status (text: 'warning' or 'critical' forces at least that status, 'unknown' says the value
 * could not be measured: see core::grade), recommendation (text:
 * replaces the static one, e.g. a statement naming the object found), hidden (the number of
 * objects the calling role could not see, of the kind `blind` says) and hidden_in (text: where
 * they are, e.g. the schemas of unreadable sequences). Another role's session is hidden when
 * pg_stat_activity shows its user and database but not its type (backend_type IS NULL AND
 * usesysid IS NOT NULL AND datid IS NOT NULL): that is how PostgreSQL 15 shows it to a role
 * without pg_read_all_stats.
 */
struct CheckDef {
    const char *name;
    Kind kind;
    bool lower_is_worse;
    double warning;  /* default: fraction, factor, ms, count or MB */
    double critical; /* same unit */
    const char *measures;
    const char *sql; /* see above */
    const char *recommendation;
    Blind blind = Blind::Nothing; /* what the query's hidden column counts */
};

/* The number of checks. */
int check_count();

/* Check i (0 <= i < check_count()), in the order they are documented (docs/health-checks.md). */
const CheckDef &check(int i);

/* Check i's warning or critical threshold, in the unit of its value (bytes for Bytes checks). */
double threshold_value(int i, bool critical);

/* Check i's query. Throws vigil::Error when the check cannot run in this database. */
std::string check_query(int i);

/* A value of this kind as a person reads it: 73.2%, 1.5 s, 12 MB, 3. */
std::string format_value(Kind kind, double v);

/* Defines every check's threshold settings, the settings their queries read and the time and
 * lock limits they run under. */
void define_check_settings();

/* vigil.health_check_timeout: the statement timeout of each check, ms (0 = none). */
int check_timeout_ms();

/* vigil.health_check_lock_timeout: the lock timeout of the checks and of verify_indexes, ms (0 = none). */
int check_lock_timeout_ms();

} // namespace vigil::health
