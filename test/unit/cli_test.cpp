// The vigild command line: version, help, the DSN precedence rule, clear errors and exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.hpp"
#include "db.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Cli, VersionPrintsTheControlFileVersion) {
    auto r = test::run_vigild("--version");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.output, HasSubstr("vigild 0."));
}

TEST(Cli, HelpListsSubcommandsAndGlobalOptions) {
    auto r = test::run_vigild("--help");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.output, HasSubstr("info"));
    EXPECT_THAT(r.output, HasSubstr("--dsn"));
    EXPECT_THAT(r.output, HasSubstr("--config"));
}

TEST(Cli, MissingSubcommandIsAUsageError) {
    auto r = test::run_vigild("");
    EXPECT_EQ(r.exit_code, exit_code::usage);
}

TEST(Cli, UnknownOptionIsAUsageError) {
    auto r = test::run_vigild("info --no-such-flag");
    EXPECT_EQ(r.exit_code, exit_code::usage);
    EXPECT_THAT(r.output, HasSubstr("--no-such-flag"));
}

TEST(Cli, InvalidConfigNamesFileLineAndKey) {
    const std::string path = test::write_temp_file("[pool]\nmax_size = 5\nbogus = 1\n");
    auto r = test::run_vigild("--config " + path + " info");
    EXPECT_EQ(r.exit_code, exit_code::config);
    EXPECT_THAT(r.output, HasSubstr(path + ":3: pool.bogus: unknown key"));
}

TEST(Cli, ConfigFromEnvironment) {
    const std::string path = test::write_temp_file("[log]\nlevel = \"shout\"\n");
    auto r = test::run_vigild("info", "VIGIL_CONFIG=" + path);
    EXPECT_EQ(r.exit_code, exit_code::config);
    EXPECT_THAT(r.output, HasSubstr("log.level"));
}

TEST(Cli, UnreachableDatabaseExitsUnavailableWithoutThePassword) {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    auto r = test::run_vigild("info --dsn 'host=127.0.0.1 port=1 password=s3cret connect_timeout=2'");
    EXPECT_EQ(r.exit_code, exit_code::unavailable);
    EXPECT_THAT(r.output, HasSubstr("cannot connect"));
    EXPECT_THAT(r.output, Not(HasSubstr("s3cret")));
}

// --dsn, else VIGIL_DSN, else database.dsn, else libpq defaults.
class DsnPrecedence : public ::testing::Test {
  protected:
    void SetUp() override { unsetenv("VIGIL_DSN"); }
    void TearDown() override { unsetenv("VIGIL_DSN"); }
};

TEST_F(DsnPrecedence, FlagWins) {
    setenv("VIGIL_DSN", "host=env", 1);
    Config c;
    c.database.dsn = "host=file";
    EXPECT_EQ(resolve_dsn(std::string("host=flag"), c), "host=flag");
}

TEST_F(DsnPrecedence, EnvironmentBeatsConfig) {
    setenv("VIGIL_DSN", "host=env", 1);
    Config c;
    c.database.dsn = "host=file";
    EXPECT_EQ(resolve_dsn(std::nullopt, c), "host=env");
}

TEST_F(DsnPrecedence, ConfigBeatsLibpqDefaults) {
    Config c;
    c.database.dsn = "host=file";
    EXPECT_EQ(resolve_dsn(std::nullopt, c), "host=file");
    EXPECT_EQ(resolve_dsn(std::nullopt, Config{}), "");
}

TEST(RedactDsn, HidesPasswordsInBothForms) {
    EXPECT_EQ(db::redact_dsn("host=h user=u password=secret dbname=d"),
              "user=u password=******** dbname=d host=h");
    EXPECT_THAT(db::redact_dsn("postgresql://u:secret@h:5433/d?sslpassword=x"), Not(HasSubstr("secret")));
    EXPECT_THAT(db::redact_dsn("postgresql://u:secret@h:5433/d?sslpassword=xyz"), Not(HasSubstr("xyz")));
    EXPECT_EQ(db::redact_dsn(""), "(libpq defaults)");
    EXPECT_EQ(db::redact_dsn("host='unterminated"), "(unparseable connection string)");
}
