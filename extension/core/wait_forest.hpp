/*
 * wait_forest.hpp — the forest of a lock-wait graph: for every session, the root blocker it
 * waits behind, how deep, along which path, and how many sessions wait behind it in turn.
 *
 * A queue of sessions on one row gives every waiter several blockers (the holder, the
 * tuple-lock holder, everyone ahead in the queue), so walking chains enumerates every path and
 * grows exponentially. This is one breadth-first search from all roots at once (sessions that
 * block but do not wait), visiting each session and each edge once: O(sessions + edges).
 *
 * Each session gets the nearest root (ties go to the lowest root pid, so pid 0, a prepared
 * transaction, wins), its depth below it and how many sessions hang below it in the resulting
 * tree. Sessions that no root reaches wait in a cycle (a deadlock the deadlock detector has not
 * broken yet): they have no root.
 *
 * Pure C++ (no PostgreSQL header): lock_views.cpp feeds it pg_blocking_pids(), and
 * test/unit/extension_wait_forest_test.cpp specifies it.
 */
#pragma once

#include <cstdint>
#include <vector>

namespace vigil::core {

/* One session of the wait graph and its place in the forest (-1: not reached from a root). */
struct WaitNode {
    std::vector<int> blockers; /* indexes of the sessions this one waits for */
    std::vector<int> waiters;  /* indexes of the sessions waiting for this one: ascending, distinct */
    int parent = -1;
    int root = -1;
    int depth = -1;
    int below = 0; /* sessions below this one in the tree */
};

/* The forest of one wait-graph snapshot: nodes[i] is the session pids[i]. */
struct WaitForest {
    std::vector<std::int32_t> pids; /* ascending, distinct */
    std::vector<WaitNode> nodes;

    /* The index of pid, or -1 when it is not in the graph. */
    int index_of(std::int32_t pid) const;

    /* The pids from node i's root down to node i; empty when no root reaches it. */
    std::vector<std::int32_t> path_to(int i) const;
};

/*
 * The wait forest of the edges waiting[i] → blocking[i] (waiting[i] waits for blocking[i]).
 * An edge from a session to itself is ignored, but the session is still in the graph.
 * Throws std::invalid_argument when the two lists differ in length.
 */
WaitForest build_wait_forest(const std::vector<std::int32_t> &waiting,
                             const std::vector<std::int32_t> &blocking);

} // namespace vigil::core
