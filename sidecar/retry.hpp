// retry.hpp — the SQLSTATE retry rules and the backoff schedule, in one place. The pool, the
// workloads and import all ask here whether a failure is worth another attempt.
#pragma once

#include <chrono>
#include <string>

namespace vigil::retry {

// 40001 serialization_failure and 40P01 deadlock_detected: the transaction lost a race and the
// same work will very likely succeed when run again from the start.
bool is_transaction_conflict(const std::string &sqlstate);

// Class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 57P05
// (idle_session_timeout) and an
// empty SQLSTATE from libpq: the connection is gone, retry on a fresh one.
bool is_connection_lost(const std::string &sqlstate);

// Either of the above: running the whole transaction again is safe and useful.
bool is_retryable(const std::string &sqlstate);

// The server cannot be used now (is_connection_lost with a SQLSTATE): what the command line
// reports as "unavailable" (exit 69) rather than as a failure of vigild's own.
bool is_unavailable(const std::string &sqlstate);

// Exponential backoff with jitter: attempt n waits between half and all of base * 2^n, never more
// than `cap`, so clients that failed together do not come back together.
class Backoff {
  public:
    Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap);
    std::chrono::milliseconds next(); // the delay before the next attempt

  private:
    std::chrono::milliseconds base_, cap_;
    int attempt_ = 0;
};

} // namespace vigil::retry
