/*
 * health_checks_limits.hpp — the time and lock limits (and settings) that vigil.health_check()
 * and vigil.verify_indexes() run their statements under, so that a monitoring call never queues
 * behind a strong lock or runs past its budget, while the caller's own statement_timeout and
 * cancels still end the whole call.
 */
#pragma once

#include "guard.hpp"

extern "C" {
#include "utils/timestamp.h"
}

namespace vigil::health {

/*
 * A statement timeout at a deadline of ours, or at the caller's statement_timeout if that comes
 * sooner. arm() before the statements, disarm() after them (also after an error).
 */
class StatementDeadline {
  public:
    /* Arms the timeout at deadline (none when enabled is false: only the caller's applies). */
    void arm(TimestampTz deadline, bool enabled);

    /* Restores the caller's statement timeout and drops a cancel our timeout left pending. */
    void disarm();

    /* True when a query cancel came from our deadline, not from the user or their timeout. */
    bool fired() const;

  private:
    bool enabled_ = false;
    bool outer_active_ = false;
    TimestampTz outer_finish_ = 0;
    TimestampTz deadline_ = 0;
};

/*
 * Sets what the checks' statements run under until end_statement_settings(): lock_timeout to
 * lock_timeout_ms (0 = none), and jit off (compiling a plan takes longer than running any of
 * these catalog queries: with JIT, the checks took 1.2 s instead of 0.2 s on 10,000 tables).
 * Returns the GUC nest level to pass to end_statement_settings().
 */
int begin_statement_settings(int lock_timeout_ms);

/* Restores the settings that begin_statement_settings() replaced. */
void end_statement_settings(int nest_level);

} // namespace vigil::health
