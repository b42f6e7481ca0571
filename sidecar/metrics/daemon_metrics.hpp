// daemon_metrics.hpp — every metric `vigild serve` exports, rendered from in-memory state only
// (the fleet's last snapshot, counters, the pools' statistics): a scrape never touches a database.
// Every sample of a target carries `target` (and `database` where one applies); the process's
// own families (build info, uptime, reloads, vigild's query statistics, backups) carry neither.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "fleet/fleet_snapshot.hpp"
#include "metrics/poller.hpp"
#include "pool/stats.hpp"
#include "metrics/query_metrics.hpp"

namespace vigil {

// The result of the last periodic `backup verify` in serve.
struct VerifyStatus {
    bool ran = false;
    bool passed = false;
    double timestamp = 0;
    double duration_seconds = 0;
    std::string target;
    std::map<std::string, std::string> steps; // step name → pass / fail / skip
};

struct DaemonMetricsInput {
    // The fleet; when null, a fleet of one target "default" made of `health` and `pool`.
    std::shared_ptr<const fleet::FleetSnapshot> fleet;
    std::shared_ptr<const HealthSnapshot> health;
    QueryMetrics::Snapshot queries;
    std::optional<PoolStats> pool; // with `health` only
    VerifyStatus verify;
    int reloads_ok = 0, reloads_failed = 0; // SIGHUP reloads of the configuration
    double start_time = 0;                  // Unix time the process started
    double now = 0;
};

// The /metrics body: the process's families and every target's.
std::string render_daemon_metrics(const DaemonMetricsInput &in);

// The /probe?target= body: the families of one target only.
std::string render_target_metrics(const fleet::TargetState &target);

} // namespace vigil
