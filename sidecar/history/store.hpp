// store.hpp — the console's history: what the fleet looked like over the last history.retention,
// kept across restarts in one embedded SQLite file (docs/history.md). The daemon works without it:
// a locked, corrupt, unwritable or too-new file makes the store unavailable with one log line,
// every call then does nothing and returns empty history, and the store retries opening the file
// every few record() calls, so a fixed problem recovers by itself.
//
// Thread-safe: one writer (the Recorder's thread, or whoever calls record()) and any number of
// readers (console requests). The readers share a second connection, which sees the last committed
// capture and never waits for a capture or a merge in progress.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config.hpp"
#include "fleet/fleet_snapshot.hpp"

struct sqlite3;

namespace vigil::history {

// The metrics record() stores, one series per (target, database, metric, label). `database` is ""
// for a target's own series ("up"); `label` is "" for a metric without one.
//
//   metric                          label            value
//   up                              ""               1 the target's last poll reached it, 0 not (database "")
//   connections                     state            client backends in that state ("active", "idle",
//                                                    "idle in transaction", ...; a known state absent
//                                                    from a poll is stored as 0)
//   lock_waiters                    ""               sessions waiting for a lock
//   longest_lock_wait_seconds       ""               the longest of those waits
//   replication_lag_seconds         standby name     replay lag of each standby (on a primary)
//   database_size_bytes             ""               pg_database_size
//   xid_age                         ""               age(datfrozenxid)
//   table_size_bytes                "schema.table"   pg_total_relation_size of the top tables (slow)
//   statement_calls                 queryid          cumulative counters of pg_stat_statements (slow) for
//   statement_total_time_seconds    queryid          the top statements (plan + execution time);
//   statement_rows                  queryid          use statement_history() for per-interval
//   statement_shared_blks_hit       queryid          deltas, statement_text() for the text
//   statement_shared_blks_read      queryid
//   check_severity                  check_name       0 ok, 1 warning, 2 critical, 3 unknown
//   newest_backup_timestamp         ""               Unix time of the newest completed backup
//
// A database that was down at a capture gets no points for it (a gap, not zeros).
namespace metric {
inline constexpr const char *up = "up";
inline constexpr const char *connections = "connections";
inline constexpr const char *lock_waiters = "lock_waiters";
inline constexpr const char *longest_lock_wait_seconds = "longest_lock_wait_seconds";
inline constexpr const char *replication_lag_seconds = "replication_lag_seconds";
inline constexpr const char *database_size_bytes = "database_size_bytes";
inline constexpr const char *xid_age = "xid_age";
inline constexpr const char *table_size_bytes = "table_size_bytes";
inline constexpr const char *statement_calls = "statement_calls";
inline constexpr const char *statement_total_time_seconds = "statement_total_time_seconds";
inline constexpr const char *statement_rows = "statement_rows";
inline constexpr const char *statement_shared_blks_hit = "statement_shared_blks_hit";
inline constexpr const char *statement_shared_blks_read = "statement_shared_blks_read";
inline constexpr const char *check_severity = "check_severity";
inline constexpr const char *newest_backup_timestamp = "newest_backup_timestamp";
} // namespace metric

struct SeriesKey {
    std::string target, database, metric, label;
};

// One point of a series. A raw point has max == value; a downsampled one (or one merged to fit
// max_points) has the average of its interval in `value` and the largest value in `max`.
struct Point {
    double timestamp = 0; // Unix time, start of the interval for a downsampled point
    double value = 0;
    double max = 0;
};

// One interval of a statement's history: what it did between two captures (or between the ends of
// two downsampled intervals). Intervals across a statistics reset (a counter going down) are left out.
struct StatementInterval {
    double start = 0, end = 0; // Unix times
    double calls = 0, total_time_seconds = 0, rows = 0, shared_blks_hit = 0, shared_blks_read = 0;
    double mean_time_seconds() const { return calls > 0 ? total_time_seconds / calls : 0; }
};

struct StatementHistory {
    std::string queryid, text;                // text: the short text (empty when never seen)
    std::vector<StatementInterval> intervals; // oldest first
};

// A statement's totals over a time range, for a "slowest statements this week" list.
struct StatementTotal {
    std::string queryid, text;
    double calls = 0, total_time_seconds = 0, rows = 0, shared_blks_hit = 0, shared_blks_read = 0;
};

// How often, and how long, each resolution is kept. The slow series (table sizes and statement
// counters: ~80% of the series, changing slowly or cumulative) are captured once per slow_interval
// (0: at every capture), the others at every capture. Points younger than raw_for are kept as captured; older
// ones are merged into 5-minute points (average and maximum), those older than five_minute_for into 1-hour
// points, and everything older than `retention` is deleted.
struct Resolution {
    double raw_for = 24 * 3600.0;
    double five_minute_for = 7 * 24 * 3600.0;
    double retention = 14 * 24 * 3600.0;
    double slow_interval = 300;
};

// The file a HistoryConfig names: `path`, or history.sqlite3 in `state_directory` when it is empty.
std::string store_path(const HistoryConfig &config, const std::string &state_directory);

// The version of the schema this build writes (PRAGMA user_version of the file).
inline constexpr int schema_version = 1;

class Store {
  public:
    // Opens (or creates) `path`, creating its directory (mode 0750) when absent. Never throws for
    // a bad file: the store is then unavailable (status() says why, logged once).
    // `retry_every`: a failed or unavailable store tries to open the file again at every
    // retry_every-th record() call.
    explicit Store(std::string path, Resolution resolution = {}, int retry_every = 5);
    Store(const std::string &path, const HistoryConfig &config, int retry_every = 5);
    ~Store();
    Store(const Store &) = delete;
    Store &operator=(const Store &) = delete;

    // Stores one capture of the fleet at Unix time `now` (one transaction), then does a bounded
    // amount of downsampling and pruning. A failure makes the store unavailable (logged once).
    void record(const fleet::FleetSnapshot &fleet, double now);

    // The points of one series with timestamp in [since, until], oldest first, at the finest
    // resolution kept for each part of the range. When there are more than max_points (0: no
    // limit), neighbours are merged into max_points equal time buckets (average, maximum).
    // Empty for an unknown series or an unavailable store.
    std::vector<Point> series(const SeriesKey &key, double since, double until,
                              std::size_t max_points = 0) const;

    // The labels of a metric for which points are stored (standbys, tables, queryids, check
    // names, connection states), sorted.
    std::vector<std::string> series_labels(const std::string &target, const std::string &database,
                                           const std::string &metric) const;
    // The targets, and a target's databases, with stored series; sorted.
    std::vector<std::string> targets() const;
    std::vector<std::string> databases(const std::string &target) const;

    // One statement's per-interval deltas in [since, until], at most max_points intervals (0: no limit).
    StatementHistory statement_history(const std::string &target, const std::string &database,
                                       const std::string &queryid, double since, double until,
                                       std::size_t max_points = 0) const;
    // The statements with the most total time in [since, until] (summed deltas), at most `limit`.
    std::vector<StatementTotal> top_statements(const std::string &target, const std::string &database,
                                               double since, double until, std::size_t limit = 20) const;
    // A statement's short text; "" when unknown.
    std::string statement_text(const std::string &target, const std::string &database,
                               const std::string &queryid) const;

    bool available() const;
    // "available: /var/lib/vigil/history.sqlite3", or "unavailable: <path> <why>", for the console.
    std::string status() const;
    const std::string &path() const { return path_; }
    // The file's size in bytes (database, WAL not included); 0 when unavailable.
    long long size_bytes() const;

    // Tries to open the file now (record() does this every retry_every calls while unavailable).
    bool reopen();

  private:
    struct Impl;   // the writer's connection and statements
    struct Reader; // the readers' connection
    // Both hold mutex_; lock order: mutex_, then read_mutex_.
    bool open_locked();
    // Closes the file and marks the store unavailable; logs `why` once per outage.
    void fail_locked(const std::string &why) const;
    void maintain_locked(double now);
    // Runs `body` on the readers' connection; T{} when unavailable or when it fails.
    template <class T, class Body> T read(Body body) const;
    std::string path_;
    Resolution resolution_;
    int retry_every_;
    mutable std::mutex mutex_;           // the writer: record(), opening, failing
    mutable std::unique_ptr<Impl> impl_; // null while unavailable
    mutable bool warned_ = false;        // the current outage is logged
    int calls_since_failure_ = 0;
    mutable std::mutex read_mutex_; // the readers: a read never waits for a capture in progress
    mutable std::unique_ptr<Reader> reader_;
    mutable std::string status_; // guarded by read_mutex_
};

} // namespace vigil::history
