/*
 * partial_sight.cpp — checks that could see only part of what they measure (see partial_sight.hpp).
 */
#include "partial_sight.hpp"

namespace vigil::core {

namespace {

/* "1 session", "3 sessions". */
std::string counted(std::int64_t n, const char *one, const char *many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

} // namespace

HealthStatus graded_in_part(HealthStatus seen) {
    return seen == HealthStatus::Critical ? HealthStatus::Critical : HealthStatus::Unknown;
}

std::string hidden_detail(Blind what, std::int64_t hidden, const std::string &role,
                          const std::string &where) {
    switch (what) {
    case Blind::Nothing:
        return "";
    case Blind::OtherSessions:
        return counted(hidden, "session of another role is", "sessions of other roles are") +
               " hidden from role " + role + ", which lacks pg_read_all_stats (part of pg_monitor)";
    case Blind::Sequences:
        return counted(hidden, "sequence", "sequences") + (where.empty() ? "" : " in schema " + where) +
               (hidden == 1 ? " is" : " are") + " not readable by role " + role +
               ", which has neither SELECT nor USAGE on " + (hidden == 1 ? "it" : "them");
    case Blind::WalReceiver:
        return "the WAL receiver's state or primary_conninfo is hidden from role " + role +
               ", which lacks pg_read_all_stats or pg_read_all_settings (both part of pg_monitor)";
    }
    return "";
}

std::string grant_recommendation(Blind what, const std::string &role, const std::string &where) {
    switch (what) {
    case Blind::Nothing:
        return "";
    case Blind::OtherSessions:
        return "GRANT pg_monitor TO " + role +
               ": it includes pg_read_all_stats, which shows every session's state, query and progress.";
    case Blind::Sequences:
        return "GRANT SELECT ON ALL SEQUENCES IN SCHEMA " + (where.empty() ? std::string("...") : where) +
               " TO " + role + " (pg_monitor does not include it), or run the check as the sequences' owner.";
    case Blind::WalReceiver:
        return "GRANT pg_monitor TO " + role +
               ": it includes pg_read_all_stats and pg_read_all_settings, which show the WAL receiver's "
               "state and primary_conninfo.";
    }
    return "";
}

} // namespace vigil::core
