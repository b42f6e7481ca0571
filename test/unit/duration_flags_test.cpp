// Every duration on the command line takes the configuration file's units ("250ms", "30s",
// "5min", "2h", "7d") and bare seconds; a bad value is one sentence naming the flag, exit 64.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

// Each duration flag with the subcommand it belongs to.
struct DurationFlag {
    std::string command;
    std::string flag;
};

const std::vector<DurationFlag> kFlags = {
    {"bench", "--duration"},
    {"bench", "--acquire-timeout"},
    {"bench", "--idle-timeout"},
    {"bench", "--max-lifetime"},
    {"bench", "--validation-interval"},
    {"bench", "--statement-timeout"},
    {"bench", "--leak-detection-threshold"},
    {"bench", "--max-replica-lag"},
    {"serve", "--drain-timeout"},
    {"backup verify", "--max-age"},
};

// A configuration file that does not exist: the command line is parsed first, so reaching the
// configuration error (exit 78) proves the flag's value was accepted, with no database touched.
const std::string kNoConfig = "--config /nonexistent/vigil_duration_flags_test.toml";

test::ProcessResult run(const DurationFlag &f, const std::string &value) {
    return test::run_vigild(f.command + " " + kNoConfig + " " + f.flag + " '" + value + "'");
}

} // namespace

TEST(DurationFlags, TakeTheConfigurationFileUnitsAndBareSeconds) {
    for (const auto &f : kFlags)
        for (const char *value : {"15s", "250ms", "5min", "2h", "7d", "15", "0.5", "1.5s"}) {
            const auto r = run(f, value);
            EXPECT_EQ(r.exit_code, exit_code::config) << f.command << " " << f.flag << " " << value << "\n"
                                                      << r.output;
            EXPECT_THAT(r.output, Not(HasSubstr("not in range"))) << f.flag << " " << value;
        }
}

TEST(DurationFlags, ABadValueIsOneSentenceNamingTheFlagAndTheForms) {
    for (const auto &f : kFlags)
        for (const char *value : {"soon", "15x", "-5s", "", "nan", "inf", "5 parsecs"}) {
            const auto r = run(f, value);
            EXPECT_EQ(r.exit_code, exit_code::usage) << f.command << " " << f.flag << " '" << value << "'\n"
                                                     << r.output;
            // The first line says it all: the flag, the value and every accepted form.
            const std::string first = r.output.substr(0, r.output.find('\n'));
            EXPECT_THAT(first, HasSubstr(f.flag + ": not a duration")) << r.output;
            EXPECT_THAT(first, HasSubstr("'" + std::string(value) + "'")) << r.output;
            EXPECT_THAT(first, HasSubstr("give seconds, or a number with a unit: 250ms, 30s, 5min, 2h, 7d"))
                << r.output;
        }
}

TEST(DurationFlags, ABenchMustLastLongerThanNothing) {
    const auto r = test::run_vigild("bench " + kNoConfig + " --duration 0s");
    EXPECT_EQ(r.exit_code, exit_code::usage) << r.output;
    EXPECT_THAT(r.output, HasSubstr("--duration: not a duration longer than 0: '0s'"));
    // Zero is a fine timeout elsewhere (0: no limit, or the server's default).
    EXPECT_EQ(test::run_vigild("bench " + kNoConfig + " --statement-timeout 0").exit_code, exit_code::config);
}
