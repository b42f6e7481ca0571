// db_wait.hpp — statements with a deadline on the client's side. A server that does not answer
// at all (its processes stopped, a network that drops packets) is bounded by no server-side
// timeout, and the kernel keeps accepting what is sent to it: only the client can give up. When
// it does, the connection is closed, since its protocol state is unknown.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "db.hpp"

namespace vigil::db {

using WaitClock = std::chrono::steady_clock;

// The server gave no answer before the deadline (or the wait was abandoned): the connection was
// closed. SQLSTATE 08006, a lost connection, so callers that retry on one retry on this too.
class NoAnswer : public DbError {
  public:
    explicit NoAnswer(const std::string &message) : DbError(message, "08006") {}
};

// Sends `sql` (one or more statements, as PQexec takes them) and waits for the result until
// `deadline`, or until `*abandon` becomes true (checked every 100 ms). Returns what PQexec would
// (the last result, or the first error; a null result when the connection failed); throws
// NoAnswer after closing the connection when the wait ends first.
Result run_until(Connection &conn, const std::string &sql, WaitClock::time_point deadline,
                 const std::atomic<bool> *abandon = nullptr);

// The result of the statement just sent (PQsendQuery, PQsendQueryPrepared, ...), waited for as
// run_until waits; WaitClock::time_point::max() waits as long as the server takes.
Result await_until(Connection &conn, WaitClock::time_point deadline,
                   const std::atomic<bool> *abandon = nullptr);

// run_until, then db::check: throws DbError unless the statement succeeded.
Result exec_until(Connection &conn, const std::string &sql, WaitClock::time_point deadline,
                  const std::atomic<bool> *abandon = nullptr);

// One round trip for many statements: libpq's pipeline mode. Each statement is sent with the
// extended protocol (so one statement, without parameters); a sync point ends a group: an error
// skips the rest of its group (PGRES_PIPELINE_ABORTED), and the groups after it run. The server
// answers a group at its sync point, so a group's results arrive together, when it is done.
struct PipelineStep {
    std::string sql; // empty: a sync point
    static PipelineStep sync() { return {}; }
};

// What one statement of a pipeline gave, and when it arrived.
struct PipelineResult {
    Result result; // null when the connection failed before it came
    WaitClock::time_point arrived;
};

// Sends `steps` (the last of which must be a sync point) at once and reads every result; a
// group's results must come within `group_wait` of the previous group's (the first group's
// within `first_group_wait` of the send, when it is not zero: a group that does no work bounds
// how long a silent server is waited for), or the connection is closed and NoAnswer thrown, as
// in run_until; `*abandon` likewise. Returns one entry per statement, in order. The connection
// leaves pipeline mode again, unless it failed.
std::vector<PipelineResult> run_pipeline_until(Connection &conn, const std::vector<PipelineStep> &steps,
                                               WaitClock::duration group_wait,
                                               const std::atomic<bool> *abandon = nullptr,
                                               WaitClock::duration first_group_wait = {});

// Closes a connection whose protocol state cannot be trusted any more (a wait given up): its
// socket is shut down, and libpq marks it bad (Connection::healthy() is false afterwards).
void abandon_connection(Connection &conn) noexcept;

} // namespace vigil::db
