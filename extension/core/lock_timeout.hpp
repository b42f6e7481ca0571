/*
 * lock_timeout.hpp — the timeout of an advisory-lock request as the lock_timeout it runs under.
 * Pure C++ (no PostgreSQL header), specified by test/unit/extension_lock_timeout_test.cpp.
 */
#pragma once

#include <cstdint>

namespace vigil::core {

/* The largest timeout lock_timeout can express: INT_MAX milliseconds (about 24.8 days). */
constexpr std::int64_t kMaxLockTimeoutMs = INT32_MAX;

/* A timeout in milliseconds, or why it cannot be one. */
struct TimeoutMs {
    enum class Problem { None, Negative, TooLong } problem;
    int ms; /* when problem is None */
};

/*
 * An interval (time_us + days + months, a month being 30 days, as interval arithmetic has it) as
 * lock_timeout milliseconds: 0 stays 0 (try once), anything else is rounded up, so a positive
 * timeout under a millisecond is 1 rather than lock_timeout's "no limit". Negative intervals
 * and ones beyond kMaxLockTimeoutMs are refused.
 */
TimeoutMs lock_timeout_ms(std::int64_t time_us, std::int32_t days, std::int32_t months);

/* The milliseconds left from now_us until deadline_us, rounded up: never negative and at most
 * kMaxLockTimeoutMs; 0 once the deadline has passed. */
int remaining_ms(std::int64_t now_us, std::int64_t deadline_us);

} // namespace vigil::core
