// store.cpp — the history store: capture, downsampling, pruning and the console's queries over
// one SQLite file (docs/history.md).
#include "history/store.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <tuple>

#include <spdlog/spdlog.h>

#include "history/capture.hpp"
#include "history/schema.hpp"
#include "history/sqlite.hpp"

namespace vigil::history {

namespace {

constexpr long long five_minutes = 300, one_hour = 3600;
// Downsampling catches up at most this many buckets of each tier per record() (bounded work).
constexpr long long max_buckets_per_call = 12;
// Raw points are merged an hour (12 buckets) at a time: a merge writes a page of every series, so
// merging one bucket per 5 minutes would write each page 12 times as often. Raw points stay
// readable until merged, so the charts do not see the batching.
constexpr long long raw_batch_buckets = 12;
// Captures staged in points_new before they move to points_raw together.
constexpr int captures_per_flush = 10;
// A wait for another connection's lock longer than this makes the store unavailable.
constexpr int busy_timeout_ms = 200;

long long whole_seconds(double t) {
    return static_cast<long long>(std::floor(t));
}
long long floor_to(long long t, long long step) {
    return t >= 0 ? t / step * step : -((-t + step - 1) / step) * step;
}

// What went wrong, in the words of the log line.
std::string describe(const sqlite::Error &e) {
    switch (e.primary()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return std::string("is locked by another process (") + e.what() + ")";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return std::string("is corrupt (") + e.what() + "); move it aside or delete it";
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return std::string("cannot be written (") + e.what() + "); check the directory's owner and mode";
    case SQLITE_FULL:
        return std::string("cannot grow: the disk is full (") + e.what() + ")";
    default:
        return std::string("failed (") + e.what() + ")";
    }
}

// The points of several tiers, merged to at most max_points equal time buckets.
std::vector<Point> merge(std::vector<Point> points, std::size_t max_points) {
    if (max_points == 0 || points.size() <= max_points)
        return points;
    const double lo = points.front().timestamp, hi = points.back().timestamp;
    const double width = (hi - lo) / static_cast<double>(max_points);
    std::vector<Point> out;
    std::size_t n = 0, current = 0;
    double sum = 0;
    for (const Point &p : points) {
        std::size_t bucket = width > 0 ? static_cast<std::size_t>((p.timestamp - lo) / width) : 0;
        bucket = std::min(bucket, max_points - 1);
        if (n > 0 && bucket != current) {
            out.back().value = sum / static_cast<double>(n);
            n = 0;
        }
        if (n == 0) {
            out.push_back({p.timestamp, 0, p.max});
            current = bucket;
            sum = 0;
        }
        sum += p.value;
        out.back().max = std::max(out.back().max, p.max);
        ++n;
    }
    if (n > 0)
        out.back().value = sum / static_cast<double>(n);
    return out;
}

} // namespace

std::string store_path(const HistoryConfig &config, const std::string &state_directory) {
    if (!config.path.empty())
        return config.path;
    return (std::filesystem::path(state_directory) / "history.sqlite3").string();
}

namespace {

// The points of series `id` in [since, until] from every tier, oldest first.
std::vector<Point> read_points(sqlite::Connection &db, long long id, double since, double until) {
    sqlite::Statement s(db.get(),
                        "SELECT ts, value, value FROM points_raw WHERE series = ?1 AND ts BETWEEN ?2 AND ?3"
                        " UNION ALL SELECT ts, value, value FROM points_new"
                        "  WHERE series = ?1 AND ts BETWEEN ?2 AND ?3"
                        " UNION ALL SELECT ts, value, max FROM points_5m"
                        "  WHERE series = ?1 AND ts BETWEEN ?2 AND ?3"
                        " UNION ALL SELECT ts, value, max FROM points_1h"
                        "  WHERE series = ?1 AND ts BETWEEN ?2 AND ?3"
                        " ORDER BY 1");
    s.bind(1, id).bind(2, since).bind(3, until);
    std::vector<Point> out;
    while (s.step())
        out.push_back({static_cast<double>(s.column_int(0)), s.column_double(1), s.column_double(2)});
    return out;
}

// The id of a series; nullopt when it has none. Not cached: the writer may delete and reuse ids.
std::optional<long long> find_series(sqlite::Connection &db, const SeriesKey &k) {
    sqlite::Statement s(
        db.get(), "SELECT id FROM series WHERE target = ?1 AND database = ?2 AND metric = ?3 AND label = ?4");
    s.bind(1, k.target).bind(2, k.database).bind(3, k.metric).bind(4, k.label);
    if (s.step())
        return s.column_int(0);
    return std::nullopt;
}

} // namespace

// The console's connection: reads see the last committed capture and never wait for the writer
// (WAL), so a page is not held up by a capture or a merge in progress.
struct Store::Reader {
    sqlite::Connection db;
    explicit Reader(const std::string &path) : db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX) {
        sqlite3_busy_timeout(db.get(), busy_timeout_ms);
        db.exec("PRAGMA query_only = ON");
    }
};

struct Store::Impl {
    sqlite::Connection db;
    sqlite::Statement find_series, insert_series, insert_point, upsert_text;
    std::map<std::tuple<std::string, std::string, std::string, std::string>, long long> series_ids;
    std::optional<long long> raw_done, five_minute_done; // downsampled up to here (exclusive)
    long long pruned_until = 0;
    std::optional<long long> last_slow_bucket; // of the last capture with the slow series
    int staged = 0;                            // captures in points_new since the last flush

    // Moves the staged captures into points_raw: each series' page is written once per flush
    // instead of once per capture.
    void flush() {
        db.exec(
            "INSERT INTO points_raw (series, ts, value) SELECT series, ts, value FROM points_new"
            " WHERE true ORDER BY series, ts ON CONFLICT (series, ts) DO UPDATE SET value = excluded.value;"
            "DELETE FROM points_new");
        staged = 0;
    }

    explicit Impl(const std::string &path)
        : db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX),
          find_series(prepare_setup()),
          insert_series(db.get(),
                        "INSERT INTO series (target, database, metric, label) VALUES (?1, ?2, ?3, ?4)"),
          insert_point(db.get(), "INSERT INTO points_new (ts, series, value) VALUES (?1, ?2, ?3)"
                                 " ON CONFLICT (ts, series) DO UPDATE SET value = excluded.value"),
          upsert_text(db.get(), "INSERT INTO statement_texts (target, database, queryid, text)"
                                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET text = excluded.text"
                                " WHERE text <> excluded.text") {}

    // Runs before the other statements are prepared (they need the tables): the connection's
    // settings and the migrations. Returns the series look-up.
    sqlite::Statement prepare_setup() {
        sqlite3_busy_timeout(db.get(), busy_timeout_ms);
        // Reading the header is the first access to the file: a corrupt one fails here.
        const std::string mode = db.query_text("PRAGMA journal_mode = WAL");
        if (mode != "wal")
            throw sqlite::Error("cannot switch to write-ahead logging (journal_mode " + mode + ")",
                                SQLITE_CANTOPEN);
        // A commit is durable at the next checkpoint, not at once: a crash loses at most the last
        // captures, never the file. The WAL file is cut back after each checkpoint.
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA journal_size_limit = 4194304");
        migrate(db);
        // A file that can be read but not written (read-only, another writer's lock) fails here,
        // not at the first capture: rewriting the header's version is a real write.
        sqlite::Transaction probe(db);
        db.exec("PRAGMA user_version = " + std::to_string(schema_version));
        probe.commit();
        return sqlite::Statement(
            db.get(),
            "SELECT id FROM series WHERE target = ?1 AND database = ?2 AND metric = ?3 AND label = ?4");
    }

    // The id of a series, created on first use when `create`; nullopt when unknown.
    std::optional<long long> series_id(const SeriesKey &k, bool create) {
        auto key = std::make_tuple(k.target, k.database, k.metric, k.label);
        auto it = series_ids.find(key);
        if (it != series_ids.end())
            return it->second;
        find_series.bind(1, k.target).bind(2, k.database).bind(3, k.metric).bind(4, k.label);
        std::optional<long long> id;
        if (find_series.step())
            id = find_series.column_int(0);
        find_series.reset();
        if (!id && create) {
            insert_series.bind(1, k.target).bind(2, k.database).bind(3, k.metric).bind(4, k.label).run();
            id = sqlite3_last_insert_rowid(db.get());
        }
        if (id)
            series_ids.emplace(std::move(key), *id);
        return id;
    }

    // The oldest point of a tier (per-series index seeks: the tables have no index on time).
    std::optional<long long> oldest(const char *table) {
        sqlite::Statement s(db.get(), std::string("SELECT min((SELECT min(ts) FROM ") + table +
                                          " p WHERE p.series = s.id)) FROM series s");
        if (s.step() && !s.column_null(0))
            return s.column_int(0);
        return std::nullopt;
    }

    // Merges the points of `from` in [start, end) into `step`-second points of `to`, and deletes
    // them; returns how many were merged.
    int downsample(const char *from, const char *to, long long step, long long start, long long end) {
        const bool raw = std::string(from) == "points_raw";
        const std::string merge = std::string("INSERT INTO ") + to +
                                  " (series, ts, value, max)"
                                  " SELECT p.series, (p.ts / ?3) * ?3, avg(p.value), max(p." +
                                  (raw ? "value" : "max") + ") FROM series s CROSS JOIN " + from +
                                  " p ON p.series = s.id AND p.ts >= ?1 AND p.ts < ?2"
                                  " WHERE true GROUP BY p.series, p.ts / ?3"
                                  " ON CONFLICT (series, ts) DO UPDATE SET"
                                  "   value = (value + excluded.value) / 2, max = max(max, excluded.max)";
        sqlite::Statement(db.get(), merge).bind(1, start).bind(2, end).bind(3, step).run();
        sqlite::Statement(db.get(), std::string("DELETE FROM ") + from +
                                        " WHERE series IN (SELECT id FROM series) AND ts >= ?1 AND ts < ?2")
            .bind(1, start)
            .bind(2, end)
            .run();
        return sqlite3_changes(db.get());
    }

    // One tier's share of the work of a record(): nothing until `batch` buckets are due, then at
    // most max_buckets_per_call. `done` skips to the oldest point when a window was empty (after
    // downtime), so gaps cost nothing.
    void catch_up(std::optional<long long> &done, const char *from, const char *to, long long step,
                  long long cutoff, long long batch) {
        const auto skip_to_oldest = [&](long long at_least) {
            auto first = oldest(from);
            done = first ? std::max(at_least, floor_to(*first, step)) : std::max(at_least, cutoff);
        };
        if (!done)
            skip_to_oldest(std::numeric_limits<long long>::min());
        if (*done + step * batch > cutoff)
            return;
        const long long end = std::min(cutoff, *done + step * max_buckets_per_call);
        const int merged = downsample(from, to, step, *done, end);
        done = end;
        if (merged == 0)
            skip_to_oldest(end);
    }

    void prune(long long cutoff) {
        flush(); // points_new is empty below: it has no index by series
        for (const char *table : {"points_raw", "points_5m", "points_1h"})
            sqlite::Statement(db.get(), std::string("DELETE FROM ") + table +
                                            " WHERE series IN (SELECT id FROM series) AND ts < ?1")
                .bind(1, cutoff)
                .run();
        // Series with no point left (a dropped table, a statement out of the top) and their texts.
        db.exec("DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM points_raw WHERE series = series.id)"
                "  AND NOT EXISTS (SELECT 1 FROM points_5m WHERE series = series.id)"
                "  AND NOT EXISTS (SELECT 1 FROM points_1h WHERE series = series.id)");
        if (sqlite3_changes(db.get()) > 0) {
            series_ids.clear();
            db.exec("DELETE FROM statement_texts WHERE NOT EXISTS (SELECT 1 FROM series s"
                    " WHERE s.target = statement_texts.target AND s.database = statement_texts.database"
                    "   AND s.metric = 'statement_calls' AND s.label = statement_texts.queryid)");
        }
        pruned_until = cutoff;
    }
};

Store::Store(std::string path, Resolution resolution, int retry_every)
    : path_(std::move(path)), resolution_(resolution), retry_every_(std::max(1, retry_every)) {
    std::lock_guard<std::mutex> lock(mutex_);
    open_locked();
}

Store::Store(const std::string &path, const HistoryConfig &config, int retry_every)
    : Store(
          path,
          [&] {
              Resolution r;
              r.retention = config.retention.count();
              r.slow_interval = config.slow_interval.count();
              return r;
          }(),
          retry_every) {}

Store::~Store() = default;

bool Store::open_locked() {
    {
        std::lock_guard<std::mutex> read_lock(read_mutex_);
        reader_.reset();
    }
    impl_.reset();
    calls_since_failure_ = 0;
    std::string why;
    try {
        const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
        if (!dir.empty() && !std::filesystem::exists(dir)) {
            std::filesystem::create_directories(dir);
            std::filesystem::permissions(dir, std::filesystem::perms(0750));
        }
        impl_ = std::make_unique<Impl>(path_);
        auto reader = std::make_unique<Reader>(path_);
        std::lock_guard<std::mutex> read_lock(read_mutex_);
        reader_ = std::move(reader);
        status_ = "available: " + path_;
    } catch (const NewerSchema &e) {
        why =
            std::string("has ") + e.what() + "; it is left untouched (upgrade vigild or move the file aside)";
    } catch (const sqlite::Error &e) {
        why = describe(e);
    } catch (const std::exception &e) {
        why = std::string("cannot be opened (") + e.what() + ")";
    }
    if (!why.empty()) {
        fail_locked(why);
        return false;
    }
    if (warned_)
        spdlog::info("history store {} is available again; recording history", path_);
    warned_ = false;
    return true;
}

void Store::fail_locked(const std::string &why) const {
    impl_.reset();
    {
        std::lock_guard<std::mutex> read_lock(read_mutex_);
        reader_.reset();
        status_ = "unavailable: " + path_ + " " + why;
    }
    if (!warned_)
        spdlog::warn("history store {} {}: serving live data without history; trying again every {} "
                     "history intervals",
                     path_, why, retry_every_);
    else
        spdlog::debug("history store {} still unavailable: {}", path_, why);
    warned_ = true;
}

bool Store::reopen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_locked();
}

void Store::record(const fleet::FleetSnapshot &fleet, double now) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!impl_ && (++calls_since_failure_ < retry_every_ || !open_locked()))
        return;
    try {
        const long long ts = whole_seconds(now);
        const long long slow_bucket =
            resolution_.slow_interval > 0 ? whole_seconds(now / resolution_.slow_interval) : ts;
        const bool slow = impl_->last_slow_bucket != slow_bucket;
        const Capture c = capture(fleet, slow);
        sqlite::Transaction tx(impl_->db);
        for (const Sample &s : c.samples) {
            const long long id = *impl_->series_id(s.key, true);
            impl_->insert_point.bind(1, ts).bind(2, id).bind(3, s.value).run();
        }
        if (++impl_->staged >= captures_per_flush)
            impl_->flush();
        for (const StatementText &t : c.texts)
            impl_->upsert_text.bind(1, t.target).bind(2, t.database).bind(3, t.queryid).bind(4, t.text).run();
        maintain_locked(now);
        tx.commit();
        if (slow)
            impl_->last_slow_bucket = slow_bucket;
    } catch (const std::exception &e) {
        const auto *s = dynamic_cast<const sqlite::Error *>(&e);
        // A failed transaction may have left ids cached that were rolled back.
        fail_locked(s ? describe(*s) : std::string("failed (") + e.what() + ")");
    }
}

void Store::maintain_locked(double now) {
    Impl &s = *impl_;
    const long long t = whole_seconds(now);
    s.catch_up(s.raw_done, "points_raw", "points_5m", five_minutes,
               floor_to(t - whole_seconds(resolution_.raw_for), five_minutes), raw_batch_buckets);
    s.catch_up(s.five_minute_done, "points_5m", "points_1h", one_hour,
               floor_to(t - whole_seconds(resolution_.five_minute_for), one_hour), 1);
    // Pruning seeks every series: once per five minutes of retention cut-off is enough.
    const long long cutoff = t - whole_seconds(resolution_.retention);
    if (cutoff >= s.pruned_until + five_minutes || s.pruned_until == 0)
        s.prune(cutoff);
}

template <class T, class Body> T Store::read(Body body) const {
    std::string why;
    {
        std::lock_guard<std::mutex> read_lock(read_mutex_);
        if (!reader_)
            return T{};
        try {
            return body(reader_->db);
        } catch (const sqlite::Error &e) {
            why = describe(e);
        }
    }
    // A failed read (a corrupt page) closes the store like a failed write; the writer's lock first.
    std::lock_guard<std::mutex> lock(mutex_);
    if (impl_)
        fail_locked(why);
    return T{};
}

std::vector<Point> Store::series(const SeriesKey &key, double since, double until,
                                 std::size_t max_points) const {
    return read<std::vector<Point>>([&](sqlite::Connection &db) {
        auto id = find_series(db, key);
        return id ? merge(read_points(db, *id, since, until), max_points) : std::vector<Point>{};
    });
}

namespace {

std::vector<std::string> texts(sqlite::Statement &s) {
    std::vector<std::string> out;
    while (s.step())
        out.push_back(s.column_text(0));
    return out;
}

std::string text_of(sqlite::Connection &db, const std::string &target, const std::string &database,
                    const std::string &queryid) {
    sqlite::Statement s(db.get(), "SELECT text FROM statement_texts WHERE target = ?1 AND database = ?2"
                                  " AND queryid = ?3");
    s.bind(1, target).bind(2, database).bind(3, queryid);
    return s.step() ? s.column_text(0) : "";
}

} // namespace

std::vector<std::string> Store::series_labels(const std::string &target, const std::string &database,
                                              const std::string &metric) const {
    return read<std::vector<std::string>>([&](sqlite::Connection &db) {
        sqlite::Statement s(db.get(), "SELECT label FROM series WHERE target = ?1 AND database = ?2"
                                      " AND metric = ?3 ORDER BY label");
        s.bind(1, target).bind(2, database).bind(3, metric);
        return texts(s);
    });
}

std::vector<std::string> Store::targets() const {
    return read<std::vector<std::string>>([&](sqlite::Connection &db) {
        sqlite::Statement s(db.get(), "SELECT DISTINCT target FROM series ORDER BY target");
        return texts(s);
    });
}

std::vector<std::string> Store::databases(const std::string &target) const {
    return read<std::vector<std::string>>([&](sqlite::Connection &db) {
        sqlite::Statement s(db.get(), "SELECT DISTINCT database FROM series WHERE target = ?1"
                                      " AND database <> '' ORDER BY database");
        s.bind(1, target);
        return texts(s);
    });
}

namespace {

// Per-interval deltas of a statement's cumulative counters. A downsampled point's `max` is the
// counter at the end of its interval (the counters only grow between resets).
std::vector<StatementInterval> deltas(const std::vector<std::vector<Point>> &counters) {
    // counters: calls, total time, rows, hit, read; joined on timestamp.
    std::map<double, std::array<std::optional<double>, 5>> by_time;
    for (std::size_t c = 0; c < counters.size(); ++c)
        for (const Point &p : counters[c])
            by_time[p.timestamp][c] = p.max;
    std::vector<StatementInterval> out;
    std::optional<std::pair<double, std::array<double, 5>>> previous;
    for (const auto &[t, values] : by_time) {
        if (!values[0] || !values[1])
            continue;
        std::array<double, 5> v{};
        for (std::size_t c = 0; c < 5; ++c)
            v[c] = values[c].value_or(0);
        if (previous) {
            const auto &[t0, v0] = *previous;
            if (v[0] >= v0[0] && v[1] >= v0[1]) // else the statistics were reset
                out.push_back({t0, t, v[0] - v0[0], v[1] - v0[1], std::max(0.0, v[2] - v0[2]),
                               std::max(0.0, v[3] - v0[3]), std::max(0.0, v[4] - v0[4])});
        }
        previous = std::make_pair(t, v);
    }
    return out;
}

std::vector<StatementInterval> merge_intervals(std::vector<StatementInterval> in, std::size_t max_points) {
    if (max_points == 0 || in.size() <= max_points)
        return in;
    const std::size_t per = (in.size() + max_points - 1) / max_points;
    std::vector<StatementInterval> out;
    for (std::size_t i = 0; i < in.size(); i += per) {
        StatementInterval m = in[i];
        for (std::size_t j = i + 1; j < std::min(in.size(), i + per); ++j) {
            m.end = in[j].end;
            m.calls += in[j].calls;
            m.total_time_seconds += in[j].total_time_seconds;
            m.rows += in[j].rows;
            m.shared_blks_hit += in[j].shared_blks_hit;
            m.shared_blks_read += in[j].shared_blks_read;
        }
        out.push_back(m);
    }
    return out;
}

const char *const statement_counters[] = {metric::statement_calls, metric::statement_total_time_seconds,
                                          metric::statement_rows, metric::statement_shared_blks_hit,
                                          metric::statement_shared_blks_read};

} // namespace

StatementHistory Store::statement_history(const std::string &target, const std::string &database,
                                          const std::string &queryid, double since, double until,
                                          std::size_t max_points) const {
    StatementHistory out = read<StatementHistory>([&](sqlite::Connection &db) {
        StatementHistory h;
        std::vector<std::vector<Point>> counters;
        for (const char *m : statement_counters) {
            auto id = find_series(db, {target, database, m, queryid});
            counters.push_back(id ? read_points(db, *id, since, until) : std::vector<Point>{});
        }
        h.text = text_of(db, target, database, queryid);
        h.intervals = merge_intervals(deltas(counters), max_points);
        return h;
    });
    out.queryid = queryid;
    return out;
}

std::vector<StatementTotal> Store::top_statements(const std::string &target, const std::string &database,
                                                  double since, double until, std::size_t limit) const {
    std::vector<StatementTotal> out;
    for (const std::string &queryid : series_labels(target, database, metric::statement_total_time_seconds)) {
        const StatementHistory h = statement_history(target, database, queryid, since, until);
        if (h.intervals.empty())
            continue;
        StatementTotal t{h.queryid, h.text};
        for (const StatementInterval &i : h.intervals) {
            t.calls += i.calls;
            t.total_time_seconds += i.total_time_seconds;
            t.rows += i.rows;
            t.shared_blks_hit += i.shared_blks_hit;
            t.shared_blks_read += i.shared_blks_read;
        }
        out.push_back(std::move(t));
    }
    std::sort(out.begin(), out.end(), [](const StatementTotal &a, const StatementTotal &b) {
        return a.total_time_seconds != b.total_time_seconds ? a.total_time_seconds > b.total_time_seconds
                                                            : a.queryid < b.queryid;
    });
    if (out.size() > limit)
        out.resize(limit);
    return out;
}

std::string Store::statement_text(const std::string &target, const std::string &database,
                                  const std::string &queryid) const {
    return read<std::string>([&](sqlite::Connection &db) { return text_of(db, target, database, queryid); });
}

bool Store::available() const {
    std::lock_guard<std::mutex> read_lock(read_mutex_);
    return reader_ != nullptr;
}

std::string Store::status() const {
    std::lock_guard<std::mutex> read_lock(read_mutex_);
    return status_;
}

long long Store::size_bytes() const {
    return read<long long>([&](sqlite::Connection &db) {
        return db.query_int("PRAGMA page_count") * db.query_int("PRAGMA page_size");
    });
}

} // namespace vigil::history
