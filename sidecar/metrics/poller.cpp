// poller.cpp — the background poll behind /metrics and /readyz.
#include "metrics/poller.hpp"

#include <algorithm>
#include <chrono>

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "backup/backup.hpp"
#include "db.hpp"
#include "dsn_params.hpp"
#include "wall_clock.hpp"

namespace vigil {

std::vector<HealthCheckRow> fetch_health_checks(db::Connection &conn) {
    return fetch_health_checks([&conn](const std::string &sql) { return conn.exec(sql); });
}

std::vector<HealthCheckRow> fetch_health_checks(const std::function<db::Result(const std::string &)> &exec) {
    db::Result r = exec("SELECT check_name, status, severity, current_value, threshold, detail, recommendation"
                        "  FROM vigil.health_check()");
    std::vector<HealthCheckRow> rows;
    for (int i = 0; i < r.rows(); ++i) {
        HealthCheckRow row;
        row.check_name = r.value(i, 0);
        row.status = r.value(i, 1);
        row.severity = r.is_null(i, 2) ? 3 : std::stoi(r.value(i, 2));
        row.current_value = r.value(i, 3);
        row.threshold = r.value(i, 4);
        row.detail = r.value(i, 5);
        row.recommendation = r.value(i, 6);
        rows.push_back(row);
    }
    return rows;
}

bool HealthSnapshot::critical() const {
    for (const auto &c : checks)
        if (c.severity == 2)
            return true;
    return false;
}

namespace {

// The pool the poll borrows from: a connect timeout, so an unreachable server fails fast.
std::shared_ptr<pool::Pool> make_pool(pool::Settings settings) {
    settings.dsn = dsn_with(settings.dsn, {{"connect_timeout", "5"}});
    return std::make_shared<pool::Pool>(settings);
}

bool same_pool(const pool::Settings &a, const pool::Settings &b) {
    return a.dsn == b.dsn && a.max_size == b.max_size && a.min_idle == b.min_idle &&
           a.acquire_timeout == b.acquire_timeout && a.idle_timeout == b.idle_timeout &&
           a.max_lifetime == b.max_lifetime && a.validation_interval == b.validation_interval &&
           a.statement_timeout == b.statement_timeout && a.leak_detection_threshold == b.leak_detection_threshold &&
           a.application_name == b.application_name && a.named_statements == b.named_statements;
}

} // namespace

HealthPoller::HealthPoller(pool::Settings pool, Seconds interval, std::string backup_directory, QueryMetrics &queries)
    : settings_(std::move(pool)), pool_(make_pool(settings_)), backup_directory_(std::move(backup_directory)),
      interval_(interval), queries_(queries), snapshot_(std::make_shared<HealthSnapshot>()) {}

HealthPoller::~HealthPoller() { stop(); }

void HealthPoller::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
    finished_ = false;
    thread_ = std::thread([this] { run(); });
}

void HealthPoller::stop(Seconds deadline) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (!thread_.joinable())
        return;
    // A poll in progress may finish on its own; past the deadline its query is cancelled.
    std::unique_lock<std::mutex> lock(mutex_);
    const bool finished = done_.wait_for(lock, deadline, [this] { return finished_; });
    lock.unlock();
    if (!finished) {
        std::lock_guard<std::mutex> cancel_lock(cancel_mutex_);
        char err[256];
        if (cancel_)
            PQcancel(static_cast<PGcancel *>(cancel_), err, sizeof err);
    }
    thread_.join();
    std::lock_guard<std::mutex> pool_lock(mutex_);
    pool_.reset(); // closes the pool's connections
}

void HealthPoller::reconfigure(pool::Settings pool, Seconds interval, std::string backup_directory) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!same_pool(pool, settings_)) {
            settings_ = std::move(pool);
            pool_ = make_pool(settings_);
        }
        interval_ = interval;
        backup_directory_ = std::move(backup_directory);
        wake_requested_ = true;
    }
    wake_.notify_all();
}

void HealthPoller::poll_now() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        wake_requested_ = true;
    }
    wake_.notify_all();
}

std::optional<PoolStats> HealthPoller::pool_stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!pool_)
        return std::nullopt;
    return pool_->stats();
}

std::shared_ptr<const HealthSnapshot> HealthPoller::snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshot_;
}

void HealthPoller::run() {
    for (;;) {
        poll_once();
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait_for(lock, interval_, [this] { return stopping_ || wake_requested_; });
        wake_requested_ = false;
        if (stopping_) {
            finished_ = true;
            done_.notify_all();
            return;
        }
    }
}

void HealthPoller::poll_once() {
    std::string backup_directory;
    std::shared_ptr<pool::Pool> pool;
    Seconds interval;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        backup_directory = backup_directory_;
        pool = pool_;
        interval = interval_;
    }
    auto snap = std::make_shared<HealthSnapshot>();
    snap->polled = true;
    snap->last_poll_timestamp = now_epoch();
    snap->last_success_timestamp = snapshot()->last_success_timestamp;
    const auto t0 = std::chrono::steady_clock::now();
    pool::Lease lease;
    db::Connection *conn = nullptr;

    // Each query is timed under its own operation name and runs in a savepoint of its own: one
    // that fails (a view the role may not read, a timeout) is rolled back alone and does not abort
    // the poll's read-only transaction for the queries after it.
    auto query = [this, &conn](const std::string &operation, const std::string &sql) {
        const auto start = std::chrono::steady_clock::now();
        try {
            db::Result r = conn->exec("SAVEPOINT vigil_poll_query; " + sql);
            queries_.observe(operation, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            return r;
        } catch (const db::DbError &e) {
            queries_.observe(operation, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                             e.sqlstate().empty() ? "08006" : e.sqlstate());
            if (conn->healthy())
                conn->exec("ROLLBACK TO SAVEPOINT vigil_poll_query");
            throw;
        }
    };

    try {
        if (!pool)
            throw std::runtime_error("the pool is closed");
        const auto start = std::chrono::steady_clock::now();
        try {
            // Waiting longer than an interval for a connection would only delay the next poll.
            lease = pool->acquire("health poll", std::min(interval, Seconds(5)));
        } catch (const db::DbError &e) {
            queries_.observe("acquire", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                             e.sqlstate().empty() ? "08006" : e.sqlstate());
            throw;
        }
        conn = &lease.conn();
        {
            std::lock_guard<std::mutex> lock(cancel_mutex_);
            cancel_ = PQgetCancel(conn->get());
        }
        // A slow or locked database must not hold a poll for long; SET LOCAL leaves the pooled
        // connection as it was.
        conn->exec("BEGIN READ ONLY; SET LOCAL statement_timeout = '10s'; SET LOCAL lock_timeout = '2s'");
        db::Result db = query("poll_database",
                              "SELECT current_database(), pg_database_size(current_database()),"
                              "       (SELECT max(age(datfrozenxid)) FROM pg_database),"
                              "       (SELECT max(mxid_age(datminmxid)) FROM pg_database),"
                              "       (SELECT max(n_dead_tup::float8 / (n_live_tup + n_dead_tup)) FROM pg_stat_user_tables"
                              "         WHERE n_live_tup + n_dead_tup >= 1000),"
                              "       pg_is_in_recovery(),"
                              // From the catalogs, not to_regprocedure(): that raises 42501 for a
                              // schema the role may not use, and the poll would read as down.
                              "       EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                              "                WHERE n.nspname = 'vigil' AND p.proname = 'health_check' AND p.pronargs = 0),"
                              "       EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                              "                WHERE n.nspname = 'vigil' AND c.relname = 'table_bloat')");
        snap->database = db.value(0, 0);
        snap->database_size_bytes = std::stoll(db.value(0, 1));
        snap->xid_age = std::stoll(db.value(0, 2));
        snap->mxid_age = std::stoll(db.value(0, 3));
        if (!db.is_null(0, 4))
            snap->dead_tuple_ratio_max = std::stod(db.value(0, 4));
        const bool standby = db.value(0, 5) == "t";
        snap->health_checks_available = db.value(0, 6) == "t";
        const bool bloat_view = db.value(0, 7) == "t";

        db::Result act = query("poll_activity", "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity"
                                                " WHERE backend_type = 'client backend' GROUP BY 1");
        for (int i = 0; i < act.rows(); ++i)
            snap->connections[act.value(i, 0)] = std::stoi(act.value(i, 1));

        db::Result locks = query("poll_locks", "SELECT count(DISTINCT pid),"
                                               "       coalesce(extract(epoch FROM max(clock_timestamp() - waitstart)), 0)"
                                               "  FROM pg_locks WHERE NOT granted");
        snap->lock_waiters = std::stoi(locks.value(0, 0));
        snap->longest_lock_wait_seconds = std::stod(locks.value(0, 1));

        if (standby) {
            db::Result lag = query("poll_replication",
                                   "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                                   "  ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END");
            snap->replication.push_back({"self", "", std::stod(lag.value(0, 0))});
        } else {
            db::Result lag = query("poll_replication",
                                   "SELECT coalesce(application_name, ''), coalesce(client_addr::text, 'local'),"
                                   "       coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication");
            for (int i = 0; i < lag.rows(); ++i)
                snap->replication.push_back({lag.value(i, 0), lag.value(i, 1), std::stod(lag.value(i, 2))});
        }

        if (bloat_view) {
            // An estimate the view itself does not trust is left out rather than exported.
            try {
                db::Result bloat = query("poll_bloat", "SELECT max(bloat_ratio) FROM vigil.table_bloat"
                                                       " WHERE estimate_quality = 'good'");
                if (!bloat.is_null(0, 0))
                    snap->bloat_ratio_max = std::stod(bloat.value(0, 0));
            } catch (const db::DbError &e) {
                spdlog::warn("vigil.table_bloat: {} (SQLSTATE {})", e.what(), e.sqlstate());
                if (!conn->healthy())
                    throw;
            }
        }

        if (snap->health_checks_available) {
            try {
                snap->checks = fetch_health_checks(
                    [&](const std::string &sql) { return query("poll_health_check", sql); });
            } catch (const db::DbError &e) {
                snap->health_checks_error = std::string(e.what()) + " (SQLSTATE " + e.sqlstate() + ")";
                spdlog::warn("vigil.health_check(): {}", snap->health_checks_error);
                if (!conn->healthy())
                    throw;
            }
        } else {
            snap->health_checks_error = "vigil.health_check() does not exist: CREATE EXTENSION pgvigil";
        }
        conn->exec("COMMIT");
        snap->up = true;
        snap->last_success_timestamp = snap->last_poll_timestamp;
    } catch (const std::exception &e) {
        snap->up = false;
        snap->error = e.what();
        spdlog::warn("health poll failed: {}", e.what());
        if (lease && !lease.conn().healthy())
            lease.mark_broken();
    }
    {
        std::lock_guard<std::mutex> lock(cancel_mutex_);
        if (cancel_)
            PQfreeCancel(static_cast<PGcancel *>(cancel_));
        cancel_ = nullptr;
    }
    lease = pool::Lease(); // back to the pool (rolled back there if a query failed)

    if (!backup_directory.empty()) {
        const auto backups = backup::list_backups(backup_directory);
        if (!backups.empty()) {
            snap->newest_backup_timestamp = backups.front().second.created_at;
            snap->newest_backup = backups.front().first;
        }
    }
    snap->poll_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_ = snap;
}

} // namespace vigil
