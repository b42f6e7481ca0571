// db.cpp — libpq wrappers.
#include "db.hpp"

#include <cctype>

#include "dsn_params.hpp"

namespace vigil::db {

namespace {

// libpq's text as one line: its continuation lines ("\n\tIs the server running ...") join the
// line before, as a new sentence when they start one; runs of spaces ("FATAL:  ") become one.
std::string one_line(const char *message) {
    std::string out;
    bool line_start = false;
    for (const char *p = message ? message : ""; *p; ++p) {
        const char c = *p == '\t' || *p == '\r' ? ' ' : *p;
        if (c == '\n') {
            line_start = true;
            continue;
        }
        if (c == ' ' && (line_start || out.empty() || out.back() == ' '))
            continue;
        if (line_start && !out.empty()) {
            while (!out.empty() && out.back() == ' ')
                out.pop_back();
            const bool sentence = std::isupper(static_cast<unsigned char>(c)) &&
                                  std::string(".:;?!").find(out.back()) == std::string::npos;
            out += sentence ? ". " : " ";
        }
        line_start = false;
        out += c;
    }
    while (!out.empty() && out.back() == ' ')
        out.pop_back();
    return out;
}

std::string field(const PGresult *r, int code) {
    const char *v = PQresultErrorField(r, code);
    return v ? one_line(v) : "";
}

// libpq gives a refused connection no SQLSTATE; the server's words for the one refusal that
// needs different handling (retry later, with backoff) and a different hint than "unreachable".
enum class Refusal { none, max_connections, role_limit, database_limit };

Refusal refusal(const std::string &message) {
    if (message.find("sorry, too many clients already") != std::string::npos ||
        message.find("remaining connection slots are reserved") != std::string::npos)
        return Refusal::max_connections;
    if (message.find("too many connections for role") != std::string::npos)
        return Refusal::role_limit;
    if (message.find("too many connections for database") != std::string::npos)
        return Refusal::database_limit;
    return Refusal::none;
}

} // namespace

std::string Result::sqlstate() const {
    const char *s = PQresultErrorField(res_.get(), PG_DIAG_SQLSTATE);
    return s ? s : "";
}

std::string Result::error_message() const {
    // Built from the fields, so that libpq's CONTEXT, LINE and caret lines stay out of it.
    const std::string primary = field(res_.get(), PG_DIAG_MESSAGE_PRIMARY);
    if (primary.empty()) // libpq's own error: it has only the text
        return one_line(PQresultErrorMessage(res_.get()));
    const std::string detail = field(res_.get(), PG_DIAG_MESSAGE_DETAIL);
    const std::string hint = field(res_.get(), PG_DIAG_MESSAGE_HINT);
    return primary + (detail.empty() ? "" : " (" + detail + ")") + (hint.empty() ? "" : " — " + hint);
}

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
        const std::string prefix = "cannot connect to " + redact_dsn(dsn) + ": ";
        switch (refusal(message)) {
        case Refusal::max_connections:
            throw DbError(
                prefix + "the server has no free connection slot (max_connections reached; " + message +
                    "): lower pool.max_size (--pool-size) of the clients, raise max_connections, or "
                    "put PgBouncer in front",
                "53300");
        case Refusal::role_limit:
        case Refusal::database_limit: {
            const bool role = refusal(message) == Refusal::role_limit;
            throw DbError(prefix + "the " + (role ? "role's" : "database's") +
                              " connection limit is reached (" + message +
                              "): lower pool.max_size (--pool-size) or raise the limit (ALTER " +
                              (role ? "ROLE" : "DATABASE") + " ... CONNECTION LIMIT)",
                          "53300");
        }
        case Refusal::none:
            break;
        }
        throw DbError(prefix + message, "08006");
    }
    return conn;
}

std::string Connection::error_message() const {
    return one_line(PQerrorMessage(conn_.get()));
}

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

Result Connection::exec(const std::string &sql) {
    return check(Result(PQexec(get(), sql.c_str())), *this);
}

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
