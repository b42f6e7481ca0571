// db.cpp — libpq wrappers.
#include "db.hpp"

#include "dsn_params.hpp"

namespace vigil::db {

namespace {

std::string trimmed(const char *message) {
    std::string s = message ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

} // namespace

std::string Result::sqlstate() const {
    const char *s = PQresultErrorField(res_.get(), PG_DIAG_SQLSTATE);
    return s ? s : "";
}

std::string Result::error_message() const { return trimmed(PQresultErrorMessage(res_.get())); }

Connection Connection::open(const std::string &dsn, const std::string &application_name) {
    // Refused before any connection attempt: libpq would read a bare word as a database name.
    if (!dsn.empty())
        dsn_settings(dsn);
    const char *keywords[] = {"dbname", "fallback_application_name", nullptr};
    const char *values[] = {dsn.c_str(), application_name.c_str(), nullptr};
    Connection conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
    if (!conn)
        throw DbError("out of memory allocating a libpq connection", "53200");
    if (PQstatus(conn.get()) != CONNECTION_OK) {
        const std::string message = conn.error_message();
        if (is_connection_option_error(message))
            throw InvalidDsn("invalid connection string " + redact_dsn(dsn) + ": " + message);
        throw DbError("cannot connect to " + redact_dsn(dsn) + ": " + message, "08006");
    }
    return conn;
}

std::string Connection::error_message() const { return trimmed(PQerrorMessage(conn_.get())); }

Result check(Result result, const Connection &conn) {
    if (!result)
        throw DbError(conn.error_message(), "08006");
    switch (result.status()) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_SINGLE_TUPLE:
    case PGRES_PIPELINE_SYNC:
        return result;
    default: {
        std::string state = result.sqlstate();
        throw DbError(result.error_message(), state.empty() ? "08006" : state);
    }
    }
}

Result Connection::exec(const std::string &sql) { return check(Result(PQexec(get(), sql.c_str())), *this); }

Result Connection::exec_params(const std::string &sql, const Params &params) {
    std::vector<const char *> values;
    values.reserve(params.size());
    for (const auto &p : params)
        values.push_back(p ? p->c_str() : nullptr);
    return check(Result(PQexecParams(get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                     values.data(), nullptr, nullptr, 0)),
                 *this);
}

std::string Connection::scalar(const std::string &sql, const Params &params) {
    Result r = exec_params(sql, params);
    if (r.rows() < 1 || r.columns() < 1)
        throw DbError("query returned no value: " + sql, "02000");
    return r.value(0, 0);
}

std::string redact_dsn(const std::string &dsn) {
    if (dsn.empty())
        return "(libpq defaults)";
    std::vector<std::pair<std::string, std::string>> params;
    try {
        params = dsn_settings(dsn);
    } catch (const std::invalid_argument &) {
        return "(unparseable connection string)";
    }
    std::string out;
    for (const auto &[keyword, value] : params) {
        if (!out.empty())
            out += ' ';
        out += keyword + '=' + (keyword.find("password") != std::string::npos ? "********" : value);
    }
    return out;
}

} // namespace vigil::db
