// target_poller.hpp — one server of the fleet: a HealthPoller per database, all sharing the
// target's budget of `connections`, its timeout and its schedule. A target that hangs delays
// only its own polls. When the target lists no databases, they are listed again (pg_database)
// on each refresh, so a new database is polled without a reload.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fleet/fleet_snapshot.hpp"
#include "fleet/targets.hpp"
#include "metrics/poller.hpp"
#include "metrics/query_metrics.hpp"

namespace vigil::fleet {

// What every target's polls share: the schedule, the families' limits, the backup directory
// (listed by the server-wide poll), application_name.
struct PollSettings {
    Seconds interval{15};
    PollLimits limits;
    std::string backup_directory;
    std::string application_name = "vigild";
};

class TargetPoller {
  public:
    TargetPoller(TargetSpec spec, PollSettings settings, QueryMetrics &queries);
    ~TargetPoller();
    TargetPoller(const TargetPoller &) = delete;
    TargetPoller &operator=(const TargetPoller &) = delete;

    void start();
    // Stops every poll, cancelling queries still running after `deadline`.
    void stop(Seconds deadline);
    const TargetSpec &spec() const { return spec_; }
    // Polls every database now (a reload), without waiting for the interval.
    void poll_now();
    // Patroni's latest view of the member (role, lag, timeline). A changed role, state or
    // timeline polls the member at once.
    void update_patroni(const std::optional<PatroniMember> &member);
    // The target now: role, reachability, each database's last poll. Never waits for a server.
    TargetState state() const;
    // The DSN of one of its polled databases; nullopt when it polls no such database.
    std::optional<std::string> dsn(const std::string &database) const;

  private:
    void run();
    // Lists the databases (pg_database) with one of the target's connections; throws db::DbError.
    std::vector<std::string> list_databases();
    // Starts and stops database pollers to match `databases`.
    void reconcile(const std::vector<std::string> &databases);
    std::unique_ptr<HealthPoller> make_poller(const std::string &database, bool server_wide,
                                              bool keep_connection) const;

    TargetSpec spec_;
    PollSettings settings_;
    QueryMetrics &queries_;
    std::shared_ptr<PollSlots> slots_;
    std::string own_database_; // the DSN's dbname, if it names one
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool relist_requested_ = false; // Patroni reported a change: list the databases again now
    std::atomic<bool> abandon_{false};
    std::optional<PatroniMember> patroni_;
    std::string list_error_;               // why the last listing of the databases failed
    std::optional<bool> kept_connections_; // the last reconcile kept one connection per database
    struct Polled {
        std::unique_ptr<HealthPoller> poller;
        bool server_wide = false;
        bool keep_connection = false;
    };
    std::map<std::string, Polled> databases_; // database ("" : the DSN's own) → its poller
    std::thread thread_;
};

} // namespace vigil::fleet
