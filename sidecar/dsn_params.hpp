// dsn_params.hpp — rewriting libpq connection strings (keyword strings or URIs) without
// ever printing the password: switch the database, split the password off for a child process.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vigil {

// The DSN's non-empty settings in libpq's order (libpq parses it, so URIs work too); throws
// std::invalid_argument. Everything else here is built on it.
std::vector<std::pair<std::string, std::string>> dsn_settings(const std::string &dsn);
// The same settings by keyword.
std::map<std::string, std::string> parse_dsn(const std::string &dsn);
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

} // namespace vigil
