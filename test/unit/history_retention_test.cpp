// history_retention_test.cpp — the history's resolutions over synthetic days: raw points for a day,
// then 5-minute averages and maxima, then 1-hour ones, nothing past the retention; done a bounded
// step per capture.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "history/sqlite.hpp"
#include "history/store.hpp"
#include "history_fleet.hpp"

using namespace vigil;
namespace fs = std::filesystem;

namespace {

constexpr long long t0 = 1'800'000'000; // a whole hour
constexpr long long day = 86400;
const history::SeriesKey active{"pg0", "db0", "connections", "active"}; // 2 + n % 5 at capture n

long long floor_to(long long t, long long step) {
    return t / step * step;
}

class HistoryRetention : public ::testing::Test {
  protected:
    void SetUp() override {
        dir = fs::path(::testing::TempDir()) /
              ("vigil_history_retention_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string file() const { return (dir / "history.sqlite3").string(); }
    // Captures n = 0 .. count-1 at t0 + step * n; returns the last capture's time.
    static long long record_every(history::Store &store, long long step, long long count,
                                  const test::FleetShape &shape = {1, 1, 0, 0, 0, 0}) {
        for (long long n = 0; n < count; ++n)
            store.record(test::make_fleet(shape, n, static_cast<double>(t0 + step * n)),
                         static_cast<double>(t0 + step * n));
        return t0 + step * (count - 1);
    }
    long long query(const std::string &sql) {
        history::sqlite::Connection db(file(), SQLITE_OPEN_READONLY);
        return db.query_int(sql);
    }
    fs::path dir;
};

TEST_F(HistoryRetention, OlderPointsAreFiveMinuteThenHourlyAveragesAndMaxima) {
    history::Store store(file());
    const long long step = 120, count = 9 * day / step; // nine days, a capture every two minutes
    const long long now = record_every(store, step, count);
    const long long raw_cutoff = floor_to(now - day, 300), five_cutoff = floor_to(now - 7 * day, 3600);

    // Each tier holds its own age range; raw points are merged an hour at a time, so up to an
    // hour (and a capture) of them may wait past raw_for.
    const long long last_1h = query("SELECT max(ts) FROM points_1h"),
                    last_5m = query("SELECT max(ts) FROM points_5m");
    EXPECT_GE(query("SELECT min(ts) FROM points_raw"), raw_cutoff - 3600);
    EXPECT_EQ(query("SELECT min(ts) FROM points_raw"), last_5m + 300);
    EXPECT_LT(last_5m, raw_cutoff);
    EXPECT_GE(last_5m, raw_cutoff - 3600 - 300);
    EXPECT_EQ(query("SELECT min(ts) FROM points_5m"), last_1h + 3600);
    EXPECT_EQ(query("SELECT min(ts) FROM points_1h"), t0);
    EXPECT_LT(last_1h, five_cutoff);
    EXPECT_GE(last_1h, five_cutoff - 2 * 3600);
    EXPECT_EQ(query("SELECT count(*) FROM points_1h WHERE ts % 3600 <> 0"), 0);
    EXPECT_EQ(query("SELECT count(*) FROM points_5m WHERE ts % 300 <> 0"), 0);

    // The expected 5-minute points from the captures, and the hourly ones from those.
    std::map<long long, std::vector<double>> raw_by_5m;
    for (long long n = 0; n < count; ++n)
        raw_by_5m[floor_to(t0 + step * n, 300)].push_back(static_cast<double>(2 + n % 5));
    std::map<long long, history::Point> five, hour;
    std::map<long long, std::vector<history::Point>> five_by_hour;
    for (const auto &[ts, values] : raw_by_5m) {
        double sum = 0;
        for (double v : values)
            sum += v;
        const history::Point p{static_cast<double>(ts), sum / static_cast<double>(values.size()),
                               *std::max_element(values.begin(), values.end())};
        five[ts] = p;
        five_by_hour[floor_to(ts, 3600)].push_back(p);
    }
    for (const auto &[ts, points] : five_by_hour) {
        history::Point h{static_cast<double>(ts), 0, 0};
        for (const auto &p : points) {
            h.value += p.value / static_cast<double>(points.size());
            h.max = std::max(h.max, p.max);
        }
        hour[ts] = h;
    }

    const auto points = store.series(active, static_cast<double>(t0), static_cast<double>(now));
    ASSERT_FALSE(points.empty());
    std::size_t hourly = 0, five_minute = 0, raw = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const auto &p = points[i];
        const auto ts = static_cast<long long>(p.timestamp);
        if (i > 0) {
            ASSERT_LT(points[i - 1].timestamp, p.timestamp);
        }
        if (ts <= last_1h) {
            ++hourly;
            ASSERT_EQ(ts % 3600, 0);
            EXPECT_NEAR(p.value, hour.at(ts).value, 1e-9) << ts;
            EXPECT_EQ(p.max, hour.at(ts).max) << ts;
        } else if (ts <= last_5m) {
            ++five_minute;
            ASSERT_EQ(ts % 300, 0);
            EXPECT_NEAR(p.value, five.at(ts).value, 1e-9) << ts;
            EXPECT_EQ(p.max, five.at(ts).max) << ts;
        } else {
            ++raw;
            EXPECT_EQ(p.value, p.max);
        }
    }
    EXPECT_EQ(hourly, static_cast<std::size_t>((last_1h - t0) / 3600 + 1));
    EXPECT_EQ(five_minute, static_cast<std::size_t>((last_5m - last_1h - 3600) / 300 + 1));
    EXPECT_EQ(raw, static_cast<std::size_t>((now - last_5m - 300) / step + 1));
}

TEST_F(HistoryRetention, NothingOutlivesTheRetentionNorDoItsSeries) {
    history::Resolution r;
    r.raw_for = 3600;
    r.five_minute_for = 7200;
    r.retention = 4 * 3600;
    history::Store store(file(), r);
    // A table in the top for the first hour only, then eight hours of captures without it.
    record_every(store, 60, 60, {1, 1, 2, 0, 0, 0});
    long long now = 0;
    for (long long n = 60; n < 9 * 60; ++n) {
        now = t0 + 60 * n;
        store.record(test::make_fleet({1, 1, 1, 0, 0, 0}, n, static_cast<double>(now)),
                     static_cast<double>(now));
    }
    for (const char *table : {"points_raw", "points_5m", "points_1h"})
        EXPECT_GE(query(std::string("SELECT min(ts) FROM ") + table), now - 4 * 3600 - 300) << table;
    EXPECT_GT(query("SELECT count(*) FROM points_1h"), 0);
    EXPECT_EQ(store.series_labels("pg0", "db0", "table_size_bytes"),
              std::vector<std::string>{"public.table_0"});
    EXPECT_TRUE(store.series({"pg0", "db0", "table_size_bytes", "public.table_1"}, 0, 1e10).empty());
    // The kept range is covered without holes between tiers.
    const auto points =
        store.series(active, static_cast<double>(now - 4 * 3600 + 3600), static_cast<double>(now));
    ASSERT_GT(points.size(), 2u);
    for (std::size_t i = 1; i < points.size(); ++i)
        EXPECT_LE(points[i].timestamp - points[i - 1].timestamp, 3600) << i;
}

TEST_F(HistoryRetention, CatchingUpAfterDowntimeIsABoundedStepPerCapture) {
    history::Store store(file());
    const long long last = record_every(store, 60, 3 * 60); // three hours of raw points
    // The daemon was off for two days: all of them are past raw_for now.
    const auto capture = [&](long long at) {
        store.record(test::make_fleet({1, 1, 0, 0, 0, 0}, 0, static_cast<double>(at)),
                     static_cast<double>(at));
    };
    const long long back = last + 2 * day;
    capture(back);
    // One capture merges at most twelve 5-minute buckets (an hour) ...
    EXPECT_EQ(query("SELECT min(ts) FROM points_raw"), t0 + 3600);
    EXPECT_EQ(query("SELECT count(*) FROM points_5m") / query("SELECT count(*) FROM series"), 12);
    capture(back + 60);
    EXPECT_EQ(query("SELECT min(ts) FROM points_raw"), t0 + 7200);
    capture(back + 120);
    // ... and three captures caught up with three hours.
    EXPECT_EQ(query("SELECT min(ts) FROM points_raw"), back);
    EXPECT_EQ(query("SELECT count(*) FROM points_5m") / query("SELECT count(*) FROM series"), 36);
    EXPECT_EQ(store.series(active, static_cast<double>(t0), static_cast<double>(last)).size(), 36u);
}

} // namespace
