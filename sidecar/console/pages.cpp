// pages.cpp — the page models of the console.
#include "console/pages.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "console/chart.hpp"
#include "console/drilldown.hpp"
#include "console/format.hpp"
#include "metrics/poller.hpp"

namespace vigil::console {

using fleet::DatabaseState;
using fleet::TargetState;

std::string url_encode(const std::string &s) {
    static const char *hexd = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hexd[c >> 4];
            out += hexd[c & 15];
        }
    }
    return out;
}

std::string page_link(const std::string &path, const std::string &target, const std::string &database,
                      const std::string &extra) {
    return path + "?target=" + url_encode(target) + "&database=" + url_encode(database) + extra;
}

int severity_rank(int severity) {
    switch (severity) {
    case 2:
        return 0;
    case 1:
        return 1;
    case 3:
        return 2;
    default:
        return 3;
    }
}

const char *severity_class(int severity) {
    switch (severity) {
    case 0:
        return "ok";
    case 1:
        return "warning";
    case 2:
        return "critical";
    default:
        return "unknown";
    }
}

namespace {

struct DbRef {
    const TargetState *target = nullptr;
    const DatabaseState *database = nullptr;
    const HealthSnapshot &health() const { return *database->health; }
};

std::vector<DbRef> all_databases(const fleet::FleetSnapshot &f) {
    std::vector<DbRef> out;
    for (const TargetState &t : f.targets)
        for (const DatabaseState &d : t.databases)
            if (d.health)
                out.push_back({&t, &d});
    return out;
}

std::optional<double> value(const StatRow &row, const std::string &name) {
    auto it = row.values.find(name);
    if (it == row.values.end())
        return std::nullopt;
    return it->second;
}

std::string label(const StatRow &row, const std::string &name) {
    for (const auto &[k, v] : row.labels)
        if (k == name)
            return v;
    return "";
}

// The worst state of a database: down, or its worst check.
int worst_severity(const HealthSnapshot &h) {
    int worst = 0;
    for (const HealthCheckRow &c : h.checks)
        if (severity_rank(c.severity) < severity_rank(worst))
            worst = c.severity;
    return worst;
}

// The database named by ?target=&database=, else the first one that is up (else the first).
std::optional<DbRef> selected(const PageInput &in) {
    const auto dbs = all_databases(in.fleet);
    for (const DbRef &r : dbs)
        if (r.target->name == in.param("target") && r.database->database == in.param("database"))
            return r;
    for (const DbRef &r : dbs)
        if (r.target->up)
            return r;
    if (!dbs.empty())
        return dbs.front();
    return std::nullopt;
}

// The chooser of a drill-down page: one link per database.
Data chooser(const PageInput &in, const std::string &path, const std::optional<DbRef> &sel) {
    Data list = make_list();
    for (const DbRef &r : all_databases(in.fleet)) {
        Data c;
        c.set("target", r.target->name);
        c.set("database", r.database->database);
        c.set("href", page_link(path, r.target->name, r.database->database));
        c.set("current", sel && sel->database == r.database);
        list.push_back(c);
    }
    return list;
}

void set_selection(Data &page, const PageInput &in, const std::string &path,
                   const std::optional<DbRef> &sel) {
    page.set("chooser", chooser(in, path, sel));
    page.set("has_selection", sel.has_value());
    if (sel) {
        page.set("sel_target", sel->target->name);
        page.set("sel_database", sel->database->database);
    }
}

// Runs `fn` with a drill-down connection to `ref`; returns the error to show, if any.
std::optional<std::string> drill(const PageInput &in, const DbRef &ref,
                                 const std::function<void(Drilldown &)> &fn) {
    if (!ref.target->up)
        return "the target is down: " +
               (ref.target->error.empty() ? std::string("no poll reached it") : ref.target->error);
    const auto dsn = in.dsn(ref.target->name, ref.database->database);
    if (!dsn)
        return std::string("this database is no longer in the fleet");
    try {
        Drilldown d(*dsn, in.options.drilldown_timeout_seconds);
        fn(d);
    } catch (const std::exception &e) {
        return std::string(e.what());
    }
    return std::nullopt;
}

// The poll's replication view; from its older lag list when the view is absent (a poller that
// does not read pg_stat_wal_receiver): "self" is a standby's own replay delay.
std::optional<ReplicationView> replication_of(const HealthSnapshot &h) {
    if (h.replication_view)
        return h.replication_view;
    if (!h.up || h.replication.empty())
        return std::nullopt;
    ReplicationView v;
    for (const StandbyLag &l : h.replication) {
        if (l.standby == "self") {
            v.in_recovery = true;
            WalReceiverState w;
            w.replay_delay_seconds = l.seconds;
            v.receiver = w;
            continue;
        }
        StandbyReplication s;
        s.application_name = l.standby;
        s.client_addr = l.client_addr;
        s.replay_lag_seconds = l.seconds;
        v.standbys.push_back(s);
    }
    return v;
}

// The lag a target's replication shows: a standby's replay delay, or a primary's worst standby.
std::optional<double> target_lag(const TargetState &t, std::string *what) {
    for (const DatabaseState &d : t.databases) {
        const auto view = d.health ? replication_of(*d.health) : std::nullopt;
        if (!view)
            continue;
        const ReplicationView &v = *view;
        if (v.in_recovery && v.receiver) {
            *what = v.receiver->streaming() || v.receiver->status.empty() ? "replay delay"
                                                                          : "link " + v.receiver->status;
            return v.receiver->replay_delay_seconds;
        }
        std::optional<double> worst;
        for (const StandbyReplication &s : v.standbys)
            if (s.replay_lag_seconds)
                worst = std::max(worst.value_or(0), *s.replay_lag_seconds);
        if (!v.standbys.empty()) {
            *what = std::to_string(v.standbys.size()) + " standby(s), worst replay lag";
            return worst.value_or(0);
        }
        return std::nullopt;
    }
    return std::nullopt;
}

double total_connections(const HealthSnapshot &h) {
    double n = 0;
    for (const auto &[state, count] : h.connections)
        n += count;
    return n;
}

std::vector<HistoryPoint> history_series(const PageInput &in, const DbRef &r, const std::string &metric,
                                         const std::string &lbl) {
    if (!in.history.series)
        return {};
    try {
        return in.history.series(r.target->name, r.database->database, metric, lbl,
                                 in.now - in.options.history_window_seconds);
    } catch (const std::exception &) {
        return {};
    }
}

Series to_series(const std::string &name, const std::vector<HistoryPoint> &points) {
    Series s{name, {}};
    for (const HistoryPoint &p : points)
        s.points.emplace_back(p.timestamp, p.value);
    return s;
}

Data check_row(const HealthCheckRow &c) {
    Data row;
    row.set("name", c.check_name);
    row.set("status", c.status);
    row.set("cls", severity_class(c.severity));
    row.set("value", c.current_value);
    row.set("threshold", c.threshold);
    row.set("detail", c.detail);
    // What to do, where there is something to do: a passing check's advice is noise on the page.
    row.set("recommendation", c.severity == 0 ? std::string() : c.recommendation);
    return row;
}

std::vector<HealthCheckRow> sorted_checks(const HealthSnapshot &h) {
    std::vector<HealthCheckRow> checks = h.checks;
    std::stable_sort(checks.begin(), checks.end(), [](const HealthCheckRow &a, const HealthCheckRow &b) {
        return severity_rank(a.severity) < severity_rank(b.severity);
    });
    return checks;
}

} // namespace

Data overview_page(const PageInput &in) {
    Data page;
    Data targets = make_list();
    int down = 0, critical = 0, warning = 0, databases = 0;
    std::vector<const TargetState *> order;
    for (const TargetState &t : in.fleet.targets)
        order.push_back(&t);
    // Worst first: down, then critical, warning, the rest; by name within each.
    auto target_rank = [](const TargetState *t) {
        if (!t->up)
            return -1;
        int worst = 3;
        for (const DatabaseState &d : t->databases)
            if (d.health)
                worst = std::min(worst, d.health->up ? severity_rank(worst_severity(*d.health)) : -1);
        return worst;
    };
    std::stable_sort(order.begin(), order.end(), [&](const TargetState *a, const TargetState *b) {
        return target_rank(a) < target_rank(b);
    });
    for (const TargetState *t : order) {
        Data td;
        td.set("name", t->name);
        td.set("role", fleet::role_name(t->role));
        td.set("up", t->up);
        td.set("error", t->error);
        td.set("last_success", format_age(in.now, t->last_success_timestamp));
        if (!t->up)
            ++down;
        std::string what;
        if (const auto lag = target_lag(*t, &what)) {
            td.set("lag", format_seconds(*lag));
            td.set("lag_what", what);
        } else if (!what.empty()) {
            td.set("lag", std::string("unknown"));
            td.set("lag_what", what);
        }
        Data dbs = make_list();
        for (const DatabaseState &d : t->databases) {
            if (!d.health)
                continue;
            const HealthSnapshot &h = *d.health;
            ++databases;
            Data dd;
            dd.set("name", d.database);
            dd.set("up", h.up);
            dd.set("error", h.error);
            const int worst = h.up ? worst_severity(h) : 2;
            dd.set("cls", h.up ? severity_class(worst) : "critical");
            dd.set("status", h.up ? severity_class(worst) : "down");
            dd.set("size", format_bytes(static_cast<double>(h.database_size_bytes)));
            dd.set("connections", format_count(total_connections(h)));
            dd.set("lock_waiters", format_count(h.lock_waiters));
            dd.set("checks_href", page_link("/checks", t->name, d.database));
            if (!h.health_checks_available)
                dd.set("checks_missing", h.health_checks_error.empty()
                                             ? std::string("the pgvigil extension is not installed here")
                                             : h.health_checks_error);
            Data problems = make_list();
            for (const HealthCheckRow &c : sorted_checks(h)) {
                if (c.severity == 2)
                    ++critical;
                else if (c.severity == 1)
                    ++warning;
                if (c.severity == 1 || c.severity == 2)
                    problems.push_back(check_row(c));
            }
            set_list(dd, "problems", problems);
            dbs.push_back(dd);
        }
        td.set("databases", dbs);
        targets.push_back(td);
    }
    page.set("targets", targets);
    page.set("no_targets", in.fleet.targets.empty());
    page.set("summary_cls", down || critical ? "critical" : warning ? "warning" : "ok");
    std::string summary = std::to_string(in.fleet.targets.size()) + " target(s), " +
                          std::to_string(databases) + " database(s): ";
    if (!down && !critical && !warning)
        summary += "nothing needs attention";
    else
        summary += std::to_string(down) + " down, " + std::to_string(critical) + " critical, " +
                   std::to_string(warning) + " warning";
    page.set("summary", summary);
    return page;
}

Data checks_page(const PageInput &in) {
    Data page;
    Data dbs = make_list();
    for (const DbRef &r : all_databases(in.fleet)) {
        const HealthSnapshot &h = r.health();
        Data d;
        d.set("target", r.target->name);
        d.set("database", r.database->database);
        d.set("up", h.up);
        d.set("error", h.error);
        d.set("polled", format_age(in.now, h.last_poll_timestamp));
        d.set("checks_error",
              h.health_checks_available
                  ? h.health_checks_error
                  : std::string("vigil.health_check() is not available (CREATE EXTENSION pgvigil)"));
        Data checks = make_list();
        for (const HealthCheckRow &c : sorted_checks(h))
            checks.push_back(check_row(c));
        d.set("checks", checks);
        dbs.push_back(d);
    }
    page.set("databases", dbs);
    return page;
}

namespace {

struct StatementLine {
    DbRef ref;
    const StatRow *row;
    double seconds, calls, share;
};

} // namespace

Data queries_page(const PageInput &in) {
    Data page;
    std::string sort = in.param("sort");
    if (sort != "mean" && sort != "calls")
        sort = "total";
    std::vector<StatementLine> lines;
    bool any_stats = false;
    for (const DbRef &r : all_databases(in.fleet)) {
        const HealthSnapshot &h = r.health();
        if (!h.statements)
            continue;
        any_stats = true;
        double total = 0;
        for (const StatRow &s : *h.statements)
            total += value(s, "seconds").value_or(0);
        for (const StatRow &s : *h.statements) {
            const double secs = value(s, "seconds").value_or(0);
            lines.push_back({r, &s, secs, value(s, "calls").value_or(0), total > 0 ? secs / total : 0});
        }
    }
    auto mean = [](const StatementLine &l) { return l.calls > 0 ? l.seconds / l.calls : 0; };
    std::stable_sort(lines.begin(), lines.end(), [&](const StatementLine &a, const StatementLine &b) {
        if (sort == "mean")
            return mean(a) > mean(b);
        if (sort == "calls")
            return a.calls > b.calls;
        return a.seconds > b.seconds;
    });
    Data rows = make_list();
    for (const StatementLine &l : lines) {
        Data row;
        const std::string id = label(*l.row, "queryid");
        row.set("target", l.ref.target->name);
        row.set("database", l.ref.database->database);
        row.set("query", label(*l.row, "query"));
        row.set("href", page_link("/query", l.ref.target->name, l.ref.database->database,
                                  "&queryid=" + url_encode(id)));
        row.set("total", format_seconds(l.seconds));
        row.set("mean", format_seconds(mean(l)));
        row.set("calls", format_count(l.calls));
        row.set("share", format_fraction(l.share));
        row.set("share_value", format_number(std::round(l.share * 1000) / 1000));
        const double hit = value(*l.row, "shared_blks_hit").value_or(0),
                     read = value(*l.row, "shared_blks_read").value_or(0);
        row.set("hit_ratio", hit + read > 0 ? format_fraction(hit / (hit + read)) : std::string("n/a"));
        row.set("rows", format_count(value(*l.row, "rows").value_or(0)));
        rows.push_back(row);
    }
    page.set("rows", rows);
    page.set("empty", lines.empty());
    page.set("no_stats", !any_stats);
    Data sorts = make_list();
    for (const auto &[key, name] : std::vector<std::pair<std::string, std::string>>{
             {"total", "total time"}, {"mean", "mean time"}, {"calls", "calls"}}) {
        Data s;
        s.set("label", name);
        s.set("href", "/queries?sort=" + key);
        s.set("current", key == sort);
        sorts.push_back(s);
    }
    page.set("sorts", sorts);
    return page;
}

Data statement_page(const PageInput &in) {
    Data page;
    const std::string id = in.param("queryid");
    page.set("queryid", id);
    const auto sel = selected(in);
    const StatRow *found = nullptr;
    if (sel && sel->target->name == in.param("target") && sel->database->database == in.param("database") &&
        sel->health().statements)
        for (const StatRow &s : *sel->health().statements)
            if (label(s, "queryid") == id)
                found = &s;
    page.set("found", found != nullptr);
    if (!sel || !found)
        return page;
    page.set("target", sel->target->name);
    page.set("database", sel->database->database);
    const double secs = value(*found, "seconds").value_or(0), calls = value(*found, "calls").value_or(0);
    page.set("total", format_seconds(secs));
    page.set("calls", format_count(calls));
    page.set("mean", format_seconds(calls > 0 ? secs / calls : 0));
    page.set("rows", format_count(value(*found, "rows").value_or(0)));
    const double hit = value(*found, "shared_blks_hit").value_or(0),
                 read = value(*found, "shared_blks_read").value_or(0);
    page.set("hit_ratio", hit + read > 0 ? format_fraction(hit / (hit + read)) : std::string("n/a"));
    std::string text = label(*found, "query");
    // The full text is a drill-down: the poll keeps a short label only.
    const auto err = drill(in, *sel, [&](Drilldown &d) {
        const auto rows = d.query("SELECT query FROM " +
                                      d.query("SELECT vigil.pg_stat_statements_view() AS v").at(0).text("v") +
                                      "(true) WHERE queryid = $1::bigint LIMIT 1",
                                  {id});
        if (!rows.empty())
            text = rows[0].text("query");
    });
    page.set("text", text);
    page.set("text_error", err.value_or(""));
    std::vector<HistoryPoint> hist;
    if (in.history.statement_mean_seconds) {
        try {
            hist = in.history.statement_mean_seconds(sel->target->name, sel->database->database, id,
                                                     in.now - in.options.history_window_seconds);
        } catch (const std::exception &) {
        }
    }
    ChartOptions o;
    o.title = "Mean time per call";
    o.y_format = format_seconds;
    page.set("chart", line_chart({to_series("mean time", hist)}, o));
    return page;
}

Data locks_page(const PageInput &in) {
    Data page;
    Data summary = make_list();
    for (const DbRef &r : all_databases(in.fleet)) {
        if (!r.health().up || r.health().lock_waiters == 0)
            continue;
        Data s;
        s.set("target", r.target->name);
        s.set("database", r.database->database);
        s.set("waiters", format_count(r.health().lock_waiters));
        s.set("longest", format_seconds(r.health().longest_lock_wait_seconds));
        s.set("href", page_link("/locks", r.target->name, r.database->database));
        summary.push_back(s);
    }
    set_list(page, "summary", summary);
    const auto sel = selected(in);
    set_selection(page, in, "/locks", sel);
    if (!sel)
        return page;
    Data rows = make_list();
    int roots = 0;
    const auto err = drill(in, *sel, [&](Drilldown &d) {
        for (const Row &r : d.query("SELECT pid, depth, root_blocker_pid, waiting_behind, extract(epoch FROM "
                                    "blocking_for) AS blocking_for,"
                                    "       state, usename, application_name, extract(epoch FROM "
                                    "wait_duration) AS wait_duration,"
                                    "       extract(epoch FROM xact_age) AS xact_age, locked_object, query "
                                    "FROM vigil.lock_tree()")) {
            Data row;
            const int depth = static_cast<int>(r.number("depth").value_or(0));
            row.set("pid", r.text("pid"));
            row.set("depth_cls", "depth-" + std::to_string(std::min(depth, 6)));
            row.set("root", depth == 0);
            if (depth == 0)
                ++roots;
            row.set("waiting_behind", r.text("waiting_behind"));
            row.set("blocking_for",
                    r.number("blocking_for") ? format_seconds(*r.number("blocking_for")) : "");
            row.set("wait", r.number("wait_duration") ? format_seconds(*r.number("wait_duration")) : "");
            row.set("xact_age", r.number("xact_age") ? format_seconds(*r.number("xact_age")) : "");
            row.set("state", r.text("state"));
            row.set("user", r.text("usename"));
            row.set("application", r.text("application_name"));
            row.set("object", r.text("locked_object"));
            row.set("query", r.text("query"));
            if (in.actions_enabled && r.text("pid") != "0") {
                row.set("cancel_href",
                        page_link("/actions/confirm", sel->target->name, sel->database->database,
                                  "&kind=cancel&pid=" + url_encode(r.text("pid"))));
                row.set("terminate_href",
                        page_link("/actions/confirm", sel->target->name, sel->database->database,
                                  "&kind=terminate&pid=" + url_encode(r.text("pid"))));
            }
            rows.push_back(row);
        }
    });
    set_list(page, "rows", rows);
    page.set("no_waits", !err && roots == 0);
    page.set("error", err.value_or(""));
    if (in.actions_enabled && roots > 0)
        page.set("terminate_blockers_href",
                 page_link("/actions/confirm", sel->target->name, sel->database->database,
                           "&kind=terminate_blockers&min_blocking=60"));
    return page;
}

Data space_page(const PageInput &in) {
    Data page;
    std::vector<DbRef> dbs = all_databases(in.fleet);
    std::stable_sort(dbs.begin(), dbs.end(), [](const DbRef &a, const DbRef &b) {
        return a.health().database_size_bytes > b.health().database_size_bytes;
    });
    Data dlist = make_list();
    for (const DbRef &r : dbs) {
        if (!r.health().up)
            continue;
        Data d;
        d.set("target", r.target->name);
        d.set("database", r.database->database);
        d.set("size", format_bytes(static_cast<double>(r.health().database_size_bytes)));
        d.set("href", page_link("/space", r.target->name, r.database->database));
        dlist.push_back(d);
    }
    page.set("databases", dlist);
    const auto sel = selected(in);
    set_selection(page, in, "/space", sel);
    if (!sel)
        return page;
    // Tables by size from the poll; their bloat from the estimate views (a drill-down).
    Data tables = make_list();
    if (sel->health().tables) {
        std::vector<const StatRow *> t;
        for (const StatRow &s : *sel->health().tables)
            t.push_back(&s);
        std::stable_sort(t.begin(), t.end(), [](const StatRow *a, const StatRow *b) {
            return value(*a, "size_bytes").value_or(0) > value(*b, "size_bytes").value_or(0);
        });
        for (const StatRow *s : t) {
            Data row;
            row.set("schema", label(*s, "schema"));
            row.set("table", label(*s, "table"));
            row.set("size", value(*s, "size_bytes") ? format_bytes(*value(*s, "size_bytes")) : "locked");
            row.set("live", format_count(value(*s, "n_live_tup").value_or(0)));
            row.set("dead", format_count(value(*s, "n_dead_tup").value_or(0)));
            row.set("last_autovacuum",
                    format_age(in.now, value(*s, "last_autovacuum_timestamp").value_or(0)));
            tables.push_back(row);
        }
    }
    set_list(page, "tables", tables);
    Data tbloat = make_list(), ibloat = make_list();
    auto bloat_row = [&](const Row &r, bool index) {
        Data row;
        row.set("schema", r.text("schema_name"));
        row.set("table", r.text("table_name"));
        row.set("index", index ? r.text("index_name") : "");
        row.set("size", format_bytes(r.number("real_bytes").value_or(0)));
        row.set("ratio", r.number("bloat_ratio") ? format_fraction(*r.number("bloat_ratio")) : "n/a");
        row.set("reclaimable",
                r.number("reclaimable_bytes") ? format_bytes(*r.number("reclaimable_bytes")) : "n/a");
        row.set("quality", r.text("estimate_quality"));
        row.set("good", r.text("estimate_quality") == "good");
        return row;
    };
    const auto err = drill(in, *sel, [&](Drilldown &d) {
        for (const Row &r :
             d.query("SELECT schema_name, table_name, real_bytes, bloat_ratio, reclaimable_bytes,"
                     "       estimate_quality FROM vigil.table_bloat ORDER BY real_bytes DESC LIMIT 30"))
            tbloat.push_back(bloat_row(r, false));
        for (const Row &r : d.query("SELECT schema_name, table_name, index_name, real_bytes, bloat_ratio,"
                                    "       reclaimable_bytes, estimate_quality FROM vigil.index_bloat"
                                    " ORDER BY real_bytes DESC LIMIT 30"))
            ibloat.push_back(bloat_row(r, true));
    });
    page.set("table_bloat", tbloat);
    page.set("index_bloat", ibloat);
    page.set("bloat_error", err.value_or(""));
    ChartOptions o;
    o.title = "Database size";
    o.y_format = format_bytes;
    page.set("chart", line_chart({to_series(sel->database->database,
                                            history_series(in, *sel, "database_size_bytes", ""))},
                                 o));
    return page;
}

Data pool_page(const PageInput &in) {
    Data page;
    const auto sel = selected(in);
    set_selection(page, in, "/pool", sel);
    if (!sel)
        return page;
    Data advice = make_list();
    std::map<std::string, double> metric;
    Series curve{"p99 wait", {}};
    const auto err = drill(in, *sel, [&](Drilldown &d) {
        for (const Row &r : d.query("SELECT metric, value, explanation FROM vigil.pool_advice('1 second')")) {
            Data a;
            a.set("metric", r.text("metric"));
            a.set("value", r.number("value") ? format_number(*r.number("value")) : "n/a");
            a.set("explanation", r.text("explanation"));
            advice.push_back(a);
            if (r.number("value"))
                metric[r.text("metric")] = *r.number("value");
        }
        const double rate = metric["request_rate"], service = metric["mean_service_time_ms"];
        const double load = rate * service / 1000;
        if (rate > 0 && service > 0) {
            // The model's curve (vigil.pool_wait, Erlang C) from just above the offered load.
            const int from = std::max(1, static_cast<int>(std::floor(load)) + 1);
            const int to = std::max(
                from + 10, static_cast<int>(std::max(metric["recommended_pool_size"], load) * 2) + 2);
            for (const Row &r :
                 d.query("SELECT n, (vigil.pool_wait($1::float8, $2::float8, n)).p99_wait_ms / 1000 AS p99"
                         "  FROM generate_series($3::int, $4::int) n",
                         {std::to_string(rate), std::to_string(service), std::to_string(from),
                          std::to_string(std::min(to, from + 200))}))
                if (r.number("n") && r.number("p99"))
                    curve.points.emplace_back(*r.number("n"), *r.number("p99"));
        }
    });
    page.set("advice", advice);
    page.set("error", err.value_or(""));
    ChartOptions o;
    o.title = "p99 wait for a connection against pool size (Erlang C)";
    o.time_axis = false;
    o.y_format = format_seconds;
    o.x_label = "pool size";
    if (in.hooks.pool_size) {
        o.marker_x = in.hooks.pool_size();
        o.marker_label = "today: " + format_number(*o.marker_x);
    }
    page.set("chart", line_chart({curve}, o));
    page.set("no_load", !err && curve.points.empty());
    if (metric.count("recommended_pool_size"))
        page.set("recommended", format_number(metric["recommended_pool_size"]));
    return page;
}

Data replication_page(const PageInput &in) {
    Data page;
    Data targets = make_list();
    for (const TargetState &t : in.fleet.targets) {
        Data td;
        td.set("name", t.name);
        td.set("role", fleet::role_name(t.role));
        td.set("up", t.up);
        td.set("error", t.error);
        const DatabaseState *first = nullptr;
        std::optional<ReplicationView> view;
        for (const DatabaseState &d : t.databases)
            if (d.health && !first && (view = replication_of(*d.health)))
                first = &d;
        td.set("known", first != nullptr);
        if (!first) {
            targets.push_back(td);
            continue;
        }
        const HealthSnapshot &h = *first->health;
        const ReplicationView &v = *view;
        if (v.timeline)
            td.set("timeline", std::to_string(*v.timeline));
        Data links = make_list(), standbys = make_list(), slots = make_list();
        Data broken = make_list();
        if (v.receiver) {
            const WalReceiverState &w = *v.receiver;
            Data l;
            l.set("status", w.status.empty() ? std::string("no walreceiver") : w.status);
            l.set("streaming", w.streaming());
            l.set("sender", w.sender_host.empty() ? "" : w.sender_host + ":" + std::to_string(w.sender_port));
            l.set("last_message",
                  w.last_message_age_seconds ? format_seconds(*w.last_message_age_seconds) + " ago" : "n/a");
            l.set("replay_delay", w.replay_delay_seconds ? format_seconds(*w.replay_delay_seconds) : "n/a");
            l.set("unreplayed", w.unreplayed_bytes ? format_bytes(*w.unreplayed_bytes) : "n/a");
            links.push_back(l);
            if (w.expected && !w.streaming()) {
                Data b;
                b.set("text", "this standby is not streaming from its primary (walreceiver: " +
                                  (w.status.empty() ? std::string("not running") : w.status) +
                                  "); its replay position is not catching up");
                broken.push_back(b);
            }
        }
        std::vector<Series> lag_series;
        for (const StandbyReplication &s : v.standbys) {
            Data sd;
            sd.set("name", s.application_name);
            sd.set("client", s.client_addr);
            sd.set("state", s.state.empty() ? std::string("n/a") : s.state);
            sd.set("sync", s.sync_state);
            auto secs = [](const std::optional<double> &x) {
                return x ? format_seconds(*x) : std::string("n/a");
            };
            sd.set("write_lag", secs(s.write_lag_seconds));
            sd.set("flush_lag", secs(s.flush_lag_seconds));
            sd.set("replay_lag", secs(s.replay_lag_seconds));
            sd.set("replay_bytes", s.replay_lag_bytes ? format_bytes(*s.replay_lag_bytes) : "n/a");
            sd.set("state_cls", s.state == "streaming" ? "ok" : s.state.empty() ? "unknown" : "warning");
            standbys.push_back(sd);
            if (!s.state.empty() && s.state != "streaming") {
                Data b;
                b.set("text", "standby " + s.application_name + " is " + s.state + ", not streaming");
                broken.push_back(b);
            }
            lag_series.push_back(
                to_series(s.application_name,
                          history_series(in, {&t, first}, "replication_lag_seconds", s.application_name)));
        }
        if (v.receiver)
            lag_series.push_back(
                to_series("replay delay", history_series(in, {&t, first}, "replication_lag_seconds", "")));
        if (h.replication_slots)
            for (const StatRow &s : *h.replication_slots) {
                Data sd;
                sd.set("name", label(s, "slot"));
                sd.set("type", label(s, "slot_type"));
                const bool active = value(s, "active").value_or(0) > 0;
                sd.set("active", active);
                sd.set("retained",
                       value(s, "retained_bytes") ? format_bytes(*value(s, "retained_bytes")) : "n/a");
                std::string wal = "n/a";
                for (const char *st : {"reserved", "extended", "unreserved", "lost"})
                    if (value(s, std::string("wal_status_") + st).value_or(0) > 0)
                        wal = st;
                sd.set("wal_status", wal);
                slots.push_back(sd);
                if (wal == "lost" || !active) {
                    Data b;
                    b.set("text", "slot " + label(s, "slot") +
                                      (wal == "lost" ? " has lost WAL its consumer needs"
                                                     : " is inactive and retains WAL"));
                    broken.push_back(b);
                }
            }
        td.set("links", links);
        set_list(td, "standbys", standbys);
        set_list(td, "slots", slots);
        td.set("broken", broken);
        ChartOptions o;
        o.title = "Replication lag";
        o.y_format = format_seconds;
        td.set("chart", line_chart(lag_series, o));
        td.set("has_chart", !lag_series.empty());
        targets.push_back(td);
    }
    page.set("targets", targets);
    return page;
}

Data backups_page(const PageInput &in) {
    Data page;
    Data list = make_list();
    for (const DbRef &r : all_databases(in.fleet)) {
        const HealthSnapshot &h = r.health();
        Data b;
        b.set("target", r.target->name);
        b.set("database", r.database->database);
        b.set("has_backup", h.newest_backup_timestamp > 0);
        b.set("backup", h.newest_backup);
        b.set("when", format_time(h.newest_backup_timestamp));
        b.set("age", format_age(in.now, h.newest_backup_timestamp));
        b.set("old", h.newest_backup_timestamp > 0 && in.now - h.newest_backup_timestamp > 26 * 3600);
        list.push_back(b);
    }
    page.set("backups", list);
    if (in.hooks.verify_status) {
        const VerifyStatus st = in.hooks.verify_status();
        page.set("verified", st.ran);
        page.set("verify_passed", st.passed);
        page.set("verify_target", st.target);
        page.set("verify_when", format_time(st.timestamp));
        page.set("verify_age", format_age(in.now, st.timestamp));
        page.set("verify_duration", format_seconds(st.duration_seconds));
        Data steps = make_list();
        for (const auto &[name, status] : st.steps) {
            Data s;
            s.set("name", name);
            s.set("status", status);
            s.set("cls", status == "pass" ? "ok" : status == "fail" ? "critical" : "unknown");
            steps.push_back(s);
        }
        page.set("steps", steps);
    }
    if (in.actions_enabled && in.hooks.verify_now)
        page.set("verify_href", std::string("/actions/confirm?kind=verify"));
    return page;
}

Data activity_page(const PageInput &in) {
    Data page;
    Data now_list = make_list();
    for (const DbRef &r : all_databases(in.fleet)) {
        if (!r.health().up)
            continue;
        Data d;
        d.set("target", r.target->name);
        d.set("database", r.database->database);
        Data states = make_list();
        for (const auto &[state, count] : r.health().connections) {
            Data s;
            s.set("state", state);
            s.set("count", format_count(count));
            states.push_back(s);
        }
        d.set("states", states);
        now_list.push_back(d);
    }
    page.set("now", now_list);
    const auto sel = selected(in);
    set_selection(page, in, "/activity", sel);
    if (!sel)
        return page;
    std::vector<Series> series = {
        {"active", {}}, {"idle", {}}, {"idle in transaction", {}}, {"waiting on a lock", {}}};
    const char *columns[] = {"active", "idle", "idle_in_transaction", "waiting_on_lock"};
    const auto err = drill(in, *sel, [&](Drilldown &d) {
        for (const Row &r :
             d.query("SELECT extract(epoch FROM sampled_at) AS t, active, idle, idle_in_transaction,"
                     "       waiting_on_lock FROM vigil.activity_history()"))
            for (int i = 0; i < 4; ++i)
                if (r.number("t") && r.number(columns[i]))
                    series[static_cast<std::size_t>(i)].points.emplace_back(*r.number("t"),
                                                                            *r.number(columns[i]));
    });
    // Without the sampler (pgvigil not preloaded), the history store's poll-by-poll counts.
    if (series[0].points.empty() && in.history.series) {
        series.clear();
        for (const std::string state : {"active", "idle", "idle in transaction"})
            series.push_back(to_series(state, history_series(in, *sel, "connections", state)));
    }
    page.set("error", err.value_or(""));
    ChartOptions o;
    o.title = "Client sessions by state";
    page.set("chart", line_chart(series, o));
    return page;
}

} // namespace vigil::console
