// vigil::core partial sight: a health check that could not see everything it measures says so,
// names the missing privilege and the grant, and is unknown unless what it saw is already critical.
#include <gtest/gtest.h>

#include "partial_sight.hpp"

using namespace vigil::core;

TEST(ExtensionPartialSight, WhatWasSeenIsALowerBoundSoOnlyCriticalSurvives) {
    EXPECT_EQ(graded_in_part(HealthStatus::Critical), HealthStatus::Critical);
    EXPECT_EQ(graded_in_part(HealthStatus::Warning), HealthStatus::Unknown)
        << "the hidden part may be critical";
    EXPECT_EQ(graded_in_part(HealthStatus::Ok), HealthStatus::Unknown)
        << "a check that cannot see must not say ok";
    EXPECT_EQ(graded_in_part(HealthStatus::Unknown), HealthStatus::Unknown);
}

TEST(ExtensionPartialSight, HiddenSessionsNameTheMissingRole) {
    EXPECT_EQ(
        hidden_detail(Blind::OtherSessions, 3, "monitor", ""),
        "3 sessions of other roles are hidden from role monitor, which lacks pg_read_all_stats (part of "
        "pg_monitor)");
    EXPECT_EQ(hidden_detail(Blind::OtherSessions, 1, "\"Mon\"", ""),
              "1 session of another role is hidden from role \"Mon\", which lacks pg_read_all_stats (part of "
              "pg_monitor)");
    EXPECT_EQ(
        grant_recommendation(Blind::OtherSessions, "monitor", ""),
        "GRANT pg_monitor TO monitor: it includes pg_read_all_stats, which shows every session's state, "
        "query and progress.");
}

TEST(ExtensionPartialSight, HiddenSequencesNameTheirSchemasAndTheGrant) {
    EXPECT_EQ(
        hidden_detail(Blind::Sequences, 2, "monitor", "public, app"),
        "2 sequences in schema public, app are not readable by role monitor, which has neither SELECT nor "
        "USAGE on them");
    EXPECT_EQ(
        hidden_detail(Blind::Sequences, 1, "monitor", "public"),
        "1 sequence in schema public is not readable by role monitor, which has neither SELECT nor USAGE "
        "on it");
    EXPECT_EQ(
        grant_recommendation(Blind::Sequences, "monitor", "public, app"),
        "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, app TO monitor (pg_monitor does not include it), "
        "or run the check as the sequences' owner.");
}

TEST(ExtensionPartialSight, AHiddenWalReceiverNamesBothPrivilegesAndTheGrant) {
    EXPECT_EQ(hidden_detail(Blind::WalReceiver, 1, "monitor", ""),
              "the WAL receiver's state or primary_conninfo is hidden from role monitor, which lacks "
              "pg_read_all_stats or pg_read_all_settings (both part of pg_monitor)");
    EXPECT_EQ(grant_recommendation(Blind::WalReceiver, "monitor", ""),
              "GRANT pg_monitor TO monitor: it includes pg_read_all_stats and pg_read_all_settings, which "
              "show the WAL receiver's state and primary_conninfo.");
}

TEST(ExtensionPartialSight, ACheckThatSeesEverythingAddsNothing) {
    EXPECT_EQ(hidden_detail(Blind::Nothing, 0, "monitor", ""), "");
    EXPECT_EQ(grant_recommendation(Blind::Nothing, "monitor", ""), "");
}
