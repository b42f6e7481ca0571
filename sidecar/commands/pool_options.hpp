// pool_options.hpp — the [pool] settings as command-line flags, shared by every subcommand that
// runs a pool (bench, import, serve). Flags override the configuration file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "config.hpp"
#include "pool/pool.hpp"

namespace vigil {

struct PoolFlags {
    std::optional<int> max_size, min_idle;
    std::optional<Seconds> acquire_timeout, idle_timeout, max_lifetime, validation_interval,
        validation_timeout, statement_timeout, leak_detection_threshold, max_replica_lag;
    std::optional<std::string> application_name;
    bool no_named_statements = false;
    std::vector<std::string> replicas;
};

// Adds --pool-size, --min-idle, --acquire-timeout, ... to a subcommand.
void add_pool_flags(CLI::App *cmd, PoolFlags &flags);

// The configuration's [pool] section with the flags applied.
PoolConfig apply_pool_flags(const PoolConfig &config, const PoolFlags &flags);

} // namespace vigil
