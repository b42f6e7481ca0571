// pool_options.cpp — pool flags.
#include "commands/pool_options.hpp"

#include "commands/cli.hpp"

namespace vigil {

void add_pool_flags(CLI::App *cmd, PoolFlags &f) {
    cmd->add_option("--pool-size", f.max_size, "Connections in the pool at most (pool.max_size)")
        ->check(CLI::Range(1, 10000));
    cmd->add_option("--min-idle", f.min_idle, "Idle connections kept open (pool.min_idle)")
        ->check(CLI::Range(0, 10000));
    add_duration_flag(cmd, "--acquire-timeout", f.acquire_timeout,
                      "Longest wait for a connection, e.g. 5s (pool.acquire_timeout)");
    add_duration_flag(cmd, "--idle-timeout", f.idle_timeout,
                      "Close connections idle this long (pool.idle_timeout)");
    add_duration_flag(cmd, "--max-lifetime", f.max_lifetime,
                      "Retire connections after this long, jittered (pool.max_lifetime)");
    add_duration_flag(
        cmd, "--validation-interval", f.validation_interval,
        "Check a connection idle longer than this before handing it out (pool.validation_interval)");
    add_duration_flag(cmd, "--validation-timeout", f.validation_timeout,
                      "Close a connection whose check gets no answer this long (pool.validation_timeout)");
    add_duration_flag(cmd, "--statement-timeout", f.statement_timeout,
                      "statement_timeout on every connection (pool.statement_timeout)");
    add_duration_flag(cmd, "--leak-detection-threshold", f.leak_detection_threshold,
                      "Warn when a connection is held longer than this (pool.leak_detection_threshold)");
    cmd->add_option("--application-name", f.application_name, "application_name of pooled connections");
    add_duration_flag(cmd, "--max-replica-lag", f.max_replica_lag,
                      "Reads avoid replicas further behind (pool.max_replica_lag)");
    cmd->add_option("--replica", f.replicas, "A read replica's DSN; repeat for several (pool.replicas)");
    cmd->add_flag(
        "--no-named-statements", f.no_named_statements,
        "Use no named prepared statements (PgBouncer transaction mode; pool.named_statements = false)");
}

PoolConfig apply_pool_flags(const PoolConfig &config, const PoolFlags &f) {
    PoolConfig c = config;
    if (f.max_size)
        c.max_size = *f.max_size;
    if (f.min_idle)
        c.min_idle = *f.min_idle;
    const auto set = [](Seconds &target, const std::optional<Seconds> &flag) {
        if (flag)
            target = *flag;
    };
    set(c.acquire_timeout, f.acquire_timeout);
    set(c.idle_timeout, f.idle_timeout);
    set(c.max_lifetime, f.max_lifetime);
    set(c.validation_interval, f.validation_interval);
    set(c.validation_timeout, f.validation_timeout);
    set(c.statement_timeout, f.statement_timeout);
    set(c.leak_detection_threshold, f.leak_detection_threshold);
    set(c.max_replica_lag, f.max_replica_lag);
    if (f.application_name)
        c.application_name = *f.application_name;
    if (!f.replicas.empty())
        c.replicas = f.replicas;
    if (f.no_named_statements)
        c.named_statements = false;
    if (c.min_idle > c.max_size)
        c.min_idle = c.max_size;
    return c;
}

} // namespace vigil
