// schema.cpp — the history file's schema, version by version (docs/history.md, "The file").
#include "history/schema.hpp"

#include "history/store.hpp"

namespace vigil::history {

NewerSchema::NewerSchema(int file, int known)
    : std::runtime_error("schema version " + std::to_string(file) + " is newer than this vigild's " +
                         std::to_string(known)),
      file_version(file), known_version(known) {}

const std::vector<std::string> &migrations() {
    // Never edit a shipped step: add one, and raise history::schema_version.
    static const std::vector<std::string> steps = {
        // 1: series named once, points by integer id and integer Unix time; one table per resolution.
        "CREATE TABLE series (id INTEGER PRIMARY KEY, target TEXT NOT NULL, database TEXT NOT NULL,"
        "                     metric TEXT NOT NULL, label TEXT NOT NULL,"
        "                     UNIQUE (target, database, metric, label));"
        "CREATE TABLE points_raw (series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,"
        "                         PRIMARY KEY (series, ts)) WITHOUT ROWID;"
        "CREATE TABLE points_5m (series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,"
        "                        max REAL NOT NULL, PRIMARY KEY (series, ts)) WITHOUT ROWID;"
        "CREATE TABLE points_1h (series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,"
        "                        max REAL NOT NULL, PRIMARY KEY (series, ts)) WITHOUT ROWID;"
        // The last few captures, clustered by time so a capture appends to one page; moved into
        // points_raw (clustered by series, for the charts) a few captures at a time.
        "CREATE TABLE points_new (ts INTEGER NOT NULL, series INTEGER NOT NULL, value REAL NOT NULL,"
        "                         PRIMARY KEY (ts, series)) WITHOUT ROWID;"
        "CREATE TABLE statement_texts (target TEXT NOT NULL, database TEXT NOT NULL, queryid TEXT NOT NULL,"
        "                              text TEXT NOT NULL, PRIMARY KEY (target, database, queryid))"
        "                              WITHOUT ROWID;"
        // For people with the sqlite3 CLI (docs/history.md): every point with its resolution, by name.
        "CREATE VIEW points AS"
        "  SELECT series, ts, value, value AS max, 'raw' AS resolution FROM points_new"
        "  UNION ALL SELECT series, ts, value, value, 'raw' FROM points_raw"
        "  UNION ALL SELECT series, ts, value, max, '5m' FROM points_5m"
        "  UNION ALL SELECT series, ts, value, max, '1h' FROM points_1h;"
        "CREATE VIEW history AS"
        "  SELECT s.target, s.database, s.metric, s.label, p.ts, p.value, p.max, p.resolution"
        "    FROM series s JOIN points p ON p.series = s.id;",
    };
    static_assert(schema_version == 1, "add the migration to the list above");
    return steps;
}

int migrate(sqlite::Connection &db, const std::vector<std::string> &steps) {
    const int known = static_cast<int>(steps.size());
    const int found = static_cast<int>(db.query_int("PRAGMA user_version"));
    if (found > known)
        throw NewerSchema(found, known);
    for (int version = found; version < known; ++version) {
        sqlite::Transaction tx(db);
        db.exec(steps[static_cast<std::size_t>(version)]);
        db.exec("PRAGMA user_version = " + std::to_string(version + 1));
        tx.commit();
    }
    return found;
}

} // namespace vigil::history
