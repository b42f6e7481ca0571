/*
 * wait_forest.cpp — the forest of a lock-wait graph (see wait_forest.hpp).
 */
#include "wait_forest.hpp"

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <unordered_map>

namespace vigil::core {

int WaitForest::index_of(std::int32_t pid) const {
    const auto at = std::lower_bound(pids.begin(), pids.end(), pid);
    return at != pids.end() && *at == pid ? static_cast<int>(at - pids.begin()) : -1;
}

std::vector<std::int32_t> WaitForest::path_to(int i) const {
    std::vector<std::int32_t> path;
    if (nodes[i].root < 0)
        return path;
    for (int at = i; at >= 0; at = nodes[at].parent)
        path.push_back(pids[at]);
    std::reverse(path.begin(), path.end());
    return path;
}

WaitForest build_wait_forest(const std::vector<std::int32_t> &waiting,
                             const std::vector<std::int32_t> &blocking) {
    if (waiting.size() != blocking.size())
        throw std::invalid_argument("waiting and blocking must have the same length");
    WaitForest f;
    /* Number the distinct pids in ascending order (a hash map, not a sort of every edge). */
    std::unordered_map<std::int32_t, int> index;
    index.reserve(waiting.size() / 4 + 16);
    for (const auto *list : {&waiting, &blocking})
        for (std::int32_t pid : *list)
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

} // namespace vigil::core
