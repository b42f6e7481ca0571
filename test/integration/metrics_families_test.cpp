// The PostgreSQL statistics families of `vigild serve` against the real cluster: each is provoked
// (commits, a sort that spills, a checkpoint, a replication slot, tables, a statement) and its
// value is read back from /metrics.
#include <chrono>
#include <csignal>
#include <iostream>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "daemon_process.hpp"
#include "db.hpp"
#include "metrics/poller.hpp"
#include "scratch_database.hpp"
#include "test_support.hpp"

using namespace vigil;
using namespace vigil::test;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

namespace {

// A configuration polling every second, with extra [metrics] lines.
std::string families_config(int port, const std::string &dsn, const std::string &metrics = "") {
    return "[database]\ndsn = \"" + dsn + "\"\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) +
           "\"\n" + metrics + "[health]\ninterval = \"1s\"\n";
}

// A daemon that is up (its first poll reached the database) on `port`.
void wait_up(const Daemon &d, int port) {
    ASSERT_TRUE(wait_until([&] { return get(port, "/metrics") && scrape(port).value("vigil_up") == 1.0; }))
        << d.log();
}

void stop(Daemon &d) {
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(10s), 0) << d.log();
}

// The label values of `label` among the samples of `name`.
std::set<std::string> label_values(const PromExposition &e, const std::string &name,
                                   const std::string &label) {
    std::set<std::string> out;
    for (const auto &s : e.samples)
        if (s.name == name && s.labels.count(label))
            out.insert(s.labels.at(label));
    return out;
}

// The value of one sample; throws (failing the test) when there is none.
double at(const PromExposition &e, const std::string &name,
          const std::map<std::string, std::string> &labels = {}) {
    if (auto v = e.value(name, labels))
        return *v;
    throw std::runtime_error("no sample " + name);
}

// Waits until a scrape satisfies `condition`; returns that scrape (the last one when it never did).
PromExposition scrape_until(int port, const std::function<bool(const PromExposition &)> &condition,
                            std::chrono::milliseconds limit = 20s) {
    PromExposition e;
    wait_until(
        [&] {
            e = scrape(port);
            return condition(e);
        },
        limit);
    return e;
}

} // namespace

TEST(DaemonMetricsFamilies, DatabaseCheckpointAndWalCountersMoveWithTheWorkload) {
    ScratchDatabase scratch("vigil_families_counters");
    const int port = free_port();
    Daemon d(write_temp_file(families_config(port, scratch.dsn())));
    wait_up(d, port);
    const auto before = scrape_after_next_poll(port);
    const std::map<std::string, std::string> mine = {{"database", scratch.name()}};
    const double commits = at(before, "vigil_database_transactions_committed_total", mine);
    const double temp_bytes = at(before, "vigil_database_temp_bytes_total", mine);
    const double temp_files = at(before, "vigil_database_temp_files_total", mine);
    const double requested = at(before, "vigil_checkpoints_requested_total");
    const double wal_bytes = at(before, "vigil_wal_bytes_total");
    const double lsn = at(before, "vigil_wal_lsn_bytes");
    // Every database of the server has its series.
    EXPECT_TRUE(
        before.value("vigil_database_transactions_committed_total", {{"database", "postgres"}}).has_value());
    EXPECT_EQ(before.families.at("vigil_database_temp_bytes_total").type, "counter");

    {
        // 50 commits, a sort that spills to a temporary file, WAL; the session's statistics are
        // flushed when it ends.
        db::Connection c = db::Connection::open(scratch.dsn());
        for (int i = 0; i < 50; ++i)
            c.exec("SELECT 1");
        c.exec("SET work_mem = '64kB'");
        c.exec("SELECT count(*) FROM (SELECT md5(g::text) FROM generate_series(1, 100000) g ORDER BY 1) s");
        c.exec("CREATE TABLE w AS SELECT g FROM generate_series(1, 10000) g");
        c.exec("CHECKPOINT");
    }
    const auto after = scrape_until(port, [&](const PromExposition &e) {
        return e.value("vigil_database_temp_files_total", mine).value_or(0) > temp_files &&
               e.value("vigil_database_transactions_committed_total", mine).value_or(0) >= commits + 50;
    });
    EXPECT_GE(at(after, "vigil_database_transactions_committed_total", mine), commits + 50);
    EXPECT_GE(at(after, "vigil_database_temp_files_total", mine), temp_files + 1);
    EXPECT_GT(at(after, "vigil_database_temp_bytes_total", mine), temp_bytes + 1e6) << "the sort spilled MBs";
    EXPECT_GE(at(after, "vigil_checkpoints_requested_total"), requested + 1);
    EXPECT_GT(at(after, "vigil_wal_bytes_total"), wal_bytes + 100000);
    EXPECT_GT(at(after, "vigil_wal_lsn_bytes"), lsn);
    EXPECT_TRUE(after.value("vigil_archiver_failed_total").has_value()); // 0: archiving is off
    EXPECT_FALSE(after.value("vigil_archiver_last_failed_timestamp_seconds").has_value());
    // track_io_timing is on in the harness's cluster: block reads are timed (0 or more).
    EXPECT_GE(after.value("vigil_database_block_read_seconds_total", mine).value_or(-1), 0);
    // The poll's cost, per operation, for the record.
    for (const char *op : {"poll_database_stats", "poll_bgwriter", "poll_wal", "poll_archiver",
                           "poll_replication_slots", "poll_tables"}) {
        const double sum = after.value("vigil_query_duration_seconds_sum", {{"operation", op}}).value_or(0);
        const double n = after.value("vigil_query_duration_seconds_count", {{"operation", op}}).value_or(0);
        ASSERT_GT(n, 0) << op;
        std::cout << "[ poll cost ] " << op << ": " << sum / n * 1000 << " ms per poll\n";
    }
    std::cout << "[ poll cost ] whole poll: " << at(after, "vigil_health_poll_duration_seconds") * 1000
              << " ms\n";
    stop(d);
}

TEST(DaemonMetricsFamilies, AReplicationSlotAppearsWithItsRetainedWalAndStatus) {
    db::Connection admin = db::Connection::open(test_dsn());
    const std::string slot = "vigil_families_" + std::to_string(getpid());
    admin.exec("SELECT pg_create_physical_replication_slot('" + slot + "', true)");
    admin.exec("CREATE TABLE IF NOT EXISTS vigil_families_wal (x int); INSERT INTO vigil_families_wal "
               "SELECT generate_series(1, 1000)");
    const int port = free_port();
    Daemon d(write_temp_file(families_config(port, test_dsn())));
    wait_up(d, port);
    const std::map<std::string, std::string> labels = {{"slot", slot}, {"slot_type", "physical"}};
    auto e = scrape_until(port, [&](const PromExposition &x) {
        return x.value("vigil_replication_slot_retained_bytes", labels).value_or(0) > 0;
    });
    EXPECT_GT(e.value("vigil_replication_slot_retained_bytes", labels).value_or(0), 1000 * 4) << d.log();
    EXPECT_EQ(e.value("vigil_replication_slot_active", labels), 0);
    auto status = labels;
    status["wal_status"] = "reserved";
    EXPECT_EQ(e.value("vigil_replication_slot_wal_status", status), 1);
    for (const char *other : {"extended", "unreserved", "lost"}) {
        status["wal_status"] = other;
        EXPECT_EQ(e.value("vigil_replication_slot_wal_status", status), 0) << other;
    }
    // max_slot_wal_keep_size = -1 (unlimited): no safe size.
    EXPECT_FALSE(e.value("vigil_replication_slot_safe_wal_size_bytes", labels).has_value());
    admin.exec("ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'");
    admin.exec("SELECT pg_reload_conf()");
    e = scrape_until(port, [&](const PromExposition &x) {
        return x.value("vigil_replication_slot_safe_wal_size_bytes", labels).has_value();
    });
    admin.exec("ALTER SYSTEM RESET max_slot_wal_keep_size");
    admin.exec("SELECT pg_reload_conf()");
    EXPECT_GT(e.value("vigil_replication_slot_safe_wal_size_bytes", labels).value_or(0), 0.5 * (1 << 30));

    admin.exec("SELECT pg_drop_replication_slot('" + slot + "')");
    e = scrape_until(port, [&](const PromExposition &x) {
        return !x.value("vigil_replication_slot_active", labels).has_value();
    });
    EXPECT_FALSE(e.value("vigil_replication_slot_active", labels).has_value());
    EXPECT_TRUE(e.families.count("vigil_replication_slot_active")) << "the family stays, with no slot";
    admin.exec("DROP TABLE vigil_families_wal");
    stop(d);
}

TEST(DaemonMetricsFamilies, TableMetricsCoverOnlyTheLargestTopTables) {
    ScratchDatabase scratch("vigil_families_tables");
    db::Connection c = db::Connection::open(scratch.dsn());
    // 30 tables of growing size; the largest has no index.
    c.exec("DO $$ BEGIN FOR i IN 1..29 LOOP"
           "  EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i);"
           "  EXECUTE format('INSERT INTO t%s SELECT g, md5(g::text) FROM generate_series(1, %s) g', i, i * "
           "200);"
           " END LOOP; END $$");
    c.exec("CREATE TABLE \"Big \"\"one\"\"\" AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, "
           "20000) g");
    c.exec("ANALYZE");
    c.exec("DELETE FROM t29 WHERE id <= 1000");
    c = db::Connection(); // flushes the session's statistics

    const int port = free_port();
    Daemon d(write_temp_file(families_config(port, scratch.dsn(), "top_tables = 5\n")));
    wait_up(d, port);
    const std::map<std::string, std::string> t29 = {{"schema", "public"}, {"table", "t29"}};
    const auto e = scrape_until(port, [&](const PromExposition &x) {
        return x.value("vigil_table_dead_tuples", t29).value_or(0) >= 1000;
    });
    EXPECT_EQ(label_values(e, "vigil_table_size_bytes", "table"),
              (std::set<std::string>{"Big \"one\"", "t29", "t28", "t27", "t26"}))
        << "the five largest, no more";
    EXPECT_EQ(e.count("vigil_table_size_bytes"), 5u);
    // Estimates (the server's: an ANALYZE in the inserting session counts the inserts twice); the
    // counters below are exact.
    EXPECT_GE(e.value("vigil_table_dead_tuples", t29).value_or(0), 1000);
    EXPECT_GT(e.value("vigil_table_live_tuples", t29).value_or(0), 0);
    EXPECT_EQ(e.value("vigil_table_tuples_inserted_total", t29), 29 * 200);
    EXPECT_EQ(e.value("vigil_table_tuples_deleted_total", t29), 1000);
    EXPECT_GE(e.value("vigil_table_analyzes_total", t29).value_or(0), 1);
    EXPECT_GT(e.value("vigil_table_last_analyze_timestamp_seconds", t29).value_or(0), 1.7e9);
    const std::map<std::string, std::string> big = {{"schema", "public"}, {"table", "Big \"one\""}};
    EXPECT_GT(e.value("vigil_table_size_bytes", big).value_or(0), 1e6);
    EXPECT_FALSE(e.value("vigil_table_index_scans_total", big).has_value()) << "no index, no index scans";
    EXPECT_TRUE(e.value("vigil_table_index_scans_total", t29).has_value());
    EXPECT_TRUE(e.value("vigil_table_seq_scans_total", big).has_value());

    // A table locked ACCESS EXCLUSIVE has no size in that poll, and the poll does not wait for it.
    db::Connection holder = db::Connection::open(scratch.dsn());
    holder.exec("BEGIN; LOCK TABLE t28 IN ACCESS EXCLUSIVE MODE");
    const std::map<std::string, std::string> t28 = {{"schema", "public"}, {"table", "t28"}};
    const auto locked = scrape_until(port, [&](const PromExposition &x) {
        return x.value("vigil_table_seq_scans_total", t28).has_value() &&
               !x.value("vigil_table_size_bytes", t28).has_value();
    });
    EXPECT_FALSE(locked.value("vigil_table_size_bytes", t28).has_value()) << d.log();
    EXPECT_TRUE(locked.value("vigil_table_size_bytes", t29).has_value());
    EXPECT_LT(locked.value("vigil_health_poll_duration_seconds").value_or(99), 1.5)
        << "the poll waited for the lock";
    holder.exec("COMMIT");

    // top_tables = 0 turns the family off.
    stop(d);
    const int port_off = free_port();
    Daemon off(write_temp_file(families_config(port_off, scratch.dsn(), "top_tables = 0\n")));
    wait_up(off, port_off);
    EXPECT_FALSE(scrape_after_next_poll(port_off).families.count("vigil_table_size_bytes"));
    stop(off);
}

TEST(DaemonMetricsFamilies, TopStatementsComeFromPgStatStatementsWhenItIsThere) {
    ScratchDatabase scratch("vigil_families_statements");
    const int port = free_port();
    Daemon d(write_temp_file(families_config(port, scratch.dsn())));
    wait_up(d, port);
    // Without the extension in the database the families are left out and the poll is up.
    auto e = scrape_after_next_poll(port);
    EXPECT_EQ(e.value("vigil_up"), 1);
    EXPECT_FALSE(e.families.count("vigil_statement_calls_total"));

    db::Connection c = db::Connection::open(scratch.dsn());
    c.exec("CREATE EXTENSION pg_stat_statements");
    for (int i = 0; i < 20; ++i)
        c.exec("SELECT /* vigil_families_probe */\n   count(*)   FROM generate_series(1, 20000 + " +
               std::to_string(i) + ")");
    auto probe = [](const PromExposition &x) -> std::optional<PromSample> {
        for (const auto &s : x.samples)
            if (s.name == "vigil_statement_calls_total" &&
                s.labels.at("query").find("vigil_families_probe") != std::string::npos)
                return s;
        return std::nullopt;
    };
    e = scrape_until(port, [&](const PromExposition &x) { return probe(x) && probe(x)->value >= 20; });
    const auto s = probe(e);
    ASSERT_TRUE(s.has_value()) << d.log();
    EXPECT_EQ(s->value, 20) << "one normalized statement, its constants replaced";
    const std::string query = s->labels.at("query");
    // Constants replaced by pg_stat_statements, whitespace collapsed, cut at 60 characters.
    EXPECT_EQ(query,
              std::string("SELECT /* vigil_families_probe */ count(*) FROM generate_series($1, $2 + $3)")
                  .substr(0, 60));
    const std::map<std::string, std::string> id = {{"queryid", s->labels.at("queryid")}};
    EXPECT_GT(e.value("vigil_statement_seconds_total", id).value_or(0), 0);
    EXPECT_EQ(e.value("vigil_statement_rows_total", id), 20);
    EXPECT_TRUE(e.value("vigil_statement_shared_blocks_hit_total", id).has_value());
    EXPECT_LE(e.count("vigil_statement_calls_total"), 20u); // metrics.top_statements
    EXPECT_GE(
        e.value("vigil_query_duration_seconds_count", {{"operation", "poll_statement_texts"}}).value_or(0),
        1);

    // Dropped again: left out cleanly.
    c.exec("DROP EXTENSION pg_stat_statements");
    e = scrape_until(
        port, [](const PromExposition &x) { return !x.families.count("vigil_statement_calls_total"); });
    EXPECT_FALSE(e.families.count("vigil_statement_calls_total"));
    EXPECT_EQ(e.value("vigil_up"), 1);
    stop(d);
}

TEST(DaemonMetricsFamilies, HealthCheckValuesSitBesideTheirStatusInBaseUnits) {
    db::Connection admin = db::Connection::open(test_dsn());
    admin.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    std::size_t numeric = 0;
    db::Result rows = admin.exec("SELECT current_value FROM vigil.health_check()");
    for (int i = 0; i < rows.rows(); ++i)
        numeric += !rows.is_null(i, 0) && health_check_number(rows.value(i, 0)).has_value();
    const int port = free_port();
    Daemon d(write_temp_file(families_config(port, test_dsn())));
    wait_up(d, port);
    auto e = scrape_after_next_poll(port);
    const double connections = e.value("vigil_health_check_value", {{"check", "connections"}}).value_or(-1);
    EXPECT_GT(connections, 0) << "at least vigild's own connection, as a fraction";
    EXPECT_LT(connections, 1);
    EXPECT_EQ(e.count("vigil_health_check_value"), numeric) << "one value per check whose value is a number";
    EXPECT_GE(e.count("vigil_health_check_status"), e.count("vigil_health_check_value"));

    // A lock wait of more than a second reads as seconds, not milliseconds.
    admin.exec("CREATE TABLE IF NOT EXISTS vigil_families_lock (x int)");
    db::Connection holder = db::Connection::open(test_dsn());
    holder.exec("BEGIN; LOCK TABLE vigil_families_lock IN ACCESS EXCLUSIVE MODE");
    db::Connection waiter = db::Connection::open(test_dsn());
    ASSERT_EQ(PQsendQuery(waiter.get(), "SELECT count(*) FROM vigil_families_lock"), 1);
    e = scrape_until(port, [](const PromExposition &x) {
        return x.value("vigil_health_check_value", {{"check", "lock_waits"}}).value_or(0) >= 1.5;
    });
    const double wait = e.value("vigil_health_check_value", {{"check", "lock_waits"}}).value_or(0);
    EXPECT_GE(wait, 1.5);
    EXPECT_LT(wait, 60);
    holder.exec("COMMIT");
    while (PGresult *r = PQgetResult(waiter.get()))
        PQclear(r);
    admin.exec("DROP TABLE vigil_families_lock");
    stop(d);
}
