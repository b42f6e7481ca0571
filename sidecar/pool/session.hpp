// session.hpp — one pooled connection as the pool sees it (Session), and the libpq one
// (PgSession): its state without a round trip, rollback, ping, and a prepared-statement cache.
#pragma once

#include <chrono>
#include <memory>
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
    // The server this connection reached ("host:port"); connections with the same one share a
    // fate on failover (pool.cpp's generations). Empty: unknown, all one server.
    virtual std::string server() { return {}; }
    // The server said, without a round trip, that it accepts no writes now (a hot standby, or
    // default_transaction_read_only on).
    virtual bool read_only() { return false; }
    // The SQLSTATE of the last statement run through the session that failed ("" after a success).
    virtual std::string last_failure() { return {}; }
};

// A libpq connection with its prepared-statement cache.
class PgSession : public Session {
  public:
    // `round_trip_timeout` bounds ping() and rollback() (pool.validation_timeout; 0: no bound).
    PgSession(db::Connection connection, bool named_statements,
              std::chrono::duration<double> round_trip_timeout = std::chrono::seconds(5));
    State state() override;
    bool rollback() override;
    bool ping() override;
    bool ping_until(std::chrono::steady_clock::time_point deadline) override;
    std::string server() override;
    bool read_only() override;
    std::string last_failure() override { return last_failure_; }

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
    db::Result run_once(const Statement &statement, const char *const *values, int count);
    // The result of the statement just sent, as PQexec would give it.
    db::Result await_result();

    // now + round_trip_timeout_, or `cap` when sooner (or when there is no timeout).
    std::chrono::steady_clock::time_point round_trip_deadline(
        std::chrono::steady_clock::time_point cap = std::chrono::steady_clock::time_point::max()) const;

    // The connection's notice receiver: a FATAL or PANIC the server sent outside a query (a
    // terminated backend, a shutdown) marks the connection gone, before the end of the stream
    // arrives. Other notices go on to the receiver that was there before. On the heap, so that
    // the address libpq holds stays put.
    struct NoticeHook {
        PQnoticeReceiver previous = nullptr; // libpq's own, which ignores its argument
        bool server_gone = false;
    };
    static void on_notice(void *hook, const PGresult *notice);

    std::unique_ptr<NoticeHook> notice_hook_ = std::make_unique<NoticeHook>();
    bool named_statements_;
    std::chrono::duration<double> round_trip_timeout_;
    std::unordered_set<std::string> prepared_;
    std::string last_failure_;
};

} // namespace vigil::pool
