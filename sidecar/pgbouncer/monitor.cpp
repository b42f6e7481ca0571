// monitor.cpp — the admin-console poll, its parsing by column name, its metrics and checks.
#include "pgbouncer/monitor.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "db_wait.hpp"
#include "dsn_params.hpp"
#include "wall_clock.hpp"

namespace vigil::pgbouncer {

using Clock = std::chrono::steady_clock;

// ---- parsing -----------------------------------------------------------------------------------

Table Table::from(const db::Result &result) {
    Table t;
    for (int c = 0; c < result.columns(); ++c)
        t.columns.emplace_back(PQfname(result.get(), c));
    for (int r = 0; r < result.rows(); ++r) {
        std::vector<std::optional<std::string>> row;
        for (int c = 0; c < result.columns(); ++c)
            row.push_back(result.optional_value(r, c));
        t.rows.push_back(std::move(row));
    }
    return t;
}

namespace {

// A row read by column name; a missing column or NULL reads as absent.
class Row {
  public:
    Row(const Table &table, std::size_t row) : table_(table), row_(row) {}
    std::optional<std::string> text(const std::string &column) const {
        const auto it = std::find(table_.columns.begin(), table_.columns.end(), column);
        if (it == table_.columns.end())
            return std::nullopt;
        const auto &cells = table_.rows[row_];
        const auto i = static_cast<std::size_t>(it - table_.columns.begin());
        return i < cells.size() ? cells[i] : std::nullopt;
    }
    // The column as a number; 0 when absent or not a number (a newer PgBouncer's odd value).
    double number(const std::string &column) const {
        const auto v = text(column);
        if (!v || v->empty())
            return 0;
        try {
            std::size_t used = 0;
            const double d = std::stod(*v, &used);
            return used == v->size() && std::isfinite(d) ? d : 0;
        } catch (const std::exception &) {
            return 0;
        }
    }
    long long count(const std::string &column) const { return std::llround(number(column)); }

  private:
    const Table &table_;
    std::size_t row_;
};

void require(const Table &table, const std::string &what, std::initializer_list<const char *> columns) {
    for (const char *c : columns)
        if (std::find(table.columns.begin(), table.columns.end(), c) == table.columns.end())
            throw std::runtime_error(what + " has no column " + c);
}

constexpr double kMicro = 1e-6; // SHOW STATS times are microseconds

// The admin console's own pseudo-database: its pool and statistics are the monitor's own queries.
bool is_console(const std::string &database) {
    return database == "pgbouncer";
}

} // namespace

std::vector<Pool> parse_pools(const Table &table) {
    require(table, "SHOW POOLS", {"database", "user"});
    std::vector<Pool> pools;
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        const Row r(table, i);
        Pool p;
        p.database = r.text("database").value_or("");
        p.user = r.text("user").value_or("");
        p.pool_mode = r.text("pool_mode").value_or("");
        p.cl_active = r.count("cl_active");
        p.cl_waiting = r.count("cl_waiting");
        p.sv_active = r.count("sv_active");
        p.sv_idle = r.count("sv_idle");
        p.sv_used = r.count("sv_used");
        // maxwait is whole seconds, maxwait_us the microseconds on top (1.8 and later).
        p.maxwait_seconds = r.number("maxwait") + r.number("maxwait_us") * kMicro;
        pools.push_back(std::move(p));
    }
    return pools;
}

std::vector<DatabaseStats> parse_stats(const Table &table) {
    require(table, "SHOW STATS", {"database"});
    std::vector<DatabaseStats> out;
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        const Row r(table, i);
        DatabaseStats s;
        s.database = r.text("database").value_or("");
        s.total_xact_count = r.number("total_xact_count");
        s.total_query_count = r.number("total_query_count");
        s.total_received_bytes = r.number("total_received");
        s.total_sent_bytes = r.number("total_sent");
        s.total_xact_seconds = r.number("total_xact_time") * kMicro;
        s.total_query_seconds = r.number("total_query_time") * kMicro;
        s.total_wait_seconds = r.number("total_wait_time") * kMicro;
        s.avg_xact_seconds = r.number("avg_xact_time") * kMicro;
        s.avg_query_seconds = r.number("avg_query_time") * kMicro;
        s.avg_wait_seconds = r.number("avg_wait_time") * kMicro;
        out.push_back(std::move(s));
    }
    return out;
}

std::map<std::string, long long> parse_lists(const Table &table) {
    require(table, "SHOW LISTS", {"list", "items"});
    std::map<std::string, long long> lists;
    for (std::size_t i = 0; i < table.rows.size(); ++i) {
        const Row r(table, i);
        if (const auto name = r.text("list"))
            lists[*name] = r.count("items");
    }
    return lists;
}

// ---- polling -----------------------------------------------------------------------------------

std::string admin_dsn(const std::string &dsn) {
    const auto params = parse_dsn(dsn); // throws InvalidDsn
    if (params.count("dbname"))
        return dsn;
    return dsn_with(dsn, {{"dbname", "pgbouncer"}});
}

Snapshot poll(const PgBouncerConfig &target, db::Connection &conn, Seconds timeout,
              const Snapshot *previous) {
    Snapshot s;
    s.name = target.name;
    s.polled = true;
    s.poll_timestamp = now_epoch();
    s.last_success_timestamp = previous ? previous->last_success_timestamp : 0;
    const auto started = Clock::now();
    try {
        if (!conn.healthy()) {
            // libpq's connect_timeout is whole seconds, at least 2.
            const long long seconds =
                std::max<long long>(2, static_cast<long long>(std::ceil(timeout.count())));
            std::string dsn = admin_dsn(target.dsn);
            if (!parse_dsn(dsn).count("connect_timeout"))
                dsn = dsn_with(dsn, {{"connect_timeout", std::to_string(seconds)}});
            conn = db::Connection::open(dsn);
        }
        // Simple protocol only: the console takes no parameters and no prepared statements.
        const auto show = [&](const char *sql) {
            return Table::from(db::exec_until(
                conn, sql, Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout)));
        };
        s.pools = parse_pools(show("SHOW POOLS"));
        s.stats = parse_stats(show("SHOW STATS"));
        s.lists = parse_lists(show("SHOW LISTS"));
        s.up = true;
        s.last_success_timestamp = now_epoch();
    } catch (const std::exception &e) {
        // Nothing of a failed poll is kept: old numbers must not pass for current ones.
        s.pools.clear();
        s.stats.clear();
        s.lists.clear();
        s.error = e.what();
        conn = db::Connection(); // lost, timed out or answered what we could not read: start afresh
    }
    s.poll_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return s;
}

Monitor::Monitor(PgBouncerConfig target, Seconds interval, Seconds timeout)
    : target_(std::move(target)), interval_(interval), timeout_(timeout) {
    auto first = std::make_shared<Snapshot>();
    first->name = target_.name;
    latest_ = std::move(first);
}

Monitor::~Monitor() {
    stop();
}

void Monitor::start() {
    std::lock_guard lk(mutex_);
    if (thread_.joinable())
        return;
    stopping_ = false;
    thread_ = std::thread([this] {
        for (;;) {
            poll_once();
            std::unique_lock lk(mutex_);
            if (wake_.wait_for(lk, interval_, [this] { return stopping_; }))
                return;
        }
    });
}

void Monitor::stop() {
    {
        std::lock_guard lk(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

std::shared_ptr<const Snapshot> Monitor::poll_once() {
    std::lock_guard one(poll_mutex_);
    const auto previous = snapshot();
    auto next = std::make_shared<const Snapshot>(poll(target_, conn_, timeout_, previous.get()));
    if (!next->up && (previous->up || !previous->polled))
        spdlog::warn("pgbouncer {}: {}", target_.name, next->error);
    std::lock_guard lk(mutex_);
    latest_ = next;
    return next;
}

std::shared_ptr<const Snapshot> Monitor::snapshot() const {
    std::lock_guard lk(mutex_);
    return latest_;
}

// ---- metrics -----------------------------------------------------------------------------------

void render_metrics(metrics::Exposition &out, const Snapshot &s) {
    const metrics::Labels self = {{"pgbouncer", s.name}};
    out.family("vigil_pgbouncer_up", "gauge", "1 when the PgBouncer admin console answered the last poll");
    out.sample("vigil_pgbouncer_up", self, s.up ? 1 : 0);
    out.family("vigil_pgbouncer_last_success_timestamp_seconds", "gauge",
               "When the PgBouncer admin console last answered (Unix time; 0: never)");
    out.sample("vigil_pgbouncer_last_success_timestamp_seconds", self, s.last_success_timestamp);
    if (!s.up)
        return;

    const struct {
        const char *name, *help;
        long long Pool::*field;
    } counts[] = {
        {"vigil_pgbouncer_clients_active", "Client connections paired with a server connection (cl_active)",
         &Pool::cl_active},
        {"vigil_pgbouncer_clients_waiting", "Client connections waiting for a server connection (cl_waiting)",
         &Pool::cl_waiting},
        {"vigil_pgbouncer_servers_active", "Server connections in use by a client (sv_active)",
         &Pool::sv_active},
        {"vigil_pgbouncer_servers_idle", "Server connections idle and ready (sv_idle)", &Pool::sv_idle},
        {"vigil_pgbouncer_servers_used", "Server connections idle, to be checked before use (sv_used)",
         &Pool::sv_used},
    };
    for (const auto &c : counts)
        out.family(c.name, "gauge", c.help);
    out.family("vigil_pgbouncer_max_wait_seconds", "gauge",
               "How long the oldest waiting client of the pool has waited (maxwait)");
    for (const Pool &p : s.pools) {
        if (is_console(p.database))
            continue;
        const metrics::Labels labels = {{"pgbouncer", s.name}, {"database", p.database}, {"user", p.user}};
        for (const auto &c : counts)
            out.sample(c.name, labels, static_cast<double>(p.*(c.field)));
        out.sample("vigil_pgbouncer_max_wait_seconds", labels, p.maxwait_seconds);
    }

    const struct {
        const char *name, *type, *help;
        double DatabaseStats::*field;
    } stats[] = {
        {"vigil_pgbouncer_avg_query_seconds", "gauge", "Average query time over the last stats_period",
         &DatabaseStats::avg_query_seconds},
        {"vigil_pgbouncer_avg_xact_seconds", "gauge", "Average transaction time over the last stats_period",
         &DatabaseStats::avg_xact_seconds},
        {"vigil_pgbouncer_avg_wait_seconds", "gauge",
         "Average time clients waited for a server over the last stats_period",
         &DatabaseStats::avg_wait_seconds},
        {"vigil_pgbouncer_queries_total", "counter", "Queries pooled", &DatabaseStats::total_query_count},
        {"vigil_pgbouncer_transactions_total", "counter", "Transactions pooled",
         &DatabaseStats::total_xact_count},
        {"vigil_pgbouncer_query_seconds_total", "counter", "Time spent in queries",
         &DatabaseStats::total_query_seconds},
        {"vigil_pgbouncer_xact_seconds_total", "counter",
         "Time spent in transactions (idle in transaction too)", &DatabaseStats::total_xact_seconds},
        {"vigil_pgbouncer_wait_seconds_total", "counter", "Time clients spent waiting for a server",
         &DatabaseStats::total_wait_seconds},
        {"vigil_pgbouncer_received_bytes_total", "counter", "Bytes received from clients",
         &DatabaseStats::total_received_bytes},
        {"vigil_pgbouncer_sent_bytes_total", "counter", "Bytes sent to clients",
         &DatabaseStats::total_sent_bytes},
    };
    for (const auto &f : stats)
        out.family(f.name, f.type, f.help);
    for (const DatabaseStats &d : s.stats) {
        if (is_console(d.database))
            continue;
        const metrics::Labels labels = {{"pgbouncer", s.name}, {"database", d.database}};
        for (const auto &f : stats)
            out.sample(f.name, labels, d.*(f.field));
    }

    out.family("vigil_pgbouncer_list_items", "gauge",
               "SHOW LISTS: items per internal list (databases, pools, used_clients, free_servers, ...)");
    for (const auto &[list, items] : s.lists)
        out.sample("vigil_pgbouncer_list_items", {{"pgbouncer", s.name}, {"list", list}},
                   static_cast<double>(items));
}

// ---- checks ------------------------------------------------------------------------------------

namespace {

std::string seconds_text(double v) {
    std::ostringstream out;
    out.precision(v < 10 ? 2 : 1);
    out << std::fixed << v << " s";
    return out.str();
}

std::string number_text(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

HealthCheckRow graded(const std::string &name, double value, double warning, double critical) {
    HealthCheckRow r;
    r.check_name = name;
    r.severity = value >= critical ? 2 : value >= warning ? 1 : 0;
    r.status = r.severity == 2 ? "critical" : r.severity == 1 ? "warning" : "ok";
    return r;
}

} // namespace

std::vector<HealthCheckRow> checks(const Snapshot &s, const CheckThresholds &t) {
    const std::string who = "pgbouncer " + s.name;
    HealthCheckRow waiting, wait;
    const std::string waiting_threshold =
        "warning " + number_text(t.waiting_warning) + ", critical " + number_text(t.waiting_critical);
    const std::string wait_threshold =
        "warning " + seconds_text(t.max_wait_warning) + ", critical " + seconds_text(t.max_wait_critical);
    if (!s.up) {
        for (auto *r : {&waiting, &wait}) {
            r->status = "unknown";
            r->severity = 3;
            r->current_value = "n/a";
            r->detail = who + ": the admin console could not be read" +
                        (s.polled ? ": " + s.error : std::string(" yet (not polled)"));
            r->recommendation = "Check that PgBouncer runs and that the [[pgbouncers]] dsn reaches its admin "
                                "console (dbname=pgbouncer) as a user in admin_users or stats_users.";
        }
        waiting.check_name = "pgbouncer_waiting_clients";
        wait.check_name = "pgbouncer_max_wait";
        waiting.threshold = waiting_threshold;
        wait.threshold = wait_threshold;
        return {waiting, wait};
    }
    // The worst pool decides; ties go to the first in SHOW POOLS order.
    const Pool *most_waiting = nullptr, *longest = nullptr;
    for (const Pool &p : s.pools) {
        if (is_console(p.database))
            continue;
        if (!most_waiting || p.cl_waiting > most_waiting->cl_waiting)
            most_waiting = &p;
        if (!longest || p.maxwait_seconds > longest->maxwait_seconds)
            longest = &p;
    }
    const auto pool_name = [](const Pool *p) { return "pool " + p->database + "/" + p->user; };

    const double n = most_waiting ? static_cast<double>(most_waiting->cl_waiting) : 0;
    waiting = graded("pgbouncer_waiting_clients", n, t.waiting_warning, t.waiting_critical);
    waiting.current_value = number_text(n);
    waiting.threshold = waiting_threshold;
    if (!most_waiting)
        waiting.detail = who + ": no pools yet";
    else
        waiting.detail = who + ", " + pool_name(most_waiting) + ": " + number_text(n) +
                         (n == 1 ? " client" : " clients") + " waiting for a server connection (" +
                         std::to_string(most_waiting->cl_active) + " active, " +
                         std::to_string(most_waiting->sv_active) + " server connections active, " +
                         std::to_string(most_waiting->sv_idle) + " idle)";
    waiting.recommendation =
        waiting.severity == 0
            ? ""
            : "Clients queue when every server connection of the pool is busy: find long transactions "
              "holding server connections (vigil.health_check(), pg_stat_activity), or raise "
              "default_pool_size (vigil.pool_advice() sizes it) within the server's max_connections.";

    const double w = longest ? longest->maxwait_seconds : 0;
    wait = graded("pgbouncer_max_wait", w, t.max_wait_warning, t.max_wait_critical);
    wait.current_value = seconds_text(w);
    wait.threshold = wait_threshold;
    wait.detail = longest ? who + ", " + pool_name(longest) + ": the oldest waiting client has waited " +
                                seconds_text(w)
                          : who + ": no pools yet";
    wait.recommendation =
        wait.severity == 0
            ? ""
            : "A client waited that long for a server connection: look for transactions left open or slow "
              "queries holding the pool's server connections (idle in transaction, lock waits), then "
              "consider raising default_pool_size or reserve_pool_size.";
    return {waiting, wait};
}

// ---- every configured PgBouncer -------------------------------------------------------------

Monitors::Monitors(const std::vector<PgBouncerConfig> &targets, Seconds interval, Seconds timeout) {
    for (const auto &t : targets)
        monitors_.push_back(std::make_unique<Monitor>(t, interval, timeout));
}

void Monitors::start() {
    for (auto &m : monitors_)
        m->start();
}

void Monitors::stop() {
    for (auto &m : monitors_)
        m->stop();
}

void Monitors::render_metrics(metrics::Exposition &out) const {
    for (const auto &m : monitors_)
        pgbouncer::render_metrics(out, *m->snapshot());
}

std::vector<HealthCheckRow> Monitors::checks(const CheckThresholds &thresholds) const {
    std::vector<HealthCheckRow> rows;
    for (const auto &m : monitors_)
        for (auto &r : pgbouncer::checks(*m->snapshot(), thresholds))
            rows.push_back(std::move(r));
    return rows;
}

std::vector<HealthCheckRow> Monitors::checks() const {
    return checks(CheckThresholds{});
}

std::vector<HealthCheckRow> check_once(const std::vector<PgBouncerConfig> &targets, Seconds timeout) {
    std::vector<HealthCheckRow> rows;
    for (const auto &t : targets) {
        db::Connection conn;
        for (auto &r : checks(poll(t, conn, timeout)))
            rows.push_back(std::move(r));
    }
    return rows;
}

} // namespace vigil::pgbouncer
