// `vigild bench` and `vigild import` reject bad flags with exit code 64 before touching a database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {
// A DSN nothing listens on: a flag error must be reported before any connection attempt.
const std::string kNowhere = "--dsn 'host=127.0.0.1 port=1 connect_timeout=1'";
} // namespace

TEST(BenchCli, BadFlagsAreUsageErrors) {
    EXPECT_EQ(test::run_vigild("bench " + kNowhere + " --workload nosuch").exit_code, exit_code::usage);
    EXPECT_EQ(test::run_vigild("bench " + kNowhere + " --clients 0").exit_code, exit_code::usage);
    EXPECT_EQ(test::run_vigild("bench " + kNowhere + " --pool-size 0").exit_code, exit_code::usage);
    EXPECT_EQ(test::run_vigild("bench " + kNowhere + " --duration 1 --transactions 5").exit_code,
              exit_code::usage);
    auto r = test::run_vigild("bench " + kNowhere + " --acquire-timeout soon");
    EXPECT_EQ(r.exit_code, exit_code::usage);
    EXPECT_THAT(r.output, HasSubstr("--acquire-timeout: not a duration: 'soon'"));
    EXPECT_EQ(test::run_vigild("bench " + kNowhere + " --workload transfer --pipeline 8").exit_code,
              exit_code::usage);
    EXPECT_EQ(test::run_vigild("bench " + kNowhere + " --workload mixed --weights read").exit_code,
              exit_code::usage);
}

TEST(BenchCli, UnreachableServerIsUnavailable) {
    auto r = test::run_vigild("bench " + kNowhere + " --transactions 1");
    EXPECT_EQ(r.exit_code, exit_code::unavailable) << r.output;
}

TEST(ImportCli, BadFlagsAreUsageErrors) {
    EXPECT_EQ(test::run_vigild("import " + kNowhere + " --csv x.csv").exit_code,
              exit_code::usage); // no --table
    EXPECT_EQ(test::run_vigild("import " + kNowhere + " --table t --csv x.csv --on-error ignore").exit_code,
              exit_code::usage);
    EXPECT_EQ(test::run_vigild("import " + kNowhere + " --table t --csv x.csv --columns a,b").exit_code,
              exit_code::usage);
}
