// Against the harness's real cluster: the RAII connection wrapper and `vigild info`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "db.hpp"
#include "db_wait.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

TEST(Connection, ConnectsAndQueries) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    EXPECT_TRUE(conn.healthy());
    EXPECT_GE(conn.server_version(), 150000);
    EXPECT_LT(conn.server_version(), 160000);
    EXPECT_EQ(conn.scalar("SELECT $1::int + 1", {"41"}), "42");
    EXPECT_EQ(conn.scalar("SELECT current_setting('application_name')"), "vigild");
}

TEST(Connection, NullParametersAreSqlNull) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    db::Result r = conn.exec_params("SELECT $1::text IS NULL", {std::nullopt});
    EXPECT_EQ(r.value(0, 0), "t");
}

TEST(Connection, ServerErrorCarriesSqlstateAndConnectionSurvives) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    try {
        conn.exec("SELECT 1/0");
        FAIL() << "division by zero did not raise";
    } catch (const db::DbError &e) {
        EXPECT_EQ(e.sqlstate(), "22012");
        EXPECT_THAT(e.what(), HasSubstr("division by zero"));
    }
    EXPECT_EQ(conn.scalar("SELECT 'still here'"), "still here");
}

// One round trip, groups that fail alone: the poll's pipeline (metrics/poller.cpp).
TEST(Pipeline, AnErrorSkipsTheRestOfItsGroupOnlyAndTheConnectionLeavesPipelineMode) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    const auto sync = db::PipelineStep::sync();
    const auto results =
        db::run_pipeline_until(conn, {{"SELECT 1"}, {"SELECT 1/0"}, {"SELECT 2"}, sync, {"SELECT 3"}, sync},
                               std::chrono::seconds(10));
    ASSERT_EQ(results.size(), 4u);
    EXPECT_EQ(results[0].result.status(), PGRES_TUPLES_OK);
    EXPECT_EQ(results[0].result.value(0, 0), "1");
    EXPECT_EQ(results[1].result.status(), PGRES_FATAL_ERROR);
    EXPECT_EQ(results[1].result.sqlstate(), "22012");
    EXPECT_EQ(results[2].result.status(), PGRES_PIPELINE_ABORTED);
    EXPECT_EQ(results[3].result.status(), PGRES_TUPLES_OK);
    EXPECT_EQ(results[3].result.value(0, 0), "3");
    for (std::size_t i = 1; i < results.size(); ++i)
        EXPECT_LE(results[i - 1].arrived, results[i].arrived);
    EXPECT_EQ(PQpipelineStatus(conn.get()), PQ_PIPELINE_OFF);
    EXPECT_EQ(conn.scalar("SELECT 'still here'"), "still here");
}

TEST(Pipeline, AGroupThatDoesNotAnswerInTimeClosesTheConnection) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    const auto sync = db::PipelineStep::sync();
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(db::run_pipeline_until(conn, {{"SELECT 1"}, sync, {"SELECT pg_sleep(5)"}, sync},
                                        std::chrono::milliseconds(500)),
                 db::NoAnswer);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
    EXPECT_FALSE(conn.healthy());
    EXPECT_THROW(db::run_pipeline_until(conn, {{"SELECT 1"}}, std::chrono::seconds(1)),
                 std::invalid_argument);

    // The first group may have a shorter wait of its own (the poll's prologue: no work).
    db::Connection other = db::Connection::open(test::test_dsn());
    const auto again = std::chrono::steady_clock::now();
    EXPECT_THROW(db::run_pipeline_until(other, {{"SELECT pg_sleep(5)"}, sync, {"SELECT 1"}, sync},
                                        std::chrono::seconds(30), nullptr, std::chrono::milliseconds(500)),
                 db::NoAnswer);
    EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::seconds(3));
}

TEST(Connection, GuardedExtensionErrorKeepsSqlstate) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    try {
        conn.exec("SELECT vigil.pool_size_formula(0)");
        FAIL() << "pool_size_formula(0) did not raise";
    } catch (const db::DbError &e) {
        EXPECT_EQ(e.sqlstate(), "22023");
        EXPECT_THAT(e.what(), HasSubstr("cpu_cores must be at least 1"));
    }
    EXPECT_EQ(conn.scalar("SELECT vigil.pool_size_formula(4, 1)"), "9");
}

TEST(Connection, BadDsnIsAConnectionError) {
    try {
        db::Connection::open("host=127.0.0.1 port=1 connect_timeout=2");
        FAIL() << "connected to nothing";
    } catch (const db::DbError &e) {
        EXPECT_EQ(e.sqlstate(), "08006");
    }
}

TEST(VigildInfo, PrintsServerAndExtensionVersions) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    auto r = test::run_vigild("info --dsn '" + test::test_dsn() + "'");
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_THAT(r.output, HasSubstr("PostgreSQL 15."));
    EXPECT_THAT(r.output, HasSubstr("vigil.version(): 0."));
}

TEST(VigildInfo, JsonOutputUsesVigilDsnFromEnvironment) {
    auto r = test::run_vigild("info --json", "VIGIL_DSN='" + test::test_dsn() + "'");
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_THAT(r.output, HasSubstr("\"server_version\": \"15."));
}

// A connection string libpq refuses is a bad argument (exit 64, one sentence), not an
// unreachable database (exit 69); a bare word is refused rather than read as a database name.
TEST(VigildInfo, ABadConnectionStringIsABadArgument) {
    for (const std::string dsn : {"host=127.0.0.1 port=abc", "host=127.0.0.1 sslmode=bogus",
                                  "postgresql://[::1", "garbage", "host='unterminated"}) {
        auto r = test::run_vigild("info --dsn \"" + dsn + "\"");
        EXPECT_EQ(r.exit_code, exit_code::usage) << dsn << ": " << r.output;
        EXPECT_THAT(r.output, HasSubstr("invalid connection string")) << dsn;
        EXPECT_THAT(r.output, HasSubstr("postgresql:// URI")) << dsn;
        EXPECT_THAT(r.output, ::testing::Not(HasSubstr("cannot connect"))) << dsn;
    }
    // A good string to a server that is not there is still "unavailable".
    auto r = test::run_vigild("info --dsn 'host=127.0.0.1 port=1 connect_timeout=2'");
    EXPECT_EQ(r.exit_code, exit_code::unavailable) << r.output;
}
