// The pool against a real server: exhaustion queues instead of failing, terminated backends and a
// server restart are survived without help (failover: pool_failover_test.cpp), statement cache and settings
// reach the server.
#include <atomic>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pool/pool.hpp"
#include "pool/routing.hpp"
#include "retry.hpp"
#include "standby.hpp"
#include "test_support.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

pool::Settings settings(int max_size) {
    pool::Settings s;
    s.dsn = test::test_dsn();
    s.max_size = max_size;
    s.acquire_timeout = Seconds(20);
    s.application_name = "vigil pool test";
    return s;
}

// Runs `body` on a pooled connection, again on a fresh one if the connection was lost.
template <class Body> void with_retry(pool::Pool &p, Body body) {
    for (int attempt = 0;; ++attempt) {
        try {
            auto lease = p.acquire("with_retry");
            body(lease);
            return;
        } catch (const db::DbError &e) {
            if (!retry::is_connection_lost(e.sqlstate()) || attempt >= 10)
                throw;
            std::this_thread::sleep_for(50ms);
        }
    }
}

} // namespace

TEST(PoolIntegration, SettingsReachTheServer) {
    auto s = settings(1);
    s.statement_timeout = Seconds(1.5);
    pool::Pool p(s);
    auto lease = p.acquire();
    EXPECT_EQ(lease.conn().scalar("SHOW statement_timeout"), "1500ms");
    EXPECT_EQ(lease.conn().scalar("SHOW application_name"), "vigil pool test");
}

namespace {

// The value a connection was made with for one libpq option (PQconninfo).
std::string option_of(const db::Connection &conn, const std::string &keyword) {
    std::string value;
    PQconninfoOption *options = PQconninfo(conn.get());
    for (PQconninfoOption *o = options; o && o->keyword; ++o)
        if (keyword == o->keyword && o->val)
            value = o->val;
    PQconninfoFree(options);
    return value;
}

} // namespace

// libpq's gssencmode=prefer looks for Kerberos credentials before every connect; once a connect
// without GSS encryption has succeeded, the pool's next ones skip that, unless the DSN said.
TEST(PoolIntegration, AfterAConnectWithoutGssEncryptionTheNextOnesSkipTheCredentialLookup) {
    if (std::getenv("PGGSSENCMODE"))
        GTEST_SKIP() << "PGGSSENCMODE is set: the pool leaves gssencmode alone";
    auto s = settings(1);
    s.max_lifetime = Seconds(0.001); // every connection is closed when it is returned
    pool::Pool p(s);
    std::vector<std::string> modes;
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(5ms); // past the lifetime: a new connection each time
        auto lease = p.acquire();
        ASSERT_FALSE(PQgssEncInUse(lease.conn().get()));
        modes.push_back(option_of(lease.conn(), "gssencmode"));
    }
    EXPECT_EQ(modes, (std::vector<std::string>{"prefer", "disable", "disable"}));
    EXPECT_GE(p.stats().created, 3);

    auto own = settings(1);
    own.dsn += " gssencmode=prefer";
    own.max_lifetime = Seconds(0.001);
    pool::Pool asked(own);
    for (int i = 0; i < 2; ++i) {
        std::this_thread::sleep_for(5ms);
        EXPECT_EQ(option_of(asked.acquire().conn(), "gssencmode"), "prefer");
    }
    EXPECT_GE(asked.stats().created, 2);
}

TEST(PoolIntegration, ExhaustionQueuesRatherThanFails) {
    pool::Pool p(settings(2));
    std::atomic<int> ok{0};
    std::atomic<int> max_pending{0};
    const auto start = pool::Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&] {
            auto lease = p.acquire("sleeper");
            max_pending = std::max(max_pending.load(), p.stats().pending);
            lease.conn().exec("SELECT pg_sleep(0.1)");
            ++ok;
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(ok, 8);
    EXPECT_GE(pool::Clock::now() - start, 400ms); // 8 sleeps of 100 ms over 2 connections
    const auto st = p.stats();
    EXPECT_EQ(st.timeouts, 0u);
    EXPECT_LE(st.created, 2u);
    EXPECT_GT(max_pending, 0);
}

TEST(PoolIntegration, ExhaustedPoolTimesOutWithStatistics) {
    pool::Pool p(settings(1));
    auto held = p.acquire("holder");
    try {
        p.acquire("second", Seconds(0.3));
        FAIL() << "a second connection from a pool of one";
    } catch (const pool::PoolTimeout &e) {
        EXPECT_THAT(e.what(), HasSubstr("total 1/1"));
        EXPECT_THAT(e.what(), HasSubstr("second"));
    }
}

TEST(PoolIntegration, TransactionLeftOpenIsRolledBackBeforeReuse) {
    db::Connection admin = db::Connection::open(test::test_dsn());
    admin.exec("DROP TABLE IF EXISTS pool_dirty; CREATE TABLE pool_dirty (x int)");
    pool::Pool p(settings(1));
    {
        auto lease = p.acquire("careless");
        lease.conn().exec("BEGIN");
        lease.conn().exec("INSERT INTO pool_dirty VALUES (1)");
        // returned without COMMIT
    }
    auto next = p.acquire("next");
    EXPECT_EQ(PQtransactionStatus(next.conn().get()), PQTRANS_IDLE);
    EXPECT_EQ(next.conn().scalar("SELECT count(*) FROM pool_dirty"), "0");
    EXPECT_EQ(admin.scalar("SELECT count(*) FROM pool_dirty"), "0");
}

TEST(PoolIntegration, TerminatedBackendsAreReplacedWithoutFailingBorrowers) {
    auto s = settings(4);
    s.validation_interval = Seconds(0); // check every connection before handing it out
    pool::Pool p(s);
    {
        std::vector<pool::Lease> all;
        for (int i = 0; i < 4; ++i)
            all.push_back(p.acquire());
    }
    db::Connection admin = db::Connection::open(test::test_dsn());
    EXPECT_EQ(admin.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                           " WHERE application_name = 'vigil pool test'"),
              "4");
    std::this_thread::sleep_for(100ms);
    for (int i = 0; i < 20; ++i) {
        auto lease = p.acquire();
        EXPECT_EQ(lease.conn().scalar("SELECT 1"), "1"); // no borrower ever sees a dead connection
    }
    EXPECT_GE(p.stats().closed, 4u);
}

TEST(PoolIntegration, TerminatedBackendsAreSeenDeadBeforeTheyAreHandedOut) {
    pool::Pool p(settings(4)); // default validation_interval: idle connections are not pinged
    {
        std::vector<pool::Lease> all;
        for (int i = 0; i < 4; ++i)
            all.push_back(p.acquire());
    }
    db::Connection admin = db::Connection::open(test::test_dsn());
    admin.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'vigil pool test'");
    for (int i = 0; i < 100 && admin.scalar("SELECT count(*) FROM pg_stat_activity"
                                            " WHERE application_name = 'vigil pool test'") != "0";
         ++i)
        std::this_thread::sleep_for(20ms);
    int failures = 0;
    for (int i = 0; i < 20; ++i) {
        try {
            auto lease = p.acquire();
            lease.conn().scalar("SELECT 1");
        } catch (const db::DbError &e) {
            EXPECT_TRUE(retry::is_connection_lost(e.sqlstate())) << e.sqlstate() << " " << e.what();
            ++failures;
        }
    }
    // Each backend's FATAL and closed socket are read without a round trip (one poll) when the
    // connection is taken from the idle list: no borrower gets a dead one.
    EXPECT_EQ(failures, 0);
    EXPECT_GE(p.stats().closed, 4u);
    EXPECT_GE(p.stats().evicted, 4u);
}

TEST(PoolIntegration, PreparedStatementsAreCachedPerConnectionAndOptional) {
    const pool::Statement st{"vigil_test_add", "SELECT $1::int + 1"};
    {
        pool::Pool p(settings(1));
        auto lease = p.acquire();
        EXPECT_EQ(lease.run(st, {"41"}).value(0, 0), "42");
        EXPECT_EQ(lease.run(st, {"1"}).value(0, 0), "2");
        EXPECT_EQ(lease.pg().prepared_count(), 1u);
        EXPECT_EQ(
            lease.conn().scalar("SELECT count(*) FROM pg_prepared_statements WHERE name = 'vigil_test_add'"),
            "1");
        // The server forgot it (DISCARD ALL, a pooler in between): prepared again transparently.
        lease.conn().exec("DEALLOCATE ALL");
        EXPECT_EQ(lease.run(st, {"2"}).value(0, 0), "3");
    }
    auto s = settings(1);
    s.named_statements = false; // PgBouncer transaction mode
    pool::Pool p(s);
    auto lease = p.acquire();
    EXPECT_EQ(lease.run(st, {"41"}).value(0, 0), "42");
    EXPECT_EQ(lease.conn().scalar("SELECT count(*) FROM pg_prepared_statements"), "0");
}

TEST(PoolIntegration, ServerRestartMidWorkloadIsSurvived) {
    const char *bindir = std::getenv("VIGIL_TEST_PG_BINDIR");
    const char *cluster = std::getenv("VIGIL_TEST_CLUSTER_DIR");
    if (!bindir || !cluster)
        GTEST_SKIP()
            << "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)";
    std::smatch m;
    const std::string dsn = test::test_dsn();
    ASSERT_TRUE(std::regex_search(dsn, m, std::regex(R"(port=(\d+))")));
    const std::string port = m[1];

    db::Connection admin = db::Connection::open(dsn);
    admin.exec("DROP TABLE IF EXISTS restart_probe; CREATE TABLE restart_probe (client int, at timestamptz "
               "DEFAULT clock_timestamp())");
    pool::Pool p(settings(4));
    std::atomic<bool> stop{false};
    std::atomic<int> lost{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c)
        clients.emplace_back([&, c] {
            while (!stop) {
                try {
                    auto lease = p.acquire("client " + std::to_string(c));
                    lease.conn().exec_params("INSERT INTO restart_probe (client) VALUES ($1)",
                                             {std::to_string(c)});
                } catch (const db::DbError &e) {
                    if (!retry::is_connection_lost(e.sqlstate()))
                        ADD_FAILURE() << e.sqlstate() << " " << e.what();
                    ++lost;
                }
                std::this_thread::sleep_for(5ms);
            }
        });
    std::this_thread::sleep_for(500ms);
    const auto restart =
        test::run_command(std::string("runuser -u postgres -- ") + bindir + "/pg_ctl -D " + cluster +
                          "/data -l " + cluster + "/server.log -m fast -w -o '-p " + port + "' restart");
    ASSERT_EQ(restart.exit_code, 0) << restart.output;
    const auto restarted = std::chrono::system_clock::now();
    // The pool's connect backoff is at most 2 s (connect_backoff_cap): by then it has tried again.
    std::this_thread::sleep_for(2500ms);
    stop = true;
    for (auto &t : clients)
        t.join();

    db::Connection after = db::Connection::open(dsn);
    // Every client wrote again after the restart, through connections the pool opened by itself.
    const auto since = std::chrono::duration<double>(restarted.time_since_epoch()).count();
    EXPECT_EQ(after.scalar("SELECT count(DISTINCT client) FROM restart_probe WHERE at > to_timestamp($1)",
                           {std::to_string(since)}),
              "4");
    const auto st = p.stats();
    // The restart was felt (the four connections were closed and replaced) and survived. Whether a
    // client saw an error (`lost`, always a lost connection, checked above) depends on whether a
    // statement was under way at the shutdown: the acquires under way wait for the server instead.
    EXPECT_GT(st.created, 4u);
    EXPECT_GE(st.closed, 4u);
}

namespace {

bool served_by_standby(pool::Lease &lease) {
    return lease.conn().scalar("SELECT pg_is_in_recovery()") == "t";
}

} // namespace

TEST(PoolIntegration, ReadsGoToAStreamingReplicaOnlyWhileItsLagIsSmall) {
    if (!std::getenv("VIGIL_TEST_PG_BINDIR") || !std::getenv("VIGIL_TEST_CLUSTER_DIR"))
        GTEST_SKIP()
            << "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)";
    db::Connection primary = db::Connection::open(test::test_dsn());
    primary.exec("DROP TABLE IF EXISTS lag_probe; CREATE TABLE lag_probe (x int)");
    test::Standby replica("replica");
    ASSERT_TRUE(replica.ok()) << replica.error();
    db::Connection standby = db::Connection::open(replica.dsn());
    // The primary is not a standby: its "lag" is unknown.
    {
        pool::Pool primary_pool(settings(1));
        EXPECT_FALSE(pool::measure_replica_lag(primary_pool).has_value());
    }
    // Wait until the standby has replayed a commit, so its lag can be measured.
    primary.exec("INSERT INTO lag_probe VALUES (1)");
    for (int i = 0; i < 100 && standby.scalar("SELECT to_regclass('lag_probe') IS NOT NULL AND"
                                              " (SELECT count(*) FROM lag_probe) = 1") != "t";
         ++i)
        std::this_thread::sleep_for(50ms);

    auto replica_settings = settings(2);
    replica_settings.dsn = replica.dsn();
    pool::RoutedPool routed(settings(2), {replica_settings}, Seconds(1.0), {}, {}, {}, std::chrono::hours(1));
    routed.probe_now();
    ASSERT_TRUE(routed.replica_lags()[0].has_value());
    EXPECT_LT(*routed.replica_lags()[0], 1.0);
    {
        auto read = routed.acquire_read("reader");
        EXPECT_TRUE(served_by_standby(read));
        auto write = routed.acquire_write("writer");
        EXPECT_FALSE(served_by_standby(write));
    }

    // Replay paused while the primary keeps committing: the standby falls behind.
    standby.exec("SELECT pg_wal_replay_pause()");
    primary.exec("INSERT INTO lag_probe VALUES (2)");
    std::this_thread::sleep_for(1500ms);
    primary.exec("INSERT INTO lag_probe VALUES (3)");
    std::this_thread::sleep_for(200ms);
    routed.probe_now();
    ASSERT_TRUE(routed.replica_lags()[0].has_value());
    EXPECT_GT(*routed.replica_lags()[0], 1.0);
    {
        auto read = routed.acquire_read("reader");
        EXPECT_FALSE(served_by_standby(read))
            << "a read went to a replica " << *routed.replica_lags()[0] << " s behind";
    }

    // Caught up again: reads return to the replica.
    standby.exec("SELECT pg_wal_replay_resume()");
    for (int i = 0; i < 100 && standby.scalar("SELECT count(*) FROM lag_probe") != "3"; ++i)
        std::this_thread::sleep_for(50ms);
    routed.probe_now();
    auto read = routed.acquire_read("reader");
    EXPECT_TRUE(served_by_standby(read));
}
