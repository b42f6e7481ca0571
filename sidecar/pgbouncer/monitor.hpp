// monitor.hpp — PgBouncer seen through its admin console (dbname=pgbouncer): a background poll
// of SHOW POOLS, SHOW STATS and SHOW LISTS into an immutable Snapshot, its Prometheus families
// and its health checks (waiting clients, longest wait). Columns are read by name, so PgBouncer
// versions that add, drop or reorder columns parse the same.
//
//     pgbouncer::Monitor m(config.pgbouncers[0], std::chrono::seconds(10), std::chrono::seconds(3));
//     m.start();                                   // polls every interval on its own thread
//     pgbouncer::render_metrics(exposition, *m.snapshot());
//     for (auto &row : pgbouncer::checks(*m.snapshot())) ...
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "db.hpp"
#include "metrics/exposition.hpp"
#include "metrics/poller.hpp"

namespace vigil::pgbouncer {

// One admin-console answer as text: column names and rows (a NULL is nullopt).
struct Table {
    std::vector<std::string> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
    static Table from(const db::Result &result);
};

// One row of SHOW POOLS: a (database, user) pool.
struct Pool {
    std::string database, user, pool_mode;
    long long cl_active = 0, cl_waiting = 0; // client connections paired with a server / queued
    long long sv_active = 0, sv_idle = 0, sv_used = 0;
    double maxwait_seconds = 0; // how long the oldest waiting client has waited
};

// One row of SHOW STATS: a database's totals since PgBouncer started and its averages over the
// last stats_period (15 s by default). Times in seconds.
struct DatabaseStats {
    std::string database;
    double total_xact_count = 0, total_query_count = 0, total_received_bytes = 0, total_sent_bytes = 0;
    double total_xact_seconds = 0, total_query_seconds = 0, total_wait_seconds = 0;
    double avg_xact_seconds = 0, avg_query_seconds = 0, avg_wait_seconds = 0;
};

// SHOW POOLS / SHOW STATS / SHOW LISTS parsed by column name. Throws std::runtime_error when a
// column without which a row means nothing is missing (database, user; list, items).
std::vector<Pool> parse_pools(const Table &table);
std::vector<DatabaseStats> parse_stats(const Table &table);
std::map<std::string, long long> parse_lists(const Table &table);

// What the last poll of one PgBouncer saw. The numbers are meaningful only when `up`.
struct Snapshot {
    std::string name; // [[pgbouncers]] name, the `pgbouncer` label
    bool polled = false, up = false;
    std::string error; // why the last poll failed ("" when up)
    double poll_timestamp = 0, last_success_timestamp = 0, poll_seconds = 0;
    std::vector<Pool> pools;
    std::vector<DatabaseStats> stats;
    std::map<std::string, long long> lists; // SHOW LISTS: databases, pools, used_servers, ...
};

// Runs one poll: connects if `conn` is not healthy (connect_timeout from `timeout`), then the
// three SHOWs, each given up after `timeout` (the connection is then closed). Never throws:
// failures are the snapshot's `error`. `previous` carries last_success_timestamp over.
Snapshot poll(const PgBouncerConfig &target, db::Connection &conn, Seconds timeout,
              const Snapshot *previous = nullptr);

// The admin console's DSN: `dsn` with dbname=pgbouncer unless it names a database.
std::string admin_dsn(const std::string &dsn);

// Polls one PgBouncer every `interval` on its own thread, keeping its own connection.
class Monitor {
  public:
    Monitor(PgBouncerConfig target, Seconds interval, Seconds timeout);
    ~Monitor();
    Monitor(const Monitor &) = delete;
    Monitor &operator=(const Monitor &) = delete;

    void start(); // polls at once, then every interval
    void stop();  // joins the thread; a poll in progress ends within `timeout`
    // Polls now on the calling thread, publishes and returns the result.
    std::shared_ptr<const Snapshot> poll_once();
    // The latest snapshot (polled = false before the first poll). Never waits for a poll.
    std::shared_ptr<const Snapshot> snapshot() const;
    const PgBouncerConfig &target() const { return target_; }

  private:
    PgBouncerConfig target_;
    Seconds interval_, timeout_;
    std::mutex poll_mutex_; // one poll at a time owns conn_
    db::Connection conn_;
    mutable std::mutex mutex_;
    std::shared_ptr<const Snapshot> latest_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

// The vigil_pgbouncer_* families (docs/pgbouncer.md). Only up and last_success_timestamp when the
// console could not be read: old numbers are not shown as current.
void render_metrics(metrics::Exposition &out, const Snapshot &snapshot);

// Thresholds of the two checks (defaults in docs/pgbouncer.md).
struct CheckThresholds {
    double waiting_warning = 5, waiting_critical = 20;  // clients waiting in one pool
    double max_wait_warning = 1, max_wait_critical = 5; // seconds the oldest has waited
};

// pgbouncer_waiting_clients and pgbouncer_max_wait, graded on the worst pool (named in the
// detail); unknown when the console could not be read.
std::vector<HealthCheckRow> checks(const Snapshot &snapshot, const CheckThresholds &thresholds = {});

// One Monitor per [[pgbouncers]] entry, for `vigild serve`:
//
//     pgbouncer::Monitors bouncers(config.pgbouncers, config.health.interval, timeout);
//     bouncers.start();                       // at start-up; stop() (or the destructor) at exit
//     bouncers.render_metrics(exposition);    // in the /metrics handler
//     auto rows = bouncers.checks();          // beside the database's checks
class Monitors {
  public:
    Monitors(const std::vector<PgBouncerConfig> &targets, Seconds interval, Seconds timeout);
    void start();
    void stop();
    void render_metrics(metrics::Exposition &out) const; // every target's latest snapshot
    std::vector<HealthCheckRow> checks(const CheckThresholds &thresholds) const;
    std::vector<HealthCheckRow> checks() const;
    std::size_t size() const { return monitors_.size(); }

  private:
    std::vector<std::unique_ptr<Monitor>> monitors_;
};

// For `vigild check`: polls each target once (at most `timeout` each) and returns its checks.
std::vector<HealthCheckRow> check_once(const std::vector<PgBouncerConfig> &targets, Seconds timeout);

} // namespace vigil::pgbouncer
