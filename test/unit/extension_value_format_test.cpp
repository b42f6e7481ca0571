// vigil::core value formatting: how vigil.health_check() shows values and thresholds.
#include <gtest/gtest.h>

#include "value_format.hpp"

using namespace vigil::core;

namespace {
constexpr double kKb = 1024.0;
constexpr double kMb = 1024.0 * kKb;
constexpr double kGb = 1024.0 * kMb;
} // namespace

TEST(ExtensionValueFormat, PercentHasOneDecimal) {
    EXPECT_EQ(format_percent(0.732), "73.2%");
    EXPECT_EQ(format_percent(0.123456), "12.3%");
}

TEST(ExtensionValueFormat, PercentDropsATrailingZeroDecimal) {
    EXPECT_EQ(format_percent(0.05), "5%");
    EXPECT_EQ(format_percent(0.0), "0%");
    EXPECT_EQ(format_percent(1.0), "100%");
}

TEST(ExtensionValueFormat, PercentRoundsToTheDecimal) {
    EXPECT_EQ(format_percent(0.9999), "100%");
    EXPECT_EQ(format_percent(0.0004), "0%");
}

TEST(ExtensionValueFormat, FactorHasThreeSignificantDigits) {
    EXPECT_EQ(format_factor(1.5), "1.5");
    EXPECT_EQ(format_factor(1.234567), "1.23");
    EXPECT_EQ(format_factor(5.0), "5");
    EXPECT_EQ(format_factor(100.0), "100");
}

TEST(ExtensionValueFormat, AZeroAfterThePointIsKeptWhenADigitFollows) {
    EXPECT_EQ(format_factor(1.05), "1.05");
}

TEST(ExtensionValueFormat, CountIsAWholeNumber) {
    EXPECT_EQ(format_count(0), "0");
    EXPECT_EQ(format_count(3), "3");
    EXPECT_EQ(format_count(2.6), "3");
    EXPECT_EQ(format_count(1e6), "1000000");
}

TEST(ExtensionValueFormat, DurationsBelowOneSecondAreMilliseconds) {
    EXPECT_EQ(format_duration_ms(0), "0 ms");
    EXPECT_EQ(format_duration_ms(250), "250 ms");
    EXPECT_EQ(format_duration_ms(999), "999 ms");
}

TEST(ExtensionValueFormat, DurationsBelowTwoMinutesAreSeconds) {
    EXPECT_EQ(format_duration_ms(1000), "1 s");
    EXPECT_EQ(format_duration_ms(1500), "1.5 s");
    EXPECT_EQ(format_duration_ms(60e3), "60 s");
    EXPECT_EQ(format_duration_ms(119999), "120 s") << "rounds within the smaller unit";
}

TEST(ExtensionValueFormat, DurationsBelowTwoHoursAreMinutes) {
    EXPECT_EQ(format_duration_ms(120e3), "2 min");
    EXPECT_EQ(format_duration_ms(150e3), "2.5 min");
    EXPECT_EQ(format_duration_ms(5400e3), "90 min");
}

TEST(ExtensionValueFormat, LongerDurationsAreHours) {
    EXPECT_EQ(format_duration_ms(7200e3), "2 h");
    EXPECT_EQ(format_duration_ms(3.5 * 3600e3), "3.5 h");
    EXPECT_EQ(format_duration_ms(36 * 3600e3), "36 h");
}

TEST(ExtensionValueFormat, BytesBelowTenKilobytesAreBytes) {
    EXPECT_EQ(format_bytes(0), "0 bytes");
    EXPECT_EQ(format_bytes(10 * kKb - 1), "10239 bytes");
}

TEST(ExtensionValueFormat, BytesBelowTenMegabytesAreKilobytes) {
    EXPECT_EQ(format_bytes(10 * kKb), "10 kB");
    EXPECT_EQ(format_bytes(kMb), "1024 kB");
    EXPECT_EQ(format_bytes(10 * kMb - 1), "10240 kB") << "rounds within the smaller unit";
}

TEST(ExtensionValueFormat, BytesBelowTenGigabytesAreMegabytes) {
    EXPECT_EQ(format_bytes(10 * kMb), "10 MB");
    EXPECT_EQ(format_bytes(kGb), "1024 MB");
}

TEST(ExtensionValueFormat, MoreBytesAreGigabytes) {
    EXPECT_EQ(format_bytes(10 * kGb), "10 GB");
    EXPECT_EQ(format_bytes(1536 * kGb), "1536 GB");
}
