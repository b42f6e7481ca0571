// routing.hpp — the read/write split over pools: writes to the primary's pool, reads to a
// replica whose measured lag is under the limit (round robin), else to the primary.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pool/pool.hpp"

namespace vigil::pool {

// Reads to replicas whose measured lag is under max_replica_lag, everything else to the primary.
class RoutedPool {
  public:
    // Measures one replica's lag in seconds; nullopt when unknown (unreachable, not a standby).
    using LagProbe = std::function<std::optional<double>(Pool &replica)>;

    RoutedPool(Settings primary, std::vector<Settings> replicas, Seconds max_replica_lag,
               Connector primary_connector = {}, std::vector<Connector> replica_connectors = {},
               LagProbe probe = {}, std::chrono::milliseconds probe_interval = std::chrono::seconds(1));
    ~RoutedPool();

    // `prefer`: as for Pool::acquire (a connection of the primary's pool); `timeout` replaces
    // acquire_timeout, as there.
    Lease acquire_write(const std::string &borrower = "", std::uint64_t prefer = 0,
                        std::optional<Seconds> timeout = std::nullopt);
    // A replica under the lag limit (round robin), else the primary (`prefer` applies there).
    Lease acquire_read(const std::string &borrower = "", std::uint64_t prefer = 0,
                       std::optional<Seconds> timeout = std::nullopt);
    // Measures every replica now (the background prober does this each probe_interval).
    void probe_now();
    std::vector<std::optional<double>> replica_lags() const;
    Pool &primary() { return *primary_; }

  private:
    struct State;
    std::unique_ptr<Pool> primary_;
    std::vector<std::unique_ptr<Pool>> replicas_;
    std::unique_ptr<State> state_;
};

// The standard probe: on the replica, seconds since the last replayed commit (0 when replay has
// caught up with what was received); nullopt on a primary, on a standby whose walreceiver is not
// streaming (pg_stat_wal_receiver has no row, or its status is not 'streaming': the status is
// visible to superusers and members of pg_read_all_stats only), or on error.
std::optional<double> measure_replica_lag(Pool &replica);

} // namespace vigil::pool
