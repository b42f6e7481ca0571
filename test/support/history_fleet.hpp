// history_fleet.hpp — FleetSnapshots for the history store's tests and benchmark: a fleet shaped
// like a real one (targets, databases, top tables and statements, checks, standbys) whose numbers
// move with the capture number, as a poller's would.
#pragma once

#include <memory>
#include <string>

#include "fleet/fleet_snapshot.hpp"

namespace vigil::test {

struct FleetShape {
    int targets = 1, databases = 1, tables = 3, statements = 3, checks = 4, standbys = 1;
};

// Capture number `n` (0, 1, 2, ...) of a fleet of `shape` at Unix time `now`. Counters grow with
// n; statement q's calls are (q + 1) * (n + 1), its total time a tenth of that in seconds.
inline fleet::FleetSnapshot make_fleet(const FleetShape &shape, long long n, double now) {
    fleet::FleetSnapshot fleet;
    fleet.timestamp = now;
    for (int t = 0; t < shape.targets; ++t) {
        fleet::TargetState target;
        target.name = "pg" + std::to_string(t);
        target.source = "config";
        target.role = fleet::Role::primary;
        target.up = true;
        target.last_success_timestamp = now;
        for (int d = 0; d < shape.databases; ++d) {
            auto h = std::make_shared<HealthSnapshot>();
            h->polled = h->up = true;
            h->last_poll_timestamp = h->last_success_timestamp = now;
            h->database = "db" + std::to_string(d);
            h->connections = {{"active", static_cast<int>(2 + n % 5)}, {"idle", 10}};
            if (n % 3 == 0)
                h->connections["idle in transaction"] = 1;
            h->lock_waiters = static_cast<int>(n % 2);
            h->longest_lock_wait_seconds = h->lock_waiters ? 0.25 * static_cast<double>(n % 7) : 0;
            for (int s = 0; s < shape.standbys; ++s)
                h->replication.push_back(
                    {"standby" + std::to_string(s), "127.0.0.1", 0.01 * static_cast<double>(n % 10)});
            h->database_size_bytes = 100'000'000 + 8192 * n;
            h->xid_age = 1000 + 10 * n;
            h->tables.emplace();
            for (int i = 0; i < shape.tables; ++i) {
                StatRow row;
                row.labels = {{"schema", "public"}, {"table", "table_" + std::to_string(i)}};
                row.values["size_bytes"] = static_cast<double>(1'000'000 * (i + 1) + 8192 * n);
                row.values["n_live_tup"] = static_cast<double>(1000 * (i + 1));
                h->tables->push_back(row);
            }
            h->statements.emplace();
            for (int q = 0; q < shape.statements; ++q) {
                StatRow row;
                const double calls = static_cast<double>((q + 1) * (n + 1));
                row.labels = {{"queryid", std::to_string(-4'000'000'000'000LL + q)},
                              {"query", "SELECT * FROM table_" + std::to_string(q) + " WHERE id = $1"}};
                row.values = {{"calls", calls},
                              {"seconds", calls / 10},
                              {"rows", calls * 2},
                              {"shared_blks_hit", calls * 5},
                              {"shared_blks_read", calls}};
                h->statements->push_back(row);
            }
            for (int c = 0; c < shape.checks; ++c) {
                HealthCheckRow check;
                check.check_name = "check_" + std::to_string(c);
                check.severity = c == 0 && n % 10 == 0 ? 1 : 0;
                check.status = check.severity ? "warning" : "ok";
                h->checks.push_back(check);
            }
            h->newest_backup_timestamp = now - 3600;
            target.databases.push_back({h->database, h});
        }
        fleet.targets.push_back(std::move(target));
    }
    return fleet;
}

} // namespace vigil::test
