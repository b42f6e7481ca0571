// vigil::core Erlang C: the M/M/c queue behind vigil.pool_wait() and vigil.pool_size_for().
// Reference values are the closed forms with factorials (B = (a^c/c!) / sum a^k/k!).
#include <gtest/gtest.h>

#include "erlang_c.hpp"

#include <cmath>
#include <limits>

using namespace vigil::core;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

TEST(ExtensionErlangC, ErlangBMatchesTheClosedForm) {
    EXPECT_NEAR(erlang_b(1.0, 1), 0.5, 1e-12);
    EXPECT_NEAR(erlang_b(2.0, 3), 4.0 / 19.0, 1e-12);
    EXPECT_NEAR(erlang_b(10.0, 10), 0.2145823431, 1e-9);
    EXPECT_NEAR(erlang_b(20.0, 25), 0.0502217779, 1e-9);
}

TEST(ExtensionErlangC, ErlangBOfNoServersIsCertainBlocking) {
    EXPECT_EQ(erlang_b(3.0, 0), 1.0);
}

TEST(ExtensionErlangC, ErlangBStepsCarryTheRecurrence) {
    double b = 1.0;
    for (int c = 1; c <= 12; c++)
        b = erlang_b_step(b, 10.0, c);
    EXPECT_DOUBLE_EQ(b, erlang_b(10.0, 12));
}

TEST(ExtensionErlangC, TextbookCallCentreTenErlangs) {
    // 10 erlangs of offered traffic: the classic staffing table.
    EXPECT_NEAR(erlang_c_from_b(erlang_b(10, 11), 10, 11), 0.6821182047, 1e-9);
    EXPECT_NEAR(erlang_c_from_b(erlang_b(10, 12), 10, 12), 0.4493882243, 1e-9);
    EXPECT_NEAR(erlang_c_from_b(erlang_b(10, 14), 10, 14), 0.1741319336, 1e-9);
}

TEST(ExtensionErlangC, TwoErlangsOnThreeServersWaitFourNinthsOfTheTime) {
    const QueueMetrics m = mmc_metrics(2.0, 1000.0, 3); // 2 requests/s of 1 s each
    EXPECT_DOUBLE_EQ(m.offered_load, 2.0);
    EXPECT_NEAR(m.utilization, 2.0 / 3.0, 1e-12);
    EXPECT_NEAR(m.p_wait, 4.0 / 9.0, 1e-12);
    EXPECT_NEAR(m.mean_wait_ms, 4000.0 / 9.0, 1e-9); // C·S / (c - a)
    EXPECT_NEAR(m.p95_wait_ms, 1000.0 * std::log((4.0 / 9.0) / 0.05), 1e-9);
    EXPECT_NEAR(m.p99_wait_ms, 1000.0 * std::log((4.0 / 9.0) / 0.01), 1e-9);
}

TEST(ExtensionErlangC, OneServerIsMM1) {
    // M/M/1: P(wait) = rho and the mean wait is rho / (1 - rho) service times.
    const QueueMetrics m = mmc_metrics(5.0, 100.0, 1); // rho = 0.5
    EXPECT_NEAR(m.p_wait, 0.5, 1e-12);
    EXPECT_NEAR(m.mean_wait_ms, 100.0, 1e-9);
}

TEST(ExtensionErlangC, AtFullUtilisationTheQueueGrowsWithoutBound) {
    const QueueMetrics m = mmc_metrics(10.0, 1000.0, 10); // rho = 1
    EXPECT_DOUBLE_EQ(m.utilization, 1.0);
    EXPECT_EQ(m.p_wait, 1.0);
    EXPECT_EQ(m.mean_wait_ms, kInf);
    EXPECT_EQ(m.p95_wait_ms, kInf);
    EXPECT_EQ(m.p99_wait_ms, kInf);
}

TEST(ExtensionErlangC, BeyondFullUtilisationTheQueueGrowsWithoutBound) {
    const QueueMetrics m = mmc_metrics(30.0, 1000.0, 10); // rho = 3
    EXPECT_DOUBLE_EQ(m.utilization, 3.0);
    EXPECT_EQ(m.p_wait, 1.0);
    EXPECT_EQ(m.p99_wait_ms, kInf);
}

TEST(ExtensionErlangC, NoTrafficNeverWaits) {
    const QueueMetrics m = mmc_metrics(0.0, 50.0, 4);
    EXPECT_EQ(m.offered_load, 0.0);
    EXPECT_EQ(m.p_wait, 0.0);
    EXPECT_EQ(m.mean_wait_ms, 0.0);
    EXPECT_EQ(m.p99_wait_ms, 0.0);
}

TEST(ExtensionErlangC, AQuantileIsZeroWhenFewerRequestsWaitThanItLeavesOut) {
    // 0.5% of requests wait: the 99th percentile of the wait is 0.
    EXPECT_EQ(wait_quantile_ms(0.005, 10, 20, 100, 0.99), 0.0);
    EXPECT_EQ(wait_quantile_ms(0.01, 10, 20, 100, 0.99), 0.0);
    EXPECT_GT(wait_quantile_ms(0.02, 10, 20, 100, 0.99), 0.0);
}

TEST(ExtensionErlangC, StaysFiniteForHugePools) {
    // The recurrence needs no factorials: 900k busy connections out of a million.
    const QueueMetrics m = mmc_metrics(900000.0, 1000.0, 1000000);
    EXPECT_TRUE(std::isfinite(m.p_wait));
    EXPECT_GE(m.p_wait, 0.0);
    EXPECT_LE(m.p_wait, 1.0);
    EXPECT_TRUE(std::isfinite(m.p99_wait_ms));
}

TEST(ExtensionErlangC, MoreServersNeverWaitLonger) {
    double previous = 1.0;
    for (int c = 11; c <= 30; c++) {
        const double p = mmc_metrics(10.0, 1000.0, c).p_wait;
        EXPECT_LT(p, previous) << "c = " << c;
        previous = p;
    }
}

TEST(ExtensionErlangC, TheSmallestPoolMeetsTheTargetAndOneLessDoesNot) {
    const auto fit = smallest_pool(10.0, 100.0, 5.0, 1.0, 1000);
    ASSERT_TRUE(fit.has_value());
    EXPECT_LE(fit->p99_wait_ms, 5.0);
    EXPECT_GT(mmc_metrics(100.0, 100.0, fit->pool_size - 1).p99_wait_ms, 5.0);
    EXPECT_NEAR(fit->p_wait, mmc_metrics(100.0, 100.0, fit->pool_size).p_wait, 1e-12);
}

TEST(ExtensionErlangC, TheSmallestPoolRespectsTheUtilisationCeiling) {
    // 8 busy connections: any pool above 8 meets a generous target, but at most 50% busy
    // means 16.
    const auto fit = smallest_pool(8.0, 100.0, 1e9, 0.5, 1000);
    ASSERT_TRUE(fit.has_value());
    EXPECT_EQ(fit->pool_size, 16);
}

TEST(ExtensionErlangC, NoTrafficNeedsOneConnection) {
    const auto fit = smallest_pool(0.0, 100.0, 0.0, 0.8, 1000);
    ASSERT_TRUE(fit.has_value());
    EXPECT_EQ(fit->pool_size, 1);
    EXPECT_EQ(fit->p_wait, 0.0);
}

TEST(ExtensionErlangC, NoPoolWhenTheLimitIsTooSmall) {
    EXPECT_FALSE(smallest_pool(50.0, 100.0, 1.0, 0.8, 40).has_value());
}

TEST(ExtensionErlangC, TheSearchReportsProgressEvery4096Sizes) {
    int calls = 0;
    EXPECT_FALSE(smallest_pool(10000.0, 100.0, 0.0, 0.8, 10000, [&] { calls++; }).has_value());
    EXPECT_EQ(calls, 2); // at 4096 and 8192
}
