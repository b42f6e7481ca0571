// schema.hpp — the history file's schema and its migrations. PRAGMA user_version is the version
// of a file; migration N takes a file from version N to N + 1, each in its own transaction.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "history/sqlite.hpp"

namespace vigil::history {

// A file written by a newer vigild: left untouched.
class NewerSchema : public std::runtime_error {
  public:
    NewerSchema(int file_version, int known_version);
    int file_version, known_version;
};

// The SQL of each migration, in order; its size is history::schema_version.
const std::vector<std::string> &migrations();

// Brings the file up to migrations.size(), one transaction per step (a failed step leaves the
// file at the version before it); throws NewerSchema for a file past it, sqlite::Error otherwise.
// Returns the version the file had.
int migrate(sqlite::Connection &db, const std::vector<std::string> &migrations = history::migrations());

} // namespace vigil::history
