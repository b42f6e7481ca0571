// `vigild backup create` / `verify` against the real cluster: the round trip passes, and a
// flipped byte, a truncated dump, changed rows and a stale dump each fail for the right reason.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "db.hpp"
#include "dsn_params.hpp"
#include "exit_codes.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace vigil;
using ::testing::HasSubstr;

namespace {

// A database of its own with a few tables, and a backup directory; both removed afterwards.
class BackupTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::random_device rd;
        name_ = "vigil_bk_" + std::to_string(rd() % 1000000000);
        admin_ = db::Connection::open(test::test_dsn());
        admin_.exec("CREATE DATABASE " + name_);
        dsn_ = dsn_with(test::test_dsn(), {{"dbname", name_}});
        db::Connection c = db::Connection::open(dsn_);
        c.exec("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2), opened "
               "timestamptz,"
               "                       tags text[], doc jsonb, blob bytea, ratio float8)");
        c.exec("INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.25, '2024-01-01'::timestamptz + g * "
               "interval '1 h',"
               "       ARRAY['a', g::text], jsonb_build_object('g', g), decode(md5(g::text), 'hex'), g / 7.0"
               "  FROM generate_series(1, 20000) g");
        c.exec("CREATE SCHEMA \"Other Schema\"; CREATE TABLE \"Other Schema\".\"Odd \"\"Name\"\"\" (v text);"
               "INSERT INTO \"Other Schema\".\"Odd \"\"Name\"\"\" VALUES ('x'), (NULL), ('x')");
        c.exec("CREATE TABLE empty_one (x int)");
        dir_ = ::testing::TempDir() + name_;
        fs::create_directories(dir_);
    }
    void TearDown() override {
        admin_.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        fs::remove_all(dir_);
    }
    test::ProcessResult vigild(const std::string &args) {
        return test::run_vigild("--dsn '" + dsn_ + "' " + args);
    }
    std::string create() {
        auto r = vigild("backup create --json --directory " + dir_);
        EXPECT_EQ(r.exit_code, 0) << r.output;
        return nlohmann::json::parse(r.output.substr(r.output.find('{'))).at("dump");
    }
    nlohmann::json verify(const std::string &target, int expected_exit, const std::string &extra = "") {
        auto r = vigild("backup verify --json " + extra + " '" + target + "'");
        EXPECT_EQ(r.exit_code, expected_exit) << r.output;
        return nlohmann::json::parse(r.output.substr(r.output.find('{')));
    }
    static nlohmann::json step(const nlohmann::json &report, const std::string &name) {
        for (const auto &s : report.at("steps"))
            if (s.at("name") == name)
                return s;
        ADD_FAILURE() << "no step " << name << " in " << report.dump(2);
        return {};
    }
    int scratch_databases() {
        return std::stoi(
            admin_.scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'vigil\\_verify\\_%'"));
    }
    std::string name_, dsn_, dir_;
    db::Connection admin_;
};

} // namespace

TEST_F(BackupTest, RoundTripPassesEveryStepAndDropsTheScratchDatabase) {
    const std::string dump = create();
    const auto manifest = nlohmann::json::parse(
        std::ifstream(fs::path(dump).replace_extension("").string() + ".manifest.json"));
    EXPECT_EQ(manifest.at("database"), name_);
    ASSERT_EQ(manifest.at("tables").size(), 3u);
    EXPECT_EQ(manifest.at("tables")[0].at("name"), "Odd \"Name\"");
    EXPECT_EQ(manifest.at("tables")[0].at("rows"), 3);
    EXPECT_EQ(manifest.at("tables")[1].at("rows"), 20000);
    EXPECT_EQ(manifest.at("tables")[2].at("rows"), 0);

    const auto report = verify(dump, exit_code::ok);
    EXPECT_TRUE(report.at("passed").get<bool>());
    for (const char *name :
         {"file", "manifest", "sha256", "age", "pg_restore_list", "restore", "tables", "drop_scratch"}) {
        EXPECT_EQ(step(report, name).at("status"), "pass") << name;
        EXPECT_GE(step(report, name).at("seconds").get<double>(), 0);
    }
    EXPECT_THAT(step(report, "restore").at("detail").get<std::string>(), HasSubstr("vigil_verify_"));
    EXPECT_EQ(scratch_databases(), 0);
    // The text report says the same.
    auto text = vigild("backup verify '" + dump + "'");
    EXPECT_EQ(text.exit_code, 0) << text.output;
    EXPECT_THAT(text.output, HasSubstr("PASS  tables"));
    EXPECT_THAT(text.output, HasSubstr("verification passed"));
}

TEST_F(BackupTest, ManifestAndDumpComeFromTheSameSnapshotUnderConcurrentWrites) {
    std::atomic<bool> stop{false};
    std::atomic<int> writes{0};
    std::thread writer([&] {
        db::Connection c = db::Connection::open(dsn_);
        for (int i = 100000; !stop; ++i) {
            c.exec("INSERT INTO accounts (id, owner) VALUES (" + std::to_string(i) + ", 'late')");
            c.exec("UPDATE accounts SET balance = balance + 1 WHERE id = " + std::to_string(1 + i % 20000));
            ++writes;
        }
    });
    std::string dump;
    for (int i = 0; i < 3; ++i)
        dump = create();
    stop = true;
    writer.join();
    EXPECT_GT(writes.load(), 10);
    const auto report = verify(dump, exit_code::ok);
    EXPECT_EQ(step(report, "tables").at("status"), "pass") << report.dump(2);
}

TEST_F(BackupTest, FlippedByteFailsTheChecksum) {
    const std::string dump = create();
    {
        std::fstream f(dump, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(fs::file_size(dump) / 2));
        char c;
        f.get(c);
        f.seekp(static_cast<std::streamoff>(fs::file_size(dump) / 2));
        f.put(static_cast<char>(c ^ 0x01));
    }
    const auto report = verify(dump, exit_code::data_error);
    EXPECT_FALSE(report.at("passed").get<bool>());
    EXPECT_EQ(step(report, "sha256").at("status"), "fail");
    EXPECT_THAT(step(report, "sha256").at("detail").get<std::string>(), HasSubstr("content changed"));
    EXPECT_EQ(scratch_databases(), 0);
}

TEST_F(BackupTest, TruncatedDumpFailsChecksumAndRestore) {
    const std::string dump = create();
    fs::resize_file(dump, fs::file_size(dump) / 2);
    const auto report = verify(dump, exit_code::data_error);
    EXPECT_EQ(step(report, "sha256").at("status"), "fail");
    EXPECT_THAT(step(report, "sha256").at("detail").get<std::string>(), HasSubstr("truncated"));
    EXPECT_EQ(step(report, "restore").at("status"), "fail") << report.dump(2);
    EXPECT_EQ(scratch_databases(), 0);
}

TEST_F(BackupTest, DumpWhoseRowsDifferFromTheManifestFailsTheTableCheck) {
    // A dump of changed data under the original manifest (its checksum updated, so only the
    // row comparison can notice): one row updated, one row deleted.
    const std::string original = create();
    db::Connection c = db::Connection::open(dsn_);
    c.exec("UPDATE accounts SET owner = 'changed' WHERE id = 42");
    c.exec("DELETE FROM \"Other Schema\".\"Odd \"\"Name\"\"\" WHERE v IS NULL");
    std::this_thread::sleep_for(std::chrono::milliseconds(5)); // a distinct file name
    const std::string changed = create();
    fs::copy_file(changed, original, fs::copy_options::overwrite_existing);
    const std::string manifest_path = fs::path(original).replace_extension("").string() + ".manifest.json";
    auto manifest = nlohmann::json::parse(std::ifstream(manifest_path));
    auto changed_manifest = nlohmann::json::parse(
        std::ifstream(fs::path(changed).replace_extension("").string() + ".manifest.json"));
    manifest["dump_sha256"] = changed_manifest["dump_sha256"];
    manifest["dump_size"] = changed_manifest["dump_size"];
    std::ofstream(manifest_path) << manifest.dump();

    const auto report = verify(original, exit_code::data_error);
    EXPECT_EQ(step(report, "sha256").at("status"), "pass");
    EXPECT_EQ(step(report, "restore").at("status"), "pass");
    const auto tables = step(report, "tables");
    EXPECT_EQ(tables.at("status"), "fail");
    const std::string detail = tables.at("detail");
    EXPECT_THAT(detail, HasSubstr("public.accounts: row checksum differs"));
    EXPECT_THAT(detail, HasSubstr("Other Schema.Odd \"Name\": 2 rows restored, manifest has 3"));
    EXPECT_EQ(scratch_databases(), 0);
}

TEST_F(BackupTest, StaleDumpFailsTheAgeCheck) {
    const std::string dump = create();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    const std::string config = test::write_temp_file("[backup]\nmax_age = \"1s\"\n");
    auto r = vigild("--config " + config + " backup verify --json '" + dump + "'");
    EXPECT_EQ(r.exit_code, exit_code::data_error) << r.output;
    const auto report = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    EXPECT_EQ(step(report, "age").at("status"), "fail");
    EXPECT_THAT(step(report, "age").at("detail").get<std::string>(), HasSubstr("stale"));
    EXPECT_EQ(step(report, "tables").at("status"), "pass"); // everything else still holds
    // --max-age on the command line wins over the file.
    verify(dump, exit_code::ok, "--max-age 1h --config " + config);
}

TEST_F(BackupTest, MissingFileAndMissingManifestSayWhatCouldNotRun) {
    const auto missing = verify(dir_ + "/nope.dump", exit_code::no_input);
    EXPECT_EQ(step(missing, "file").at("status"), "fail");
    EXPECT_EQ(step(missing, "restore").at("status"), "skip");

    const std::string dump = create();
    const std::string bare = dir_ + "/foreign.dump";
    fs::copy_file(dump, bare);
    const auto report = verify(bare, exit_code::data_error);
    EXPECT_EQ(step(report, "manifest").at("status"), "skip");
    EXPECT_THAT(step(report, "manifest").at("detail").get<std::string>(), HasSubstr("cannot run"));
    EXPECT_EQ(step(report, "sha256").at("status"), "skip");
    EXPECT_EQ(step(report, "tables").at("status"), "skip");
    EXPECT_EQ(step(report, "restore").at("status"), "pass"); // what can run, runs
}

TEST_F(BackupTest, RetentionKeepsTheNewestBackups) {
    const std::string config =
        test::write_temp_file("[backup]\nretention_count = 2\ndirectory = \"" + dir_ + "\"\n");
    std::vector<std::string> dumps;
    for (int i = 0; i < 3; ++i) {
        auto r = vigild("--config " + config + " backup create --json");
        ASSERT_EQ(r.exit_code, 0) << r.output;
        dumps.push_back(nlohmann::json::parse(r.output.substr(r.output.find('{'))).at("dump"));
    }
    EXPECT_FALSE(fs::exists(dumps[0]));
    EXPECT_TRUE(fs::exists(dumps[1]));
    EXPECT_TRUE(fs::exists(dumps[2]));
    // A directory target verifies its newest backup.
    const auto report = verify(dir_, exit_code::ok);
    EXPECT_EQ(report.at("target"), dumps[2]);
}

TEST_F(BackupTest, UnreachableDatabaseIsExitCode69AndLeavesNoFile) {
    auto r =
        test::run_vigild("--dsn 'host=127.0.0.1 port=1 connect_timeout=2' backup create --directory " + dir_);
    EXPECT_EQ(r.exit_code, exit_code::unavailable) << r.output;
    EXPECT_TRUE(fs::is_empty(dir_));
    // Verification needs the server for the restore: the checks that can run still run.
    const std::string dump = create();
    auto v = test::run_vigild("--dsn 'host=127.0.0.1 port=1 connect_timeout=2' backup verify --json '" +
                              dump + "'");
    EXPECT_EQ(v.exit_code, exit_code::unavailable) << v.output;
    const auto report = nlohmann::json::parse(v.output.substr(v.output.find('{')));
    EXPECT_EQ(step(report, "sha256").at("status"), "pass");
    EXPECT_EQ(step(report, "restore").at("status"), "fail");
    EXPECT_EQ(step(report, "tables").at("status"), "skip");
}

TEST_F(BackupTest, BaseBackupVerifiesAndRestoreTestStartsAnInstance) {
    const char *bindir = std::getenv("VIGIL_TEST_PG_BINDIR");
    ASSERT_NE(bindir, nullptr);
    const std::string base = dir_ + "/base";
    auto taken = test::run_command(std::string(bindir) + "/pg_basebackup -d '" + test::test_dsn() + "' -D " +
                                   base + " -X stream -c fast");
    ASSERT_EQ(taken.exit_code, 0) << taken.output;
    auto ok = vigild("backup verify --restore-test --json " + base);
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_THAT(ok.output, HasSubstr("throwaway instance started"));
    // A damaged data file is caught by pg_verifybackup.
    std::ofstream(base + "/global/pg_control", std::ios::app) << "x";
    auto bad = vigild("backup verify --restore-test --json " + base);
    EXPECT_EQ(bad.exit_code, exit_code::data_error) << bad.output;
    const auto report = nlohmann::json::parse(bad.output.substr(bad.output.find('{')));
    EXPECT_EQ(step(report, "pg_verifybackup").at("status"), "fail");
    EXPECT_EQ(step(report, "restore_test").at("status"), "skip");
}

TEST_F(BackupTest, RetentionByDaysRemovesOldBackupsButNeverTheNewOne) {
    const std::string config =
        test::write_temp_file("[backup]\nretention_days = 1\ndirectory = \"" + dir_ + "\"\n");
    const std::string old_dump = create();
    // Age the first backup by two days in its manifest (retention reads the snapshot time there).
    const std::string manifest_path = fs::path(old_dump).replace_extension("").string() + ".manifest.json";
    auto manifest = nlohmann::json::parse(std::ifstream(manifest_path));
    manifest["created_at"] = manifest["created_at"].get<double>() - 2 * 86400;
    std::ofstream(manifest_path) << manifest.dump();
    auto r = vigild("--config " + config + " backup create");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("(retention)"));
    EXPECT_FALSE(fs::exists(old_dump));
    EXPECT_FALSE(fs::exists(manifest_path));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2); // dump + manifest
}

TEST_F(BackupTest, UnwritableDirectoryIsExitCode73) {
    auto r = vigild("backup create --directory /proc/vigil_cannot_exist");
    EXPECT_EQ(r.exit_code, exit_code::cant_create) << r.output;
    EXPECT_THAT(r.output, HasSubstr("backup failed"));
    auto none = test::run_vigild("backup verify");
    EXPECT_EQ(none.exit_code, exit_code::usage) << none.output;
    EXPECT_THAT(none.output, HasSubstr("backup.directory"));
}
