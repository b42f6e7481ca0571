// pool.hpp — vigild's connection pool: a fixed upper bound of PostgreSQL connections shared by
// many threads, with the knobs users know from HikariCP / pgxpool (max_size, min_idle,
// acquire_timeout, idle_timeout, max_lifetime with jitter, validation_interval, statement_timeout,
// leak_detection_threshold, application_name), first-come first-served waiters, dirty connections
// rolled back or discarded on return, jittered backoff on failed connects, a per-connection
// prepared-statement cache, and statistics (pool_stats.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "config.hpp"
#include "db.hpp"
#include "pool/stats.hpp"

namespace vigil::pool {

using Clock = std::chrono::steady_clock;

// Everything the pool is told; from_config() maps the [pool] section onto it.
struct Settings {
    std::string dsn;
    int max_size = 10;
    int min_idle = 0;
    Seconds acquire_timeout{30};
    Seconds idle_timeout{600};
    Seconds max_lifetime{1800}; // 0: connections never expire
    Seconds validation_interval{30};
    Seconds statement_timeout{0};
    Seconds leak_detection_threshold{0}; // 0: off
    std::string application_name = "vigild";
    bool named_statements = true;
    double lifetime_jitter = 0.1; // each connection lives up to this fraction less than max_lifetime
    std::chrono::milliseconds housekeeping_interval{250};
    std::chrono::milliseconds connect_backoff_base{20};
    std::chrono::milliseconds connect_backoff_cap{2000};

    static Settings from_config(const PoolConfig &config, const std::string &dsn);
};

// A statement the cache can prepare: a stable name and its SQL with $n parameters.
struct Statement {
    std::string name;
    std::string sql;
};

// What the pool needs to know about one connection. PgSession is the real one; unit tests of the
// pool's logic supply their own.
class Session {
  public:
    enum class State { idle, in_transaction, busy, broken };
    virtual ~Session() = default;
    virtual State state() = 0;  // without a round trip
    virtual bool rollback() = 0; // true when the session is idle afterwards
    virtual bool ping() = 0;     // a round trip: true when the server answered
};

// A libpq connection with its prepared-statement cache.
class PgSession : public Session {
  public:
    PgSession(db::Connection connection, bool named_statements)
        : conn(std::move(connection)), named_statements_(named_statements) {}
    State state() override;
    bool rollback() override;
    bool ping() override;

    // Runs a statement: prepared once per connection under its name (re-prepared if the server
    // forgot it), or unnamed every time when named statements are off (PgBouncer transaction mode).
    db::Result run(const Statement &statement, const db::Params &params);
    // The same with text parameters as C strings, copied nowhere: for hot loops.
    db::Result run(const Statement &statement, const char *const *values, int count);
    // Prepares the statement on this connection unless it already is; false in no-named mode.
    bool ensure_prepared(const Statement &statement);
    bool named_statements() const noexcept { return named_statements_; }
    std::size_t prepared_count() const noexcept { return prepared_.size(); }

    db::Connection conn;

  private:
    // The result of the statement just sent, as PQexec would give it.
    db::Result await_result();

    bool named_statements_;
    std::unordered_set<std::string> prepared_;
};

// Opens one session or throws db::DbError.
using Connector = std::function<std::unique_ptr<Session>()>;

// The libpq connector: application_name and statement_timeout applied to every connection.
Connector pg_connector(const Settings &settings);

// Acquire gave up: no connection within acquire_timeout. The message carries the statistics.
class PoolTimeout : public db::DbError {
  public:
    PoolTimeout(const std::string &message, const PoolStats &stats)
        : db::DbError(message, "08001"), stats_(stats) {}
    const PoolStats &stats() const noexcept { return stats_; }

  private:
    PoolStats stats_;
};

// One line describing a statistics snapshot, for error messages and logs.
std::string describe(const PoolStats &stats);

namespace detail {
struct Core;
struct Slot;
} // namespace detail

// A borrowed connection; returned to the pool when destroyed or released.
class Lease {
  public:
    Lease();
    Lease(Lease &&other) noexcept;
    Lease &operator=(Lease &&other) noexcept;
    Lease(const Lease &) = delete;
    Lease &operator=(const Lease &) = delete;
    ~Lease();

    explicit operator bool() const noexcept { return slot_ != nullptr; }
    Session &session();
    PgSession &pg();              // throws std::logic_error for a non-libpq session
    db::Connection &conn() { return pg().conn; }
    db::Result run(const Statement &statement, const db::Params &params) { return pg().run(statement, params); }

    void mark_broken() noexcept { broken_ = true; } // close it on return instead of reusing it
    void release();                                 // return it now
    std::uint64_t id() const;
    Clock::time_point expires_at() const; // the jittered end of the connection's life

  private:
    friend class Pool;
    friend struct detail::Core;
    Lease(std::shared_ptr<detail::Core> core, std::unique_ptr<detail::Slot> slot);
    std::shared_ptr<detail::Core> core_;
    std::unique_ptr<detail::Slot> slot_;
    bool broken_ = false;
};

// The pool. Thread-safe; leases may outlive the Pool object (they then close on return).
class Pool {
  public:
    explicit Pool(Settings settings, Connector connector = {});
    ~Pool();
    Pool(const Pool &) = delete;
    Pool &operator=(const Pool &) = delete;

    // Borrows a connection, waiting first-come first-served up to acquire_timeout (or `timeout`).
    // `borrower` names the caller in leak warnings. `prefer` is the Lease::id() of the connection
    // this borrower had last: when it is idle (and nobody waits) it is the one handed out, so a
    // client keeps its server backend as it would with a connection of its own (HikariCP's
    // thread affinity, made explicit). Throws PoolTimeout.
    Lease acquire(const std::string &borrower = "", std::optional<Seconds> timeout = std::nullopt,
                  std::uint64_t prefer = 0);
    PoolStats stats() const;
    const Settings &settings() const noexcept;

    // Where leak warnings go (default: spdlog warn). Set before use.
    void set_leak_handler(std::function<void(const std::string &)> handler);

  private:
    std::shared_ptr<detail::Core> core_;
};

// Reads to replicas whose measured lag is under max_replica_lag, everything else to the primary.
class RoutedPool {
  public:
    // Measures one replica's lag in seconds; nullopt when unknown (unreachable, not a standby).
    using LagProbe = std::function<std::optional<double>(Pool &replica)>;

    RoutedPool(Settings primary, std::vector<Settings> replicas, Seconds max_replica_lag,
               Connector primary_connector = {}, std::vector<Connector> replica_connectors = {},
               LagProbe probe = {}, std::chrono::milliseconds probe_interval = std::chrono::seconds(1));
    ~RoutedPool();

    // `prefer`: as for Pool::acquire (a connection of the primary's pool).
    Lease acquire_write(const std::string &borrower = "", std::uint64_t prefer = 0);
    // A replica under the lag limit (round robin), else the primary (`prefer` applies there).
    Lease acquire_read(const std::string &borrower = "", std::uint64_t prefer = 0);
    // Measures every replica now (the background prober does this each probe_interval).
    void probe_now();
    std::vector<std::optional<double>> replica_lags() const;
    Pool &primary() { return *primary_; }

  private:
    struct State;
    std::unique_ptr<Pool> primary_;
    std::vector<std::unique_ptr<Pool>> replicas_;
    std::unique_ptr<State> state_;
};

// The standard probe: on the replica, seconds since the last replayed commit (0 when replay has
// caught up with what was received); nullopt on a primary or on error.
std::optional<double> measure_replica_lag(Pool &replica);

} // namespace vigil::pool
