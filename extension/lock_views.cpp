/*
 * lock_views.cpp — the wait forest behind vigil.blocking_locks and vigil.lock_tree().
 *
 * For every waiting session, pg_blocking_pids() names the sessions it waits for
 * (vigil.wait_pairs() and vigil.wait_sessions() call it once per waiter; the pure
 * vigil.wait_forest() takes the edges as two parallel arrays). The forest itself, every
 * session's nearest root, depth, path and the sessions behind it, is core/wait_forest.hpp.
 * Sessions that no root reaches wait in a cycle: they are reported with no root.
 */
#include "arguments.hpp"
#include "guard.hpp"
#include "result_set.hpp"
#include "core/wait_forest.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "utils/array.h"
}

#include <algorithm>
#include <vector>

namespace {

using vigil::core::WaitForest;
using vigil::core::WaitNode;

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
            throw vigil::Error(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not contain NULL",
                               "", "Pass the pids returned by pg_blocking_pids().");
        out.push_back(DatumGetInt32(elems[i]));
    }
    return out;
}

/* The edges of the wait graph: blockers of each waiting pid, from pg_blocking_pids(). */
void collect_edges(const std::vector<int32> &waiting_pids, std::vector<int32> *waiting,
                   std::vector<int32> *blocking) {
    for (int32 pid : waiting_pids) {
        vigil::check_for_interrupts();
        ArrayType *blockers = vigil::pg_call(
            [&] { return DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids, Int32GetDatum(pid))); });
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

/*
 * Returns one row per session: pid, root_blocker_pid, depth, path, waiting_behind and, with
 * with_direct, the pids waiting for it directly.
 */
Datum emit_sessions(FunctionCallInfo fcinfo, const WaitForest &f, bool with_direct) {
    const vigil::ResultSet rows(fcinfo);
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
        for (const int32 pid : f.path_to(static_cast<int>(i)))
            path.push_back(Int32GetDatum(pid));
        direct.clear();
        for (int w : n.waiters)
            direct.push_back(Int32GetDatum(f.pids[w]));
        vigil::pg_call([&] {
            values[3] = n.root < 0
                            ? 0
                            : PointerGetDatum(construct_array(path.data(), static_cast<int>(path.size()),
                                                              INT4OID, sizeof(int32), true, TYPALIGN_INT));
            if (with_direct)
                values[5] = PointerGetDatum(construct_array(direct.data(), static_cast<int>(direct.size()),
                                                            INT4OID, sizeof(int32), true, TYPALIGN_INT));
        });
        rows.put(values, nulls);
    }
    return rows.done();
}

/* Argument argno, an int[], as a vector. */
std::vector<int32> int4_arg(FunctionCallInfo fcinfo, int argno, const char *what) {
    vigil::require_not_null(fcinfo, argno, what);
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
                               " elements and blocking_pids has " + std::to_string(blocking.size()) + ".",
                           "Pass one (waiter, blocker) pair per array position.");
    return emit_sessions(fcinfo, vigil::core::build_wait_forest(waiting, blocking), false);
}

/*
 * vigil.wait_sessions(waiting_pids int[])
 *   → SETOF (pid, root_blocker_pid, depth, path int[], waiting_behind, direct_waiters int[])
 * The forest of the live wait graph of the given waiting sessions, one row per session.
 */
VIGIL_FUNCTION(vigil_wait_sessions) {
    std::vector<int32> waiting, blocking;
    collect_edges(int4_arg(fcinfo, 0, "waiting_pids"), &waiting, &blocking);
    return emit_sessions(fcinfo, vigil::core::build_wait_forest(waiting, blocking), true);
}

/*
 * vigil.wait_pairs(waiting_pids int[])
 *   → SETOF (waiting_pid, blocking_pid, blocker_order, root_blocker_pid, chain_depth)
 * One row per (waiter, blocker) edge of the live wait graph, with the waiter's root and depth.
 */
VIGIL_FUNCTION(vigil_wait_pairs) {
    std::vector<int32> waiting, blocking;
    collect_edges(int4_arg(fcinfo, 0, "waiting_pids"), &waiting, &blocking);
    const WaitForest f = vigil::core::build_wait_forest(waiting, blocking);
    const vigil::ResultSet rows(fcinfo);
    int32 order = 0;
    for (size_t i = 0; i < waiting.size(); i++) {
        order = (i > 0 && waiting[i] == waiting[i - 1]) ? order + 1 : 1;
        const WaitNode &n = f.nodes[f.index_of(waiting[i])];
        Datum values[5] = {Int32GetDatum(waiting[i]), Int32GetDatum(blocking[i]), Int32GetDatum(order),
                           n.root < 0 ? 0 : Int32GetDatum(f.pids[n.root]), Int32GetDatum(n.depth)};
        bool nulls[5] = {false, false, false, n.root < 0, n.root < 0};
        rows.put(values, nulls);
    }
    return rows.done();
}
