// pool_bench.cpp — Google Benchmark of the pool's own cost: acquire + release uncontended, and
// 64 threads contending for 8 connections (fairness: each thread's mean wait against the mean).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "pool.hpp"

using namespace vigil;

namespace {

// A session that costs nothing, so only the pool's bookkeeping is measured.
class NullSession : public pool::Session {
  public:
    State state() override { return State::idle; }
    bool rollback() override { return true; }
    bool ping() override { return true; }
};

pool::Settings null_settings(int max_size) {
    pool::Settings s;
    s.max_size = max_size;
    s.acquire_timeout = Seconds(60);
    s.housekeeping_interval = std::chrono::milliseconds(1000);
    return s;
}

pool::Connector null_connector() {
    return [] { return std::unique_ptr<pool::Session>(std::make_unique<NullSession>()); };
}

void BM_AcquireReleaseUncontended(benchmark::State &state) {
    pool::Pool p(null_settings(1), null_connector());
    for (auto _ : state) {
        pool::Lease lease = p.acquire();
        benchmark::DoNotOptimize(lease);
    }
}
BENCHMARK(BM_AcquireReleaseUncontended);

// Shared by the 64 threads of one run.
pool::Pool *g_pool = nullptr;
std::mutex g_mutex;
std::vector<double> g_thread_mean_wait_us;
double g_max_wait_us = 0;

void BM_AcquireRelease64ThreadsOn8Connections(benchmark::State &state) {
    if (state.thread_index() == 0) {
        g_pool = new pool::Pool(null_settings(8), null_connector());
        g_thread_mean_wait_us.clear();
        g_max_wait_us = 0;
    }
    double waited = 0, worst = 0;
    long n = 0;
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        pool::Lease lease = g_pool->acquire();
        const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        waited += us;
        worst = std::max(worst, us);
        ++n;
        // Hold it for a moment, as a borrower running a query would.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
        while (std::chrono::steady_clock::now() < until)
            benchmark::ClobberMemory();
    }
    {
        std::lock_guard lk(g_mutex);
        g_thread_mean_wait_us.push_back(n ? waited / n : 0);
        g_max_wait_us = std::max(g_max_wait_us, worst);
    }
    if (state.thread_index() == 0) {
        // Thread 0 reports once every thread has finished its loop (the framework's barrier).
        while (true) {
            {
                std::lock_guard lk(g_mutex);
                if (static_cast<int>(g_thread_mean_wait_us.size()) == state.threads())
                    break;
            }
            std::this_thread::yield();
        }
        double sum = 0, max_mean = 0;
        for (double m : g_thread_mean_wait_us) {
            sum += m;
            max_mean = std::max(max_mean, m);
        }
        const double mean = sum / static_cast<double>(g_thread_mean_wait_us.size());
        state.counters["mean_wait_us"] = mean;
        state.counters["worst_thread_mean_wait_us"] = max_mean;
        state.counters["fairness_ratio"] = mean > 0 ? max_mean / mean : 0; // 1 is perfectly fair
        state.counters["max_single_wait_us"] = g_max_wait_us;
        state.counters["timeouts"] = static_cast<double>(g_pool->stats().timeouts);
        delete g_pool;
        g_pool = nullptr;
    }
}
BENCHMARK(BM_AcquireRelease64ThreadsOn8Connections)->Threads(64)->UseRealTime();

} // namespace
