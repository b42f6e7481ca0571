// The PgBouncer admin console's answers parsed by column name, in the shapes real versions give,
// and the metrics and checks made of a snapshot.
#include <sstream>

#include <gtest/gtest.h>

#include "pgbouncer/monitor.hpp"
#include "dsn_params.hpp"
#include "prom_parser.hpp"

using namespace vigil;
using pgbouncer::Table;

namespace {

// psql -A output: a header line and rows, cells separated by '|'; "NULL" is a NULL.
Table table(const std::string &text) {
    Table t;
    std::istringstream in(text);
    std::string line;
    bool header = true;
    while (std::getline(in, line)) {
        if (line.empty())
            continue;
        std::vector<std::optional<std::string>> cells;
        std::string cell;
        std::istringstream fields(line);
        while (std::getline(fields, cell, '|'))
            cells.push_back(cell == "NULL" ? std::nullopt : std::optional<std::string>(cell));
        if (line.back() == '|')
            cells.emplace_back("");
        if (header) {
            for (auto &c : cells)
                t.columns.push_back(c.value_or(""));
            header = false;
        } else {
            t.rows.push_back(std::move(cells));
        }
    }
    return t;
}

// PgBouncer 1.18 (Debian 12), as it answered in the test harness.
const char *kPools118 = "database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_"
                        "active|sv_active_cancel|"
                        "sv_being_canceled|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|pool_mode\n"
                        "pgbouncer|pgbouncer|1|0|0|0|0|0|0|0|0|0|0|0|0|statement\n"
                        "app|alice|1|3|0|0|1|0|0|0|2|0|0|2|500000|transaction\n";
// PgBouncer 1.17: one cl_cancel_req, no sv_*_cancel columns, pool_mode before the end.
const char *kPools117 =
    "database|user|cl_active|cl_waiting|cl_cancel_req|sv_active|sv_idle|sv_used|sv_tested|"
    "sv_login|maxwait|maxwait_us|pool_mode\n"
    "app|bob|4|7|0|4|0|1|0|0|12|250|session\n";
// An older one (before maxwait_us) in another column order.
const char *kPoolsOld =
    "user|database|maxwait|cl_waiting|cl_active|sv_active|sv_idle|sv_used|sv_tested|sv_login\n"
    "carol|db|3|2|1|1|0|0|0|0\n";
// A newer one (1.24) with columns this parser does not know.
const char *kPools124 =
    "database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_active|sv_active_"
    "cancel|"
    "sv_being_canceled|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|pool_mode|load_balance_hosts\n"
    "app|dave|2|0|0|0|2|0|0|5|0|0|0|0|0|transaction|NULL\n";

const char *kStats118 =
    "database|total_xact_count|total_query_count|total_received|total_sent|total_xact_time|total_query_time|"
    "total_wait_time|avg_xact_count|avg_query_count|avg_recv|avg_sent|avg_xact_time|avg_query_time|avg_wait_"
    "time\n"
    "pgbouncer|2|2|0|0|0|0|0|1|1|0|0|0|0|0\n"
    "postgres|10|40|1400|10800|2370000|237000|12355|0|0|7|54|237000|5925|6210\n";
const char *kStats124 =
    "database|total_server_assignment_count|total_xact_count|total_query_count|total_received|"
    "total_sent|total_xact_time|total_query_time|total_wait_time|total_client_parse_count|"
    "avg_server_assignment_count|avg_xact_count|avg_query_count|avg_recv|avg_sent|"
    "avg_xact_time|avg_query_time|avg_wait_time|avg_client_parse_count\n"
    "app|9|5|6|100|200|1000000|500000|0|3|1|1|1|10|20|200000|83333|0|0\n";
const char *kLists = "list|items\ndatabases|2\nusers|2\npools|2\nfree_clients|49\nused_clients|1\n"
                     "login_clients|0\nfree_servers|49\nused_servers|1\ndns_names|0\n";

pgbouncer::Snapshot up_snapshot(const char *pools) {
    pgbouncer::Snapshot s;
    s.name = "edge";
    s.polled = s.up = true;
    s.last_success_timestamp = 1700000000;
    s.pools = pgbouncer::parse_pools(table(pools));
    s.stats = pgbouncer::parse_stats(table(kStats118));
    s.lists = pgbouncer::parse_lists(table(kLists));
    return s;
}

} // namespace

TEST(PgBouncerParse, Pools118ByColumnName) {
    const auto pools = pgbouncer::parse_pools(table(kPools118));
    ASSERT_EQ(pools.size(), 2u);
    const auto &p = pools[1];
    EXPECT_EQ(p.database, "app");
    EXPECT_EQ(p.user, "alice");
    EXPECT_EQ(p.cl_active, 1);
    EXPECT_EQ(p.cl_waiting, 3);
    EXPECT_EQ(p.sv_active, 1);
    EXPECT_EQ(p.sv_idle, 0);
    EXPECT_EQ(p.sv_used, 2);
    EXPECT_DOUBLE_EQ(p.maxwait_seconds, 2.5);
    EXPECT_EQ(p.pool_mode, "transaction");
}

TEST(PgBouncerParse, Pools117AndNewerAndOlderShapes) {
    const auto p117 = pgbouncer::parse_pools(table(kPools117)).at(0);
    EXPECT_EQ(p117.cl_waiting, 7);
    EXPECT_EQ(p117.sv_used, 1);
    EXPECT_DOUBLE_EQ(p117.maxwait_seconds, 12.00025);
    EXPECT_EQ(p117.pool_mode, "session");

    const auto old = pgbouncer::parse_pools(table(kPoolsOld)).at(0);
    EXPECT_EQ(old.database, "db");
    EXPECT_EQ(old.user, "carol");
    EXPECT_EQ(old.cl_waiting, 2);
    EXPECT_DOUBLE_EQ(old.maxwait_seconds, 3); // no maxwait_us: whole seconds
    EXPECT_EQ(old.pool_mode, "");             // absent, not guessed

    const auto p124 = pgbouncer::parse_pools(table(kPools124)).at(0);
    EXPECT_EQ(p124.sv_idle, 5);
    EXPECT_EQ(p124.pool_mode, "transaction");
}

TEST(PgBouncerParse, PoolsWithoutDatabaseOrUserAreRejected) {
    EXPECT_THROW(pgbouncer::parse_pools(table("cl_active|cl_waiting\n1|2\n")), std::runtime_error);
    EXPECT_THROW(pgbouncer::parse_stats(table("total_xact_count\n1\n")), std::runtime_error);
    EXPECT_THROW(pgbouncer::parse_lists(table("name|value\nx|1\n")), std::runtime_error);
}

TEST(PgBouncerParse, NonNumbersReadAsZeroNotGarbage) {
    const auto p = pgbouncer::parse_pools(table("database|user|cl_waiting|maxwait\nd|u|many|NULL\n")).at(0);
    EXPECT_EQ(p.cl_waiting, 0);
    EXPECT_EQ(p.maxwait_seconds, 0);
}

TEST(PgBouncerParse, StatsInSecondsWhateverTheVersion) {
    const auto s118 = pgbouncer::parse_stats(table(kStats118));
    ASSERT_EQ(s118.size(), 2u);
    const auto &d = s118[1];
    EXPECT_EQ(d.database, "postgres");
    EXPECT_DOUBLE_EQ(d.total_xact_count, 10);
    EXPECT_DOUBLE_EQ(d.total_query_count, 40);
    EXPECT_DOUBLE_EQ(d.total_received_bytes, 1400);
    EXPECT_DOUBLE_EQ(d.total_sent_bytes, 10800);
    EXPECT_DOUBLE_EQ(d.total_xact_seconds, 2.37);
    EXPECT_DOUBLE_EQ(d.total_query_seconds, 0.237);
    EXPECT_DOUBLE_EQ(d.avg_xact_seconds, 0.237);
    EXPECT_DOUBLE_EQ(d.avg_query_seconds, 0.005925);
    EXPECT_DOUBLE_EQ(d.avg_wait_seconds, 0.00621);

    const auto s124 = pgbouncer::parse_stats(table(kStats124)).at(0);
    EXPECT_DOUBLE_EQ(s124.total_xact_count, 5);
    EXPECT_DOUBLE_EQ(s124.total_query_count, 6);
    EXPECT_DOUBLE_EQ(s124.avg_xact_seconds, 0.2);
}

TEST(PgBouncerParse, Lists) {
    const auto lists = pgbouncer::parse_lists(table(kLists));
    EXPECT_EQ(lists.at("used_clients"), 1);
    EXPECT_EQ(lists.at("free_servers"), 49);
    EXPECT_EQ(lists.size(), 9u);
}

TEST(PgBouncerAdminDsn, DefaultsToTheConsoleDatabase) {
    EXPECT_EQ(vigil::parse_dsn(pgbouncer::admin_dsn("host=127.0.0.1 port=6432")).at("dbname"), "pgbouncer");
    EXPECT_EQ(vigil::parse_dsn(pgbouncer::admin_dsn("host=h dbname=pgbouncer user=stats")).at("user"),
              "stats");
}

TEST(PgBouncerMetrics, PoolsAndStatsWithLabels) {
    metrics::Exposition out;
    pgbouncer::render_metrics(out, up_snapshot(kPools118));
    const auto e = test::parse_prometheus(out.str());
    EXPECT_EQ(e.value("vigil_pgbouncer_up", {{"pgbouncer", "edge"}}).value_or(-1), 1);
    const std::map<std::string, std::string> pool = {
        {"pgbouncer", "edge"}, {"database", "app"}, {"user", "alice"}};
    EXPECT_EQ(e.value("vigil_pgbouncer_clients_waiting", pool).value_or(-1), 3);
    EXPECT_EQ(e.value("vigil_pgbouncer_clients_active", pool).value_or(-1), 1);
    EXPECT_EQ(e.value("vigil_pgbouncer_servers_active", pool).value_or(-1), 1);
    EXPECT_EQ(e.value("vigil_pgbouncer_servers_used", pool).value_or(-1), 2);
    EXPECT_DOUBLE_EQ(e.value("vigil_pgbouncer_max_wait_seconds", pool).value_or(-1), 2.5);
    const std::map<std::string, std::string> db = {{"pgbouncer", "edge"}, {"database", "postgres"}};
    EXPECT_DOUBLE_EQ(e.value("vigil_pgbouncer_avg_query_seconds", db).value_or(-1), 0.005925);
    EXPECT_DOUBLE_EQ(e.value("vigil_pgbouncer_xact_seconds_total", db).value_or(-1), 2.37);
    EXPECT_EQ(e.families.at("vigil_pgbouncer_queries_total").type, "counter");
    // The admin console's pseudo-pool and statistics are the monitor's own: left out.
    EXPECT_FALSE(e.value("vigil_pgbouncer_clients_active", {{"database", "pgbouncer"}}).has_value());
    EXPECT_FALSE(e.value("vigil_pgbouncer_queries_total", {{"database", "pgbouncer"}}).has_value());
    EXPECT_EQ(
        e.value("vigil_pgbouncer_list_items", {{"pgbouncer", "edge"}, {"list", "used_servers"}}).value_or(-1),
        1);
}

TEST(PgBouncerMetrics, DownShowsOnlyUpAndLastSuccess) {
    pgbouncer::Snapshot s = up_snapshot(kPools118);
    s.up = false;
    s.error = "connection refused";
    metrics::Exposition out;
    pgbouncer::render_metrics(out, s);
    const auto e = test::parse_prometheus(out.str());
    EXPECT_EQ(e.value("vigil_pgbouncer_up", {{"pgbouncer", "edge"}}).value_or(-1), 0);
    EXPECT_EQ(e.value("vigil_pgbouncer_last_success_timestamp_seconds", {{"pgbouncer", "edge"}}).value_or(-1),
              1700000000);
    EXPECT_EQ(e.families.size(), 2u);
}

TEST(PgBouncerChecks, GradedOnTheWorstPoolNamedInTheDetail) {
    const auto rows = pgbouncer::checks(up_snapshot(kPools117), {5, 20, 1, 5});
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].check_name, "pgbouncer_waiting_clients");
    EXPECT_EQ(rows[0].status, "warning");
    EXPECT_EQ(rows[0].severity, 1);
    EXPECT_EQ(rows[0].current_value, "7");
    EXPECT_NE(rows[0].detail.find("pool app/bob"), std::string::npos) << rows[0].detail;
    EXPECT_NE(rows[0].recommendation.find("default_pool_size"), std::string::npos);
    EXPECT_EQ(rows[1].check_name, "pgbouncer_max_wait");
    EXPECT_EQ(rows[1].status, "critical");
    EXPECT_EQ(rows[1].current_value, "12.0 s");
    EXPECT_EQ(health_check_number(rows[1].current_value), 12.0);
    EXPECT_NE(rows[1].detail.find("pool app/bob"), std::string::npos);
}

TEST(PgBouncerChecks, QuietPoolsAreOkAndTheConsoleIsIgnored) {
    const auto rows = pgbouncer::checks(up_snapshot(kPools124));
    EXPECT_EQ(rows[0].status, "ok");
    EXPECT_EQ(rows[1].status, "ok");
    EXPECT_EQ(rows[0].threshold, "warning 5, critical 20");
    EXPECT_EQ(rows[1].threshold, "warning 1.00 s, critical 5.00 s");
}

TEST(PgBouncerChecks, UnreadableConsoleIsUnknownNeverOk) {
    pgbouncer::Snapshot s;
    s.name = "edge";
    for (bool polled : {false, true}) {
        s.polled = polled;
        s.error = "timeout expired";
        for (const auto &r : pgbouncer::checks(s)) {
            EXPECT_EQ(r.status, "unknown");
            EXPECT_EQ(r.severity, 3);
            EXPECT_NE(r.detail.find("pgbouncer edge"), std::string::npos);
        }
    }
}
