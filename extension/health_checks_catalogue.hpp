/*
 * health_checks_catalogue.hpp — the health checks: what each measures, its query, its
 * thresholds (the vigil.<check>_warning and _critical settings) and what to do when it fires.
 */
#pragma once

#include <string>

namespace vigil::health {

/* How a check's value and thresholds are measured. */
enum class Kind {
    Ratio,    /* fraction 0..1, shown as a percentage */
    Factor,   /* multiple of a server setting, 0..100 */
    Duration, /* milliseconds; the GUCs take time units like statement_timeout */
    Count,    /* number of objects or events */
    Bytes,    /* bytes; the GUCs take memory units (MB) */
};

/* One health check: its thresholds, its query and what to do when it fires. */
struct CheckDef {
    const char *name;
    Kind kind;
    bool lower_is_worse;
    double warning;  /* default: fraction, factor, ms, count or MB */
    double critical; /* same unit */
    const char *measures;
    const char *sql; /* one row: value float8 (NULL = no data), detail text [, forced status] */
    const char *recommendation;
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

/* Defines an int vigil.* setting of the health checks (any role may set it; no upper bound). */
void define_int_setting(const char *name, const char *desc, int *var, int boot, int min, int flags);

/* Defines every check's threshold settings and the settings their queries read. */
void define_check_settings();

} // namespace vigil::health
