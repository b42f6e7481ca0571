// daemon_metrics.cpp — the metric names, types and help texts of `vigild serve` (docs/metrics.md).
#include "metrics/daemon_metrics.hpp"

#include "metrics/exposition.hpp"
#include "version.hpp"

namespace vigil {

namespace {

double status_value(const std::string &status) {
    return status == "pass" ? 1 : status == "fail" ? 0 : -1;
}

// Base labels (target, database) followed by a sample's own.
metrics::Labels with(const metrics::Labels &base, const metrics::Labels &own) {
    metrics::Labels out = base;
    out.insert(out.end(), own.begin(), own.end());
    return out;
}

void render_pool(metrics::Exposition &e, const PoolStats &p, const metrics::Labels &base) {
    e.family("vigil_pool_connections", "gauge", "The target's poll connections by state (idle, active).");
    e.sample("vigil_pool_connections", with(base, {{"state", "idle"}}), p.idle);
    e.sample("vigil_pool_connections", with(base, {{"state", "active"}}), p.active);
    e.family("vigil_pool_max_connections", "gauge",
             "Most connections the target's polls hold at once (its connections setting).");
    e.sample("vigil_pool_max_connections", base, p.max_size);
    e.family("vigil_pool_pending_acquires", "gauge", "Borrowers waiting for a pool connection.");
    e.sample("vigil_pool_pending_acquires", base, p.pending);
    e.family("vigil_pool_acquire_seconds", "histogram", "Time to acquire a pool connection.");
    e.histogram_cumulative("vigil_pool_acquire_seconds", base,
                           std::vector<double>(kAcquireBuckets.begin(), kAcquireBuckets.end()),
                           std::vector<std::uint64_t>(p.acquire_buckets.begin(), p.acquire_buckets.end()),
                           p.acquires, p.acquire_seconds_sum);
    e.family("vigil_pool_acquire_timeouts_total", "counter",
             "Acquires that gave up after pool.acquire_timeout.");
    e.sample("vigil_pool_acquire_timeouts_total", base, static_cast<double>(p.timeouts));
    e.family("vigil_pool_connection_errors_total", "counter",
             "Failed connection attempts and broken connections.");
    e.sample("vigil_pool_connection_errors_total", base, static_cast<double>(p.errors));
    e.family("vigil_pool_connections_created_total", "counter", "Connections the pool opened.");
    e.sample("vigil_pool_connections_created_total", base, static_cast<double>(p.created));
    e.family("vigil_pool_connections_closed_total", "counter", "Connections the pool closed.");
    e.sample("vigil_pool_connections_closed_total", base, static_cast<double>(p.closed));
    e.family("vigil_pool_connections_evicted_total", "counter",
             "Connections closed because their server failed or turned read-only (failover).");
    e.sample("vigil_pool_connections_evicted_total", base, static_cast<double>(p.evicted));
}

// One numeric column of a statistics view (as the poll names it) and the metric it becomes.
struct Column {
    const char *column, *metric, *type, *help;
};

// One family per column, one sample per row that has the column.
void render_rows(metrics::Exposition &e, const std::vector<StatRow> &rows, const std::vector<Column> &columns,
                 const metrics::Labels &base) {
    for (const Column &c : columns) {
        e.family(c.metric, c.type, c.help);
        for (const StatRow &row : rows) {
            const auto it = row.values.find(c.column);
            if (it != row.values.end())
                e.sample(c.metric, with(base, row.labels), it->second);
        }
    }
}

const std::vector<Column> kDatabaseColumns = {
    {"xact_commit", "vigil_database_transactions_committed_total", "counter", "Transactions committed."},
    {"xact_rollback", "vigil_database_transactions_rolled_back_total", "counter",
     "Transactions rolled back."},
    {"blks_read", "vigil_database_blocks_read_total", "counter", "Blocks read from outside shared_buffers."},
    {"blks_hit", "vigil_database_blocks_hit_total", "counter", "Blocks found in shared_buffers."},
    {"tup_returned", "vigil_database_tuples_returned_total", "counter",
     "Tuples returned by sequential scans and index entries returned by index scans."},
    {"tup_fetched", "vigil_database_tuples_fetched_total", "counter", "Live tuples fetched by index scans."},
    {"tup_inserted", "vigil_database_tuples_inserted_total", "counter", "Tuples inserted."},
    {"tup_updated", "vigil_database_tuples_updated_total", "counter", "Tuples updated."},
    {"tup_deleted", "vigil_database_tuples_deleted_total", "counter", "Tuples deleted."},
    {"temp_files", "vigil_database_temp_files_total", "counter", "Temporary files created by queries."},
    {"temp_bytes", "vigil_database_temp_bytes_total", "counter",
     "Bytes written to temporary files by queries."},
    {"deadlocks", "vigil_database_deadlocks_total", "counter", "Deadlocks detected."},
    {"conflicts", "vigil_database_conflicts_total", "counter",
     "Queries cancelled by recovery conflicts (standby)."},
    {"checksum_failures", "vigil_database_checksum_failures_total", "counter",
     "Data page checksum failures (only with data checksums)."},
    {"blk_read_seconds", "vigil_database_block_read_seconds_total", "counter",
     "Time backends spent reading data file blocks (track_io_timing)."},
    {"blk_write_seconds", "vigil_database_block_write_seconds_total", "counter",
     "Time backends spent writing data file blocks (track_io_timing)."},
};

const std::vector<Column> kBgwriterColumns = {
    {"checkpoints_timed", "vigil_checkpoints_timed_total", "counter",
     "Checkpoints started by checkpoint_timeout."},
    {"checkpoints_req", "vigil_checkpoints_requested_total", "counter",
     "Checkpoints requested (max_wal_size reached, CHECKPOINT, shutdown, ...)."},
    {"checkpoint_write_seconds", "vigil_checkpoint_write_seconds_total", "counter",
     "Time checkpoints spent writing files to disk."},
    {"checkpoint_sync_seconds", "vigil_checkpoint_sync_seconds_total", "counter",
     "Time checkpoints spent syncing files to disk."},
    {"buffers_checkpoint", "vigil_checkpoint_buffers_written_total", "counter",
     "Buffers written by checkpoints."},
    {"buffers_clean", "vigil_bgwriter_buffers_written_total", "counter",
     "Buffers written by the background writer."},
    {"maxwritten_clean", "vigil_bgwriter_maxwritten_clean_total", "counter",
     "Times the background writer stopped a cleaning scan at bgwriter_lru_maxpages."},
    {"buffers_backend", "vigil_backend_buffers_written_total", "counter",
     "Buffers written by backends themselves."},
    {"buffers_backend_fsync", "vigil_backend_buffers_fsync_total", "counter",
     "Times a backend had to fsync a file itself."},
    {"buffers_alloc", "vigil_buffers_allocated_total", "counter", "Buffers allocated."},
};

const std::vector<Column> kWalColumns = {
    {"wal_records", "vigil_wal_records_total", "counter", "WAL records generated."},
    {"wal_fpi", "vigil_wal_full_page_images_total", "counter", "WAL full page images generated."},
    {"wal_bytes", "vigil_wal_bytes_total", "counter", "WAL generated, in bytes."},
    {"wal_buffers_full", "vigil_wal_buffers_full_total", "counter",
     "Times WAL was written because wal_buffers were full."},
    {"wal_write", "vigil_wal_writes_total", "counter", "Times WAL buffers were written out to disk."},
    {"wal_sync", "vigil_wal_syncs_total", "counter", "Times WAL files were synced to disk."},
    {"wal_write_seconds", "vigil_wal_write_seconds_total", "counter",
     "Time spent writing WAL buffers to disk (track_wal_io_timing)."},
    {"wal_sync_seconds", "vigil_wal_sync_seconds_total", "counter",
     "Time spent syncing WAL files to disk (track_wal_io_timing)."},
    {"lsn_bytes", "vigil_wal_lsn_bytes", "gauge",
     "Current WAL insert position (pg_current_wal_lsn) in bytes; primary only."},
};

const std::vector<Column> kArchiverColumns = {
    {"archived_count", "vigil_archiver_archived_total", "counter", "WAL files archived."},
    {"failed_count", "vigil_archiver_failed_total", "counter", "Failed attempts to archive a WAL file."},
    {"last_archived_timestamp", "vigil_archiver_last_archived_timestamp_seconds", "gauge",
     "Unix time of the last successful archive."},
    {"last_failed_timestamp", "vigil_archiver_last_failed_timestamp_seconds", "gauge",
     "Unix time of the last failed archive attempt."},
};

const std::vector<Column> kReplicationSlotColumns = {
    {"active", "vigil_replication_slot_active", "gauge",
     "1 when a connection is using the replication slot."},
    {"retained_bytes", "vigil_replication_slot_retained_bytes", "gauge",
     "WAL the slot keeps: from its restart_lsn to the current WAL position."},
    {"safe_wal_size_bytes", "vigil_replication_slot_safe_wal_size_bytes", "gauge",
     "WAL that can still be written before the slot is in danger of losing WAL (max_slot_wal_keep_size)."},
};

const std::vector<Column> kTableColumns = {
    {"size_bytes", "vigil_table_size_bytes", "gauge", "Size of the table with its indexes and TOAST."},
    {"seq_scan", "vigil_table_seq_scans_total", "counter", "Sequential scans of the table."},
    {"seq_tup_read", "vigil_table_seq_tuples_read_total", "counter", "Live tuples read by sequential scans."},
    {"idx_scan", "vigil_table_index_scans_total", "counter", "Index scans of the table."},
    {"idx_tup_fetch", "vigil_table_index_tuples_fetched_total", "counter",
     "Live tuples fetched by index scans."},
    {"n_tup_ins", "vigil_table_tuples_inserted_total", "counter", "Tuples inserted."},
    {"n_tup_upd", "vigil_table_tuples_updated_total", "counter", "Tuples updated (HOT updates included)."},
    {"n_tup_del", "vigil_table_tuples_deleted_total", "counter", "Tuples deleted."},
    {"n_tup_hot_upd", "vigil_table_tuples_hot_updated_total", "counter",
     "Tuples updated without an index update (HOT)."},
    {"n_live_tup", "vigil_table_live_tuples", "gauge", "Estimated live tuples."},
    {"n_dead_tup", "vigil_table_dead_tuples", "gauge", "Estimated dead tuples."},
    {"last_vacuum_timestamp", "vigil_table_last_vacuum_timestamp_seconds", "gauge",
     "Unix time of the last manual VACUUM."},
    {"last_autovacuum_timestamp", "vigil_table_last_autovacuum_timestamp_seconds", "gauge",
     "Unix time of the last autovacuum."},
    {"last_analyze_timestamp", "vigil_table_last_analyze_timestamp_seconds", "gauge",
     "Unix time of the last manual ANALYZE."},
    {"last_autoanalyze_timestamp", "vigil_table_last_autoanalyze_timestamp_seconds", "gauge",
     "Unix time of the last autoanalyze."},
    {"vacuum_count", "vigil_table_vacuums_total", "counter", "Manual VACUUMs of the table."},
    {"autovacuum_count", "vigil_table_autovacuums_total", "counter", "Autovacuums of the table."},
    {"analyze_count", "vigil_table_analyzes_total", "counter", "Manual ANALYZEs of the table."},
    {"autoanalyze_count", "vigil_table_autoanalyzes_total", "counter", "Autoanalyzes of the table."},
    {"heap_blks_read", "vigil_table_heap_blocks_read_total", "counter",
     "Heap blocks read from outside shared_buffers."},
    {"heap_blks_hit", "vigil_table_heap_blocks_hit_total", "counter", "Heap blocks found in shared_buffers."},
    {"idx_blks_read", "vigil_table_index_blocks_read_total", "counter",
     "Index blocks of the table read from outside shared_buffers."},
    {"idx_blks_hit", "vigil_table_index_blocks_hit_total", "counter",
     "Index blocks of the table found in shared_buffers."},
};

const std::vector<Column> kStatementColumns = {
    {"calls", "vigil_statement_calls_total", "counter", "Times the statement was executed."},
    {"seconds", "vigil_statement_seconds_total", "counter",
     "Time spent executing and planning the statement."},
    {"rows", "vigil_statement_rows_total", "counter", "Rows the statement retrieved or affected."},
    {"shared_blks_hit", "vigil_statement_shared_blocks_hit_total", "counter",
     "Shared blocks the statement found in shared_buffers."},
    {"shared_blks_read", "vigil_statement_shared_blocks_read_total", "counter",
     "Shared blocks the statement read from outside shared_buffers."},
};

// The statistics views, each only when its query answered in the last poll. The server-wide
// ones carry `target` only, the tables and statements of a database `target` and `database`.
void render_statistics(metrics::Exposition &e, const HealthSnapshot &h, const metrics::Labels &server,
                       const metrics::Labels &db) {
    if (h.server_wide) {
        if (h.replication_view)
            render_replication(e, *h.replication_view, server);
        if (h.database_stats)
            render_rows(e, *h.database_stats, kDatabaseColumns, server);
        if (h.bgwriter)
            render_rows(e, {*h.bgwriter}, kBgwriterColumns, server);
        if (h.wal)
            render_rows(e, {*h.wal}, kWalColumns, server);
        if (h.archiver)
            render_rows(e, {*h.archiver}, kArchiverColumns, server);
        if (h.replication_slots) {
            render_rows(e, *h.replication_slots, kReplicationSlotColumns, server);
            e.family("vigil_replication_slot_wal_status", "gauge",
                     "1 for the slot's current wal_status (reserved, extended, unreserved, lost), 0 for the "
                     "others.");
            for (const StatRow &row : *h.replication_slots)
                for (const char *state : {"reserved", "extended", "unreserved", "lost"}) {
                    const auto it = row.values.find(std::string("wal_status_") + state);
                    if (it == row.values.end())
                        continue;
                    metrics::Labels labels = with(server, row.labels);
                    labels.emplace_back("wal_status", state);
                    e.sample("vigil_replication_slot_wal_status", labels, it->second);
                }
        }
    }
    if (h.tables)
        render_rows(e, *h.tables, kTableColumns, db);
    if (h.statements)
        render_rows(e, *h.statements, kStatementColumns, db);
}

// One database's families: its checks, size and tables; and, from the database that collects
// them (HealthSnapshot::server_wide), the server's, once per target.
void render_database(metrics::Exposition &e, const HealthSnapshot &h, const metrics::Labels &server,
                     const metrics::Labels &db) {
    e.family("vigil_health_check_status", "gauge",
             "Status of each vigil.health_check() check: 0 ok, 1 warning, 2 critical, 3 unknown.");
    for (const auto &c : h.checks)
        e.sample("vigil_health_check_status", with(db, {{"check", c.check_name}}), c.severity);
    e.family(
        "vigil_health_check_value", "gauge",
        "Measured value of each vigil.health_check() check in base units (fraction, seconds, bytes, count).");
    for (const auto &c : h.checks)
        if (const auto value = health_check_number(c.current_value))
            e.sample("vigil_health_check_value", with(db, {{"check", c.check_name}}), *value);
    e.family("vigil_health_checks_available", "gauge",
             "1 when vigil.health_check() answered in the last poll.");
    e.sample("vigil_health_checks_available", db,
             h.health_checks_available && h.health_checks_error.empty() ? 1 : 0);
    e.family("vigil_extension_installed", "gauge",
             "1 when the database has the pgvigil extension (vigil.health_check()), 0 when it lacks it.");
    e.sample("vigil_extension_installed", db, h.health_checks_available ? 1 : 0);
    if (h.dead_tuple_ratio_max) {
        e.family("vigil_table_dead_tuple_ratio_max", "gauge",
                 "Worst dead-tuple ratio n_dead / (n_live + n_dead) of a table with at least 1000 tuples.");
        e.sample("vigil_table_dead_tuple_ratio_max", db, *h.dead_tuple_ratio_max);
    }
    if (h.bloat_ratio_max) {
        e.family("vigil_table_bloat_ratio_max", "gauge",
                 "Worst estimated bloat ratio (0-1) of vigil.table_bloat among tables whose estimate_quality "
                 "is good.");
        e.sample("vigil_table_bloat_ratio_max", db, *h.bloat_ratio_max);
    }
    e.family("vigil_database_size_bytes", "gauge", "Size of the polled database.");
    e.sample("vigil_database_size_bytes", db, static_cast<double>(h.database_size_bytes));
    if (h.server_wide) {
        e.family("vigil_database_connections", "gauge",
                 "Client backends of the server by state (pg_stat_activity).");
        for (const auto &[state, n] : h.connections)
            e.sample("vigil_database_connections", with(server, {{"state", state}}), n);
        e.family("vigil_lock_waiters", "gauge", "Sessions waiting for a lock.");
        e.sample("vigil_lock_waiters", server, h.lock_waiters);
        e.family("vigil_lock_wait_longest_seconds", "gauge", "Longest current lock wait.");
        e.sample("vigil_lock_wait_longest_seconds", server, h.longest_lock_wait_seconds);
        e.family("vigil_replication_lag_seconds", "gauge",
                 "Replay lag per standby (on a primary), or this standby's own lag (standby=\"self\"); "
                 "absent while a standby's link is broken (see vigil_wal_receiver_streaming).");
        for (const auto &r : h.replication)
            e.sample("vigil_replication_lag_seconds",
                     with(server, {{"standby", r.standby}, {"client_addr", r.client_addr}}), r.seconds);
        e.family("vigil_transaction_id_age", "gauge",
                 "Oldest datfrozenxid age of any database (wraparound distance).");
        e.sample("vigil_transaction_id_age", server, static_cast<double>(h.xid_age));
        e.family("vigil_multixact_id_age", "gauge", "Oldest datminmxid age of any database.");
        e.sample("vigil_multixact_id_age", server, static_cast<double>(h.mxid_age));
    }
    render_statistics(e, h, server, db);
}

// A target's families: whether it answers, its role, when it was last polled, and each database.
void render_target(metrics::Exposition &e, const fleet::TargetState &t) {
    const metrics::Labels server = {{"target", t.name}};
    e.family("vigil_up", "gauge", "1 when the last poll of the target reached the server.");
    e.sample("vigil_up", server, t.up ? 1 : 0);
    e.family("vigil_target_role", "gauge",
             "1 for the target's role as the server says (pg_is_in_recovery()): primary or standby.");
    for (const fleet::Role role : {fleet::Role::primary, fleet::Role::standby})
        e.sample("vigil_target_role", with(server, {{"role", fleet::role_name(role)}}),
                 t.role == role ? 1 : 0);
    if (!t.patroni_role.empty()) {
        e.family("vigil_patroni_role", "gauge",
                 "1 for the member's role as Patroni reports it (leader, replica, sync_standby, ...).");
        e.sample("vigil_patroni_role", with(server, {{"role", t.patroni_role}}), 1);
        if (t.patroni_timeline) {
            e.family("vigil_patroni_timeline", "gauge", "The member's timeline as Patroni reports it.");
            e.sample("vigil_patroni_timeline", server, static_cast<double>(*t.patroni_timeline));
        }
        if (t.patroni_lag_bytes) {
            e.family("vigil_patroni_lag_bytes", "gauge",
                     "The replica's lag behind the leader in bytes, as Patroni reports it.");
            e.sample("vigil_patroni_lag_bytes", server, *t.patroni_lag_bytes);
        }
    }
    e.family("vigil_last_poll_success_timestamp_seconds", "gauge",
             "Unix time of the last poll that reached the target; 0: never.");
    e.sample("vigil_last_poll_success_timestamp_seconds", server, t.last_success_timestamp);
    e.family("vigil_target_poll_duration_seconds", "gauge",
             "How long the last polls of the target's databases took, summed.");
    e.sample("vigil_target_poll_duration_seconds", server, t.poll_seconds);
    e.family("vigil_target_databases", "gauge", "Databases of the target that are polled.");
    e.sample("vigil_target_databases", server, static_cast<double>(t.databases.size()));
    for (const fleet::DatabaseState &d : t.databases) {
        const HealthSnapshot &h = *d.health;
        const metrics::Labels db = with(server, {{"database", d.database}});
        e.family("vigil_health_poll_timestamp_seconds", "gauge", "Unix time of the last health poll.");
        e.sample("vigil_health_poll_timestamp_seconds", db, h.last_poll_timestamp);
        e.family("vigil_health_poll_success_timestamp_seconds", "gauge",
                 "Unix time of the last successful health poll.");
        e.sample("vigil_health_poll_success_timestamp_seconds", db, h.last_success_timestamp);
        e.family("vigil_health_poll_duration_seconds", "gauge", "How long the last health poll took.");
        e.sample("vigil_health_poll_duration_seconds", db, h.poll_seconds);
        if (h.up)
            render_database(e, h, server, db);
    }
    if (t.pool)
        render_pool(e, *t.pool, server);
}

// The fleet of one of a DaemonMetricsInput without a fleet.
std::shared_ptr<const fleet::FleetSnapshot> fleet_of_one(const DaemonMetricsInput &in) {
    auto f = std::make_shared<fleet::FleetSnapshot>();
    if (!in.health)
        return f;
    fleet::TargetState t;
    t.name = "default";
    t.source = "config";
    t.up = in.health->up;
    t.polled = in.health->polled;
    t.last_success_timestamp = in.health->last_success_timestamp;
    t.error = in.health->error;
    t.poll_seconds = in.health->poll_seconds;
    if (in.health->in_recovery)
        t.role = *in.health->in_recovery ? fleet::Role::standby : fleet::Role::primary;
    t.databases.push_back({in.health->database, in.health});
    t.pool = in.pool;
    f->targets.push_back(std::move(t));
    return f;
}

} // namespace

std::string render_target_metrics(const fleet::TargetState &target) {
    metrics::Exposition e;
    render_target(e, target);
    return e.str();
}

std::string render_daemon_metrics(const DaemonMetricsInput &in) {
    metrics::Exposition e;
    const auto fleet = in.fleet ? in.fleet : fleet_of_one(in);

    e.family("vigil_build_info", "gauge", "vigild's version; always 1.");
    e.sample("vigil_build_info", {{"version", VIGILD_VERSION}}, 1);
    e.family("vigil_process_start_time_seconds", "gauge", "Unix time vigild started.");
    e.sample("vigil_process_start_time_seconds", {}, in.start_time);
    e.family("vigil_uptime_seconds", "gauge", "Seconds since vigild started.");
    e.sample("vigil_uptime_seconds", {}, in.now - in.start_time);

    e.family("vigil_config_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
    e.sample("vigil_config_reloads_total", {{"result", "success"}}, in.reloads_ok);
    e.sample("vigil_config_reloads_total", {{"result", "failure"}}, in.reloads_failed);

    e.family("vigil_targets", "gauge", "Targets (servers) vigild polls.");
    e.sample("vigil_targets", {}, static_cast<double>(fleet->targets.size()));
    for (const fleet::TargetState &t : fleet->targets)
        render_target(e, t);
    if (fleet->discovery) {
        const fleet::DiscoveryState &d = *fleet->discovery;
        e.family("vigil_discovery_up", "gauge", "1 when the last request to Patroni's REST API answered.");
        e.sample("vigil_discovery_up", {}, d.up ? 1 : 0);
        e.family("vigil_discovery_last_success_timestamp_seconds", "gauge",
                 "Unix time Patroni's REST API last answered; 0: never.");
        e.sample("vigil_discovery_last_success_timestamp_seconds", {}, d.last_success_timestamp);
        e.family("vigil_discovery_members", "gauge", "Members of the Patroni cluster in its last answer.");
        e.sample("vigil_discovery_members", {}, d.members);
    }

    // The newest backup in backup.directory, as the server-wide polls last listed it.
    const HealthSnapshot *backups = nullptr;
    for (const fleet::TargetState &t : fleet->targets)
        for (const fleet::DatabaseState &d : t.databases)
            if (!backups || d.health->newest_backup_timestamp > backups->newest_backup_timestamp)
                backups = d.health.get();
    const HealthSnapshot empty;
    const HealthSnapshot &h = backups ? *backups : empty;

    e.family("vigil_query_duration_seconds", "histogram", "Duration of vigild's queries by operation.");
    for (const auto &[op, hist] : in.queries.durations)
        e.histogram("vigil_query_duration_seconds", {{"operation", op}}, hist);
    e.family("vigil_slow_queries_total", "counter",
             "Queries slower than metrics.slow_query_threshold, by operation.");
    for (const auto &[op, hist] : in.queries.durations) {
        auto it = in.queries.slow.find(op);
        e.sample("vigil_slow_queries_total", {{"operation", op}},
                 it == in.queries.slow.end() ? 0 : static_cast<double>(it->second));
    }
    e.family("vigil_query_errors_total", "counter",
             "Failed queries by SQLSTATE class (first two characters).");
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
        e.family("vigil_backup_verify_success", "gauge",
                 "1 when the last backup verification passed every step.");
        e.sample("vigil_backup_verify_success", {}, in.verify.passed ? 1 : 0);
        e.family("vigil_backup_verify_duration_seconds", "gauge",
                 "How long the last backup verification took.");
        e.sample("vigil_backup_verify_duration_seconds", {}, in.verify.duration_seconds);
        e.family("vigil_backup_verify_timestamp_seconds", "gauge",
                 "Unix time the last backup verification ended.");
        e.sample("vigil_backup_verify_timestamp_seconds", {}, in.verify.timestamp);
        e.family("vigil_backup_verify_step_result", "gauge",
                 "Result of each step of the last verification: 1 pass, 0 fail, -1 skipped.");
        for (const auto &[step, status] : in.verify.steps)
            e.sample("vigil_backup_verify_step_result", {{"step", step}}, status_value(status));
    }
    return e.str();
}

} // namespace vigil
