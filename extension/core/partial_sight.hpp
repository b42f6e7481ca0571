/*
 * partial_sight.hpp — what a health check says when the calling role could not see everything
 * it measures: which privilege was missing, which grant gives it, and how that changes the
 * status. Pure C++ (no PostgreSQL header), specified by test/unit/extension_partial_sight_test.cpp.
 */
#pragma once

#include "health_status.hpp"

#include <cstdint>
#include <string>

namespace vigil::core {

/* What a check may be unable to see for lack of a privilege. */
enum class Blind {
    Nothing,       /* it reads views every role may read in full */
    OtherSessions, /* other roles' sessions: state, query, transaction, progress (pg_read_all_stats) */
    Sequences,     /* sequences the role has neither SELECT nor USAGE on */
    WalReceiver,   /* a standby's WAL receiver (pg_read_all_stats) or its primary_conninfo
                      (pg_read_all_settings) */
};

/*
 * The status of a check that could see only part of what it measures. Everything it measures
 * grows with what it sees (a count, a maximum), so what it saw is a lower bound: critical stays
 * critical; anything else is unknown, since the hidden part may be worse.
 */
HealthStatus graded_in_part(HealthStatus seen);

/* What was hidden, completed into a sentence for the detail: "3 sessions of other roles are
 * hidden from role monitor ...". role is an SQL identifier as it appears in a GRANT (quoted if
 * it needs to be); where names the schemas of hidden sequences. */
std::string hidden_detail(Blind what, std::int64_t hidden, const std::string &role, const std::string &where);

/* The grant that lets role see everything, as the recommendation of an unknown check. */
std::string grant_recommendation(Blind what, const std::string &role, const std::string &where);

} // namespace vigil::core
