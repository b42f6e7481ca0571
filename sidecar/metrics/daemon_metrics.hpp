// daemon_metrics.hpp — every metric `vigild serve` exports, rendered from in-memory state only
// (the poll's last snapshot, counters, the pool's statistics): a scrape never touches the database.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

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
    std::shared_ptr<const HealthSnapshot> health;
    QueryMetrics::Snapshot queries;
    std::optional<PoolStats> pool; // absent when serve runs no pool
    VerifyStatus verify;
    int reloads_ok = 0, reloads_failed = 0; // SIGHUP reloads of the configuration
    double start_time = 0;                  // Unix time the process started
    double now = 0;
};

// The /metrics body.
std::string render_daemon_metrics(const DaemonMetricsInput &in);

} // namespace vigil
