// history_capture_test.cpp — a real poll of the test cluster, recorded in a real history file and
// read back: what the console charts is what the poller saw.
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "db.hpp"
#include "history/store.hpp"
#include "metrics/poller.hpp"
#include "test_support.hpp"

using namespace vigil;
namespace fs = std::filesystem;

namespace {

TEST(HistoryCapture, ARealPollRecordedIsReadBack) {
    const fs::path dir =
        fs::path(::testing::TempDir()) / ("vigil_history_capture_" + std::to_string(getpid()));
    fs::remove_all(dir);
    auto admin = db::Connection::open(test::test_dsn());
    admin.exec("DROP TABLE IF EXISTS vigil_history_capture;"
               "CREATE TABLE vigil_history_capture AS SELECT g AS id, md5(g::text) AS v"
               "  FROM generate_series(1, 5000) g");

    QueryMetrics queries(1.0);
    // Enough tables that this test's own is among them on a cluster other tests have filled (the top
    // is by size, and a table CREATE TABLE AS just made has relpages 0 until vacuumed).
    PollLimits limits;
    limits.top_tables = 100'000;
    HealthPoller poller(pool::Settings::from_config(PoolConfig{}, test::test_dsn()), Seconds(60), "", limits,
                        queries);
    fleet::FleetSnapshot fleet;
    std::shared_ptr<const HealthSnapshot> health;
    // The top statements of each poll: the second poll's top 20 can differ from the first's, and the
    // history keeps a series for every statement either capture recorded.
    std::set<std::string> recorded_statements;
    history::Resolution every_capture;
    every_capture.slow_interval = 0;
    history::Store store((dir / "history.sqlite3").string(), every_capture);
    ASSERT_TRUE(store.available()) << store.status();
    for (int i = 0; i < 2; ++i) {
        poller.poll_once();
        health = poller.snapshot();
        ASSERT_TRUE(health->up) << health->error;
        fleet.timestamp = health->last_poll_timestamp;
        fleet.targets = {fleet::TargetState{}};
        fleet.targets[0].name = "local";
        fleet.targets[0].up = true;
        fleet.targets[0].databases = {{health->database, health}};
        if (health->statements)
            for (const StatRow &row : *health->statements)
                recorded_statements.insert(row.labels.at(0).second);
        store.record(fleet, 1'800'000'000 + 60 * i); // two captures a minute apart
    }
    poller.stop();
    const std::string db = health->database;
    const double since = 1'800'000'000, until = since + 60;

    auto size = store.series({"local", db, "database_size_bytes", ""}, since, until);
    ASSERT_EQ(size.size(), 2u);
    EXPECT_EQ(size[1].value, static_cast<double>(health->database_size_bytes));
    EXPECT_GT(size[1].value, 0);

    auto states = store.series_labels("local", db, "connections");
    for (const auto &[state, count] : health->connections) {
        EXPECT_NE(std::find(states.begin(), states.end(), state), states.end()) << state;
        EXPECT_EQ(store.series({"local", db, "connections", state}, until, until).at(0).value, count)
            << state;
    }

    ASSERT_TRUE(health->tables.has_value());
    auto tables = store.series_labels("local", db, "table_size_bytes");
    EXPECT_NE(std::find(tables.begin(), tables.end(), "public.vigil_history_capture"), tables.end());
    EXPECT_GT(store.series({"local", db, "table_size_bytes", "public.vigil_history_capture"}, since, until)
                  .at(0)
                  .value,
              5000 * 32);

    EXPECT_EQ(store.series_labels("local", db, "check_severity").size(), health->checks.size());
    if (health->statements && !health->statements->empty()) {
        const auto calls = store.series_labels("local", db, "statement_calls");
        EXPECT_EQ(std::set<std::string>(calls.begin(), calls.end()), recorded_statements);
        const auto &first = health->statements->front();
        EXPECT_FALSE(store.statement_text("local", db, first.labels.at(0).second).empty());
    }
    admin.exec("DROP TABLE vigil_history_capture");
    fs::remove_all(dir);
}

} // namespace
