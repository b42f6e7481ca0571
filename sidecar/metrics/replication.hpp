// replication.hpp — replication as each server sees it: a standby's own walreceiver
// (pg_stat_wal_receiver: is the link streaming at all?) and a primary's view of each standby
// (pg_stat_replication: write/flush/replay lag, sync state). A broken link must not read as
// "caught up": receive == replay holds on a standby whose primary is gone.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db.hpp"
#include "metrics/exposition.hpp"

namespace vigil {

// A standby's walreceiver. `status` is pg_stat_wal_receiver.status ("streaming", "stopping",
// "waiting", ...), or empty when no walreceiver process runs (or the role may not see it).
struct WalReceiverState {
    // This standby should be streaming: primary_conninfo is set, a walreceiver runs, or WAL was
    // streamed since start-up. False on a standby that restores from the archive only.
    bool expected = false;
    // The role could not see the walreceiver's state (it lacks pg_read_all_stats: only the pid
    // shows) or, with no walreceiver running, primary_conninfo (pg_read_all_settings). Then
    // `status` and `expected` say nothing and streaming is not exported.
    bool hidden = false;
    bool running = false; // a walreceiver process exists (visible to every role)
    std::string status;
    std::string sender_host;
    int sender_port = 0;
    // The name the primary shows this standby by (pg_stat_replication.application_name): the
    // connection's application_name, else cluster_name, else "walreceiver".
    std::string application_name;
    std::optional<long long> received_timeline;
    std::optional<double> last_message_age_seconds; // now - last_msg_receipt_time
    std::optional<double> replay_delay_seconds;     // now - pg_last_xact_replay_timestamp()
    std::optional<double> unreplayed_bytes;         // received (flushed) LSN - replay LSN
    bool streaming() const { return status == "streaming"; }
    // This standby's replay lag as it sees it: 0 when streaming and everything received is
    // replayed, the replay delay when streaming with WAL waiting, nullopt when it cannot be
    // measured (not streaming while it should, or hidden) — never 0 for a broken link.
    std::optional<double> replay_lag_seconds() const;
};

// One row of pg_stat_replication on a primary (or a cascading standby). Without
// pg_read_all_stats only the pid shows: `hidden`, and everything else is empty.
struct StandbyReplication {
    bool hidden = false;
    std::string application_name, client_addr, state, sync_state;
    std::optional<double> write_lag_seconds, flush_lag_seconds, replay_lag_seconds;
    std::optional<double> sent_lag_bytes, write_lag_bytes, flush_lag_bytes, replay_lag_bytes;
};

struct ReplicationView {
    bool in_recovery = false;
    std::optional<long long> timeline;        // the server's current timeline
    std::optional<WalReceiverState> receiver; // set on a standby
    std::vector<StandbyReplication> standbys; // pg_stat_replication
};

// Reads the views through `exec` (one statement each; the poller's timed savepoint query).
// Throws db::DbError when a query fails.
ReplicationView fetch_replication(const std::function<db::Result(const std::string &)> &exec);

// The families of docs/metrics.md "Replication", every sample with `base` labels first
// (target, database).
void render_replication(metrics::Exposition &e, const ReplicationView &view, const metrics::Labels &base);

} // namespace vigil
