// replication.cpp — replication as each server sees it (see replication.hpp).
#include "metrics/replication.hpp"

#include <cstdlib>
#include <string>

namespace vigil {

namespace {

// The server and, on a standby, its walreceiver: one row whether or not one runs. Without
// pg_read_all_stats pg_stat_wal_receiver shows only the pid; without pg_read_all_settings,
// pg_settings hides primary_conninfo (conninfo NULL). The name the primary knows the standby by
// is the walreceiver connection's application_name, else cluster_name, else "walreceiver".
constexpr const char *kReceiverSql = R"sql(
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery()
            THEN ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
            ELSE coalesce(r.received_tli,
                          CASE WHEN has_function_privilege('pg_control_checkpoint()', 'EXECUTE')
                               THEN (SELECT timeline_id FROM pg_control_checkpoint()) END) END,
       s.conninfo, pg_last_wal_receive_lsn() IS NOT NULL, r.pid IS NOT NULL, r.pid IS NOT NULL AND r.status IS NULL,
       r.status, r.sender_host, r.sender_port, r.received_tli,
       extract(epoch FROM clock_timestamp() - r.last_msg_receipt_time),
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()),
       pg_wal_lsn_diff(coalesce(r.flushed_lsn, pg_last_wal_receive_lsn()), pg_last_wal_replay_lsn()),
       coalesce(substring(r.conninfo FROM '(?:^|\s)application_name=(\S+)'),
                substring(s.conninfo FROM '(?:^|\s)application_name=''?([^''\s]+)'),
                substring(r.conninfo FROM 'fallback_application_name=(\S+)'),
                nullif(current_setting('cluster_name'), ''), 'walreceiver')
  FROM (SELECT (SELECT setting FROM pg_settings WHERE name = 'primary_conninfo') AS conninfo) s
  LEFT JOIN pg_stat_wal_receiver r ON true)sql";

// Every standby connected to this server, its lag in seconds and in bytes behind this server's
// position. A lag time PostgreSQL no longer shows (NULL once a standby has caught up and no WAL
// is written) is 0 when the standby has replayed, flushed or written everything.
constexpr const char *kStandbysSql = R"sql(
WITH pos AS (SELECT CASE WHEN pg_is_in_recovery()
                         THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                         ELSE pg_current_wal_lsn() END AS lsn)
SELECT r.state IS NULL, coalesce(r.application_name, ''), coalesce(host(r.client_addr), ''),
       coalesce(r.state, ''), coalesce(r.sync_state, ''),
       CASE WHEN r.write_lag IS NULL AND r.write_lsn = pos.lsn THEN 0 ELSE extract(epoch FROM r.write_lag) END,
       CASE WHEN r.flush_lag IS NULL AND r.flush_lsn = pos.lsn THEN 0 ELSE extract(epoch FROM r.flush_lag) END,
       CASE WHEN r.replay_lag IS NULL AND r.replay_lsn = pos.lsn THEN 0 ELSE extract(epoch FROM r.replay_lag) END,
       pg_wal_lsn_diff(pos.lsn, r.sent_lsn), pg_wal_lsn_diff(pos.lsn, r.write_lsn),
       pg_wal_lsn_diff(pos.lsn, r.flush_lsn), pg_wal_lsn_diff(pos.lsn, r.replay_lsn)
  FROM pg_stat_replication r, pos
 ORDER BY r.application_name, r.client_addr, r.pid)sql";

std::optional<double> number(const db::Result &r, int row, int col) {
    if (r.is_null(row, col))
        return std::nullopt;
    return std::strtod(r.value(row, col).c_str(), nullptr);
}

std::optional<long long> integer(const db::Result &r, int row, int col) {
    if (r.is_null(row, col))
        return std::nullopt;
    return std::strtoll(r.value(row, col).c_str(), nullptr, 10);
}

bool boolean(const db::Result &r, int row, int col) {
    return !r.is_null(row, col) && r.value(row, col) == "t";
}

std::string text(const db::Result &r, int row, int col) {
    return r.is_null(row, col) ? std::string() : r.value(row, col);
}

metrics::Labels with(const metrics::Labels &base, const metrics::Labels &more) {
    metrics::Labels out = base;
    out.insert(out.end(), more.begin(), more.end());
    return out;
}

void sample_if(metrics::Exposition &e, const std::string &name, const metrics::Labels &labels,
               const std::optional<double> &v) {
    if (v)
        e.sample(name, labels, *v);
}

void render_receiver(metrics::Exposition &e, const WalReceiverState &w, const metrics::Labels &base) {
    e.family("vigil_wal_receiver_up", "gauge", "1 when a WAL receiver process runs on this standby.");
    e.sample("vigil_wal_receiver_up", base, w.running ? 1 : 0);
    e.family("vigil_wal_receiver_expected", "gauge",
             "1 when this standby should stream (primary_conninfo set, or it streamed since start-up); "
             "0 when it restores from the archive only.");
    e.family("vigil_wal_receiver_streaming", "gauge",
             "1 when the WAL receiver's status is streaming; absent when the role cannot see it.");
    if (!w.hidden) {
        e.sample("vigil_wal_receiver_expected", base, w.expected ? 1 : 0);
        e.sample("vigil_wal_receiver_streaming", base, w.streaming() ? 1 : 0);
    }
    e.family("vigil_wal_receiver_last_message_age_seconds", "gauge",
             "Seconds since the last message from the primary (pg_stat_wal_receiver.last_msg_receipt_time).");
    sample_if(e, "vigil_wal_receiver_last_message_age_seconds", base, w.last_message_age_seconds);
    e.family("vigil_standby_last_replay_age_seconds", "gauge",
             "Seconds since the last transaction replayed was committed on the primary.");
    sample_if(e, "vigil_standby_last_replay_age_seconds", base, w.replay_delay_seconds);
    e.family("vigil_standby_unreplayed_bytes", "gauge", "WAL received but not yet replayed, in bytes.");
    sample_if(e, "vigil_standby_unreplayed_bytes", base, w.unreplayed_bytes);
}

const char *const kSyncStates[] = {"async", "potential", "sync", "quorum"};

void render_standby(metrics::Exposition &e, const StandbyReplication &s, const metrics::Labels &base) {
    const metrics::Labels labels =
        with(base, {{"standby", s.application_name}, {"client_addr", s.client_addr}});
    e.sample("vigil_standby_streaming", labels, s.state == "streaming" ? 1 : 0);
    for (const char *state : kSyncStates)
        e.sample("vigil_standby_sync_state", with(labels, {{"sync_state", state}}),
                 s.sync_state == state ? 1 : 0);
    sample_if(e, "vigil_standby_lag_seconds", with(labels, {{"kind", "write"}}), s.write_lag_seconds);
    sample_if(e, "vigil_standby_lag_seconds", with(labels, {{"kind", "flush"}}), s.flush_lag_seconds);
    sample_if(e, "vigil_standby_lag_seconds", with(labels, {{"kind", "replay"}}), s.replay_lag_seconds);
    sample_if(e, "vigil_standby_lag_bytes", with(labels, {{"kind", "sent"}}), s.sent_lag_bytes);
    sample_if(e, "vigil_standby_lag_bytes", with(labels, {{"kind", "write"}}), s.write_lag_bytes);
    sample_if(e, "vigil_standby_lag_bytes", with(labels, {{"kind", "flush"}}), s.flush_lag_bytes);
    sample_if(e, "vigil_standby_lag_bytes", with(labels, {{"kind", "replay"}}), s.replay_lag_bytes);
    sample_if(e, "vigil_standby_replay_lag_seconds",
              with(base, {{"standby", s.application_name}, {"view", "primary"}}), s.replay_lag_seconds);
}

} // namespace

std::optional<double> WalReceiverState::replay_lag_seconds() const {
    if (hidden || (expected && !streaming()))
        return std::nullopt;
    if (!unreplayed_bytes || *unreplayed_bytes <= 0)
        return streaming() ? std::optional<double>(0) : replay_delay_seconds;
    return replay_delay_seconds;
}

ReplicationView fetch_replication(const std::function<db::Result(const std::string &)> &exec) {
    ReplicationView view;
    const db::Result server = exec(kReceiverSql);
    if (server.rows() == 1) {
        view.in_recovery = boolean(server, 0, 0);
        view.timeline = integer(server, 0, 1);
        if (view.in_recovery) {
            WalReceiverState w;
            const bool conninfo_visible = !server.is_null(0, 2);
            const bool conninfo_set = conninfo_visible && !server.value(0, 2).empty();
            const bool streamed = boolean(server, 0, 3);
            w.running = boolean(server, 0, 4);
            w.expected = w.running || conninfo_set || streamed;
            w.hidden = boolean(server, 0, 5) || (!w.running && !conninfo_visible && !streamed);
            w.status = text(server, 0, 6);
            w.sender_host = text(server, 0, 7);
            w.sender_port = static_cast<int>(integer(server, 0, 8).value_or(0));
            w.received_timeline = integer(server, 0, 9);
            w.last_message_age_seconds = number(server, 0, 10);
            w.replay_delay_seconds = number(server, 0, 11);
            w.unreplayed_bytes = number(server, 0, 12);
            w.application_name = text(server, 0, 13);
            view.receiver = w;
        }
    }
    const db::Result standbys = exec(kStandbysSql);
    for (int i = 0; i < standbys.rows(); ++i) {
        StandbyReplication s;
        s.hidden = boolean(standbys, i, 0);
        s.application_name = text(standbys, i, 1);
        s.client_addr = text(standbys, i, 2);
        s.state = text(standbys, i, 3);
        s.sync_state = text(standbys, i, 4);
        s.write_lag_seconds = number(standbys, i, 5);
        s.flush_lag_seconds = number(standbys, i, 6);
        s.replay_lag_seconds = number(standbys, i, 7);
        s.sent_lag_bytes = number(standbys, i, 8);
        s.write_lag_bytes = number(standbys, i, 9);
        s.flush_lag_bytes = number(standbys, i, 10);
        s.replay_lag_bytes = number(standbys, i, 11);
        view.standbys.push_back(s);
    }
    return view;
}

void render_replication(metrics::Exposition &e, const ReplicationView &view, const metrics::Labels &base) {
    e.family("vigil_in_recovery", "gauge", "1 on a standby (pg_is_in_recovery()), 0 on a primary.");
    e.sample("vigil_in_recovery", base, view.in_recovery ? 1 : 0);
    e.family("vigil_timeline", "gauge",
             "The server's timeline: a primary's current one, a standby's received one (else its last "
             "checkpoint's).");
    if (view.timeline)
        e.sample("vigil_timeline", base, static_cast<double>(*view.timeline));
    e.family("vigil_standby_replay_lag_seconds", "gauge",
             "Replay lag of each standby: view=\"primary\" as its primary measures it (replay_lag), "
             "view=\"standby\" as the standby sees itself; absent when it cannot be measured.");
    if (view.receiver) {
        render_receiver(e, *view.receiver, base);
        sample_if(e, "vigil_standby_replay_lag_seconds",
                  with(base, {{"standby", view.receiver->application_name}, {"view", "standby"}}),
                  view.receiver->replay_lag_seconds());
    }
    e.family("vigil_standby_connections", "gauge",
             "Standbys connected to this server (rows of pg_stat_replication), hidden ones included.");
    e.sample("vigil_standby_connections", base, static_cast<double>(view.standbys.size()));
    e.family("vigil_standby_streaming", "gauge", "1 when the standby's state is streaming.");
    e.family("vigil_standby_sync_state", "gauge",
             "One series per sync_state (async, potential, sync, quorum): 1 for the standby's current one.");
    e.family("vigil_standby_lag_seconds", "gauge",
             "Standby lag as this server measures it, by kind (write, flush, replay).");
    e.family("vigil_standby_lag_bytes", "gauge",
             "WAL between this server's position and the standby's, by kind (sent, write, flush, replay).");
    for (const StandbyReplication &s : view.standbys)
        if (!s.hidden)
            render_standby(e, s, base);
}

} // namespace vigil
