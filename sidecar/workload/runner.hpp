// runner.hpp — `vigild bench`: named workloads run by many clients through the pool, with
// per-operation latency percentiles, errors by SQLSTATE, retries and pool statistics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "db.hpp"
#include "pool/routing.hpp"
#include "retry.hpp"

namespace vigil::bench {

struct Options {
    std::string workload = "read";
    int clients = 8;
    std::optional<double> duration;        // seconds
    std::optional<long long> transactions; // total over all clients
    double rate = 0;                       // operations per second over all clients, 0: as fast as possible
    int pipeline = 1;                      // reads per pipeline batch (libpq pipeline mode) when > 1
    std::string table = "users";           // read: the table read by primary key
    std::vector<std::string> columns;      // read: the columns selected (empty: users' six, or all)
    int threads = 0;                       // 0: a thread per client; fewer: clients share threads (read)
    bool no_pool = false;                  // a new connection for every operation
    std::map<std::string, int> weights;    // mixed: workload -> weight
    int max_retries = 5;
    std::vector<std::string> replicas; // read replicas' DSNs (pool.replicas): reads may go there
    Seconds max_replica_lag{10};
};

// Whether an operation only reads (and may go to a replica) or writes (always the primary).
enum class Access { read, write };

// The latency samples and failures of one operation (or of all of them).
struct OpSamples {
    std::vector<float> ms;                       // successful operations' latencies
    std::map<std::string, std::uint64_t> errors; // failed operations by SQLSTATE
    std::uint64_t retries = 0;
    void merge(const OpSamples &other);
};

// The summary scripts rely on: exactly the documented --json keys per entry.
struct Summary {
    std::uint64_t count = 0;
    double ops_per_sec = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
    std::map<std::string, std::uint64_t> errors;
    std::uint64_t retries = 0;
    nlohmann::json to_json() const;
};

// Percentiles by nearest rank over the samples (sorted in place).
Summary summarize(OpSamples &samples, double seconds);

// A connection for one operation: a pooled lease, or (--no-pool) a connection of its own.
class Handle {
  public:
    explicit Handle(pool::Lease lease) : lease_(std::move(lease)), session_(&lease_.pg()) {}
    explicit Handle(std::unique_ptr<pool::PgSession> own) : own_(std::move(own)), session_(own_.get()) {}
    pool::PgSession &session() { return *session_; }
    std::uint64_t id() const { return lease_.id(); }      // 0 for a connection of its own
    void mark_broken() noexcept { lease_.mark_broken(); } // a pooled connection is closed, not reused

  private:
    pool::Lease lease_;
    std::unique_ptr<pool::PgSession> own_;
    pool::PgSession *session_;
};

class Runner;

// One client thread's view: its random numbers, its samples, and how to get a connection.
class Worker {
  public:
    Worker(int id, Runner &runner);
    // Runs one operation with retries of 40001/40P01 and lost connections (retry.hpp), timing it
    // from the first attempt; `body` gets a session and may be called again from the start.
    template <class Body> void op(const std::string &name, Body body, Access access = Access::write);
    Handle connect(Access access = Access::write);
    std::mt19937_64 &rng() { return rng_; }
    int id() const { return id_; }
    std::map<std::string, OpSamples> samples;
    void record_error(const std::string &name, const std::string &sqlstate, int retries);

  private:
    int id_;
    Runner &runner_;
    std::mt19937_64 rng_;
    std::string borrower_;
    std::uint64_t last_connection_ = 0; // asked for again: each client keeps its backend
};

// A workload: set up once, then `step` repeatedly from many threads, then check itself.
class Workload {
  public:
    virtual ~Workload() = default;
    // Checks the database has what the workload needs (WorkloadError if not) and loads its keys.
    virtual void prepare(db::Connection &conn) = 0;
    // One unit of work of at most `max_ops` operations (a pipeline batch is several); returns
    // how many it performed.
    virtual int step(Worker &worker, int max_ops) = 0;
    // Whether run_clients works: many clients per thread (--threads), as pgbench -j does.
    virtual bool multiplexes() const { return false; }
    // Runs `clients` from the calling thread, each with one operation (or pipeline batch) in
    // flight at a time on a non-blocking connection, starting operations while `take` grants
    // them (it returns how many of the asked number may run, 0 to stop) and finishing the ones
    // in flight.
    virtual void run_clients(const std::vector<Worker *> &clients, const std::function<int(int)> &take) {
        (void)clients;
        (void)take;
    }
    // Whether finish checks an invariant on the database, so the runner must connect for it.
    virtual bool checks_invariant() const { return false; }
    // After the run: an invariant check (transfer) or null. Sets `ok` false when violated.
    virtual nlohmann::json finish(db::Connection &) { return nullptr; }
};

// Why a workload cannot run, thrown before any client starts: by make_workload (a bad name or
// weights) and by Workload::prepare (the database lacks what the workload needs).
class WorkloadError : public std::runtime_error {
  public:
    enum class Kind {
        unknown_workload, // no workload has that name
        weights,          // the mixed workload's weights name an unknown workload or are all zero
        demo_schema,      // the demo schema (users, posts, accounts, transfers) is missing or empty
        table,            // the table to read is missing, has no single-column key, or no rows
        columns,          // a column to read is not in the table
        extension,        // the pgvigil extension, or the function the workload calls, is missing
    };
    WorkloadError(Kind kind, const std::string &message) : std::runtime_error(message), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

  private:
    Kind kind_;
};

// The workload named read, crud, transfer or mixed. Throws WorkloadError.
std::unique_ptr<Workload> make_workload(const std::string &name, const Options &options);

// The result of a run.
struct Report {
    Options options;
    double seconds = 0;
    Summary overall;
    std::map<std::string, Summary> operations;
    std::optional<PoolStats> pool;
    nlohmann::json invariant; // null unless the workload checks one
    bool invariant_ok = true;
    // Why the invariant could not be checked (the server was gone at the end), with its SQLSTATE.
    std::optional<db::DbError> invariant_error;
    // Whether the run used named prepared statements (false with --no-named-statements, with
    // --no-pool, and after the fall-back from a pooler that shares server connections).
    bool named_statements = true;
    nlohmann::json to_json() const;
    std::string to_table() const;
};

// Runs the workload with options.clients threads.
class Runner {
  public:
    Runner(Options options, pool::Settings settings);
    Report run();
    // A connection for `borrower`: pooled (`prefer`: the one it had last), or its own with --no-pool.
    Handle connect(const std::string &borrower, Access access, std::uint64_t prefer);
    const Options &options() const { return options_; }
    // True once --duration has run out: operations end, failures are no longer retried.
    bool over() const { return shared_sessions_ || std::chrono::steady_clock::now() >= deadline_; }
    // A 42P05 or 26000 failed an operation: with named statements on, the run ends and starts
    // again with unnamed statements (one warning says so).
    void statements_not_ours(const std::string &sqlstate);

  private:
    // A connection of its own (--no-pool), through the same backoff a pool uses.
    std::unique_ptr<pool::PgSession> connect_own(std::chrono::steady_clock::time_point give_up);
    // One run of the prepared workload with the current settings.
    Report run_once(Workload &workload);

    Options options_;
    pool::Settings settings_;
    std::unique_ptr<pool::RoutedPool> pool_; // the primary's pool, plus replicas' when configured
    std::unique_ptr<retry::ConnectThrottle> own_connects_; // --no-pool
    std::atomic<bool> shared_sessions_{false};             // statements_not_ours() was called this run
    std::once_flag shared_sessions_seen_;
    std::string shared_sessions_reason_; // set once, before shared_sessions_
    std::atomic<long long> done_{0};
    std::atomic<long long> remaining_{0};
    // The end of --duration, and the end of the grace after it: no client waits for a
    // connection past stop_by_. Both far away for --transactions.
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    std::chrono::steady_clock::time_point stop_by_ = std::chrono::steady_clock::time_point::max();
    friend class Worker;
};

// How long after the end of --duration a client may still wait for a connection: 2 s, or
// acquire_timeout when that is shorter. A duration is a promise.
Seconds duration_grace(const pool::Settings &settings);

template <class Body> void Worker::op(const std::string &name, Body body, Access access) {
    const auto start = std::chrono::steady_clock::now();
    int retries = 0;
    retry::Backoff backoff(std::chrono::milliseconds(2), std::chrono::milliseconds(500));
    for (;;) {
        try {
            Handle h = connect(access);
            body(h.session());
            const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start;
            auto &s = samples[name];
            s.ms.push_back(static_cast<float>(ms.count()));
            s.retries += static_cast<std::uint64_t>(retries);
            return;
        } catch (const pool::PoolTimeout &e) {
            // The acquire already waited acquire_timeout (or up to the end of the run), retrying
            // the connect with backoff: waiting again would only multiply the wait.
            record_error(name, e.sqlstate(), retries);
            return;
        } catch (const db::DbError &e) {
            if (retry::is_retryable(e.sqlstate()) && retries < runner_.options().max_retries &&
                !runner_.over()) {
                ++retries;
                std::this_thread::sleep_for(backoff.next());
                continue;
            }
            record_error(name, e.sqlstate(), retries);
            return;
        }
    }
}

} // namespace vigil::bench
