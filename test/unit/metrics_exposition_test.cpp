// The Prometheus exposition writer and the daemon's metrics, checked by an independent parser.
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "metrics/daemon_metrics.hpp"
#include "metrics/exposition.hpp"
#include "metrics/http.hpp"
#include "prom_parser.hpp"

using namespace vigil;
using ::testing::HasSubstr;

TEST(Exposition, EscapesLabelValuesAndHelp) {
    EXPECT_EQ(metrics::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    EXPECT_EQ(metrics::escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
    metrics::Exposition e;
    e.family("vigil_t", "gauge", "help with \\ and\nnewline");
    e.sample("vigil_t", {{"name", "we\"ird\\na\nme"}}, 1);
    const auto parsed = test::parse_prometheus(e.str());
    ASSERT_EQ(parsed.samples.size(), 1u);
    EXPECT_EQ(parsed.samples[0].labels.at("name"), "we\"ird\\na\nme");
    EXPECT_EQ(parsed.families.at("vigil_t").type, "gauge");
}

TEST(Exposition, FormatsSpecialValues) {
    EXPECT_EQ(metrics::format_value(3), "3");
    EXPECT_EQ(metrics::format_value(-2), "-2");
    EXPECT_EQ(metrics::format_value(0.25), "0.25");
    EXPECT_EQ(metrics::format_value(INFINITY), "+Inf");
    EXPECT_EQ(metrics::format_value(-INFINITY), "-Inf");
    EXPECT_EQ(metrics::format_value(NAN), "NaN");
    EXPECT_DOUBLE_EQ(std::stod(metrics::format_value(0.1 + 0.2)), 0.1 + 0.2); // round-trips
    EXPECT_DOUBLE_EQ(std::stod(metrics::format_value(1.5e18)), 1.5e18);
}

TEST(Exposition, GroupsSamplesOfAFamilyWhateverTheOrder) {
    metrics::Exposition e;
    e.family("vigil_a", "gauge", "a");
    e.family("vigil_b_total", "counter", "b");
    e.sample("vigil_a", {{"x", "1"}}, 1);
    e.sample("vigil_b_total", {}, 2);
    e.sample("vigil_a", {{"x", "2"}}, 3);
    e.family("vigil_a", "gauge", "declared twice is harmless");
    const std::string text = e.str();
    EXPECT_EQ(text, "# HELP vigil_a a\n# TYPE vigil_a gauge\nvigil_a{x=\"1\"} 1\nvigil_a{x=\"2\"} 3\n"
                    "# HELP vigil_b_total b\n# TYPE vigil_b_total counter\nvigil_b_total 2\n");
    EXPECT_NO_THROW(test::parse_prometheus(text));
    EXPECT_THROW(e.sample("vigil_undeclared", {}, 1), std::logic_error);
}

TEST(Exposition, HistogramIsCumulativeWithInfEqualToCount) {
    metrics::Histogram h({0.1, 1});
    for (double v : {0.05, 0.1, 0.5, 2.0, 3.0})
        h.observe(v);
    metrics::Exposition e;
    e.family("vigil_d_seconds", "histogram", "d");
    e.histogram("vigil_d_seconds", {{"operation", "q"}}, h);
    const auto parsed = test::parse_prometheus(e.str());
    EXPECT_EQ(test::check_histograms(parsed), "");
    EXPECT_EQ(parsed.value("vigil_d_seconds_bucket", {{"le", "0.1"}}), 2); // le is inclusive
    EXPECT_EQ(parsed.value("vigil_d_seconds_bucket", {{"le", "1"}}), 3);
    EXPECT_EQ(parsed.value("vigil_d_seconds_bucket", {{"le", "+Inf"}}), 5);
    EXPECT_EQ(parsed.value("vigil_d_seconds_count"), 5);
    EXPECT_DOUBLE_EQ(*parsed.value("vigil_d_seconds_sum"), 5.65);
}

TEST(PromParser, RejectsMalformedLines) {
    // The test parser must be able to fail, or the tests that use it prove nothing.
    for (const char *bad :
         {"vigil_x{a=\"1\" 1\n", "vigil_x 1 2 3\n", "vigil_x{a=1} 1\n", "1vigil 1\n", "vigil_x abc\n",
          "vigil_x{a=\"\\q\"} 1\n", "vigil_x 1\nvigil_x 1\n", "vigil_x 1"}) {
        EXPECT_THROW(test::parse_prometheus(bad), std::runtime_error) << bad;
    }
    EXPECT_THROW(test::parse_prometheus("vigil_a 1\nvigil_b 1\nvigil_a{x=\"y\"} 1\n"), std::runtime_error);
}

TEST(DaemonMetrics, EveryLineParsesWithPoolDatabaseAndBackupState) {
    auto health = std::make_shared<HealthSnapshot>();
    health->polled = health->up = true;
    health->database = "app";
    health->checks = {{"connection_utilisation", "warning", 1, "75%", "70%", "d", "r"},
                      {"cache \"hit\" ratio", "ok", 0, "", "", "", ""}};
    health->connections = {{"active", 3}, {"idle in transaction", 1}};
    health->replication = {{"standby1", "10.0.0.2", 0.5}};
    health->dead_tuple_ratio_max = 0.125;
    health->newest_backup_timestamp = 1000;
    PoolStats pool;
    pool.total = 4;
    pool.idle = 1;
    pool.active = 3;
    pool.pending = 2;
    pool.max_size = 4;
    pool.acquires = 10;
    pool.acquire_buckets.fill(10);
    pool.acquire_buckets[0] = 4;
    pool.acquire_seconds_sum = 0.01;
    QueryMetrics queries(0.01);
    queries.observe("poll_database", 0.002);
    queries.observe("poll_database", 0.5);
    queries.observe("poll_locks", 0.001, "57014");

    DaemonMetricsInput in;
    in.health = health;
    in.queries = queries.snapshot();
    in.pool = pool;
    in.verify = {true, false, 1500, 2.5, "/b", {{"sha256", "fail"}, {"file", "pass"}, {"tables", "skip"}}};
    in.start_time = 100;
    in.now = 1100;
    const auto e = test::parse_prometheus(render_daemon_metrics(in));
    EXPECT_EQ(test::check_histograms(e), "");
    for (const auto &s : e.samples)
        EXPECT_EQ(s.name.rfind("vigil_", 0), 0u) << s.name;
    for (const auto &[name, fam] : e.families) {
        EXPECT_FALSE(fam.help.empty()) << name;
        if (fam.type == "counter") {
            EXPECT_THAT(name, ::testing::EndsWith("_total"));
        }
    }
    EXPECT_EQ(e.value("vigil_up"), 1);
    EXPECT_EQ(e.value("vigil_uptime_seconds"), 1000);
    EXPECT_EQ(e.value("vigil_health_check_status", {{"check", "connection_utilisation"}}), 1);
    EXPECT_EQ(e.value("vigil_health_check_status", {{"check", "cache \"hit\" ratio"}}), 0);
    EXPECT_EQ(e.value("vigil_database_connections", {{"state", "idle in transaction"}}), 1);
    EXPECT_EQ(e.value("vigil_replication_lag_seconds", {{"standby", "standby1"}}), 0.5);
    EXPECT_EQ(e.value("vigil_pool_connections", {{"state", "active"}}), 3);
    EXPECT_EQ(e.value("vigil_pool_pending_acquires"), 2);
    EXPECT_EQ(e.value("vigil_pool_acquire_seconds_bucket", {{"le", "0.0001"}}), 4);
    EXPECT_EQ(e.value("vigil_pool_acquire_seconds_count"), 10);
    EXPECT_EQ(e.value("vigil_query_duration_seconds_count", {{"operation", "poll_database"}}), 2);
    EXPECT_EQ(e.value("vigil_slow_queries_total", {{"operation", "poll_database"}}), 1);
    EXPECT_EQ(e.value("vigil_query_errors_total", {{"sqlstate_class", "57"}}), 1);
    EXPECT_EQ(e.value("vigil_backup_age_seconds"), 100);
    EXPECT_EQ(e.value("vigil_backup_verify_success"), 0);
    EXPECT_EQ(e.value("vigil_backup_verify_step_result", {{"step", "sha256"}}), 0);
    EXPECT_EQ(e.value("vigil_backup_verify_step_result", {{"step", "tables"}}), -1);
}

TEST(DaemonMetrics, DatabaseMetricsDisappearWhenTheDatabaseIsDown) {
    auto health = std::make_shared<HealthSnapshot>();
    health->polled = true;
    health->up = false;
    health->lock_waiters = 7; // stale values must not be exported as current
    DaemonMetricsInput in;
    in.health = health;
    const auto e = test::parse_prometheus(render_daemon_metrics(in));
    EXPECT_EQ(e.value("vigil_up"), 0);
    EXPECT_EQ(e.count("vigil_lock_waiters"), 0u);
    EXPECT_EQ(e.count("vigil_pool_connections"), 0u); // no pool, no pool metrics
}

TEST(MetricsHttp, ParsesListenAddresses) {
    EXPECT_EQ(parse_listen_address("127.0.0.1:9188"), std::make_pair(std::string("127.0.0.1"), 9188));
    EXPECT_EQ(parse_listen_address("[::1]:80"), std::make_pair(std::string("::1"), 80));
    EXPECT_THROW(parse_listen_address("9188"), std::invalid_argument);
    EXPECT_THROW(parse_listen_address("host:"), std::invalid_argument);
    EXPECT_THROW(parse_listen_address("host:99999"), std::invalid_argument);
    EXPECT_THROW(parse_listen_address("host:12x"), std::invalid_argument);
}
