// The pool's logic, with in-memory sessions instead of a server: timeouts, first-come
// first-served waiters, lifetime jitter, leak warnings, dirty and broken returns, backoff.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pool/pool.hpp"
#include "pool/routing.hpp"
#include "dsn_params.hpp"
#include "retry.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

// What the fake "server" counts.
struct FakeServer {
    std::atomic<int> opened{0};
    std::atomic<int> failures_left{0}; // the next N connects fail
    std::atomic<int> rollbacks{0};
    std::atomic<int> pings{0};
    std::atomic<int> which{0}; // new connections reach server "s<which>"
};

class FakeSession : public pool::Session {
  public:
    explicit FakeSession(FakeServer &server) : server_(server), name_("s" + std::to_string(server.which)) {}
    State state() override { return state_; }
    bool rollback() override {
        ++server_.rollbacks;
        if (rollback_fails)
            return false;
        state_ = State::idle;
        return true;
    }
    bool ping() override {
        ++server_.pings;
        return ping_ok;
    }
    std::string server() override { return name_; }
    bool read_only() override { return read_only_; }
    State state_ = State::idle;
    bool rollback_fails = false;
    bool ping_ok = true;
    bool read_only_ = false;

  private:
    FakeServer &server_;
    std::string name_;
};

pool::Connector fake_connector(FakeServer &server) {
    return [&server]() -> std::unique_ptr<pool::Session> {
        if (server.failures_left.fetch_sub(1) > 0)
            throw db::DbError("connection refused", "08006");
        ++server.opened;
        return std::make_unique<FakeSession>(server);
    };
}

pool::Settings settings(int max_size) {
    pool::Settings s;
    s.max_size = max_size;
    s.acquire_timeout = Seconds(2);
    s.housekeeping_interval = 20ms;
    s.connect_backoff_base = 1ms;
    s.connect_backoff_cap = 20ms;
    return s;
}

FakeSession &fake(pool::Lease &lease) {
    return dynamic_cast<FakeSession &>(lease.session());
}

// Waits until pred() holds, at most two seconds.
template <class Pred> bool eventually(Pred pred) {
    for (int i = 0; i < 200; ++i) {
        if (pred())
            return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

} // namespace

TEST(Pool, ReusesAReturnedConnection) {
    FakeServer server;
    pool::Pool p(settings(4), fake_connector(server));
    std::uint64_t first;
    {
        auto lease = p.acquire("t");
        first = lease.id();
        EXPECT_EQ(p.stats().active, 1);
    }
    auto again = p.acquire("t");
    EXPECT_EQ(again.id(), first);
    EXPECT_EQ(server.opened, 1);
    EXPECT_EQ(p.stats().acquires, 2u);
}

TEST(Pool, HandsABorrowerBackTheConnectionItHadLast) {
    FakeServer server;
    pool::Pool p(settings(4), fake_connector(server));
    std::uint64_t a, b, c;
    {
        auto la = p.acquire("a");
        auto lb = p.acquire("b");
        auto lc = p.acquire("c");
        a = la.id(), b = lb.id(), c = lc.id();
    } // returned c, b, a: a is the most recently returned
    EXPECT_EQ(p.acquire("no preference").id(), a);
    EXPECT_EQ(p.acquire("b again", std::nullopt, b).id(), b);
    {
        auto held = p.acquire("c again", std::nullopt, c);
        EXPECT_EQ(held.id(), c);
        // The preferred connection is busy: the most recently returned idle one instead.
        auto other = p.acquire("wants c", std::nullopt, c);
        EXPECT_NE(other.id(), c);
        EXPECT_TRUE(other.id() == a || other.id() == b);
    }
    EXPECT_EQ(p.acquire("unknown id", std::nullopt, 999).id(), c);
    EXPECT_EQ(server.opened, 3);
}

TEST(Pool, AcquireTimesOutWithStatisticsInTheMessage) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    auto held = p.acquire("holder");
    const auto start = pool::Clock::now();
    try {
        p.acquire("late borrower", Seconds(0.2));
        FAIL() << "acquire did not time out";
    } catch (const pool::PoolTimeout &e) {
        EXPECT_GE(pool::Clock::now() - start, 200ms);
        EXPECT_THAT(e.what(), HasSubstr("late borrower"));
        EXPECT_THAT(e.what(), HasSubstr("total 1/1"));
        EXPECT_THAT(e.what(), HasSubstr("active 1"));
        EXPECT_EQ(e.stats().timeouts, 1u);
    }
    EXPECT_EQ(p.stats().timeouts, 1u);
    EXPECT_EQ(p.stats().pending, 0);
}

TEST(Pool, WaitersAreServedFirstComeFirstServed) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    auto held = p.acquire("holder");
    std::mutex m;
    std::vector<int> order;
    std::vector<std::thread> threads;
    for (int i = 0; i < 6; ++i) {
        threads.emplace_back([&, i] {
            auto lease = p.acquire("waiter " + std::to_string(i));
            std::lock_guard lk(m);
            order.push_back(i);
        });
        // Each waiter is in line before the next one arrives.
        ASSERT_TRUE(eventually([&] { return p.stats().pending == i + 1; }));
    }
    held.release();
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(server.opened, 1);
}

TEST(Pool, NewcomersDoNotOvertakeWaiters) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    auto held = p.acquire("holder");
    std::atomic<bool> waiter_served{false};
    std::thread waiter([&] {
        auto lease = p.acquire("waiter");
        waiter_served = true;
        std::this_thread::sleep_for(50ms);
    });
    ASSERT_TRUE(eventually([&] { return p.stats().pending == 1; }));
    held.release();
    // The connection went straight to the waiter, so a newcomer has to wait for it.
    auto newcomer = p.acquire("newcomer");
    EXPECT_TRUE(waiter_served);
    waiter.join();
}

TEST(Pool, LifetimesAreJitteredSoConnectionsDoNotExpireTogether) {
    FakeServer server;
    auto s = settings(20);
    s.max_lifetime = Seconds(100);
    s.lifetime_jitter = 0.1;
    pool::Pool p(s, fake_connector(server));
    std::vector<pool::Lease> leases;
    const auto now = pool::Clock::now();
    std::set<long long> distinct;
    double lo = 1e9, hi = 0;
    for (int i = 0; i < 20; ++i) {
        leases.push_back(p.acquire());
        const double life = Seconds(leases.back().expires_at() - now).count();
        lo = std::min(lo, life);
        hi = std::max(hi, life);
        distinct.insert(static_cast<long long>(life * 1000));
    }
    EXPECT_GE(lo, 89.9);
    EXPECT_LE(hi, 100.1);
    EXPECT_GT(hi - lo, 1.0) << "20 lifetimes within one second of each other";
    EXPECT_GE(distinct.size(), 15u);
}

TEST(Pool, ExpiredConnectionIsClosedOnReturnAndReplaced) {
    FakeServer server;
    auto s = settings(2);
    s.max_lifetime = Seconds(0.05);
    pool::Pool p(s, fake_connector(server));
    std::uint64_t first;
    {
        auto lease = p.acquire();
        first = lease.id();
        std::this_thread::sleep_for(80ms);
    }
    EXPECT_EQ(p.stats().closed, 1u);
    auto next = p.acquire();
    EXPECT_NE(next.id(), first);
    EXPECT_EQ(server.opened, 2);
}

TEST(Pool, LeakWarningNamesTheBorrowerOnce) {
    FakeServer server;
    auto s = settings(2);
    s.leak_detection_threshold = Seconds(0.1);
    pool::Pool p(s, fake_connector(server));
    std::mutex m;
    std::vector<std::string> warnings;
    p.set_leak_handler([&](const std::string &msg) {
        std::lock_guard lk(m);
        warnings.push_back(msg);
    });
    auto quick = p.acquire("quick job");
    quick.release();
    auto lease = p.acquire("order-sync worker 7");
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lk(m);
        return !warnings.empty();
    }));
    std::this_thread::sleep_for(150ms);
    std::lock_guard lk(m);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_THAT(warnings[0], HasSubstr("order-sync worker 7"));
    EXPECT_THAT(warnings[0], HasSubstr("possible connection leak"));
}

TEST(Pool, ConnectionReturnedInsideATransactionIsRolledBack) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    std::uint64_t first;
    {
        auto lease = p.acquire();
        first = lease.id();
        fake(lease).state_ = pool::Session::State::in_transaction;
    }
    EXPECT_EQ(server.rollbacks, 1);
    auto next = p.acquire();
    EXPECT_EQ(next.id(), first);
    EXPECT_EQ(fake(next).state(), pool::Session::State::idle);
}

TEST(Pool, ConnectionThatCannotBeRolledBackIsDiscarded) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    std::uint64_t first;
    {
        auto lease = p.acquire();
        first = lease.id();
        fake(lease).state_ = pool::Session::State::in_transaction;
        fake(lease).rollback_fails = true;
    }
    auto next = p.acquire();
    EXPECT_NE(next.id(), first);
    EXPECT_EQ(p.stats().closed, 1u);
}

TEST(Pool, BrokenConnectionIsDiscardedAndTheWaiterGetsAFreshOne) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    auto held = p.acquire("holder");
    const auto first = held.id();
    std::uint64_t got = 0;
    std::thread waiter([&] {
        auto lease = p.acquire("waiter");
        got = lease.id();
    });
    ASSERT_TRUE(eventually([&] { return p.stats().pending == 1; }));
    fake(held).state_ = pool::Session::State::broken;
    held.release();
    waiter.join();
    EXPECT_NE(got, 0u);
    EXPECT_NE(got, first);
    const auto st = p.stats();
    EXPECT_EQ(st.closed, 1u);
    EXPECT_EQ(st.errors, 1u);
    EXPECT_EQ(st.created, 2u);
}

TEST(Pool, ReadOnlyRefusalCondemnsTheIdleSiblingsOnThatServerOnly) {
    FakeServer server;
    pool::Pool p(settings(4), fake_connector(server));
    auto refused = p.acquire("writer");
    std::uint64_t on_s1;
    {
        auto a = p.acquire(), b = p.acquire();
        server.which = 1; // the failover: new connections reach s1
        auto c = p.acquire();
        EXPECT_EQ(c.server(), "s1");
        on_s1 = c.id();
    }
    refused.failed("25006");
    refused.release();
    const auto st = p.stats();
    EXPECT_EQ(st.idle, 1);
    EXPECT_EQ(st.evicted, 3u); // the refused one and its two idle siblings on s0
    auto next = p.acquire();
    EXPECT_EQ(next.id(), on_s1);
}

TEST(Pool, ConnectionBorrowedWhenItsServerWasCondemnedIsClosedOnReturn) {
    FakeServer server;
    pool::Pool p(settings(4), fake_connector(server));
    auto refused = p.acquire(), borrowed = p.acquire();
    refused.failed("25006");
    refused.release();
    const auto id = borrowed.id();
    borrowed.release(); // healthy and idle, but its server refuses writes
    EXPECT_EQ(p.stats().idle, 0);
    EXPECT_NE(p.acquire().id(), id);
}

TEST(Pool, LostConnectionIsClosedAndItsSiblingsArePingedNotClosed) {
    FakeServer server;
    pool::Pool p(settings(4), fake_connector(server));
    auto lost = p.acquire();
    { auto sibling = p.acquire(); }
    lost.failed("57P01"); // admin shutdown: maybe only this backend was terminated
    lost.release();
    auto st = p.stats();
    EXPECT_EQ(st.idle, 1);
    EXPECT_EQ(st.evicted, 1u);
    EXPECT_EQ(st.errors, 1u);
    auto next = p.acquire();
    EXPECT_EQ(server.pings, 1);
    EXPECT_EQ(p.stats().closed, 1u);
}

TEST(Pool, OtherFailuresKeepTheConnection) {
    FakeServer server;
    pool::Pool p(settings(4), fake_connector(server));
    std::uint64_t id;
    {
        auto lease = p.acquire();
        id = lease.id();
        lease.failed("23505"); // a unique violation says nothing about the server
    }
    EXPECT_EQ(p.acquire().id(), id);
    EXPECT_EQ(p.stats().evicted, 0u);
}

TEST(Pool, WritePoolEvictsAServerThatReportsItselfReadOnly) {
    FakeServer server;
    auto s = settings(4);
    s.require_writable = true;
    pool::Pool p(s, fake_connector(server));
    {
        auto a = p.acquire(), b = p.acquire();
        fake(a).read_only_ = true; // its server said default_transaction_read_only = on
    }
    EXPECT_EQ(p.stats().idle, 0) << pool::describe(p.stats());
    EXPECT_EQ(p.stats().evicted, 2u);
    // The same report on an idle connection keeps it from being handed out.
    server.which = 1;
    { auto c = p.acquire(); }
    auto more = p.acquire();
    EXPECT_EQ(more.server(), "s1");
}

TEST(Pool, BusyConnectionIsNeverHandedOn) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    std::uint64_t first;
    {
        auto lease = p.acquire();
        first = lease.id();
        fake(lease).state_ = pool::Session::State::busy; // a query still running
    }
    auto next = p.acquire();
    EXPECT_NE(next.id(), first);
}

TEST(Pool, FailedConnectsAreRetriedWithBackoff) {
    FakeServer server;
    server.failures_left = 3;
    pool::Pool p(settings(1), fake_connector(server));
    auto lease = p.acquire();
    EXPECT_TRUE(lease);
    const auto st = p.stats();
    EXPECT_EQ(st.errors, 3u);
    EXPECT_EQ(st.created, 1u);
}

TEST(Pool, UnreachableServerTimesOutNamingTheConnectError) {
    FakeServer server;
    server.failures_left = 1000000;
    pool::Pool p(settings(1), fake_connector(server));
    try {
        p.acquire("x", Seconds(0.2));
        FAIL() << "acquired from an unreachable server";
    } catch (const pool::PoolTimeout &e) {
        EXPECT_THAT(e.what(), HasSubstr("connection refused"));
        EXPECT_EQ(e.sqlstate(), "08001");
    }
    // Backoff: far fewer attempts than a busy loop would make in 200 ms.
    EXPECT_LT(p.stats().errors, 40u);
    EXPECT_GE(p.stats().errors, 3u);
}

TEST(Pool, IdleConnectionIsValidatedAfterValidationInterval) {
    FakeServer server;
    auto s = settings(1);
    s.validation_interval = Seconds(0.05);
    pool::Pool p(s, fake_connector(server));
    std::uint64_t first;
    {
        auto lease = p.acquire();
        first = lease.id();
        fake(lease).ping_ok = false; // the server went away while it sat idle
    }
    {
        auto again = p.acquire(); // recently used: not validated
        EXPECT_EQ(again.id(), first);
        EXPECT_EQ(server.pings, 0);
    }
    std::this_thread::sleep_for(80ms);
    auto fresh = p.acquire();
    EXPECT_EQ(server.pings, 1);
    EXPECT_NE(fresh.id(), first);
}

TEST(Pool, MinIdleIsFilledAndIdleTimeoutRetiresDownToIt) {
    FakeServer server;
    auto s = settings(5);
    s.min_idle = 2;
    s.idle_timeout = Seconds(0.1);
    pool::Pool p(s, fake_connector(server));
    ASSERT_TRUE(eventually([&] { return p.stats().idle == 2; }));
    {
        std::vector<pool::Lease> many;
        for (int i = 0; i < 5; ++i)
            many.push_back(p.acquire());
        EXPECT_EQ(p.stats().total, 5);
    }
    EXPECT_EQ(p.stats().idle, 5);
    ASSERT_TRUE(eventually([&] { return p.stats().total == 2; })) << pool::describe(p.stats());
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(p.stats().total, 2);
}

TEST(Pool, ManyThreadsShareFewConnectionsWithoutStarvation) {
    FakeServer server;
    pool::Pool p(settings(8), fake_connector(server));
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 64; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                auto lease = p.acquire();
                EXPECT_EQ(fake(lease).state(), pool::Session::State::idle);
            }
            ++done;
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(done, 64);
    const auto st = p.stats();
    EXPECT_LE(server.opened, 8);
    EXPECT_EQ(st.acquires, 64u * 200u);
    EXPECT_EQ(st.timeouts, 0u);
    EXPECT_EQ(st.acquire_buckets.back() <= st.acquires, true);
}

TEST(Pool, AcquireHistogramIsCumulative) {
    FakeServer server;
    pool::Pool p(settings(1), fake_connector(server));
    for (int i = 0; i < 10; ++i)
        p.acquire();
    const auto st = p.stats();
    EXPECT_EQ(st.acquires, 10u);
    for (std::size_t i = 1; i < st.acquire_buckets.size(); ++i)
        EXPECT_GE(st.acquire_buckets[i], st.acquire_buckets[i - 1]);
    EXPECT_EQ(st.acquire_buckets.back(), 10u); // all within 5 s
}

TEST(Pool, LeaseOutlivingThePoolClosesOnReturn) {
    FakeServer server;
    pool::Lease lease;
    {
        pool::Pool p(settings(1), fake_connector(server));
        lease = p.acquire();
    }
    EXPECT_TRUE(lease);
    lease.release();
    EXPECT_FALSE(lease);
}

TEST(RoutedPool, ReadsGoToReplicasUnderTheLagLimitElseToThePrimary) {
    FakeServer primary, replica_a, replica_b;
    std::mutex m;
    std::vector<const pool::Pool *> seen; // replica pools, in the order they were probed
    std::vector<std::optional<double>> lags{std::nullopt, std::nullopt};
    pool::RoutedPool routed(
        settings(2), {settings(2), settings(2)}, Seconds(5), fake_connector(primary),
        {fake_connector(replica_a), fake_connector(replica_b)},
        [&](pool::Pool &replica) -> std::optional<double> {
            std::lock_guard lk(m);
            auto it = std::find(seen.begin(), seen.end(), &replica);
            if (it == seen.end())
                it = seen.insert(seen.end(), &replica);
            return lags[static_cast<std::size_t>(it - seen.begin())];
        },
        std::chrono::hours(1));
    // Lag unknown (not a standby, unreachable): reads go to the primary.
    routed.acquire_read();
    EXPECT_EQ(routed.primary().stats().acquires, 1u);
    EXPECT_EQ(replica_a.opened + replica_b.opened, 0);

    // Both replicas under the limit: reads are spread over them, the primary is spared.
    {
        std::lock_guard lk(m);
        lags = {1.0, 4.9};
    }
    routed.probe_now();
    for (int i = 0; i < 4; ++i)
        routed.acquire_read("reader");
    EXPECT_EQ(replica_a.opened, 1);
    EXPECT_EQ(replica_b.opened, 1);
    EXPECT_EQ(routed.primary().stats().acquires, 1u);

    // One replica too far behind, the other unknown: back to the primary.
    {
        std::lock_guard lk(m);
        lags = {30.0, std::nullopt};
    }
    routed.probe_now();
    routed.acquire_read();
    routed.acquire_read();
    EXPECT_EQ(routed.primary().stats().acquires, 3u);
    ASSERT_EQ(routed.replica_lags().size(), 2u);
    EXPECT_EQ(routed.replica_lags()[0], 30.0);

    // Writes always go to the primary.
    routed.acquire_write();
    EXPECT_EQ(routed.primary().stats().acquires, 4u);
}

TEST(Retry, SqlstateRules) {
    EXPECT_TRUE(retry::is_retryable("40001"));
    EXPECT_TRUE(retry::is_retryable("40P01"));
    EXPECT_TRUE(retry::is_retryable("08006"));
    EXPECT_TRUE(retry::is_retryable("57P01"));
    EXPECT_FALSE(retry::is_retryable("23505"));
    EXPECT_FALSE(retry::is_retryable("42P01"));
    EXPECT_TRUE(retry::is_transaction_conflict("40001"));
    EXPECT_FALSE(retry::is_transaction_conflict("08006"));
    // The command line's "unavailable" (exit 69) is the same rule, for errors with a SQLSTATE.
    EXPECT_TRUE(retry::is_unavailable("08001"));
    EXPECT_TRUE(retry::is_unavailable("57P03"));
    EXPECT_FALSE(retry::is_unavailable("57P04")); // database dropped: not coming back
    EXPECT_FALSE(retry::is_unavailable(""));
    EXPECT_FALSE(retry::is_unavailable("42501"));
    // A server that refuses writes: its connections are evicted, the work is not retried here.
    EXPECT_TRUE(retry::is_read_only("25006"));
    EXPECT_FALSE(retry::is_read_only("25001"));
    EXPECT_FALSE(retry::is_retryable("25006"));
}

TEST(Retry, BackoffGrowsWithJitterUpToTheCap) {
    retry::Backoff b(10ms, 100ms);
    std::vector<long long> d;
    for (int i = 0; i < 8; ++i)
        d.push_back(b.next().count());
    EXPECT_GE(d[0], 5);
    EXPECT_LE(d[0], 10);
    EXPECT_GE(d[3], 40);
    EXPECT_LE(d[3], 80);
    for (int i = 4; i < 8; ++i) {
        EXPECT_GE(d[i], 50);
        EXPECT_LE(d[i], 100);
    }
}

TEST(DsnHosts, ListsEveryHostWithItsPortInLibpqsOrder) {
    EXPECT_EQ(dsn_hosts("host=a,b port=1,2 target_session_attrs=read-write"),
              (std::vector<std::string>{"a:1", "b:2"}));
    EXPECT_EQ(dsn_hosts("host=a,b port=7"), (std::vector<std::string>{"a:7", "b:7"}));
    EXPECT_EQ(dsn_hosts("postgresql://x:5,y:6/db"), (std::vector<std::string>{"x:5", "y:6"}));
    EXPECT_EQ(dsn_hosts("hostaddr=127.0.0.1 port=9").size(), 1u);
}
