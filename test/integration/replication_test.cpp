// Replication you can trust, against real servers: a streaming standby of the harness's
// cluster whose link is then broken (primary_conninfo pointed at a closed port), seen by the
// extension's wal_receiver and replication_lag checks and by vigild's fetch_replication /
// render_replication from both sides; a role that cannot see the WAL receiver; a promoted
// standby's new timeline; and a replication slot driven to unreserved and lost on a cluster of
// its own with a small max_slot_wal_keep_size.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "db.hpp"
#include "metrics/replication.hpp"
#include "own_cluster.hpp"
#include "prom_parser.hpp"
#include "standby.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

using test::wait_until;

struct Check {
    std::string status, value, detail, recommendation;
};
Check health_check(db::Connection &conn, const std::string &name) {
    db::Result r =
        conn.exec_params("SELECT status, coalesce(current_value, 'NULL'), detail, "
                         "coalesce(recommendation, '') FROM vigil.health_check() WHERE check_name = $1",
                         {name});
    return {r.value(0, 0), r.value(0, 1), r.value(0, 2), r.value(0, 3)};
}

ReplicationView fetch(db::Connection &conn) {
    return fetch_replication([&conn](const std::string &sql) { return conn.exec(sql); });
}

test::PromExposition render(const ReplicationView &view, const std::string &target) {
    metrics::Exposition e;
    render_replication(e, view, {{"target", target}});
    return test::parse_prometheus(e.str());
}

// The standby's primary_conninfo pointed at `port` (its own name kept), reloaded.
void point_standby_at(db::Connection &standby, int port) {
    standby.exec("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=" + std::to_string(port) +
                 " user=postgres application_name=repl_it'");
    standby.exec("SELECT pg_reload_conf()");
}

const char *kStreaming = "SELECT count(*) = 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'";

} // namespace

TEST(ReplicationHealth, AStreamingStandbyIsOkAndABrokenLinkIsCriticalNotCaughtUp) {
    db::Connection primary = db::Connection::open(test::test_dsn());
    primary.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    test::Standby standby("repl_standby");
    ASSERT_TRUE(standby.ok()) << standby.error();
    db::Connection replica = db::Connection::open(standby.dsn());
    // A name of its own, so that the primary's view of it can be told from any other standby's.
    point_standby_at(replica, test::Standby::harness_port());
    ASSERT_TRUE(wait_until(replica, kStreaming, 30));
    ASSERT_TRUE(wait_until(
        primary, "SELECT count(*) = 1 FROM pg_stat_replication WHERE application_name = 'repl_it'", 30));

    // (a) Healthy: streaming, caught up.
    EXPECT_EQ(health_check(primary, "wal_receiver").detail, "not a standby");
    const Check healthy = health_check(replica, "wal_receiver");
    EXPECT_EQ(healthy.status, "ok") << healthy.detail;
    EXPECT_THAT(healthy.detail, HasSubstr("WAL receiver streaming from 127.0.0.1:" +
                                          std::to_string(test::Standby::harness_port())));
    EXPECT_THAT(healthy.detail, HasSubstr("last message from the primary"));
    EXPECT_TRUE(wait_until(
        replica, "SELECT status = 'ok' FROM vigil.health_check() WHERE check_name = 'replication_lag'", 15));

    // The same from vigild's side: the standby's own view and the primary's view of it.
    const ReplicationView self = fetch(replica);
    ASSERT_TRUE(self.in_recovery);
    ASSERT_TRUE(self.receiver);
    EXPECT_TRUE(self.receiver->streaming());
    EXPECT_TRUE(self.receiver->expected);
    EXPECT_FALSE(self.receiver->hidden);
    EXPECT_EQ(self.receiver->application_name, "repl_it");
    EXPECT_EQ(self.receiver->sender_port, test::Standby::harness_port());
    EXPECT_EQ(self.timeline, std::optional<long long>(1));
    // Caught up, the primary measures a replay lag (PostgreSQL's, or 0 once it shows NULL).
    ReplicationView from_primary = fetch(primary);
    const auto measured = [](const ReplicationView &v) {
        for (const StandbyReplication &r : v.standbys)
            if (r.application_name == "repl_it")
                return r.replay_lag_seconds.has_value();
        return false;
    };
    for (int i = 0; i < 100 && !measured(from_primary); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        from_primary = fetch(primary);
    }
    ASSERT_TRUE(measured(from_primary));
    EXPECT_FALSE(from_primary.in_recovery);
    EXPECT_EQ(from_primary.timeline, std::optional<long long>(1));
    const auto s = render(self, "standby");
    EXPECT_EQ(s.value("vigil_wal_receiver_streaming"), 1);
    EXPECT_EQ(s.value("vigil_wal_receiver_up"), 1);
    EXPECT_TRUE(s.value("vigil_wal_receiver_last_message_age_seconds"));
    EXPECT_TRUE(s.value("vigil_standby_replay_lag_seconds", {{"standby", "repl_it"}, {"view", "standby"}}));
    const auto p = render(from_primary, "primary");
    EXPECT_EQ(p.value("vigil_standby_streaming", {{"standby", "repl_it"}, {"client_addr", "127.0.0.1"}}), 1);
    EXPECT_EQ(p.value("vigil_standby_sync_state", {{"standby", "repl_it"}, {"sync_state", "async"}}), 1);
    EXPECT_TRUE(p.value("vigil_standby_lag_bytes", {{"standby", "repl_it"}, {"kind", "replay"}}));
    EXPECT_TRUE(p.value("vigil_standby_replay_lag_seconds", {{"standby", "repl_it"}, {"view", "primary"}}));
    EXPECT_EQ(p.value("vigil_standby_replay_lag_seconds", {{"standby", "repl_it"}, {"view", "primary"}}),
              p.value("vigil_standby_lag_seconds", {{"standby", "repl_it"}, {"kind", "replay"}}));

    // Replay paused while WAL keeps arriving: both sides see the standby behind, in bytes, and
    // the standby's own lag is the time since its last replayed transaction.
    primary.exec(
        "CREATE TABLE IF NOT EXISTS repl_probe (id serial PRIMARY KEY, at timestamptz DEFAULT now())");
    primary.exec("INSERT INTO repl_probe DEFAULT VALUES");
    const std::string first = primary.scalar("SELECT pg_current_wal_insert_lsn()::text");
    ASSERT_TRUE(wait_until(replica, "SELECT pg_last_wal_replay_lsn() >= '" + first + "'", 30));
    replica.exec("SELECT pg_wal_replay_pause()");
    primary.exec("INSERT INTO repl_probe DEFAULT VALUES");
    const std::string second = primary.scalar("SELECT pg_current_wal_insert_lsn()::text");
    ASSERT_TRUE(wait_until(replica, "SELECT pg_last_wal_receive_lsn() >= '" + second + "'", 30));
    replica.exec("SELECT pg_sleep(0.2)");
    const ReplicationView paused = fetch(replica);
    ASSERT_TRUE(paused.receiver);
    EXPECT_GT(paused.receiver->unreplayed_bytes.value_or(0), 0);
    EXPECT_GT(paused.receiver->replay_lag_seconds().value_or(0), 0.1);
    const auto pp = render(fetch(primary), "primary");
    const double replay_behind =
        pp.value("vigil_standby_lag_bytes", {{"standby", "repl_it"}, {"kind", "replay"}}).value_or(0);
    EXPECT_GT(replay_behind, 0);
    EXPECT_LT(pp.value("vigil_standby_lag_bytes", {{"standby", "repl_it"}, {"kind", "flush"}}).value_or(-1),
              replay_behind)
        << "received and flushed, only not replayed";
    replica.exec("SELECT pg_wal_replay_resume()");
    ASSERT_TRUE(wait_until(replica, "SELECT pg_last_wal_replay_lsn() >= '" + second + "'", 30));

    // A threshold below the age of the last message from the primary warns.
    replica.exec("SET vigil.wal_receiver_warning = '1ms'");
    replica.exec("SELECT pg_sleep(0.05)");
    EXPECT_EQ(health_check(replica, "wal_receiver").status, "warning");
    replica.exec("RESET vigil.wal_receiver_warning");

    // (b) Broken: the primary's address now leads nowhere. Everything received is replayed,
    // exactly as on a caught-up standby, yet nothing arrives.
    point_standby_at(replica, test::free_port());
    ASSERT_TRUE(
        wait_until(replica, "SELECT count(*) = 0 FROM pg_stat_wal_receiver WHERE status = 'streaming'", 30));
    EXPECT_EQ(replica.scalar("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"), "t");
    const Check broken = health_check(replica, "wal_receiver");
    EXPECT_EQ(broken.status, "critical") << broken.detail;
    EXPECT_THAT(broken.recommendation, HasSubstr("primary_conninfo"));
    const Check lag = health_check(replica, "replication_lag");
    EXPECT_EQ(lag.status, "unknown") << "not ok with 0: " << lag.value << " " << lag.detail;
    EXPECT_EQ(lag.value, "NULL");
    EXPECT_THAT(lag.detail, HasSubstr("see the wal_receiver check"));
    EXPECT_EQ(replica.scalar("SELECT status FROM vigil.health_summary()"), "critical");

    const ReplicationView cut = fetch(replica);
    ASSERT_TRUE(cut.receiver);
    EXPECT_FALSE(cut.receiver->streaming());
    EXPECT_TRUE(cut.receiver->expected);
    EXPECT_FALSE(cut.receiver->replay_lag_seconds()) << "a broken link is not caught up";
    const auto c = render(cut, "standby");
    EXPECT_EQ(c.value("vigil_wal_receiver_streaming"), 0);
    EXPECT_EQ(c.value("vigil_wal_receiver_expected"), 1);
    EXPECT_EQ(c.count("vigil_standby_replay_lag_seconds"), 0u);
    // The primary no longer lists it.
    EXPECT_TRUE(wait_until(
        primary, "SELECT count(*) = 0 FROM pg_stat_replication WHERE application_name = 'repl_it'", 30));

    // Repaired: streaming again, and both checks clear.
    point_standby_at(replica, test::Standby::harness_port());
    ASSERT_TRUE(wait_until(replica, kStreaming, 30));
    EXPECT_TRUE(wait_until(
        replica, "SELECT status = 'ok' FROM vigil.health_check() WHERE check_name = 'wal_receiver'", 15));
    EXPECT_TRUE(wait_until(
        replica, "SELECT status = 'ok' FROM vigil.health_check() WHERE check_name = 'replication_lag'", 15));

    // Promoted: a primary on timeline 2, with nothing to receive.
    ASSERT_EQ(standby.promote().exit_code, 0);
    ASSERT_TRUE(wait_until(replica, "SELECT NOT pg_is_in_recovery()", 30));
    const ReplicationView promoted = fetch(replica);
    EXPECT_FALSE(promoted.receiver);
    EXPECT_EQ(promoted.timeline, std::optional<long long>(2));
    EXPECT_EQ(render(promoted, "standby").value("vigil_timeline"), 2);
    EXPECT_EQ(health_check(replica, "wal_receiver").detail, "not a standby");
}

TEST(ReplicationHealth, AWalReceiverTheRoleCannotSeeIsUnknown) {
    db::Connection primary = db::Connection::open(test::test_dsn());
    primary.exec("CREATE EXTENSION IF NOT EXISTS pgvigil");
    primary.exec("DROP ROLE IF EXISTS repl_it_nostats; CREATE ROLE repl_it_nostats; "
                 "GRANT USAGE ON SCHEMA vigil TO repl_it_nostats");
    test::Standby standby("repl_blind");
    ASSERT_TRUE(standby.ok()) << standby.error();
    db::Connection replica = db::Connection::open(standby.dsn());
    ASSERT_TRUE(wait_until(replica, kStreaming, 30));
    ASSERT_TRUE(
        wait_until(replica, "SELECT count(*) = 1 FROM pg_roles WHERE rolname = 'repl_it_nostats'", 30));

    replica.exec("SET ROLE repl_it_nostats");
    const Check receiver = health_check(replica, "wal_receiver");
    const Check lag = health_check(replica, "replication_lag");
    const ReplicationView view = fetch(replica);
    replica.exec("RESET ROLE");
    EXPECT_EQ(receiver.status, "unknown") << receiver.detail;
    EXPECT_THAT(receiver.detail,
                HasSubstr("hidden from role repl_it_nostats, which lacks pg_read_all_stats"));
    EXPECT_THAT(receiver.recommendation, HasSubstr("GRANT pg_monitor TO repl_it_nostats"));
    EXPECT_EQ(lag.status, "unknown") << lag.detail;
    ASSERT_TRUE(view.receiver);
    EXPECT_TRUE(view.receiver->hidden);
    EXPECT_TRUE(view.receiver->running);
    const auto e = render(view, "standby");
    EXPECT_EQ(e.count("vigil_wal_receiver_streaming"), 0u) << "not 0: the role cannot tell";
    EXPECT_EQ(e.value("vigil_wal_receiver_up"), 1);

    // As a superuser the same standby is ok.
    EXPECT_EQ(health_check(replica, "wal_receiver").status, "ok");
    primary.exec("REVOKE USAGE ON SCHEMA vigil FROM repl_it_nostats; DROP ROLE repl_it_nostats");
}

TEST(ReplicationHealth, ASlotThatLostItsWalIsCritical) {
    test::OwnCluster cluster("repl_slots");
    ASSERT_TRUE(cluster.ok()) << cluster.error();
    db::Connection c = db::Connection::open(cluster.dsn());
    c.exec("CREATE EXTENSION pgvigil");
    c.exec("ALTER SYSTEM SET max_slot_wal_keep_size = '64MB'");
    c.exec("SELECT pg_reload_conf()");
    ASSERT_TRUE(wait_until(c, "SELECT current_setting('max_slot_wal_keep_size') = '64MB'", 10));
    c.exec("SELECT pg_create_physical_replication_slot('it_slot', true)");

    // Reserved, but within 64 MB of losing WAL: below the default 1 GB warning.
    const Check near = health_check(c, "replication_slot_wal");
    EXPECT_EQ(near.status, "warning") << near.detail;
    EXPECT_THAT(near.detail, HasSubstr("it_slot (physical, inactive, reserved, "));
    c.exec("SET vigil.replication_slot_wal_warning = '32MB'");
    EXPECT_EQ(health_check(c, "replication_slot_wal").status, "ok");

    // No WAL kept beyond the current segment: a segment switch leaves the slot unreserved
    // (warning), a checkpoint then removes its WAL (lost, critical).
    c.exec("ALTER SYSTEM SET max_slot_wal_keep_size = 0");
    c.exec("SELECT pg_reload_conf()");
    ASSERT_TRUE(wait_until(c, "SELECT current_setting('max_slot_wal_keep_size') = '0'", 10));
    c.exec("CREATE TABLE churn (n int)");
    bool unreserved_seen = false;
    std::string status;
    for (int i = 0; i < 20 && status != "lost"; ++i) {
        c.exec("INSERT INTO churn SELECT generate_series(1, 1000)");
        c.exec("SELECT pg_switch_wal()");
        status = c.scalar(
            "SELECT coalesce(wal_status, 'none') FROM pg_replication_slots WHERE slot_name = 'it_slot'");
        if (status == "unreserved" && !unreserved_seen) {
            unreserved_seen = true;
            const Check warn = health_check(c, "replication_slot_wal");
            EXPECT_EQ(warn.status, "warning") << warn.detail;
            EXPECT_THAT(warn.recommendation, HasSubstr("reconnect its consumer now"));
        }
        c.exec("CHECKPOINT");
        status = c.scalar(
            "SELECT coalesce(wal_status, 'none') FROM pg_replication_slots WHERE slot_name = 'it_slot'");
    }
    ASSERT_EQ(status, "lost");
    const Check lost = health_check(c, "replication_slot_wal");
    EXPECT_EQ(lost.status, "critical") << lost.detail;
    EXPECT_THAT(lost.detail, HasSubstr("it_slot (physical, inactive, lost)"));
    EXPECT_THAT(lost.recommendation, HasSubstr("SELECT pg_drop_replication_slot('it_slot')"));
    EXPECT_TRUE(unreserved_seen) << "the slot went from reserved to lost without being unreserved in between";

    c.exec("SELECT pg_drop_replication_slot('it_slot')");
    EXPECT_EQ(health_check(c, "replication_slot_wal").status, "ok");
}
