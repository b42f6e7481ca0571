/*
 * pgbouncer_ini.hpp — the pgbouncer.ini section that vigil.pgbouncer_config() writes. Pure C++
 * (no PostgreSQL header): pool_sizing.cpp gathers the server's values, the function here turns
 * them into text, test/unit/extension_pgbouncer_ini_test.cpp specifies it, and a fuzz target can
 * call it as it is.
 *
 * The text is another program's configuration, so every value in it is either written so that
 * pgbouncer reads back exactly that value, or refused. pgbouncer.ini has no escape for a line
 * break: a control character anywhere (a database named "x\n[pgbouncer]\nauth_type = any")
 * would start a line of its own, so it is refused, comment lines included.
 *
 * How pgbouncer reads what is written here (libusual's cfparser.c and pgbouncer's loader.c):
 *  - a [databases] key is bare when it holds only A-Z a-z 0-9 _ . - ; any other key must be
 *    in single quotes, which pgbouncer reads from 1.25 on (with no way to escape a quote
 *    inside: a name holding a single quote cannot be a key at all). Older pgbouncers refuse a
 *    quoted key with a syntax error, so the file fails to load rather than mean something else.
 *  - a connection-string value (host=, dbname=) ends at a space unless it is in single quotes,
 *    in which a quote is doubled; an empty value is an error.
 */
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace vigil::core {

/* What goes into the section. */
struct PgbouncerSettings {
    std::string database;                   /* the database, and the name clients use for it */
    std::string host;                       /* the server's address or Unix-socket directory */
    int port = 5432;                        /* the server's port */
    std::int64_t pool_size = 0;             /* default_pool_size, at least 1 */
    std::string pool_mode = "transaction";  /* session, transaction or statement */
    std::int64_t max_client_conn = 1000;    /* at least 1 */
    std::int64_t available_connections = 0; /* server slots for clients: a warning beyond them */
};

/* A value the section cannot hold, or cannot hold safely: what() is the message (lowercase),
 * hint() a sentence saying what to do. */
class IniError : public std::invalid_argument {
  public:
    IniError(const std::string &message, std::string hint)
        : std::invalid_argument(message), hint_(std::move(hint)) {}
    const std::string &hint() const noexcept { return hint_; }

  private:
    std::string hint_;
};

/* The pgbouncer.ini text for these settings; throws IniError for a value it cannot write. */
std::string pgbouncer_ini(const PgbouncerSettings &settings);

/* A [databases] key naming this database, quoted when it must be; throws IniError. */
std::string ini_database_key(std::string_view database);

/* A connection-string value (host=..., dbname=...), quoted when it must be; what names it in
 * errors. Throws IniError for an empty value or a control character. */
std::string connstr_value(std::string_view value, const char *what);

} // namespace vigil::core
