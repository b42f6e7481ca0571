// `vigild serve` against the real cluster: /metrics parses line by line and moves with the
// workload, probes, sd_notify, SIGHUP with good and bad configuration, SIGTERM drain under load.
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <libpq-fe.h>

#include "db.hpp"
#include "daemon_process.hpp"
#include "prom_parser.hpp"
#include "scratch_database.hpp"
#include "test_support.hpp"

using namespace vigil;
using namespace vigil::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(Daemon, EveryMetricsLineParsesAndTheProbesAnswer) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    const std::size_t checks = std::stoul(conn.scalar("SELECT count(*) FROM vigil.health_check()"));
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, test::test_dsn())));
    ASSERT_TRUE(wait_until([&] { return get(port, "/healthz").has_value(); })) << d.log();
    EXPECT_EQ((*get(port, "/healthz"))->status, 200);
    test::PromExposition e;
    ASSERT_TRUE(wait_until([&] {
        e = scrape(port);
        return e.value("vigil_up") == 1.0;
    })) << d.log();
    EXPECT_EQ(test::check_histograms(e), "");
    for (const auto &s : e.samples)
        EXPECT_EQ(s.name.rfind("vigil_", 0), 0u) << s.name;
    for (const auto &[name, fam] : e.families)
        EXPECT_FALSE(fam.type.empty()) << name << " has no TYPE";
    EXPECT_EQ(e.count("vigil_build_info"), 1u);
    // One status per row of the extension's vigil.health_check().
    EXPECT_EQ(e.value("vigil_health_checks_available"), 1);
    EXPECT_EQ(e.count("vigil_health_check_status"), checks);
    EXPECT_TRUE(e.value("vigil_health_check_status", {{"check", "connections"}}).has_value());
    EXPECT_GE(e.value("vigil_query_duration_seconds_count", {{"operation", "poll_health_check"}}).value_or(0),
              1);
    EXPECT_GT(e.value("vigil_uptime_seconds").value_or(-1), 0);
    EXPECT_GT(e.value("vigil_database_size_bytes", {{"database", "postgres"}}).value_or(0), 1e6);
    EXPECT_GT(e.value("vigil_transaction_id_age").value_or(-1), 0);
    EXPECT_TRUE(e.value("vigil_lock_waiters").has_value());
    EXPECT_GE(e.value("vigil_database_connections", {{"state", "active"}}).value_or(0), 1);
    EXPECT_GE(e.value("vigil_query_duration_seconds_count", {{"operation", "poll_database"}}).value_or(0), 1);
    // The one DSN is the fleet's target "default", polled on its own connections (2 by default).
    EXPECT_EQ(e.value("vigil_pool_max_connections", {{"target", "default"}}), 2);
    EXPECT_EQ(e.value("vigil_up", {{"target", "default"}}), 1);
    EXPECT_EQ(e.value("vigil_health_checks_available", {{"target", "default"}, {"database", "postgres"}}), 1);
    EXPECT_GE(e.value("vigil_pool_connections_created_total").value_or(0), 1);
    EXPECT_GE(e.value("vigil_pool_acquire_seconds_count").value_or(0), 1);
    // Ready unless a check is critical (the shared cluster's state decides which; both
    // directions are provoked in ReadinessFollowsCriticalChecks).
    bool any_critical = false;
    for (const auto &smp : e.samples)
        any_critical |= smp.name == "vigil_health_check_status" && smp.value == 2;
    auto readyz = get(port, "/readyz");
    EXPECT_EQ((*readyz)->status, any_critical ? 503 : 200) << (*readyz)->body;
    EXPECT_EQ((*get(port, "/nope"))->status, 404);

    // The reference parser (prometheus_client, Debian's python3-prometheus-client) reads every
    // sample too, with the same families and types.
    const std::string body = (*get(port, "/metrics"))->body;
    const std::string file = test::write_temp_file(body, ".prom");
    const auto ref = test::run_command("/usr/bin/python3 -c 'import sys\nfrom prometheus_client.parser "
                                       "import text_string_to_metric_families as p\n"
                                       "fams = list(p(open(sys.argv[1]).read()))\n"
                                       "print(sum(len(f.samples) for f in fams), len(fams), \" "
                                       "\".join(sorted(f.name + \":\" + f.type for f in fams)))' " +
                                       file);
    ASSERT_EQ(ref.exit_code, 0) << ref.output;
    const auto mine = test::parse_prometheus(body);
    std::string types;
    std::set<std::string> sorted;
    for (const auto &[name, fam] : mine.families) {
        // prometheus_client names a counter family without its _total suffix.
        std::string n = name;
        if (fam.type == "counter" && n.size() > 6 && n.compare(n.size() - 6, 6, "_total") == 0)
            n = n.substr(0, n.size() - 6);
        sorted.insert(n + ":" + fam.type);
    }
    for (const auto &t : sorted)
        types += (types.empty() ? "" : " ") + t;
    EXPECT_EQ(ref.output, std::to_string(mine.samples.size()) + " " + std::to_string(mine.families.size()) +
                              " " + types + "\n");
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

TEST(Daemon, MetricsMoveWithTheWorkload) {
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, test::test_dsn())));
    ASSERT_TRUE(wait_until([&] { return get(port, "/metrics") && scrape(port).value("vigil_up") == 1.0; }))
        << d.log();
    const auto before = scrape_after_next_poll(port);
    const double idle_tx_before =
        before.value("vigil_database_connections", {{"state", "idle in transaction"}}).value_or(0);
    const double polls_before =
        *before.value("vigil_query_duration_seconds_count", {{"operation", "poll_locks"}});
    const double acquires_before = *before.value("vigil_pool_acquire_seconds_count");

    // Three sessions idle in a transaction, one holding a lock and one waiting for it.
    std::vector<db::Connection> idle;
    for (int i = 0; i < 3; ++i) {
        idle.push_back(db::Connection::open(test::test_dsn()));
        idle.back().exec("BEGIN; SELECT 1");
    }
    db::Connection holder = db::Connection::open(test::test_dsn());
    holder.exec("CREATE TABLE IF NOT EXISTS daemon_lock_target (x int)");
    holder.exec("BEGIN; LOCK TABLE daemon_lock_target IN ACCESS EXCLUSIVE MODE");
    db::Connection waiter = db::Connection::open(test::test_dsn());
    ASSERT_EQ(PQsendQuery(waiter.get(), "SELECT count(*) FROM daemon_lock_target"), 1);

    test::PromExposition after;
    ASSERT_TRUE(wait_until([&] {
        after = scrape_after_next_poll(port);
        return after.value("vigil_lock_waiters").value_or(0) >= 1;
    })) << d.log();
    EXPECT_GE(after.value("vigil_database_connections", {{"state", "idle in transaction"}}).value_or(0),
              idle_tx_before + 3 + 1); // the three idle sessions and the lock holder
    EXPECT_GT(after.value("vigil_lock_wait_longest_seconds").value_or(-1), 0);
    EXPECT_GT(*after.value("vigil_query_duration_seconds_count", {{"operation", "poll_locks"}}),
              polls_before);
    EXPECT_GT(*after.value("vigil_pool_acquire_seconds_count"), acquires_before);

    holder.exec("COMMIT");
    while (PGresult *r = PQgetResult(waiter.get()))
        PQclear(r);
    for (auto &c : idle)
        c.exec("COMMIT");
    ASSERT_TRUE(wait_until([&] { return scrape_after_next_poll(port).value("vigil_lock_waiters") == 0.0; }));
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

TEST(Daemon, UnreachableDatabaseStillAnswersScrapesAndIsNotReady) {
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, "host=127.0.0.1 port=1 connect_timeout=1")));
    ASSERT_TRUE(wait_until([&] {
        auto r = get(port, "/metrics");
        return r &&
               test::parse_prometheus((*r)->body).value("vigil_health_poll_timestamp_seconds").value_or(0) >
                   0;
    })) << d.log();
    const auto e = scrape(port);
    EXPECT_EQ(e.value("vigil_up"), 0);
    EXPECT_EQ(e.count("vigil_database_connections"), 0u);
    EXPECT_GE(e.value("vigil_query_errors_total", {{"sqlstate_class", "08"}}).value_or(0), 1);
    auto ready = get(port, "/readyz");
    EXPECT_EQ((*ready)->status, 503);
    EXPECT_THAT((*ready)->body, HasSubstr("database unreachable"));
    EXPECT_EQ((*get(port, "/healthz"))->status, 200); // the process itself is alive
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

TEST(Daemon, SighupAppliesAGoodConfigAndKeepsTheOldOneOnABadConfig) {
    const int port = free_port();
    const std::string path = test::write_temp_file(config_text(port, test::test_dsn()));
    Daemon d(path);
    ASSERT_TRUE(wait_until([&] { return get(port, "/metrics").has_value(); })) << d.log();

    // Bad: a misspelt key. The old endpoint keeps serving and the failure is counted and logged.
    std::ofstream(path) << config_text(port, test::test_dsn(), "[pool]\nmax_sise = 3\n");
    d.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return scrape(port).value("vigil_config_reloads_total", {{"result", "failure"}}) == 1.0;
    })) << d.log();
    EXPECT_THAT(d.log(), HasSubstr("keeping the old configuration"));
    EXPECT_THAT(d.log(), HasSubstr("pool.max_sise: unknown key"));

    // Good: a new listen address. The new one serves, the old one is closed.
    const int port2 = free_port();
    std::ofstream(path) << config_text(port2, test::test_dsn());
    d.signal(SIGHUP);
    // The new listener answers while the rest of the reload is still under way: the reload is
    // done when it is counted.
    ASSERT_TRUE(wait_until([&] {
        return get(port2, "/metrics").has_value() &&
               scrape(port2).value("vigil_config_reloads_total", {{"result", "success"}}) == 1.0;
    })) << d.log();
    const auto e = scrape(port2);
    EXPECT_EQ(e.value("vigil_config_reloads_total", {{"result", "success"}}), 1);
    EXPECT_EQ(e.value("vigil_config_reloads_total", {{"result", "failure"}}), 1);
    // The old listener closes once the new one serves: the test may ask in between.
    EXPECT_TRUE(wait_until([&] { return !get(port, "/metrics").has_value(); }, 5s)) << d.log();
    EXPECT_THAT(d.log(), HasSubstr("configuration reloaded"));
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

TEST(Daemon, NotifiesSystemdOfReadinessReloadAndStop) {
    const std::string sock_path = ::testing::TempDir() + "vigil_notify_" + std::to_string(getpid());
    unlink(sock_path.c_str());
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto receive = [&] {
        char buf[512];
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    };

    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, test::test_dsn())), {}, {{"NOTIFY_SOCKET", sock_path}});
    const std::string ready = receive();
    EXPECT_THAT(ready, HasSubstr("READY=1"));
    EXPECT_TRUE(get(port, "/healthz").has_value()) << "READY=1 is sent once the endpoint is bound";
    d.signal(SIGHUP);
    EXPECT_THAT(receive(), HasSubstr("RELOADING=1"));
    EXPECT_THAT(receive(), HasSubstr("READY=1"));
    d.signal(SIGTERM);
    EXPECT_THAT(receive(), HasSubstr("STOPPING=1"));
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
    close(fd);
    unlink(sock_path.c_str());
}

TEST(Daemon, SigtermUnderLoadDrainsAndExitsZeroInTime) {
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, test::test_dsn())), {"--drain-timeout", "3s"});
    ASSERT_TRUE(wait_until([&] { return get(port, "/metrics").has_value(); })) << d.log();

    // Load: scrapers hammering /metrics and sessions keeping the server busy.
    std::atomic<bool> stop{false};
    std::atomic<int> scrapes{0}, bad{0};
    std::vector<std::thread> load;
    for (int i = 0; i < 4; ++i)
        load.emplace_back([&] {
            while (!stop) {
                auto r = get(port, "/metrics");
                if (!r)
                    break; // the endpoint closed: draining
                if ((*r)->status != 200) {
                    ++bad;
                    continue;
                }
                try {
                    test::parse_prometheus((*r)->body);
                    ++scrapes;
                } catch (const std::exception &) {
                    ++bad;
                }
            }
        });
    for (int i = 0; i < 2; ++i)
        load.emplace_back([&] {
            db::Connection c = db::Connection::open(test::test_dsn());
            while (!stop)
                c.exec("SELECT count(*) FROM generate_series(1, 200000)");
        });
    std::this_thread::sleep_for(1500ms);
    const auto sent = std::chrono::steady_clock::now();
    d.signal(SIGTERM);
    const int code = d.wait_exit(10s);
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
    stop = true;
    for (auto &t : load)
        t.join();
    EXPECT_EQ(code, 0) << d.log();
    EXPECT_LT(took, 3.0 + 2.0) << "the drain deadline is 3s"; // deadline plus process exit slack
    EXPECT_GT(scrapes.load(), 10);
    EXPECT_EQ(bad.load(), 0) << "a scrape during the drain was answered with an error";
    EXPECT_THAT(d.log(), HasSubstr("stopped cleanly"));
}

TEST(Daemon, PeriodicBackupVerificationIsExported) {
    const std::string dir = ::testing::TempDir() + "vigil_serve_backups_" + std::to_string(getpid());
    auto made = test::run_vigild("--dsn '" + test::test_dsn() + "' backup create --directory " + dir);
    ASSERT_EQ(made.exit_code, 0) << made.output;
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(
        port, test::test_dsn(), "[backup]\ndirectory = \"" + dir + "\"\nverify_interval = \"1h\"\n")));
    test::PromExposition e;
    ASSERT_TRUE(wait_until(
        [&] {
            if (!get(port, "/metrics"))
                return false;
            e = scrape(port);
            return e.value("vigil_backup_verify_success").has_value();
        },
        60s))
        << d.log();
    EXPECT_EQ(e.value("vigil_backup_verify_success"), 1);
    EXPECT_EQ(e.value("vigil_backup_verify_step_result", {{"step", "tables"}}), 1);
    EXPECT_GT(e.value("vigil_backup_verify_duration_seconds").value_or(0), 0);
    ASSERT_TRUE(wait_until([&] { return scrape(port).value("vigil_backup_age_seconds").has_value(); }))
        << d.log();
    const double age = *scrape(port).value("vigil_backup_age_seconds");
    EXPECT_GT(age, 0);
    EXPECT_LT(age, 3600);
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
    test::run_command("rm -rf " + dir);
}

TEST(Daemon, SigtermDuringABackupVerificationStopsItAtTheDeadlineAndDropsTheScratchDatabase) {
    // A database big enough that its restore outlasts the 0.3 s drain deadline.
    test::ScratchDatabase scratch_db("vigil_drain");
    db::Connection admin = db::Connection::open(test::test_dsn());
    const std::string dsn = scratch_db.dsn();
    db::Connection::open(dsn).exec(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000000) g;"
        "ALTER TABLE big ADD PRIMARY KEY (id)");
    const std::string dir = ::testing::TempDir() + "vigil_drain_backups_" + std::to_string(getpid());
    auto made = test::run_vigild("--dsn '" + dsn + "' backup create --directory " + dir);
    ASSERT_EQ(made.exit_code, 0) << made.output;

    const int port = free_port();
    Daemon d(test::write_temp_file(
                 config_text(port, dsn, "[backup]\ndirectory = \"" + dir + "\"\nverify_interval = \"1h\"\n")),
             {"--drain-timeout", "300ms"});
    auto scratch = [&] {
        return std::stoi(
            admin.scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'vigil\\_verify\\_%'"));
    };
    ASSERT_TRUE(wait_until([&] { return scratch() > 0; }, 30s)) << "the verification did not start\n"
                                                                << d.log();
    std::this_thread::sleep_for(200ms); // pg_restore is running now
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(15s), 0) << d.log();
    EXPECT_THAT(d.log(), HasSubstr("drain: stopping the backup verification in progress"));
    EXPECT_EQ(scratch(), 0) << "the scratch database was left behind";
    test::run_command("rm -rf " + dir);
}

TEST(Daemon, RefusesToStartWithABadEndpointOrInterval) {
    const int port = free_port();
    const std::string base = "[database]\ndsn = \"" + test::test_dsn() + "\"\n";
    auto zero = test::run_vigild(
        "--config " +
        test::write_temp_file(base + "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) +
                              "\"\n[health]\ninterval = \"0\"\n") +
        " serve");
    EXPECT_EQ(zero.exit_code, 78) << zero.output;
    EXPECT_THAT(zero.output, HasSubstr("health.interval must be at least 100ms"));
    auto bad_listen = test::run_vigild(
        "--config " + test::write_temp_file(base + "[metrics]\nlisten = \"nowhere\"\n") + " serve");
    EXPECT_EQ(bad_listen.exit_code, 78) << bad_listen.output;
    EXPECT_THAT(bad_listen.output, HasSubstr("metrics.listen"));
    // A port that is taken: the service cannot do its job, exit 69.
    Daemon first(test::write_temp_file(config_text(port, test::test_dsn())));
    ASSERT_TRUE(wait_until([&] { return get(port, "/healthz").has_value(); })) << first.log();
    auto taken =
        test::run_vigild("--config " + test::write_temp_file(config_text(port, test::test_dsn())) + " serve");
    EXPECT_EQ(taken.exit_code, 69) << taken.output;
    EXPECT_THAT(taken.output, HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(port)));
    first.signal(SIGTERM);
    EXPECT_EQ(first.wait_exit(10s), 0) << first.log();
}

TEST(Daemon, SighupWithANewDsnReconnects) {
    const int port = free_port();
    const std::string path =
        test::write_temp_file(config_text(port, "host=127.0.0.1 port=1 connect_timeout=1"));
    Daemon d(path);
    ASSERT_TRUE(wait_until([&] {
        auto r = get(port, "/metrics");
        return r &&
               test::parse_prometheus((*r)->body).value("vigil_health_poll_timestamp_seconds").value_or(0) >
                   0;
    })) << d.log();
    EXPECT_EQ(scrape(port).value("vigil_up"), 0);
    std::ofstream(path) << config_text(port, test::test_dsn());
    d.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return scrape(port).value("vigil_up") == 1.0; })) << d.log();
    EXPECT_THAT((*get(port, "/readyz"))->body, ::testing::Not(HasSubstr("unreachable")));
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

TEST(Daemon, ExportsTheWorstTrustworthyBloatEstimate) {
    // vigil.table_bloat's contract (estimate_quality 'good' or a reason): a database of its own
    // with rows the test chooses, so an untrusted bigger ratio must be left out.
    test::ScratchDatabase scratch("vigil_bloat");
    const std::string dsn = scratch.dsn();
    db::Connection::open(dsn).exec(
        "CREATE SCHEMA vigil; CREATE VIEW vigil.table_bloat AS SELECT * FROM (VALUES"
        " ('public', 'a', 0.4::float8, 'good'), ('public', 'b', 0.9, 'too small'), ('public', 'c', NULL, 'no "
        "statistics'),"
        " ('public', 'd', 0.2, 'good')) v(schema_name, table_name, bloat_ratio, estimate_quality)");
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, dsn)));
    test::PromExposition e;
    ASSERT_TRUE(wait_until([&] {
        if (!get(port, "/metrics"))
            return false;
        e = scrape(port);
        return e.value("vigil_up") == 1.0;
    })) << d.log();
    EXPECT_EQ(e.value("vigil_table_bloat_ratio_max"), 0.4);
    EXPECT_GE(e.value("vigil_query_duration_seconds_count", {{"operation", "poll_bloat"}}).value_or(0), 1);
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

TEST(Daemon, ReadinessFollowsCriticalChecks) {
    // A database of its own whose vigil.health_check() returns what the test sets.
    test::ScratchDatabase scratch("vigil_ready");
    const std::string dsn = scratch.dsn();
    db::Connection c = db::Connection::open(dsn);
    c.exec(
        "CREATE SCHEMA vigil; CREATE TABLE vigil.rows (check_name text, status text, severity int,"
        " current_value text, threshold text, detail text, recommendation text);"
        "CREATE FUNCTION vigil.health_check() RETURNS SETOF vigil.rows LANGUAGE sql AS 'SELECT * FROM "
        "vigil.rows';"
        "INSERT INTO vigil.rows VALUES ('a', 'ok', 0, '', '', '', ''), ('b', 'warning', 1, '', '', '', '')");
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, dsn)));
    ASSERT_TRUE(wait_until([&] {
        auto r = get(port, "/readyz");
        return r && (*r)->status == 200;
    })) << d.log();
    c.exec("UPDATE vigil.rows SET status = 'critical', severity = 2 WHERE check_name = 'b'");
    ASSERT_TRUE(wait_until([&] { return (*get(port, "/readyz"))->status == 503; })) << d.log();
    EXPECT_THAT((*get(port, "/readyz"))->body, HasSubstr("a health check is critical"));
    EXPECT_EQ(scrape(port).value("vigil_health_check_status", {{"check", "b"}}), 2);
    c.exec("UPDATE vigil.rows SET status = 'ok', severity = 0");
    ASSERT_TRUE(wait_until([&] { return (*get(port, "/readyz"))->status == 200; })) << d.log();
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

TEST(Daemon, AMonitoringRoleGetsHealthChecksEvenWhenOneQueryIsRefused) {
    // The set-up docs/daemon.md gives: a LOGIN role with pg_monitor and USAGE on schema vigil.
    // One poll query is refused here on purpose (SELECT on vigil.table_bloat revoked): it must
    // not abort the poll's transaction and take vigil.health_check() with it (it did: the
    // checks then failed with SQLSTATE 25P02 and the daemon exported no health metrics).
    test::ScratchDatabase scratch("vigil_monitor", test::ScratchDatabase::kMonitorRole);
    db::Connection admin = db::Connection::open(test::test_dsn());
    const std::string role = scratch.role();
    const std::string dsn = scratch.dsn();
    db::Connection owner = db::Connection::open(dsn);
    owner.exec("CREATE EXTENSION pgvigil; GRANT USAGE ON SCHEMA vigil TO " + role +
               "; REVOKE ALL ON vigil.table_bloat FROM PUBLIC, pg_monitor");
    const int port = free_port();
    Daemon d(test::write_temp_file(config_text(port, dsn + " user=" + role)));
    test::PromExposition e;
    ASSERT_TRUE(wait_until([&] {
        if (!get(port, "/metrics"))
            return false;
        e = scrape(port);
        return e.value("vigil_up") == 1.0;
    })) << d.log();
    EXPECT_EQ(e.value("vigil_health_checks_available"), 1) << d.log();
    EXPECT_GE(e.count("vigil_health_check_status"), 5u);
    EXPECT_GE(e.value("vigil_query_errors_total", {{"sqlstate_class", "42"}}).value_or(0), 1);
    EXPECT_THAT(d.log(), HasSubstr("vigil.table_bloat"));

    // Without USAGE on the schema the checks are unavailable, and /readyz says so (it answered
    // ready before). pg_monitor itself has USAGE (extension/sql/900_privileges.sql), so the role
    // leaves it too.
    owner.exec("REVOKE USAGE ON SCHEMA vigil FROM " + role);
    admin.exec("REVOKE pg_monitor FROM " + role);
    ASSERT_TRUE(wait_until([&] { return scrape(port).value("vigil_health_checks_available") == 0.0; }))
        << d.log();
    EXPECT_EQ(scrape(port).value("vigil_up"), 1); // the server itself is still watched
    auto ready = get(port, "/readyz");
    EXPECT_EQ((*ready)->status, 503);
    EXPECT_THAT((*ready)->body, HasSubstr("health checks unavailable"));
    EXPECT_THAT((*ready)->body, HasSubstr("42501"));
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}
