// The fleet's exposition: every target's samples labelled with it, no series twice however many
// targets and databases, the server's families once per target, /probe's body one target only.
#include <gtest/gtest.h>

#include "metrics/daemon_metrics.hpp"
#include "prom_parser.hpp"

using namespace vigil;

namespace {

// A database's poll with every optional part present; `server_wide` as PollScope sets it.
std::shared_ptr<HealthSnapshot> polled(const std::string &database, bool server_wide) {
    auto h = std::make_shared<HealthSnapshot>();
    h->polled = h->up = true;
    h->server_wide = server_wide;
    h->in_recovery = false;
    h->database = database;
    h->health_checks_available = true;
    h->checks = {{"connections", "ok", 0, "5%", "", "", ""}};
    h->connections = {{"active", 1}};
    h->replication = {{"s", "a", 0}};
    h->dead_tuple_ratio_max = 0.1;
    h->database_stats = std::vector<StatRow>{{{{"database", "postgres"}}, {{"xact_commit", 1}}},
                                             {{{"database", "app"}}, {{"xact_commit", 2}}}};
    h->bgwriter = StatRow{{}, {{"checkpoints_timed", 3}}};
    h->wal = StatRow{{}, {{"wal_records", 4}}};
    h->tables = std::vector<StatRow>{{{{"schema", "public"}, {"table", "t"}}, {{"size_bytes", 8192}}}};
    return h;
}

fleet::TargetState target(const std::string &name) {
    fleet::TargetState t;
    t.name = name;
    t.up = true;
    t.polled = true;
    t.role = fleet::Role::primary;
    t.databases = {{"app", polled("app", false)}, {"postgres", polled("postgres", true)}};
    t.pool = PoolStats{};
    return t;
}

std::size_t count_for(const test::PromExposition &e, const std::string &name, const std::string &target) {
    std::size_t n = 0;
    for (const auto &s : e.samples)
        n += s.name == name && s.labels.count("target") && s.labels.at("target") == target;
    return n;
}

} // namespace

TEST(FleetMetrics, TwoTargetsOfTwoDatabasesRenderWithoutADuplicateSeries) {
    auto fleet = std::make_shared<fleet::FleetSnapshot>();
    fleet->targets = {target("a"), target("b")};
    DaemonMetricsInput in;
    in.fleet = fleet;
    test::PromExposition e;
    ASSERT_NO_THROW(e = test::parse_prometheus(render_daemon_metrics(in))); // throws on a duplicate
    EXPECT_EQ(test::check_histograms(e), "");
    EXPECT_EQ(e.value("vigil_targets"), 2);
    for (const char *t : {"a", "b"}) {
        EXPECT_EQ(e.value("vigil_up", {{"target", t}}), 1);
        EXPECT_EQ(e.value("vigil_target_role", {{"target", t}, {"role", "primary"}}), 1);
        EXPECT_EQ(e.value("vigil_target_role", {{"target", t}, {"role", "standby"}}), 0);
        // Per database: both; server-wide: once, from the database that collects them.
        EXPECT_EQ(count_for(e, "vigil_health_check_status", t), 2u);
        EXPECT_EQ(count_for(e, "vigil_database_size_bytes", t), 2u);
        EXPECT_EQ(count_for(e, "vigil_table_size_bytes", t), 2u);
        EXPECT_EQ(count_for(e, "vigil_lock_waiters", t), 1u);
        EXPECT_EQ(count_for(e, "vigil_transaction_id_age", t), 1u);
        EXPECT_EQ(count_for(e, "vigil_checkpoints_timed_total", t), 1u);
        EXPECT_EQ(count_for(e, "vigil_database_transactions_committed_total", t), 2u); // one per row
        EXPECT_EQ(count_for(e, "vigil_pool_acquire_seconds_count", t), 1u);
    }
    EXPECT_EQ(e.value("vigil_table_size_bytes", {{"target", "b"}, {"database", "app"}, {"table", "t"}}),
              8192);
    EXPECT_EQ(e.value("vigil_database_transactions_committed_total", {{"target", "a"}, {"database", "app"}}),
              2);
}

TEST(FleetMetrics, AProbeIsOneTargetAndNoProcessFamily) {
    const auto e = test::parse_prometheus(render_target_metrics(target("b")));
    EXPECT_EQ(e.count("vigil_build_info"), 0u);
    EXPECT_EQ(e.count("vigil_targets"), 0u);
    ASSERT_GT(e.samples.size(), 10u);
    for (const auto &s : e.samples)
        EXPECT_EQ(s.labels.count("target") ? s.labels.at("target") : "", "b") << s.name;
}

TEST(FleetMetrics, ADatabaseWithoutPgvigilSaysSoAndADownTargetShowsNoStaleFacts) {
    auto t = target("a");
    auto bare = polled("app", false);
    bare->health_checks_available = false;
    bare->checks = {extension_missing_check()};
    t.databases[0].health = bare;
    auto down = target("z");
    down.up = false;
    for (auto &d : down.databases) {
        auto h = std::make_shared<HealthSnapshot>(*d.health);
        h->up = false;
        d.health = h;
    }
    auto fleet = std::make_shared<fleet::FleetSnapshot>();
    fleet->targets = {t, down};
    DaemonMetricsInput in;
    in.fleet = fleet;
    const auto e = test::parse_prometheus(render_daemon_metrics(in));
    EXPECT_EQ(e.value("vigil_extension_installed", {{"target", "a"}, {"database", "app"}}), 0);
    EXPECT_EQ(e.value("vigil_extension_installed", {{"target", "a"}, {"database", "postgres"}}), 1);
    EXPECT_EQ(e.value("vigil_health_check_status",
                      {{"target", "a"}, {"database", "app"}, {"check", "extension_missing"}}),
              3);
    EXPECT_EQ(e.value("vigil_up", {{"target", "z"}}), 0);
    EXPECT_EQ(count_for(e, "vigil_lock_waiters", "z"), 0u);
    EXPECT_EQ(count_for(e, "vigil_health_poll_timestamp_seconds", "z"), 2u);
}
