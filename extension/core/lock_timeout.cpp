/*
 * lock_timeout.cpp — advisory-lock timeouts in lock_timeout's unit (see lock_timeout.hpp).
 */
#include "lock_timeout.hpp"

#include <algorithm>

namespace vigil::core {

namespace {

constexpr std::int64_t kUsecsPerDay = INT64_C(86400000000);
constexpr std::int64_t kDaysPerMonth = 30;

} // namespace

TimeoutMs lock_timeout_ms(std::int64_t time_us, std::int32_t days, std::int32_t months) {
    /* 128 bits: months and days of an interval can overflow 64 bits of microseconds. */
    const __int128 usecs = static_cast<__int128>(time_us) + static_cast<__int128>(days) * kUsecsPerDay +
                           static_cast<__int128>(months) * kDaysPerMonth * kUsecsPerDay;
    if (usecs < 0)
        return {TimeoutMs::Problem::Negative, 0};
    const __int128 ms = (usecs + 999) / 1000;
    if (ms > kMaxLockTimeoutMs)
        return {TimeoutMs::Problem::TooLong, 0};
    return {TimeoutMs::Problem::None, static_cast<int>(ms)};
}

int remaining_ms(std::int64_t now_us, std::int64_t deadline_us) {
    if (now_us >= deadline_us)
        return 0;
    return static_cast<int>(std::min<std::int64_t>((deadline_us - now_us + 999) / 1000, kMaxLockTimeoutMs));
}

} // namespace vigil::core
