// console.hpp — the web console of `vigild serve`: HTML pages at / on the metrics listener,
// rendered from the fleet's snapshot in memory (never a query on the request path, but for
// the drill-downs, each under a statement timeout), history from a HistoryView, actions off
// unless [web] admin_token_file is set. docs/console.md describes the pages and the security model.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "fleet/fleet_snapshot.hpp"
#include "metrics/daemon_metrics.hpp"

namespace httplib {
class Server;
}

namespace vigil::console {

struct HistoryPoint {
    double timestamp = 0;
    double value = 0;
};

// What the console reads of the history store; each member may be empty (no store), and each
// returns the points since `since` (Unix time), oldest first. The series the pages ask for:
//   "database_size_bytes"     label ""               Space and bloat
//   "table_size_bytes"        label "schema.table"   Space and bloat
//   "replication_lag_seconds" label the standby's application_name (a primary's view), or ""
//                             for a standby's own replay delay           Replication
//   "connections"             label the state ("active", "idle", "idle in transaction", ...)  Activity
struct HistoryView {
    std::function<std::vector<HistoryPoint>(const std::string &target, const std::string &database,
                                            const std::string &metric, const std::string &label,
                                            double since)>
        series;
    // One statement (pg_stat_statements queryid): the mean time per call (seconds) of each interval.
    std::function<std::vector<HistoryPoint>(const std::string &target, const std::string &database,
                                            const std::string &queryid, double since)>
        statement_mean_seconds;
};

// What the console needs of serve besides the fleet.
struct ServeHooks {
    std::function<VerifyStatus()> verify_status; // the last periodic backup verification
    std::function<bool()> verify_now;            // starts one now; false if it cannot
    std::function<int()> pool_size;              // today's pool size, marked on the Pool chart
};

struct ConsoleOptions {
    WebConfig web;
    double drilldown_timeout_seconds = 3; // statement_timeout of the drill-down queries
    double history_window_seconds = 24 * 3600;
};

class Console {
  public:
    // Reads web.auth_file and web.admin_token_file; throws std::runtime_error if one is unreadable.
    Console(fleet::FleetAccess fleet, HistoryView history, ServeHooks hooks, ConsoleOptions options);
    ~Console();
    Console(const Console &) = delete;
    Console &operator=(const Console &) = delete;
    // Adds the pages, the static files and the security headers to `server` (before it listens).
    // With [web] auth, every path of the server needs it, /metrics included.
    void mount(httplib::Server &server);

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

} // namespace vigil::console
