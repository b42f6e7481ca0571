// fleet.hpp — every target `vigild serve` watches, each polled by its own TargetPoller; Patroni
// discovery keeps the members current. Readers (the metrics, /probe, /readyz, the console) take
// an immutable FleetSnapshot and never wait for a server.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config.hpp"
#include "fleet/fleet_snapshot.hpp"
#include "fleet/target_poller.hpp"
#include "fleet/targets.hpp"
#include "metrics/query_metrics.hpp"

namespace vigil::fleet {

// What the fleet is told: its static targets, the discovery, and how every target is polled.
struct FleetSettings {
    std::vector<TargetSpec> targets; // [[targets]], or the one target "default"
    DiscoveryConfig discovery;       // discovery.patroni empty: none
    PollSettings poll;
    bool named = false; // the configuration names its targets ([[targets]] / [discovery]); see ready()

    static FleetSettings from_config(const Config &config, const std::string &dsn);
};

class Fleet {
  public:
    explicit Fleet(QueryMetrics &queries);
    ~Fleet();
    Fleet(const Fleet &) = delete;
    Fleet &operator=(const Fleet &) = delete;

    // Applies new settings (also the first ones): targets added are started, targets removed
    // stopped, targets whose polling changed restarted; the others keep polling undisturbed, and
    // every target is polled at once.
    void configure(FleetSettings settings);
    // Stops every target (and the discovery), cancelling queries still running after `deadline`.
    void stop(Seconds deadline);

    std::shared_ptr<const FleetSnapshot> snapshot() const;
    // snapshot() (the same object until a poll changes something) and a database's DSN, for
    // the console.
    FleetAccess access();
    // /readyz. With the one target "default": its database answered, has the extension's checks
    // and none is critical (as vigild always did). With named targets: the discovery (if any)
    // answered once and every target's databases have each been polled once, reachable or not.
    std::pair<bool, std::string> ready() const;

  private:
    void apply(const std::vector<TargetSpec> &targets);
    void discover();

    QueryMetrics &queries_;
    mutable std::mutex mutex_; // guards everything below
    std::mutex apply_mutex_;   // one apply() at a time (reload and discovery)
    FleetSettings settings_;
    std::map<std::string, std::shared_ptr<TargetPoller>> targets_;
    std::optional<DiscoveryState> discovery_;
    std::vector<TargetSpec> discovered_; // the members of the last answer
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread discovery_thread_;
    std::mutex stable_mutex_;                     // guards stable_, stable_checked_ and stable_looking_
    std::shared_ptr<const FleetSnapshot> stable_; // access()'s snapshot until a poll changes it
    std::chrono::steady_clock::time_point stable_checked_; // when stable_ was last compared with the polls
    bool stable_looking_ = false;                          // a reader is comparing them now
};

} // namespace vigil::fleet
