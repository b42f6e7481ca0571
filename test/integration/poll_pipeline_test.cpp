// The poll's pipeline against a real server (metrics/poller.cpp): its statements go as one group
// while they succeed; one that starts failing between polls is left out alone (the statements
// after it are asked again), and the next polls give each statement a group of its own until a
// poll sees no failure. Timed by the server's clock.
#include <unistd.h>

#include <gtest/gtest.h>

#include "metrics/poller.hpp"
#include "scratch_database.hpp"
#include "test_support.hpp"

using namespace vigil;

namespace {

std::uint64_t count_of(const QueryMetrics &q, const std::string &operation) {
    const auto s = q.snapshot();
    const auto it = s.durations.find(operation);
    return it == s.durations.end() ? 0 : it->second.count;
}

std::uint64_t errors_of(const QueryMetrics &q, const std::string &sqlstate_class) {
    const auto s = q.snapshot();
    const auto it = s.errors.find(sqlstate_class);
    return it == s.errors.end() ? 0 : it->second;
}

} // namespace

TEST(PollPipeline, AQueryRefusedBetweenPollsIsLeftOutAloneAndTheOthersStillAnswer) {
    test::ScratchDatabase scratch("vigil_pipeline", test::ScratchDatabase::kMonitorRole);
    const std::string dsn = scratch.dsn();
    {
        db::Connection owner = db::Connection::open(dsn);
        owner.exec("CREATE EXTENSION pgvigil; GRANT USAGE ON SCHEMA vigil TO " + scratch.role() +
                   "; CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 2000) g; ANALYZE t");
    }
    QueryMetrics queries(1.0);
    {
        HealthPoller poller(pool::Settings::from_config(PoolConfig{}, scratch.role_dsn()), Seconds(60), "",
                            PollLimits{}, queries);
        auto poll = [&] {
            poller.poll_once();
            auto s = poller.snapshot();
            EXPECT_TRUE(s->up) << s->error;
            EXPECT_TRUE(s->health_checks_available);
            EXPECT_GE(s->checks.size(), 5u) << s->health_checks_error;
            EXPECT_TRUE(s->tables && !s->tables->empty());
            return s;
        };
        // The first poll asks for each statement alone; the second sends them as one group.
        poll();
        poll();
        EXPECT_EQ(count_of(queries, "poll_health_check"), 2u);
        EXPECT_EQ(count_of(queries, "poll_bloat"), 2u);
        EXPECT_EQ(errors_of(queries, "42"), 0u);
        {
            const auto s = queries.snapshot();
            const auto &h = s.durations.at("poll_health_check");
            EXPECT_GT(h.sum, 0.0); // the server's clock around it
            EXPECT_LT(h.sum, 10.0);
        }

        // Refused from now on: poll_bloat fails inside the group; health_check, after it in the
        // group, was skipped and is asked again alone, so the checks are still there.
        db::Connection owner = db::Connection::open(dsn);
        owner.exec("REVOKE ALL ON vigil.table_bloat FROM PUBLIC, pg_monitor");
        auto s = poll();
        EXPECT_FALSE(s->bloat_ratio_max);
        EXPECT_EQ(errors_of(queries, "42"), 1u);
        EXPECT_EQ(count_of(queries, "poll_health_check"), 3u);
        EXPECT_EQ(count_of(queries, "poll_bloat"), 3u);

        // Isolated now: the refused statement fails in its own group, the others answer in theirs.
        poll();
        EXPECT_EQ(errors_of(queries, "42"), 2u);
        EXPECT_EQ(count_of(queries, "poll_health_check"), 4u);

        // Granted again: one isolated poll without a failure, then one group again.
        owner.exec("GRANT SELECT ON vigil.table_bloat TO pg_monitor");
        poll();
        poll();
        EXPECT_EQ(errors_of(queries, "42"), 2u);
        EXPECT_EQ(count_of(queries, "poll_health_check"), 6u);
        EXPECT_EQ(count_of(queries, "poll_bloat"), 6u);
        // Every poll left the connection idle, out of its transaction.
        EXPECT_EQ(poller.pool_stats()->active, 0);
    }
}
