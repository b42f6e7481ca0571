// history_store_test.cpp — the history store's capture → query round trips on real SQLite files.
#include <atomic>
#include <filesystem>
#include <thread>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "history/recorder.hpp"
#include "history/store.hpp"
#include "history_fleet.hpp"
#include "test_support.hpp"

using namespace vigil;
using history::SeriesKey;
namespace fs = std::filesystem;

namespace {

constexpr double t0 = 1'800'000'000; // a Unix time; captures every 60 s from here

// The slow series (tables, statements) at every capture too.
history::Resolution every_capture() {
    history::Resolution r;
    r.slow_interval = 0;
    return r;
}

class HistoryStore : public ::testing::Test {
  protected:
    void SetUp() override {
        dir = fs::path(::testing::TempDir()) /
              ("vigil_history_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string file() const { return (dir / "state" / "history.sqlite3").string(); }
    fs::path dir;
};

TEST_F(HistoryStore, CreatesItsDirectoryWithMode0750) {
    history::Store store(file());
    ASSERT_TRUE(store.available()) << store.status();
    struct stat st {};
    ASSERT_EQ(stat((dir / "state").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0750u);
    EXPECT_TRUE(fs::exists(file()));
    EXPECT_EQ(store.status(), "available: " + file());
}

TEST_F(HistoryStore, StorePathDefaultsToTheStateDirectory) {
    HistoryConfig config;
    EXPECT_EQ(history::store_path(config, "/var/lib/vigil"), "/var/lib/vigil/history.sqlite3");
    config.path = "/srv/h.db";
    EXPECT_EQ(history::store_path(config, "/var/lib/vigil"), "/srv/h.db");
}

TEST_F(HistoryStore, EveryMetricOfACaptureComesBack) {
    history::Store store(file(), every_capture());
    test::FleetShape shape{2, 2, 3, 3, 4, 1};
    for (int n = 0; n < 3; ++n)
        store.record(test::make_fleet(shape, n, t0 + 60 * n), t0 + 60 * n);

    EXPECT_EQ(store.targets(), (std::vector<std::string>{"pg0", "pg1"}));
    EXPECT_EQ(store.databases("pg1"), (std::vector<std::string>{"db0", "db1"}));

    auto active = store.series({"pg1", "db1", "connections", "active"}, t0, t0 + 120);
    ASSERT_EQ(active.size(), 3u);
    for (int n = 0; n < 3; ++n) {
        EXPECT_EQ(active[n].timestamp, t0 + 60 * n);
        EXPECT_EQ(active[n].value, 2 + n);
        EXPECT_EQ(active[n].max, active[n].value);
    }
    // A known state absent from a poll is a zero, not a gap.
    auto iit = store.series({"pg0", "db0", "connections", "idle in transaction"}, t0, t0 + 120);
    ASSERT_EQ(iit.size(), 3u);
    EXPECT_EQ(iit[0].value, 1);
    EXPECT_EQ(iit[1].value, 0);

    EXPECT_EQ(store.series_labels("pg0", "db0", "table_size_bytes"),
              (std::vector<std::string>{"public.table_0", "public.table_1", "public.table_2"}));
    auto table = store.series({"pg0", "db0", "table_size_bytes", "public.table_1"}, t0, t0 + 120);
    ASSERT_EQ(table.size(), 3u);
    EXPECT_EQ(table[2].value, 2'000'000 + 8192 * 2);

    EXPECT_EQ(store.series_labels("pg0", "db1", "replication_lag_seconds"),
              std::vector<std::string>{"standby0"});
    EXPECT_DOUBLE_EQ(
        store.series({"pg0", "db1", "replication_lag_seconds", "standby0"}, t0, t0 + 120)[1].value, 0.01);
    EXPECT_EQ(store.series({"pg0", "db0", "database_size_bytes", ""}, t0, t0)[0].value, 100'000'000);
    EXPECT_EQ(store.series({"pg0", "db0", "lock_waiters", ""}, t0, t0 + 120).at(1).value, 1);
    EXPECT_EQ(store.series({"pg0", "db0", "xid_age", ""}, t0, t0 + 120).at(2).value, 1020);
    EXPECT_EQ(store.series({"pg0", "db0", "newest_backup_timestamp", ""}, t0, t0).at(0).value, t0 - 3600);
    EXPECT_EQ(store.series_labels("pg0", "db0", "check_severity").size(), 4u);
    auto check = store.series({"pg0", "db0", "check_severity", "check_0"}, t0, t0 + 120);
    ASSERT_EQ(check.size(), 3u);
    EXPECT_EQ(check[0].value, 1);
    EXPECT_EQ(check[1].value, 0);
    auto up = store.series({"pg1", "", "up", ""}, t0, t0 + 120);
    ASSERT_EQ(up.size(), 3u);
    EXPECT_EQ(up[0].value, 1);

    // The range is inclusive at both ends and an unknown series is empty.
    EXPECT_EQ(store.series({"pg1", "db1", "connections", "active"}, t0 + 60, t0 + 60).size(), 1u);
    EXPECT_TRUE(store.series({"pg1", "db1", "connections", "nope"}, t0, t0 + 120).empty());
    EXPECT_TRUE(store.series({"pg9", "db1", "connections", "active"}, t0, t0 + 120).empty());
}

TEST_F(HistoryStore, StatementHistoryIsPerIntervalDeltasWithItsText) {
    history::Store store(file(), every_capture());
    test::FleetShape shape{1, 1, 1, 3, 1, 0};
    for (int n = 0; n < 4; ++n)
        store.record(test::make_fleet(shape, n, t0 + 60 * n), t0 + 60 * n);
    const std::string q2 = std::to_string(-4'000'000'000'000LL + 2);
    EXPECT_EQ(store.statement_text("pg0", "db0", q2), "SELECT * FROM table_2 WHERE id = $1");
    EXPECT_EQ(store.statement_text("pg0", "db0", "42"), "");

    auto h = store.statement_history("pg0", "db0", q2, t0, t0 + 180);
    EXPECT_EQ(h.queryid, q2);
    EXPECT_EQ(h.text, "SELECT * FROM table_2 WHERE id = $1");
    ASSERT_EQ(h.intervals.size(), 3u);
    for (const auto &i : h.intervals) {
        EXPECT_EQ(i.end - i.start, 60);
        EXPECT_EQ(i.calls, 3); // (q + 1) calls per capture
        EXPECT_DOUBLE_EQ(i.total_time_seconds, 0.3);
        EXPECT_EQ(i.rows, 6);
        EXPECT_EQ(i.shared_blks_hit, 15);
        EXPECT_EQ(i.shared_blks_read, 3);
        EXPECT_DOUBLE_EQ(i.mean_time_seconds(), 0.1);
    }
    auto merged = store.statement_history("pg0", "db0", q2, t0, t0 + 180, 2);
    ASSERT_EQ(merged.intervals.size(), 2u);
    EXPECT_EQ(merged.intervals[0].calls + merged.intervals[1].calls, 9);
    EXPECT_EQ(merged.intervals[1].end, t0 + 180);

    auto top = store.top_statements("pg0", "db0", t0, t0 + 180, 2);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0].queryid, q2);
    EXPECT_DOUBLE_EQ(top[0].total_time_seconds, 0.9);
    EXPECT_EQ(top[0].text, "SELECT * FROM table_2 WHERE id = $1");
    EXPECT_EQ(top[1].queryid, std::to_string(-4'000'000'000'000LL + 1));
}

TEST_F(HistoryStore, AStatisticsResetIsNotANegativeInterval) {
    history::Store store(file(), every_capture());
    test::FleetShape shape{1, 1, 0, 1, 0, 0};
    store.record(test::make_fleet(shape, 5, t0), t0);
    store.record(test::make_fleet(shape, 0, t0 + 60), t0 + 60); // pg_stat_statements_reset()
    store.record(test::make_fleet(shape, 2, t0 + 120), t0 + 120);
    auto h = store.statement_history("pg0", "db0", std::to_string(-4'000'000'000'000LL), t0, t0 + 120);
    ASSERT_EQ(h.intervals.size(), 1u);
    EXPECT_EQ(h.intervals[0].start, t0 + 60);
    EXPECT_EQ(h.intervals[0].calls, 2);
}

TEST_F(HistoryStore, TablesAndStatementsAreCapturedOncePerSlowInterval) {
    history::Store store(file()); // slow_interval 300 s
    test::FleetShape shape{1, 1, 1, 1, 1, 0};
    for (int n = 0; n < 20; ++n) // twenty minutes from a whole five minutes
        store.record(test::make_fleet(shape, n, t0 + 60 * n), t0 + 60 * n);
    const std::string q0 = std::to_string(-4'000'000'000'000LL);
    auto table = store.series({"pg0", "db0", "table_size_bytes", "public.table_0"}, t0, t0 + 1200);
    ASSERT_EQ(table.size(), 4u);
    EXPECT_EQ(table[1].timestamp, t0 + 300);
    EXPECT_EQ(store.series({"pg0", "db0", "statement_calls", q0}, t0, t0 + 1200).size(), 4u);
    EXPECT_EQ(store.series({"pg0", "db0", "connections", "active"}, t0, t0 + 1200).size(), 20u);
    auto h = store.statement_history("pg0", "db0", q0, t0, t0 + 1200);
    ASSERT_EQ(h.intervals.size(), 3u);
    EXPECT_EQ(h.intervals[0].end - h.intervals[0].start, 300);
    EXPECT_EQ(h.intervals[0].calls, 5);
}

TEST_F(HistoryStore, ADownDatabaseIsAGapAndATargetDownIsAZero) {
    history::Store store(file());
    test::FleetShape shape{1, 1, 0, 0, 0, 0};
    store.record(test::make_fleet(shape, 0, t0), t0);
    auto down = test::make_fleet(shape, 1, t0 + 60);
    down.targets[0].up = false;
    auto h = std::make_shared<HealthSnapshot>(*down.targets[0].databases[0].health);
    h->up = false;
    down.targets[0].databases[0].health = h;
    store.record(down, t0 + 60);
    EXPECT_EQ(store.series({"pg0", "db0", "database_size_bytes", ""}, t0, t0 + 60).size(), 1u);
    auto up = store.series({"pg0", "", "up", ""}, t0, t0 + 60);
    ASSERT_EQ(up.size(), 2u);
    EXPECT_EQ(up[1].value, 0);
}

TEST_F(HistoryStore, HistorySurvivesARestart) {
    test::FleetShape shape{1, 1, 1, 1, 1, 0};
    {
        history::Store store(file(), every_capture());
        store.record(test::make_fleet(shape, 0, t0), t0);
        store.record(test::make_fleet(shape, 1, t0 + 60), t0 + 60);
    }
    history::Store again(file(), every_capture());
    ASSERT_TRUE(again.available()) << again.status();
    again.record(test::make_fleet(shape, 2, t0 + 120), t0 + 120);
    EXPECT_EQ(again.series({"pg0", "db0", "connections", "active"}, 0, t0 + 1000).size(), 3u);
    EXPECT_EQ(again.statement_history("pg0", "db0", std::to_string(-4'000'000'000'000LL), 0, t0 + 1000)
                  .intervals.size(),
              2u);
    EXPECT_GT(again.size_bytes(), 0);
}

TEST_F(HistoryStore, MaxPointsMergesIntoEqualTimeBucketsWithAverageAndMaximum) {
    history::Store store(file());
    test::FleetShape shape{1, 1, 0, 0, 0, 0};
    for (int n = 0; n < 100; ++n)
        store.record(test::make_fleet(shape, n, t0 + 60 * n), t0 + 60 * n);
    const SeriesKey active{"pg0", "db0", "connections", "active"}; // 2 + n % 5
    EXPECT_EQ(store.series(active, t0, t0 + 6000).size(), 100u);
    auto ten = store.series(active, t0, t0 + 6000, 10);
    ASSERT_EQ(ten.size(), 10u);
    for (const auto &p : ten) {
        EXPECT_NEAR(p.value, 4, 0.5);
        EXPECT_EQ(p.max, 6);
    }
    EXPECT_EQ(ten[0].timestamp, t0);
    EXPECT_TRUE(std::is_sorted(ten.begin(), ten.end(),
                               [](const auto &a, const auto &b) { return a.timestamp < b.timestamp; }));
}

TEST_F(HistoryStore, RecorderRecordsAtMostOneSnapshotPerInterval) {
    auto store = std::make_shared<history::Store>(file());
    test::FleetShape shape{1, 1, 0, 0, 0, 0};
    {
        history::Recorder recorder(store, Seconds(60));
        for (int s = 0; s <= 300; s += 15) { // a poll every 15 s for 5 minutes
            recorder.offer(std::make_shared<fleet::FleetSnapshot>(test::make_fleet(shape, s, t0 + s)));
            // Let the thread take each snapshot, as a poller's pace would.
            for (int i = 0; i < 200 && recorder.recorded() < 1 + s / 60; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        recorder.stop();
        EXPECT_EQ(recorder.recorded(), 6);
    }
    auto points = store->series({"pg0", "", "up", ""}, t0, t0 + 300);
    ASSERT_EQ(points.size(), 6u);
    EXPECT_EQ(points[1].timestamp, t0 + 60);
}

} // namespace

namespace {

TEST_F(HistoryStore, RecorderStartsAfreshWhenTheClockIsSetBack) {
    auto store = std::make_shared<history::Store>(file());
    history::Recorder recorder(store, Seconds(60));
    const test::FleetShape shape{1, 1, 0, 0, 0, 0};
    const auto offer_and_wait = [&](double at, long long expected) {
        recorder.offer(std::make_shared<fleet::FleetSnapshot>(test::make_fleet(shape, 0, at)));
        for (int i = 0; i < 400 && recorder.recorded() < expected; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    offer_and_wait(t0, 1);
    offer_and_wait(t0 - 3600, 2); // an hour back: recorded, not held back for an hour
    offer_and_wait(t0 - 3590, 2); // then the interval applies from there
    recorder.stop();
    EXPECT_EQ(recorder.recorded(), 2);
    EXPECT_EQ(store->series({"pg0", "", "up", ""}, t0 - 7200, t0).size(), 2u);
}

} // namespace

namespace {

TEST_F(HistoryStore, ReadersGoOnWhileTheWriterRecords) {
    history::Store store(file(), every_capture());
    const test::FleetShape shape{2, 2, 5, 5, 3, 1};
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (int n = 0; n < 60; ++n)
            store.record(test::make_fleet(shape, n, t0 + 60 * n), t0 + 60 * n);
        done = true;
    });
    std::size_t reads = 0, last = 0;
    bool monotonic = true;
    while (!done) {
        const auto points = store.series({"pg1", "db1", "connections", "active"}, t0, t0 + 3600);
        monotonic = monotonic && points.size() >= last; // each read sees every committed capture
        last = points.size();
        store.top_statements("pg1", "db1", t0, t0 + 3600);
        ++reads;
    }
    writer.join();
    EXPECT_TRUE(monotonic);
    EXPECT_GT(reads, 0u);
    EXPECT_TRUE(store.available()) << store.status();
    EXPECT_EQ(store.series({"pg1", "db1", "connections", "active"}, t0, t0 + 3600).size(), 60u);
}

} // namespace
