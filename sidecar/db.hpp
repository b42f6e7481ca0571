// db.hpp — RAII ownership of libpq handles: connections and results never leak.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <libpq-fe.h>

namespace vigil::db {

// An error from the server or from libpq; sqlstate is empty when libpq gave none.
class DbError : public std::runtime_error {
  public:
    DbError(const std::string &message, std::string sqlstate)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
    const std::string &sqlstate() const noexcept { return sqlstate_; }

  private:
    std::string sqlstate_;
};

struct ResultDeleter {
    void operator()(PGresult *r) const noexcept { PQclear(r); }
};
struct ConnDeleter {
    void operator()(PGconn *c) const noexcept { PQfinish(c); }
};

// An owned PGresult.
class Result {
  public:
    Result() = default;
    explicit Result(PGresult *r) : res_(r) {}

    PGresult *get() const noexcept { return res_.get(); }
    explicit operator bool() const noexcept { return res_ != nullptr; }
    ExecStatusType status() const noexcept { return PQresultStatus(res_.get()); }
    int rows() const noexcept { return PQntuples(res_.get()); }
    int columns() const noexcept { return PQnfields(res_.get()); }
    bool is_null(int row, int col) const noexcept { return PQgetisnull(res_.get(), row, col); }
    std::string value(int row, int col) const { return PQgetvalue(res_.get(), row, col); }
    std::optional<std::string> optional_value(int row, int col) const {
        if (is_null(row, col))
            return std::nullopt;
        return value(row, col);
    }
    std::string sqlstate() const;
    std::string error_message() const;

  private:
    std::unique_ptr<PGresult, ResultDeleter> res_;
};

using Params = std::vector<std::optional<std::string>>;

// An owned PGconn.
class Connection {
  public:
    Connection() = default;
    explicit Connection(PGconn *c) : conn_(c) {}

    // Connects, or throws DbError (SQLSTATE 08006 when libpq gives none). The DSN's own
    // application_name wins over `application_name`.
    static Connection open(const std::string &dsn, const std::string &application_name = "vigild");

    PGconn *get() const noexcept { return conn_.get(); }
    explicit operator bool() const noexcept { return conn_ != nullptr; }
    bool healthy() const noexcept { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

    // Runs a statement; throws DbError unless it succeeded.
    Result exec(const std::string &sql);
    // Runs a statement with bound text parameters ($1, $2, ...); throws DbError on failure.
    Result exec_params(const std::string &sql, const Params &params);
    // Returns the first column of the first row, or throws.
    std::string scalar(const std::string &sql, const Params &params = {});

    int server_version() const noexcept { return PQserverVersion(conn_.get()); }
    std::string error_message() const;

  private:
    std::unique_ptr<PGconn, ConnDeleter> conn_;
};

// Throws DbError for a result that is not COMMAND_OK / TUPLES_OK / COPY_*.
Result check(Result result, const Connection &conn);

// The connection string with any password removed, for logs and messages.
std::string redact_dsn(const std::string &dsn);

} // namespace vigil::db
