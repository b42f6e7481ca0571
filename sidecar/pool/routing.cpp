// routing.cpp — RoutedPool: a background prober measures each replica's lag; reads go to a
// replica under the limit, round robin, and fall back to the primary.
#include "pool/routing.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "db_wait.hpp"

namespace vigil::pool {

struct RoutedPool::State {
    Seconds max_lag;
    LagProbe probe;
    mutable std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::optional<double>> lags;
    std::atomic<std::size_t> next{0};
    bool stopping = false;
    std::thread prober;
};

std::optional<double> measure_replica_lag(Pool &replica) {
    try {
        Lease lease = replica.acquire("replica lag probe", Seconds(2));
        // receive == replay says "caught up" only while the walreceiver streams: a standby whose
        // primary is gone (stopped, failed over, primary_conninfo wrong) has replayed everything
        // it received and falls further behind every second. Not streaming: lag unknown.
        // A replica that stopped answering must not hold the prober: the query waits as long as
        // a ping may (validation_timeout, else 2 s), then the connection is closed as broken.
        const Seconds limit = replica.settings().validation_timeout.count() > 0
                                  ? replica.settings().validation_timeout
                                  : Seconds(2);
        db::Result r =
            db::exec_until(lease.conn(),
                           "SELECT pg_is_in_recovery(),"
                           "       coalesce((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false),"
                           "       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                           "            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END",
                           Clock::now() + std::chrono::duration_cast<Clock::duration>(limit));
        if (r.value(0, 0) != "t" || r.value(0, 1) != "t" || r.is_null(0, 2))
            return std::nullopt;
        return std::stod(r.value(0, 2));
    } catch (const std::exception &e) {
        spdlog::debug("replica lag probe failed: {}", e.what());
        return std::nullopt;
    }
}

RoutedPool::RoutedPool(Settings primary, std::vector<Settings> replicas, Seconds max_replica_lag,
                       Connector primary_connector, std::vector<Connector> replica_connectors, LagProbe probe,
                       std::chrono::milliseconds probe_interval)
    : primary_(std::make_unique<Pool>(std::move(primary), std::move(primary_connector))),
      state_(std::make_unique<State>()) {
    for (std::size_t i = 0; i < replicas.size(); ++i)
        replicas_.push_back(std::make_unique<Pool>(
            std::move(replicas[i]), i < replica_connectors.size() ? replica_connectors[i] : Connector{}));
    state_->max_lag = max_replica_lag;
    state_->probe = probe ? std::move(probe) : LagProbe(measure_replica_lag);
    state_->lags.assign(replicas_.size(), std::nullopt);
    if (!replicas_.empty()) {
        probe_now();
        state_->prober = std::thread([this, probe_interval] {
            std::unique_lock lk(state_->mutex);
            while (!state_->stopping) {
                state_->cv.wait_for(lk, probe_interval, [&] { return state_->stopping; });
                if (state_->stopping)
                    break;
                lk.unlock();
                probe_now();
                lk.lock();
            }
        });
    }
}

RoutedPool::~RoutedPool() {
    {
        std::lock_guard lk(state_->mutex);
        state_->stopping = true;
    }
    state_->cv.notify_all();
    if (state_->prober.joinable())
        state_->prober.join();
}

void RoutedPool::probe_now() {
    std::vector<std::optional<double>> lags;
    for (auto &replica : replicas_)
        lags.push_back(state_->probe(*replica));
    std::lock_guard lk(state_->mutex);
    state_->lags = std::move(lags);
}

std::vector<std::optional<double>> RoutedPool::replica_lags() const {
    std::lock_guard lk(state_->mutex);
    return state_->lags;
}

Lease RoutedPool::acquire_write(const std::string &borrower, std::uint64_t prefer,
                                std::optional<Seconds> timeout) {
    return primary_->acquire(borrower, timeout, prefer);
}

Lease RoutedPool::acquire_read(const std::string &borrower, std::uint64_t prefer,
                               std::optional<Seconds> timeout) {
    if (replicas_.empty())
        return primary_->acquire(borrower, timeout, prefer);
    const auto lags = replica_lags();
    const std::size_t n = replicas_.size();
    const std::size_t start = n ? state_->next.fetch_add(1) % n : 0;
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (start + k) % n;
        if (lags[i] && *lags[i] <= state_->max_lag.count()) {
            try {
                return replicas_[i]->acquire(borrower, timeout);
            } catch (const db::DbError &e) {
                spdlog::debug("replica {} unavailable for reads: {}", i, e.what());
            }
        }
    }
    return primary_->acquire(borrower, timeout, prefer);
}

} // namespace vigil::pool
