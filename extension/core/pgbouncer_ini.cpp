/*
 * pgbouncer_ini.cpp — the pgbouncer.ini section of vigil.pgbouncer_config() (see pgbouncer_ini.hpp).
 */
#include "pgbouncer_ini.hpp"

#include <cstdio>

namespace vigil::core {

namespace {

/* A byte as a reader names it: "line feed (0x0a)". */
std::string describe_control(unsigned char c) {
    const char *name = c == '\n'   ? "line feed"
                       : c == '\r' ? "carriage return"
                       : c == '\t' ? "tab"
                       : c == 0    ? "NUL"
                                   : "control character";
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s (0x%02x)", name, c);
    return buf;
}

/* Refuses a value holding a control character (C0 or DEL): pgbouncer.ini cannot escape one. */
void require_no_control(std::string_view value, const std::string &what, const std::string &hint) {
    for (size_t i = 0; i < value.size(); i++) {
        const auto c = static_cast<unsigned char>(value[i]);
        if (c < 0x20 || c == 0x7f)
            throw IniError(what + " cannot be written to pgbouncer.ini: it contains a " +
                               describe_control(c) + " at byte " + std::to_string(i + 1),
                           hint);
    }
}

const char *const kDatabaseHint = "pgbouncer.ini has no way to write control characters such as line breaks: "
                                  "rename the database (ALTER DATABASE ... RENAME TO ...).";

/* Whether pgbouncer reads name as a bare key: A-Z a-z 0-9 _ . - (and not empty). */
bool is_bare_key(std::string_view name) {
    if (name.empty())
        return false;
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Whether a connection-string value may be written bare: pgbouncer ends a bare value at a
 * space and reads one that starts with a quote as quoted (a quote further in would be read as
 * it is, but is quoted too, for the reader's sake). Identifiers, addresses and most socket
 * paths stay bare. */
bool is_bare_value(std::string_view value) {
    return !value.empty() && value.find_first_of(" '") == std::string_view::npos;
}

/* "1" for a count, as the plpgsql version printed it. */
std::string count(std::int64_t v) {
    return std::to_string(v);
}

} // namespace

std::string ini_database_key(std::string_view database) {
    const std::string label = "database name \"" + std::string(database) + "\"";
    require_no_control(database, "the database name", kDatabaseHint);
    if (database.empty())
        throw IniError("the database name cannot be written to pgbouncer.ini: it is empty",
                       "Pass the name of an existing database.");
    if (database == "pgbouncer" || database == "*")
        throw IniError(label + " cannot be a [databases] key in pgbouncer.ini: pgbouncer reserves it (" +
                           (database == "*" ? std::string("the fallback entry for every database")
                                            : std::string("its admin console")) +
                           ")",
                       "List the database by hand under another name, such as: "
                       "other_name = host=... dbname=" +
                           connstr_value(database, "the database name") + ".");
    if (is_bare_key(database))
        return std::string(database);
    if (database.find('\'') != std::string_view::npos)
        throw IniError(label + " cannot be a [databases] key in pgbouncer.ini: it contains a single quote",
                       "pgbouncer reads no escaped quote in a key: list the database by hand under another "
                       "name, such as: other_name = host=... dbname=" +
                           connstr_value(database, "the database name") + ".");
    /* Read as a quoted key by pgbouncer 1.25 and later; earlier versions refuse the file. */
    return "'" + std::string(database) + "'";
}

std::string connstr_value(std::string_view value, const char *what) {
    require_no_control(value, what,
                       std::string(what) == "the database name"
                           ? kDatabaseHint
                           : "pgbouncer.ini has no way to write control characters such as line breaks: "
                             "write this line of pgbouncer.ini by hand.");
    if (value.empty())
        throw IniError(std::string(what) + " cannot be written to pgbouncer.ini: it is empty",
                       "pgbouncer refuses an empty connection-string value; write the line by hand.");
    if (is_bare_value(value))
        return std::string(value);
    std::string quoted = "'";
    for (const char c : value) {
        if (c == '\'')
            quoted += '\'';
        quoted += c;
    }
    return quoted + "'";
}

std::string pgbouncer_ini(const PgbouncerSettings &s) {
    if (s.pool_mode != "session" && s.pool_mode != "transaction" && s.pool_mode != "statement")
        throw IniError("pool_mode must be session, transaction or statement, not " + s.pool_mode,
                       "transaction mode shares connections best; use session mode for session state "
                       "(SET, LISTEN, advisory locks).");
    if (s.pool_size < 1)
        throw IniError("pool_size must be at least 1, not " + count(s.pool_size),
                       "Pass the pool size vigil.pool_advice() recommends, or leave it out for cores × 2.");
    if (s.max_client_conn < 1)
        throw IniError("max_client_conn must be at least 1",
                       "Pass how many client connections pgbouncer may accept, such as 1000.");
    /* pgbouncer reads these as C ints; the bound also keeps pool_size + reserve from overflowing
     * (found by test/fuzz/pgbouncer_ini_fuzz.cpp: corpus int64_max_pool). */
    constexpr std::int64_t kMaxCount = 2147483647; /* INT_MAX */
    if (s.pool_size > kMaxCount || s.max_client_conn > kMaxCount)
        throw IniError(
            "pool_size and max_client_conn must be at most " + count(kMaxCount),
            "pgbouncer reads them as 32-bit integers; pass the size vigil.pool_advice() recommends.");
    if (s.port < 1 || s.port > 65535)
        throw IniError("port must be between 1 and 65535, not " + std::to_string(s.port),
                       "Pass the port the server listens on.");

    const std::string key = ini_database_key(s.database);
    const std::string host = connstr_value(s.host, "the server's host");
    const std::string dbname = connstr_value(s.database, "the database name");
    /* 20% more for bursts, at least one: ceil(size / 5). */
    const std::int64_t reserve = s.pool_size / 5 + (s.pool_size % 5 != 0 ? 1 : 0);
    const std::int64_t server_connections = s.pool_size + reserve;

    std::string ini;
    ini += "; pgbouncer.ini for database " + s.database + " (vigil.pgbouncer_config)\n";
    ini += "[databases]\n";
    ini += key + " = host=" + host + " port=" + std::to_string(s.port) + " dbname=" + dbname + "\n";
    ini += "\n";
    ini += "[pgbouncer]\n";
    ini += "pool_mode = " + s.pool_mode + "\n";
    ini += "default_pool_size = " + count(s.pool_size) + "\n";
    ini += "reserve_pool_size = " + count(reserve) + "\n";
    ini += "reserve_pool_timeout = 3\n";
    ini += "max_db_connections = " + count(server_connections) + "\n";
    ini += "max_client_conn = " + count(s.max_client_conn) + "\n";
    if (s.pool_mode == "session")
        ini += "server_reset_query = DISCARD ALL\n";
    if (server_connections > s.available_connections)
        ini += "; warning: " + count(server_connections) + " server connections exceed the " +
               count(s.available_connections) + " available on this server\n";
    return ini;
}

} // namespace vigil::core
