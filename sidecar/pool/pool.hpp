// pool.hpp — vigild's connection pool: a fixed upper bound of PostgreSQL connections shared by
// many threads, with the knobs users know from HikariCP / pgxpool (max_size, min_idle,
// acquire_timeout, idle_timeout, max_lifetime with jitter, validation_interval, statement_timeout,
// leak_detection_threshold, application_name), first-come first-served waiters, dirty connections
// rolled back or discarded on return, jittered backoff on failed connects, a per-connection
// prepared-statement cache (session.hpp), and statistics (stats.hpp). Reads routed to replicas:
// routing.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "db.hpp"
#include "pool/session.hpp"
#include "pool/stats.hpp"

namespace vigil::retry {
class ConnectThrottle;
}

namespace vigil::pool {

using Clock = std::chrono::steady_clock;

// Everything the pool is told: the [pool] section as it is (its defaults live in config.hpp
// only), the server, and the pool's own timings that are not configuration.
struct Settings : PoolConfig {
    std::string dsn;
    double lifetime_jitter = 0.1; // each connection lives up to this fraction less than max_lifetime
    std::chrono::milliseconds housekeeping_interval{250};
    std::chrono::milliseconds connect_backoff_base{20};
    std::chrono::milliseconds connect_backoff_cap{2000};
    // While failing over (connects that succeeded before now fail, not for want of a free slot):
    // the delay between probes is 5-10 ms only (half to all of this cap, the base being larger),
    // for 30 s, so the new primary is found within 10 ms of its promotion, as soon as a client
    // that reconnects every 10 ms finds it; one probe at a time per pool meanwhile, so at most
    // one connect per 5 ms (plus the connect's own time).
    std::chrono::milliseconds connect_backoff_failover_cap{10};
    std::chrono::milliseconds connect_backoff_failover_window{30000};
    // Every connection must accept writes: one whose server reports itself read-only is evicted.
    // Pool() sets it when the DSN asks for target_session_attrs=read-write (or primary).
    bool require_writable = false;

    static Settings from_config(const PoolConfig &config, const std::string &dsn);
    // The shared connect backoff these settings describe (retry.hpp).
    std::unique_ptr<retry::ConnectThrottle> connect_throttle() const;
};

// Opens one session or throws db::DbError.
using Connector = std::function<std::unique_ptr<Session>()>;

// The libpq connector: application_name and statement_timeout applied to every connection, and
// libpq's connect_timeout set to the time left until the calling thread's ConnectDeadline (else
// acquire_timeout), so that a server that never answers cannot hold a connect for ever.
Connector pg_connector(const Settings &settings);

// While one lives, connects made on this thread by pg_connector give up at `deadline` (the pool
// sets it around each connect to its acquire's deadline).
class ConnectDeadline {
  public:
    explicit ConnectDeadline(Clock::time_point deadline);
    ~ConnectDeadline();
    ConnectDeadline(const ConnectDeadline &) = delete;
    ConnectDeadline &operator=(const ConnectDeadline &) = delete;

  private:
    std::optional<Clock::time_point> previous_;
};

// Acquire gave up: no connection within acquire_timeout. The message carries the statistics.
// SQLSTATE 08001, or 53300 when the server refused the pool's connects for want of a free slot.
class PoolTimeout : public db::DbError {
  public:
    PoolTimeout(const std::string &message, const PoolStats &stats, std::string sqlstate = "08001")
        : db::DbError(message, std::move(sqlstate)), stats_(stats) {}
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
    PgSession &pg(); // throws std::logic_error for a non-libpq session
    db::Connection &conn() { return pg().conn; }
    db::Result run(const Statement &statement, const db::Params &params) {
        return pg().run(statement, params);
    }

    void mark_broken() noexcept { broken_ = true; } // close it on return instead of reusing it
    // Tells the pool a statement on this lease failed with `sqlstate` (statements run through
    // run() are seen without it). On return, a lost connection (class 08, 57P01-57P03) is closed
    // and its idle siblings on the same server checked before use; a read-only server (25006)
    // has all its connections evicted. Other SQLSTATEs change nothing.
    void failed(const std::string &sqlstate) { failure_ = sqlstate.empty() ? "08006" : sqlstate; }
    std::string server(); // "host:port" of the connection's server
    void release();       // return it now
    std::uint64_t id() const;
    Clock::time_point expires_at() const; // the jittered end of the connection's life
    Clock::time_point opened_at() const;  // when the connection was opened

  private:
    friend class Pool;
    friend struct detail::Core;
    Lease(std::shared_ptr<detail::Core> core, std::unique_ptr<detail::Slot> slot);
    std::shared_ptr<detail::Core> core_;
    std::unique_ptr<detail::Slot> slot_;
    bool broken_ = false;
    std::string failure_;
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

} // namespace vigil::pool
