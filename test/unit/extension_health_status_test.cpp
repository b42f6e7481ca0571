// vigil::core health status: how vigil.health_check() grades a value and orders its rows, and
// what vigil.health_summary() reports for a run.
#include <gtest/gtest.h>

#include "health_status.hpp"

#include <optional>
#include <vector>

using namespace vigil::core;

namespace {
const Thresholds kHigherIsWorse{0.70, 0.85, false}; // like connections
const Thresholds kLowerIsWorse{0.95, 0.90, true};   // like cache_hit_ratio
} // namespace

TEST(ExtensionHealthStatus, AValueAtOrBelowTheWarningThresholdIsOk) {
    EXPECT_EQ(grade(0.5, kHigherIsWorse), HealthStatus::Ok);
    EXPECT_EQ(grade(0.70, kHigherIsWorse), HealthStatus::Ok) << "a threshold itself does not fire";
}

TEST(ExtensionHealthStatus, AValueBeyondTheWarningThresholdWarns) {
    EXPECT_EQ(grade(0.71, kHigherIsWorse), HealthStatus::Warning);
    EXPECT_EQ(grade(0.85, kHigherIsWorse), HealthStatus::Warning);
}

TEST(ExtensionHealthStatus, AValueBeyondTheCriticalThresholdIsCritical) {
    EXPECT_EQ(grade(0.86, kHigherIsWorse), HealthStatus::Critical);
}

TEST(ExtensionHealthStatus, LowerIsWorseFiresBelowTheThresholds) {
    EXPECT_EQ(grade(0.99, kLowerIsWorse), HealthStatus::Ok);
    EXPECT_EQ(grade(0.95, kLowerIsWorse), HealthStatus::Ok);
    EXPECT_EQ(grade(0.94, kLowerIsWorse), HealthStatus::Warning);
    EXPECT_EQ(grade(0.90, kLowerIsWorse), HealthStatus::Warning);
    EXPECT_EQ(grade(0.89, kLowerIsWorse), HealthStatus::Critical);
}

TEST(ExtensionHealthStatus, NoValueIsOk) {
    // No data (an empty statistics view, say) is nothing to warn about.
    EXPECT_EQ(grade(std::nullopt, kHigherIsWorse), HealthStatus::Ok);
}

TEST(ExtensionHealthStatus, ACriticalThresholdOfZeroFiresOnAnyCount) {
    // invalid_indexes: warning > 0, critical > 10.
    const Thresholds counts{0, 10, false};
    EXPECT_EQ(grade(0, counts), HealthStatus::Ok);
    EXPECT_EQ(grade(1, counts), HealthStatus::Warning);
    EXPECT_EQ(grade(11, counts), HealthStatus::Critical);
}

TEST(ExtensionHealthStatus, AForcedCriticalAlwaysWins) {
    EXPECT_EQ(grade(0.0, kHigherIsWorse, "critical"), HealthStatus::Critical);
    EXPECT_EQ(grade(std::nullopt, kHigherIsWorse, "critical"), HealthStatus::Critical);
}

TEST(ExtensionHealthStatus, AForcedWarningOnlyRaisesOk) {
    EXPECT_EQ(grade(0.0, kHigherIsWorse, "warning"), HealthStatus::Warning);
    EXPECT_EQ(grade(0.9, kHigherIsWorse, "warning"), HealthStatus::Critical);
}

TEST(ExtensionHealthStatus, AForcedUnknownHidesOkAndWarningButNotCritical) {
    EXPECT_EQ(grade(std::nullopt, kHigherIsWorse, "unknown"), HealthStatus::Unknown)
        << "a check that could not measure must not say ok";
    EXPECT_EQ(grade(0.0, kHigherIsWorse, "unknown"), HealthStatus::Unknown);
    EXPECT_EQ(grade(0.6, kHigherIsWorse, "unknown"), HealthStatus::Unknown);
    EXPECT_EQ(grade(0.9, kHigherIsWorse, "unknown"), HealthStatus::Critical);
}

TEST(ExtensionHealthStatus, AnyOtherForcedStatusIsIgnored) {
    EXPECT_EQ(grade(0.0, kHigherIsWorse, ""), HealthStatus::Ok);
    EXPECT_EQ(grade(0.0, kHigherIsWorse, "ok"), HealthStatus::Ok);
    EXPECT_EQ(grade(0.9, kHigherIsWorse, "ok"), HealthStatus::Critical);
    EXPECT_EQ(grade(0.0, kHigherIsWorse, "CRITICAL"), HealthStatus::Ok);
}

TEST(ExtensionHealthStatus, StatusesAreNamedAndNumberedLikeNagios) {
    EXPECT_STREQ(status_name(HealthStatus::Ok), "ok");
    EXPECT_STREQ(status_name(HealthStatus::Warning), "warning");
    EXPECT_STREQ(status_name(HealthStatus::Critical), "critical");
    EXPECT_STREQ(status_name(HealthStatus::Unknown), "unknown");
    EXPECT_EQ(static_cast<int>(HealthStatus::Ok), 0);
    EXPECT_EQ(static_cast<int>(HealthStatus::Warning), 1);
    EXPECT_EQ(static_cast<int>(HealthStatus::Critical), 2);
    EXPECT_EQ(static_cast<int>(HealthStatus::Unknown), 3);
}

TEST(ExtensionHealthStatus, WhatNeedsAttentionComesFirst) {
    EXPECT_LT(attention_rank(HealthStatus::Critical), attention_rank(HealthStatus::Warning));
    EXPECT_LT(attention_rank(HealthStatus::Warning), attention_rank(HealthStatus::Unknown));
    EXPECT_LT(attention_rank(HealthStatus::Unknown), attention_rank(HealthStatus::Ok));
}

TEST(ExtensionHealthStatus, ARunIsAsBadAsItsWorstCheck) {
    using S = HealthStatus;
    EXPECT_EQ(overall_status({S::Ok, S::Ok}), S::Ok);
    EXPECT_EQ(overall_status({S::Ok, S::Unknown}), S::Unknown);
    EXPECT_EQ(overall_status({S::Unknown, S::Warning, S::Ok}), S::Warning);
    EXPECT_EQ(overall_status({S::Warning, S::Critical, S::Unknown}), S::Critical);
}

TEST(ExtensionHealthStatus, ARunOfNoChecksIsOk) {
    EXPECT_EQ(overall_status({}), HealthStatus::Ok);
}
