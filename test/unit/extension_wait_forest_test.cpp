// vigil::core::build_wait_forest: the forest behind vigil.lock_tree() and vigil.blocking_locks.
// Edges are (waiting pid, blocking pid) pairs as pg_blocking_pids() reports them.
#include <gtest/gtest.h>

#include "wait_forest.hpp"

#include <cstdint>
#include <stdexcept>
#include <vector>

using vigil::core::build_wait_forest;
using vigil::core::WaitForest;
using vigil::core::WaitNode;
using Pids = std::vector<std::int32_t>;

namespace {

// The node of a pid, which must be in the forest.
const WaitNode &node(const WaitForest &f, std::int32_t pid) {
    const int i = f.index_of(pid);
    EXPECT_GE(i, 0) << "pid " << pid << " is not in the forest";
    return f.nodes.at(i);
}

// The pid of the root a session waits behind, or -1 when none reaches it.
std::int32_t root_pid(const WaitForest &f, std::int32_t pid) {
    const WaitNode &n = node(f, pid);
    return n.root < 0 ? -1 : f.pids[n.root];
}

Pids path(const WaitForest &f, std::int32_t pid) {
    return f.path_to(f.index_of(pid));
}

} // namespace

TEST(ExtensionWaitForest, AnEmptyGraphHasNoSessions) {
    const WaitForest f = build_wait_forest({}, {});
    EXPECT_TRUE(f.pids.empty());
    EXPECT_TRUE(f.nodes.empty());
    EXPECT_EQ(f.index_of(42), -1);
}

TEST(ExtensionWaitForest, ASessionWaitingForItselfIsASingleRootOfItsOwn) {
    // pg_blocking_pids never reports this; a malformed edge is ignored, the session stays.
    const WaitForest f = build_wait_forest({7}, {7});
    ASSERT_EQ(f.pids, Pids({7}));
    EXPECT_EQ(root_pid(f, 7), 7);
    EXPECT_EQ(node(f, 7).depth, 0);
    EXPECT_EQ(node(f, 7).below, 0);
    EXPECT_EQ(path(f, 7), Pids({7}));
}

TEST(ExtensionWaitForest, OneWaiterHangsBelowItsBlocker) {
    const WaitForest f = build_wait_forest({200}, {100});
    EXPECT_EQ(f.pids, Pids({100, 200}));
    EXPECT_EQ(root_pid(f, 100), 100);
    EXPECT_EQ(node(f, 100).depth, 0);
    EXPECT_EQ(node(f, 100).below, 1);
    EXPECT_EQ(node(f, 100).waiters.size(), 1u);
    EXPECT_EQ(root_pid(f, 200), 100);
    EXPECT_EQ(node(f, 200).depth, 1);
    EXPECT_EQ(node(f, 200).below, 0);
    EXPECT_EQ(path(f, 200), Pids({100, 200}));
}

TEST(ExtensionWaitForest, AChainGivesDepthsPathsAndCountsBelow) {
    // 30 waits for 20, which waits for 10.
    const WaitForest f = build_wait_forest({30, 20}, {20, 10});
    EXPECT_EQ(root_pid(f, 30), 10);
    EXPECT_EQ(node(f, 10).depth, 0);
    EXPECT_EQ(node(f, 20).depth, 1);
    EXPECT_EQ(node(f, 30).depth, 2);
    EXPECT_EQ(node(f, 10).below, 2);
    EXPECT_EQ(node(f, 20).below, 1);
    EXPECT_EQ(path(f, 30), Pids({10, 20, 30}));
}

TEST(ExtensionWaitForest, AQueueOnOneRowHangsEveryWaiterOffTheNearestRoot) {
    // The holder 1; 2 waits for 1; 3 waits for 1 and for 2 ahead of it in the queue.
    const WaitForest f = build_wait_forest({2, 3, 3}, {1, 1, 2});
    EXPECT_EQ(node(f, 3).depth, 1) << "3 waits for the root directly";
    EXPECT_EQ(path(f, 3), Pids({1, 3}));
    EXPECT_EQ(node(f, 1).below, 2);
    EXPECT_EQ(node(f, 2).below, 0);
    EXPECT_EQ(node(f, 2).waiters.size(), 1u) << "3 still waits for 2 directly";
}

TEST(ExtensionWaitForest, TiesBetweenRootsGoToTheLowestPid) {
    // 5 waits for two roots at the same distance: 9 and 4.
    const WaitForest f = build_wait_forest({5, 5}, {9, 4});
    EXPECT_EQ(root_pid(f, 5), 4);
    EXPECT_EQ(node(f, 4).below, 1);
    EXPECT_EQ(node(f, 9).below, 0);
}

TEST(ExtensionWaitForest, APreparedTransactionPidZeroWinsTies) {
    const WaitForest f = build_wait_forest({50, 50}, {40, 0});
    EXPECT_EQ(root_pid(f, 50), 0);
}

TEST(ExtensionWaitForest, TiesDeeperDownFollowTheirRootsOrder) {
    // 6 is two steps from both roots: via 4 (root 1) and via 3 (root 2).
    const WaitForest f = build_wait_forest({3, 4, 6, 6}, {2, 1, 3, 4});
    EXPECT_EQ(root_pid(f, 6), 1);
    EXPECT_EQ(path(f, 6), Pids({1, 4, 6}));
}

TEST(ExtensionWaitForest, ACycleHasNoRoot) {
    // A deadlock the detector has not broken yet: 1 and 2 wait for each other.
    const WaitForest f = build_wait_forest({1, 2}, {2, 1});
    for (std::int32_t pid : {1, 2}) {
        EXPECT_EQ(root_pid(f, pid), -1);
        EXPECT_EQ(node(f, pid).depth, -1);
        EXPECT_EQ(node(f, pid).parent, -1);
        EXPECT_TRUE(path(f, pid).empty());
        EXPECT_EQ(node(f, pid).waiters.size(), 1u);
    }
}

TEST(ExtensionWaitForest, WaitersOfACycleHaveNoRootEither) {
    const WaitForest f = build_wait_forest({1, 2, 3}, {2, 1, 1});
    EXPECT_EQ(root_pid(f, 3), -1);
    EXPECT_TRUE(path(f, 3).empty());
}

TEST(ExtensionWaitForest, ACycleThatAlsoWaitsForARootHangsBelowIt) {
    // 1 and 2 wait for each other, and 2 also waits for the root 3.
    const WaitForest f = build_wait_forest({1, 2, 2}, {2, 1, 3});
    EXPECT_EQ(root_pid(f, 2), 3);
    EXPECT_EQ(root_pid(f, 1), 3);
    EXPECT_EQ(path(f, 1), Pids({3, 2, 1}));
    EXPECT_EQ(node(f, 3).below, 2);
}

TEST(ExtensionWaitForest, RepeatedEdgesCountOnce) {
    const WaitForest f = build_wait_forest({2, 2, 2}, {1, 1, 1});
    EXPECT_EQ(node(f, 1).waiters.size(), 1u);
    EXPECT_EQ(node(f, 1).below, 1);
}

TEST(ExtensionWaitForest, PidsAreNumberedInAscendingOrder) {
    const WaitForest f = build_wait_forest({900, 5, 70}, {70, 900, 3});
    EXPECT_EQ(f.pids, Pids({3, 5, 70, 900}));
    EXPECT_EQ(f.index_of(70), 2);
    EXPECT_EQ(f.index_of(71), -1);
}

TEST(ExtensionWaitForest, ALongQueueStaysLinear) {
    // 400 sessions queued on one row, each waiting for everyone ahead of it: 79800 edges, and
    // 2^399 paths for a walk that enumerates them. Every waiter is one step from the holder.
    Pids waiting, blocking;
    for (std::int32_t w = 2; w <= 400; w++)
        for (std::int32_t b = 1; b < w; b++) {
            waiting.push_back(w);
            blocking.push_back(b);
        }
    const WaitForest f = build_wait_forest(waiting, blocking);
    EXPECT_EQ(f.pids.size(), 400u);
    EXPECT_EQ(node(f, 1).below, 399);
    EXPECT_EQ(node(f, 400).depth, 1);
    EXPECT_EQ(node(f, 2).waiters.size(), 398u);
}

TEST(ExtensionWaitForest, RefusesEdgeListsOfDifferentLengths) {
    EXPECT_THROW(build_wait_forest({1, 2}, {3}), std::invalid_argument);
}
