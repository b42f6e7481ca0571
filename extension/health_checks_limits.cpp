/*
 * health_checks_limits.cpp — statement deadlines and settings of the health checks (see
 * health_checks_limits.hpp).
 */
#include "health_checks_limits.hpp"

extern "C" {
#include "utils/guc.h"
#include "utils/timeout.h"
}

#include <algorithm>
#include <string>

namespace vigil::health {

void StatementDeadline::arm(TimestampTz deadline, bool enabled) {
    enabled_ = enabled;
    deadline_ = deadline;
    vigil::pg_call([&] {
        outer_active_ = get_timeout_active(STATEMENT_TIMEOUT);
        if (outer_active_)
            outer_finish_ = get_timeout_finish_time(STATEMENT_TIMEOUT);
        if (enabled_)
            enable_timeout_at(STATEMENT_TIMEOUT,
                              outer_active_ ? std::min(outer_finish_, deadline_) : deadline_);
    });
}

void StatementDeadline::disarm() {
    vigil::pg_call([&] {
        disable_timeout(STATEMENT_TIMEOUT, false);
        /* Our timer fired after the statements finished: drop its cancel so that it does not
         * end the next statement (or the caller's). */
        if (get_timeout_indicator(STATEMENT_TIMEOUT, true) &&
            !(outer_active_ && GetCurrentTimestamp() >= outer_finish_))
            QueryCancelPending = false;
        if (outer_active_)
            enable_timeout_at(STATEMENT_TIMEOUT, outer_finish_);
    });
}

bool StatementDeadline::fired() const {
    const TimestampTz now = GetCurrentTimestamp();
    return enabled_ && now >= deadline_ && !(outer_active_ && now >= outer_finish_);
}

int begin_statement_settings(int lock_timeout_ms) {
    const std::string value = std::to_string(lock_timeout_ms);
    return vigil::pg_call([&] {
        const int level = NewGUCNestLevel();
        (void)set_config_option("lock_timeout", value.c_str(), PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                                true, 0, false);
        (void)set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
        return level;
    });
}

void end_statement_settings(int nest_level) {
    vigil::pg_call([&] { AtEOXact_GUC(true, nest_level); });
}

} // namespace vigil::health
