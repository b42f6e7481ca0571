// daemon_metrics.cpp — the metric names, types and help texts of `vigild serve` (docs/metrics.md).
#include "metrics/daemon_metrics.hpp"

#include "metrics/exposition.hpp"
#include "version.hpp"

namespace vigil {

namespace {

double status_value(const std::string &status) {
    return status == "pass" ? 1 : status == "fail" ? 0 : -1;
}

void render_pool(metrics::Exposition &e, const PoolStats &p) {
    e.family("vigil_pool_connections", "gauge", "Pool connections by state (idle, active).");
    e.sample("vigil_pool_connections", {{"state", "idle"}}, p.idle);
    e.sample("vigil_pool_connections", {{"state", "active"}}, p.active);
    e.family("vigil_pool_max_connections", "gauge", "Most connections the pool opens (pool.max_size).");
    e.sample("vigil_pool_max_connections", {}, p.max_size);
    e.family("vigil_pool_pending_acquires", "gauge", "Borrowers waiting for a pool connection.");
    e.sample("vigil_pool_pending_acquires", {}, p.pending);
    e.family("vigil_pool_acquire_seconds", "histogram", "Time to acquire a pool connection.");
    e.histogram_cumulative("vigil_pool_acquire_seconds", {},
                           std::vector<double>(kAcquireBuckets.begin(), kAcquireBuckets.end()),
                           std::vector<std::uint64_t>(p.acquire_buckets.begin(), p.acquire_buckets.end()), p.acquires,
                           p.acquire_seconds_sum);
    e.family("vigil_pool_acquire_timeouts_total", "counter", "Acquires that gave up after pool.acquire_timeout.");
    e.sample("vigil_pool_acquire_timeouts_total", {}, static_cast<double>(p.timeouts));
    e.family("vigil_pool_connection_errors_total", "counter", "Failed connection attempts and broken connections.");
    e.sample("vigil_pool_connection_errors_total", {}, static_cast<double>(p.errors));
    e.family("vigil_pool_connections_created_total", "counter", "Connections the pool opened.");
    e.sample("vigil_pool_connections_created_total", {}, static_cast<double>(p.created));
    e.family("vigil_pool_connections_closed_total", "counter", "Connections the pool closed.");
    e.sample("vigil_pool_connections_closed_total", {}, static_cast<double>(p.closed));
}

void render_database(metrics::Exposition &e, const HealthSnapshot &h) {
    e.family("vigil_health_check_status", "gauge",
             "Status of each vigil.health_check() check: 0 ok, 1 warning, 2 critical, 3 unknown.");
    for (const auto &c : h.checks)
        e.sample("vigil_health_check_status", {{"check", c.check_name}}, c.severity);
    e.family("vigil_health_checks_available", "gauge", "1 when vigil.health_check() answered in the last poll.");
    e.sample("vigil_health_checks_available", {}, h.health_checks_available && h.health_checks_error.empty() ? 1 : 0);
    e.family("vigil_database_connections", "gauge", "Client backends of the server by state (pg_stat_activity).");
    for (const auto &[state, n] : h.connections)
        e.sample("vigil_database_connections", {{"state", state}}, n);
    e.family("vigil_lock_waiters", "gauge", "Sessions waiting for a lock.");
    e.sample("vigil_lock_waiters", {}, h.lock_waiters);
    e.family("vigil_lock_wait_longest_seconds", "gauge", "Longest current lock wait.");
    e.sample("vigil_lock_wait_longest_seconds", {}, h.longest_lock_wait_seconds);
    e.family("vigil_replication_lag_seconds", "gauge",
             "Replay lag per standby (on a primary), or this standby's own lag (standby=\"self\").");
    for (const auto &r : h.replication)
        e.sample("vigil_replication_lag_seconds", {{"standby", r.standby}, {"client_addr", r.client_addr}}, r.seconds);
    if (h.dead_tuple_ratio_max) {
        e.family("vigil_table_dead_tuple_ratio_max", "gauge",
                 "Worst dead-tuple ratio n_dead / (n_live + n_dead) of a table with at least 1000 tuples.");
        e.sample("vigil_table_dead_tuple_ratio_max", {}, *h.dead_tuple_ratio_max);
    }
    if (h.bloat_ratio_max) {
        e.family("vigil_table_bloat_ratio_max", "gauge",
                 "Worst estimated bloat ratio (0-1) of vigil.table_bloat among tables whose estimate_quality is good.");
        e.sample("vigil_table_bloat_ratio_max", {}, *h.bloat_ratio_max);
    }
    e.family("vigil_transaction_id_age", "gauge", "Oldest datfrozenxid age of any database (wraparound distance).");
    e.sample("vigil_transaction_id_age", {}, static_cast<double>(h.xid_age));
    e.family("vigil_multixact_id_age", "gauge", "Oldest datminmxid age of any database.");
    e.sample("vigil_multixact_id_age", {}, static_cast<double>(h.mxid_age));
    e.family("vigil_database_size_bytes", "gauge", "Size of the database vigild is connected to.");
    e.sample("vigil_database_size_bytes", {{"database", h.database}}, static_cast<double>(h.database_size_bytes));
}

} // namespace

std::string render_daemon_metrics(const DaemonMetricsInput &in) {
    metrics::Exposition e;
    const HealthSnapshot &h = *in.health;

    e.family("vigil_build_info", "gauge", "vigild's version; always 1.");
    e.sample("vigil_build_info", {{"version", VIGILD_VERSION}}, 1);
    e.family("vigil_process_start_time_seconds", "gauge", "Unix time vigild started.");
    e.sample("vigil_process_start_time_seconds", {}, in.start_time);
    e.family("vigil_uptime_seconds", "gauge", "Seconds since vigild started.");
    e.sample("vigil_uptime_seconds", {}, in.now - in.start_time);

    e.family("vigil_config_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
    e.sample("vigil_config_reloads_total", {{"result", "success"}}, in.reloads_ok);
    e.sample("vigil_config_reloads_total", {{"result", "failure"}}, in.reloads_failed);

    e.family("vigil_up", "gauge", "1 when the last health poll reached the database.");
    e.sample("vigil_up", {}, h.up ? 1 : 0);
    e.family("vigil_health_poll_timestamp_seconds", "gauge", "Unix time of the last health poll.");
    e.sample("vigil_health_poll_timestamp_seconds", {}, h.last_poll_timestamp);
    e.family("vigil_health_poll_success_timestamp_seconds", "gauge", "Unix time of the last successful health poll.");
    e.sample("vigil_health_poll_success_timestamp_seconds", {}, h.last_success_timestamp);
    e.family("vigil_health_poll_duration_seconds", "gauge", "How long the last health poll took.");
    e.sample("vigil_health_poll_duration_seconds", {}, h.poll_seconds);
    if (h.up)
        render_database(e, h);

    if (in.pool)
        render_pool(e, *in.pool);

    e.family("vigil_query_duration_seconds", "histogram", "Duration of vigild's queries by operation.");
    for (const auto &[op, hist] : in.queries.durations)
        e.histogram("vigil_query_duration_seconds", {{"operation", op}}, hist);
    e.family("vigil_slow_queries_total", "counter", "Queries slower than metrics.slow_query_threshold, by operation.");
    for (const auto &[op, hist] : in.queries.durations) {
        auto it = in.queries.slow.find(op);
        e.sample("vigil_slow_queries_total", {{"operation", op}}, it == in.queries.slow.end() ? 0 : static_cast<double>(it->second));
    }
    e.family("vigil_query_errors_total", "counter", "Failed queries by SQLSTATE class (first two characters).");
    for (const auto &[cls, n] : in.queries.errors)
        e.sample("vigil_query_errors_total", {{"sqlstate_class", cls}}, static_cast<double>(n));

    if (h.newest_backup_timestamp > 0) {
        e.family("vigil_backup_last_success_timestamp_seconds", "gauge",
                 "Snapshot time of the newest completed backup (dump + manifest) in backup.directory.");
        e.sample("vigil_backup_last_success_timestamp_seconds", {}, h.newest_backup_timestamp);
        e.family("vigil_backup_age_seconds", "gauge", "Age of the newest completed backup.");
        e.sample("vigil_backup_age_seconds", {}, in.now - h.newest_backup_timestamp);
    }
    if (in.verify.ran) {
        e.family("vigil_backup_verify_success", "gauge", "1 when the last backup verification passed every step.");
        e.sample("vigil_backup_verify_success", {}, in.verify.passed ? 1 : 0);
        e.family("vigil_backup_verify_duration_seconds", "gauge", "How long the last backup verification took.");
        e.sample("vigil_backup_verify_duration_seconds", {}, in.verify.duration_seconds);
        e.family("vigil_backup_verify_timestamp_seconds", "gauge", "Unix time the last backup verification ended.");
        e.sample("vigil_backup_verify_timestamp_seconds", {}, in.verify.timestamp);
        e.family("vigil_backup_verify_step_result", "gauge",
                 "Result of each step of the last verification: 1 pass, 0 fail, -1 skipped.");
        for (const auto &[step, status] : in.verify.steps)
            e.sample("vigil_backup_verify_step_result", {{"step", step}}, status_value(status));
    }
    return e.str();
}

} // namespace vigil
