// stats.hpp — a snapshot of a connection pool's statistics. The pool (pool.cpp) fills it;
// metrics, `vigild bench` output and error messages read it.
#pragma once

#include <array>
#include <cstdint>

namespace vigil {

// Acquire-time histogram buckets, upper bounds in seconds (Prometheus `le`), cumulative counts.
inline constexpr std::array<double, 12> kAcquireBuckets = {0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                           0.025,  0.05,   0.1,   0.25,   1.0,   5.0};

struct PoolStats {
    int total = 0;   // open connections
    int idle = 0;    // open and not borrowed
    int active = 0;  // borrowed
    int pending = 0; // borrowers waiting for a connection
    int max_size = 0;
    std::uint64_t created = 0;  // connections opened since start
    std::uint64_t closed = 0;   // connections closed since start
    std::uint64_t timeouts = 0; // acquires that gave up after acquire_timeout
    std::uint64_t errors = 0;   // failed connection attempts and broken connections
    std::uint64_t acquires = 0; // successful acquires
    // Connections closed because their server failed over: lost (class 08, 57P01-57P03), read-only
    // (25006, or reported read-only to a pool that must write), or idle siblings of a read-only one.
    std::uint64_t evicted = 0;
    // Acquire time: cumulative count per bucket of kAcquireBuckets, plus +Inf (= acquires), and sum.
    std::array<std::uint64_t, kAcquireBuckets.size()> acquire_buckets{};
    double acquire_seconds_sum = 0;
};

} // namespace vigil
