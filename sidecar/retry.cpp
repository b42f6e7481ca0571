// retry.cpp — SQLSTATE classification and jittered exponential backoff.
#include "retry.hpp"

#include <algorithm>
#include <random>

namespace vigil::retry {

bool is_transaction_conflict(const std::string &sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

bool is_connection_lost(const std::string &sqlstate) {
    return sqlstate.empty() || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
           sqlstate == "57P03" || sqlstate == "57P05";
}

bool is_retryable(const std::string &sqlstate) {
    return is_transaction_conflict(sqlstate) || is_connection_lost(sqlstate);
}

bool is_unavailable(const std::string &sqlstate) { return !sqlstate.empty() && is_connection_lost(sqlstate); }

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap) : base_(base), cap_(cap) {}

namespace {

// One generator per thread, seeded once: a Backoff is made for every operation, and reading
// std::random_device each time costs more than the operation (RDRAND traps in some VMs).
std::minstd_rand &thread_rng() {
    thread_local std::minstd_rand rng(std::random_device{}());
    return rng;
}

} // namespace

std::chrono::milliseconds Backoff::next() {
    // base * 2^attempt, computed without overflow, then capped; full jitter spreads retriers out.
    long long ceiling = base_.count();
    for (int i = 0; i < attempt_ && ceiling < cap_.count(); ++i)
        ceiling *= 2;
    ceiling = std::max<long long>(1, std::min<long long>(ceiling, cap_.count()));
    ++attempt_;
    std::uniform_int_distribution<long long> pick(ceiling / 2, ceiling);
    return std::chrono::milliseconds(pick(thread_rng()));
}

} // namespace vigil::retry
