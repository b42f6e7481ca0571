// runner.cpp — the bench runner: client threads, timing, percentiles, progress and reports.
#include "workload/runner.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include <spdlog/spdlog.h>

#include "progress.hpp"

namespace vigil::bench {

using Clock = std::chrono::steady_clock;

void OpSamples::merge(const OpSamples &other) {
    ms.insert(ms.end(), other.ms.begin(), other.ms.end());
    for (const auto &[state, n] : other.errors)
        errors[state] += n;
    retries += other.retries;
}

Summary summarize(OpSamples &samples, double seconds) {
    Summary s;
    s.count = samples.ms.size();
    s.errors = samples.errors;
    s.retries = samples.retries;
    s.ops_per_sec = seconds > 0 ? static_cast<double>(s.count) / seconds : 0;
    if (samples.ms.empty())
        return s;
    std::sort(samples.ms.begin(), samples.ms.end());
    auto rank = [&](double q) {
        const auto n = samples.ms.size();
        std::size_t i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
        return static_cast<double>(samples.ms[std::min(n - 1, i == 0 ? 0 : i - 1)]);
    };
    s.p50_ms = rank(0.50);
    s.p95_ms = rank(0.95);
    s.p99_ms = rank(0.99);
    s.p999_ms = rank(0.999);
    s.max_ms = samples.ms.back();
    return s;
}

nlohmann::json Summary::to_json() const {
    auto round3 = [](double v) { return std::round(v * 1000.0) / 1000.0; };
    return {{"count", count},           {"ops_per_sec", round3(ops_per_sec)},
            {"p50_ms", round3(p50_ms)}, {"p95_ms", round3(p95_ms)},
            {"p99_ms", round3(p99_ms)}, {"p999_ms", round3(p999_ms)},
            {"max_ms", round3(max_ms)}, {"errors", errors},
            {"retries", retries}};
}

// ---- Worker ------------------------------------------------------------------------------------

Worker::Worker(int id, Runner &runner)
    : id_(id), runner_(runner), rng_(std::random_device{}() ^ (static_cast<std::uint64_t>(id) << 32)),
      borrower_("bench client " + std::to_string(id)) {}

Handle Worker::connect(Access access) {
    Handle h = runner_.connect(borrower_, access, last_connection_);
    last_connection_ = h.id();
    return h;
}

void Worker::record_error(const std::string &name, const std::string &sqlstate, int retries) {
    if (sqlstate == "42P05" || sqlstate == "26000")
        runner_.statements_not_ours(sqlstate);
    auto &s = samples[name];
    ++s.errors[sqlstate.empty() ? "08006" : sqlstate];
    s.retries += static_cast<std::uint64_t>(retries);
}

// ---- Runner ------------------------------------------------------------------------------------

Runner::Runner(Options options, pool::Settings settings)
    : options_(std::move(options)), settings_(std::move(settings)) {}

void Runner::statements_not_ours(const std::string &sqlstate) {
    // The bench prepares a statement only on a connection whose cache lacks it and re-prepares
    // one the server forgot (session.cpp), so either error means another client's server
    // session: only a run with named statements can meet them.
    if (!settings_.named_statements)
        return;
    std::call_once(shared_sessions_seen_, [&] {
        shared_sessions_reason_ =
            sqlstate == "42P05"
                ? "a prepared statement already existed (42P05) on a connection that had not prepared it"
                : "a prepared statement was gone (26000) from the connection that had prepared it";
    });
    shared_sessions_ = true;
}

Seconds duration_grace(const pool::Settings &settings) {
    return std::min(Seconds(2), std::max(Seconds(0), settings.acquire_timeout));
}

Handle Runner::connect(const std::string &borrower, Access access, std::uint64_t prefer) {
    // Nobody waits for a connection past the end of the run's grace, whatever acquire_timeout says.
    const auto now = Clock::now();
    Seconds timeout = settings_.acquire_timeout;
    if (stop_by_ != Clock::time_point::max())
        timeout = std::clamp(Seconds(stop_by_ - now), Seconds(0), timeout);
    if (pool_)
        return Handle(access == Access::read ? pool_->acquire_read(borrower, prefer, timeout)
                                             : pool_->acquire_write(borrower, prefer, timeout));
    // --no-pool: what an application without a pool pays on every request.
    return Handle(connect_own(now + std::chrono::duration_cast<Clock::duration>(timeout)));
}

std::unique_ptr<pool::PgSession> Runner::connect_own(Clock::time_point give_up) {
    // One attempt per call (Worker::op retries), but in turn with the other clients while the
    // server refuses: no client may retry in a tight loop against a full or restarting server.
    const auto turn = own_connects_->begin(give_up);
    if (turn == retry::ConnectThrottle::Turn::refused) {
        const auto [sqlstate, message] = own_connects_->last_failure();
        throw pool::PoolTimeout("cannot connect within acquire_timeout: " + message, PoolStats{},
                                retry::is_too_many_connections(sqlstate) ? sqlstate : "08001");
    }
    try {
        auto session = pool::pg_connector(settings_)();
        own_connects_->end(turn, true);
        return std::unique_ptr<pool::PgSession>(static_cast<pool::PgSession *>(session.release()));
    } catch (const db::DbError &e) {
        own_connects_->end(turn, false, e.sqlstate(), e.what());
        throw;
    } catch (...) {
        own_connects_->end(turn, false);
        throw;
    }
}

Report Runner::run() {
    auto workload = make_workload(options_.workload, options_);
    {
        db::Connection setup = db::Connection::open(settings_.dsn, settings_.application_name);
        workload->prepare(setup);
    }
    Report report = run_once(*workload);
    if (shared_sessions_ && settings_.named_statements) {
        // Statements prepared by one client showed up on another's connection (42P05), or
        // vanished from the one that prepared them (26000): a pooler in between hands each
        // transaction to any server connection (PgBouncer in transaction mode). Named
        // statements cannot work there, so the run starts again without them.
        spdlog::warn("{}: the server connections are shared between clients (PgBouncer in "
                     "transaction or statement mode?); running again with unnamed statements "
                     "(set pool.named_statements = false or pass --no-named-statements to start "
                     "that way)",
                     shared_sessions_reason_);
        settings_.named_statements = false;
        shared_sessions_ = false;
        report = run_once(*workload);
    }
    return report;
}

Report Runner::run_once(Workload &workload_ref) {
    Workload *workload = &workload_ref;
    done_ = 0;
    deadline_ = stop_by_ = Clock::time_point::max();
    if (!options_.no_pool) {
        pool::Settings s = settings_;
        s.min_idle = std::min(s.max_size, options_.clients); // warm: do not time connection set-up
        std::vector<pool::Settings> replicas;
        for (const auto &dsn : options_.replicas) {
            pool::Settings r = s;
            r.dsn = dsn;
            replicas.push_back(r);
        }
        pool_ = std::make_unique<pool::RoutedPool>(s, replicas, options_.max_replica_lag);
        for (int i = 0; i < 100 && pool_->primary().stats().idle < s.min_idle; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
        settings_.named_statements = false; // a statement prepared on a throwaway connection is wasted
        own_connects_ = settings_.connect_throttle();
    }

    const auto start = Clock::now();
    if (options_.duration) {
        deadline_ = start + std::chrono::duration_cast<Clock::duration>(Seconds(*options_.duration));
        stop_by_ = deadline_ + std::chrono::duration_cast<Clock::duration>(duration_grace(settings_));
    }
    const auto deadline = deadline_;
    remaining_ = options_.transactions ? *options_.transactions : -1;
    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < options_.clients; ++i)
        workers.push_back(std::make_unique<Worker>(i + 1, *this));
    std::vector<std::thread> threads;
    // --threads: the clients share the threads, as pgbench -j does. `take` hands out the
    // operations the duration and --transactions budget still allow.
    const std::function<int(int)> take = [&](int want) -> int {
        if (stop.load(std::memory_order_relaxed) || Clock::now() >= deadline ||
            shared_sessions_.load(std::memory_order_relaxed))
            return 0;
        int grant = want;
        if (options_.transactions) {
            const long long before = remaining_.fetch_sub(grant);
            if (before <= 0)
                return 0;
            grant = static_cast<int>(std::min<long long>(grant, before));
        }
        done_.fetch_add(grant, std::memory_order_relaxed);
        return grant;
    };
    if (options_.threads > 0 && options_.threads < options_.clients && workload->multiplexes()) {
        for (int t = 0; t < options_.threads; ++t) {
            std::vector<Worker *> mine;
            for (int i = t; i < options_.clients; i += options_.threads)
                mine.push_back(workers[static_cast<std::size_t>(i)].get());
            threads.emplace_back([&, mine] {
                try {
                    workload->run_clients(mine, take);
                } catch (const std::exception &e) {
                    spdlog::error("bench thread {}: {}", mine.front()->id(), e.what());
                    mine.front()->record_error("internal", "XX000", 0);
                }
            });
        }
    } else {
        const double interval =
            options_.rate > 0 ? options_.clients / options_.rate : 0; // seconds per op per client
        for (auto &w : workers) {
            // interval by value: it goes out of scope before the threads are joined.
            threads.emplace_back([&, worker = w.get(), interval] {
                auto next = Clock::now();
                const int want = std::max(1, options_.pipeline);
                for (int grant; (grant = take(want)) > 0;) {
                    if (interval > 0) {
                        std::this_thread::sleep_until(next);
                        next += std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(interval));
                    }
                    int n = grant;
                    try {
                        n = workload->step(*worker, grant);
                    } catch (const std::exception &e) {
                        // A bug or an unexpected answer must not take the whole run down with it.
                        spdlog::error("bench client {}: {}", worker->id(), e.what());
                        worker->record_error("internal", "XX000", 0);
                    }
                    if (n < grant) { // fewer than granted: the rest goes back to the budget
                        if (options_.transactions)
                            remaining_.fetch_add(grant - n);
                        done_.fetch_sub(grant - n, std::memory_order_relaxed);
                    }
                }
            });
        }
    }

    // A progress line each second, on a terminal only.
    ProgressLine line(std::chrono::seconds(1));
    std::thread progress;
    std::atomic<bool> finished{false};
    if (line.active()) {
        progress = std::thread([&] {
            long long last = 0;
            while (!finished) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                if (!line.due())
                    continue;
                const long long now_done = done_.load();
                std::string pool_part;
                if (pool_) {
                    const auto st = pool_->primary().stats();
                    pool_part = ", pool " + std::to_string(st.active) + " active / " +
                                std::to_string(st.total) + " open, " + std::to_string(st.pending) +
                                " waiting";
                }
                line.update(ProgressLine::format("%6.0fs  %lld ops  %lld ops/s%s",
                                                 std::chrono::duration<double>(Clock::now() - start).count(),
                                                 now_done, now_done - last, pool_part.c_str()));
                last = now_done;
            }
        });
    }
    for (auto &t : threads)
        t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    finished = true;
    if (progress.joinable())
        progress.join();
    line.clear();

    Report report;
    report.options = options_;
    report.seconds = seconds;
    report.named_statements = settings_.named_statements;
    std::map<std::string, OpSamples> per_op;
    OpSamples all;
    for (auto &w : workers)
        for (auto &[name, s] : w->samples) {
            per_op[name].merge(s);
            all.merge(s);
        }
    for (auto &[name, s] : per_op)
        report.operations[name] = summarize(s, seconds);
    report.overall = summarize(all, seconds);
    if (pool_)
        report.pool = pool_->primary().stats();
    pool_.reset();
    if (workload->checks_invariant() && !(shared_sessions_ && settings_.named_statements)) {
        try {
            db::Connection check = db::Connection::open(settings_.dsn, settings_.application_name);
            report.invariant = workload->finish(check);
            if (report.invariant.is_object() && report.invariant.contains("ok"))
                report.invariant_ok = report.invariant["ok"].get<bool>();
        } catch (const db::DbError &e) {
            // The server went away: the run is still reported, with the invariant unknown.
            report.invariant_error = e;
            report.invariant = {{"ok", nullptr}, {"message", std::string("not checked: ") + e.what()}};
        }
    }
    return report;
}

// ---- reports -----------------------------------------------------------------------------------

nlohmann::json Report::to_json() const {
    nlohmann::json ops = nlohmann::json::object();
    for (const auto &[name, s] : operations)
        ops[name] = s.to_json();
    nlohmann::json pool_json = nullptr;
    if (pool)
        pool_json = {
            {"max_size", pool->max_size},
            {"total", pool->total},
            {"idle", pool->idle},
            {"active", pool->active},
            {"pending", pool->pending},
            {"created", pool->created},
            {"closed", pool->closed},
            {"timeouts", pool->timeouts},
            {"errors", pool->errors},
            {"acquires", pool->acquires},
            {"acquire_mean_ms", pool->acquires ? pool->acquire_seconds_sum * 1000.0 / pool->acquires : 0.0}};
    return {{"workload", options.workload},
            {"clients", options.clients},
            {"pipeline", options.pipeline},
            {"table", options.table},
            {"threads", options.threads},
            {"pooled", !options.no_pool},
            {"named_statements", named_statements},
            {"seconds", std::round(seconds * 1000.0) / 1000.0},
            {"overall", overall.to_json()},
            {"operations", ops},
            {"pool", pool_json},
            {"invariant", invariant}};
}

namespace {

std::string errors_text(const std::map<std::string, std::uint64_t> &errors) {
    std::uint64_t n = 0;
    for (const auto &[state, count] : errors)
        n += count;
    return std::to_string(n);
}

} // namespace

std::string Report::to_table() const {
    std::ostringstream out;
    out << "workload " << options.workload << ": " << options.clients << " clients, "
        << (options.no_pool ? "no pool (a new connection per operation)" : "pooled")
        << (options.pipeline > 1 ? ", pipeline " + std::to_string(options.pipeline) : "")
        << (named_statements || options.no_pool ? "" : ", unnamed statements")
        << (options.table != "users" ? ", table " + options.table : "")
        << (options.threads > 0 && options.threads < options.clients
                ? ", " + std::to_string(options.threads) + " threads"
                : "")
        << ", " << std::fixed << std::setprecision(1) << seconds << " s\n\n";
    out << std::left << std::setw(14) << "operation" << std::right << std::setw(10) << "count"
        << std::setw(11) << "ops/s" << std::setw(9) << "p50 ms" << std::setw(9) << "p95 ms" << std::setw(9)
        << "p99 ms" << std::setw(10) << "p99.9 ms" << std::setw(9) << "max ms" << std::setw(8) << "errors"
        << std::setw(9) << "retries" << '\n';
    auto row = [&](const std::string &name, const Summary &s) {
        out << std::left << std::setw(14) << name << std::right << std::setw(10) << s.count << std::setw(11)
            << std::setprecision(1) << s.ops_per_sec << std::setprecision(2) << std::setw(9) << s.p50_ms
            << std::setw(9) << s.p95_ms << std::setw(9) << s.p99_ms << std::setw(10) << s.p999_ms
            << std::setw(9) << s.max_ms << std::setw(8) << errors_text(s.errors) << std::setw(9) << s.retries
            << '\n';
    };
    for (const auto &[name, s] : operations)
        row(name, s);
    row("overall", overall);
    if (!overall.errors.empty()) {
        out << "\nerrors by SQLSTATE:";
        for (const auto &[state, n] : overall.errors)
            out << ' ' << state << '=' << n;
        out << '\n';
    }
    if (pool)
        out << '\n'
            << pool::describe(*pool) << ", acquires " << pool->acquires << ", mean acquire "
            << std::setprecision(3)
            << (pool->acquires ? pool->acquire_seconds_sum * 1000.0 / pool->acquires : 0.0) << " ms\n";
    if (invariant.is_object()) {
        out << "\ninvariant: "
            << (invariant_error ? "unknown"
                : invariant_ok  ? "ok"
                                : "VIOLATED")
            << " — " << invariant.value("message", "") << '\n';
    }
    return out.str();
}

} // namespace vigil::bench
