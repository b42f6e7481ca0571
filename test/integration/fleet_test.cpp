// The fleet of `vigild serve` and `vigild check` against real servers of the test's own: targets
// from the configuration, each sample labelled with its target, /probe?target=, a database
// without pgvigil, a frozen target that delays nobody else, `check --all`, a reload that adds a target.
#include <chrono>
#include <fstream>
#include <set>
#include <mutex>
#include <thread>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "db.hpp"
#include "dsn_params.hpp"
#include "exit_codes.hpp"
#include "own_cluster.hpp"
#include "test_support.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string target_toml(const std::string &name, const std::string &dsn, const std::string &extra = "") {
    return "[[targets]]\nname = \"" + name + "\"\ndsn = \"" + dsn + "\"\n" + extra;
}

std::string serve_toml(int port, const std::string &targets) {
    return "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n[health]\ninterval = \"1s\"\n" +
           targets;
}

// A scrape that may fail while the daemon starts.
std::optional<test::PromExposition> try_scrape(int port, const std::string &path = "/metrics") {
    auto res = test::get(port, path);
    if (!res || (*res)->status != 200)
        return std::nullopt;
    return test::parse_prometheus((*res)->body);
}

bool target_up(int port, const std::string &target) {
    const auto e = try_scrape(port);
    return e && e->value("vigil_up", {{"target", target}}) == 1.0;
}

// vigild's connections to a server right now: those inside a poll (its read-only transaction),
// and those left idle longer than a poll interval (1 s) — kept open between polls.
struct VigildConnections {
    int polling = 0, kept_idle = 0, total = 0;
};
VigildConnections vigild_connections(const test::OwnCluster &c) {
    db::Connection conn = db::Connection::open(c.dsn());
    db::Result r =
        conn.exec("SELECT count(*) FILTER (WHERE state IN ('active', 'idle in transaction')),"
                  "       count(*) FILTER (WHERE state = 'idle' AND state_change < now() - interval '1.5 s'),"
                  "       count(*)"
                  "  FROM pg_stat_activity WHERE application_name = 'vigild' AND pid <> pg_backend_pid()");
    return {std::stoi(r.value(0, 0)), std::stoi(r.value(0, 1)), std::stoi(r.value(0, 2))};
}

class FleetServe : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(a_.ok()) << a_.error();
        ASSERT_TRUE(b_.ok()) << b_.error();
        for (auto *c : {&a_, &b_}) {
            db::Connection conn = db::Connection::open(c->dsn());
            conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
        }
        db::Connection conn = db::Connection::open(a_.dsn());
        conn.exec("CREATE DATABASE app"); // no pgvigil in it
        conn.exec("CREATE DATABASE app2");
        conn.exec("CREATE DATABASE closed");
        conn.exec("ALTER DATABASE closed ALLOW_CONNECTIONS false");
    }
    test::OwnCluster a_{"fleet_a"}, b_{"fleet_b"};
};

} // namespace

TEST_F(FleetServe, EveryTargetIsLabelledAndProbedAloneWithDatabasesWithoutPgvigilReported) {
    const int port = test::free_port();
    test::Daemon d(test::write_temp_file(serve_toml(
        port, target_toml("a", a_.dsn()) + target_toml("b", b_.dsn(), "databases = [\"postgres\"]\n"))));
    ASSERT_TRUE(test::wait_until([&] { return target_up(port, "a") && target_up(port, "b"); }, 30s))
        << d.log();
    test::PromExposition e;
    // Every database of a (connectable, not a template) has been polled once.
    ASSERT_TRUE(test::wait_until([&] {
        e = *try_scrape(port);
        for (const char *db : {"postgres", "app", "app2"})
            if (!e.value("vigil_extension_installed", {{"target", "a"}, {"database", db}}))
                return false;
        return e.value("vigil_extension_installed", {{"target", "b"}, {"database", "postgres"}}).has_value();
    })) << d.log();
    EXPECT_EQ(e.value("vigil_targets"), 2);
    EXPECT_EQ(e.value("vigil_target_databases", {{"target", "a"}}), 3); // postgres, app, app2
    EXPECT_EQ(e.value("vigil_target_databases", {{"target", "b"}}), 1);
    EXPECT_FALSE(e.value("vigil_extension_installed", {{"target", "a"}, {"database", "closed"}}).has_value());
    EXPECT_FALSE(
        e.value("vigil_extension_installed", {{"target", "a"}, {"database", "template1"}}).has_value());
    // A database without pgvigil: reported as such, with the check row that says what to do.
    EXPECT_EQ(e.value("vigil_extension_installed", {{"target", "a"}, {"database", "app"}}), 0);
    EXPECT_EQ(e.value("vigil_extension_installed", {{"target", "a"}, {"database", "postgres"}}), 1);
    EXPECT_EQ(e.value("vigil_health_check_status",
                      {{"target", "a"}, {"database", "app"}, {"check", "extension_missing"}}),
              3);
    EXPECT_TRUE(e.value("vigil_health_check_status",
                        {{"target", "b"}, {"database", "postgres"}, {"check", "connections"}})
                    .has_value());
    // The server's own facts once per target, whatever its number of databases.
    for (const char *family : {"vigil_lock_waiters", "vigil_transaction_id_age", "vigil_wal_records_total",
                               "vigil_checkpoints_timed_total"}) {
        for (const char *t : {"a", "b"}) {
            std::size_t n = 0;
            for (const auto &s : e.samples)
                n += s.name == family && s.labels.count("target") && s.labels.at("target") == t;
            EXPECT_EQ(n, 1u) << family << " of " << t;
        }
    }
    EXPECT_EQ(e.value("vigil_target_role", {{"target", "a"}, {"role", "primary"}}), 1);
    EXPECT_EQ(e.value("vigil_target_role", {{"target", "a"}, {"role", "standby"}}), 0);
    EXPECT_GT(e.value("vigil_last_poll_success_timestamp_seconds", {{"target", "b"}}).value_or(0), 1e9);
    EXPECT_GT(e.value("vigil_target_poll_duration_seconds", {{"target", "a"}}).value_or(0), 0);
    EXPECT_GT(e.value("vigil_database_size_bytes", {{"target", "a"}, {"database", "app"}}).value_or(0), 1e6);
    // Every sample but the process's own carries its target.
    const std::set<std::string> process = {"vigil_build_info", "vigil_process_start_time_seconds",
                                           "vigil_uptime_seconds", "vigil_config_reloads_total",
                                           "vigil_targets"};
    for (const auto &s : e.samples) {
        if (!process.count(s.name) && s.name.rfind("vigil_query_", 0) != 0 &&
            s.name.rfind("vigil_slow_", 0) != 0) {
            EXPECT_TRUE(s.labels.count("target")) << s.name;
        }
    }
    EXPECT_EQ(test::check_histograms(e), "");

    // /probe?target=b: b's samples only, and no process family.
    const auto probe = try_scrape(port, "/probe?target=b");
    ASSERT_TRUE(probe);
    EXPECT_EQ(probe->value("vigil_up"), 1);
    EXPECT_EQ(probe->count("vigil_build_info"), 0u);
    EXPECT_GT(probe->samples.size(), 20u);
    for (const auto &s : probe->samples)
        EXPECT_EQ(s.labels.count("target") ? s.labels.at("target") : "", "b") << s.name;
    const auto unknown = test::get(port, "/probe?target=nope");
    ASSERT_TRUE(unknown);
    EXPECT_EQ((*unknown)->status, 404);
    EXPECT_EQ((*unknown)->body, "unknown target nope\n");
    EXPECT_EQ((*test::get(port, "/probe"))->status, 400);
    // Ready: every target's databases polled once.
    EXPECT_EQ((*test::get(port, "/readyz"))->status, 200) << (*test::get(port, "/readyz"))->body;

    // a has 3 databases and 2 connections: never more than 2 polls at once, and no connection kept
    // idle between polls. (A closed connection's backend may linger a moment in pg_stat_activity,
    // so the count is of connections inside a poll.)
    int most = 0, kept_idle = 0, b_fewest = 99;
    for (int i = 0; i < 60; ++i) {
        const auto a = vigild_connections(a_);
        most = std::max(most, a.polling);
        kept_idle = std::max(kept_idle, a.kept_idle);
        b_fewest = std::min(b_fewest, vigild_connections(b_).total);
        std::this_thread::sleep_for(25ms);
    }
    EXPECT_LE(most, 2);
    EXPECT_GE(most, 1) << "no poll of a was ever seen";
    EXPECT_EQ(kept_idle, 0);
    // b has one database for its 2 connections: that connection stays open between polls.
    EXPECT_EQ(b_fewest, 1);
    // The log says why a's polls connect each time, and what would keep them open; b gets no such line.
    EXPECT_THAT(d.log(),
                HasSubstr("target a: 3 databases and connections = 2: each poll opens its connection"));
    EXPECT_THAT(d.log(), HasSubstr("connections = 3 would keep one per database"));
    EXPECT_THAT(d.log(), Not(HasSubstr("target b: 1 databases")));
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
}

TEST_F(FleetServe, AFrozenTargetDelaysNeitherTheOtherTargetNorAScrape) {
    const int port = test::free_port();
    test::Daemon d(test::write_temp_file(serve_toml(
        port, target_toml("a", a_.dsn(), "databases = [\"postgres\", \"app\"]\ntimeout = \"2s\"\n") +
                  target_toml("b", b_.dsn(), "databases = [\"postgres\"]\ntimeout = \"2s\"\n"))));
    ASSERT_TRUE(test::wait_until([&] { return target_up(port, "a") && target_up(port, "b"); }, 30s))
        << d.log();
    ASSERT_TRUE(a_.freeze());
    const auto frozen_at = Clock::now();
    const double b_success_at_freeze =
        *try_scrape(port)->value("vigil_last_poll_success_timestamp_seconds", {{"target", "b"}});
    double slowest = 0, b_success = 0, a_down_after = -1;
    while (seconds_since(frozen_at) < 8) {
        const auto t0 = Clock::now();
        const auto e = try_scrape(port);
        slowest = std::max(slowest, seconds_since(t0));
        ASSERT_TRUE(e) << "a scrape got no answer while target a was frozen";
        b_success = *e->value("vigil_last_poll_success_timestamp_seconds", {{"target", "b"}});
        if (a_down_after < 0 && e->value("vigil_up", {{"target", "a"}}) == 0.0)
            a_down_after = seconds_since(frozen_at);
        std::this_thread::sleep_for(200ms);
    }
    // b went on being polled every second; a read as down within its timeout and the grace.
    EXPECT_GE(b_success - b_success_at_freeze, 5) << d.log();
    EXPECT_LT(slowest, 1.0) << "a scrape took " << slowest << " s";
    EXPECT_GE(a_down_after, 0) << "target a still up 8 s after it froze\n" << d.log();
    EXPECT_LT(a_down_after, 1 + 2 + 2 + 1.5);
    std::cout << "[measured] frozen target: scrape slowest " << slowest << " s, other target polled "
              << b_success - b_success_at_freeze << " s further, frozen one down after " << a_down_after
              << " s\n";
    a_.thaw();
    EXPECT_TRUE(test::wait_until([&] { return target_up(port, "a"); }, 30s)) << d.log();
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
}

TEST_F(FleetServe, SighupAddsChangesAndRemovesTargetsWithoutARestart) {
    const int port = test::free_port();
    const std::string path =
        test::write_temp_file(serve_toml(port, target_toml("a", a_.dsn(), "databases = [\"postgres\"]\n")));
    test::Daemon d(path);
    ASSERT_TRUE(test::wait_until([&] { return target_up(port, "a"); }, 30s)) << d.log();
    EXPECT_FALSE(try_scrape(port)->value("vigil_up", {{"target", "b"}}).has_value());

    std::ofstream(path) << serve_toml(port, target_toml("a", a_.dsn(), "databases = [\"postgres\"]\n") +
                                                target_toml("b", b_.dsn(), "databases = [\"postgres\"]\n"));
    d.signal(SIGHUP);
    ASSERT_TRUE(test::wait_until([&] { return target_up(port, "b"); }, 30s)) << d.log();
    EXPECT_EQ(try_scrape(port)->value("vigil_config_reloads_total", {{"result", "success"}}), 1);

    // a changed (a second database), b removed.
    std::ofstream(path) << serve_toml(port,
                                      target_toml("a", a_.dsn(), "databases = [\"postgres\", \"app\"]\n"));
    d.signal(SIGHUP);
    ASSERT_TRUE(test::wait_until(
        [&] {
            const auto e = try_scrape(port);
            return e && !e->value("vigil_up", {{"target", "b"}}) &&
                   e->value("vigil_extension_installed", {{"target", "a"}, {"database", "app"}}) == 0.0;
        },
        30s))
        << d.log();
    EXPECT_THAT(d.log(), HasSubstr("target b: removed"));
    // The changed target's old polls stopped before its new ones started.
    ASSERT_TRUE(test::wait_until([&] { return d.log().find("target a: stopped") != std::string::npos; }, 10s))
        << d.log();
    const std::string log = d.log();
    const auto changed = log.find("target a: changed");
    ASSERT_NE(changed, std::string::npos) << log;
    EXPECT_LT(changed, log.find("target a: stopped")) << log;
    EXPECT_LT(log.find("target a: stopped"), log.find("target a: polling", changed)) << log;
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
}

// A reload that removes a frozen target and adds another: the added one starts polling while the
// removed one's poll still waits on its frozen server, not after.
TEST_F(FleetServe, AReloadStartsAnAddedTargetWithoutWaitingForAFrozenOneItRemoves) {
    const int port = test::free_port();
    const std::string path = test::write_temp_file(
        serve_toml(port, target_toml("a", a_.dsn(), "databases = [\"postgres\"]\ntimeout = \"2s\"\n")));
    test::Daemon d(path);
    ASSERT_TRUE(test::wait_until([&] { return target_up(port, "a"); }, 30s)) << d.log();
    ASSERT_TRUE(a_.freeze());
    std::this_thread::sleep_for(1500ms); // a's next poll (1 s interval) now waits on the frozen server
    std::ofstream(path) << serve_toml(port, target_toml("b", b_.dsn(), "databases = [\"postgres\"]\n"));
    d.signal(SIGHUP);
    const bool b_up = test::wait_until([&] { return target_up(port, "b"); }, 30s);
    const bool a_stopped =
        test::wait_until([&] { return d.log().find("target a: stopped") != std::string::npos; }, 10s);
    a_.thaw();
    ASSERT_TRUE(b_up) << d.log();
    ASSERT_TRUE(a_stopped) << d.log();
    const std::string log = d.log();
    EXPECT_LT(log.find("target a: removed"), log.find("target b: polling")) << log;
    EXPECT_LT(log.find("target b: polling"), log.find("target a: stopped")) << log;
    EXPECT_FALSE(try_scrape(port)->value("vigil_up", {{"target", "a"}}).has_value());
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
}

namespace {

// Patroni's REST API as far as discovery reads it: GET /cluster answers the document the test
// sets, naming the test's real servers as members. (A real Patroni cluster is the ha harness's.)
class ClusterEndpoint {
  public:
    ClusterEndpoint() {
        server_.Get("/cluster", [this](const httplib::Request &, httplib::Response &res) {
            std::lock_guard<std::mutex> lock(mutex_);
            res.set_content(body_, "application/json");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~ClusterEndpoint() {
        server_.stop();
        thread_.join();
    }
    void set_members(const std::vector<std::tuple<std::string, std::string, int>> &members) {
        nlohmann::json doc = {{"scope", "test"}, {"members", nlohmann::json::array()}};
        for (const auto &[name, role, port] : members)
            doc["members"].push_back({{"name", name},
                                      {"role", role},
                                      {"state", role == "leader" ? "running" : "streaming"},
                                      {"host", "127.0.0.1"},
                                      {"port", port},
                                      {"timeline", 1},
                                      {"lag", 0}});
        std::lock_guard<std::mutex> lock(mutex_);
        body_ = doc.dump();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  private:
    httplib::Server server_;
    int port_ = 0;
    std::mutex mutex_;
    std::string body_ = "{\"members\": []}";
    std::thread thread_;
};

} // namespace

TEST_F(FleetServe, PatroniMembersBecomeTargetsAndANewLeaderAppearsWithoutAReload) {
    ClusterEndpoint patroni;
    patroni.set_members({{"pg-1", "leader", a_.port()}, {"pg-2", "replica", b_.port()}});
    const int port = test::free_port();
    test::Daemon d(
        test::write_temp_file(serve_toml(port, "[discovery]\npatroni = \"" + patroni.url() +
                                                   "\"\ninterval = \"1s\"\ndsn = \"user=postgres\"\n"
                                                   "databases = [\"postgres\"]\ntimeout = \"2s\"\n")));
    ASSERT_TRUE(test::wait_until([&] { return target_up(port, "pg-1") && target_up(port, "pg-2"); }, 30s))
        << d.log();
    auto e = *try_scrape(port);
    EXPECT_EQ(e.value("vigil_discovery_up"), 1);
    EXPECT_EQ(e.value("vigil_discovery_members"), 2);
    EXPECT_EQ(e.value("vigil_patroni_role", {{"target", "pg-1"}, {"role", "leader"}}), 1);
    EXPECT_EQ(e.value("vigil_patroni_role", {{"target", "pg-2"}, {"role", "replica"}}), 1);
    // The server's own word stays the truth: both test servers are primaries.
    EXPECT_EQ(e.value("vigil_target_role", {{"target", "pg-2"}, {"role", "primary"}}), 1);
    EXPECT_EQ((*test::get(port, "/readyz"))->status, 200);
    // pg-1's acquires so far: a restarted poll would count from 0 again.
    double acquires_before = 0;
    ASSERT_TRUE(test::wait_until([&] {
        acquires_before =
            try_scrape(port)->value("vigil_pool_acquire_seconds_count", {{"target", "pg-1"}}).value_or(0);
        return acquires_before >= 4;
    })) << d.log();

    // A switchover: pg-2 leads, pg-1 follows; then pg-1 leaves the cluster. No reload.
    patroni.set_members({{"pg-1", "replica", a_.port()}, {"pg-2", "leader", b_.port()}});
    ASSERT_TRUE(test::wait_until([&] {
        const auto s = try_scrape(port);
        return s && s->value("vigil_patroni_role", {{"target", "pg-2"}, {"role", "leader"}}) == 1.0 &&
               s->value("vigil_patroni_role", {{"target", "pg-1"}, {"role", "replica"}}) == 1.0;
    })) << d.log();
    // A change of role restarts no poll: pg-1's polls went on counting.
    std::this_thread::sleep_for(1500ms);
    e = *try_scrape(port);
    EXPECT_GT(e.value("vigil_pool_acquire_seconds_count", {{"target", "pg-1"}}).value_or(0), acquires_before);
    EXPECT_EQ(e.value("vigil_config_reloads_total", {{"result", "success"}}), 0);
    patroni.set_members({{"pg-2", "leader", b_.port()}});
    ASSERT_TRUE(test::wait_until([&] {
        const auto s = try_scrape(port);
        return s && !s->value("vigil_up", {{"target", "pg-1"}}) && s->value("vigil_targets") == 1.0;
    })) << d.log();
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
}

namespace {

// `vigild check` over a fleet of databases of the harness's cluster whose vigil.health_check()
// returns rows the test chooses, and a target nobody answers for.
class FleetCheck : public ::testing::Test {
  protected:
    void SetUp() override {
        admin_ = db::Connection::open(test::test_dsn());
        for (const std::string &db : {db_a_, db_b_}) {
            admin_.exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
            admin_.exec("CREATE DATABASE " + db);
            db::Connection c = db::Connection::open(dsn_with(test::test_dsn(), {{"dbname", db}}));
            c.exec("CREATE SCHEMA vigil; CREATE TABLE vigil.rows (check_name text, status text, severity int,"
                   " current_value text, threshold text, detail text, recommendation text)");
            c.exec("CREATE FUNCTION vigil.health_check() RETURNS SETOF vigil.rows LANGUAGE sql"
                   " AS 'SELECT * FROM vigil.rows ORDER BY severity DESC'");
            c.exec("INSERT INTO vigil.rows VALUES ('connections', 'ok', 0, '1%', '70%', 'fine', '')");
        }
        admin_.exec("DROP DATABASE IF EXISTS " + db_plain_ + " WITH (FORCE)");
        admin_.exec("CREATE DATABASE " + db_plain_);
    }
    void TearDown() override {
        for (const std::string &db : {db_a_, db_b_, db_plain_})
            admin_.exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    }
    std::string config(bool with_down) {
        std::string text =
            target_toml("a", test::test_dsn(), "databases = [\"" + db_a_ + "\"]\n") +
            target_toml("b", test::test_dsn(), "databases = [\"" + db_b_ + "\", \"" + db_plain_ + "\"]\n");
        if (with_down)
            text += target_toml("down", "host=127.0.0.1 port=1", "timeout = \"1s\"\n");
        return test::write_temp_file(text);
    }
    void set_row(const std::string &db, const std::string &values) {
        db::Connection c = db::Connection::open(dsn_with(test::test_dsn(), {{"dbname", db}}));
        c.exec("TRUNCATE vigil.rows; INSERT INTO vigil.rows VALUES " + values);
    }
    std::string db_a_ = "vigil_fleet_check_a", db_b_ = "vigil_fleet_check_b",
                db_plain_ = "vigil_fleet_check_plain";
    db::Connection admin_;
};

} // namespace

TEST_F(FleetCheck, AllTakesTheWorstStatusAndAnUnreachableTargetIsUnknownNeverOk) {
    const std::string two = config(false), three = config(true);
    // a: ok; b: ok and a database without pgvigil (unknown).
    auto r = test::run_vigild("--config " + two + " check --target a");
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_THAT(r.output, HasSubstr("OK: 0 critical, 0 warning, 0 unknown, 1 ok"));
    EXPECT_THAT(r.output, ::testing::ContainsRegex("target  database +role"));
    EXPECT_THAT(r.output, HasSubstr("primary  connections"));
    r = test::run_vigild("--config " + two + " check --all");
    EXPECT_EQ(r.exit_code, exit_code::unknown) << r.output;
    EXPECT_THAT(r.output, HasSubstr("extension_missing"));
    EXPECT_THAT(r.output, HasSubstr("CREATE EXTENSION pgvigil"));
    // A warning anywhere beats unknown, a critical beats both.
    set_row(db_b_, "('connections', 'warning', 1, '75%', '70%', 'busy', 'add capacity')");
    EXPECT_EQ(test::run_vigild("--config " + two + " check --all").exit_code, exit_code::warning);
    set_row(db_a_, "('connections', 'critical', 2, '95%', '85%', 'full', '')");
    EXPECT_EQ(test::run_vigild("--config " + two + " check --all").exit_code, exit_code::critical);
    set_row(db_a_, "('connections', 'ok', 0, '1%', '70%', 'fine', '')");
    set_row(db_b_, "('connections', 'ok', 0, '1%', '70%', 'fine', '')");

    // An unreachable target: UNKNOWN, within its timeout, and the others still checked.
    const auto t0 = Clock::now();
    r = test::run_vigild("--config " + three + " check --all --json");
    EXPECT_LT(seconds_since(t0), 10);
    EXPECT_EQ(r.exit_code, exit_code::unknown) << r.output;
    const auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j["status"], "UNKNOWN");
    EXPECT_EQ(j["exit_code"], 3);
    std::set<std::string> seen;
    for (const auto &c : j["checks"]) {
        seen.insert(c["target"].get<std::string>() + "/" + c["database"].get<std::string>() + "/" +
                    c["check_name"].get<std::string>());
        if (c["target"] == "down") {
            EXPECT_EQ(c["severity"], 3);
            EXPECT_EQ(c["status"], "unknown");
            EXPECT_EQ(c["role"], "unknown"); // it could not be asked
        } else {
            EXPECT_EQ(c["role"], "primary"); // the harness's cluster, by its own answer
        }
    }
    EXPECT_TRUE(seen.count("a/" + db_a_ + "/connections")) << r.output;
    EXPECT_TRUE(seen.count("b/" + db_b_ + "/connections")) << r.output;
    EXPECT_TRUE(seen.count("b/" + db_plain_ + "/extension_missing")) << r.output;
    EXPECT_TRUE(seen.count("down//connection")) << r.output;
    r = test::run_vigild("--config " + three + " check --target down");
    EXPECT_EQ(r.exit_code, exit_code::unknown) << r.output;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("OK:")));
}

TEST_F(FleetCheck, PatroniMembersAreCheckedAndAPatroniThatDoesNotAnswerIsUnknown) {
    ClusterEndpoint patroni;
    const int pg_port = std::stoi(parse_dsn(test::test_dsn()).at("port"));
    patroni.set_members({{"pg-1", "leader", pg_port}});
    const std::string discovery = "[discovery]\npatroni = \"" + patroni.url() +
                                  "\"\ndsn = \"user=postgres\"\ndatabases = [\"" + db_a_ + "\"]\n";
    auto r = test::run_vigild("--config " + test::write_temp_file(discovery) + " check --all --json");
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    auto j = nlohmann::json::parse(r.output);
    ASSERT_EQ(j["checks"].size(), 1u) << r.output;
    EXPECT_EQ(j["checks"][0]["target"], "pg-1");
    EXPECT_EQ(j["checks"][0]["database"], db_a_);
    // Nobody at the URL: the members cannot be known, which is UNKNOWN, never OK.
    r = test::run_vigild(
        "--config " +
        test::write_temp_file("[discovery]\npatroni = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n") +
        " check --all");
    EXPECT_EQ(r.exit_code, exit_code::unknown) << r.output;
    EXPECT_THAT(r.output, HasSubstr("patroni"));
    EXPECT_THAT(r.output, HasSubstr("http://127.0.0.1:1/cluster"));
}

TEST_F(FleetCheck, SeveralTargetsNeedAChoiceAndAnUnknownNameIsAUsageError) {
    const std::string two = config(false);
    auto r = test::run_vigild("--config " + two + " check");
    EXPECT_EQ(r.exit_code, exit_code::usage) << r.output;
    EXPECT_THAT(
        r.output,
        HasSubstr("lists 2 targets (a, b): name one with --target NAME or check them all with --all"));
    r = test::run_vigild("--config " + two + " check --target nope");
    EXPECT_EQ(r.exit_code, exit_code::usage) << r.output;
    EXPECT_THAT(r.output, HasSubstr("--target nope: no such target in the configuration (targets: a, b)"));
    // Without [[targets]], --target default is the one DSN.
    r = test::run_vigild("--dsn '" + dsn_with(test::test_dsn(), {{"dbname", db_a_}}) +
                         "' check --target default");
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_THAT(r.output, HasSubstr("default"));
}

// A fleet is ready once every target has been polled, up or not: the exporter of a server that is
// down must stay in service to say so. The one target "default" keeps its database readiness.
TEST(FleetReady, AFleetWithATargetDownIsReadyOnceEveryTargetWasPolled) {
    const int port = test::free_port();
    test::Daemon d(test::write_temp_file(serve_toml(
        port, target_toml("up", test::test_dsn(), "databases = [\"postgres\"]\n") +
                  target_toml("down", "host=127.0.0.1 port=1 dbname=postgres", "timeout = \"1s\"\n"))));
    ASSERT_TRUE(test::wait_until([&] { return target_up(port, "up"); }, 30s)) << d.log();
    std::optional<httplib::Result> ready;
    ASSERT_TRUE(test::wait_until([&] {
        ready = test::get(port, "/readyz");
        return ready && (*ready)->status == 200;
    })) << (ready ? (*ready)->body : "no answer")
        << d.log();
    const auto e = *try_scrape(port);
    EXPECT_EQ(e.value("vigil_up", {{"target", "down"}}), 0);
    EXPECT_EQ(e.value("vigil_last_poll_success_timestamp_seconds", {{"target", "down"}}), 0);
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
}
