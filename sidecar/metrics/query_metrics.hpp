// query_metrics.hpp — what vigild's own queries did: a duration histogram per operation, slow
// queries over metrics.slow_query_threshold and errors per SQLSTATE class. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "metrics/exposition.hpp"

namespace vigil {

class QueryMetrics {
  public:
    struct Snapshot {
        std::map<std::string, metrics::Histogram> durations; // by operation
        std::map<std::string, std::uint64_t> slow;           // by operation
        std::map<std::string, std::uint64_t> errors;         // by SQLSTATE class (two characters)
    };

    explicit QueryMetrics(double slow_threshold_seconds = 1.0) : slow_threshold_(slow_threshold_seconds) {}
    void set_slow_threshold(double seconds);
    // Records one query; `sqlstate` is empty when it succeeded.
    void observe(const std::string &operation, double seconds, const std::string &sqlstate = "");
    Snapshot snapshot() const;

  private:
    mutable std::mutex mutex_;
    double slow_threshold_;
    Snapshot data_;
};

} // namespace vigil
