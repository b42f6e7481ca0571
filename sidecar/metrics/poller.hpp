// poller.hpp — `vigild serve`'s view of one database: a background thread polls it every
// health.interval through a small pool of its own and keeps the last result in memory, so a
// scrape never waits for the database. A fleet target (fleet/target_poller.hpp) runs one
// HealthPoller per database, sharing the target's connection budget (PollSlots).
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
#include "db_wait.hpp"
#include "pool/pool.hpp"
#include "pool/stats.hpp"
#include "metrics/query_metrics.hpp"
#include "metrics/replication.hpp"

namespace vigil {

// One row of vigil.health_check().
struct HealthCheckRow {
    std::string check_name, status;
    int severity = 3; // 0 ok, 1 warning, 2 critical, 3 unknown
    std::string current_value, threshold, detail, recommendation;
};

// A health check's current_value ("73.2%", "1.5 s", "12 MB", "3", "5e-08") as a number in base
// units: a fraction, seconds, bytes or the plain number. nullopt for anything else ("", "n/a").
std::optional<double> health_check_number(const std::string &current_value);

// A statement's text as a label: whitespace runs collapsed to one space, at most `max_chars`
// characters (UTF-8 code points), bytes that are not UTF-8 replaced by U+FFFD.
std::string short_statement_text(const std::string &query, std::size_t max_chars = 60);

// The row that stands for the checks of a database without the extension (severity unknown):
// the poll and `vigild check` report it instead of no rows at all.
HealthCheckRow extension_missing_check();

// Runs vigil.health_check() (ordered by severity, worst first); throws db::DbError.
std::vector<HealthCheckRow> fetch_health_checks(db::Connection &conn);
// The same through `exec`, which runs one statement (the poller's timed savepoint query).
std::vector<HealthCheckRow> fetch_health_checks(const std::function<db::Result(const std::string &)> &exec);

struct StandbyLag {
    std::string standby, client_addr;
    double seconds = 0;
};

// One row of a statistics view: the labels that identify it (database, slot, table, ...) and its
// numeric columns by name, in the units the metrics use. A NULL column is absent.
struct StatRow {
    std::vector<std::pair<std::string, std::string>> labels;
    std::map<std::string, double> values;
};

// How much of the unbounded families the poll collects (metrics.top_tables, metrics.top_statements);
// 0 turns a family off.
struct PollLimits {
    int top_tables = 20;
    int top_statements = 20;
    static PollLimits from_config(const MetricsConfig &metrics) {
        return {metrics.top_tables, metrics.top_statements};
    }
};

// At most `n` polls of one server at a time: the databases of a fleet target share one, so the
// target never has more than its `connections` open at once. Thread-safe.
class PollSlots {
  public:
    explicit PollSlots(int n) : free_(n) {}
    // Waits up to `timeout` (or until *abandon) for a slot; false when none came free.
    bool acquire(Seconds timeout, const std::atomic<bool> *abandon = nullptr);
    void release();

  private:
    std::mutex mutex_;
    std::condition_variable freed_;
    int free_;
};

// How one database is polled as part of a target.
struct PollScope {
    // Collect the server-wide families (activity, locks, replication, pg_stat_database,
    // bgwriter, WAL, archiver, slots) in this database's poll: one database per server does.
    bool server_wide = true;
    // statement_timeout of each poll query and libpq's connect_timeout; the client waits 2 s
    // more for an answer before it closes the connection (a frozen server).
    Seconds timeout{10};
    std::shared_ptr<PollSlots> slots; // shared by a target's databases; null: the pool bounds alone
};

// How long a poll waits for an answer beyond the statement_timeout it sets (PollScope::timeout).
// A server that stays silent longer (frozen, or the network gone) gets the connection closed and
// the poll reads as down.
inline constexpr Seconds kPollAnswerGrace{2};

// The DSN with libpq's connect_timeout for a poll `timeout` (whole seconds, at least 2).
std::string dsn_with_poll_timeout(const std::string &dsn, Seconds timeout);
// When a statement sent now under a poll `timeout` has waited long enough for its answer: the
// timeout and kPollAnswerGrace more.
db::WaitClock::time_point poll_answer_deadline(Seconds timeout);

// What the last poll saw. Database fields are meaningful only when `up`.
struct HealthSnapshot {
    bool polled = false;
    bool up = false;
    bool server_wide = true;         // the server-wide fields below were collected (PollScope)
    std::optional<bool> in_recovery; // pg_is_in_recovery() of the last successful poll
    double last_poll_timestamp = 0, last_success_timestamp = 0, poll_seconds = 0;
    std::string error; // why the last poll failed
    std::string database;
    bool health_checks_available = false; // the extension's vigil.health_check() exists
                                          // (without it `checks` is {extension_missing_check()})
    std::string health_checks_error;
    std::vector<HealthCheckRow> checks;
    std::map<std::string, int> connections; // client backends by state
    int lock_waiters = 0;
    double longest_lock_wait_seconds = 0;
    std::vector<StandbyLag> replication;
    // pg_stat_wal_receiver and pg_stat_replication in full; nullopt when the queries failed.
    std::optional<ReplicationView> replication_view;
    std::optional<double> dead_tuple_ratio_max;
    // The worst bloat_ratio of vigil.table_bloat (the extension's estimate) among the rows whose
    // estimate_quality is 'good'; absent without the view or without a trustworthy estimate.
    std::optional<double> bloat_ratio_max;
    long long xid_age = 0, mxid_age = 0, database_size_bytes = 0;
    // The statistics views; each is nullopt when its query failed (or was not run), and its
    // families are then left out rather than exported as zero.
    std::optional<std::vector<StatRow>> database_stats; // pg_stat_database, one row per database
    std::optional<StatRow> bgwriter;                    // pg_stat_bgwriter
    std::optional<StatRow> wal;                         // pg_stat_wal, and lsn_bytes on a primary
    std::optional<StatRow> archiver;                    // pg_stat_archiver
    std::optional<std::vector<StatRow>> replication_slots;
    std::optional<std::vector<StatRow>> tables;     // the PollLimits::top_tables largest
    std::optional<std::vector<StatRow>> statements; // the PollLimits::top_statements slowest in total
    // The newest completed backup in backup.directory (0 when there is none).
    double newest_backup_timestamp = 0;
    std::string newest_backup;

    bool critical() const; // a check is critical
};

class HealthPoller {
  public:
    // `pool` configures serve's connection pool, which the poll borrows from.
    HealthPoller(pool::Settings pool, Seconds interval, std::string backup_directory, PollLimits limits,
                 QueryMetrics &queries, PollScope scope = {});
    ~HealthPoller();
    void start();
    // Stops after the poll in progress, cancelling its query after `deadline`, and closes the pool.
    void stop(Seconds deadline = Seconds(5));
    // New settings take effect at the next poll, which happens at once. Changed pool settings
    // (or DSN) start a new pool; the old one closes when its last connection is returned.
    void reconfigure(pool::Settings pool, Seconds interval, std::string backup_directory, PollLimits limits);
    void poll_now();
    std::shared_ptr<const HealthSnapshot> snapshot() const;
    // The pool's statistics; nullopt once it is closed.
    std::optional<PoolStats> pool_stats() const;
    // One poll, synchronously (tests, `start` uses it in its thread).
    void poll_once();

  private:
    void run();
    // The top statements of pg_stat_statements in `schema`, their texts from statement_texts_
    // (fetched only for statements new to the top).
    std::vector<StatRow>
    poll_statements(const std::function<db::Result(const std::string &, const std::string &)> &query,
                    const std::string &schema, int limit);
    pool::Settings settings_;
    std::shared_ptr<pool::Pool> pool_;
    std::string backup_directory_;
    PollLimits limits_;
    PollScope scope_;
    Seconds interval_;
    QueryMetrics &queries_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    bool stopping_ = false, wake_requested_ = false, finished_ = false;
    std::shared_ptr<const HealthSnapshot> snapshot_;
    std::mutex poll_mutex_;                              // one poll at a time; guards statement_texts_
    std::map<std::string, std::string> statement_texts_; // queryid → short text, of the last top statements
    std::weak_ptr<pool::Pool> texts_pool_;               // the pool (server) statement_texts_ came from
    // The statements the last successful poll asked for, in order: the next poll sends them as
    // one pipeline. Guarded by poll_mutex_.
    std::vector<std::string> predicted_;
    // The last successful poll saw a statement fail: the next one gives each a group of its own.
    bool isolate_ = false;
    std::mutex cancel_mutex_;      // guards cancel_ for stop()
    std::shared_ptr<void> cancel_; // PGcancel of the borrowed connection during a poll (stop() may share it)
    std::atomic<bool> abandon_{
        false}; // set by stop() past its deadline: the poll stops waiting for the server
    std::thread thread_;
};

} // namespace vigil
