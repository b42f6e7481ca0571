// The pool through failover, against real servers: the write pool follows the primary of a
// multi-host DSN (target_session_attrs=read-write) when the primary stops and its standby is
// promoted; a server that turns read-only (25006) loses all its connections at its first refusal;
// a frozen first host costs validation_timeout and its share of the connect, never the acquire;
// reads avoid a standby whose walreceiver is not streaming even though receive == replay.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "own_cluster.hpp"
#include "pool/pool.hpp"
#include "pool/routing.hpp"
#include "retry.hpp"
#include "standby.hpp"
#include "test_support.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = pool::Clock;

namespace {

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

// "host=127.0.0.1,127.0.0.1 port=A,B ... target_session_attrs=read-write": libpq tries the hosts
// in order and keeps the first that accepts writes.
std::string write_dsn(int first, int second) {
    return "host=127.0.0.1,127.0.0.1 port=" + std::to_string(first) + "," + std::to_string(second) +
           " user=postgres dbname=postgres target_session_attrs=read-write";
}

pool::Settings failover_settings(const std::string &dsn, int max_size) {
    auto s = pool::Settings::from_config(PoolConfig{}, dsn);
    s.max_size = max_size;
    s.acquire_timeout = Seconds(10);
    s.application_name = "vigil failover test";
    return s;
}

int port_of(const std::string &server) {
    return std::atoi(server.substr(server.rfind(':') + 1).c_str());
}

bool wait_for(const std::function<bool()> &pred, std::chrono::milliseconds limit = 15s) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
        try {
            if (pred())
                return true;
        } catch (const std::exception &) {
        }
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

const pool::Statement kInsert{"failover_insert",
                              "INSERT INTO failover_writes (worker, seq) VALUES ($1, $2) RETURNING 1"};

// What the writers saw, under one lock.
struct Journal {
    std::mutex mutex;
    struct Ack {
        int port;
        Clock::time_point at;
    };
    struct Acquire {
        Clock::time_point started, done;
        int port; // 0: it failed
    };
    std::vector<Ack> acks;
    std::vector<Acquire> acquires;
    std::map<std::string, int> errors;     // by SQLSTATE ("timeout" for a PoolTimeout)
    std::map<std::uint64_t, int> failures; // by lease id: a broken connection handed out again shows here
};

// One failover round: a primary and its streaming standby, writers through the pool, the primary
// stopped at once and the standby promoted. Returns seconds from the promotion to the first write
// acknowledged by the new primary (negative when there was none).
double failover_round(bool pooled, int round) {
    test::OwnCluster primary("failover_primary_" + std::to_string(round));
    EXPECT_TRUE(primary.ok()) << primary.error();
    if (!primary.ok())
        return -1;
    {
        db::Connection c = db::Connection::open(primary.dsn());
        c.exec(
            "CREATE TABLE failover_writes (worker int, seq int, at timestamptz DEFAULT clock_timestamp())");
    }
    test::Standby standby("failover_standby_" + std::to_string(round), primary.port());
    EXPECT_TRUE(standby.ok()) << standby.error();
    if (!standby.ok())
        return -1;
    EXPECT_TRUE(wait_for([&] {
        return standby.psql("SELECT to_regclass('failover_writes') IS NOT NULL").output.find('t') == 0;
    }));
    const std::string dsn = write_dsn(primary.port(), standby.port());
    const int old_port = primary.port(), new_port = standby.port();

    Journal journal;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    std::unique_ptr<pool::Pool> p;
    if (pooled)
        p = std::make_unique<pool::Pool>(failover_settings(dsn, 4));
    const int workers = pooled ? 4 : 1;
    for (int w = 0; w < workers; ++w)
        writers.emplace_back([&, w] {
            db::Connection bare;
            for (int seq = 0; !stop; ++seq) {
                const auto started = Clock::now();
                if (!pooled) {
                    // A bare libpq client: reconnect (every 10 ms) until a connect succeeds.
                    try {
                        if (!bare.healthy())
                            bare = db::Connection::open(dsn);
                        bare.exec_params(kInsert.sql, {std::to_string(w), std::to_string(seq)});
                        std::lock_guard lk(journal.mutex);
                        journal.acks.push_back({std::atoi(PQport(bare.get())), Clock::now()});
                    } catch (const db::DbError &e) {
                        bare = db::Connection();
                        std::lock_guard lk(journal.mutex);
                        ++journal.errors[e.sqlstate()];
                        std::this_thread::sleep_for(10ms);
                    }
                    continue;
                }
                pool::Lease lease;
                try {
                    lease = p->acquire("writer " + std::to_string(w));
                } catch (const pool::PoolTimeout &e) {
                    std::lock_guard lk(journal.mutex);
                    ++journal.errors["timeout"];
                    journal.acquires.push_back({started, Clock::now(), 0});
                    continue;
                }
                const int port = port_of(lease.server());
                {
                    std::lock_guard lk(journal.mutex);
                    journal.acquires.push_back({started, Clock::now(), port});
                }
                try {
                    lease.run(kInsert, {std::to_string(w), std::to_string(seq)});
                    std::lock_guard lk(journal.mutex);
                    journal.acks.push_back({port, Clock::now()});
                } catch (const db::DbError &e) {
                    std::lock_guard lk(journal.mutex);
                    ++journal.errors[e.sqlstate()];
                    ++journal.failures[lease.id()];
                }
                std::this_thread::sleep_for(2ms);
            }
        });

    std::this_thread::sleep_for(500ms);
    const auto stopped = primary.stop_immediately();
    EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
    const auto old_gone = Clock::now();
    std::this_thread::sleep_for(300ms); // writers find the primary gone, and nothing else to write to
    const auto promote_asked = Clock::now();
    const auto promoted = standby.promote(); // pg_ctl -w: returns once the server accepts writes
    EXPECT_EQ(promoted.exit_code, 0) << promoted.output;
    const auto promoted_at = Clock::now();
    const bool wrote = wait_for([&] {
        std::lock_guard lk(journal.mutex);
        return std::any_of(journal.acks.begin(), journal.acks.end(),
                           [&](const Journal::Ack &a) { return a.port == new_port; });
    });
    std::this_thread::sleep_for(1s); // and the writers keep going on the new primary
    stop = true;
    for (auto &t : writers)
        t.join();

    EXPECT_TRUE(wrote) << "no write reached the promoted standby";
    std::lock_guard lk(journal.mutex);
    double first_write = -1;
    int before = 0, after = 0;
    for (const auto &a : journal.acks) {
        EXPECT_FALSE(a.port == old_port && a.at > old_gone)
            << "a write was acknowledged by the stopped primary " << seconds(a.at - old_gone)
            << " s after it stopped";
        if (a.port == old_port)
            ++before;
        if (a.port == new_port) {
            ++after;
            if (first_write < 0 || seconds(a.at - promoted_at) < first_write)
                first_write = seconds(a.at - promoted_at);
        }
    }
    EXPECT_GT(before, 0) << "nothing was written before the failover";
    const double promote_took = seconds(promoted_at - promote_asked);
    std::string causes;
    for (const auto &[cause, n] : journal.errors)
        causes += " " + (cause.empty() ? std::string("(none)") : cause) + "=" + std::to_string(n);
    if (pooled) {
        // Every acquire begun once the standby was promoted got the new primary, within acquire_timeout.
        const double limit = p->settings().acquire_timeout.count() + 1.0;
        for (const auto &a : journal.acquires)
            if (a.started >= promoted_at) {
                EXPECT_EQ(a.port, new_port) << "an acquire after the promotion got " << a.port;
                EXPECT_LT(seconds(a.done - a.started), limit);
            }
        for (const auto &[id, n] : journal.failures)
            EXPECT_EQ(n, 1) << "connection " << id << " was handed out again after it failed";
        for (const auto &[cause, n] : journal.errors)
            EXPECT_TRUE(cause == "timeout" || retry::is_connection_lost(cause) || retry::is_read_only(cause))
                << cause << " x" << n;
        EXPECT_EQ(journal.errors.count("timeout"), 0u) << causes;
        std::cout << "[measured] pool failover round " << round << ": first write on the new primary "
                  << first_write << " s after pg_ctl promote returned (which took " << promote_took
                  << " s); writes " << before << " before, " << after
                  << " after; failed statements by cause:" << causes << "; " << pool::describe(p->stats())
                  << "\n";
    } else {
        std::cout << "[measured] bare libpq failover round " << round << ": first write on the new primary "
                  << first_write << " s after pg_ctl promote returned (which took " << promote_took
                  << " s); writes " << before << " before, " << after << " after; errors:" << causes << "\n";
    }
    return first_write;
}

int rounds() {
    const char *env = std::getenv("VIGIL_FAILOVER_ROUNDS");
    return env ? std::max(1, std::atoi(env)) : 1;
}

void report_median(const char *what, std::vector<double> times) {
    std::sort(times.begin(), times.end());
    if (times.empty())
        return;
    std::cout << "[measured] " << what << ": median " << times[times.size() / 2]
              << " s to the first write after "
              << "the promotion over " << times.size() << " round(s) (min " << times.front() << ", max "
              << times.back() << ")\n";
}

#define REQUIRE_HARNESS()                                                                                    \
    if (!std::getenv("VIGIL_TEST_PG_BINDIR") || !std::getenv("VIGIL_TEST_CLUSTER_DIR"))                      \
    GTEST_SKIP() << "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)"

} // namespace

TEST(PoolFailover, WritesFollowThePromotedStandby) {
    REQUIRE_HARNESS();
    std::vector<double> times;
    for (int r = 0; r < rounds() && !HasFailure(); ++r) {
        const double t = failover_round(/*pooled=*/true, r);
        if (t >= 0)
            times.push_back(t);
    }
    report_median("pool", times);
}

// The same failover with one bare libpq client reconnecting every 10 ms through the same DSN: the
// yardstick for the pool's number (printed, not asserted beyond a write getting through).
TEST(PoolFailover, BareLibpqReconnectLoopForComparison) {
    REQUIRE_HARNESS();
    std::vector<double> times;
    for (int r = 0; r < rounds() && !HasFailure(); ++r) {
        const double t = failover_round(/*pooled=*/false, r);
        if (t >= 0)
            times.push_back(t);
    }
    report_median("bare libpq", times);
}

namespace {

// Two writable servers, A listed first: A plays the old primary, B the promoted standby.
struct TwoServers {
    test::OwnCluster a{"failover_a"}, b{"failover_b"};
    bool ok() {
        for (auto *c : {&a, &b}) {
            if (!c->ok()) {
                ADD_FAILURE() << c->error();
                return false;
            }
            db::Connection conn = db::Connection::open(c->dsn());
            conn.exec("CREATE TABLE failover_writes (worker int, seq int, at timestamptz DEFAULT "
                      "clock_timestamp())");
        }
        return true;
    }
};

// Borrows `n` connections at once and returns them, so the pool holds n idle ones.
void fill(pool::Pool &p, int n) {
    std::vector<pool::Lease> all;
    for (int i = 0; i < n; ++i)
        all.push_back(p.acquire("fill"));
}

} // namespace

TEST(PoolFailover, ServerTurnedReadOnlyIsEvictedAtItsFirst25006) {
    REQUIRE_HARNESS();
    TwoServers s;
    ASSERT_TRUE(s.ok());
    pool::Pool p(failover_settings(write_dsn(s.a.port(), s.b.port()), 4));
    fill(p, 4);
    ASSERT_EQ(p.stats().idle, 4);
    {
        auto lease = p.acquire();
        ASSERT_EQ(port_of(lease.server()), s.a.port());
    }
    // A stops accepting writes while the pool holds four idle connections to it.
    db::Connection admin = db::Connection::open(s.a.dsn());
    admin.exec("ALTER SYSTEM SET default_transaction_read_only = on");
    admin.exec("SELECT pg_reload_conf()");
    std::this_thread::sleep_for(300ms);

    std::map<std::string, int> failed;
    int on_b = 0;
    for (int i = 0; i < 20; ++i) {
        auto lease = p.acquire("writer");
        try {
            lease.run(kInsert, {"0", std::to_string(i)});
            on_b += port_of(lease.server()) == s.b.port();
        } catch (const db::DbError &e) {
            ++failed[e.sqlstate()];
        }
    }
    // One refusal condemns A's other connections: the next writes go to B over new connections.
    EXPECT_EQ(failed["25006"], 1);
    EXPECT_EQ(failed.size(), 1u);
    EXPECT_EQ(on_b, 19);
    const auto st = p.stats();
    EXPECT_GE(st.evicted, 4u) << pool::describe(st);
    EXPECT_TRUE(wait_for([&] {
        return admin.scalar(
                   "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigil failover test'") ==
               "0";
    })) << "the pool kept connections to the read-only server";
}

TEST(PoolFailover, ReadOnlyServerIsLeftByAnUnreportedStatementToo) {
    REQUIRE_HARNESS();
    TwoServers s;
    ASSERT_TRUE(s.ok());
    pool::Pool p(failover_settings(write_dsn(s.a.port(), s.b.port()), 2));
    fill(p, 2);
    db::Connection admin = db::Connection::open(s.a.dsn());
    admin.exec("ALTER SYSTEM SET default_transaction_read_only = on");
    admin.exec("SELECT pg_reload_conf()");
    std::this_thread::sleep_for(300ms);
    // Through conn() the pool does not see the error; it sees the server report itself read-only.
    int refused = 0;
    for (int i = 0; i < 5; ++i) {
        auto lease = p.acquire("writer");
        try {
            lease.conn().exec("INSERT INTO failover_writes VALUES (1, 1)");
            EXPECT_EQ(port_of(lease.server()), s.b.port());
        } catch (const db::DbError &e) {
            EXPECT_EQ(e.sqlstate(), "25006");
            ++refused;
        }
    }
    EXPECT_EQ(refused, 1);
}

TEST(PoolFailover, OldPrimaryRestartedReadOnlyIsNeverUsedAgain) {
    REQUIRE_HARNESS();
    TwoServers s;
    ASSERT_TRUE(s.ok());
    pool::Pool p(failover_settings(write_dsn(s.a.port(), s.b.port()), 4));
    fill(p, 4);
    {
        db::Connection admin = db::Connection::open(s.a.dsn());
        admin.exec("ALTER SYSTEM SET default_transaction_read_only = on");
    }
    ASSERT_EQ(s.a.stop_immediately().exit_code, 0);
    ASSERT_EQ(s.a.start().exit_code, 0); // back, first in the DSN, accepting no writes
    int failures = 0;
    for (int i = 0; i < 20; ++i) {
        auto lease = p.acquire("writer");
        try {
            lease.run(kInsert, {"0", std::to_string(i)});
            EXPECT_EQ(port_of(lease.server()), s.b.port());
        } catch (const db::DbError &e) {
            ADD_FAILURE() << e.sqlstate() << " " << e.what();
            ++failures;
        }
    }
    // The dead connections were seen dead without a round trip (their sockets were closed), so no
    // writer got one.
    EXPECT_EQ(failures, 0);
    EXPECT_GE(p.stats().evicted, 4u) << pool::describe(p.stats());
}

TEST(PoolFailover, FrozenFirstHostCostsTheValidationTimeoutNotTheAcquire) {
    REQUIRE_HARNESS();
    TwoServers s;
    ASSERT_TRUE(s.ok());
    auto settings = failover_settings(write_dsn(s.a.port(), s.b.port()), 2);
    settings.acquire_timeout = Seconds(6);
    settings.validation_interval = Seconds(0); // ping every idle connection before use
    settings.validation_timeout = Seconds(1);
    pool::Pool p(settings);
    auto in_transaction = p.acquire("careless");
    {
        auto idle = p.acquire("idle");
        ASSERT_EQ(port_of(idle.server()), s.a.port());
    }
    in_transaction.conn().exec("BEGIN");
    ASSERT_TRUE(s.a.freeze());

    // The rollback of a connection returned inside a transaction waits validation_timeout, no more.
    auto t0 = Clock::now();
    in_transaction.release();
    const double rollback = seconds(Clock::now() - t0);
    EXPECT_LT(rollback, 1.0 + 0.5);
    EXPECT_EQ(p.stats().closed, 1u) << pool::describe(p.stats());

    // The idle one's ping gives up after validation_timeout and it is closed; the connect gives
    // frozen A its share of the time left and finds B.
    t0 = Clock::now();
    std::string server, error;
    try {
        auto lease = p.acquire("after the freeze");
        server = lease.server();
        lease.run(kInsert, {"0", "0"});
    } catch (const db::DbError &e) {
        error = e.what();
    }
    const double took = seconds(Clock::now() - t0);
    s.a.thaw();
    EXPECT_EQ(error, "");
    EXPECT_EQ(port_of(server), s.b.port()) << "the frozen server's connection was handed out";
    EXPECT_LT(took, 6.0 + 1.0);
    const auto st = p.stats();
    EXPECT_EQ(st.closed, 2u) << pool::describe(st);
    EXPECT_EQ(st.total, 1) << pool::describe(st);
    std::cout << "[measured] frozen first host: rollback on return gave up after " << rollback
              << " s; acquire reached the second host after " << took << " s\n";
}

TEST(PoolFailover, LagProbeOfAFrozenReplicaGivesUpAfterTheValidationTimeout) {
    REQUIRE_HARNESS();
    test::OwnCluster frozen("failover_frozen_replica");
    ASSERT_TRUE(frozen.ok()) << frozen.error();
    auto settings = failover_settings(frozen.dsn(), 1);
    settings.validation_timeout = Seconds(1);
    pool::Pool replica(settings);
    { auto warm = replica.acquire(); } // idle, and trusted for validation_interval (30 s)
    ASSERT_TRUE(frozen.freeze());
    const auto t0 = Clock::now();
    const auto lag = pool::measure_replica_lag(replica);
    const double took = seconds(Clock::now() - t0);
    frozen.thaw();
    EXPECT_FALSE(lag.has_value());
    EXPECT_LT(took, 1.0 + 0.5);
    EXPECT_EQ(replica.stats().total, 0) << pool::describe(replica.stats()); // closed, not kept
}

TEST(PoolFailover, AcquireWithNoPrimaryFailsNamingTheHostsAndTheLastError) {
    REQUIRE_HARNESS();
    test::OwnCluster primary("failover_lonely");
    ASSERT_TRUE(primary.ok()) << primary.error();
    const int closed_port = test::free_port();
    {
        db::Connection admin = db::Connection::open(primary.dsn());
        admin.exec("ALTER SYSTEM SET default_transaction_read_only = on");
        admin.exec("SELECT pg_reload_conf()");
    }
    auto settings = failover_settings(write_dsn(closed_port, primary.port()), 2);
    settings.acquire_timeout = Seconds(2);
    pool::Pool p(settings);
    const auto t0 = Clock::now();
    try {
        auto lease = p.acquire("writer");
        FAIL() << "acquired a connection with no server accepting writes";
    } catch (const pool::PoolTimeout &e) {
        const std::string m = e.what();
        EXPECT_THAT(m, HasSubstr("127.0.0.1:" + std::to_string(closed_port) +
                                 ", 127.0.0.1:" + std::to_string(primary.port())));
        EXPECT_THAT(m, HasSubstr("acquire_timeout"));
        EXPECT_THAT(m, HasSubstr("read-only")); // libpq's word for the second host
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        std::cout << "[message] " << m << "\n";
    }
    EXPECT_LT(seconds(Clock::now() - t0), 2.0 + 2.5);
}

TEST(PoolFailover, ReadsAvoidAStandbyWhoseWalReceiverIsNotStreaming) {
    REQUIRE_HARNESS();
    test::OwnCluster primary("routing_primary");
    ASSERT_TRUE(primary.ok()) << primary.error();
    {
        db::Connection c = db::Connection::open(primary.dsn());
        c.exec("CREATE TABLE failover_writes (worker int, seq int, at timestamptz DEFAULT clock_timestamp());"
               "INSERT INTO failover_writes VALUES (0, 0)");
    }
    test::Standby standby("routing_standby", primary.port());
    ASSERT_TRUE(standby.ok()) << standby.error();
    ASSERT_TRUE(
        wait_for([&] { return standby.psql("SELECT count(*) FROM failover_writes").output.find('1') == 0; }));
    auto primary_settings = failover_settings(primary.dsn(), 2);
    auto replica_settings = failover_settings(standby.dsn(), 2);
    pool::RoutedPool routed(primary_settings, {replica_settings}, Seconds(5), {}, {}, {},
                            std::chrono::hours(1));
    routed.probe_now();
    ASSERT_TRUE(routed.replica_lags()[0].has_value());
    {
        auto read = routed.acquire_read("reader");
        EXPECT_EQ(read.conn().scalar("SELECT pg_is_in_recovery()"), "t");
    }

    // The walreceiver is pointed at a closed port: nothing streams, and everything received is
    // replayed, so an LSN comparison alone would call the standby caught up.
    const auto set = standby.psql("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=" +
                                  std::to_string(test::free_port()) + " user=postgres';");
    ASSERT_EQ(set.exit_code, 0) << set.output;
    ASSERT_EQ(standby.psql("SELECT pg_reload_conf()").exit_code, 0);
    ASSERT_TRUE(wait_for([&] {
        return standby.psql("SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')").output !=
               "streaming\n";
    }));
    EXPECT_EQ(standby.psql("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()").output, "t\n");
    routed.probe_now();
    EXPECT_FALSE(routed.replica_lags()[0].has_value()) << *routed.replica_lags()[0];
    auto read = routed.acquire_read("reader");
    EXPECT_EQ(read.conn().scalar("SELECT pg_is_in_recovery()"), "f")
        << "a read went to a standby that is not streaming";
}
