// poller.hpp — `vigild serve`'s view of the database: a background thread polls every
// health.interval through serve's connection pool and keeps the last result in memory, so a
// scrape never waits for the database.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "db.hpp"
#include "pool/pool.hpp"
#include "pool/stats.hpp"
#include "metrics/query_metrics.hpp"

namespace vigil {

// One row of vigil.health_check().
struct HealthCheckRow {
    std::string check_name, status;
    int severity = 3; // 0 ok, 1 warning, 2 critical, 3 unknown
    std::string current_value, threshold, detail, recommendation;
};

// Runs vigil.health_check() (ordered by severity, worst first); throws db::DbError.
std::vector<HealthCheckRow> fetch_health_checks(db::Connection &conn);
// The same through `exec`, which runs one statement (the poller's timed savepoint query).
std::vector<HealthCheckRow> fetch_health_checks(const std::function<db::Result(const std::string &)> &exec);

struct StandbyLag {
    std::string standby, client_addr;
    double seconds = 0;
};

// What the last poll saw. Database fields are meaningful only when `up`.
struct HealthSnapshot {
    bool polled = false;
    bool up = false;
    double last_poll_timestamp = 0, last_success_timestamp = 0, poll_seconds = 0;
    std::string error; // why the last poll failed
    std::string database;
    bool health_checks_available = false; // the extension's vigil.health_check() exists
    std::string health_checks_error;
    std::vector<HealthCheckRow> checks;
    std::map<std::string, int> connections; // client backends by state
    int lock_waiters = 0;
    double longest_lock_wait_seconds = 0;
    std::vector<StandbyLag> replication;
    std::optional<double> dead_tuple_ratio_max;
    // The worst bloat_ratio of vigil.table_bloat (the extension's estimate) among the rows whose
    // estimate_quality is 'good'; absent without the view or without a trustworthy estimate.
    std::optional<double> bloat_ratio_max;
    long long xid_age = 0, mxid_age = 0, database_size_bytes = 0;
    // The newest completed backup in backup.directory (0 when there is none).
    double newest_backup_timestamp = 0;
    std::string newest_backup;

    bool critical() const; // a check is critical
};

class HealthPoller {
  public:
    // `pool` configures serve's connection pool, which the poll borrows from.
    HealthPoller(pool::Settings pool, Seconds interval, std::string backup_directory, QueryMetrics &queries);
    ~HealthPoller();
    void start();
    // Stops after the poll in progress, cancelling its query after `deadline`, and closes the pool.
    void stop(Seconds deadline = Seconds(5));
    // New settings take effect at the next poll, which happens at once. Changed pool settings
    // (or DSN) start a new pool; the old one closes when its last connection is returned.
    void reconfigure(pool::Settings pool, Seconds interval, std::string backup_directory);
    void poll_now();
    std::shared_ptr<const HealthSnapshot> snapshot() const;
    // The pool's statistics; nullopt once it is closed.
    std::optional<PoolStats> pool_stats() const;
    // One poll, synchronously (tests, `start` uses it in its thread).
    void poll_once();

  private:
    void run();
    pool::Settings settings_;
    std::shared_ptr<pool::Pool> pool_;
    std::string backup_directory_;
    Seconds interval_;
    QueryMetrics &queries_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    bool stopping_ = false, wake_requested_ = false, finished_ = false;
    std::shared_ptr<const HealthSnapshot> snapshot_;
    std::mutex cancel_mutex_; // guards cancel_ for stop()
    void *cancel_ = nullptr;  // PGcancel of the borrowed connection during a poll
    std::thread thread_;
};

} // namespace vigil
