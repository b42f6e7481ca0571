// console_bench_server.cpp — what bench_console.sh measures: the console and /metrics of one
// MetricsServer over N targets (N real HealthPollers, one per database of the bench cluster),
// both rendered from the same snapshots in memory. Usage:
//   vigil_console_bench_server LISTEN DSN_PREFIX N
// polls "DSN_PREFIX dbname=bench_db<i>" for i in 1..N, prints "ready" once every target was
// polled, and serves until SIGTERM or SIGINT.
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "console/console.hpp"
#include "metrics/daemon_metrics.hpp"
#include "metrics/http.hpp"
#include "wall_clock.hpp"

using namespace vigil;

int main(int argc, char **argv) {
    if (argc != 4) {
        std::cerr << "usage: vigil_console_bench_server LISTEN DSN_PREFIX N\n";
        return 64;
    }
    const std::string listen = argv[1], prefix = argv[2];
    const int n = std::stoi(argv[3]);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    QueryMetrics queries(1);
    struct Target {
        std::string name, database, dsn;
        std::unique_ptr<HealthPoller> poller;
    };
    std::vector<Target> targets;
    for (int i = 1; i <= n; ++i) {
        Target t;
        t.name = "target" + std::string(i < 10 ? "0" : "") + std::to_string(i);
        t.database = "bench_db" + std::to_string(i);
        t.dsn = prefix + " dbname=" + t.database;
        PoolConfig pool;
        pool.max_size = 2;
        t.poller = std::make_unique<HealthPoller>(pool::Settings::from_config(pool, t.dsn), Seconds(5), "",
                                                  PollLimits{}, queries);
        targets.push_back(std::move(t));
    }
    for (Target &t : targets)
        t.poller->start();

    // The fleet snapshot, rebuilt only when a poll changed (as serve does).
    std::mutex mutex;
    std::vector<std::shared_ptr<const HealthSnapshot>> seen(targets.size());
    std::shared_ptr<const fleet::FleetSnapshot> fleet;
    fleet::FleetAccess access;
    access.snapshot = [&]() -> std::shared_ptr<const fleet::FleetSnapshot> {
        std::lock_guard<std::mutex> lock(mutex);
        bool changed = !fleet;
        for (std::size_t i = 0; i < targets.size(); ++i)
            changed |= targets[i].poller->snapshot() != seen[i];
        if (!changed)
            return fleet;
        auto f = std::make_shared<fleet::FleetSnapshot>();
        f->timestamp = now_epoch();
        for (std::size_t i = 0; i < targets.size(); ++i) {
            seen[i] = targets[i].poller->snapshot();
            fleet::TargetState t;
            t.name = targets[i].name;
            t.up = seen[i]->up;
            t.role = fleet::Role::primary;
            t.databases.push_back({seen[i]->database, seen[i]});
            f->targets.push_back(std::move(t));
        }
        fleet = f;
        return fleet;
    };
    access.dsn = [&](const std::string &target, const std::string &) -> std::optional<std::string> {
        for (const Target &t : targets)
            if (t.name == target)
                return t.dsn;
        return std::nullopt;
    };
    // /metrics: every target's families from the same snapshots.
    auto render = [&] {
        std::string out;
        for (const Target &t : targets) {
            DaemonMetricsInput in;
            in.health = t.poller->snapshot();
            in.queries = queries.snapshot();
            in.now = now_epoch();
            out += render_daemon_metrics(in);
        }
        return out;
    };
    console::Console web(access, {}, {}, console::ConsoleOptions{});
    MetricsServer server(render, [] { return std::make_pair(true, std::string()); });
    server.add_routes([&](httplib::Server &s) { web.mount(s); });
    server.start(listen);
    for (const Target &t : targets)
        while (!t.poller->snapshot()->polled)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::cout << "ready" << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    server.stop();
    for (Target &t : targets)
        t.poller->stop();
    return 0;
}
