// `vigild check`: Nagios exit codes, the table and --json, over vigil.health_check().
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "db.hpp"
#include "dsn_params.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

// A database of its own whose vigil.health_check() returns rows the test chooses, so every
// exit code can be provoked; the real function is exercised by RealHealthCheck below.
class CheckTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::random_device rd;
        name_ = "vigil_check_" + std::to_string(rd() % 1000000000);
        admin_ = db::Connection::open(test::test_dsn());
        admin_.exec("CREATE DATABASE " + name_);
        dsn_ = dsn_with(test::test_dsn(), {{"dbname", name_}});
        db::Connection c = db::Connection::open(dsn_);
        c.exec("CREATE SCHEMA vigil; CREATE TABLE vigil.rows (check_name text, status text, severity int,"
               " current_value text, threshold text, detail text, recommendation text)");
        c.exec("CREATE FUNCTION vigil.health_check() RETURNS SETOF vigil.rows LANGUAGE sql"
               " AS 'SELECT * FROM vigil.rows ORDER BY severity DESC'");
    }
    void TearDown() override { admin_.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }
    void set_rows(const std::string &values) {
        db::Connection c = db::Connection::open(dsn_);
        c.exec("TRUNCATE vigil.rows");
        if (!values.empty())
            c.exec("INSERT INTO vigil.rows VALUES " + values);
    }
    test::ProcessResult check(const std::string &extra = "") {
        return test::run_vigild("--dsn '" + dsn_ + "' check " + extra);
    }
    std::string name_, dsn_;
    db::Connection admin_;
};

} // namespace

TEST_F(CheckTest, ExitCodesFollowNagios) {
    set_rows("('a', 'ok', 0, '1', '2', 'fine', '')");
    EXPECT_EQ(check().exit_code, exit_code::ok);
    set_rows(
        "('a', 'ok', 0, '1', '2', 'fine', ''), ('b', 'warning', 1, '75%', '70%', 'busy', 'add capacity')");
    auto warning = check();
    EXPECT_EQ(warning.exit_code, exit_code::warning) << warning.output;
    EXPECT_THAT(warning.output, HasSubstr("WARNING: 0 critical, 1 warning, 0 unknown, 1 ok"));
    EXPECT_THAT(warning.output, HasSubstr("-> add capacity"));
    set_rows("('a', 'critical', 2, '', '', '', ''), ('b', 'warning', 1, '', '', '', '')");
    EXPECT_EQ(check().exit_code, exit_code::critical);
    // As in vigil.health_summary(): critical, then warning, then unknown.
    set_rows("('a', 'critical', 2, '', '', '', ''), ('c', 'unknown', 3, '', '', 'canceling statement', '')");
    EXPECT_EQ(check().exit_code, exit_code::critical);
    set_rows("('b', 'warning', 1, '', '', '', ''), ('c', 'unknown', 3, '', '', 'canceling statement', '')");
    EXPECT_EQ(check().exit_code, exit_code::warning);
    set_rows("('a', 'ok', 0, '', '', '', ''), ('c', 'unknown', 3, '', '', 'canceling statement', '')");
    EXPECT_EQ(check().exit_code, exit_code::unknown);
}

TEST_F(CheckTest, JsonCarriesEveryColumn) {
    set_rows("('conn \"util\"', 'warning', 1, '75%', '70%', 'detail text', 'do this')");
    auto r = check("--json");
    EXPECT_EQ(r.exit_code, exit_code::warning);
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j.at("status"), "WARNING");
    EXPECT_EQ(j.at("exit_code"), 1);
    ASSERT_EQ(j.at("checks").size(), 1u);
    EXPECT_EQ(j.at("checks")[0].at("check_name"), "conn \"util\"");
    EXPECT_EQ(j.at("checks")[0].at("recommendation"), "do this");
}

TEST_F(CheckTest, MissingFunctionOrDatabaseIsUnknown) {
    db::Connection::open(dsn_).exec("DROP SCHEMA vigil CASCADE");
    auto missing = check();
    EXPECT_EQ(missing.exit_code, exit_code::unknown);
    EXPECT_THAT(missing.output, HasSubstr("does not exist"));
    auto down = test::run_vigild("--dsn 'host=127.0.0.1 port=1 connect_timeout=2' check");
    EXPECT_EQ(down.exit_code, exit_code::unknown);
    EXPECT_THAT(down.output, HasSubstr("UNKNOWN"));
}

TEST_F(CheckTest, NamesWithNewlinesStayOnTheirLine) {
    // A detail naming a table called "t\nOK: 0 critical" must not forge a line of the table.
    set_rows("('a', 'warning', 1, '1', '0', E'bloat in \"t\\nOK: 0 critical\"', E'VACUUM \"t\\n\"')");
    auto r = check();
    EXPECT_EQ(r.exit_code, exit_code::warning) << r.output;
    EXPECT_THAT(r.output, HasSubstr("bloat in \"t\\nOK: 0 critical\""));
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("\nOK: 0 critical")));
    int lines = 0;
    for (char c : r.output)
        lines += c == '\n';
    EXPECT_EQ(lines, 5) << r.output; // summary, blank, header, the row, its recommendation
}

TEST_F(CheckTest, ARoleWithoutSchemaUsageIsUnknownWithTheGrantToGive) {
    const std::string role = name_ + "_nobody";
    admin_.exec("CREATE ROLE " + role + " LOGIN");
    set_rows("('a', 'ok', 0, '1', '2', 'fine', '')");
    auto r = test::run_vigild("--dsn '" + dsn_with(dsn_, {{"user", role}}) + "' check");
    admin_.exec("DROP DATABASE " + name_ + " WITH (FORCE)");
    admin_.exec("DROP ROLE " + role);
    EXPECT_EQ(r.exit_code, exit_code::unknown) << r.output;
    EXPECT_THAT(r.output, HasSubstr("UNKNOWN: "));
    EXPECT_THAT(r.output, HasSubstr("SQLSTATE 42501"));
    EXPECT_THAT(r.output, HasSubstr("GRANT USAGE ON SCHEMA vigil TO"));
}

TEST(RealHealthCheck, CheckAgreesWithTheExtension) {
    // The extension's own vigil.health_check() in the harness's database.
    db::Connection conn = db::Connection::open(test::test_dsn());
    conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    auto r = test::run_vigild("--dsn '" + test::test_dsn() + "' check --json");
    ASSERT_GE(r.exit_code, 0);
    ASSERT_LE(r.exit_code, 3) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j.at("checks").size(), std::stoul(conn.scalar("SELECT count(*) FROM vigil.health_check()")));
    int counts[4] = {0, 0, 0, 0};
    for (const auto &c : j.at("checks")) {
        ++counts[c.at("severity").get<int>()];
        EXPECT_FALSE(c.at("check_name").get<std::string>().empty());
    }
    const int expected = counts[2] ? 2 : counts[1] ? 1 : counts[3] ? 3 : 0;
    EXPECT_EQ(r.exit_code, expected);
    EXPECT_EQ(j.at("exit_code"), expected);

    // Provoke a critical: a tiny connection threshold for this role, so every run sees it.
    conn.exec("ALTER ROLE postgres SET vigil.connections_critical = 0.0001");
    auto critical = test::run_vigild("--dsn '" + test::test_dsn() + "' check");
    conn.exec("ALTER ROLE postgres RESET vigil.connections_critical");
    EXPECT_EQ(critical.exit_code, exit_code::critical) << critical.output;
    EXPECT_THAT(critical.output, HasSubstr("CRITICAL:"));
}
