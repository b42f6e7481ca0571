/*
 * health_status.cpp — grading health checks (see health_status.hpp).
 */
#include "health_status.hpp"

namespace vigil::core {

const char *status_name(HealthStatus s) {
    switch (s) {
    case HealthStatus::Ok:
        return "ok";
    case HealthStatus::Warning:
        return "warning";
    case HealthStatus::Critical:
        return "critical";
    case HealthStatus::Unknown:
        return "unknown";
    }
    return "unknown";
}

int attention_rank(HealthStatus s) {
    switch (s) {
    case HealthStatus::Critical:
        return 0;
    case HealthStatus::Warning:
        return 1;
    case HealthStatus::Unknown:
        return 2;
    case HealthStatus::Ok:
        return 3;
    }
    return 3;
}

HealthStatus grade(std::optional<double> value, const Thresholds &t, std::string_view forced_status) {
    HealthStatus status = HealthStatus::Ok;
    if (value) {
        const double v = *value;
        const bool crit = t.lower_is_worse ? v < t.critical : v > t.critical;
        const bool warn = t.lower_is_worse ? v < t.warning : v > t.warning;
        status = crit ? HealthStatus::Critical : warn ? HealthStatus::Warning : HealthStatus::Ok;
    }
    if (forced_status == "critical")
        status = HealthStatus::Critical;
    else if (forced_status == "warning" && status == HealthStatus::Ok)
        status = HealthStatus::Warning;
    else if (forced_status == "unknown" && status != HealthStatus::Critical)
        status = HealthStatus::Unknown;
    return status;
}

HealthStatus overall_status(const std::vector<HealthStatus> &statuses) {
    HealthStatus worst = HealthStatus::Ok;
    for (const HealthStatus s : statuses)
        if (attention_rank(s) < attention_rank(worst))
            worst = s;
    return worst;
}

} // namespace vigil::core
