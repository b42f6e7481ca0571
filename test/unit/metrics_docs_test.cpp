// docs/metrics.md lists every metric vigild exports, and the Grafana dashboard uses only those.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "metrics/daemon_metrics.hpp"
#include "metrics/replication.hpp"
#include "pgbouncer/monitor.hpp"
#include "grafana_dashboard.hpp"
#include "prom_parser.hpp"
#include "test_support.hpp"

using namespace vigil;

namespace {

// The metric names documented in the tables of docs/metrics.md.
std::set<std::string> documented() {
    std::set<std::string> names;
    const std::string doc = test::read_file(std::string(VIGIL_SOURCE_DIR) + "/docs/metrics.md");
    const std::regex row("\\n\\| `(vigil_[a-z_]+)` \\|");
    for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row); it != std::sregex_iterator(); ++it)
        names.insert((*it)[1]);
    return names;
}

// Every family the daemon can export: a snapshot with every optional part present.
test::PromExposition everything() {
    auto health = std::make_shared<HealthSnapshot>();
    health->polled = health->up = true;
    health->checks = {{"c", "ok", 0, "85%", "", "", ""}};
    health->connections = {{"active", 1}};
    health->replication = {{"s", "a", 0}};
    health->dead_tuple_ratio_max = 0;
    health->bloat_ratio_max = 0.5;
    health->newest_backup_timestamp = 1;
    // Every statistics view answered (its families are declared even when it has no rows).
    health->database_stats = std::vector<StatRow>{};
    health->bgwriter = health->wal = health->archiver = StatRow{};
    health->replication_slots = health->tables = health->statements = std::vector<StatRow>{};
    ReplicationView replication; // a standby that also has a standby: every replication family
    replication.in_recovery = true;
    replication.receiver = WalReceiverState{};
    replication.standbys = {StandbyReplication{}};
    health->replication_view = replication;
    QueryMetrics q;
    q.observe("op", 0.1, "08006");
    // A fleet with a discovered target, so that Patroni's families are there too.
    auto fleet = std::make_shared<fleet::FleetSnapshot>();
    fleet::TargetState t;
    t.name = "pg-1";
    t.source = "patroni";
    t.up = true;
    t.databases = {{"app", health}};
    t.pool = PoolStats{};
    t.patroni_role = "leader";
    t.patroni_timeline = 3;
    t.patroni_lag_bytes = 0;
    fleet->targets = {t};
    fleet->discovery = fleet::DiscoveryState{};
    DaemonMetricsInput in;
    in.fleet = fleet;
    in.queries = q.snapshot();
    in.verify.ran = true;
    in.verify.steps = {{"file", "pass"}};
    std::string text = render_daemon_metrics(in);
    // serve appends the [[pgbouncers]] families: one PgBouncer with a pool, statistics and lists.
    pgbouncer::Snapshot bouncer;
    bouncer.name = "edge";
    bouncer.polled = bouncer.up = true;
    bouncer.pools = {pgbouncer::Pool{}};
    bouncer.stats = {pgbouncer::DatabaseStats{}};
    bouncer.lists = {{"databases", 1}};
    metrics::Exposition bouncer_families;
    pgbouncer::render_metrics(bouncer_families, bouncer);
    text += bouncer_families.str();
    return test::parse_prometheus(text);
}

} // namespace

TEST(MetricsDocs, EveryExportedMetricIsDocumentedAndNothingElse) {
    const auto docs = documented();
    const auto e = everything();
    ASSERT_GT(docs.size(), 30u);
    std::set<std::string> exported;
    for (const auto &[name, fam] : e.families)
        exported.insert(name);
    for (const auto &name : exported)
        EXPECT_TRUE(docs.count(name)) << name << " is exported but not in docs/metrics.md";
    for (const auto &name : docs)
        EXPECT_TRUE(exported.count(name)) << name << " is documented but never exported";
}

TEST(MetricsDocs, GrafanaDashboardLoadsAndUsesOnlyExportedMetrics) {
    const auto dash = test::grafana_dashboard();
    EXPECT_EQ(dash.at("title"), "pgvigil");
    const auto e = everything();
    std::set<std::string> used;
    std::set<int> ids;
    const std::regex metric("vigil_[a-z_]+");
    for (const auto &panel : dash.at("panels"))
        EXPECT_TRUE(ids.insert(panel.at("id").get<int>()).second) << "duplicate panel id";
    for (const auto &[panel, expr] : test::panel_queries(dash))
        for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric); it != std::sregex_iterator();
             ++it) {
            const std::string name = (*it)[0];
            used.insert(test::prom_family_of(name, e.families));
            EXPECT_TRUE(e.count(name) > 0 || e.families.count(name)) << name << " in panel " << panel;
        }
    // The issues' panels: pool usage, waiters, latency percentiles, error rate, health, lag, backups;
    // transactions, cache hit ratio, temp bytes, deadlocks, checkpoints, WAL, archiver failures,
    // slot retention, dead tuples of the top tables, time of the top statements.
    for (const char *m : {"vigil_pool_connections",
                          "vigil_pool_pending_acquires",
                          "vigil_pool_acquire_seconds",
                          "vigil_query_duration_seconds",
                          "vigil_query_errors_total",
                          "vigil_health_check_status",
                          "vigil_replication_lag_seconds",
                          "vigil_backup_age_seconds",
                          "vigil_backup_verify_success",
                          "vigil_database_transactions_committed_total",
                          "vigil_database_blocks_hit_total",
                          "vigil_database_blocks_read_total",
                          "vigil_database_temp_bytes_total",
                          "vigil_database_deadlocks_total",
                          "vigil_checkpoints_timed_total",
                          "vigil_checkpoints_requested_total",
                          "vigil_wal_bytes_total",
                          "vigil_archiver_failed_total",
                          "vigil_replication_slot_retained_bytes",
                          "vigil_table_dead_tuples",
                          "vigil_statement_seconds_total",
                          "vigil_health_check_value"})
        EXPECT_TRUE(used.count(m)) << m << " is not on the dashboard";
}

// A fleet on one dashboard: the `target` variable (and `pgbouncer`, for PgBouncer's families)
// narrows every panel, so each selector of a family whose samples carry that label filters by it.
TEST(MetricsDocs, GrafanaDashboardFiltersEveryPerTargetSeriesByItsVariable) {
    const auto dash = test::grafana_dashboard();
    const auto e = everything();
    // A family is a target's unless a sample of it goes without `target` (the process's own, and
    // PgBouncer's, which carry `pgbouncer`); the statistics views' families have no sample here.
    std::map<std::string, std::set<std::string>> labelled; // label → families that carry it
    std::set<std::string> without_target;
    for (const auto &s : e.samples) {
        const std::string family = test::prom_family_of(s.name, e.families);
        if (!s.labels.count("target"))
            without_target.insert(family);
        if (s.labels.count("pgbouncer"))
            labelled["pgbouncer"].insert(family);
    }
    for (const auto &[name, family] : e.families)
        if (!without_target.count(name))
            labelled["target"].insert(name);
    ASSERT_GT(labelled["target"].size(), 100u);
    ASSERT_GT(labelled["pgbouncer"].size(), 15u);
    EXPECT_FALSE(labelled["target"].count("vigil_build_info"));

    std::map<std::string, std::string> variables; // name → its query
    for (const auto &v : dash.at("templating").at("list"))
        if (v.at("type") == "query")
            variables[v.at("name")] = v.at("definition");
    EXPECT_EQ(variables["target"], "label_values(vigil_up{instance=~\"$instance\"}, target)");
    EXPECT_EQ(variables["pgbouncer"], "label_values(vigil_pgbouncer_up{instance=~\"$instance\"}, pgbouncer)");

    const std::regex selector("(vigil_[a-z_]+)(\\{[^}]*\\})?");
    int checked = 0;
    for (const auto &[panel, expr] : test::panel_queries(dash)) {
        int depth = 0; // the rewrite to `sum by (target, ...)` kept the parentheses paired
        for (const char c : expr) {
            depth += c == '(' ? 1 : c == ')' ? -1 : 0;
            EXPECT_GE(depth, 0) << expr;
        }
        EXPECT_EQ(depth, 0) << expr;
        for (auto it = std::sregex_iterator(expr.begin(), expr.end(), selector); it != std::sregex_iterator();
             ++it) {
            const std::string family = test::prom_family_of((*it)[1], e.families);
            const std::string matchers = (*it)[2];
            EXPECT_NE(matchers.find("instance=~\"$instance\""), std::string::npos)
                << family << " in panel " << panel;
            for (const auto &[label, families] : labelled)
                if (families.count(family)) {
                    ++checked;
                    EXPECT_NE(matchers.find(label + "=~\"$" + label + "\""), std::string::npos)
                        << family << " in panel " << panel << " is not filtered by $" << label;
                }
        }
    }
    EXPECT_GT(checked, 40);
}
