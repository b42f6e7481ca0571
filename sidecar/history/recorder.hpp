// recorder.hpp — feeds the history store from `vigild serve`: offer() it every new FleetSnapshot
// (cheap, never waits for SQLite); its own thread records at most one snapshot per
// history.interval, so a slow disk never delays a poll.
//
//   auto store = std::make_shared<history::Store>(history::store_path(cfg.history, state_dir), cfg.history);
//   history::Recorder recorder(store, cfg.history.interval);
//   ... each time the fleet publishes:  recorder.offer(fleet_snapshot);
//   ... on shutdown: recorder.stop() (the destructor does it too)
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "config.hpp"
#include "fleet/fleet_snapshot.hpp"
#include "history/store.hpp"

namespace vigil::history {

class Recorder {
  public:
    Recorder(std::shared_ptr<Store> store, Seconds interval);
    ~Recorder();
    Recorder(const Recorder &) = delete;
    Recorder &operator=(const Recorder &) = delete;

    // Hands over the newest snapshot. It is recorded when its timestamp is at least `interval`
    // after the last recorded one (or before it: the clock was set back); a snapshot offered while
    // another is still waiting replaces it.
    void offer(std::shared_ptr<const fleet::FleetSnapshot> snapshot);
    // Whether a snapshot taken at `timestamp` would be recorded: a feeder asks before building
    // one (a whole fleet's snapshot is not free).
    bool wants(double timestamp) const;
    // A new interval takes effect at the next offer().
    void set_interval(Seconds interval);
    // Records what is waiting, then ends the thread.
    void stop();
    // Snapshots recorded so far (tests, the console's status line).
    long long recorded() const;

  private:
    void run();
    bool too_soon(double timestamp) const; // under mutex_
    std::shared_ptr<Store> store_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    Seconds interval_;
    std::shared_ptr<const fleet::FleetSnapshot> pending_;
    double last_recorded_ = 0;
    long long recorded_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace vigil::history
