/*
 * health_status.hpp — how a health check's value becomes ok, warning or critical, how the
 * results are ordered, and what a whole run adds up to. Pure C++ (no PostgreSQL header),
 * specified by test/unit/extension_health_status_test.cpp.
 */
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace vigil::core {

/* A check's status. The values are the severity column and the Nagios exit codes. */
enum class HealthStatus { Ok = 0, Warning = 1, Critical = 2, Unknown = 3 };

/* The status as vigil.health_check() shows it: "ok", "warning", "critical", "unknown". */
const char *status_name(HealthStatus s);

/* Output order: the statuses that need attention first (critical, warning, unknown, ok). */
int attention_rank(HealthStatus s);

/* A check's thresholds, in the unit of its value. */
struct Thresholds {
    double warning;
    double critical;
    bool lower_is_worse; /* the check fires below its thresholds, not above */
};

/*
 * The status of a check's value: critical beyond the critical threshold, warning beyond the
 * warning one (beyond: strictly above, or strictly below when lower is worse), ok otherwise and
 * when there is no value (no data). A status the check's query forces then applies: "critical"
 * always wins, "warning" turns ok into warning, "unknown" (the query could not measure: a
 * standby whose WAL receiver does not stream has no lag to measure) turns ok and warning into
 * unknown; anything else is ignored.
 */
HealthStatus grade(std::optional<double> value, const Thresholds &t, std::string_view forced_status = {});

/* The status of a whole run: the one needing most attention; ok for no checks at all. */
HealthStatus overall_status(const std::vector<HealthStatus> &statuses);

} // namespace vigil::core
