// render_replication: the replication families of a standby (its own WAL receiver) and of a
// primary (each standby of pg_stat_replication). A broken link never reads as caught up, and a
// view the role could not see is left out rather than exported as 0.
#include <gtest/gtest.h>

#include "metrics/replication.hpp"
#include "prom_parser.hpp"

using namespace vigil;

namespace {

const metrics::Labels kBase = {{"target", "db1"}, {"database", "app"}};

test::PromExposition render(const ReplicationView &view) {
    metrics::Exposition e;
    render_replication(e, view, kBase);
    return test::parse_prometheus(e.str());
}

std::string text(const ReplicationView &view) {
    metrics::Exposition e;
    render_replication(e, view, kBase);
    return e.str();
}

// A standby streaming from its primary with everything received replayed.
ReplicationView caught_up_standby() {
    ReplicationView v;
    v.in_recovery = true;
    v.timeline = 2;
    WalReceiverState w;
    w.expected = w.running = true;
    w.status = "streaming";
    w.sender_host = "10.0.0.1";
    w.sender_port = 5432;
    w.application_name = "replica1";
    w.received_timeline = 2;
    w.last_message_age_seconds = 1.5;
    w.replay_delay_seconds = 120; // an idle primary: the last transaction is old, the lag is not
    w.unreplayed_bytes = 0;
    v.receiver = w;
    return v;
}

} // namespace

TEST(ReplicationRender, ACaughtUpStandbyHasNoLagAndStreams) {
    const auto e = render(caught_up_standby());
    EXPECT_EQ(e.value("vigil_in_recovery", {{"target", "db1"}}), 1);
    EXPECT_EQ(e.value("vigil_timeline"), 2);
    EXPECT_EQ(e.value("vigil_wal_receiver_up"), 1);
    EXPECT_EQ(e.value("vigil_wal_receiver_expected"), 1);
    EXPECT_EQ(e.value("vigil_wal_receiver_streaming"), 1);
    EXPECT_EQ(e.value("vigil_wal_receiver_last_message_age_seconds"), 1.5);
    EXPECT_EQ(e.value("vigil_standby_replay_lag_seconds", {{"standby", "replica1"}, {"view", "standby"}}), 0);
    EXPECT_EQ(e.value("vigil_standby_last_replay_age_seconds"), 120);
    EXPECT_EQ(e.value("vigil_standby_unreplayed_bytes"), 0);
    EXPECT_EQ(e.value("vigil_standby_connections"), 0);
    EXPECT_EQ(e.count("vigil_standby_lag_seconds"), 0u);
}

TEST(ReplicationRender, AStandbyWithWalWaitingLagsByItsReplayDelay) {
    ReplicationView v = caught_up_standby();
    v.receiver->unreplayed_bytes = 8192;
    v.receiver->replay_delay_seconds = 3;
    EXPECT_EQ(render(v).value("vigil_standby_replay_lag_seconds", {{"view", "standby"}}), 3);
}

TEST(ReplicationRender, ABrokenLinkIsNotCaughtUp) {
    // The primary is gone: receive = replay, exactly what a caught-up standby shows.
    ReplicationView v = caught_up_standby();
    v.receiver->running = false;
    v.receiver->status.clear();
    v.receiver->last_message_age_seconds.reset();
    const auto e = render(v);
    EXPECT_EQ(e.value("vigil_wal_receiver_up"), 0);
    EXPECT_EQ(e.value("vigil_wal_receiver_expected"), 1);
    EXPECT_EQ(e.value("vigil_wal_receiver_streaming"), 0);
    EXPECT_EQ(e.count("vigil_standby_replay_lag_seconds"), 0u)
        << "a lag that cannot be measured is absent, not 0";
    EXPECT_EQ(e.count("vigil_wal_receiver_last_message_age_seconds"), 0u);
    EXPECT_EQ(e.value("vigil_standby_last_replay_age_seconds"), 120);

    v.receiver->running = true;
    v.receiver->status = "waiting"; // running, not streaming
    EXPECT_EQ(render(v).value("vigil_wal_receiver_streaming"), 0);
    EXPECT_EQ(render(v).count("vigil_standby_replay_lag_seconds"), 0u);
}

TEST(ReplicationRender, AWalReceiverTheRoleCannotSeeIsLeftOut) {
    ReplicationView v = caught_up_standby();
    v.receiver->hidden = true;
    v.receiver->status.clear();
    const auto e = render(v);
    EXPECT_EQ(e.value("vigil_wal_receiver_up"), 1) << "the pid shows to every role";
    EXPECT_EQ(e.count("vigil_wal_receiver_streaming"), 0u);
    EXPECT_EQ(e.count("vigil_wal_receiver_expected"), 0u);
    EXPECT_EQ(e.count("vigil_standby_replay_lag_seconds"), 0u);
    EXPECT_TRUE(e.families.count("vigil_wal_receiver_streaming")) << "the family is still declared";
}

TEST(ReplicationRender, AnArchiveOnlyStandbyIsNotExpectedToStream) {
    ReplicationView v = caught_up_standby();
    v.receiver->expected = v.receiver->running = false;
    v.receiver->status.clear();
    v.receiver->unreplayed_bytes.reset();
    v.receiver->replay_delay_seconds = 40;
    const auto e = render(v);
    EXPECT_EQ(e.value("vigil_wal_receiver_expected"), 0);
    EXPECT_EQ(e.value("vigil_wal_receiver_streaming"), 0);
    EXPECT_EQ(e.value("vigil_standby_replay_lag_seconds", {{"view", "standby"}}), 40);
}

TEST(ReplicationRender, APrimaryShowsEachStandbyByNameWithItsLags) {
    ReplicationView v;
    v.timeline = 1;
    StandbyReplication a;
    a.application_name = "replica1";
    a.client_addr = "10.0.0.2";
    a.state = "streaming";
    a.sync_state = "sync";
    a.write_lag_seconds = 0.001;
    a.flush_lag_seconds = 0.002;
    a.replay_lag_seconds = 0.5;
    a.sent_lag_bytes = 0;
    a.write_lag_bytes = 100;
    a.flush_lag_bytes = 200;
    a.replay_lag_bytes = 4096;
    StandbyReplication b;
    b.application_name = "back\\up \"2\"\n"; // label values are escaped
    b.state = "catchup";
    b.sync_state = "async";
    StandbyReplication hidden;
    hidden.hidden = true;
    v.standbys = {a, b, hidden};
    const auto e = render(v);
    EXPECT_EQ(e.value("vigil_in_recovery"), 0);
    EXPECT_EQ(e.count("vigil_wal_receiver_up"), 0u) << "a primary has no WAL receiver";
    EXPECT_EQ(e.value("vigil_standby_connections"), 3) << "hidden standbys are counted";
    const std::map<std::string, std::string> r1 = {{"standby", "replica1"}, {"client_addr", "10.0.0.2"}};
    EXPECT_EQ(e.value("vigil_standby_streaming", r1), 1);
    EXPECT_EQ(e.value("vigil_standby_lag_seconds", {{"standby", "replica1"}, {"kind", "write"}}), 0.001);
    EXPECT_EQ(e.value("vigil_standby_lag_seconds", {{"standby", "replica1"}, {"kind", "flush"}}), 0.002);
    EXPECT_EQ(e.value("vigil_standby_lag_seconds", {{"standby", "replica1"}, {"kind", "replay"}}), 0.5);
    EXPECT_EQ(e.value("vigil_standby_lag_bytes", {{"standby", "replica1"}, {"kind", "sent"}}), 0);
    EXPECT_EQ(e.value("vigil_standby_lag_bytes", {{"standby", "replica1"}, {"kind", "replay"}}), 4096);
    EXPECT_EQ(e.value("vigil_standby_replay_lag_seconds", {{"standby", "replica1"}, {"view", "primary"}}),
              0.5);
    EXPECT_EQ(e.value("vigil_standby_sync_state", {{"standby", "replica1"}, {"sync_state", "sync"}}), 1);
    EXPECT_EQ(e.value("vigil_standby_sync_state", {{"standby", "replica1"}, {"sync_state", "async"}}), 0);
    EXPECT_EQ(e.count("vigil_standby_sync_state"), 8u) << "four states for each visible standby";

    const std::map<std::string, std::string> r2 = {{"standby", "back\\up \"2\"\n"}};
    EXPECT_EQ(e.value("vigil_standby_streaming", r2), 0);
    EXPECT_EQ(e.count("vigil_standby_lag_seconds"), 3u) << "a lag PostgreSQL does not show is absent";
    EXPECT_EQ(e.count("vigil_standby_streaming"), 2u) << "a hidden standby has no samples";
}

TEST(ReplicationRender, EverySampleStartsWithTheBaseLabels) {
    ReplicationView v = caught_up_standby();
    StandbyReplication cascade;
    cascade.application_name = "replica2";
    cascade.state = "streaming";
    cascade.sync_state = "async";
    cascade.replay_lag_seconds = 0;
    v.standbys = {cascade};
    const std::string out = text(v);
    std::size_t pos = 0, samples = 0;
    while (pos < out.size()) {
        const std::size_t end = out.find('\n', pos);
        const std::string line = out.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty() || line[0] == '#')
            continue;
        ++samples;
        EXPECT_NE(line.find("{target=\"db1\",database=\"app\""), std::string::npos) << line;
    }
    EXPECT_GT(samples, 10u);
}
