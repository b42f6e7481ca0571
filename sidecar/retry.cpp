// retry.cpp — SQLSTATE classification and jittered exponential backoff.
#include "retry.hpp"

#include <algorithm>
#include <random>

namespace vigil::retry {

bool is_transaction_conflict(const std::string &sqlstate) {
    return sqlstate == "40001" || sqlstate == "40P01";
}

bool is_connection_lost(const std::string &sqlstate) {
    return sqlstate.empty() || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" ||
           sqlstate == "57P03" || sqlstate == "57P05";
}

bool is_too_many_connections(const std::string &sqlstate) {
    return sqlstate == "53300";
}

bool is_read_only(const std::string &sqlstate) {
    return sqlstate == "25006";
}

bool is_retryable(const std::string &sqlstate) {
    return is_transaction_conflict(sqlstate) || is_connection_lost(sqlstate) ||
           is_too_many_connections(sqlstate);
}

bool is_unavailable(const std::string &sqlstate) {
    return !sqlstate.empty() && is_connection_lost(sqlstate);
}

bool is_temporary(const std::string &sqlstate) {
    return is_too_many_connections(sqlstate) || is_transaction_conflict(sqlstate);
}

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

ConnectThrottle::ConnectThrottle(std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                 Failover failover)
    : base_(base), cap_(cap), failover_(failover), backoff_(base, cap),
      failover_backoff_(base, std::min(cap, failover.cap)) {}

ConnectThrottle::Turn ConnectThrottle::begin(Clock::time_point deadline) {
    std::unique_lock lk(mutex_);
    for (;;) {
        if (!failing_)
            return Turn::free;
        const auto now = Clock::now();
        if (!probing_ && now >= not_before_) {
            probing_ = true;
            return Turn::probe;
        }
        // Someone is probing, or the delay is not over: wait for either to change. A turn that
        // would come too late is waited for until the deadline all the same (a success may open
        // the way before), so that a caller who gives up has waited as long as it was told to.
        if (now >= deadline)
            return Turn::refused;
        changed_.wait_until(lk, probing_ ? deadline : std::min(not_before_, deadline));
    }
}

void ConnectThrottle::end(Turn turn, bool connected, const std::string &sqlstate,
                          const std::string &message) {
    std::lock_guard lk(mutex_);
    if (turn == Turn::probe)
        probing_ = false;
    if (connected) {
        failing_ = false;
        connected_before_ = true;
        backoff_ = Backoff(base_, cap_);
        failover_backoff_ = Backoff(base_, std::min(cap_, failover_.cap));
        not_before_ = {};
        last_failure_ = {};
    } else {
        last_failure_ = {sqlstate, message};
        // A failed probe, or the first failure: the next probe waits longer. Free attempts that
        // were under way when connects began to fail do not push it out again.
        if (turn == Turn::probe || !failing_) {
            const auto now = Clock::now();
            if (!failing_)
                failing_since_ = now;
            failing_ = true;
            const bool failing_over = failover_.cap.count() > 0 && connected_before_ &&
                                      !is_too_many_connections(sqlstate) &&
                                      now - failing_since_ < failover_.window;
            not_before_ = now + (failing_over ? failover_backoff_.next() : backoff_.next());
        }
    }
    changed_.notify_all();
}

ConnectThrottle::Clock::time_point ConnectThrottle::not_before() const {
    std::lock_guard lk(mutex_);
    return not_before_;
}

std::pair<std::string, std::string> ConnectThrottle::last_failure() const {
    std::lock_guard lk(mutex_);
    return last_failure_;
}

} // namespace vigil::retry
