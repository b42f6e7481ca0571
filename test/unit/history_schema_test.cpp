// history_schema_test.cpp — the history file's schema versions: a new file is at the current
// version, migrations run in order and keep the points, a failed one leaves the file as it was.
#include <filesystem>

#include <gtest/gtest.h>

#include "history/schema.hpp"
#include "history/sqlite.hpp"
#include "history/store.hpp"
#include "history_fleet.hpp"

using namespace vigil;
namespace fs = std::filesystem;

namespace {

constexpr double t0 = 1'800'000'000;

class HistorySchema : public ::testing::Test {
  protected:
    void SetUp() override {
        dir = fs::path(::testing::TempDir()) /
              ("vigil_history_schema_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string file() const { return (dir / "history.sqlite3").string(); }
    fs::path dir;
};

TEST_F(HistorySchema, ANewFileIsAtTheCurrentVersionInWalMode) {
    { history::Store store(file()); }
    history::sqlite::Connection db(file(), SQLITE_OPEN_READONLY);
    EXPECT_EQ(db.query_int("PRAGMA user_version"), history::schema_version);
    EXPECT_EQ(static_cast<int>(history::migrations().size()), history::schema_version);
    EXPECT_EQ(db.query_text("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name IN"
                           " ('series', 'points_raw', 'points_5m', 'points_1h', 'statement_texts')"),
              5);
}

TEST_F(HistorySchema, MigrationsRunInOrderAndKeepThePoints) {
    {
        history::Store store(file());
        store.record(test::make_fleet({1, 1, 0, 0, 0, 0}, 0, t0), t0);
    }
    // A next version as a later vigild would ship it: one more step after the current ones.
    auto steps = history::migrations();
    steps.push_back("ALTER TABLE series ADD COLUMN unit TEXT NOT NULL DEFAULT ''");
    history::sqlite::Connection db(file(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(history::migrate(db, steps), history::schema_version);
    EXPECT_EQ(db.query_int("PRAGMA user_version"), history::schema_version + 1);
    EXPECT_EQ(db.query_int("SELECT count(*) FROM series WHERE unit = ''"),
              db.query_int("SELECT count(*) FROM series"));
    EXPECT_GT(db.query_int("SELECT count(*) FROM points_raw"), 0);
    // Once done, nothing runs again.
    EXPECT_EQ(history::migrate(db, steps), history::schema_version + 1);
}

TEST_F(HistorySchema, AFailedMigrationLeavesTheFileAtItsVersion) {
    {
        history::Store store(file());
        store.record(test::make_fleet({1, 1, 0, 0, 0, 0}, 0, t0), t0);
    }
    auto steps = history::migrations();
    steps.push_back("CREATE TABLE extra (x); ALTER TABLE no_such_table ADD COLUMN y");
    history::sqlite::Connection db(file(), SQLITE_OPEN_READWRITE);
    EXPECT_THROW(history::migrate(db, steps), history::sqlite::Error);
    EXPECT_EQ(db.query_int("PRAGMA user_version"), history::schema_version);
    EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'extra'"), 0);
    history::Store store(file());
    EXPECT_TRUE(store.available()) << store.status();
    EXPECT_EQ(store.series({"pg0", "db0", "connections", "active"}, t0, t0).size(), 1u);
}

TEST_F(HistorySchema, ANewerFileIsRefusedByMigrate) {
    {
        history::sqlite::Connection db(file(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        db.exec("PRAGMA user_version = 7");
    }
    history::sqlite::Connection db(file(), SQLITE_OPEN_READWRITE);
    try {
        history::migrate(db);
        FAIL() << "migrate accepted a newer file";
    } catch (const history::NewerSchema &e) {
        EXPECT_EQ(e.file_version, 7);
        EXPECT_EQ(e.known_version, history::schema_version);
    }
    EXPECT_EQ(db.query_int("PRAGMA user_version"), 7);
}

} // namespace
