/*
 * lock_views.cpp — the wait forest behind vigil.blocking_locks and vigil.lock_tree().
 *
 * For every waiting session, pg_blocking_pids() names the sessions it waits for
 * (vigil.wait_pairs() and vigil.wait_sessions() call it once per waiter; the pure
 * vigil.wait_forest() takes the edges as two parallel arrays). A queue of sessions
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
#include <unordered_map>
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

/* One session of the wait graph and its place in the forest (-1: not reached from a root). */
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

/*
 * Builds the wait forest of the edges waiting[i] → blocking[i]: every session's nearest root,
 * depth, parent and the number of sessions below it.
 */
Forest build_forest(const std::vector<int32> &waiting, const std::vector<int32> &blocking) {
    Forest f;
    /* Number the distinct pids in ascending order (a hash map, not a sort of every edge). */
    std::unordered_map<int32, int> index;
    index.reserve(waiting.size() / 4 + 16);
    for (const auto *list : {&waiting, &blocking})
        for (int32 pid : *list)
            if (index.emplace(pid, 0).second)
                f.pids.push_back(pid);
    std::sort(f.pids.begin(), f.pids.end());
    for (size_t i = 0; i < f.pids.size(); i++)
        index[f.pids[i]] = static_cast<int>(i);
    f.nodes.resize(f.pids.size());
    for (size_t i = 0; i < waiting.size(); i++) {
        const int w = index[waiting[i]];
        const int b = index[blocking[i]];
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

/* The edges of the wait graph: blockers of each waiting pid, from pg_blocking_pids(). */
void collect_edges(const std::vector<int32> &waiting_pids, std::vector<int32> *waiting,
                   std::vector<int32> *blocking) {
    for (int32 pid : waiting_pids) {
        vigil::check_for_interrupts();
        ArrayType *blockers = vigil::pg_call([&] {
            return DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(pid)));
        });
        std::vector<int32> pids = int4_array(blockers, "pg_blocking_pids()");
        /* parallel workers can make a blocker appear twice */
        std::sort(pids.begin(), pids.end());
        pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
        for (int32 b : pids) {
            waiting->push_back(pid);
            blocking->push_back(b);
        }
    }
}

/* Puts one row into the materialized result set of the function being called. */
void put_row(ReturnSetInfo *rsinfo, Datum *values, bool *nulls) {
    vigil::pg_call([&] { tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls); });
}

/* Sets the function being called up to return a materialized set. */
ReturnSetInfo *begin_result_set(FunctionCallInfo fcinfo) {
    vigil::pg_call([&] { InitMaterializedSRF(fcinfo, 0); });
    return reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
}

/*
 * Returns one row per session: pid, root_blocker_pid, depth, path, waiting_behind and, with
 * with_direct, the pids waiting for it directly.
 */
void emit_sessions(FunctionCallInfo fcinfo, const Forest &f, bool with_direct) {
    ReturnSetInfo *rsinfo = begin_result_set(fcinfo);
    std::vector<Datum> path;
    std::vector<Datum> direct;
    for (size_t i = 0; i < f.nodes.size(); i++) {
        const WaitNode &n = f.nodes[i];
        Datum values[6];
        bool nulls[6] = {false, n.root < 0, n.root < 0, n.root < 0, false, false};
        values[0] = Int32GetDatum(f.pids[i]);
        values[1] = n.root < 0 ? 0 : Int32GetDatum(f.pids[n.root]);
        values[2] = Int32GetDatum(n.depth);
        /* below in the tree, or at least everyone waiting for it directly */
        values[4] = Int32GetDatum(std::max(n.below, static_cast<int>(n.waiters.size())));
        path.clear();
        if (n.root >= 0) {
            for (int at = static_cast<int>(i); at >= 0; at = f.nodes[at].parent)
                path.push_back(Int32GetDatum(f.pids[at]));
            std::reverse(path.begin(), path.end());
        }
        direct.clear();
        for (int w : n.waiters)
            direct.push_back(Int32GetDatum(f.pids[w]));
        vigil::pg_call([&] {
            values[3] = n.root < 0 ? 0
                                   : PointerGetDatum(construct_array(path.data(),
                                                                     static_cast<int>(path.size()),
                                                                     INT4OID, sizeof(int32), true,
                                                                     TYPALIGN_INT));
            if (with_direct)
                values[5] = PointerGetDatum(construct_array(direct.data(),
                                                            static_cast<int>(direct.size()),
                                                            INT4OID, sizeof(int32), true,
                                                            TYPALIGN_INT));
        });
        put_row(rsinfo, values, nulls);
    }
}

/* Argument argno, an int[], as a vector. */
std::vector<int32> int4_arg(FunctionCallInfo fcinfo, int argno, const char *what) {
    return int4_array(vigil::pg_call([&] { return PG_GETARG_ARRAYTYPE_P(argno); }), what);
}

} // namespace

/*
 * vigil.wait_forest(waiting_pids int[], blocking_pids int[])
 *   → SETOF (pid, root_blocker_pid, depth, path int[], waiting_behind)
 * The forest of the given edges, one row per session; root, depth and path are NULL in a cycle.
 */
VIGIL_FUNCTION(vigil_wait_forest) {
    const std::vector<int32> waiting = int4_arg(fcinfo, 0, "waiting_pids");
    const std::vector<int32> blocking = int4_arg(fcinfo, 1, "blocking_pids");
    if (waiting.size() != blocking.size())
        throw vigil::Error(ERRCODE_ARRAY_SUBSCRIPT_ERROR,
                           "waiting_pids and blocking_pids must have the same length",
                           "waiting_pids has " + std::to_string(waiting.size()) +
                               " elements and blocking_pids has " +
                               std::to_string(blocking.size()) + ".",
                           "Pass one (waiter, blocker) pair per array position.");
    emit_sessions(fcinfo, build_forest(waiting, blocking), false);
    return (Datum)0;
}

/*
 * vigil.wait_sessions(waiting_pids int[])
 *   → SETOF (pid, root_blocker_pid, depth, path int[], waiting_behind, direct_waiters int[])
 * The forest of the live wait graph of the given waiting sessions, one row per session.
 */
VIGIL_FUNCTION(vigil_wait_sessions) {
    std::vector<int32> waiting, blocking;
    collect_edges(int4_arg(fcinfo, 0, "waiting_pids"), &waiting, &blocking);
    emit_sessions(fcinfo, build_forest(waiting, blocking), true);
    return (Datum)0;
}

/*
 * vigil.wait_pairs(waiting_pids int[])
 *   → SETOF (waiting_pid, blocking_pid, blocker_order, root_blocker_pid, chain_depth)
 * One row per (waiter, blocker) edge of the live wait graph, with the waiter's root and depth.
 */
VIGIL_FUNCTION(vigil_wait_pairs) {
    std::vector<int32> waiting, blocking;
    collect_edges(int4_arg(fcinfo, 0, "waiting_pids"), &waiting, &blocking);
    const Forest f = build_forest(waiting, blocking);
    ReturnSetInfo *rsinfo = begin_result_set(fcinfo);
    int32 order = 0;
    for (size_t i = 0; i < waiting.size(); i++) {
        order = (i > 0 && waiting[i] == waiting[i - 1]) ? order + 1 : 1;
        const auto at = std::lower_bound(f.pids.begin(), f.pids.end(), waiting[i]) - f.pids.begin();
        const WaitNode &n = f.nodes[at];
        Datum values[5] = {Int32GetDatum(waiting[i]), Int32GetDatum(blocking[i]),
                           Int32GetDatum(order),
                           n.root < 0 ? 0 : Int32GetDatum(f.pids[n.root]), Int32GetDatum(n.depth)};
        bool nulls[5] = {false, false, false, n.root < 0, n.root < 0};
        put_row(rsinfo, values, nulls);
    }
    return (Datum)0;
}
