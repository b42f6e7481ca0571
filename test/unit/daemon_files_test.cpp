// The files `make install` ships: the systemd unit passes systemd-analyze verify, the default
// configuration loads, and connection strings are rewritten without losing the password.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.hpp"
#include "dsn_params.hpp"
#include "backup/backup.hpp"
#include "test_support.hpp"

using namespace vigil;
using ::testing::HasSubstr;

TEST(SystemdUnit, PassesSystemdAnalyzeVerifyWithTheRequiredHardening) {
    const std::string unit =
        test::read_file(std::string(VIGIL_SOURCE_DIR) + "/sidecar/systemd/vigild.service");
    for (const char *key :
         {"Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
          "User=vigil", "ReadWritePaths=/var/lib/vigil", "ExecReload=/bin/kill -HUP $MAINPID"})
        EXPECT_THAT(unit, HasSubstr(key));
    // verify checks that ExecStart exists: point it at the binary just built.
    const std::string dir = ::testing::TempDir() + "vigil_unit_" + std::to_string(getpid());
    ASSERT_EQ(test::run_command("mkdir -p " + dir).exit_code, 0);
    std::ofstream(dir + "/vigild.service")
        << std::regex_replace(unit, std::regex("/usr/local/bin/vigild"), std::string(VIGILD_BINARY));
    const auto r = test::run_command("systemd-analyze verify " + dir + "/vigild.service");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, "") << "systemd-analyze reports problems only as messages";
    // A misspelt key is reported: the check above can fail.
    std::ofstream(dir + "/vigild.service", std::ios::app) << "ProtectSystm=strict\n";
    EXPECT_THAT(test::run_command("systemd-analyze verify " + dir + "/vigild.service").output,
                HasSubstr("ProtectSystm"));
    test::run_command("rm -rf " + dir);
}

TEST(DefaultConfig, LoadsAndEqualsTheBuiltInDefaults) {
    const Config c = load_config_file(std::string(VIGIL_SOURCE_DIR) + "/sidecar/vigild.toml");
    EXPECT_TRUE(c == Config{}) << "the shipped file sets something";
    // Every commented value is a valid setting when uncommented, and is the built-in default;
    // the one exception is the backup directory, which has none built in.
    std::string text = test::read_file(std::string(VIGIL_SOURCE_DIR) + "/sidecar/vigild.toml");
    text = std::regex_replace(text, std::regex("\\n# ([a-z_]+ = |\\[\\[[a-z_]+\\]\\])"), "\n$1");
    const Config uncommented = parse_config(text, "uncommented");
    Config expected;
    expected.backup.directory = "/var/lib/vigil/backups";
    // The examples of the arrays of tables, which have no built-in entries.
    TargetConfig target;
    target.name = "db1";
    target.dsn = "host=10.0.0.1 user=vigil";
    expected.targets = {target};
    expected.pgbouncers = {{"bouncer1", "host=127.0.0.1 port=6432 dbname=pgbouncer user=vigil"}};
    EXPECT_TRUE(uncommented == expected);
    EXPECT_EQ(uncommented.backup.directory, "/var/lib/vigil/backups");
    // The comparison can fail: one changed value is seen.
    expected.pool.max_replica_lag = Seconds(11);
    EXPECT_FALSE(uncommented == expected);
}

// Every key vigild reads is in the shipped vigild.toml (under its section) and in
// docs/configuration.md, and neither lists a key vigild does not read.
TEST(DefaultConfig, KeysMatchTheShippedFileAndTheDocs) {
    const std::string toml = test::read_file(std::string(VIGIL_SOURCE_DIR) + "/sidecar/vigild.toml");
    const std::string docs = test::read_file(std::string(VIGIL_SOURCE_DIR) + "/docs/configuration.md");
    const std::vector<std::string> keys = config_keys();
    ASSERT_GT(keys.size(), 20u);
    std::set<std::string> in_toml, in_docs;
    std::string section;
    std::istringstream lines(toml);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_match(line, m, std::regex("\\[([a-z_]+)\\]|# \\[\\[([a-z_]+)\\]\\]")))
            section = m[1].matched ? m[1] : m[2]; // [section], or an example "# [[targets]]"
        else if (std::regex_search(line, m, std::regex("^# ([a-z_]+) = ")))
            in_toml.insert(section + "." + std::string(m[1]));
    }
    const std::string vigild_docs = docs.substr(0, docs.find("## Extension"));
    const std::regex docs_row("\\| `([a-z_]+\\.[a-z_]+)` \\|");
    for (std::sregex_iterator it(vigild_docs.begin(), vigild_docs.end(), docs_row), end; it != end; ++it)
        in_docs.insert((*it)[1]);
    EXPECT_EQ(in_toml, std::set<std::string>(keys.begin(), keys.end()));
    EXPECT_EQ(in_docs, std::set<std::string>(keys.begin(), keys.end()));
}

TEST(DsnParams, SwitchesDatabaseAndSplitsPasswordForChildren) {
    const auto p = parse_dsn(dsn_with("host=h port=5 dbname=a password=se'cret", {{"dbname", "b c"}}));
    EXPECT_EQ(p.at("dbname"), "b c");
    EXPECT_EQ(p.at("password"), "se'cret");
    const ChildDsn child = dsn_for_child("postgresql://u:pw@localhost:5433/app");
    EXPECT_EQ(child.password, std::optional<std::string>("pw"));
    EXPECT_THAT(child.dsn, ::testing::Not(HasSubstr("pw")));
    EXPECT_EQ(parse_dsn(child.dsn).at("port"), "5433");
    EXPECT_THROW(parse_dsn("host='unterminated"), std::invalid_argument);
}

TEST(Backup, ScratchDatabaseNamesAreDistinctAndValid) {
    const std::string a = backup::scratch_database_name(), b = backup::scratch_database_name();
    EXPECT_NE(a, b);
    EXPECT_TRUE(std::regex_match(a, std::regex("vigil_verify_[0-9]+_[0-9a-f]{16}")));
    EXPECT_LT(a.size(), 64u); // NAMEDATALEN
    EXPECT_EQ(backup::manifest_path_for("/b/x.dump"), "/b/x.manifest.json");
}
