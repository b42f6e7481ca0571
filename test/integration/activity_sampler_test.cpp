// Against real servers: the activity sampler without preloading (a clear error), its restart
// after the worker dies, pool_advice under real concurrent load, and the health checks on
// a hot standby (including replication lag while replay is paused).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "db.hpp"
#include "standby.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

std::string env(const char *name) {
    const char *v = std::getenv(name);
    if (!v)
        throw std::runtime_error(std::string(name) + " is not set: run through test/harness/with_cluster.sh");
    return v;
}

// Metric → value rows of pool_advice() / pool_size_for().
std::map<std::string, std::string> metrics(db::Result &r) {
    std::map<std::string, std::string> m;
    for (int i = 0; i < r.rows(); i++)
        m[r.value(i, 0)] = r.is_null(i, 1) ? "" : r.value(i, 1);
    return m;
}

using test::wait_until;

} // namespace

TEST(ActivitySampler, WithoutPreloadingRaisesAClearErrorWithHint) {
    // A cluster of its own, started without shared_preload_libraries.
    const std::string script =
        "\"$VIGIL_TEST_PG_BINDIR/psql\" -X -v VERBOSITY=verbose -c 'CREATE EXTENSION pgvigil' "
        "-c 'SELECT * FROM vigil.activity_history()' -c 'SELECT * FROM vigil.activity_stats()' "
        "-c 'SELECT count(*) AS checks FROM vigil.health_check()' "
        "-c 'SELECT round(p_wait::numeric, 4) AS p_wait FROM vigil.pool_wait(100, 50, 10)'";
    const std::string path = test::write_temp_file(script + "\n", ".sh");
    const auto r =
        test::run_command(std::string(VIGIL_SOURCE_DIR) + "/test/harness/with_cluster.sh -- bash " + path);
    std::remove(path.c_str());
    EXPECT_THAT(r.output, HasSubstr("ERROR:  55000: the pgvigil activity sampler is not running"));
    EXPECT_THAT(r.output, HasSubstr("DETAIL:  pgvigil is not in shared_preload_libraries"));
    EXPECT_THAT(r.output, HasSubstr("HINT:  Add pgvigil to shared_preload_libraries in postgresql.conf and "
                                    "restart the server."));
    // Everything that does not need the sampler still works.
    EXPECT_THAT(r.output, HasSubstr("     32\n"));
    EXPECT_THAT(r.output, HasSubstr(" 0.0361\n"));
}

TEST(ActivitySampler, WorkerIsRestartedAfterItDies) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    ASSERT_TRUE(wait_until(conn, "SELECT count(*) >= 1 FROM vigil.activity_history()", 10));
    // The worker is a child of this cluster's postmaster (other clusters may run on the host).
    const std::string postmaster_pid =
        test::run_command("head -1 " + env("VIGIL_TEST_CLUSTER_DIR") + "/data/postmaster.pid").output;
    const auto found = test::run_command("pgrep -P " + std::to_string(std::atoi(postmaster_pid.c_str())) +
                                         " -f 'pgvigil activity sampler'");
    const int worker = std::atoi(found.output.c_str());
    ASSERT_GT(worker, 0) << found.output;
    ASSERT_EQ(kill(worker, SIGTERM), 0);
    conn.exec("SELECT pg_sleep(1.5)");
    const std::string killed_at = conn.scalar("SELECT now()::text");
    // No sample while it is down; the postmaster restarts it after bgw_restart_time (10 s).
    EXPECT_EQ(
        conn.scalar("SELECT count(*) FROM vigil.activity_history() WHERE sampled_at > '" + killed_at + "'"),
        "0");
    EXPECT_TRUE(wait_until(
        conn, "SELECT count(*) >= 2 FROM vigil.activity_history() WHERE sampled_at > '" + killed_at + "'",
        25));
}

TEST(PoolAdvice, MeasuresTheLoadOfConcurrentSessions) {
    db::Connection conn = db::Connection::open(test::test_dsn());
    conn.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    conn.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    // With a statistics snapshot, a second read in the same transaction would repeat the
    // first one: pool_advice must clear it between its samples.
    conn.exec("SET stats_fetch_consistency = snapshot");

    // Four sessions each run 10 ms transactions back to back: about 4 × 100 = 400/s,
    // 4 connections busy, a service time of about 10 ms.
    std::atomic<bool> stop{false};
    std::vector<std::thread> load;
    for (int i = 0; i < 4; i++)
        load.emplace_back([&stop] {
            db::Connection c = db::Connection::open(test::test_dsn());
            while (!stop)
                c.exec("SELECT pg_sleep(0.01)");
        });
    std::this_thread::sleep_for(std::chrono::seconds(2));
    db::Result r = conn.exec("SELECT metric, value, explanation FROM vigil.pool_advice('4 seconds')");
    stop = true;
    for (auto &t : load)
        t.join();

    auto m = metrics(r);
    for (int i = 0; i < r.rows(); i++)
        std::printf("pool_advice %s = %s (%s)\n", r.value(i, 0).c_str(), r.value(i, 1).c_str(),
                    r.value(i, 2).c_str());
    for (const char *name : {"request_rate", "mean_service_time_ms", "offered_load", "observed_active_p95",
                             "queueing_pool_size", "recommended_pool_size"})
        ASSERT_FALSE(m[name].empty()) << name << " is NULL";
    const double rate = std::stod(m.at("request_rate"));
    const double service = std::stod(m.at("mean_service_time_ms"));
    const double load_connections = std::stod(m.at("offered_load"));
    // pg_sleep(0.01) takes at least 10 ms, longer on a loaded host; the four sessions are
    // busy nearly all the time whatever the host's speed, so the offered load is the tight bound.
    EXPECT_GT(rate, 60) << "statements per second";
    EXPECT_LT(rate, 450);
    EXPECT_GT(service, 9.5) << "ms per statement";
    EXPECT_LT(service, 60);
    EXPECT_GT(load_connections, 2.5);
    EXPECT_LT(load_connections, 4.5);
    EXPECT_GE(std::stod(m.at("observed_active_p95")), 3) << "the sampler saw the four sessions";
    EXPECT_GE(std::stod(m.at("queueing_pool_size")), 5) << "a pool above the offered load";
    EXPECT_GE(std::stod(m.at("recommended_pool_size")), 1);
}

TEST(HealthChecks, RunOnAHotStandbyAndSeeReplicationLag) {
    db::Connection primary = db::Connection::open(test::test_dsn());
    primary.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    primary.exec(
        "CREATE TABLE IF NOT EXISTS standby_probe (id serial PRIMARY KEY, at timestamptz DEFAULT now())");
    test::Standby standby;
    ASSERT_TRUE(standby.ok()) << standby.error();
    db::Connection replica = db::Connection::open(standby.dsn());
    ASSERT_EQ(replica.scalar("SELECT pg_is_in_recovery()"), "t");

    // Every check runs on the standby (slow_statements only depends on pg_stat_statements).
    db::Result all = replica.exec("SELECT check_name, status, detail FROM vigil.health_check()");
    EXPECT_EQ(all.rows(), 32);
    for (int i = 0; i < all.rows(); i++) {
        if (all.value(i, 0) != "slow_statements") {
            EXPECT_NE(all.value(i, 1), "unknown") << all.value(i, 0) << ": " << all.value(i, 2);
        }
    }
    EXPECT_EQ(replica.scalar("SELECT count(*) >= 1 FROM vigil.activity_history()"), "t");

    // The primary sees its standby.
    ASSERT_TRUE(
        wait_until(primary, "SELECT count(*) = 1 FROM pg_stat_replication WHERE state = 'streaming'", 30));
    EXPECT_THAT(
        primary.scalar("SELECT detail FROM vigil.health_check() WHERE check_name = 'replication_lag'"),
        HasSubstr("primary with 1 standby"));

    // A replayed transaction gives the standby a replay timestamp; then pause replay and
    // commit again on the primary: the standby falls behind.
    primary.exec("INSERT INTO standby_probe DEFAULT VALUES");
    const std::string lsn = primary.scalar("SELECT pg_current_wal_insert_lsn()::text");
    ASSERT_TRUE(wait_until(replica, "SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'", 30));
    replica.exec("SET vigil.replication_lag_warning = '200ms'");
    // Caught up (other WAL, e.g. from autovacuum, may be in flight for a moment).
    EXPECT_TRUE(wait_until(
        replica, "SELECT status = 'ok' FROM vigil.health_check() WHERE check_name = 'replication_lag'", 15));
    replica.exec("SELECT pg_wal_replay_pause()");
    primary.exec("INSERT INTO standby_probe DEFAULT VALUES");
    const std::string lsn2 = primary.scalar("SELECT pg_current_wal_insert_lsn()::text");
    ASSERT_TRUE(wait_until(replica, "SELECT pg_last_wal_receive_lsn() >= '" + lsn2 + "'", 30));
    replica.exec("SELECT pg_sleep(0.5)");
    EXPECT_EQ(replica.scalar("SELECT status FROM vigil.health_check() WHERE check_name = 'replication_lag'"),
              "warning")
        << replica.scalar("SELECT coalesce(current_value, 'NULL') || ' ' || detail FROM vigil.health_check() "
                          "WHERE check_name = 'replication_lag'");
    EXPECT_THAT(
        replica.scalar("SELECT detail FROM vigil.health_check() WHERE check_name = 'replication_lag'"),
        HasSubstr("standby: received up to"));

    // Resume: the standby catches up and the check clears.
    replica.exec("SELECT pg_wal_replay_resume()");
    ASSERT_TRUE(wait_until(replica, "SELECT pg_last_wal_replay_lsn() >= '" + lsn2 + "'", 30));
    EXPECT_TRUE(wait_until(
        replica, "SELECT status = 'ok' FROM vigil.health_check() WHERE check_name = 'replication_lag'", 15));
    primary.exec("DROP TABLE standby_probe");
}
