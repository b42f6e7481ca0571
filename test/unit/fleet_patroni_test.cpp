// Patroni's GET /cluster, as its REST API documentation shows it, becomes the fleet's members.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.hpp"
#include "dsn_params.hpp"
#include "fleet/patroni.hpp"
#include "fleet/targets.hpp"

using namespace vigil;
using namespace vigil::fleet;
using ::testing::HasSubstr;

namespace {

// Shaped as docs/rest_api.rst of Patroni shows `GET /cluster`: a leader, a sync standby with a
// numeric lag, a replica whose lag Patroni does not know, and a member not running PostgreSQL.
const char *kCluster = R"({
  "members": [
    {"name": "pg-1", "role": "leader", "state": "running", "api_url": "http://10.0.0.1:8008/patroni",
     "host": "10.0.0.1", "port": 5432, "timeline": 5, "tags": {"clonefrom": true}},
    {"name": "pg-2", "role": "sync_standby", "state": "streaming", "api_url": "http://10.0.0.2:8008/patroni",
     "host": "10.0.0.2", "port": 5433, "timeline": 5, "tags": {}, "receive_lag": 0, "replay_lag": 0, "lag": 1024},
    {"name": "pg 3", "role": "replica", "state": "running", "api_url": "http://10.0.0.3:8008/patroni",
     "host": "10.0.0.3", "port": 5432, "timeline": 4, "lag": "unknown"},
    {"name": "pg-4", "role": "replica", "state": "stopped", "api_url": "http://10.0.0.4:8008/patroni"}
  ],
  "scope": "batman"
})";

} // namespace

TEST(PatroniCluster, ReadsEveryMemberWithItsRoleTimelineAndLag) {
    const PatroniCluster c = parse_cluster(kCluster);
    EXPECT_EQ(c.scope, "batman");
    ASSERT_EQ(c.members.size(), 3u); // pg-4 has no host and port to connect to
    EXPECT_EQ(c.members[0].name, "pg-1");
    EXPECT_EQ(c.members[0].role, "leader");
    EXPECT_TRUE(c.members[0].leader());
    EXPECT_EQ(c.members[0].state, "running");
    EXPECT_EQ(c.members[0].host, "10.0.0.1");
    EXPECT_EQ(c.members[0].port, 5432);
    EXPECT_EQ(c.members[0].timeline, 5);
    EXPECT_EQ(c.members[0].lag_bytes, std::nullopt);
    EXPECT_EQ(c.members[1].role, "sync_standby");
    EXPECT_FALSE(c.members[1].leader());
    EXPECT_EQ(c.members[1].port, 5433);
    EXPECT_EQ(c.members[1].lag_bytes, 1024);
    EXPECT_EQ(c.members[2].lag_bytes, std::nullopt); // "unknown"
    EXPECT_EQ(c.members[2].timeline, 4);
}

TEST(PatroniCluster, AStandbyLeaderIsALeader) {
    const auto c =
        parse_cluster(R"({"members": [{"name": "s", "role": "standby_leader", "host": "h", "port": 5432}]})");
    ASSERT_EQ(c.members.size(), 1u);
    EXPECT_TRUE(c.members[0].leader());
    EXPECT_EQ(c.members[0].timeline, std::nullopt);
}

TEST(PatroniCluster, WhatIsNotAClusterIsAnErrorThatSaysSo) {
    EXPECT_THROW(parse_cluster("<html>"), PatroniError);
    EXPECT_THROW(parse_cluster(""), PatroniError);
    try {
        parse_cluster(R"({"state": "running", "role": "primary"})"); // GET /patroni, not /cluster
        FAIL();
    } catch (const PatroniError &e) {
        EXPECT_THAT(e.what(), HasSubstr("no \"members\" array"));
    }
    EXPECT_TRUE(parse_cluster(R"({"members": []})").members.empty());
    // Hostile values are skipped, never trusted: a port out of range, a member that is not an object.
    const auto odd = parse_cluster(R"({"members": [3, {"name": "x", "host": "h", "port": 70000},
                                                   {"name": "y", "host": "h", "port": 5432.5}]})");
    EXPECT_TRUE(odd.members.empty());
}

TEST(PatroniCluster, MembersBecomeTargetsOnDiscoveryDsnWithTheirHostAndPort) {
    DiscoveryConfig d;
    d.dsn = "user=vigil password=pw dbname=postgres host=ignored";
    d.databases = {"app"};
    d.connections = 1;
    d.timeout = Seconds(3);
    const auto targets = discovered_targets(parse_cluster(kCluster), d, {"pg-1"});
    ASSERT_EQ(targets.size(), 2u); // pg-1 is a [[targets]] name already
    EXPECT_EQ(targets[0].name, "pg-2");
    EXPECT_EQ(targets[0].source, "patroni");
    EXPECT_EQ(parse_dsn(targets[0].dsn), (std::map<std::string, std::string>{{"dbname", "postgres"},
                                                                             {"host", "10.0.0.2"},
                                                                             {"password", "pw"},
                                                                             {"port", "5433"},
                                                                             {"user", "vigil"}}));
    EXPECT_EQ(targets[0].databases, std::vector<std::string>{"app"});
    EXPECT_EQ(targets[0].connections, 1);
    ASSERT_TRUE(targets[0].patroni);
    EXPECT_EQ(targets[0].patroni->role, "sync_standby");
    EXPECT_EQ(targets[1].name, "pg_3"); // label-safe
    // A new leader is a change of role only: the target keeps polling.
    auto moved = targets[0];
    moved.patroni->role = "leader";
    EXPECT_TRUE(moved.same_polling(targets[0]));
    moved.connections = 2;
    EXPECT_FALSE(moved.same_polling(targets[0]));
}

TEST(PatroniFetch, AnUnreachableApiIsAnErrorNamingTheUrlWithinTheTimeout) {
    const auto start = std::chrono::steady_clock::now();
    try {
        fetch_cluster("http://127.0.0.1:1", Seconds(1));
        FAIL();
    } catch (const PatroniError &e) {
        EXPECT_THAT(e.what(), HasSubstr("http://127.0.0.1:1/cluster"));
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5);
}
