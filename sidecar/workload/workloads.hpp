// workloads.hpp — what the workloads of `vigild bench` share (inside workload/ only): their
// factories, random picks, the demo schema check and the point read of a table by its key.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "workload/runner.hpp"

namespace vigil::bench {

// One factory per workload file; make_workload (registry.cpp) picks by name.
std::unique_ptr<Workload> make_read_workload(int pipeline, std::string table,
                                             std::vector<std::string> columns);
std::unique_ptr<Workload> make_crud_workload();
std::unique_ptr<Workload> make_feed_workload();
std::unique_ptr<Workload> make_transfer_workload();
std::unique_ptr<Workload> make_mixed_workload(const Options &options);

// A uniformly random element index below n.
inline std::size_t pick_index(std::mt19937_64 &rng, std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}

// Picks a name by weight.
class WeightedChoice {
  public:
    void add(std::string name, int weight) {
        if (weight <= 0)
            return;
        total_ += weight;
        entries_.emplace_back(total_, std::move(name));
    }
    const std::string &pick(std::mt19937_64 &rng) const {
        const int r = std::uniform_int_distribution<int>(1, total_)(rng);
        for (const auto &[bound, name] : entries_)
            if (r <= bound)
                return name;
        return entries_.back().second;
    }
    bool empty() const { return entries_.empty(); }

  private:
    int total_ = 0;
    std::vector<std::pair<int, std::string>> entries_;
};

// The demo schema is missing or empty: `what` says which part (WorkloadError::Kind::demo_schema).
[[noreturn]] void need_demo_schema(const std::string &what);

// What a point read runs: the statement, the table (quoted) and its key column (quoted).
struct PointRead {
    pool::Statement statement;
    std::string table;
    std::string key;
};

// The point read of a row of `table` by its single-column primary key: `columns` (all when
// empty), the key passed as text. Names come back quoted by the server, so any name is safe.
// Throws WorkloadError when the table or a column is not there or the key does not fit.
PointRead point_read(db::Connection &conn, const std::string &table, const std::vector<std::string> &columns);

} // namespace vigil::bench
