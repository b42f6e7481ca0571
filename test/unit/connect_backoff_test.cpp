// Connecting to a server that refuses: 53300 is retried with backoff, never in a tight loop; the
// backoff is shared, so clients refused together come back as one round; and what libpq says
// about a connection string it cannot parse never carries the password.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "db.hpp"
#include "dsn_params.hpp"
#include "pool/pool.hpp"
#include "retry.hpp"

using namespace vigil;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Turn = retry::ConnectThrottle::Turn;
using Clock = std::chrono::steady_clock;

TEST(Retry, NoFreeConnectionSlotIsRetryableAndTemporary) {
    EXPECT_TRUE(retry::is_too_many_connections("53300"));
    EXPECT_TRUE(retry::is_retryable("53300"));
    EXPECT_FALSE(retry::is_unavailable("53300")); // the server is up: not "cannot be reached"
    EXPECT_TRUE(retry::is_temporary("53300"));
    EXPECT_TRUE(retry::is_temporary("40001"));
    EXPECT_FALSE(retry::is_temporary("08006"));
    EXPECT_FALSE(retry::is_temporary("42P01"));
}

TEST(ConnectThrottle, AnyoneMayConnectWhileConnectsSucceed) {
    retry::ConnectThrottle t(10ms, 100ms);
    EXPECT_EQ(t.begin(Clock::now()), Turn::free);
    EXPECT_EQ(t.begin(Clock::now()), Turn::free); // at once, side by side
    t.end(Turn::free, true);
    EXPECT_LE(t.not_before(), Clock::now());
}

TEST(ConnectThrottle, AfterAFailureOneProbeAtATimeAfterABackoff) {
    retry::ConnectThrottle t(20ms, 1000ms);
    t.end(t.begin(Clock::now()), false, "53300", "sorry, too many clients already");
    EXPECT_EQ(t.last_failure().first, "53300");
    // Nobody before the backoff: a caller that cannot wait is refused at once.
    EXPECT_EQ(t.begin(Clock::now()), Turn::refused);
    // After it, one probe; a second caller waits for the probe's outcome.
    const auto probe = t.begin(Clock::now() + 1s);
    EXPECT_EQ(probe, Turn::probe);
    const auto before = Clock::now();
    EXPECT_EQ(t.begin(Clock::now() + 50ms), Turn::refused);
    EXPECT_GE(Clock::now() - before, 45ms) << "a refused caller waited as long as it was told to";
    // The probe fails: the next one waits longer (20 ms, then 40 ms, jittered by half).
    t.end(probe, false, "53300", "again");
    EXPECT_GE(t.not_before() - Clock::now(), 10ms);
    // A success lets everyone in again.
    const auto next = t.begin(Clock::now() + 1s);
    ASSERT_EQ(next, Turn::probe);
    t.end(next, true);
    EXPECT_EQ(t.begin(Clock::now()), Turn::free);
    EXPECT_EQ(t.last_failure().first, "");
}

TEST(ConnectThrottle, ARoundOfFailuresCountsOnce) {
    retry::ConnectThrottle t(100ms, 1000ms);
    // Eight callers were connecting when the server began to refuse: all fail, one round.
    std::vector<Turn> turns;
    for (int i = 0; i < 8; ++i)
        turns.push_back(t.begin(Clock::now()));
    for (Turn turn : turns)
        t.end(turn, false, "08006", "refused");
    // The first failure's backoff (50-100 ms), not eight doublings of it.
    EXPECT_LE(t.not_before() - Clock::now(), 100ms);
}

namespace {

// Fails `n` probes of `t` in a row with `sqlstate`, each as soon as its turn comes, and returns
// the longest delay the throttle imposed between two of them.
Clock::duration longest_delay_over(retry::ConnectThrottle &t, int n, const std::string &sqlstate) {
    Clock::duration longest{};
    for (int i = 0; i < n; ++i) {
        const auto delay = t.not_before() - Clock::now();
        longest = std::max(longest, delay);
        const auto turn = t.begin(Clock::now() + 5s);
        EXPECT_NE(turn, Turn::refused);
        t.end(turn, false, sqlstate, "no host accepts writes");
    }
    return longest;
}

} // namespace

TEST(ConnectThrottle, FailingOverProbesOnAShortScheduleAndAFullServerOnTheLongOne) {
    const retry::ConnectThrottle::Failover failover{20ms, 10s};
    // Connected before, then every host refuses (the primary is gone, the standby not promoted):
    // the delay stops growing at the failover cap (20 ms), however long it lasts.
    retry::ConnectThrottle failing_over(1ms, 200ms, failover);
    failing_over.end(failing_over.begin(Clock::now()), true);
    EXPECT_LE(longest_delay_over(failing_over, 12, "08006"), 20ms);
    // The same failures on a pool that never connected (a wrong host, port or password): the
    // delay grows to the cap.
    retry::ConnectThrottle never_connected(1ms, 200ms, failover);
    EXPECT_GT(longest_delay_over(never_connected, 12, "08006"), 50ms);
    // A server with no free slot (53300) is never probed on the short schedule.
    retry::ConnectThrottle full(1ms, 200ms, failover);
    full.end(full.begin(Clock::now()), true);
    EXPECT_GT(longest_delay_over(full, 12, "53300"), 50ms);
}

TEST(ConnectThrottle, AFailoverLongerThanItsWindowBacksOffToTheCap) {
    retry::ConnectThrottle t(1ms, 200ms, {10ms, 100ms});
    t.end(t.begin(Clock::now()), true);
    EXPECT_LE(longest_delay_over(t, 5, "08006"), 10ms);
    std::this_thread::sleep_for(100ms); // the window is over: no host came back in time
    EXPECT_GT(longest_delay_over(t, 10, "08006"), 50ms);
}

namespace {

// A server with no free slot: every connect is refused with 53300, counted.
pool::Connector full_server(std::atomic<int> &attempts) {
    return [&attempts]() -> std::unique_ptr<pool::Session> {
        ++attempts;
        throw db::DbError("cannot connect to host=db: the server has no free connection slot", "53300");
    };
}

pool::Settings fast_settings(int max_size) {
    pool::Settings s;
    s.max_size = max_size;
    s.min_idle = max_size; // the housekeeper tries to top up too
    s.housekeeping_interval = 5ms;
    s.connect_backoff_base = 5ms;
    s.connect_backoff_cap = 50ms;
    return s;
}

} // namespace

TEST(Pool, AFullServerTimesOutWith53300AndTheReason) {
    std::atomic<int> attempts{0};
    pool::Pool p(fast_settings(1), full_server(attempts));
    try {
        p.acquire("bench client 1", Seconds(0.2));
        FAIL() << "acquired from a full server";
    } catch (const pool::PoolTimeout &e) {
        EXPECT_EQ(e.sqlstate(), "53300");
        EXPECT_THAT(e.what(), HasSubstr("no free connection slot"));
    }
}

TEST(Pool, BorrowersOfAFullServerTakeTurnsInsteadOfHammeringIt) {
    std::atomic<int> attempts{0};
    pool::Pool p(fast_settings(8), full_server(attempts));
    std::vector<std::thread> borrowers;
    std::atomic<int> timeouts{0};
    for (int i = 0; i < 8; ++i)
        borrowers.emplace_back([&] {
            const auto until = Clock::now() + 500ms;
            while (Clock::now() < until) {
                try {
                    p.acquire("borrower", Seconds(0.1));
                } catch (const pool::PoolTimeout &) {
                    ++timeouts;
                }
            }
        });
    for (auto &t : borrowers)
        t.join();
    // Eight borrowers and the housekeeper each on a schedule of their own, starting over at every
    // acquire and every 5 ms pass, made hundreds of attempts in 500 ms; one probe per round
    // (50 ms at most between rounds once the backoff has grown) makes a few dozen.
    EXPECT_LT(attempts.load(), 60) << "connect attempts in 500 ms";
    EXPECT_GE(attempts.load(), 5);
    // Each failed acquire waited its timeout: no tight loop of instant failures either.
    EXPECT_LE(timeouts.load(), 8 * 6);
}

TEST(Dsn, WhatLibpqCannotParseNeverShowsThePassword) {
    const std::string pw = "S3cretPw_unit";
    for (const std::string &dsn : {
             "postgresql://u:" + pw + "@[::1/db",           // libpq quotes the whole URI
             "postgres://u:" + pw + "@h:5432:9/db?x",       // key without value
             "postgresql://u@h/db?password=" + pw + "=x",   // extra '=' in the query
             "postgresql://u:" + pw + "%zz@h/db",           // bad percent-encoding
             "host=h password=" + pw + " " + pw + "2",      // a word libpq takes for a key
             "host=h password='" + pw + " two words' junk", // quoted, then junk
             "host=h sslpassword=" + pw + " x",             // any *password keyword
         }) {
        try {
            dsn_settings(dsn);
            ADD_FAILURE() << "parsed: " << dsn;
        } catch (const InvalidDsn &e) {
            EXPECT_THAT(e.what(), Not(HasSubstr(pw))) << dsn;
            EXPECT_THAT(e.what(), HasSubstr("invalid connection string")) << dsn;
        }
    }
}
