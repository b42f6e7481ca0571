// serve.cpp — `vigild serve`: the long-running service. Polls the fleet (fleet/fleet.hpp), serves
// /metrics and /probe, verifies backups periodically; sd_notify readiness, SIGHUP reload (targets
// included), SIGTERM drain.
#include <atomic>
#include <condition_variable>
#include <thread>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <iostream>
#include <mutex>
#include <pthread.h>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "backup/backup.hpp"
#include "commands/cli.hpp"
#include "metrics/daemon_metrics.hpp"
#include "exit_codes.hpp"
#include "console/console.hpp"
#include "console/security.hpp"
#include "fleet/fleet.hpp"
#include "history/recorder.hpp"
#include "history/store.hpp"
#include "metrics/exposition.hpp"
#include "pgbouncer/monitor.hpp"
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
    VerifyStatus status() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return status_;
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

// The [[pgbouncers]] monitors, replaced whole when a reload changes them. A scrape renders
// whichever set is current; a PgBouncer poll is bounded by kPgBouncerTimeout.
class PgBouncers {
  public:
    static constexpr Seconds kPgBouncerTimeout{5};
    void configure(const std::vector<PgBouncerConfig> &targets, Seconds interval) {
        std::shared_ptr<pgbouncer::Monitors> old;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (current_ && targets == targets_ && interval == interval_)
                return;
            auto next = std::make_shared<pgbouncer::Monitors>(targets, interval,
                                                              std::min(kPgBouncerTimeout, interval));
            next->start();
            old = std::move(current_);
            current_ = std::move(next);
            targets_ = targets;
            interval_ = interval;
        }
        if (old)
            old->stop();
    }
    void render(metrics::Exposition &out) const {
        std::shared_ptr<pgbouncer::Monitors> now;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            now = current_;
        }
        if (now)
            now->render_metrics(out);
    }
    void stop() {
        std::shared_ptr<pgbouncer::Monitors> old;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            old = std::move(current_);
        }
        if (old)
            old->stop();
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<pgbouncer::Monitors> current_;
    std::vector<PgBouncerConfig> targets_;
    Seconds interval_{0};
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

// Where serve keeps its state (the history store) when history.path does not say: systemd's
// $STATE_DIRECTORY, else /var/lib/vigil when this process may write there, else .vigil/ here.
std::string state_directory() {
    if (const char *dir = std::getenv("STATE_DIRECTORY"); dir && *dir)
        return std::string(dir).substr(0, std::string(dir).find(':'));
    if (access("/var/lib/vigil", W_OK) == 0)
        return "/var/lib/vigil";
    return ".vigil";
}

// Hands the fleet's snapshot to the history recorder every `interval` (the recorder keeps at
// most one capture per history.interval).
class HistoryFeed {
  public:
    HistoryFeed(fleet::FleetAccess fleet, std::shared_ptr<history::Recorder> recorder, Seconds interval)
        : fleet_(std::move(fleet)), recorder_(std::move(recorder)), interval_(interval),
          thread_([this] { run(); }) {}
    ~HistoryFeed() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    void set_interval(Seconds interval) {
        std::lock_guard<std::mutex> lock(mutex_);
        interval_ = interval;
        wake_.notify_all();
    }

  private:
    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            if (recorder_->wants(now_epoch()))
                recorder_->offer(fleet_.snapshot());
            lock.lock();
            wake_.wait_for(lock, interval_, [this] { return stopping_; });
        }
    }
    fleet::FleetAccess fleet_;
    std::shared_ptr<history::Recorder> recorder_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    Seconds interval_;
    std::thread thread_;
};

// The console's view of the history store.
console::HistoryView history_view(const std::shared_ptr<history::Store> &store) {
    console::HistoryView view;
    const auto points = [](const std::vector<history::Point> &in) {
        std::vector<console::HistoryPoint> out;
        out.reserve(in.size());
        for (const history::Point &p : in)
            out.push_back({p.timestamp, p.value});
        return out;
    };
    view.series = [store, points](const std::string &target, const std::string &database,
                                  const std::string &metric, const std::string &label, double since) {
        // A standby's own replay delay is stored under the standby name "self".
        const std::string stored =
            metric == history::metric::replication_lag_seconds && label.empty() ? "self" : label;
        return points(store->series({target, database, metric, stored}, since, now_epoch(), 500));
    };
    view.statement_mean_seconds = [store](const std::string &target, const std::string &database,
                                          const std::string &queryid, double since) {
        std::vector<console::HistoryPoint> out;
        for (const auto &i :
             store->statement_history(target, database, queryid, since, now_epoch(), 500).intervals)
            if (i.calls > 0)
                out.push_back({i.end, i.mean_time_seconds()});
        return out;
    };
    return view;
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
    fleet::Fleet fleet(queries);
    PgBouncers bouncers;
    BackupVerifier verifier;
    verifier.configure(ctx.dsn(), config.backup);
    std::atomic<int> reloads_ok{0}, reloads_failed{0};

    auto render = [&] {
        DaemonMetricsInput in;
        in.fleet = fleet.snapshot();
        in.queries = queries.snapshot();
        in.verify = verifier.status();
        in.reloads_ok = reloads_ok;
        in.reloads_failed = reloads_failed;
        in.start_time = start_time;
        in.now = now_epoch();
        metrics::Exposition pgbouncer_families;
        bouncers.render(pgbouncer_families);
        return render_daemon_metrics(in) + pgbouncer_families.str();
    };
    auto ready = [&] { return fleet.ready(); };
    auto probe = [&](const std::string &target) -> std::optional<std::string> {
        const auto snap = fleet.snapshot();
        const fleet::TargetState *t = snap->find(target);
        if (!t)
            return std::nullopt;
        return render_target_metrics(*t);
    };
    // History: a store that cannot be opened logs one line and the rest goes on without it.
    auto store = std::make_shared<history::Store>(history::store_path(config.history, state_directory()),
                                                  config.history);
    auto recorder = std::make_shared<history::Recorder>(store, config.history.interval);
    std::optional<HistoryFeed> history_feed;
    history_feed.emplace(fleet.access(), recorder, std::min(config.health.interval, config.history.interval));

    std::unique_ptr<console::Console> web_console;
    if (config.web.console) {
        console::ServeHooks hooks;
        hooks.verify_status = [&] { return verifier.status(); };
        hooks.verify_now = [&] { return verifier.run_now(); };
        hooks.pool_size = [&] { return config.pool.max_size; };
        try {
            web_console = std::make_unique<console::Console>(fleet.access(), history_view(store), hooks,
                                                             console::ConsoleOptions{config.web});
        } catch (const std::exception &e) {
            throw ConfigError(e.what());
        }
    }
    // The one place the endpoint is made (at start and when a reload moves it), with the
    // console's routes.
    auto make_http = [&] {
        auto h = std::make_unique<MetricsServer>(render, ready, probe);
        if (web_console)
            h->add_routes([&](httplib::Server &server) { web_console->mount(server); });
        return h;
    };
    auto http = make_http();
    try {
        http->start(config.metrics.listen);
    } catch (const std::exception &e) {
        throw CommandError(exit_code::unavailable, e.what());
    }
    fleet.configure(fleet::FleetSettings::from_config(config, ctx.dsn()));
    bouncers.configure(config.pgbouncers, config.health.interval);
    verifier.start();
    notify("READY=1\nSTATUS=serving metrics on " + config.metrics.listen);
    spdlog::info("vigild serve: ready (pid {}), {} target(s), health every {}s", getpid(),
                 fleet.snapshot()->targets.size(), config.health.interval.count());

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
                        auto replacement = make_http();
                        replacement->start(next.metrics.listen);
                        http->stop();
                        http = std::move(replacement);
                    }
                    Context next_ctx{ctx.options, next};
                    queries.set_slow_threshold(next.metrics.slow_query_threshold.count());
                    fleet.configure(fleet::FleetSettings::from_config(next, next_ctx.dsn()));
                    bouncers.configure(next.pgbouncers, next.health.interval);
                    if (!(next.web == config.web) || next.history.path != config.history.path ||
                        next.history.retention != config.history.retention ||
                        next.history.slow_interval != config.history.slow_interval)
                        spdlog::warn("configuration reload: [web] and history.path / history.retention / "
                                     "history.slow_interval take effect at the next restart");
                    recorder->set_interval(next.history.interval);
                    history_feed->set_interval(std::min(next.health.interval, next.history.interval));
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
    history_feed.reset();
    recorder->stop();
    fleet.stop(left.count() > 0 ? left : Seconds(0));
    bouncers.stop();
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
