// serve.cpp — `vigild serve`: the long-running service. Polls the database, serves
// /metrics, verifies backups periodically; sd_notify readiness, SIGHUP reload, SIGTERM drain.
#include <atomic>
#include <condition_variable>
#include <thread>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <iostream>
#include <mutex>
#include <pthread.h>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "backup/backup.hpp"
#include "console/console.hpp"
#include "console/security.hpp"
#include "commands/cli.hpp"
#include "metrics/daemon_metrics.hpp"
#include "exit_codes.hpp"
#include "metrics/poller.hpp"
#include "logging.hpp"
#include "metrics/http.hpp"
#include "metrics/query_metrics.hpp"
#include "wall_clock.hpp"

namespace vigil {

namespace {

// Periodically verifies the newest backup in backup.directory.
class BackupVerifier {
  public:
    void configure(std::string dsn, BackupConfig cfg) {
        std::lock_guard<std::mutex> lock(mutex_);
        dsn_ = std::move(dsn);
        cfg_ = std::move(cfg);
        wake_.notify_all();
    }
    void start() {
        thread_ = std::thread([this] { run(); });
    }
    // Lets a verification in progress finish until `deadline`, then stops it (its scratch
    // database is still dropped).
    void stop(Seconds deadline) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (!thread_.joinable())
            return;
        std::unique_lock<std::mutex> lock(mutex_);
        if (!done_.wait_for(lock, deadline, [this] { return finished_; })) {
            spdlog::warn("drain: stopping the backup verification in progress");
            abort_ = true;
        }
        lock.unlock();
        thread_.join();
    }
    // Verifies once now, whatever verify_interval says (the console's action); false without
    // a backup directory.
    bool run_now() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (cfg_.directory.empty())
            return false;
        run_requested_ = true;
        wake_.notify_all();
        return true;
    }
    VerifyStatus status() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return status_;
    }

  private:
    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopping_) {
            const BackupConfig cfg = cfg_;
            const std::string dsn = dsn_;
            const bool requested = run_requested_;
            run_requested_ = false;
            if ((cfg.verify_interval.count() > 0 || requested) && !cfg.directory.empty()) {
                lock.unlock();
                VerifyStatus st;
                try {
                    const auto report = backup::verify_path(cfg.directory, false, dsn, cfg, &abort_);
                    st.ran = true;
                    st.passed = report.passed();
                    st.duration_seconds = report.seconds;
                    st.target = report.target;
                    for (const auto &step : report.steps)
                        st.steps[step.name] = step.status;
                    spdlog::log(st.passed ? spdlog::level::info : spdlog::level::warn,
                                "backup verification of {} {} in {:.1f}s", report.target,
                                st.passed ? "passed" : "FAILED", report.seconds);
                } catch (const std::exception &e) {
                    st.ran = true;
                    st.passed = false;
                    st.target = cfg.directory;
                    spdlog::warn("backup verification failed: {}", e.what());
                }
                st.timestamp = now_epoch();
                lock.lock();
                status_ = st;
            }
            const Seconds wait = cfg_.verify_interval.count() > 0 ? cfg_.verify_interval : Seconds(3600);
            wake_.wait_for(lock, wait, [this] { return stopping_ || run_requested_; });
        }
        finished_ = true;
        done_.notify_all();
    }

    mutable std::mutex mutex_;
    std::condition_variable wake_, done_;
    bool stopping_ = false, finished_ = false, run_requested_ = false;
    std::atomic<bool> abort_{false};
    std::string dsn_;
    BackupConfig cfg_;
    VerifyStatus status_;
    std::thread thread_;
};

void notify(const std::string &state) {
    sd_notify(0, state.c_str());
}

// What serve needs beyond what the config schema checks; throws ConfigError.
void check_serve_config(const Config &c) {
    if (c.health.interval.count() < 0.1)
        throw ConfigError((c.source.empty() ? "<config>" : c.source) +
                          ": health.interval must be at least 100ms");
    parse_listen_address(c.metrics.listen); // std::invalid_argument names the key
    console::check_exposure(c.metrics.listen, c.web);
}

int serve(Context &ctx, Seconds drain_timeout) {
    // Signals are taken synchronously by this thread; every thread started below inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGHUP, SIGTERM, SIGINT})
        sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const double start_time = now_epoch();
    Config config = ctx.config;
    try {
        check_serve_config(config);
    } catch (const std::invalid_argument &e) {
        throw ConfigError(e.what());
    }
    QueryMetrics queries(config.metrics.slow_query_threshold.count());
    HealthPoller poller(pool::Settings::from_config(config.pool, ctx.dsn()), config.health.interval,
                        config.backup.directory, PollLimits::from_config(config.metrics), queries);
    BackupVerifier verifier;
    verifier.configure(ctx.dsn(), config.backup);
    std::atomic<int> reloads_ok{0}, reloads_failed{0};

    auto render = [&] {
        DaemonMetricsInput in;
        in.health = poller.snapshot();
        in.queries = queries.snapshot();
        in.pool = poller.pool_stats();
        in.verify = verifier.status();
        in.reloads_ok = reloads_ok;
        in.reloads_failed = reloads_failed;
        in.start_time = start_time;
        in.now = now_epoch();
        return render_daemon_metrics(in);
    };
    auto ready = [&]() -> std::pair<bool, std::string> {
        const auto h = poller.snapshot();
        if (!h->polled)
            return {false, "no health poll yet"};
        if (!h->up)
            return {false, "database unreachable: " + h->error};
        if (!h->health_checks_available || !h->health_checks_error.empty())
            return {false, "health checks unavailable: " + h->health_checks_error};
        if (h->critical())
            return {false, "a health check is critical"};
        return {true, ""};
    };
    // --- console (minimal single-target wiring until the fleet lands; the lead redoes this) ---
    // The one poller as target "default"; the FleetSnapshot is rebuilt only when the poll changes,
    // so the console's per-snapshot page cache works.
    std::mutex fleet_mutex;
    std::shared_ptr<const HealthSnapshot> fleet_health;
    std::shared_ptr<const fleet::FleetSnapshot> fleet_snapshot;
    fleet::FleetAccess fleet_access;
    fleet_access.snapshot = [&]() -> std::shared_ptr<const fleet::FleetSnapshot> {
        const auto h = poller.snapshot();
        std::lock_guard<std::mutex> lock(fleet_mutex);
        if (h != fleet_health || !fleet_snapshot) {
            auto f = std::make_shared<fleet::FleetSnapshot>();
            f->timestamp = h->last_poll_timestamp;
            fleet::TargetState t;
            t.name = "default";
            t.source = "config";
            t.up = h->up;
            t.error = h->error;
            t.last_success_timestamp = h->last_success_timestamp;
            if (h->up)
                t.role = !h->replication.empty() && h->replication.front().standby == "self"
                             ? fleet::Role::standby
                             : fleet::Role::primary;
            if (h->polled)
                t.databases.push_back({h->database, h});
            t.pool = poller.pool_stats();
            f->targets.push_back(std::move(t));
            fleet_health = h;
            fleet_snapshot = std::move(f);
        }
        return fleet_snapshot;
    };
    fleet_access.dsn = [&](const std::string &target,
                           const std::string &database) -> std::optional<std::string> {
        const auto h = poller.snapshot();
        if (target != "default" || database != h->database)
            return std::nullopt;
        return ctx.dsn();
    };
    console::ServeHooks hooks;
    hooks.verify_status = [&] { return verifier.status(); };
    hooks.verify_now = [&] { return verifier.run_now(); };
    hooks.pool_size = [&] { return config.pool.max_size; };
    std::unique_ptr<console::Console> web_console;
    if (config.web.console) {
        try {
            web_console = std::make_unique<console::Console>(fleet_access, console::HistoryView{}, hooks,
                                                             console::ConsoleOptions{config.web});
        } catch (const std::exception &e) {
            throw ConfigError(e.what());
        }
    }
    auto mount_console = [&](MetricsServer &server) {
        if (web_console)
            server.add_routes([&](httplib::Server &s) { web_console->mount(s); });
    };
    // --- end console ---
    auto http = std::make_unique<MetricsServer>(render, ready);
    mount_console(*http);
    try {
        http->start(config.metrics.listen);
    } catch (const std::exception &e) {
        throw CommandError(exit_code::unavailable, e.what());
    }
    poller.start();
    verifier.start();
    notify("READY=1\nSTATUS=serving metrics on " + config.metrics.listen);
    spdlog::info("vigild serve: ready (pid {}), health every {}s", getpid(), config.health.interval.count());

    for (;;) {
        siginfo_t info;
        const int sig = sigwaitinfo(&signals, &info);
        if (sig < 0)
            continue;
        if (sig == SIGHUP) {
            notify("RELOADING=1");
            if (!ctx.options.config_path) {
                spdlog::warn("SIGHUP: no configuration file (--config / VIGIL_CONFIG) to reload");
            } else {
                try {
                    Config next = load_config_file(*ctx.options.config_path);
                    check_serve_config(next);
                    std::string level = next.log.level;
                    if (ctx.options.log_level)
                        level = *ctx.options.log_level;
                    setup_logging(level);
                    if (next.metrics.listen != config.metrics.listen) {
                        // The new endpoint is bound before the old one goes: a failure keeps the old.
                        auto replacement = std::make_unique<MetricsServer>(render, ready);
                        mount_console(*replacement);
                        replacement->start(next.metrics.listen);
                        http->stop();
                        http = std::move(replacement);
                    }
                    Context next_ctx{ctx.options, next};
                    queries.set_slow_threshold(next.metrics.slow_query_threshold.count());
                    poller.reconfigure(pool::Settings::from_config(next.pool, next_ctx.dsn()),
                                       next.health.interval, next.backup.directory,
                                       PollLimits::from_config(next.metrics));
                    verifier.configure(next_ctx.dsn(), next.backup);
                    config = next;
                    ++reloads_ok;
                    spdlog::info("configuration reloaded from {}", *ctx.options.config_path);
                } catch (const std::exception &e) {
                    ++reloads_failed;
                    spdlog::error("configuration reload failed, keeping the old configuration: {}", e.what());
                }
            }
            notify("READY=1\nSTATUS=serving metrics on " + config.metrics.listen);
            continue;
        }
        spdlog::info("{}: draining (deadline {}s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                     drain_timeout.count());
        notify("STOPPING=1");
        break;
    }
    // Drain: no new scrapes, let running work finish up to the deadline, close the pool.
    const auto drain_start = std::chrono::steady_clock::now();
    http->stop();
    verifier.stop(drain_timeout);
    const Seconds left = drain_timeout - (std::chrono::steady_clock::now() - drain_start);
    poller.stop(left.count() > 0 ? left : Seconds(0));
    spdlog::info("stopped cleanly in {:.2f}s",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count());
    return exit_code::ok;
}

} // namespace

void register_serve_command(CommandRegistry &registry) {
    auto drain = std::make_shared<std::optional<Seconds>>();
    CLI::App *cmd =
        registry.add("serve", "Run the service: /metrics, health polling, periodic backup verification",
                     [drain](Context &ctx) { return serve(ctx, drain->value_or(Seconds(30))); });
    add_duration_flag(cmd, "--drain-timeout", *drain,
                      "On SIGTERM, how long running work may take to finish (default 30s)");
}

} // namespace vigil
