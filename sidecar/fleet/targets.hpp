// targets.hpp — which servers the fleet watches: [[targets]] of the configuration, the members of a
// Patroni cluster ([discovery]), or, with neither, the one target "default" (--dsn, VIGIL_DSN,
// database.dsn). `vigild serve` and `vigild check` both resolve their targets here.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "fleet/patroni.hpp"

namespace vigil::fleet {

// One server to poll, resolved.
struct TargetSpec {
    std::string name;
    std::string source = "config"; // "config" or "patroni"
    std::string dsn;               // its dbname (if any) is replaced per database
    // The databases to poll. Empty: every connectable non-template database, listed again on
    // each refresh, unless `own_database_only`.
    std::vector<std::string> databases;
    // Poll only the database the DSN connects to (the one-target fleet "default", as vigild
    // always did with a single DSN).
    bool own_database_only = false;
    int connections = 2;
    Seconds timeout{10};
    std::optional<PatroniMember> patroni; // set for a discovered member

    // The same server polled the same way (Patroni's role, lag and timeline aside).
    bool same_polling(const TargetSpec &other) const;
};

// The target of a configuration without [[targets]] and [discovery].
inline constexpr const char *kDefaultTarget = "default";

// True when the configuration names its targets ([[targets]] or [discovery]): a fleet rather than
// the one DSN of old.
bool has_fleet(const Config &config);

// The configured targets, or the one target "default" on `dsn` (resolve_dsn: --dsn, VIGIL_DSN,
// database.dsn) when the configuration has neither [[targets]] nor [discovery].
std::vector<TargetSpec> configured_targets(const Config &config, const std::string &dsn);

// A member's name as a target name: characters that are not label-safe become '_'.
std::string member_target_name(const std::string &member);

// The members of a Patroni cluster as targets: discovery.dsn with the member's host and port.
// A member whose name is already one of `taken` (a [[targets]] name) is left out.
std::vector<TargetSpec> discovered_targets(const PatroniCluster &cluster, const DiscoveryConfig &discovery,
                                           const std::vector<std::string> &taken);

// The databases of the target's server to poll when it lists none: connectable, not templates
// (pg_database), asked on its DSN with its timeouts; throws db::DbError. `abandon` ends the wait.
std::vector<std::string> list_databases(const TargetSpec &target, const std::string &application_name,
                                        const std::atomic<bool> *abandon = nullptr);

// The DSN of one database of a target ("" : the DSN's own database).
std::string database_dsn(const TargetSpec &target, const std::string &database);

} // namespace vigil::fleet
