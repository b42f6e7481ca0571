// sqlite.hpp — RAII ownership of SQLite handles for the history store: a connection and its
// prepared statements never leak, and every failure is a history::sqlite::Error carrying
// SQLite's extended result code.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include <sqlite3.h>

namespace vigil::history::sqlite {

class Error : public std::runtime_error {
  public:
    Error(const std::string &message, int code) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }           // extended result code
    int primary() const noexcept { return code_ & 0xff; } // SQLITE_BUSY, SQLITE_CORRUPT, ...

  private:
    int code_;
};

struct ConnectionCloser {
    void operator()(sqlite3 *db) const noexcept { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
    void operator()(sqlite3_stmt *s) const noexcept { sqlite3_finalize(s); }
};

// A prepared statement; bind() numbers parameters from 1, column() from 0.
class Statement {
  public:
    Statement(sqlite3 *db, const std::string &sql);
    Statement &bind(int index, double value);
    Statement &bind(int index, long long value);
    Statement &bind(int index, const std::string &value);
    // Runs to the next row: true when there is one, false when done.
    bool step();
    // Runs a statement that returns no rows, then resets it for the next use.
    void run();
    void reset();
    double column_double(int column) const { return sqlite3_column_double(stmt_.get(), column); }
    long long column_int(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
    std::string column_text(int column) const;
    bool column_null(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }

  private:
    void check(int rc) const;
    sqlite3 *db_;
    std::unique_ptr<sqlite3_stmt, StatementFinalizer> stmt_;
};

// An open database file.
class Connection {
  public:
    // sqlite3_open_v2 with extended result codes; throws Error.
    Connection(const std::string &path, int flags);
    sqlite3 *get() const noexcept { return db_.get(); }
    void exec(const std::string &sql);
    // The first column of the first row of `sql` as text ("" when no row).
    std::string query_text(const std::string &sql);
    long long query_int(const std::string &sql);

  private:
    std::unique_ptr<sqlite3, ConnectionCloser> db_;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed uncommitted (an exception on the way).
class Transaction {
  public:
    explicit Transaction(Connection &db);
    ~Transaction();
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;
    void commit();

  private:
    Connection &db_;
    bool done_ = false;
};

} // namespace vigil::history::sqlite
