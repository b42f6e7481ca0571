// retry.hpp — the SQLSTATE retry rules and the backoff schedule, in one place. The pool, the
// workloads and import all ask here whether a failure is worth another attempt.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>

namespace vigil::retry {

// 40001 serialization_failure and 40P01 deadlock_detected: the transaction lost a race and the
// same work will very likely succeed when run again from the start.
bool is_transaction_conflict(const std::string &sqlstate);

// Class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 57P05
// (idle_session_timeout) and an
// empty SQLSTATE from libpq: the connection is gone, retry on a fresh one.
bool is_connection_lost(const std::string &sqlstate);

// 53300 too_many_connections: the server (or the role's or database's connection limit) has no
// free slot. Only a connect fails this way, before anything ran, and it may succeed once another
// client disconnects: worth retrying, with backoff (ConnectThrottle), never in a tight loop.
bool is_too_many_connections(const std::string &sqlstate);

// 25006 read_only_sql_transaction: the server accepts no writes (a primary that came back as a
// standby, default_transaction_read_only on). Its connections are no use to a writer; a new
// connection through a multi-host DSN with target_session_attrs=read-write finds the primary.
bool is_read_only(const std::string &sqlstate);

// Any of the above but is_read_only: running the whole transaction again is safe and useful.
bool is_retryable(const std::string &sqlstate);

// The server cannot be used now (is_connection_lost with a SQLSTATE): what the command line
// reports as "unavailable" (exit 69) rather than as a failure of vigild's own.
bool is_unavailable(const std::string &sqlstate);

// Worth trying again later, though the server is up: no free connection slot (53300) or a
// transaction conflict. The command line reports it as a temporary failure (exit 75).
bool is_temporary(const std::string &sqlstate);

// Exponential backoff with jitter: attempt n waits between half and all of base * 2^n, never more
// than `cap`, so clients that failed together do not come back together.
class Backoff {
  public:
    Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap);
    std::chrono::milliseconds next(); // the delay before the next attempt

  private:
    std::chrono::milliseconds base_, cap_;
    int attempt_ = 0;
};

// ConnectThrottle's short schedule while failing over: the delay's cap and how long it lasts.
struct FailoverBackoff {
    std::chrono::milliseconds cap{0}; // 0: none, always up to ConnectThrottle's cap
    std::chrono::milliseconds window{0};
};

// One backoff shared by everything that connects to one server (a pool's borrowers and its
// housekeeper, bench clients without a pool). While connects succeed anyone may connect. After
// one fails, a single attempt at a time probes the server, each after a jittered delay that
// doubles per failed probe (up to `cap`); the first success opens the way for everyone again.
// Clients refused together (a restart, 53300 no free slot) so cost the server one attempt per
// round instead of one each, and a pool topping itself up cannot hammer a full server.
//
// Failing over: when connects that used to succeed begin to fail with anything but 53300 (the
// primary is gone; the standby is not promoted yet, so a read-write DSN finds no host), the
// delay grows only to `failover_cap`, for `failover_window` after the first failure: the new
// primary is found within a probe interval of its promotion, not up to `cap` later. One probe
// at a time still, so at most one connect per failover_cap / 2 (plus the connect's own time);
// after the window, or for a server that never accepted a connect, or one with no free slot,
// the delay grows to `cap` again. Thread-safe.
class ConnectThrottle {
  public:
    using Clock = std::chrono::steady_clock;
    enum class Turn { refused, free, probe };

    using Failover = FailoverBackoff;

    ConnectThrottle(std::chrono::milliseconds base, std::chrono::milliseconds cap, Failover failover = {});
    // Waits until the caller may try to connect: `free` at once while connects succeed,
    // `probe` when it is this caller's turn to test a failing server, `refused` at `deadline`
    // when its turn has not come by then.
    Turn begin(Clock::time_point deadline);
    // Reports the attempt begun with `turn`; a failure with its SQLSTATE and message.
    void end(Turn turn, bool connected, const std::string &sqlstate = "", const std::string &message = "");
    // When the next probe may start (the past while connects succeed).
    Clock::time_point not_before() const;
    // The last failed attempt's SQLSTATE and message (empty when none failed since a success).
    std::pair<std::string, std::string> last_failure() const;

  private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::chrono::milliseconds base_, cap_;
    Failover failover_;
    Backoff backoff_, failover_backoff_;
    bool failing_ = false, probing_ = false;
    bool connected_before_ = false; // a connect succeeded once: failures since are a failover
    Clock::time_point failing_since_{};
    Clock::time_point not_before_{};
    std::pair<std::string, std::string> last_failure_;
};

} // namespace vigil::retry
