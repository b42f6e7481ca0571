// dsn_params.hpp — rewriting libpq connection strings (keyword strings or URIs) without
// ever printing the password: switch the database, split the password off for a child process.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace vigil {

// A connection string libpq cannot use: a syntax error, or a setting with a value libpq refuses
// (`port=abc`, `sslmode=bogus`). The command line reports it as a bad argument (exit 64),
// not as an unreachable database.
class InvalidDsn : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// The DSN's non-empty settings in libpq's order (libpq parses it, so URIs work too); throws
// InvalidDsn. Everything else here is built on it. A bare word ("garbage") is refused: libpq
// would take it for a database name, which is never what a connection-string flag meant.
std::vector<std::pair<std::string, std::string>> dsn_settings(const std::string &dsn);
// The same settings by keyword.
std::map<std::string, std::string> parse_dsn(const std::string &dsn);
// True when libpq's connection failure `message` is about a setting of the connection string
// rather than about the server (libpq gives such failures no SQLSTATE of their own).
bool is_connection_option_error(const std::string &message);

// A keyword=value string, values quoted as libpq expects.
std::string build_dsn(const std::map<std::string, std::string> &params);
// The DSN with some settings replaced or added.
std::string dsn_with(const std::string &dsn, const std::map<std::string, std::string> &overrides);

// A DSN for a child process: the password goes to the PGPASSWORD environment variable
// instead of the command line, where `ps` would show it.
struct ChildDsn {
    std::string dsn;
    std::optional<std::string> password;
};
ChildDsn dsn_for_child(const std::string &dsn);

// The servers a (multi-host) DSN names, in the order libpq tries them, as "host:port" (host, else
// hostaddr, else PGHOST or "localhost"; a single port applies to every host; none: PGPORT or
// 5432). For messages, and for sharing a connect's time between the hosts.
std::vector<std::string> dsn_hosts(const std::string &dsn);

} // namespace vigil
