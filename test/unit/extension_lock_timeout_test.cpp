// vigil::core lock timeouts: the timeout argument of vigil.advisory_lock() and friends as the
// lock_timeout the request runs under.
#include <gtest/gtest.h>

#include "lock_timeout.hpp"

#include <cstdint>

using namespace vigil::core;

namespace {
constexpr std::int64_t kSecond = 1000000;
using Problem = TimeoutMs::Problem;
} // namespace

TEST(ExtensionLockTimeout, ZeroMeansTryOnce) {
    const TimeoutMs t = lock_timeout_ms(0, 0, 0);
    EXPECT_EQ(t.problem, Problem::None);
    EXPECT_EQ(t.ms, 0);
}

TEST(ExtensionLockTimeout, WholeMillisecondsAreKept) {
    EXPECT_EQ(lock_timeout_ms(250000, 0, 0).ms, 250);
    EXPECT_EQ(lock_timeout_ms(5 * kSecond, 0, 0).ms, 5000);
}

TEST(ExtensionLockTimeout, PartsOfAMillisecondRoundUp) {
    // lock_timeout = 0 would mean no limit at all: a microsecond is one millisecond.
    EXPECT_EQ(lock_timeout_ms(1, 0, 0).ms, 1);
    EXPECT_EQ(lock_timeout_ms(1001, 0, 0).ms, 2);
}

TEST(ExtensionLockTimeout, DaysAndMonthsCount) {
    EXPECT_EQ(lock_timeout_ms(0, 1, 0).ms, 86400000);
    EXPECT_EQ(lock_timeout_ms(0, 24, 0).ms, 24 * 86400000);
    EXPECT_EQ(lock_timeout_ms(3600 * kSecond, 1, 0).ms, 25 * 3600000);
}

TEST(ExtensionLockTimeout, ComponentsOfMixedSignAddUp) {
    // '1 day -23 hours' is one hour.
    EXPECT_EQ(lock_timeout_ms(-23 * 3600 * kSecond, 1, 0).ms, 3600000);
}

TEST(ExtensionLockTimeout, NegativeTimeoutsAreRefused) {
    EXPECT_EQ(lock_timeout_ms(-1, 0, 0).problem, Problem::Negative);
    EXPECT_EQ(lock_timeout_ms(0, -1, 0).problem, Problem::Negative);
    EXPECT_EQ(lock_timeout_ms(0, 0, -1).problem, Problem::Negative);
}

TEST(ExtensionLockTimeout, TheLongestTimeoutIsIntMaxMilliseconds) {
    EXPECT_EQ(lock_timeout_ms(kMaxLockTimeoutMs * 1000, 0, 0).ms, INT32_MAX);
    EXPECT_EQ(lock_timeout_ms(kMaxLockTimeoutMs * 1000 + 1, 0, 0).problem, Problem::TooLong);
    EXPECT_EQ(lock_timeout_ms(0, 25, 0).problem, Problem::TooLong) << "25 days is about 2.16e9 ms";
    EXPECT_EQ(lock_timeout_ms(0, 0, 1).problem, Problem::TooLong) << "a month is 30 days";
}

TEST(ExtensionLockTimeout, HugeIntervalsDoNotWrapAround) {
    EXPECT_EQ(lock_timeout_ms(INT64_MAX, INT32_MAX, INT32_MAX).problem, Problem::TooLong);
    EXPECT_EQ(lock_timeout_ms(INT64_MIN, INT32_MIN, INT32_MIN).problem, Problem::Negative);
}

TEST(ExtensionLockTimeout, RemainingTimeRoundsUp) {
    EXPECT_EQ(remaining_ms(0, 1), 1);
    EXPECT_EQ(remaining_ms(0, 1000), 1);
    EXPECT_EQ(remaining_ms(0, 1001), 2);
    EXPECT_EQ(remaining_ms(5 * kSecond, 7 * kSecond), 2000);
}

TEST(ExtensionLockTimeout, NoTimeRemainsOnceTheDeadlinePassed) {
    EXPECT_EQ(remaining_ms(10, 10), 0);
    EXPECT_EQ(remaining_ms(11, 10), 0);
}

TEST(ExtensionLockTimeout, RemainingTimeIsCappedAtTheLongestTimeout) {
    EXPECT_EQ(remaining_ms(0, INT64_C(1) << 62), INT32_MAX);
}
