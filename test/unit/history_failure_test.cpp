// history_failure_test.cpp — a locked, corrupt, unwritable or too-new history file: the store is
// unavailable with one log line, every call is a harmless no-op, the file is left as it was, and
// the store recovers by itself once the problem is fixed.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "history/schema.hpp"
#include "history/sqlite.hpp"
#include "history/store.hpp"
#include "history_fleet.hpp"
#include "log_capture.hpp"
#include "test_support.hpp"

using namespace vigil;
namespace fs = std::filesystem;

namespace {

constexpr double t0 = 1'800'000'000;
constexpr int retry_every = 3;
const test::FleetShape shape{1, 1, 1, 1, 1, 0};
const history::SeriesKey active{"pg0", "db0", "connections", "active"};

class HistoryFailure : public ::testing::Test {
  protected:
    void SetUp() override {
        dir = fs::path(::testing::TempDir()) /
              ("vigil_history_fail_" + std::to_string(getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string file() const { return (dir / "history.sqlite3").string(); }

    // Every call of an unavailable store returns nothing and throws nothing.
    static void expect_harmless(history::Store &store) {
        EXPECT_FALSE(store.available());
        EXPECT_NO_THROW(store.record(test::make_fleet(shape, 0, t0), t0));
        EXPECT_TRUE(store.series(active, 0, t0 * 2).empty());
        EXPECT_TRUE(store.series_labels("pg0", "db0", "connections").empty());
        EXPECT_TRUE(store.targets().empty());
        EXPECT_TRUE(store.statement_history("pg0", "db0", "1", 0, t0 * 2).intervals.empty());
        EXPECT_TRUE(store.top_statements("pg0", "db0", 0, t0 * 2).empty());
        EXPECT_EQ(store.size_bytes(), 0);
    }
    // A store that was writing before, to check that its points survive.
    void write_some_history() {
        history::Store store(file());
        ASSERT_TRUE(store.available()) << store.status();
        store.record(test::make_fleet(shape, 0, t0), t0);
        store.record(test::make_fleet(shape, 1, t0 + 60), t0 + 60);
    }
    // Records `n` captures after t0 + 120 (the retry counter counts them).
    static void record_more(history::Store &store, int n) {
        for (int i = 0; i < n; ++i)
            store.record(test::make_fleet(shape, 2 + i, t0 + 120 + 60 * i), t0 + 120 + 60 * i);
    }
    fs::path dir;
};

TEST_F(HistoryFailure, ACorruptFileIsOneWarningAndIsKept) {
    const std::string garbage(8192, '\x5a');
    std::ofstream(file(), std::ios::binary) << "this is not a database" << garbage;
    test::LogCapture log;
    history::Store store(file(), history::Resolution{}, retry_every);
    expect_harmless(store);
    record_more(store, 2 * retry_every); // retries that fail again say nothing new
    EXPECT_EQ(log.count("warning"), 1) << log.text();
    EXPECT_EQ(log.count("warning", "is corrupt"), 1) << log.text();
    EXPECT_EQ(log.count("warning", file()), 1) << log.text();
    EXPECT_NE(store.status().find("unavailable"), std::string::npos);
    EXPECT_NE(store.status().find("corrupt"), std::string::npos);
    EXPECT_EQ(test::read_file(file()), "this is not a database" + garbage); // nothing overwritten

    // The operator moves it aside: the store comes back by itself at the next retry.
    fs::rename(file(), file() + ".corrupt");
    record_more(store, retry_every);
    EXPECT_TRUE(store.available()) << store.status();
    EXPECT_EQ(log.count("info", "available again"), 1) << log.text();
    // From the retry on, captures are stored again (the retry comes within retry_every captures).
    const auto points = store.series(active, 0, t0 * 2);
    EXPECT_GE(points.size(), 1u);
    EXPECT_LE(points.size(), static_cast<std::size_t>(retry_every));
}

TEST_F(HistoryFailure, ACorruptPageFoundWhileReadingMakesItUnavailable) {
    write_some_history();
    // Keep the header (a valid database) and overwrite every later page.
    {
        std::fstream f(file(), std::ios::in | std::ios::out | std::ios::binary);
        const auto size = fs::file_size(file());
        f.seekp(4096);
        f << std::string(size - 4096, '\xff');
    }
    fs::remove(file() + "-wal");
    fs::remove(file() + "-shm");
    test::LogCapture log;
    history::Store store(file(), history::Resolution{}, retry_every);
    // The damage shows when opening or at the first query; either way: unavailable, one line.
    store.series(active, 0, t0 * 2);
    store.record(test::make_fleet(shape, 3, t0 + 180), t0 + 180);
    expect_harmless(store);
    EXPECT_EQ(log.count("warning"), 1) << log.text();
    EXPECT_EQ(log.count("warning", "corrupt"), 1) << log.text();
}

TEST_F(HistoryFailure, ALockedFileIsOneWarningAndRecoversWhenReleased) {
    write_some_history();
    test::LogCapture log;
    history::Store store(file(), history::Resolution{}, retry_every);
    ASSERT_TRUE(store.available());
    {
        // Another writer (here: another connection) holds the write lock longer than busy_timeout.
        history::sqlite::Connection other(file(), SQLITE_OPEN_READWRITE);
        other.exec("BEGIN EXCLUSIVE");
        other.exec("CREATE TABLE held (x)");
        record_more(store, 1);
        expect_harmless(store);
        record_more(store, 2 * retry_every);
        EXPECT_FALSE(store.available());
        EXPECT_EQ(log.count("warning"), 1) << log.text();
        EXPECT_EQ(log.count("warning", "locked"), 1) << log.text();
        other.exec("ROLLBACK");
    } // the other connection closes: the lock is gone
    record_more(store, retry_every);
    EXPECT_TRUE(store.available()) << store.status();
    EXPECT_EQ(log.count("info", "available again"), 1) << log.text();
    // The points from before the outage are all there.
    auto points = store.series(active, 0, t0 * 2);
    ASSERT_GE(points.size(), 3u);
    EXPECT_EQ(points[0].timestamp, t0);
    EXPECT_EQ(points[1].timestamp, t0 + 60);
}

TEST_F(HistoryFailure, ALockWhileOpeningIsOneWarning) {
    write_some_history();
    history::sqlite::Connection other(file(), SQLITE_OPEN_READWRITE);
    other.exec("PRAGMA locking_mode = EXCLUSIVE");
    other.exec("BEGIN EXCLUSIVE");
    other.exec("CREATE TABLE held (x)");
    test::LogCapture log;
    history::Store store(file(), history::Resolution{}, retry_every);
    expect_harmless(store);
    EXPECT_EQ(log.count("warning", "locked"), 1) << log.text();
    EXPECT_EQ(log.count("warning"), 1) << log.text();
}

TEST_F(HistoryFailure, ANewerSchemaIsRefusedAndLeftUntouched) {
    write_some_history();
    const char *count_points = "SELECT (SELECT count(*) FROM points_raw) + (SELECT count(*) FROM points_new)";
    long long points = 0;
    {
        history::sqlite::Connection db(file(), SQLITE_OPEN_READWRITE);
        points = db.query_int(count_points);
        db.exec("PRAGMA user_version = 99");
    }
    test::LogCapture log;
    history::Store store(file(), history::Resolution{}, retry_every);
    expect_harmless(store);
    record_more(store, 2 * retry_every);
    EXPECT_EQ(log.count("warning"), 1) << log.text();
    EXPECT_EQ(log.count("warning", "schema version 99 is newer than this vigild's 1"), 1) << log.text();
    history::sqlite::Connection db(file(), SQLITE_OPEN_READONLY);
    EXPECT_EQ(db.query_int("PRAGMA user_version"), 99);
    EXPECT_GT(points, 0);
    EXPECT_EQ(db.query_int(count_points), points); // nothing written, nothing lost
}

// Runs `body` in a child process as the unprivileged `postgres` user (root writes anywhere) and
// returns its exit status (0: every check of the body held).
int as_unprivileged_user(const std::function<int()> &body) {
    const passwd *pw = getpwnam("postgres");
    if (!pw)
        return -1;
    const pid_t pid = fork();
    if (pid == 0) {
        if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(99);
        _exit(body());
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
}

// In the child: on a failed check, prints it and what was logged, and ends the child with status 1.
#define CHILD_CHECK(cond)                                                                                    \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            std::fprintf(stderr, "%s:%d: failed: %s\nlogged:\n%s", __FILE__, __LINE__, #cond,                \
                         log.text().c_str());                                                                \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

TEST_F(HistoryFailure, AnUnwritableDirectoryIsOneWarningAndRecoversWhenFixed) {
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to become the postgres user";
    const passwd *pw = getpwnam("postgres");
    ASSERT_NE(pw, nullptr) << "the postgres OS user";
    const fs::path locked = dir / "readonly";
    fs::create_directories(locked);
    ASSERT_EQ(chown(dir.c_str(), pw->pw_uid, pw->pw_gid), 0);
    ASSERT_EQ(chown(locked.c_str(), pw->pw_uid, pw->pw_gid), 0);
    ASSERT_EQ(chmod(locked.c_str(), 0500), 0);
    const std::string path = (locked / "history.sqlite3").string();
    const std::string nested = (locked / "state" / "history.sqlite3").string();
    const int rc = as_unprivileged_user([&] {
        test::LogCapture log;
        {
            // A directory that cannot be created.
            history::Store store(nested, history::Resolution{}, retry_every);
            CHILD_CHECK(!store.available());
            CHILD_CHECK(log.count("warning", "cannot be opened") == 1);
        }
        history::Store store(path, history::Resolution{}, retry_every);
        CHILD_CHECK(!store.available());
        CHILD_CHECK(store.status().find("cannot be written") != std::string::npos);
        record_more(store, 2 * retry_every);
        CHILD_CHECK(store.series(active, 0, t0 * 2).empty());
        CHILD_CHECK(log.count("warning") == 2);
        CHILD_CHECK(log.count("warning", "cannot be written") == 1);
        // The operator fixes the mode: the next retry opens the file.
        CHILD_CHECK(chmod(locked.c_str(), 0750) == 0);
        record_more(store, retry_every);
        CHILD_CHECK(store.available());
        CHILD_CHECK(log.count("info", "available again") == 1);
        CHILD_CHECK(!store.series(active, 0, t0 * 2).empty());
        return 0;
    });
    EXPECT_EQ(rc, 0) << "a check in the unprivileged child failed (its output is above)";
}

TEST_F(HistoryFailure, AReadOnlyFileIsOneWarningAndKeepsItsPoints) {
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to become the postgres user";
    const passwd *pw = getpwnam("postgres");
    ASSERT_NE(pw, nullptr);
    write_some_history();
    for (const fs::path &p : {dir, fs::path(file()), fs::path(file() + "-wal"), fs::path(file() + "-shm")})
        if (fs::exists(p)) {
            ASSERT_EQ(chown(p.c_str(), pw->pw_uid, pw->pw_gid), 0);
        }
    ASSERT_EQ(chmod(file().c_str(), 0400), 0);
    const int rc = as_unprivileged_user([&] {
        test::LogCapture log;
        history::Store store(file(), history::Resolution{}, retry_every);
        store.record(test::make_fleet(shape, 2, t0 + 120), t0 + 120);
        record_more(store, 2 * retry_every);
        CHILD_CHECK(!store.available());
        CHILD_CHECK(log.count("warning") == 1);
        CHILD_CHECK(log.count("warning", "cannot be written") == 1);
        return 0;
    });
    EXPECT_EQ(rc, 0) << "a check in the unprivileged child failed (its output is above)";
    ASSERT_EQ(chmod(file().c_str(), 0600), 0);
    history::Store store(file());
    EXPECT_EQ(store.series(active, 0, t0 * 2).size(), 2u);
}

} // namespace
