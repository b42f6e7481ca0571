// fleet_snapshot.hpp — what `vigild serve` knows of its whole fleet at one moment: every target
// (a server), its role, and the last poll of each of its databases. Built from memory only; the
// metrics, `vigild check --all` and the console read it and never wait for a database.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metrics/poller.hpp"
#include "pool/stats.hpp"

namespace vigil::fleet {

enum class Role { unknown, primary, standby };
const char *role_name(Role role); // "unknown", "primary", "standby"

struct DatabaseState {
    std::string database;
    // The last poll of this database; never null (an unpolled database has `polled == false`).
    std::shared_ptr<const HealthSnapshot> health;
};

struct TargetState {
    std::string name;
    std::string source; // "config" or "patroni"
    Role role = Role::unknown;
    bool up = false;                   // the last poll reached the server
    double last_success_timestamp = 0; // Unix time of the last poll that reached it; 0: never
    std::string error;                 // why the last poll failed, when !up
    std::vector<DatabaseState> databases;
    std::optional<PoolStats> pool; // the target's poll connections
    // Patroni's view, for a target found by discovery: its role ("leader", "replica",
    // "sync_standby", ...), timeline and lag in bytes as Patroni last reported them.
    std::string patroni_role;
    std::optional<long long> patroni_timeline;
    std::optional<double> patroni_lag_bytes;
    bool polled = false;     // every database has been polled at least once
    double poll_seconds = 0; // the last polls of its databases, summed
};

// [discovery]: the last answer of Patroni's REST API.
struct DiscoveryState {
    std::string url;
    bool up = false;                   // the last request answered with a cluster
    double last_success_timestamp = 0; // Unix time; 0: never
    std::string error;                 // why the last request failed
    std::string scope;                 // the Patroni cluster's name
    int members = 0;
};

struct FleetSnapshot {
    double timestamp = 0;
    std::vector<TargetState> targets;        // sorted by name
    std::optional<DiscoveryState> discovery; // set when [discovery] names a Patroni
    const TargetState *find(const std::string &target) const;
};

// The two snapshots show the same polls: the same targets with the same role, reachability,
// Patroni view and the very same database poll results (HealthSnapshot pointers). The pools'
// counters and the timestamps are not compared.
bool same_polls(const FleetSnapshot &a, const FleetSnapshot &b);

// What the console needs of the fleet beyond the snapshot: a connection string for a drill-down
// or an action on one database (never shown on a page). nullopt for an unknown target/database.
struct FleetAccess {
    std::function<std::shared_ptr<const FleetSnapshot>()> snapshot;
    std::function<std::optional<std::string>(const std::string &target, const std::string &database)> dsn;
};

} // namespace vigil::fleet
