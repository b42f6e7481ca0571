// poller.cpp — the background poll behind /metrics and /readyz.
#include "metrics/poller.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "backup/backup.hpp"
#include "db.hpp"
#include "db_wait.hpp"
#include "dsn_params.hpp"
#include "wall_clock.hpp"

namespace vigil {

std::vector<HealthCheckRow> fetch_health_checks(db::Connection &conn) {
    return fetch_health_checks([&conn](const std::string &sql) { return conn.exec(sql); });
}

std::vector<HealthCheckRow> fetch_health_checks(const std::function<db::Result(const std::string &)> &exec) {
    db::Result r =
        exec("SELECT check_name, status, severity, current_value, threshold, detail, recommendation"
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

HealthCheckRow extension_missing_check() {
    HealthCheckRow row;
    row.check_name = "extension_missing";
    row.status = "unknown";
    row.severity = 3;
    row.current_value = "not installed";
    row.detail = "pgvigil is not installed in this database: its health checks cannot run";
    row.recommendation = "CREATE EXTENSION pgvigil";
    return row;
}

bool PollSlots::acquire(Seconds timeout, const std::atomic<bool> *abandon) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
    std::unique_lock<std::mutex> lock(mutex_);
    while (free_ == 0) {
        const auto now = Clock::now();
        if ((abandon && *abandon) || now >= until)
            return false;
        // Woken by release(), or every 100 ms to see `abandon`.
        freed_.wait_until(lock, std::min(until, now + std::chrono::milliseconds(100)));
    }
    --free_;
    return true;
}

void PollSlots::release() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ++free_;
    }
    freed_.notify_one();
}

std::string dsn_with_poll_timeout(const std::string &dsn, Seconds timeout) {
    // Whole seconds, at least 2: libpq treats 1 as 2.
    return dsn_with(dsn, {{"connect_timeout",
                           std::to_string(std::max(2L, static_cast<long>(std::ceil(timeout.count()))))}});
}

db::WaitClock::time_point poll_answer_deadline(Seconds timeout) {
    return db::WaitClock::now() +
           std::chrono::duration_cast<db::WaitClock::duration>(timeout + kPollAnswerGrace);
}

std::optional<double> health_check_number(const std::string &current_value) {
    const char *begin = current_value.c_str();
    char *end = nullptr;
    const double v = std::strtod(begin, &end);
    if (end == begin || !std::isfinite(v) || std::isspace(static_cast<unsigned char>(*begin)))
        return std::nullopt;
    std::string unit = end;
    unit.erase(0, unit.find_first_not_of(' '));
    // The units of the extension's value formatter (extension/core/value_format.cpp).
    if (unit.empty())
        return v;
    if (unit == "%")
        return v / 100;
    if (unit == "ms")
        return v / 1000;
    static const std::pair<const char *, double> factors[] = {{"s", 1},
                                                              {"min", 60},
                                                              {"h", 3600},
                                                              {"d", 86400},
                                                              {"bytes", 1},
                                                              {"kB", 1024.0},
                                                              {"MB", 1024.0 * 1024},
                                                              {"GB", 1024.0 * 1024 * 1024},
                                                              {"TB", 1024.0 * 1024 * 1024 * 1024}};
    for (const auto &[name, factor] : factors)
        if (unit == name)
            return v * factor;
    return std::nullopt;
}

std::string short_statement_text(const std::string &query, std::size_t max_chars) {
    std::string out;
    std::size_t chars = 0;
    bool space = false;
    for (std::size_t i = 0; i < query.size() && chars < max_chars;) {
        const auto c = static_cast<unsigned char>(query[i]);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            space = !out.empty();
            ++i;
            continue;
        }
        // The length of a well-formed UTF-8 sequence starting here, 0 when it is not one.
        std::size_t len = c < 0x80                 ? 1
                          : c >= 0xC2 && c <= 0xDF ? 2
                          : c >= 0xE0 && c <= 0xEF ? 3
                          : c >= 0xF0 && c <= 0xF4 ? 4
                                                   : 0;
        if (len > 1) {
            if (i + len > query.size())
                len = 0;
            for (std::size_t k = 1; k < len; ++k)
                if ((static_cast<unsigned char>(query[i + k]) & 0xC0) != 0x80)
                    len = 0;
            if (len) {
                const auto c1 = static_cast<unsigned char>(query[i + 1]);
                if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
                    (c == 0xF4 && c1 > 0x8F))
                    len = 0; // overlong, surrogate or beyond U+10FFFF
            }
        }
        if (space && chars + 1 < max_chars) {
            out += ' ';
            ++chars;
        }
        space = false;
        if (len) {
            out.append(query, i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD"; // U+FFFD
            ++i;
        }
        ++chars;
    }
    return out;
}

bool HealthSnapshot::critical() const {
    for (const auto &c : checks)
        if (c.severity == 2)
            return true;
    return false;
}

namespace {

// The pool the poll borrows from: a connect timeout, so an unreachable server fails fast. It lends
// one connection once per interval, so its housekeeping need not look more often than that (a
// fleet has a pool per database: 200 of them waking four times a second cost more CPU than
// their polls).
std::shared_ptr<pool::Pool> make_pool(pool::Settings settings, Seconds timeout, Seconds interval) {
    settings.dsn = dsn_with_poll_timeout(settings.dsn, timeout);
    settings.housekeeping_interval =
        std::max(settings.housekeeping_interval,
                 std::min(std::chrono::duration_cast<std::chrono::milliseconds>(interval),
                          std::chrono::milliseconds(5000)));
    return std::make_shared<pool::Pool>(settings);
}

// A number of the poll's queries; nullopt for NULL or for text that is not one (NaN included).
std::optional<double> number(const db::Result &r, int row, int col) {
    if (r.is_null(row, col))
        return std::nullopt;
    const std::string text = r.value(row, col);
    char *end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || std::isnan(v))
        return std::nullopt;
    return v;
}

// The rows of a statistics query: its first columns are the labels, named by `labels`; every
// other column is a number named by its column name (a NULL one is left out).
std::vector<StatRow> stat_rows(const db::Result &r, const std::vector<std::string> &labels) {
    std::vector<StatRow> rows;
    const int first_value = static_cast<int>(labels.size());
    for (int i = 0; i < r.rows(); ++i) {
        StatRow row;
        for (int c = 0; c < first_value; ++c)
            row.labels.emplace_back(labels[static_cast<std::size_t>(c)], r.value(i, c));
        for (int c = first_value; c < r.columns(); ++c)
            if (auto v = number(r, i, c))
                row.values[PQfname(r.get(), c)] = *v;
        rows.push_back(std::move(row));
    }
    return rows;
}

// The one row of a single-row statistics view (pg_stat_bgwriter, pg_stat_wal, pg_stat_archiver).
std::optional<StatRow> stat_row(const std::optional<db::Result> &r) {
    if (!r || r->rows() != 1)
        return std::nullopt;
    return stat_rows(*r, {}).front();
}

// pg_stat_database of every database (the row of shared objects, datname NULL, is left out).
// Times in milliseconds become seconds.
constexpr const char *kDatabaseStatsSql =
    "SELECT datname, xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched,"
    "       tup_inserted, tup_updated, tup_deleted, temp_files, temp_bytes, deadlocks, conflicts,"
    "       checksum_failures,"
    "       blk_read_time / 1000 AS blk_read_seconds, blk_write_time / 1000 AS blk_write_seconds"
    "  FROM pg_stat_database WHERE datname IS NOT NULL";

constexpr const char *kBgwriterSql =
    "SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time / 1000 AS checkpoint_write_seconds,"
    "       checkpoint_sync_time / 1000 AS checkpoint_sync_seconds, buffers_checkpoint, buffers_clean,"
    "       maxwritten_clean, buffers_backend, buffers_backend_fsync, buffers_alloc"
    "  FROM pg_stat_bgwriter";

// The WAL position only on a primary: pg_current_wal_lsn() raises an error during recovery.
constexpr const char *kWalSql =
    "SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync,"
    "       wal_write_time / 1000 AS wal_write_seconds, wal_sync_time / 1000 AS wal_sync_seconds,"
    "       CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_lsn() - '0/0' END AS lsn_bytes"
    "  FROM pg_stat_wal";

constexpr const char *kArchiverSql =
    "SELECT archived_count, failed_count, extract(epoch FROM last_archived_time) AS last_archived_timestamp,"
    "       extract(epoch FROM last_failed_time) AS last_failed_timestamp"
    "  FROM pg_stat_archiver";

// Retained WAL is measured from where this server's WAL ends: the insert position on a primary,
// the last received (else replayed) position on a standby. wal_status becomes one 0/1 column per
// state, all NULL when the slot never reserved WAL.
constexpr const char *kReplicationSlotsSql =
    "SELECT slot_name, slot_type, active::int AS active,"
    "       CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
    "            ELSE pg_current_wal_lsn() END - restart_lsn AS retained_bytes,"
    "       (wal_status = 'reserved')::int AS wal_status_reserved,"
    "       (wal_status = 'extended')::int AS wal_status_extended,"
    "       (wal_status = 'unreserved')::int AS wal_status_unreserved,"
    "       (wal_status = 'lost')::int AS wal_status_lost,"
    "       safe_wal_size AS safe_wal_size_bytes"
    "  FROM pg_replication_slots ORDER BY slot_name";

// The `limit` largest tables by heap and TOAST pages (pg_class.relpages, as of their last VACUUM
// or ANALYZE: ranking takes no lock and reads no file), then the statistics views for those only.
// pg_total_relation_size needs a lock on the table, its TOAST table and their indexes: a table
// with an ACCESS EXCLUSIVE lock held or requested on any of them gets no size rather than a wait.
std::string tables_sql(int limit) {
    return "WITH top AS ("
           "  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
           "    LEFT JOIN pg_class t ON t.oid = c.reltoastrelid"
           "   WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'"
           "     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'"
           "   ORDER BY c.relpages::bigint + coalesce(t.relpages, 0) DESC, c.oid LIMIT " +
           std::to_string(limit) +
           "), busy AS ("
           "  SELECT DISTINCT c.oid FROM pg_class c JOIN pg_locks l ON l.locktype = 'relation'"
           "     AND l.mode = 'AccessExclusiveLock'"
           "     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
           "   WHERE c.oid IN (SELECT oid FROM top)"
           "     AND (l.relation IN (c.oid, c.reltoastrelid)"
           "          OR l.relation IN (SELECT indexrelid FROM pg_index"
           "                             WHERE indrelid IN (c.oid, c.reltoastrelid))))"
           "SELECT s.schemaname, s.relname,"
           "       CASE WHEN s.relid NOT IN (SELECT oid FROM busy)"
           "            THEN pg_total_relation_size(s.relid) END AS size_bytes,"
           "       s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch,"
           "       s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd, s.n_live_tup, s.n_dead_tup,"
           "       extract(epoch FROM s.last_vacuum) AS last_vacuum_timestamp,"
           "       extract(epoch FROM s.last_autovacuum) AS last_autovacuum_timestamp,"
           "       extract(epoch FROM s.last_analyze) AS last_analyze_timestamp,"
           "       extract(epoch FROM s.last_autoanalyze) AS last_autoanalyze_timestamp,"
           "       s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,"
           "       io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit"
           "  FROM pg_stat_user_tables s JOIN pg_statio_user_tables io ON io.relid = s.relid"
           // = ANY (ARRAY(...)) reaches the views' pg_class scan as an index condition, so the
           // statistics of the other tables are never computed.
           " WHERE s.relid = ANY (ARRAY(SELECT oid FROM top)) AND io.relid = ANY (ARRAY(SELECT oid FROM top))"
           " ORDER BY s.schemaname, s.relname";
}

// The server's clock, between a poll's statements: what each cost the server.
constexpr const char *kServerClockSql = "SELECT extract(epoch FROM clock_timestamp())::float8";

bool same_pool(const pool::Settings &a, const pool::Settings &b) {
    return a.dsn == b.dsn && static_cast<const PoolConfig &>(a) == static_cast<const PoolConfig &>(b);
}

} // namespace

HealthPoller::HealthPoller(pool::Settings pool, Seconds interval, std::string backup_directory,
                           PollLimits limits, QueryMetrics &queries, PollScope scope)
    : settings_(std::move(pool)), pool_(make_pool(settings_, scope.timeout, interval)),
      backup_directory_(std::move(backup_directory)), limits_(limits), scope_(std::move(scope)),
      interval_(interval), queries_(queries), snapshot_(std::make_shared<HealthSnapshot>()) {}

HealthPoller::~HealthPoller() {
    stop();
}

void HealthPoller::start() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
    finished_ = false;
    abandon_ = false;
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
        // The poll stops waiting for its query (its connection is closed) and the query is
        // cancelled. PQcancel waits for the postmaster to answer, which a frozen server never
        // does: it is sent from a thread of its own, which owns its share of the PGcancel.
        abandon_ = true;
        std::shared_ptr<void> cancel;
        {
            std::lock_guard<std::mutex> cancel_lock(cancel_mutex_);
            cancel = cancel_;
        }
        if (cancel)
            std::thread([cancel] {
                char err[256];
                PQcancel(static_cast<PGcancel *>(cancel.get()), err, sizeof err);
            }).detach();
    }
    thread_.join();
    std::lock_guard<std::mutex> pool_lock(mutex_);
    pool_.reset(); // closes the pool's connections
}

void HealthPoller::reconfigure(pool::Settings pool, Seconds interval, std::string backup_directory,
                               PollLimits limits) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!same_pool(pool, settings_)) {
            settings_ = std::move(pool);
            pool_ = make_pool(settings_, scope_.timeout, interval);
        }
        interval_ = interval;
        backup_directory_ = std::move(backup_directory);
        limits_ = limits;
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

std::vector<StatRow> HealthPoller::poll_statements(
    const std::function<db::Result(const std::string &, const std::string &)> &query,
    const std::string &schema, int limit) {
    // A statement's entries (one per role and nesting level) are summed. Texts are read only for
    // statements new to the top: pg_stat_statements(true) reads its whole query-text file.
    const std::string of_this_database =
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        "   AND queryid IS NOT NULL";
    db::Result r =
        query("poll_statements",
              "SELECT queryid, sum(calls) AS calls, sum(total_exec_time + total_plan_time) / 1000 AS seconds,"
              "       sum(rows) AS rows, sum(shared_blks_hit) AS shared_blks_hit,"
              "       sum(shared_blks_read) AS shared_blks_read"
              "  FROM " +
                  schema + ".pg_stat_statements(false)" + of_this_database +
                  " GROUP BY queryid ORDER BY seconds DESC, queryid LIMIT " + std::to_string(limit));
    std::vector<StatRow> rows = stat_rows(r, {"queryid"});
    std::string missing;
    for (const StatRow &row : rows)
        if (!statement_texts_.count(row.labels[0].second))
            missing += (missing.empty() ? "" : ",") + row.labels[0].second;
    if (!missing.empty()) {
        db::Result texts = query("poll_statement_texts",
                                 "SELECT DISTINCT ON (queryid) queryid, left(query, 1000) FROM " + schema +
                                     ".pg_stat_statements(true)" + of_this_database +
                                     " AND queryid = ANY ('{" + missing + "}'::bigint[]) ORDER BY queryid");
        for (int i = 0; i < texts.rows(); ++i)
            statement_texts_[texts.value(i, 0)] = short_statement_text(texts.value(i, 1));
    }
    // Only the texts of the current top are kept.
    std::map<std::string, std::string> kept;
    for (StatRow &row : rows) {
        auto it = statement_texts_.find(row.labels[0].second);
        const std::string text = it == statement_texts_.end() ? "" : it->second;
        if (it != statement_texts_.end())
            kept.insert(*it);
        row.labels.emplace_back("query", text);
    }
    statement_texts_ = std::move(kept);
    return rows;
}

void HealthPoller::poll_once() {
    std::lock_guard<std::mutex> one_poll(poll_mutex_);
    std::string backup_directory;
    std::shared_ptr<pool::Pool> pool;
    Seconds interval;
    PollLimits limits;
    PollScope scope;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        backup_directory = backup_directory_;
        pool = pool_;
        interval = interval_;
        limits = limits_;
        scope = scope_;
    }
    const Seconds query_wait = scope.timeout + kPollAnswerGrace;
    if (texts_pool_.lock() != pool) {
        statement_texts_.clear(); // another server: its queryids mean other statements
        predicted_.clear();
        texts_pool_ = pool;
    }
    auto snap = std::make_shared<HealthSnapshot>();
    snap->polled = true;
    snap->server_wide = scope.server_wide;
    snap->last_poll_timestamp = now_epoch();
    snap->last_success_timestamp = snapshot()->last_success_timestamp;
    const auto t0 = std::chrono::steady_clock::now();
    pool::Lease lease;
    db::Connection *conn = nullptr;

    // The poll's statements go to the server as one pipeline (db::run_pipeline_until): one round
    // trip, where one statement after another would take a dozen. Which statements the body below
    // will ask for depends on what the database has (pgvigil, pg_stat_statements), so the
    // pipeline carries the ones the previous poll asked for; one it did not (the first poll, an
    // extension created since) runs alone, in a transaction of its own, and one asked for no more
    // is dropped. Every statement runs in a read-only transaction with the poll's timeouts (SET
    // LOCAL leaves the pooled connection as it was).
    //
    // While statements succeed they are one group, answered at once (one wake-up of this thread,
    // one flush of the server's). When one fails (a view the role may not read, a timeout), the
    // rest of the group is skipped: the transaction is rolled back, the skipped statements run
    // alone, and the next polls isolate every statement in a group of its own, which begins by
    // rolling back to a savepoint, until a poll sees no failure.
    //
    // Each statement is timed by the server's clock (clock_timestamp() before and after it, in the
    // same group): what it cost the server, whatever the client's wake-ups. A statement that
    // failed is timed by the client, from the send to its answer.
    // The prologue (BEGIN, SET LOCAL) does no work: the pool's validation_timeout bounds its
    // answer, so a frozen server reads as down as soon as a ping would say so.
    const Seconds round_trip = pool && pool->settings().validation_timeout.count() > 0
                                   ? std::min(pool->settings().validation_timeout, query_wait)
                                   : query_wait;
    const std::string prologue_timeout =
        "SET LOCAL statement_timeout = '" +
        std::to_string(static_cast<long>(std::ceil(scope.timeout.count() * 1000))) + "ms'";
    // The steps, and where each statement's result and its clocks are among the results.
    struct Layout {
        std::vector<db::PipelineStep> steps;
        std::vector<std::size_t> at, before, after;
    };
    auto transaction = [&prologue_timeout](const std::vector<std::string> &statements, bool isolated,
                                           bool prologue_apart) {
        Layout l;
        std::size_t results = 0;
        auto add = [&](const std::string &sql) {
            l.steps.push_back({sql});
            return results++;
        };
        add("BEGIN READ ONLY");
        add(prologue_timeout);
        add("SET LOCAL lock_timeout = '2s'");
        if (isolated)
            add("SAVEPOINT vigil_poll_query");
        // A group of its own, answered at once, on a connection the server has not answered
        // for a while: silent, it is given up after the short round-trip wait, not the
        // statements' (see run).
        if (prologue_apart)
            l.steps.push_back(db::PipelineStep::sync());
        for (std::size_t i = 0; i < statements.size(); ++i) {
            if (isolated && i > 0)
                add("ROLLBACK TO SAVEPOINT vigil_poll_query");
            l.before.push_back(isolated || i == 0 ? add(kServerClockSql) : l.after.back());
            l.at.push_back(add(statements[i]));
            l.after.push_back(add(kServerClockSql));
            if (isolated)
                l.steps.push_back(db::PipelineStep::sync());
        }
        add("COMMIT"); // a ROLLBACK when the last statement failed
        l.steps.push_back(db::PipelineStep::sync());
        return l;
    };
    struct Answer {
        db::Result result;
        double seconds = 0;
    };
    std::map<std::string, Answer> answers; // by statement text
    bool failed = false;                   // a statement of this poll failed
    auto clock_of = [](const db::Result &r) -> std::optional<double> {
        if (!r || r.status() != PGRES_TUPLES_OK || r.rows() != 1 || r.is_null(0, 0))
            return std::nullopt;
        return std::strtod(PQgetvalue(r.get(), 0, 0), nullptr);
    };
    bool answered = false; // the server answered this poll (or opened its connection) just now
    auto run = [&](const std::vector<std::string> &statements, bool isolated) {
        const auto sent = db::WaitClock::now();
        Layout l = transaction(statements, isolated, !answered);
        auto results = db::run_pipeline_until(
            *conn, l.steps, std::chrono::duration_cast<db::WaitClock::duration>(query_wait), &abandon_,
            answered ? db::WaitClock::duration{}
                     : std::chrono::duration_cast<db::WaitClock::duration>(round_trip));
        answered = true;
        bool aborted = false;
        for (std::size_t i = 0; i < statements.size(); ++i) {
            db::PipelineResult &r = results.at(l.at[i]);
            const auto before = clock_of(results.at(l.before[i]).result);
            const auto after = clock_of(results.at(l.after[i]).result);
            const ExecStatusType status = r.result ? r.result.status() : PGRES_FATAL_ERROR;
            if (status == PGRES_PIPELINE_ABORTED) {
                aborted = true; // skipped after an earlier failure: asked again alone
                continue;
            }
            failed |= status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK;
            answers[statements[i]] = {std::move(r.result),
                                      before && after
                                          ? std::max(0.0, *after - *before)
                                          : std::chrono::duration<double>(r.arrived - sent).count()};
        }
        // A failure in a group of its own was rolled back to its savepoint, and COMMIT ended the
        // transaction; one in the single group left it aborted.
        if (aborted || PQtransactionStatus(conn->get()) == PQTRANS_INERROR)
            db::exec_until(*conn, "ROLLBACK",
                           db::WaitClock::now() +
                               std::chrono::duration_cast<db::WaitClock::duration>(query_wait),
                           &abandon_);
    };
    std::vector<std::string> asked; // this poll's statements, in order
    auto query = [&](const std::string &operation, const std::string &sql) {
        auto it = answers.find(sql);
        if (it == answers.end()) {
            run({sql}, true);
            it = answers.find(sql);
        }
        Answer answer = std::move(it->second);
        answers.erase(it);
        // Its texts depend on the answer of another statement of the same poll: never predicted.
        if (operation != "poll_statement_texts")
            asked.push_back(sql);
        try {
            db::Result r = db::check(std::move(answer.result), *conn);
            queries_.observe(operation, answer.seconds);
            return r;
        } catch (const db::DbError &e) {
            queries_.observe(operation, answer.seconds, e.sqlstate().empty() ? "08006" : e.sqlstate());
            throw;
        }
    };
    // A query whose failure leaves only its own families out of this poll: it is logged and the
    // poll goes on, unless the connection itself is gone.
    auto optional_query = [&](const std::string &operation,
                              const std::string &sql) -> std::optional<db::Result> {
        try {
            return query(operation, sql);
        } catch (const db::DbError &e) {
            spdlog::warn("{}: {} (SQLSTATE {}); its metrics are left out of this poll", operation, e.what(),
                         e.sqlstate());
            if (!conn->healthy())
                throw;
            return std::nullopt;
        }
    };

    // The target's budget of connections: held for the whole poll, returned however it ends.
    struct SlotHold {
        std::shared_ptr<PollSlots> slots;
        ~SlotHold() {
            if (slots)
                slots->release();
        }
    } slot;
    try {
        if (!pool)
            throw std::runtime_error("the pool is closed");
        if (scope.slots) {
            // The other databases of the target are being polled; waiting longer than an interval
            // would only delay the next poll.
            if (!scope.slots->acquire(std::max(interval, scope.timeout), &abandon_))
                throw std::runtime_error("no free connection of the target's " + std::string("budget") +
                                         " (its other databases' polls hold them all)");
            slot.slots = scope.slots;
        }
        const auto start = std::chrono::steady_clock::now();
        try {
            // Waiting longer than an interval for a connection would only delay the next poll.
            lease = pool->acquire("health poll", std::min(interval, scope.timeout));
        } catch (const db::DbError &e) {
            queries_.observe("acquire",
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                             e.sqlstate().empty() ? "08006" : e.sqlstate());
            throw;
        }
        conn = &lease.conn();
        // Opened by this acquire: the server has just answered its startup.
        answered = pool::Clock::now() - lease.opened_at() < std::chrono::seconds(1);
        {
            std::lock_guard<std::mutex> lock(cancel_mutex_);
            if (PGcancel *cancel = PQgetCancel(conn->get()))
                cancel_ =
                    std::shared_ptr<void>(cancel, [](void *c) { PQfreeCancel(static_cast<PGcancel *>(c)); });
        }
        if (!predicted_.empty())
            run(predicted_, isolate_);
        db::Result db = query(
            "poll_database",
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
            "                WHERE n.nspname = 'vigil' AND c.relname = 'table_bloat'),"
            "       (SELECT quote_ident(n.nspname) FROM pg_extension e"
            "          JOIN pg_namespace n ON n.oid = e.extnamespace"
            "         WHERE e.extname = 'pg_stat_statements')");
        snap->database = db.value(0, 0);
        snap->database_size_bytes = std::stoll(db.value(0, 1));
        snap->xid_age = std::stoll(db.value(0, 2));
        snap->mxid_age = std::stoll(db.value(0, 3));
        if (!db.is_null(0, 4))
            snap->dead_tuple_ratio_max = std::stod(db.value(0, 4));
        const bool standby = db.value(0, 5) == "t";
        snap->in_recovery = standby;
        snap->health_checks_available = db.value(0, 6) == "t";
        const bool bloat_view = db.value(0, 7) == "t";
        const std::optional<std::string> statements_schema = db.optional_value(0, 8);

        // Server-wide: collected in one database of the server only (PollScope::server_wide).
        if (scope.server_wide) {
            db::Result act =
                query("poll_activity", "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity"
                                       " WHERE backend_type = 'client backend' GROUP BY 1");
            for (int i = 0; i < act.rows(); ++i)
                snap->connections[act.value(i, 0)] = std::stoi(act.value(i, 1));

            db::Result locks = query(
                "poll_locks", "SELECT count(DISTINCT pid),"
                              "       coalesce(extract(epoch FROM max(clock_timestamp() - waitstart)), 0)"
                              "  FROM pg_locks WHERE NOT granted");
            snap->lock_waiters = std::stoi(locks.value(0, 0));
            snap->longest_lock_wait_seconds = std::stod(locks.value(0, 1));

            // Replication as this server sees it (its walreceiver, its standbys). A standby whose
            // link is broken has no measurable lag: it is left out of vigil_replication_lag_seconds
            // rather than exported as a caught-up 0 (receive == replay holds on a dead link).
            try {
                snap->replication_view =
                    fetch_replication([&](const std::string &sql) { return query("poll_replication", sql); });
            } catch (const db::DbError &e) {
                spdlog::warn("poll_replication: {} (SQLSTATE {}); its metrics are left out of this poll",
                             e.what(), e.sqlstate());
                if (!conn->healthy())
                    throw;
            }
            if (const auto &view = snap->replication_view) {
                if (view->receiver) {
                    if (const auto lag = view->receiver->replay_lag_seconds())
                        snap->replication.push_back({"self", "", *lag});
                }
                for (const StandbyReplication &s : view->standbys)
                    if (!s.hidden)
                        snap->replication.push_back({s.application_name,
                                                     s.client_addr.empty() ? "local" : s.client_addr,
                                                     s.replay_lag_seconds.value_or(0)});
            }

            if (auto r = optional_query("poll_database_stats", kDatabaseStatsSql))
                snap->database_stats = stat_rows(*r, {"database"});
            snap->bgwriter = stat_row(optional_query("poll_bgwriter", kBgwriterSql));
            snap->wal = stat_row(optional_query("poll_wal", kWalSql));
            snap->archiver = stat_row(optional_query("poll_archiver", kArchiverSql));
            if (auto r = optional_query("poll_replication_slots", kReplicationSlotsSql))
                snap->replication_slots = stat_rows(*r, {"slot", "slot_type"});
        }
        if (limits.top_tables > 0)
            if (auto r = optional_query("poll_tables", tables_sql(limits.top_tables)))
                snap->tables = stat_rows(*r, {"schema", "table"});
        if (limits.top_statements > 0 && statements_schema) {
            try {
                snap->statements = poll_statements(query, *statements_schema, limits.top_statements);
            } catch (const db::DbError &e) {
                // pg_stat_statements created but not preloaded, for one.
                spdlog::warn("poll_statements: {} (SQLSTATE {}); its metrics are left out of this poll",
                             e.what(), e.sqlstate());
                if (!conn->healthy())
                    throw;
            }
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
            snap->checks = {extension_missing_check()};
        }
        predicted_ = std::move(asked);
        isolate_ = failed;
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
        cancel_.reset();
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
