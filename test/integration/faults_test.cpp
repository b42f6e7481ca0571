// Faults survived: each test runs vigild against a server of its own (test/support/own_cluster.hpp)
// and breaks something on purpose: the server stopped with `pg_ctl -m immediate` during an
// import, a backup or a verification; a backup directory that fills up; a frozen server (its
// postmaster and backends stopped with SIGSTOP); vigild itself killed with SIGKILL mid-verify and
// at random points of `serve`. What must hold afterwards is checked against the server and the
// files, not against vigild's own account.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backup/backup.hpp"
#include "db.hpp"
#include "exit_codes.hpp"
#include "metrics/poller.hpp"
#include "metrics/query_metrics.hpp"
#include "pool/pool.hpp"
#include "daemon_process.hpp"
#include "own_cluster.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace vigil;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A vigild child process with any arguments, its output in a file; SIGKILLed if still running
// when destroyed.
class Child {
  public:
    explicit Child(std::vector<std::string> args)
        : log_(::testing::TempDir() + "vigild_child_" + std::to_string(getpid()) + "_" +
               std::to_string(counter_++) + ".log") {
        args.insert(args.begin(), VIGILD_BINARY);
        pid_ = test::spawn_logged(std::move(args), log_);
    }
    ~Child() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        fs::remove(log_);
    }
    pid_t pid() const { return pid_; }
    void kill_now() {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        exited_ = true;
    }
    // The exit code, or -1 if it did not exit within `limit`.
    int wait_exit(std::chrono::milliseconds limit) {
        const auto until = Clock::now() + limit;
        while (Clock::now() < until) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(20ms);
        }
        return -1;
    }
    std::string output() const { return test::read_file(log_); }

  private:
    static inline int counter_ = 0;
    std::string log_;
    pid_t pid_ = -1;
    bool exited_ = false;
};

// A fresh empty directory under the test's temporary directory, removed afterwards.
struct TempDir {
    explicit TempDir(const std::string &name)
        : path(::testing::TempDir() + "vigil_faults_" + name + "_" + std::to_string(getpid())) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string path;
};

// The children of a process we started (pgrep -P: by its pid, never by a name).
std::vector<pid_t> child_pids(pid_t parent) {
    std::vector<pid_t> out;
    std::istringstream in(test::run_command("pgrep -P " + std::to_string(parent)).output);
    for (pid_t pid; in >> pid;)
        out.push_back(pid);
    return out;
}

// Whether a process is alive: it exists and is no zombie (an orphan's reaper may be slow).
bool running(pid_t pid) {
    const std::string stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    return !stat.empty() && close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

std::vector<std::string> files_in(const std::string &dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(dir, ec))
        out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string joined(const std::vector<std::string> &v) {
    std::string out;
    for (const auto &s : v)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

int scratch_databases(const test::OwnCluster &c) {
    db::Connection admin = db::Connection::open(c.dsn());
    return std::stoi(
        admin.scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'vigil\\_verify\\_%'"));
}

std::string scratch_names(const test::OwnCluster &c) {
    db::Connection admin = db::Connection::open(c.dsn());
    return admin.scalar("SELECT coalesce(string_agg(datname, ', '), '') FROM pg_database"
                        " WHERE datname LIKE 'vigil\\_verify\\_%'");
}

// Connects once the server answers (after a restart), up to `limit`.
db::Connection connect_when_up(const std::string &dsn, std::chrono::seconds limit = 60s) {
    const auto until = Clock::now() + limit;
    for (;;) {
        try {
            return db::Connection::open(dsn);
        } catch (const db::DbError &) {
            if (Clock::now() > until)
                throw;
            std::this_thread::sleep_for(100ms);
        }
    }
}

// A database `name` on the cluster with one table of `rows` rows of incompressible-ish text.
void make_database(const test::OwnCluster &c, const std::string &name, long long rows) {
    db::Connection admin = db::Connection::open(c.dsn());
    admin.exec("CREATE DATABASE " + name);
    db::Connection db = db::Connection::open(c.dsn(name));
    db.exec("CREATE TABLE big (id bigint PRIMARY KEY, v text)");
    db.exec("INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, " +
            std::to_string(rows) + ") g");
}

#define REQUIRE_CLUSTER(c)                                                                                   \
    do {                                                                                                     \
        if (!std::getenv("VIGIL_TEST_PG_BINDIR") || !std::getenv("VIGIL_TEST_CLUSTER_DIR"))                  \
            GTEST_SKIP()                                                                                     \
                << "needs VIGIL_TEST_PG_BINDIR and VIGIL_TEST_CLUSTER_DIR (test/harness/with_cluster.sh)";   \
        ASSERT_TRUE((c).ok()) << (c).error();                                                                \
    } while (0)

// ---- 1. the server stopped during an import -------------------------------------------------------

// A CSV file of `rows` rows (id,v,n); `bad_every` > 0 makes every such row bad for the server
// (n = -1 breaks the table's check) and every `short_every`-th row bad for the client (2 fields).
// Returns the file lines (counting the header as line 1) of the bad rows.
std::set<long long> write_csv(const std::string &path, long long rows, long long bad_every,
                              long long short_every) {
    std::set<long long> bad;
    std::ofstream out(path);
    out << "id,v,n\n";
    for (long long i = 1; i <= rows; ++i) {
        const long long line = i + 1;
        if (short_every > 0 && i % short_every == 0) {
            out << i << ",short row\n";
            bad.insert(line);
        } else if (bad_every > 0 && i % bad_every == 0) {
            out << i << ",negative n for row " << i << ",-1\n";
            bad.insert(line);
        } else {
            out << i << ",value of row " << i << " with some more text to make it longer," << i << "\n";
        }
    }
    return bad;
}

// Splits one line of a reject file (line,"error","row") into its three fields; false when it is
// not exactly that: the file would then be half-written.
bool parse_reject_line(const std::string &line, long long &number, std::string &error, std::string &row) {
    static const std::regex re(R"re(^(\d+),"((?:[^"]|"")*)","((?:[^"]|"")*)"$)re");
    std::smatch m;
    if (!std::regex_match(line, m, re))
        return false;
    number = std::stoll(m[1]);
    error = m[2];
    row = m[3];
    return true;
}

class FaultImport : public ::testing::Test {
  protected:
    void SetUp() override {
        REQUIRE_CLUSTER(cluster_);
        db::Connection::open(cluster_.dsn())
            .exec("CREATE TABLE imp (id bigint PRIMARY KEY, v text, n int CHECK (n >= 0))");
    }
    // Runs the import in the background and stops the server once `started` says it is under way.
    test::ProcessResult import_and_stop(const std::string &args, const std::function<bool()> &started) {
        test::ProcessResult result;
        std::thread importer(
            [&] { result = test::run_vigild("--dsn '" + cluster_.dsn() + "' import " + args); });
        const bool seen = test::wait_until(started, 60s);
        const auto stop = cluster_.stop_immediately();
        importer.join();
        EXPECT_TRUE(seen) << "the import was not seen under way: " << result.output;
        EXPECT_EQ(stop.exit_code, 0) << stop.output;
        const auto start = cluster_.start();
        EXPECT_EQ(start.exit_code, 0) << start.output;
        return result;
    }
    long long rows_in_table() {
        return std::stoll(connect_when_up(cluster_.dsn()).scalar("SELECT count(*) FROM imp"));
    }
    test::OwnCluster cluster_{"faults_import"};
};

TEST_F(FaultImport, ServerStoppedDuringAnAbortModeImportLeavesNoRowsAndSaysSo) {
    TempDir dir("import_abort");
    const std::string csv = dir.path + "/rows.csv";
    write_csv(csv, 3000000, 0, 0);
    db::Connection watcher = db::Connection::open(cluster_.dsn());
    const auto result = import_and_stop("--table imp --csv " + csv, [&] {
        try {
            const auto n =
                watcher.scalar("SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy");
            return std::stoll(n) > 100000;
        } catch (const db::DbError &) {
            return false;
        }
    });
    EXPECT_EQ(rows_in_table(), 0) << "abort mode must leave nothing behind";
    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.exit_code, exit_code::unavailable) << result.output;
    EXPECT_THAT(result.output, HasSubstr("connection to the server was lost")) << result.output;
    EXPECT_THAT(result.output, HasSubstr("nothing was imported")) << result.output;
}

TEST_F(FaultImport, ServerStoppedDuringASkipModeImportLeavesTheTableAndTheRejectFileConsistent) {
    TempDir dir("import_skip");
    const std::string csv = dir.path + "/rows.csv";
    const std::string rejects = dir.path + "/rejects.csv";
    const long long rows = 2000000;
    const std::set<long long> bad = write_csv(csv, rows, 9973, 10007);
    // Under way: the reject file holds a few rejected rows already.
    const auto result =
        import_and_stop("--table imp --csv " + csv + " --on-error skip --reject-file " + rejects, [&] {
            const std::string text = test::read_file(rejects);
            return std::count(text.begin(), text.end(), '\n') > 6;
        });
    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.exit_code, exit_code::unavailable) << result.output;
    EXPECT_THAT(result.output, HasSubstr("connection to the server was lost")) << result.output;

    // The reject file: whole lines only, each a row that is bad.
    const std::string text = test::read_file(rejects);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n') << "the reject file ends in the middle of a line";
    std::istringstream lines(text);
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line, "line,error,row");
    std::set<long long> rejected;
    while (std::getline(lines, line)) {
        long long number = 0;
        std::string error, row;
        ASSERT_TRUE(parse_reject_line(line, number, error, row)) << "a half-written reject line: " << line;
        EXPECT_TRUE(bad.count(number)) << "line " << number << " was rejected but is a good row: " << error;
        rejected.insert(number);
    }
    EXPECT_GT(rejected.size(), 0u);

    // Every input row is in the table, in the reject file, or reported as not imported.
    db::Connection conn = connect_when_up(cluster_.dsn());
    const long long imported = rows_in_table();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(result.output, m, std::regex(R"(holds the (\d+) rows? rejected)")))
        << result.output;
    EXPECT_EQ(std::stoull(m[1]), rejected.size()) << result.output;
    if (imported == 0) {
        EXPECT_THAT(result.output, HasSubstr("nothing was imported")) << result.output;
    } else {
        // Were any committed, none of them may also be in the reject file.
        const long long overlap =
            std::stoll(conn.scalar("SELECT count(*) FROM imp WHERE id + 1 = ANY ($1::bigint[])", {"{" + [&] {
                                       std::string s;
                                       for (long long l : rejected)
                                           s += (s.empty() ? "" : ",") + std::to_string(l);
                                       return s;
                                   }() + "}"}));
        EXPECT_EQ(overlap, 0);
    }
}

// ---- 2. the server stopped during a backup; 4. the backup directory full ---------------------------

class FaultBackup : public ::testing::Test {
  protected:
    void SetUp() override {
        REQUIRE_CLUSTER(cluster_);
        db::Connection admin = db::Connection::open(cluster_.dsn());
        admin.exec("CREATE DATABASE app");
        db::Connection::open(cluster_.dsn("app"))
            .exec("CREATE TABLE small (id int PRIMARY KEY, v text);"
                  "INSERT INTO small SELECT g, 'row ' || g FROM generate_series(1, 100) g");
    }
    test::ProcessResult vigild(const std::string &args) {
        return test::run_vigild("--dsn '" + cluster_.dsn("app") + "' " + args);
    }
    // A good backup of the small database; returns its dump path.
    std::string good_backup(const std::string &dir, const std::string &extra = "") {
        const auto r = vigild(extra + " backup create --json --directory " + dir);
        EXPECT_EQ(r.exit_code, 0) << r.output;
        if (r.exit_code != 0)
            return "";
        return nlohmann::json::parse(r.output.substr(r.output.find('{'))).at("dump");
    }
    // What serve's poller reports as the newest backup of `dir`.
    std::pair<std::string, double> polled_newest(const std::string &dir) {
        QueryMetrics queries(1.0);
        HealthPoller poller(pool::Settings::from_config(PoolConfig{}, cluster_.dsn("app")), Seconds(1), dir,
                            PollLimits{}, queries);
        poller.poll_once();
        const auto snap = poller.snapshot();
        return {snap->newest_backup, snap->newest_backup_timestamp};
    }
    void add_big_table(long long rows) {
        db::Connection::open(cluster_.dsn("app"))
            .exec("CREATE TABLE big (id bigint PRIMARY KEY, v text);"
                  "INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text)"
                  "  FROM generate_series(1, " +
                  std::to_string(rows) + ") g");
    }
    test::OwnCluster cluster_{"faults_backup"};
};

TEST_F(FaultBackup, ServerStoppedDuringCreateNeverMakesAPartialBackupTheNewest) {
    TempDir dir("backup_stop");
    const std::string config = test::write_temp_file("[backup]\nretention_count = 1\n");
    const std::string good = good_backup(dir.path, "--config " + config);
    ASSERT_FALSE(good.empty());
    const auto files_before = files_in(dir.path);
    const auto [polled_before, polled_ts_before] = polled_newest(dir.path);
    EXPECT_EQ(polled_before, good);
    add_big_table(1500000);

    test::ProcessResult failed;
    std::thread creator(
        [&] { failed = vigild("--config " + config + " backup create --directory " + dir.path); });
    // Under way: pg_dump has written part of its file.
    const bool seen = test::wait_until(
        [&] {
            for (const auto &f : files_in(dir.path))
                if (f.size() > 8 && f.compare(f.size() - 8, 8, ".partial") == 0) {
                    std::error_code ec;
                    return fs::file_size(dir.path + "/" + f, ec) > 100000;
                }
            return false;
        },
        60s);
    const auto stop = cluster_.stop_immediately();
    creator.join();
    ASSERT_TRUE(seen) << "pg_dump was not seen writing: " << failed.output;
    ASSERT_EQ(stop.exit_code, 0) << stop.output;
    EXPECT_NE(failed.exit_code, 0) << failed.output;
    EXPECT_THAT(failed.output, HasSubstr("backup failed")) << failed.output;

    // Nothing of the failed backup is left, and retention (count 1) kept the good one.
    EXPECT_EQ(files_in(dir.path), files_before) << joined(files_in(dir.path));
    const auto listed = backup::list_backups(dir.path);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed.front().first, good);

    ASSERT_EQ(cluster_.start().exit_code, 0);
    connect_when_up(cluster_.dsn());
    const auto [polled_after, polled_ts_after] = polled_newest(dir.path);
    EXPECT_EQ(polled_after, good);
    EXPECT_EQ(polled_ts_after, polled_ts_before) << "the poller's newest-backup timestamp moved";
    const auto verified = vigild("backup verify --json " + dir.path);
    EXPECT_EQ(verified.exit_code, 0) << verified.output;
    EXPECT_THAT(verified.output, HasSubstr(fs::path(good).filename().string()));
}

// vigild killed with SIGKILL during `backup create`: its pg_dump dies with it, the .partial it
// leaves is never a backup, and the next backup removes it once nothing holds it (a minute after its
// last write; the test ages the file) but never one that a backup in progress holds locked.
TEST_F(FaultBackup, AKilledBackupLeavesNothingThatCountsAndTheNextOneClearsItsPartialFile) {
    TempDir dir("backup_killed");
    const std::string good = good_backup(dir.path);
    ASSERT_FALSE(good.empty());
    add_big_table(1500000);
    std::string partial;
    std::vector<pid_t> dumps;
    {
        Child killed({"--dsn", cluster_.dsn("app"), "backup", "create", "--directory", dir.path});
        ASSERT_TRUE(test::wait_until(
            [&] {
                for (const auto &f : files_in(dir.path))
                    if (f.size() > 8 && f.compare(f.size() - 8, 8, ".partial") == 0) {
                        std::error_code ec;
                        partial = dir.path + "/" + f;
                        return fs::file_size(partial, ec) > 100000;
                    }
                return false;
            },
            60s))
            << killed.output();
        dumps = child_pids(killed.pid());
        killed.kill_now();
    }
    ASSERT_FALSE(dumps.empty());
    EXPECT_TRUE(test::wait_until([&] { return std::none_of(dumps.begin(), dumps.end(), running); }, 3s))
        << "pg_dump outlived the vigild that ran it";
    ASSERT_TRUE(fs::exists(partial));
    EXPECT_EQ(backup::list_backups(dir.path).front().first, good);
    // A partial file a running backup holds (locked) stays, however old.
    const std::string held = dir.path + "/app_20000101T000000.000Z.dump.partial";
    const int held_fd = open(held.c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(held_fd, 0);
    ASSERT_EQ(flock(held_fd, LOCK_EX | LOCK_NB), 0);
    for (const auto &f : {partial, held})
        fs::last_write_time(f, fs::file_time_type::clock::now() - std::chrono::minutes(2));

    const std::string next = good_backup(dir.path);
    ASSERT_FALSE(next.empty());
    EXPECT_FALSE(fs::exists(partial)) << "the killed backup's partial file is still there";
    EXPECT_TRUE(fs::exists(held)) << "a partial file held by a running backup was removed";
    close(held_fd);
    fs::remove(held);
    EXPECT_EQ(backup::list_backups(dir.path).front().first, next);
}

// A manifest whose dump is missing or shorter than the manifest says (a crash of the machine
// before the dump reached the disk, a copy cut short) is not a backup: it is never the newest,
// and retention does not count it.
TEST_F(FaultBackup, AManifestWithoutItsWholeDumpIsNeverTheNewestBackup) {
    TempDir dir("backup_partial");
    const std::string good = good_backup(dir.path);
    ASSERT_FALSE(good.empty());
    auto manifest = nlohmann::json::parse(std::ifstream(backup::manifest_path_for(good)));
    // A newer backup whose dump is cut in half, and one whose dump is gone.
    for (const std::string stem : {"app_29990101T000000.000Z", "app_29990102T000000.000Z"}) {
        manifest["dump_file"] = stem + ".dump";
        manifest["created_at"] = manifest["created_at"].get<double>() + 1000;
        std::ofstream(dir.path + "/" + stem + ".manifest.json") << manifest.dump(2);
    }
    {
        std::ifstream in(good, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(dir.path + "/app_29990101T000000.000Z.dump", std::ios::binary)
            << bytes.substr(0, bytes.size() / 2);
    }
    const auto listed = backup::list_backups(dir.path);
    ASSERT_FALSE(listed.empty());
    EXPECT_EQ(listed.front().first, good);
    EXPECT_EQ(polled_newest(dir.path).first, good);
    const auto verified = vigild("backup verify --json " + dir.path);
    EXPECT_EQ(verified.exit_code, 0) << verified.output;
    EXPECT_THAT(verified.output, HasSubstr(fs::path(good).filename().string()));
    // Retention keeps one: the new backup, and never because of the broken ones the good one.
    const std::string config = test::write_temp_file("[backup]\nretention_count = 2\n");
    const std::string next = good_backup(dir.path, "--config " + config);
    ASSERT_FALSE(next.empty());
    EXPECT_TRUE(fs::exists(good)) << "retention removed a good backup and kept broken ones: "
                                  << joined(files_in(dir.path));
}

// A tmpfs of 2 MB as the backup directory (needs root to mount).
class SmallFilesystem {
  public:
    explicit SmallFilesystem(const std::string &path) : path_(path) {
        fs::create_directories(path_);
        mounted_ = geteuid() == 0 && mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=2m") == 0;
        if (!mounted_)
            error_ = std::string("mount -t tmpfs -o size=2m: ") + std::strerror(errno);
    }
    ~SmallFilesystem() {
        if (mounted_)
            umount2(path_.c_str(), MNT_DETACH);
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    bool ok() const { return mounted_; }
    const std::string &error() const { return error_; }

  private:
    std::string path_, error_;
    bool mounted_ = false;
};

TEST_F(FaultBackup, AFullBackupDirectoryFailsClearlyAndLeavesNothingThatCountsAsNewest) {
    TempDir parent("backup_full");
    const std::string dir = parent.path + "/backups";
    SmallFilesystem small(dir);
    if (!small.ok())
        GTEST_SKIP() << "cannot mount a small tmpfs here: " << small.error();
    const std::string good = good_backup(dir);
    ASSERT_FALSE(good.empty());
    const auto files_before = files_in(dir);
    add_big_table(200000); // about 20 MB of text: several MB compressed, more than the 2 MB there are

    const auto failed = vigild("backup create --directory " + dir);
    EXPECT_NE(failed.exit_code, 0) << failed.output;
    EXPECT_EQ(failed.exit_code, exit_code::cant_create) << failed.output;
    EXPECT_THAT(failed.output, HasSubstr("no space left on device")) << failed.output;
    EXPECT_THAT(failed.output, HasSubstr(dir)) << "the message names the path: " << failed.output;
    EXPECT_EQ(files_in(dir), files_before) << joined(files_in(dir));
    const auto listed = backup::list_backups(dir);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed.front().first, good);
    EXPECT_EQ(polled_newest(dir).first, good);
    const auto verified = vigild("backup verify " + dir);
    EXPECT_EQ(verified.exit_code, 0) << verified.output;
}

// The dump fits and its manifest does not: the dump goes too, or it would be a backup without a
// manifest taking the space of the next one.
TEST_F(FaultBackup, AManifestThatDoesNotFitTakesItsDumpWithIt) {
    TempDir parent("backup_full_manifest");
    const std::string dir = parent.path + "/backups";
    SmallFilesystem small(dir);
    if (!small.ok())
        GTEST_SKIP() << "cannot mount a small tmpfs here: " << small.error();
    const std::string good = good_backup(dir);
    ASSERT_FALSE(good.empty());
    const auto files_before = files_in(dir);
    // Leave exactly the pages another dump of the same size needs, and none for its manifest.
    const auto dump_size = fs::file_size(good);
    struct statvfs st {};
    ASSERT_EQ(statvfs(dir.c_str(), &st), 0);
    const unsigned long long page = st.f_frsize;
    const unsigned long long need = (dump_size + page - 1) / page * page;
    const unsigned long long avail = st.f_bavail * page;
    ASSERT_GT(avail, need + page);
    {
        std::ofstream filler(dir + "/filler", std::ios::binary);
        filler << std::string(avail - need, 'x');
    }
    const auto after_filler = files_in(dir);
    const auto failed = vigild("backup create --directory " + dir);
    EXPECT_NE(failed.exit_code, 0) << failed.output;
    EXPECT_THAT(failed.output, HasSubstr("no space left on device")) << failed.output;
    EXPECT_THAT(failed.output, HasSubstr(dir)) << failed.output;
    EXPECT_EQ(files_in(dir), after_filler) << joined(files_in(dir));
    EXPECT_EQ(backup::list_backups(dir).front().first, good);
    fs::remove(dir + "/filler");
    EXPECT_EQ(files_in(dir), files_before);
}

// ---- 3. the server stopped during a verification; vigild killed during one ----------------------

class FaultVerify : public ::testing::Test {
  protected:
    void SetUp() override {
        REQUIRE_CLUSTER(cluster_);
        make_database(cluster_, "big", 1000000);
        make_database(cluster_, "tiny", 10);
        big_dump_ = make_backup("big", big_dir_.path);
        tiny_dump_ = make_backup("tiny", tiny_dir_.path);
    }
    std::string make_backup(const std::string &db, const std::string &dir) {
        const auto r =
            test::run_vigild("--dsn '" + cluster_.dsn(db) + "' backup create --json --directory " + dir);
        EXPECT_EQ(r.exit_code, 0) << r.output;
        if (r.exit_code != 0)
            return "";
        return nlohmann::json::parse(r.output.substr(r.output.find('{'))).at("dump");
    }
    // pg_restore is connected to a scratch database.
    bool restoring() {
        try {
            db::Connection admin = db::Connection::open(cluster_.dsn());
            return admin.scalar(
                       "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'vigil\\_verify\\_%'"
                       "   AND application_name = 'pg_restore'") != "0";
        } catch (const db::DbError &) {
            return false;
        }
    }
    test::OwnCluster cluster_{"faults_verify"};
    TempDir big_dir_{"verify_big"}, tiny_dir_{"verify_tiny"};
    std::string big_dump_, tiny_dump_;
};

TEST_F(FaultVerify, ServerStoppedDuringAVerificationLeavesNoScratchDatabaseOnceItIsBack) {
    ASSERT_FALSE(big_dump_.empty());
    test::ProcessResult failed;
    std::thread verifier(
        [&] { failed = test::run_vigild("--dsn '" + cluster_.dsn() + "' backup verify " + big_dump_); });
    const bool seen = test::wait_until([&] { return restoring(); }, 60s);
    std::this_thread::sleep_for(300ms);
    const auto stop = cluster_.stop_immediately();
    verifier.join();
    ASSERT_TRUE(seen) << failed.output;
    ASSERT_EQ(stop.exit_code, 0) << stop.output;
    EXPECT_NE(failed.exit_code, 0) << failed.output;
    ASSERT_EQ(cluster_.start().exit_code, 0);
    connect_when_up(cluster_.dsn());
    // The scratch database outlived the server's crash: the next verification drops it.
    const auto next = test::run_vigild("--dsn '" + cluster_.dsn() + "' backup verify " + tiny_dump_);
    EXPECT_EQ(next.exit_code, 0) << next.output;
    EXPECT_EQ(scratch_databases(cluster_), 0) << "left behind: " << scratch_names(cluster_) << "\n"
                                              << next.output;
}

TEST_F(FaultVerify, AKilledVerificationIsCleanedUpByTheNextOneAndALiveOneIsLeftAlone) {
    ASSERT_FALSE(big_dump_.empty());
    std::vector<pid_t> restores;
    {
        Child killed({"--dsn", cluster_.dsn(), "backup", "verify", big_dump_});
        ASSERT_TRUE(test::wait_until([&] { return restoring(); }, 60s)) << killed.output();
        restores = child_pids(killed.pid());
        killed.kill_now();
    }
    // Its pg_restore does not outlive it (whatever is left of the restore then).
    ASSERT_FALSE(restores.empty());
    EXPECT_TRUE(test::wait_until([&] { return std::none_of(restores.begin(), restores.end(), running); }, 3s))
        << "pg_restore outlived the vigild that ran it";
    ASSERT_EQ(scratch_databases(cluster_), 1) << scratch_names(cluster_);
    const std::string abandoned = scratch_names(cluster_);

    // The next verification drops what the killed one left; a third one, run while the second is
    // under way, leaves the second's scratch database alone.
    Child live({"--dsn", cluster_.dsn(), "backup", "verify", big_dump_});
    auto live_restoring = [&] {
        try {
            db::Connection admin = db::Connection::open(cluster_.dsn());
            return admin.scalar(
                       "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'vigil\\_verify\\_%'"
                       "   AND datname <> $1 AND application_name = 'pg_restore'",
                       {abandoned}) != "0";
        } catch (const db::DbError &) {
            return false;
        }
    };
    ASSERT_TRUE(test::wait_until(live_restoring, 60s)) << live.output();
    const auto cleaner = test::run_vigild("--dsn '" + cluster_.dsn() + "' backup verify " + tiny_dump_);
    EXPECT_EQ(cleaner.exit_code, 0) << cleaner.output;
    EXPECT_EQ(live.wait_exit(120s), 0) << live.output();
    EXPECT_EQ(scratch_databases(cluster_), 0) << "left behind: " << scratch_names(cluster_);
}

// ---- 5. a frozen server --------------------------------------------------------------------------

class FaultFrozen : public ::testing::Test {
  protected:
    void SetUp() override { REQUIRE_CLUSTER(cluster_); }
    void TearDown() override { cluster_.thaw(); }
    // Runs `body` on a thread; if it has not returned within `limit`, thaws the server (so that it
    // can return) and fails the test: a hang is then reported instead of hanging the suite.
    template <typename F> double bounded(const char *what, std::chrono::seconds limit, F body) {
        const auto t0 = Clock::now();
        auto done = std::async(std::launch::async, body);
        if (done.wait_for(limit) != std::future_status::ready) {
            cluster_.thaw();
            done.wait();
            ADD_FAILURE() << what << " did not return within " << limit.count()
                          << " s of the server freezing";
        }
        done.get();
        return seconds_since(t0);
    }
    test::OwnCluster cluster_{"faults_frozen"};
};

TEST_F(FaultFrozen, PoolAcquireAndValidationGiveUpWithinTheirTimeouts) {
    auto settings = pool::Settings::from_config(PoolConfig{}, cluster_.dsn());
    settings.max_size = 2;
    settings.acquire_timeout = Seconds(3);
    settings.validation_interval = Seconds(0); // every idle connection is pinged before use
    settings.validation_timeout = Seconds(1);
    pool::Pool pool(settings);
    { auto lease = pool.acquire("warm-up"); }
    ASSERT_TRUE(cluster_.freeze());

    // The idle connection's ping gets no answer, and neither does a new connect.
    std::string error;
    const double took = bounded("acquire on a frozen server", 30s, [&] {
        try {
            auto lease = pool.acquire("frozen");
            error = "acquired a connection from a frozen server";
        } catch (const pool::PoolTimeout &e) {
            error = e.what();
        }
    });
    EXPECT_THAT(error, HasSubstr("acquire_timeout")) << error;
    EXPECT_LT(took, 3.0 + 1.5) << error;
    // A pool that has no connection yet: the connect itself must give up.
    pool::Pool fresh(settings);
    const double fresh_took = bounded("a first connect to a frozen server", 30s, [&] {
        try {
            auto lease = fresh.acquire("frozen, fresh");
            error = "connected to a frozen server";
        } catch (const pool::PoolTimeout &e) {
            error = e.what();
        }
    });
    EXPECT_THAT(error, HasSubstr("acquire_timeout")) << error;
    EXPECT_LT(fresh_took, 3.0 + 1.5) << error;

    cluster_.thaw();
    const double recovered = bounded("acquire after SIGCONT", 30s, [&] {
        auto lease = pool.acquire("thawed");
        EXPECT_EQ(lease.conn().scalar("SELECT 1"), "1");
    });
    EXPECT_LT(recovered, 3.0);
    std::cout << "[measured] frozen: acquire with an idle connection gave up after " << took
              << " s, a first connect after " << fresh_took << " s; after SIGCONT an acquire took "
              << recovered << " s\n";
}

TEST_F(FaultFrozen, ServeMarksAFrozenServerDownAndKeepsAnsweringScrapes) {
    const int port = test::free_port();
    test::Daemon d(test::write_temp_file(test::config_text(port, cluster_.dsn())));
    ASSERT_TRUE(test::wait_until([&] {
        try {
            return test::scrape(port).value("vigil_up") == 1.0;
        } catch (const std::exception &) {
            return false;
        }
    })) << d.log();
    ASSERT_TRUE(cluster_.freeze());
    const auto frozen_at = Clock::now();
    // Down within its interval (1 s) and its timeouts (validation 5 s, acquire 1 s, connect 5 s);
    // every scrape meanwhile answers at once from memory.
    double slowest = 0;
    bool down = false;
    while (!down && seconds_since(frozen_at) < 20) {
        const auto t0 = Clock::now();
        const auto res = test::get(port, "/metrics");
        slowest = std::max(slowest, seconds_since(t0));
        ASSERT_TRUE(res.has_value()) << "a scrape got no answer while the server was frozen";
        down = test::parse_prometheus((*res)->body).value("vigil_up") == 0.0;
        const auto t1 = Clock::now();
        const auto ready = test::get(port, "/readyz");
        slowest = std::max(slowest, seconds_since(t1));
        ASSERT_TRUE(ready.has_value());
        std::this_thread::sleep_for(200ms);
    }
    const double took = seconds_since(frozen_at);
    EXPECT_TRUE(down) << "vigil_up still 1 after " << took << " s of a frozen server\n" << d.log();
    EXPECT_LT(took, 1.0 + 5.0 + 5.0 + 2.0) << d.log();
    EXPECT_LT(slowest, 1.0) << "a scrape took " << slowest << " s";
    std::cout << "[measured] frozen: vigil_up 0 after " << took << " s; slowest scrape " << slowest << " s\n";
    const auto ready = test::get(port, "/readyz");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ((*ready)->status, 503);

    cluster_.thaw();
    EXPECT_TRUE(test::wait_until([&] { return test::scrape(port).value("vigil_up") == 1.0; }, 30s))
        << "not up again after SIGCONT\n"
        << d.log();
    d.signal(SIGTERM);
    EXPECT_EQ(d.wait_exit(35s), 0) << d.log();
}

// The drain of a serve whose server froze during a poll still ends within its deadline.
TEST_F(FaultFrozen, SigtermWhileTheServerIsFrozenStillDrainsInTime) {
    const int port = test::free_port();
    test::Daemon d(test::write_temp_file(test::config_text(port, cluster_.dsn())), {"--drain-timeout", "2s"});
    ASSERT_TRUE(test::wait_until([&] {
        try {
            return test::scrape(port).value("vigil_up") == 1.0;
        } catch (const std::exception &) {
            return false;
        }
    })) << d.log();
    ASSERT_TRUE(cluster_.freeze());
    std::this_thread::sleep_for(1500ms); // a poll is waiting for the frozen server now
    const auto t0 = Clock::now();
    d.signal(SIGTERM);
    const int code = d.wait_exit(30s);
    const double took = seconds_since(t0);
    cluster_.thaw();
    EXPECT_EQ(code, 0) << d.log();
    EXPECT_LT(took, 2.0 + 3.0) << d.log();
    std::cout << "[measured] frozen: SIGTERM with a 2 s drain exited after " << took << " s\n";
}

// ---- 6. vigild serve killed at random points --------------------------------------------------------

TEST(FaultKill, ServeKilledWithSigkillAtRandomPointsStartsCleanlyEachTime) {
    test::OwnCluster cluster("faults_kill");
    REQUIRE_CLUSTER(cluster);
    make_database(cluster, "app", 300000);
    TempDir dir("kill_backups");
    const auto made =
        test::run_vigild("--dsn '" + cluster.dsn("app") + "' backup create --directory " + dir.path);
    ASSERT_EQ(made.exit_code, 0) << made.output;
    const int port = test::free_port();
    // Verifying at start and every 2 s, polling every 0.5 s: a kill lands in a poll, in a
    // verification (its scratch database and pg_restore), or between them.
    const std::string config =
        test::write_temp_file("[database]\ndsn = \"" + cluster.dsn("app") +
                              "\"\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) +
                              "\"\n[health]\ninterval = \"500ms\"\n[backup]\ndirectory = \"" + dir.path +
                              "\"\nverify_interval = \"2s\"\n");
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pause_ms(200, 2000);
    auto serving = [&] {
        try {
            const auto e = test::scrape(port);
            return e.value("vigil_up") == 1.0;
        } catch (const std::exception &) {
            return false;
        }
    };
    for (int round = 0; round < 6; ++round) {
        test::Daemon d(config);
        const int pause = pause_ms(rng);
        std::this_thread::sleep_for(std::chrono::milliseconds(pause));
        d.signal(SIGKILL);
        EXPECT_NE(d.wait_exit(5s), -1);
        // The next start binds the port and polls.
        test::Daemon next(config);
        const auto t0 = Clock::now();
        EXPECT_TRUE(test::wait_until(serving, 15s))
            << "round " << round << " (killed after " << pause << " ms): the next start is not serving\n"
            << next.log();
        EXPECT_LT(seconds_since(t0), 10.0) << next.log();
        EXPECT_THAT(next.log(), Not(HasSubstr("cannot listen"))) << next.log();
        next.signal(SIGKILL);
        next.wait_exit(5s);
    }
    // A last start that is left to verify: whatever the kills left is gone afterwards.
    test::Daemon last(config);
    ASSERT_TRUE(test::wait_until(
        [&] {
            try {
                return test::scrape(port).value("vigil_backup_verify_success") == 1.0;
            } catch (const std::exception &) {
                return false;
            }
        },
        60s))
        << last.log();
    // A scratch database whose vigild was killed an instant before this start may still have had
    // its lock (the killed one's backend finishing a statement) when the first verification
    // cleaned up: the next one (every 2 s) drops it.
    EXPECT_TRUE(test::wait_until([&] { return scratch_databases(cluster) == 0; }, 20s))
        << "left behind while serving: " << scratch_names(cluster) << "\n"
        << last.log();
    last.signal(SIGTERM);
    EXPECT_EQ(last.wait_exit(35s), 0) << last.log();
    EXPECT_EQ(scratch_databases(cluster), 0) << "left behind: " << scratch_names(cluster);
    db::Connection admin = db::Connection::open(cluster.dsn());
    EXPECT_EQ(admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_restore'"),
              "0")
        << "a pg_restore outlived the vigild that started it";
}

} // namespace
