// session.hpp — one pooled connection as the pool sees it (Session), and the libpq one
// (PgSession): its state without a round trip, rollback, ping, and a prepared-statement cache.
#pragma once

#include <chrono>
#include <string>
#include <unordered_set>

#include "db.hpp"

namespace vigil::pool {

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
    virtual State state() = 0;   // without a round trip
    virtual bool rollback() = 0; // true when the session is idle afterwards
    virtual bool ping() = 0;     // a round trip: true when the server answered
    // ping, giving up at `deadline`: a server that does not answer is a broken connection.
    virtual bool ping_until(std::chrono::steady_clock::time_point deadline) {
        (void)deadline;
        return ping();
    }
};

// A libpq connection with its prepared-statement cache.
class PgSession : public Session {
  public:
    // `round_trip_timeout` bounds ping() and rollback() (pool.validation_timeout; 0: no bound).
    PgSession(db::Connection connection, bool named_statements,
              std::chrono::duration<double> round_trip_timeout = std::chrono::seconds(5))
        : conn(std::move(connection)), named_statements_(named_statements),
          round_trip_timeout_(round_trip_timeout) {}
    State state() override;
    bool rollback() override;
    bool ping() override;
    bool ping_until(std::chrono::steady_clock::time_point deadline) override;

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

    // now + round_trip_timeout_, or `cap` when sooner (or when there is no timeout).
    std::chrono::steady_clock::time_point round_trip_deadline(
        std::chrono::steady_clock::time_point cap = std::chrono::steady_clock::time_point::max()) const;

    bool named_statements_;
    std::chrono::duration<double> round_trip_timeout_;
    std::unordered_set<std::string> prepared_;
};

} // namespace vigil::pool
