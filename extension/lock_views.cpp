/*
 * lock_views.cpp — the wait forest behind vigil.blocking_locks and vigil.lock_tree().
 *
 * The SQL side takes one snapshot of pg_blocking_pids() for every waiting session
 * and passes it here as two parallel arrays (waiter, blocker). A queue of sessions
 * on one row gives every waiter several blockers (the holder, the tuple-lock
 * holder, everyone ahead in the queue), so walking chains with a recursive CTE
 * enumerates every path and grows exponentially. Instead this does one
 * breadth-first search from all roots at once (sessions that block but do not
 * wait), visiting each session and each edge once: O(sessions + edges).
 *
 * Each session gets the nearest root (ties go to the lowest root pid, so pid 0,
 * a prepared transaction, wins), its depth below it, the path from the root, and
 * how many sessions hang below it in the resulting tree. Sessions that no root
 * reaches wait in a cycle (a deadlock the deadlock detector has not broken yet):
 * they are reported with no root.
 */
#include "guard.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
}

#include <algorithm>
#include <deque>
#include <map>
#include <vector>

namespace {

/* The int4 elements of a one-dimensional array; NULL elements are an error. */
std::vector<int32> int4_array(ArrayType *array, const char *what) {
    Datum *elems = nullptr;
    bool *elem_nulls = nullptr;
    int n = 0;
    vigil::pg_call([&] {
        deconstruct_array(array, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &elem_nulls, &n);
    });
    std::vector<int32> out;
    out.reserve(n);
    for (int i = 0; i < n; i++) {
        if (elem_nulls[i])
            throw vigil::Error(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                               std::string(what) + " must not contain NULL", "",
                               "Pass the pids returned by pg_blocking_pids().");
        out.push_back(DatumGetInt32(elems[i]));
    }
    return out;
}

struct WaitNode {
    std::vector<int> blockers; /* indexes of the sessions this one waits for */
    std::vector<int> waiters;  /* indexes of the sessions waiting for this one */
    int parent = -1;
    int root = -1;
    int depth = -1;
    int below = 0; /* sessions below this one in the tree */
};

/* The forest of one wait-graph snapshot. */
struct Forest {
    std::vector<int32> pids; /* ascending */
    std::vector<WaitNode> nodes;
};

Forest build_forest(const std::vector<int32> &waiting, const std::vector<int32> &blocking) {
    Forest f;
    f.pids = waiting;
    f.pids.insert(f.pids.end(), blocking.begin(), blocking.end());
    std::sort(f.pids.begin(), f.pids.end());
    f.pids.erase(std::unique(f.pids.begin(), f.pids.end()), f.pids.end());
    f.nodes.resize(f.pids.size());
    auto index_of = [&f](int32 pid) {
        return static_cast<int>(std::lower_bound(f.pids.begin(), f.pids.end(), pid) - f.pids.begin());
    };
    for (size_t i = 0; i < waiting.size(); i++) {
        const int w = index_of(waiting[i]);
        const int b = index_of(blocking[i]);
        if (w == b)
            continue; /* a session never blocks itself; ignore a malformed edge */
        f.nodes[w].blockers.push_back(b);
        f.nodes[b].waiters.push_back(w);
    }
    for (WaitNode &n : f.nodes) {
        std::sort(n.waiters.begin(), n.waiters.end());
        n.waiters.erase(std::unique(n.waiters.begin(), n.waiters.end()), n.waiters.end());
    }

    /* Multi-source BFS from every root, in ascending pid order. */
    std::deque<int> queue;
    for (size_t i = 0; i < f.nodes.size(); i++) {
        if (f.nodes[i].blockers.empty()) {
            f.nodes[i].root = static_cast<int>(i);
            f.nodes[i].depth = 0;
            queue.push_back(static_cast<int>(i));
        }
    }
    std::vector<int> order; /* visiting order: parents before children */
    order.reserve(f.nodes.size());
    while (!queue.empty()) {
        const int u = queue.front();
        queue.pop_front();
        order.push_back(u);
        for (int w : f.nodes[u].waiters) {
            WaitNode &n = f.nodes[w];
            if (n.depth >= 0)
                continue;
            n.parent = u;
            n.root = f.nodes[u].root;
            n.depth = f.nodes[u].depth + 1;
            queue.push_back(w);
        }
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        const WaitNode &n = f.nodes[*it];
        if (n.parent >= 0)
            f.nodes[n.parent].below += n.below + 1;
    }
    return f;
}

} // namespace

/*
 * vigil.wait_forest(waiting_pids int[], blocking_pids int[])
 *   → SETOF (pid, root_blocker_pid, depth, path int[], waiting_behind)
 * One row per session in the graph; root, depth and path are NULL in a cycle.
 */
VIGIL_FUNCTION(vigil_wait_forest) {
    const std::vector<int32> waiting = int4_array(vigil::pg_call([&] { return PG_GETARG_ARRAYTYPE_P(0); }), "waiting_pids");
    const std::vector<int32> blocking = int4_array(vigil::pg_call([&] { return PG_GETARG_ARRAYTYPE_P(1); }), "blocking_pids");
    if (waiting.size() != blocking.size())
        throw vigil::Error(ERRCODE_ARRAY_SUBSCRIPT_ERROR,
                           "waiting_pids and blocking_pids must have the same length",
                           "waiting_pids has " + std::to_string(waiting.size()) +
                               " elements and blocking_pids has " +
                               std::to_string(blocking.size()) + ".",
                           "Pass one (waiter, blocker) pair per array position.");
    const Forest f = build_forest(waiting, blocking);

    vigil::pg_call([&] { InitMaterializedSRF(fcinfo, 0); });
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    std::vector<Datum> path;
    for (size_t i = 0; i < f.nodes.size(); i++) {
        const WaitNode &n = f.nodes[i];
        Datum values[5];
        bool nulls[5] = {false, n.root < 0, n.root < 0, n.root < 0, false};
        values[0] = Int32GetDatum(f.pids[i]);
        values[1] = n.root < 0 ? 0 : Int32GetDatum(f.pids[n.root]);
        values[2] = Int32GetDatum(n.depth);
        values[4] = Int32GetDatum(n.below);
        path.clear();
        if (n.root >= 0) {
            for (int at = static_cast<int>(i); at >= 0; at = f.nodes[at].parent)
                path.push_back(Int32GetDatum(f.pids[at]));
            std::reverse(path.begin(), path.end());
        }
        vigil::pg_call([&] {
            values[3] = n.root < 0 ? 0
                                   : PointerGetDatum(construct_array(path.data(),
                                                                     static_cast<int>(path.size()),
                                                                     INT4OID, sizeof(int32), true,
                                                                     TYPALIGN_INT));
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        });
    }
    return (Datum)0;
}
