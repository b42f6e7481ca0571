// `vigild init-schema` and `vigild bench` against a real server, in a database of their own.
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "db.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

// The workloads' database, created once; empty when the versioning functions are missing (a failure).
std::string workload_dsn() {
    db::Connection admin = db::Connection::open(test::test_dsn());
    if (admin.scalar("SELECT count(*) FROM pg_database WHERE datname = 'vigil_workloads'") == "0")
        admin.exec("CREATE DATABASE vigil_workloads");
    const std::string dsn = test::test_dsn() + " dbname=vigil_workloads";
    db::Connection conn = db::Connection::open(dsn);
    conn.exec("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pgvigil");
    if (conn.scalar("SELECT to_regprocedure('vigil.enable_versioning(regclass,name)') IS NOT NULL AND"
                    "       to_regprocedure('vigil.optimistic_update(regclass,jsonb,bigint,jsonb,name)') IS "
                    "NOT NULL") != "t")
        return "";
    return dsn;
}

#define REQUIRE_VERSIONING(dsn)                                                                              \
    ASSERT_FALSE((dsn).empty()) << "vigil.enable_versioning / vigil.optimistic_update are not installed"

nlohmann::json json_of(const test::ProcessResult &r) {
    const auto start = r.output.find('{');
    return nlohmann::json::parse(r.output.substr(start, r.output.rfind('}') - start + 1));
}

std::string init(const std::string &dsn) {
    auto r = test::run_vigild("init-schema --dsn '" + dsn + "' --users 2000 --accounts 200");
    EXPECT_EQ(r.exit_code, exit_code::ok) << r.output;
    return r.output;
}

} // namespace

TEST(InitSchema, CreatesVersionedTablesAndIsIdempotent) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    test::run_vigild("init-schema --reset --dsn '" + dsn + "' --users 2000 --accounts 200");
    auto again = test::run_vigild("init-schema --dsn '" + dsn + "' --users 2000 --accounts 200");
    EXPECT_EQ(again.exit_code, exit_code::ok) << again.output;
    EXPECT_THAT(again.output, HasSubstr("already present: users 2000, posts 4000, accounts 200"));
    db::Connection conn = db::Connection::open(dsn);
    EXPECT_EQ(conn.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND "
                          "attname = 'version'"),
              "1");
    // The age check and the updated_at trigger are in place.
    EXPECT_THROW(conn.exec("INSERT INTO users (email, username, age) VALUES ('kid@x', 'kid', 12)"),
                 db::DbError);
    conn.exec("UPDATE users SET bio = 'changed' WHERE email = 'user1@example.com'");
    EXPECT_EQ(conn.scalar("SELECT updated_at > created_at FROM users WHERE email = 'user1@example.com'"),
              "t");
}

TEST(Bench, JsonHasExactlyTheDocumentedKeys) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    init(dsn);
    auto r =
        test::run_vigild("bench --dsn '" + dsn + "' --workload read --clients 2 --transactions 300 --json");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    const auto j = json_of(r);
    const std::set<std::string> keys = {"count",   "ops_per_sec", "p50_ms", "p95_ms", "p99_ms",
                                        "p999_ms", "max_ms",      "errors", "retries"};
    std::set<std::string> overall;
    for (auto &[k, v] : j["overall"].items())
        overall.insert(k);
    EXPECT_EQ(overall, keys);
    EXPECT_EQ(j["overall"]["count"], 300);
    for (auto &[name, entry] : j["operations"].items()) {
        std::set<std::string> got;
        for (auto &[k, v] : entry.items())
            got.insert(k);
        EXPECT_EQ(got, keys) << name;
    }
    EXPECT_LE(j["overall"]["p50_ms"].get<double>(), j["overall"]["p99_ms"].get<double>());
    EXPECT_EQ(j["pool"]["timeouts"], 0);
    // Not a terminal: no progress line in the output.
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("ops/s ")));
}

TEST(Bench, CrudRunsEveryOperationWithoutErrors) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    init(dsn);
    auto r =
        test::run_vigild("bench --dsn '" + dsn + "' --workload crud --clients 4 --transactions 3000 --json");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    const auto j = json_of(r);
    for (const char *op : {"create_user", "read_by_id", "read_by_email", "update", "soft_delete",
                           "hard_delete", "create_post", "feed", "list_users"})
        EXPECT_GT(j["operations"][op]["count"].get<int>(), 0) << op;
    EXPECT_TRUE(j["overall"]["errors"].empty()) << j["overall"]["errors"].dump();
}

TEST(Bench, TransferKeepsTheInvariantUnderContention) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    init(dsn);
    auto r = test::run_vigild("bench --dsn '" + dsn +
                              "' --workload transfer --clients 8 --transactions 2000 --json");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    const auto j = json_of(r);
    EXPECT_TRUE(j["invariant"]["ok"].get<bool>()) << j["invariant"].dump();
    EXPECT_EQ(j["invariant"]["total_before"], j["invariant"]["total_after"]);
    EXPECT_EQ(j["invariant"]["committed"].get<long long>() + j["invariant"]["declined"].get<long long>(),
              2000);
}

TEST(Bench, MixedWeightsAndPipelineAndNoPool) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    init(dsn);
    auto mixed = test::run_vigild(
        "bench --dsn '" + dsn +
        "' --workload mixed --weights read=1,transfer=1 --clients 2 --transactions 400 --json");
    ASSERT_EQ(mixed.exit_code, exit_code::ok) << mixed.output;
    const auto j = json_of(mixed);
    EXPECT_GT(j["operations"]["read"]["count"].get<int>(), 0);
    EXPECT_GT(j["operations"]["transfer"]["count"].get<int>(), 0);
    EXPECT_FALSE(j["operations"].contains("feed"));
    auto piped = test::run_vigild("bench --dsn '" + dsn +
                                  "' --workload read --pipeline 10 --clients 2 --transactions 500 --json");
    ASSERT_EQ(piped.exit_code, exit_code::ok) << piped.output;
    EXPECT_EQ(json_of(piped)["overall"]["count"], 500);
    auto unpooled = test::run_vigild("bench --dsn '" + dsn +
                                     "' --workload read --no-pool --clients 2 --transactions 20 --json");
    ASSERT_EQ(unpooled.exit_code, exit_code::ok) << unpooled.output;
    EXPECT_EQ(json_of(unpooled)["pool"], nullptr);
    EXPECT_EQ(json_of(unpooled)["overall"]["count"], 20);
    EXPECT_EQ(test::run_vigild("bench --dsn '" + dsn + "' --workload crud --pipeline 4").exit_code,
              exit_code::usage);
    EXPECT_EQ(test::run_vigild("bench --dsn '" + dsn + "' --workload mixed --weights read=x").exit_code,
              exit_code::usage);
}

TEST(Bench, ReadsAnyTableByItsPrimaryKey) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    db::Connection conn = db::Connection::open(dsn);
    conn.exec(
        "SET client_min_messages = warning; DROP TABLE IF EXISTS \"Odd Items\", bench_nokey, bench_twokey");
    conn.exec("CREATE TABLE \"Odd Items\" (\"Item Id\" bigint PRIMARY KEY, label text NOT NULL)");
    conn.exec("INSERT INTO \"Odd Items\" SELECT g, 'item ' || g FROM generate_series(1, 300) g");
    conn.exec("CREATE TABLE bench_nokey (a int); INSERT INTO bench_nokey VALUES (1)");
    conn.exec("CREATE TABLE bench_twokey (a int, b int, PRIMARY KEY (a, b)); INSERT INTO bench_twokey VALUES "
              "(1, 1)");
    auto r =
        test::run_vigild("bench --dsn '" + dsn +
                         "' --workload read --table '\"Odd Items\"' --clients 3 --transactions 600 --json");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    EXPECT_EQ(json_of(r)["overall"]["count"], 600);
    EXPECT_TRUE(json_of(r)["overall"]["errors"].empty()) << r.output;
    // The reads really ran against the table: its index was scanned for them. The bench's backends
    // report their statistics as they exit, which may be a moment after vigild has: wait for it.
    long long scans = 0;
    for (int i = 0; i < 100 && scans < 600; ++i) {
        if (i > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        scans =
            std::stoll(conn.scalar("SELECT idx_scan FROM pg_stat_user_tables WHERE relname = 'Odd Items'"));
    }
    EXPECT_GE(scans, 600);
    auto none =
        test::run_vigild("bench --dsn '" + dsn + "' --workload read --table no_such_table --transactions 10");
    EXPECT_EQ(none.exit_code, exit_code::data_error);
    EXPECT_THAT(none.output, HasSubstr("no table named 'no_such_table'"));
    auto nokey =
        test::run_vigild("bench --dsn '" + dsn + "' --workload read --table bench_nokey --transactions 10");
    EXPECT_EQ(nokey.exit_code, exit_code::data_error);
    EXPECT_THAT(nokey.output, HasSubstr("needs a primary key of one column"));
    EXPECT_EQ(
        test::run_vigild("bench --dsn '" + dsn + "' --workload read --table bench_twokey --transactions 10")
            .exit_code,
        exit_code::data_error);
    EXPECT_EQ(test::run_vigild("bench --dsn '" + dsn + "' --workload crud --table bench_nokey").exit_code,
              exit_code::usage);
    conn.exec("DROP TABLE \"Odd Items\", bench_nokey, bench_twokey");
}

TEST(Bench, ClientsSharingThreadsRunEveryOperationOnce) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    init(dsn);
    // 7 clients on 2 threads; an exact operation count, single reads and pipeline batches.
    auto single = test::run_vigild("bench --dsn '" + dsn +
                                   "' --workload read --clients 7 --threads 2 --transactions 1001 --json");
    ASSERT_EQ(single.exit_code, exit_code::ok) << single.output;
    EXPECT_EQ(json_of(single)["overall"]["count"], 1001);
    EXPECT_TRUE(json_of(single)["overall"]["errors"].empty()) << single.output;
    EXPECT_EQ(json_of(single)["pool"]["active"], 0);
    auto piped = test::run_vigild(
        "bench --dsn '" + dsn +
        "' --workload read --clients 7 --threads 2 --pipeline 10 --transactions 1005 --json");
    ASSERT_EQ(piped.exit_code, exit_code::ok) << piped.output;
    EXPECT_EQ(json_of(piped)["overall"]["count"], 1005);
    EXPECT_TRUE(json_of(piped)["overall"]["errors"].empty()) << piped.output;
    // Connections come back clean: none left in pipeline mode or busy, none closed.
    EXPECT_EQ(json_of(piped)["pool"]["closed"], 0);
    auto timed = test::run_vigild("bench --dsn '" + dsn +
                                  "' --workload read --clients 4 --threads 1 --duration 1 --json");
    ASSERT_EQ(timed.exit_code, exit_code::ok) << timed.output;
    EXPECT_GT(json_of(timed)["overall"]["count"].get<long long>(), 0);
    // Refused combinations.
    EXPECT_EQ(test::run_vigild("bench --dsn '" + dsn + "' --workload crud --clients 4 --threads 2").exit_code,
              exit_code::usage);
    EXPECT_EQ(test::run_vigild("bench --dsn '" + dsn + "' --workload read --clients 4 --threads 2 --no-pool")
                  .exit_code,
              exit_code::usage);
    auto small =
        test::run_vigild("bench --dsn '" + dsn + "' --workload read --clients 4 --threads 2 --pool-size 2");
    EXPECT_EQ(small.exit_code, exit_code::usage);
    EXPECT_THAT(small.output, HasSubstr("--pool-size 2 < --clients 4"));
}

TEST(Bench, TransferSurvivesAServerRestart) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    const char *bindir = std::getenv("VIGIL_TEST_PG_BINDIR");
    const char *cluster = std::getenv("VIGIL_TEST_CLUSTER_DIR");
    if (!bindir || !cluster)
        GTEST_SKIP() << "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR";
    init(dsn);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dsn, m, std::regex(R"(port=(\d+))")));
    const std::string port = m[1];
    test::ProcessResult bench;
    std::thread runner([&] {
        bench =
            test::run_vigild("bench --dsn '" + dsn + "' --workload transfer --clients 4 --duration 5 --json");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto restart =
        test::run_command(std::string("runuser -u postgres -- ") + bindir + "/pg_ctl -D " + cluster +
                          "/data -l " + cluster + "/server.log -m fast -w -o '-p " + port + "' restart");
    runner.join();
    ASSERT_EQ(restart.exit_code, 0) << restart.output;
    ASSERT_EQ(bench.exit_code, exit_code::ok) << bench.output;
    const auto j = json_of(bench);
    EXPECT_TRUE(j["invariant"]["ok"].get<bool>()) << j["invariant"].dump();
    EXPECT_GT(j["pool"]["created"].get<int>(), 4) << "the pool reopened its connections";
    EXPECT_GT(j["overall"]["retries"].get<int>(), 0) << "the restart was felt";
}

// The server dies under pipelined reads and stays down for a second (immediate shutdown): with a
// short acquire_timeout, batches whose connection cannot be had fail and are counted (08001),
// the run goes on once the server is back, nothing crashes; the failures are reported on stderr
// and the exit code says the server could not be reached.
TEST(Bench, PipelinedReadsSurviveAServerCrash) {
    const std::string dsn = workload_dsn();
    REQUIRE_VERSIONING(dsn);
    const char *bindir = std::getenv("VIGIL_TEST_PG_BINDIR");
    const char *cluster = std::getenv("VIGIL_TEST_CLUSTER_DIR");
    if (!bindir || !cluster)
        GTEST_SKIP() << "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR";
    init(dsn);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dsn, m, std::regex(R"(port=(\d+))")));
    const std::string port = m[1];
    test::ProcessResult bench;
    std::thread runner([&] {
        bench = test::run_vigild(
            "bench --dsn '" + dsn +
            "' --workload read --pipeline 10 --clients 4 --duration 5 --acquire-timeout 0.2 --json");
    });
    const std::string pg_ctl = std::string("runuser -u postgres -- ") + bindir + "/pg_ctl -D " + cluster +
                               "/data -l " + cluster + "/server.log -w -o '-p " + port + "' ";
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const auto stop = test::run_command(pg_ctl + "-m immediate stop");
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    const auto start = test::run_command(pg_ctl + "start");
    runner.join();
    ASSERT_EQ(stop.exit_code, 0) << stop.output;
    ASSERT_EQ(start.exit_code, 0) << start.output;
    ASSERT_EQ(bench.exit_code, exit_code::unavailable) << bench.output;
    EXPECT_THAT(bench.output, HasSubstr("operations failed, by SQLSTATE: 08001="));
    const auto j = json_of(bench);
    EXPECT_GT(j["overall"]["count"].get<long long>(), 0);
    EXPECT_GT(j["overall"]["errors"].value("08001", 0), 0) << "acquires failed while the server was down";
    EXPECT_GT(j["pool"]["created"].get<int>(), 4) << "the pool reopened its connections";
}
