// capture.cpp — a FleetSnapshot as history samples (the metrics of store.hpp).
#include "history/capture.hpp"

#include <algorithm>

namespace vigil::history {

namespace {

std::string label(const StatRow &row, const std::string &name) {
    for (const auto &[key, value] : row.labels)
        if (key == name)
            return value;
    return "";
}

void add_database(Capture &out, const std::string &target, const std::string &database,
                  const HealthSnapshot &h, bool slow) {
    auto add = [&](const char *metric, const std::string &lbl, double value) {
        out.samples.push_back({{target, database, metric, lbl}, value});
    };
    for (const std::string &state : known_connection_states())
        if (!h.connections.count(state))
            add(metric::connections, state, 0);
    for (const auto &[state, count] : h.connections)
        add(metric::connections, state, count);
    add(metric::lock_waiters, "", h.lock_waiters);
    add(metric::longest_lock_wait_seconds, "", h.longest_lock_wait_seconds);
    for (const StandbyLag &lag : h.replication)
        add(metric::replication_lag_seconds, lag.standby, lag.seconds);
    add(metric::database_size_bytes, "", static_cast<double>(h.database_size_bytes));
    add(metric::xid_age, "", static_cast<double>(h.xid_age));
    if (slow && h.tables)
        for (const StatRow &row : *h.tables) {
            auto size = row.values.find("size_bytes");
            if (size != row.values.end()) // absent while the table is locked exclusively
                add(metric::table_size_bytes, label(row, "schema") + "." + label(row, "table"), size->second);
        }
    if (slow && h.statements)
        for (const StatRow &row : *h.statements) {
            const std::string queryid = label(row, "queryid");
            if (queryid.empty())
                continue;
            const std::pair<const char *, const char *> columns[] = {
                {metric::statement_calls, "calls"},
                {metric::statement_total_time_seconds, "seconds"},
                {metric::statement_rows, "rows"},
                {metric::statement_shared_blks_hit, "shared_blks_hit"},
                {metric::statement_shared_blks_read, "shared_blks_read"},
            };
            for (const auto &[name, column] : columns) {
                auto v = row.values.find(column);
                if (v != row.values.end())
                    add(name, queryid, v->second);
            }
            const std::string text = label(row, "query");
            if (!text.empty())
                out.texts.push_back({target, database, queryid, text});
        }
    for (const HealthCheckRow &check : h.checks)
        add(metric::check_severity, check.check_name, check.severity);
    if (h.newest_backup_timestamp > 0)
        add(metric::newest_backup_timestamp, "", h.newest_backup_timestamp);
}

} // namespace

const std::vector<std::string> &known_connection_states() {
    static const std::vector<std::string> states = {"active", "idle", "idle in transaction",
                                                    "idle in transaction (aborted)"};
    return states;
}

Capture capture(const fleet::FleetSnapshot &fleet, bool slow) {
    Capture out;
    for (const fleet::TargetState &target : fleet.targets) {
        out.samples.push_back({{target.name, "", metric::up, ""}, target.up ? 1.0 : 0.0});
        for (const fleet::DatabaseState &db : target.databases)
            if (db.health && db.health->polled && db.health->up)
                add_database(out, target.name, db.database, *db.health, slow);
    }
    return out;
}

} // namespace vigil::history
