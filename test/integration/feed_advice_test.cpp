// The query-insights proof (docs/queries.md): the feed under `vigild bench` without an index on
// posts.created_at; vigil.index_advice() names that index, and once it is built the feed's p95
// falls at least tenfold, both measured in this run. In a database of its own.
#include <iostream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "db.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

constexpr const char *kDatabase = "vigil_feed_advice";
// 10,000 users with 20 posts each: without the index every feed call joins and sorts 200,000
// posts (about 60 ms on the 2-core test machine); with it, it reads 20 index entries.
constexpr const char *kSeed = "--users 10000 --posts-per-user 20";
// Two clients for three seconds: about a hundred slow feeds, tens of thousands of fast ones.
constexpr const char *kBench = "--workload feed --clients 2 --duration 3 --json";

nlohmann::json json_of(const test::ProcessResult &r) {
    const auto start = r.output.find('{');
    return nlohmann::json::parse(r.output.substr(start, r.output.rfind('}') - start + 1));
}

// A fresh database: no statistics, hypothetical indexes or posts of an earlier run.
std::string fresh_database() {
    db::Connection admin = db::Connection::open(test::test_dsn());
    admin.exec(std::string("DROP DATABASE IF EXISTS ") + kDatabase + " WITH (FORCE)");
    admin.exec(std::string("CREATE DATABASE ") + kDatabase);
    return test::test_dsn() + " dbname=" + kDatabase;
}

// The feed entry of a `vigild bench --workload feed --json` run, checked for errors.
nlohmann::json run_feed(const std::string &dsn) {
    auto r = test::run_vigild("bench --dsn '" + dsn + "' " + kBench);
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    const auto j = json_of(r);
    const auto feed = j["operations"]["feed"];
    EXPECT_GT(feed["count"].get<long long>(), 20) << r.output;
    EXPECT_TRUE(feed["errors"].empty()) << r.output;
    return feed;
}

} // namespace

TEST(FeedAdvice, IndexAdviceNamesTheFeedIndexAndItCutsTheFeedP95TenTimes) {
    const std::string dsn = fresh_database();
    db::Connection conn = db::Connection::open(dsn);
    // make test runs the integration suite on a cluster with pg_stat_statements preloaded and
    // pgvigil installed: a missing piece (or a signature that drifted) fails, never skips.
    ASSERT_EQ(conn.scalar("SELECT current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'"),
              "t")
        << "pg_stat_statements is not preloaded (run the cluster with --preload)";
    conn.exec("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pgvigil");
    ASSERT_EQ(conn.scalar(
                  "SELECT to_regprocedure('vigil.index_advice(int,bigint,float8,interval,text)') IS NOT NULL"
                  "   AND to_regprocedure('vigil.enable_versioning(regclass,name)') IS NOT NULL"),
              "t")
        << "vigil.index_advice or vigil.enable_versioning is not installed with the signature this test "
           "calls";
    const bool hypopg =
        conn.scalar("SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'") == "1";
    if (!hypopg)
        std::cout << "hypopg is not installed: expecting the advice from statistics\n";

    // Before the demo schema: the workload says what to run first.
    auto missing = test::run_vigild("bench --dsn '" + dsn + "' --workload feed --transactions 1");
    EXPECT_EQ(missing.exit_code, exit_code::data_error) << missing.output;
    EXPECT_THAT(missing.output, HasSubstr("run `vigild init-schema` first"));

    // The scenario: the demo schema without the feed's index, statistics from a clean slate.
    auto init =
        test::run_vigild("init-schema --reset --without-feed-index --json --dsn '" + dsn + "' " + kSeed);
    ASSERT_EQ(init.exit_code, exit_code::ok) << init.output;
    EXPECT_EQ(json_of(init)["posts"], 200000);
    EXPECT_EQ(json_of(init)["feed_index"], false);
    EXPECT_EQ(conn.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 'posts'::regclass AND indkey[0] = "
                          "(SELECT attnum FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = "
                          "'created_at')"),
              "0")
        << "an index leads with posts.created_at";
    conn.exec("CREATE EXTENSION pg_stat_statements");
    if (hypopg)
        conn.exec("CREATE EXTENSION hypopg");
    conn.exec("SELECT pg_stat_statements_reset()");

    const nlohmann::json before = run_feed(dsn);
    ASSERT_GE(before["p50_ms"].get<double>(), 5.0)
        << "the feed without its index should scan and sort every post: " << before.dump();

    // The advice: that index, and nothing else.
    db::Result advice = conn.exec("SELECT query, table_name, columns::text, create_index, method, improvement"
                                  "  FROM vigil.index_advice() WHERE create_index IS NOT NULL");
    ASSERT_EQ(advice.rows(), 1);
    EXPECT_THAT(advice.value(0, 0), StartsWith("SELECT p.id, p.title, p.created_at, u.username"));
    EXPECT_EQ(advice.value(0, 1), "public.posts");
    EXPECT_EQ(advice.value(0, 2), "{created_at}");
    const std::string create_index = advice.value(0, 3);
    EXPECT_THAT(create_index, StartsWith("CREATE INDEX CONCURRENTLY ON public.posts (created_at"));
    EXPECT_EQ(advice.value(0, 4), hypopg ? "hypopg" : "statistics");
    EXPECT_GE(std::stod(advice.value(0, 5)), 2.0);

    conn.exec(create_index);
    EXPECT_EQ(
        conn.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'posts_created_at_idx'::regclass"),
        "t");
    // The same statistics, planned again: the feed now reads the index and gets no advice.
    db::Result again = conn.exec("SELECT create_index IS NULL, reason FROM vigil.index_advice()"
                                 " WHERE query LIKE 'SELECT p.id, p.title, p.created_at, u.username%'");
    ASSERT_EQ(again.rows(), 1);
    EXPECT_EQ(again.value(0, 0), "t");
    EXPECT_THAT(again.value(0, 1), HasSubstr("already indexed: the plan reads"));
    EXPECT_THAT(again.value(0, 1), HasSubstr("posts_created_at_idx"));

    const nlohmann::json after = run_feed(dsn);
    const double p95_before = before["p95_ms"].get<double>(), p95_after = after["p95_ms"].get<double>();
    std::cout << "feed p95 before the index " << p95_before << " ms (" << before["count"] << " calls), after "
              << p95_after << " ms (" << after["count"] << " calls): " << p95_before / p95_after << "x\n";
    ::testing::Test::RecordProperty("p95_before_ms", std::to_string(p95_before));
    ::testing::Test::RecordProperty("p95_after_ms", std::to_string(p95_after));
    EXPECT_LE(p95_after * 10, p95_before) << "before " << before.dump() << "\nafter " << after.dump();
}
