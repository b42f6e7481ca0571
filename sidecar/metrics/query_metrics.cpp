// query_metrics.cpp — per-operation query statistics.
#include "metrics/query_metrics.hpp"

namespace vigil {

void QueryMetrics::set_slow_threshold(double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    slow_threshold_ = seconds;
}

void QueryMetrics::observe(const std::string &operation, double seconds, const std::string &sqlstate) {
    std::lock_guard<std::mutex> lock(mutex_);
    data_.durations.try_emplace(operation).first->second.observe(seconds);
    if (seconds > slow_threshold_)
        ++data_.slow[operation];
    if (!sqlstate.empty())
        ++data_.errors[sqlstate.substr(0, 2)];
}

QueryMetrics::Snapshot QueryMetrics::snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return data_;
}

} // namespace vigil
