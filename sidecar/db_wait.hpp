// db_wait.hpp — statements with a deadline on the client's side. A server that does not answer
// at all (its processes stopped, a network that drops packets) is bounded by no server-side
// timeout, and the kernel keeps accepting what is sent to it: only the client can give up. When
// it does, the connection is closed, since its protocol state is unknown.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

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

// run_until, then db::check: throws DbError unless the statement succeeded.
Result exec_until(Connection &conn, const std::string &sql, WaitClock::time_point deadline,
                  const std::atomic<bool> *abandon = nullptr);

// Closes a connection whose protocol state cannot be trusted any more (a wait given up): its
// socket is shut down, and libpq marks it bad (Connection::healthy() is false afterwards).
void abandon_connection(Connection &conn) noexcept;

} // namespace vigil::db
