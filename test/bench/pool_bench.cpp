// pool_bench.cpp — Google Benchmark of the pool's own cost: acquire + release uncontended, and
// threads contending for connections (fairness, single-wait tail, scheduler preemptions).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include "pool/pool.hpp"

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

// Shared by the threads of one contended run.
pool::Pool *g_pool = nullptr;
std::mutex g_mutex;
std::vector<double> g_thread_mean_wait_us;
std::vector<float> g_waits_us; // every single wait of the run, for percentiles
long g_preemptions = 0;        // involuntary context switches of the benchmark threads

// Involuntary context switches of the calling thread so far: the scheduler took the CPU away.
long preemptions_so_far() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return u.ru_nivcsw;
}

// state.threads() threads contend for state.range(0) connections, each holding its connection
// ~2 us. Reports the mean wait, the slowest thread's mean wait against it (fairness: a starved
// thread would stand out), and the single waits' p99 / p99.9 / max together with how often the
// scheduler preempted a benchmark thread: with more runnable threads than cores, a holder
// preempted mid-hold keeps its connection for a whole time slice, which shows up as a single
// wait of milliseconds for whoever is next in line without any thread being served unfairly.
void BM_AcquireReleaseContended(benchmark::State &state) {
    if (state.thread_index() == 0) {
        g_pool = new pool::Pool(null_settings(static_cast<int>(state.range(0))), null_connector());
        g_thread_mean_wait_us.clear();
        g_waits_us.clear();
        g_preemptions = 0;
    }
    std::vector<float> waits;
    waits.reserve(1 << 16);
    double waited = 0;
    const long preempted_before = preemptions_so_far();
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        pool::Lease lease = g_pool->acquire();
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
        waited += us;
        waits.push_back(static_cast<float>(us));
        // Hold it for a moment, as a borrower running a query would.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(2);
        while (std::chrono::steady_clock::now() < until)
            benchmark::ClobberMemory();
    }
    const long preempted = preemptions_so_far() - preempted_before;
    {
        std::lock_guard lk(g_mutex);
        g_thread_mean_wait_us.push_back(waits.empty() ? 0 : waited / static_cast<double>(waits.size()));
        g_waits_us.insert(g_waits_us.end(), waits.begin(), waits.end());
        g_preemptions += preempted;
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
        double max_mean = 0, total = 0;
        for (double m : g_thread_mean_wait_us)
            max_mean = std::max(max_mean, m);
        for (float w : g_waits_us)
            total += w;
        const double n = static_cast<double>(std::max<std::size_t>(1, g_waits_us.size()));
        const double mean = total / n; // every wait counts once
        auto pct = [&](double q) {
            if (g_waits_us.empty())
                return 0.0;
            auto at = g_waits_us.begin() + static_cast<long>(q * (n - 1));
            std::nth_element(g_waits_us.begin(), at, g_waits_us.end());
            return static_cast<double>(*at);
        };
        state.counters["mean_wait_us"] = mean;
        state.counters["worst_thread_mean_wait_us"] = max_mean;
        state.counters["fairness_ratio"] = mean > 0 ? max_mean / mean : 0; // 1 is perfectly fair
        state.counters["p99_single_wait_us"] = pct(0.99);
        state.counters["p999_single_wait_us"] = pct(0.999);
        state.counters["max_single_wait_us"] = pct(1.0);
        state.counters["preemptions_per_1k_acquires"] = 1000.0 * static_cast<double>(g_preemptions) / n;
        state.counters["timeouts"] = static_cast<double>(g_pool->stats().timeouts);
        delete g_pool;
        g_pool = nullptr;
    }
}
// The case: 64 threads on 8 connections, far more runnable threads than cores.
BENCHMARK(BM_AcquireReleaseContended)->Arg(8)->Threads(64)->UseRealTime();
// The control: 2 threads on 1 connection, no more runnable threads than a 2-core machine has, so
// preemption mid-hold is rare; the same pool code, so a long tail here would be the pool's.
BENCHMARK(BM_AcquireReleaseContended)->Arg(1)->Threads(2)->UseRealTime();

} // namespace
