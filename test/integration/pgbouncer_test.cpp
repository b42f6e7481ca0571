// vigild behind a real PgBouncer (test/support/pgbouncer_process.hpp) in front of the harness's
// cluster: the bench in transaction mode, and the admin-console monitor while clients wait.
#include <iostream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "db.hpp"
#include "dsn_params.hpp"
#include "exit_codes.hpp"
#include "metrics/poller.hpp"
#include "pgbouncer/monitor.hpp"
#include "pgbouncer_process.hpp"
#include "prom_parser.hpp"
#include "scratch_database.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

using std::chrono::milliseconds;

test::PgBouncerProcess::Options bouncer_options(const std::string &mode, int pool_size) {
    test::PgBouncerProcess::Options o;
    o.server_port = std::stoi(parse_dsn(test::test_dsn()).at("port"));
    o.pool_mode = mode;
    o.default_pool_size = pool_size;
    return o;
}

// The demo schema in a database of its own, created once.
void demo_schema() {
    static bool done = false;
    if (done)
        return;
    db::Connection admin = db::Connection::open(test::test_dsn());
    if (admin.scalar("SELECT count(*) FROM pg_database WHERE datname = 'vigil_pgbouncer'") == "0")
        admin.exec("CREATE DATABASE vigil_pgbouncer");
    const auto r = test::run_vigild("init-schema --dsn '" + test::test_dsn() +
                                    " dbname=vigil_pgbouncer' --users 500 --accounts 50");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.output;
    done = true;
}

// vigild's stdout and stderr apart, and its exit status.
struct VigildRun {
    int exit_code;
    std::string out, err;
};
VigildRun vigild(const std::string &args) {
    const std::string err_file = test::write_temp_file("", ".err");
    const auto r =
        test::run_command("( " + std::string(VIGILD_BINARY) + " " + args + " 2>" + err_file + " )");
    return {r.exit_code, r.output, test::read_file(err_file)};
}

int lines(const std::string &text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// Server connections PgBouncer has open to PostgreSQL (SHOW SERVERS), read on the console.
int server_connections(const test::PgBouncerProcess &b) {
    db::Connection admin = db::Connection::open(b.admin_dsn());
    return db::Result(PQexec(admin.get(), "SHOW SERVERS")).rows();
}

} // namespace

TEST(PgBouncerProcess, StartsAnswersAndStopsByItsOwnPid) {
    test::PgBouncerProcess b(bouncer_options("session", 2));
    ASSERT_TRUE(b.ok()) << b.error();
    const pid_t pid = b.pid();
    EXPECT_GT(pid, 0);
    db::Connection c = db::Connection::open(b.dsn());
    EXPECT_EQ(c.scalar("SELECT 1"), "1");
    b.stop();
    EXPECT_EQ(b.pid(), 0);
    EXPECT_NE(::kill(pid, 0), 0) << "pgbouncer still running";
    EXPECT_TRUE(b.start()) << b.error();
    EXPECT_EQ(db::Connection::open(b.dsn()).scalar("SELECT 2"), "2");
}

// Named statements (the default) through transaction pooling: statements one client prepared
// turn up on another's server connection. The bench notices, says so in one line and runs with
// unnamed statements; pipeline mode no longer opens a connection per failed batch.
TEST(PgBouncerBench, TransactionModeFallsBackToUnnamedStatementsWithOneWarning) {
    demo_schema();
    test::PgBouncerProcess b(bouncer_options("transaction", 4));
    ASSERT_TRUE(b.ok()) << b.error();
    for (const std::string extra : {"", " --pipeline 10"}) {
        SCOPED_TRACE(extra);
        const VigildRun r = vigild("--dsn '" + b.dsn("vigil_pgbouncer") +
                                   "' bench --workload read --clients 8 --duration 2s --json" + extra);
        ASSERT_EQ(r.exit_code, exit_code::ok) << r.err << r.out;
        EXPECT_EQ(lines(r.err), 1) << r.err;
        // Which a shared server connection shows first is a race: our statement already there
        // (42P05) or gone (26000).
        EXPECT_THAT(r.err,
                    ::testing::AnyOf(HasSubstr("already existed (42P05) on a connection that had not "
                                               "prepared it"),
                                     HasSubstr("was gone (26000) from the connection that had prepared it")));
        EXPECT_THAT(r.err, HasSubstr("running again with unnamed statements"));
        EXPECT_THAT(r.err, HasSubstr("pool.named_statements = false"));
        const auto j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["named_statements"], false);
        EXPECT_GT(j["overall"]["count"].get<long long>(), 100);
        EXPECT_EQ(j["overall"]["errors"], nlohmann::json::object());
        // The client side: the pool's 8 connections (two runs), never one per failure.
        EXPECT_LE(j["pool"]["created"].get<int>(), 8);
        EXPECT_EQ(j["pool"]["closed"].get<int>(), 0);
    }
    // The server side: PgBouncer's pool, never more.
    EXPECT_LE(server_connections(b), 4);
}

TEST(PgBouncerBench, UnnamedStatementsFromTheStartNeedNoWarning) {
    demo_schema();
    test::PgBouncerProcess b(bouncer_options("transaction", 4));
    ASSERT_TRUE(b.ok()) << b.error();
    const VigildRun r =
        vigild("--dsn '" + b.dsn("vigil_pgbouncer") +
               "' bench --workload crud --clients 4 --transactions 400 --json --no-named-statements");
    ASSERT_EQ(r.exit_code, exit_code::ok) << r.err << r.out;
    EXPECT_EQ(r.err, "");
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["named_statements"], false);
    EXPECT_EQ(j["overall"]["count"], 400);
}

// A bench whose operations failed never exits 0: PgBouncer gives up on clients that wait past
// query_wait_timeout while another client holds the only server connection.
TEST(PgBouncerBench, FailedOperationsAreCountedBySqlstateAndExitNonZero) {
    demo_schema();
    auto o = bouncer_options("transaction", 1);
    o.extra_settings = {"query_wait_timeout = 1"};
    test::PgBouncerProcess b(o);
    ASSERT_TRUE(b.ok()) << b.error();
    VigildRun r;
    std::thread bench([&] {
        r = vigild(
            "--dsn '" + b.dsn("vigil_pgbouncer") +
            "' bench --workload read --clients 3 --duration 4s --no-named-statements --max-retries 0 --json");
    });
    // Once the bench runs, another client takes the server connection for longer than
    // query_wait_timeout; the clients it disconnects are not retried (--max-retries 0).
    std::this_thread::sleep_for(milliseconds(1000));
    db::Connection holder = db::Connection::open(b.dsn("vigil_pgbouncer"));
    holder.exec("BEGIN; SELECT pg_sleep(2.5); COMMIT");
    bench.join();
    EXPECT_NE(r.exit_code, exit_code::ok) << r.err << r.out;
    std::cout << "bench with failures: exit " << r.exit_code << ", stderr: " << r.err;
    EXPECT_TRUE(r.exit_code == exit_code::unavailable || r.exit_code == exit_code::temp_failure)
        << r.exit_code;
    EXPECT_THAT(r.err, HasSubstr("operations failed, by SQLSTATE:")) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_FALSE(j["overall"]["errors"].empty()) << j.dump();
    EXPECT_LE(server_connections(b), 1);
}

// One client holds the only server connection (default_pool_size = 1) in a transaction; another
// waits for it. The monitor sees the waiting client and how long it has waited.
TEST(PgBouncerMonitor, SeesWaitingClientsAndTheirWait) {
    for (const std::string mode : {"transaction", "session"}) {
        SCOPED_TRACE(mode);
        test::PgBouncerProcess b(bouncer_options(mode, 1));
        ASSERT_TRUE(b.ok()) << b.error();
        db::Connection holder = db::Connection::open(b.dsn());
        ASSERT_EQ(PQsendQuery(holder.get(), "BEGIN; SELECT pg_sleep(3); COMMIT"), 1);
        std::this_thread::sleep_for(milliseconds(200));
        db::Connection waiter = db::Connection::open(b.dsn());
        ASSERT_EQ(PQsendQuery(waiter.get(), "SELECT 1"), 1); // waits for the server connection
        std::this_thread::sleep_for(milliseconds(1300));

        pgbouncer::Monitor m({"edge", b.admin_dsn()}, std::chrono::seconds(10), std::chrono::seconds(2));
        const auto s = m.poll_once();
        ASSERT_TRUE(s->up) << s->error;
        EXPECT_EQ(m.snapshot(), s);
        const pgbouncer::Pool *pool = nullptr;
        for (const auto &p : s->pools)
            if (p.database == "postgres" && p.user == "postgres")
                pool = &p;
        ASSERT_NE(pool, nullptr);
        EXPECT_EQ(pool->cl_waiting, 1);
        EXPECT_EQ(pool->cl_active, 1);
        EXPECT_EQ(pool->sv_active, 1);
        EXPECT_GE(pool->maxwait_seconds, 1.0);
        EXPECT_LT(pool->maxwait_seconds, 3.0);
        EXPECT_EQ(pool->pool_mode, mode);
        EXPECT_GE(s->lists.at("used_servers"), 1);

        metrics::Exposition out;
        pgbouncer::render_metrics(out, *s);
        const auto e = test::parse_prometheus(out.str());
        const std::map<std::string, std::string> labels = {
            {"pgbouncer", "edge"}, {"database", "postgres"}, {"user", "postgres"}};
        EXPECT_EQ(e.value("vigil_pgbouncer_up", {{"pgbouncer", "edge"}}).value_or(-1), 1);
        EXPECT_EQ(e.value("vigil_pgbouncer_clients_waiting", labels).value_or(-1), 1);
        EXPECT_GE(e.value("vigil_pgbouncer_max_wait_seconds", labels).value_or(-1), 1.0);

        const auto rows = pgbouncer::checks(*s, {1, 5, 0.5, 10});
        ASSERT_EQ(rows.size(), 2u);
        EXPECT_EQ(rows[0].check_name, "pgbouncer_waiting_clients");
        EXPECT_EQ(rows[0].status, "warning");
        EXPECT_EQ(rows[0].current_value, "1");
        EXPECT_THAT(rows[0].detail, HasSubstr("pool postgres/postgres"));
        EXPECT_EQ(rows[1].check_name, "pgbouncer_max_wait");
        EXPECT_EQ(rows[1].status, "warning");
        EXPECT_THAT(rows[1].recommendation, HasSubstr("default_pool_size"));
        // With the default thresholds one client waiting a second is not yet a problem.
        EXPECT_EQ(pgbouncer::checks(*s)[0].status, "ok");

        // Once the holder is done (and, in session mode, gone), the waiter runs and nobody waits.
        while (db::Result(PQgetResult(holder.get())))
            ;
        holder = db::Connection();
        std::this_thread::sleep_for(milliseconds(200));
        for (const auto &p : m.poll_once()->pools)
            if (p.database == "postgres") {
                EXPECT_EQ(p.cl_waiting, 0);
            }
    }
}

TEST(PgBouncerMonitor, StoppedPgBouncerIsDownAndItsChecksUnknown) {
    test::PgBouncerProcess b(bouncer_options("transaction", 2));
    ASSERT_TRUE(b.ok()) << b.error();
    pgbouncer::Monitor m({"edge", b.admin_dsn()}, milliseconds(100), std::chrono::seconds(2));
    m.start();
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!m.snapshot()->up && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(milliseconds(20));
    const auto up = m.snapshot();
    ASSERT_TRUE(up->up) << up->error;
    b.stop();
    std::shared_ptr<const pgbouncer::Snapshot> down;
    while ((down = m.snapshot())->up && std::chrono::steady_clock::now() < until + std::chrono::seconds(5))
        std::this_thread::sleep_for(milliseconds(20));
    m.stop();
    ASSERT_FALSE(down->up);
    EXPECT_FALSE(down->error.empty());
    EXPECT_TRUE(down->pools.empty());
    EXPECT_GE(down->last_success_timestamp, up->last_success_timestamp);

    metrics::Exposition out;
    pgbouncer::render_metrics(out, *down);
    const auto e = test::parse_prometheus(out.str());
    EXPECT_EQ(e.value("vigil_pgbouncer_up", {{"pgbouncer", "edge"}}).value_or(-1), 0);
    EXPECT_FALSE(e.value("vigil_pgbouncer_clients_waiting").has_value());
    for (const auto &r : pgbouncer::checks(*down)) {
        EXPECT_EQ(r.status, "unknown") << r.check_name;
        EXPECT_THAT(r.detail, HasSubstr("could not be read"));
    }
}

// A PgBouncer that accepts connections and answers nothing (SIGSTOP) costs a poll its timeout,
// never the daemon's thread.
TEST(PgBouncerMonitor, HungPgBouncerTimesOut) {
    test::PgBouncerProcess b(bouncer_options("transaction", 2));
    ASSERT_TRUE(b.ok()) << b.error();
    pgbouncer::Monitor m({"edge", b.admin_dsn()}, std::chrono::seconds(10), std::chrono::seconds(1));
    ASSERT_TRUE(m.poll_once()->up);
    ASSERT_TRUE(b.freeze());
    for (int i = 0; i < 2; ++i) { // the kept connection, then a new connect
        const auto start = std::chrono::steady_clock::now();
        const auto s = m.poll_once();
        const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        EXPECT_FALSE(s->up);
        EXPECT_LT(took, 4.0) << s->error;
        EXPECT_EQ(pgbouncer::checks(*s)[0].status, "unknown");
    }
    b.thaw();
    EXPECT_TRUE(m.poll_once()->up);
}

// What serve and check use: every configured PgBouncer, one running and one not.
TEST(PgBouncerMonitor, MonitorsAndCheckOnceCoverEveryTarget) {
    test::PgBouncerProcess b(bouncer_options("transaction", 2));
    ASSERT_TRUE(b.ok()) << b.error();
    const std::vector<PgBouncerConfig> targets = {
        {"edge", b.admin_dsn()}, {"gone", "host=127.0.0.1 port=" + std::to_string(test::free_port())}};

    const auto rows = pgbouncer::check_once(targets, std::chrono::seconds(2));
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[0].status, "ok") << rows[0].detail;
    EXPECT_EQ(rows[1].status, "ok") << rows[1].detail;
    EXPECT_EQ(rows[2].status, "unknown");
    EXPECT_THAT(rows[2].detail, HasSubstr("pgbouncer gone"));
    EXPECT_EQ(rows[3].status, "unknown");

    pgbouncer::Monitors all(targets, milliseconds(100), std::chrono::seconds(2));
    ASSERT_EQ(all.size(), 2u);
    all.start();
    std::this_thread::sleep_for(milliseconds(500));
    metrics::Exposition out;
    all.render_metrics(out);
    all.stop();
    const auto e = test::parse_prometheus(out.str());
    EXPECT_EQ(e.value("vigil_pgbouncer_up", {{"pgbouncer", "edge"}}).value_or(-1), 1);
    EXPECT_EQ(e.value("vigil_pgbouncer_up", {{"pgbouncer", "gone"}}).value_or(-1), 0);
    EXPECT_EQ(all.checks().size(), 4u);
}

// A target behind PgBouncer in transaction pooling: the poll's pipelined read-only transaction
// (SET LOCAL, a savepoint per statement when isolated, unnamed statements) answers as it does on
// the server itself, and between polls it holds no server connection, so PgBouncer's one server
// connection serves vigild and an application in turn.
TEST(PgBouncerTarget, PipelinedPollsAnswerThroughTransactionPoolingAndHoldNoServerConnection) {
    test::ScratchDatabase scratch("vigil_bouncer_target");
    const std::string name = scratch.name();
    db::Connection::open(scratch.dsn())
        .exec("SET client_min_messages = warning; CREATE EXTENSION pgvigil;"
              " CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 2000) g; ANALYZE t");
    auto o = bouncer_options("transaction", 1);
    o.extra_settings = {"query_wait_timeout = 3"}; // a client left waiting fails instead of hanging
    {
        test::PgBouncerProcess b(o);
        ASSERT_TRUE(b.ok()) << b.error();
        QueryMetrics queries(1.0);
        HealthPoller poller(pool::Settings::from_config(PoolConfig{}, b.dsn(name)), Seconds(60), "",
                            PollLimits{}, queries);
        // The first poll asks for each statement alone; the next ones send them as one group.
        for (int i = 1; i <= 4; ++i) {
            SCOPED_TRACE("poll " + std::to_string(i));
            poller.poll_once();
            const auto s = poller.snapshot();
            ASSERT_TRUE(s->up) << s->error;
            EXPECT_TRUE(s->health_checks_available) << s->health_checks_error;
            EXPECT_GE(s->checks.size(), 5u);
            EXPECT_TRUE(s->tables && !s->tables->empty());
            db::Connection app = db::Connection::open(b.dsn(name));
            EXPECT_EQ(app.scalar("SELECT count(*) FROM t"), "2000");
        }
        const auto q = queries.snapshot();
        EXPECT_TRUE(q.errors.empty());
        EXPECT_EQ(q.durations.at("poll_health_check").count, 4u);
        EXPECT_EQ(q.durations.at("poll_bloat").count, 4u);
        EXPECT_EQ(poller.pool_stats()->active, 0);
        EXPECT_LE(server_connections(b), 1);
    }
}
