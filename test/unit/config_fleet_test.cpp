// The fleet's settings: [[targets]], [discovery], [[pgbouncers]], [web], [history]; every bad value
// is an error naming the file, line and key, and the fleet's targets resolve from them.
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.hpp"
#include "dsn_params.hpp"
#include "fleet/targets.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

std::string error_of(const std::string &toml) {
    try {
        parse_config(toml, "fleet.toml");
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST(ConfigTargets, ReadsEveryKeyOfEveryTarget) {
    const Config c = parse_config(R"(
[[targets]]
name = "db1"
dsn = "host=10.0.0.1 user=vigil"
databases = ["app", "billing"]
connections = 3
timeout = "2s"

[[targets]]
name = "db2.eu-west"
dsn = "postgresql://vigil@10.0.0.2/postgres"
)",
                                  "fleet.toml");
    ASSERT_EQ(c.targets.size(), 2u);
    EXPECT_EQ(c.targets[0].name, "db1");
    EXPECT_EQ(c.targets[0].dsn, "host=10.0.0.1 user=vigil");
    EXPECT_EQ(c.targets[0].databases, (std::vector<std::string>{"app", "billing"}));
    EXPECT_EQ(c.targets[0].connections, 3);
    EXPECT_DOUBLE_EQ(c.targets[0].timeout.count(), 2);
    EXPECT_EQ(c.targets[1].name, "db2.eu-west");
    EXPECT_TRUE(c.targets[1].databases.empty()); // every database
    EXPECT_EQ(c.targets[1].connections, 2);
    EXPECT_DOUBLE_EQ(c.targets[1].timeout.count(), 10);
}

TEST(ConfigTargets, BadTargetsNameTheFileLineAndKey) {
    EXPECT_EQ(
        error_of(
            "[[targets]]\nname = \"a\"\ndsn = \"host=x\"\n[[targets]]\nname = \"a\"\ndsn = \"host=y\"\n"),
        "fleet.toml:4: targets.name: \"a\" names two [[targets]]");
    EXPECT_THAT(error_of("[[targets]]\nname = \"has space\"\ndsn = \"host=x\"\n"),
                HasSubstr("fleet.toml:2: targets.name: must be 1 to 63 letters"));
    EXPECT_THAT(error_of("[[targets]]\nname = \"x\\\"}\"\ndsn = \"host=x\"\n"),
                HasSubstr("targets.name: must be"));
    EXPECT_THAT(error_of("[[targets]]\nname = \"\"\ndsn = \"host=x\"\n"), HasSubstr("targets.name: must be"));
    EXPECT_THAT(error_of("[[targets]]\nname = \"" + std::string(64, 'a') + "\"\ndsn = \"host=x\"\n"),
                HasSubstr("targets.name: must be 1 to 63"));
    EXPECT_EQ(error_of("[[targets]]\nname = \"a\"\ndsn = \"\"\n"),
              "fleet.toml:3: targets.dsn: must not be empty");
    EXPECT_THAT(error_of("[[targets]]\nname = \"a\"\n"),
                HasSubstr("fleet.toml:1: targets.dsn: missing (every [[targets]] needs dsn)"));
    EXPECT_THAT(error_of("[[targets]]\ndsn = \"host=x\"\n"), HasSubstr("targets.name: missing"));
    EXPECT_EQ(error_of("[[targets]]\nname = \"a\"\ndsn = \"host=x\"\nport = 5\n"),
              "fleet.toml:4: targets.port: unknown key");
    EXPECT_THAT(error_of("[[targets]]\nname = \"a\"\ndsn = \"host=x\"\nconnections = 0\n"),
                HasSubstr("fleet.toml:4: targets.connections: must be an integer from 1 to 100"));
    EXPECT_THAT(error_of("[[targets]]\nname = \"a\"\ndsn = \"host=x\"\ntimeout = \"0s\"\n"),
                HasSubstr("fleet.toml:4: targets.timeout: must be at least 100ms"));
    EXPECT_THAT(error_of("[[targets]]\nname = \"a\"\ndsn = \"host=x\"\ndatabases = [\"app\", \"app\"]\n"),
                HasSubstr("targets.databases: lists \"app\" twice"));
    EXPECT_THAT(error_of("[[targets]]\nname = \"a\"\ndsn = \"host=x\"\ndatabases = [\"\"]\n"),
                HasSubstr("targets.databases: must not contain an empty database name"));
    EXPECT_THAT(error_of("[targets]\nname = \"a\"\n"),
                HasSubstr("fleet.toml:1: targets: must be an array of tables"));
}

TEST(ConfigTargets, ADsnLibpqRefusesIsAnErrorThatNeverRepeatsIt) {
    const std::string e = error_of("[[targets]]\nname = \"a\"\ndsn = \"host=x password=s3cret garbage\"\n");
    EXPECT_THAT(e, HasSubstr("fleet.toml:3: targets.dsn: is not a connection string libpq accepts"));
    EXPECT_THAT(e, ::testing::Not(HasSubstr("s3cret")));
}

TEST(ConfigDiscovery, ReadsAndValidatesThePatroniSection) {
    const Config c =
        parse_config("[discovery]\npatroni = \"http://127.0.0.1:8008\"\ninterval = \"5s\"\n"
                     "dsn = \"user=vigil dbname=postgres\"\ndatabases = [\"app\"]\nconnections = 1\n"
                     "timeout = \"3s\"\n",
                     "fleet.toml");
    EXPECT_EQ(c.discovery.patroni, "http://127.0.0.1:8008");
    EXPECT_DOUBLE_EQ(c.discovery.interval.count(), 5);
    EXPECT_EQ(c.discovery.dsn, "user=vigil dbname=postgres");
    EXPECT_EQ(c.discovery.databases, std::vector<std::string>{"app"});
    EXPECT_EQ(c.discovery.connections, 1);
    EXPECT_DOUBLE_EQ(c.discovery.timeout.count(), 3);
    EXPECT_THAT(error_of("[discovery]\npatroni = \"p:8008\"\n"),
                HasSubstr("fleet.toml:2: discovery.patroni: must be an http:// or https:// URL"));
    EXPECT_THAT(error_of("[discovery]\ninterval = \"100ms\"\n"),
                HasSubstr("discovery.interval: must be at least 1s"));
}

TEST(ConfigOtherSections, WebHistoryAndPgbouncersAreRead) {
    const Config c = parse_config(R"(
[web]
console = false
auth = "basic"
auth_file = "/etc/vigil/users"
admin_token_file = "/etc/vigil/admin"
[history]
path = "/var/lib/vigil/h.sqlite3"
interval = "30s"
retention = "7d"
[[pgbouncers]]
name = "bouncer1"
dsn = "host=127.0.0.1 port=6432 dbname=pgbouncer"
)",
                                  "fleet.toml");
    EXPECT_FALSE(c.web.console);
    EXPECT_EQ(c.web.auth, "basic");
    EXPECT_EQ(c.web.auth_file, "/etc/vigil/users");
    EXPECT_EQ(c.web.admin_token_file, "/etc/vigil/admin");
    EXPECT_EQ(c.history.path, "/var/lib/vigil/h.sqlite3");
    EXPECT_DOUBLE_EQ(c.history.interval.count(), 30);
    EXPECT_DOUBLE_EQ(c.history.retention.count(), 7 * 86400);
    ASSERT_EQ(c.pgbouncers.size(), 1u);
    EXPECT_EQ(c.pgbouncers[0].name, "bouncer1");
    EXPECT_THAT(error_of("[web]\nauth = \"magic\"\n"), HasSubstr("fleet.toml:2: web.auth: must be"));
    EXPECT_THAT(error_of("[web]\nauth = \"bearer\"\n"),
                HasSubstr("web.auth = \"bearer\" needs web.auth_file"));
    EXPECT_THAT(error_of("[[pgbouncers]]\nname = \"b\"\n"), HasSubstr("pgbouncers.dsn: missing"));
}

TEST(ConfigEquality, SeesAChangedTarget) {
    const std::string text = "[[targets]]\nname = \"a\"\ndsn = \"host=x\"\n";
    const Config a = parse_config(text, "a"), b = parse_config(text, "b");
    EXPECT_TRUE(a == b);
    Config c = b;
    c.targets[0].connections = 3;
    EXPECT_FALSE(a == c);
    c = b;
    c.discovery.patroni = "http://p:8008";
    EXPECT_FALSE(a == c);
}

TEST(FleetTargets, WithoutTargetsTheOneDsnIsTheTargetDefault) {
    const auto targets = fleet::configured_targets(Config{}, "host=db dbname=app");
    ASSERT_EQ(targets.size(), 1u);
    EXPECT_EQ(targets[0].name, "default");
    EXPECT_EQ(targets[0].dsn, "host=db dbname=app");
    EXPECT_TRUE(targets[0].own_database_only);
    EXPECT_FALSE(fleet::has_fleet(Config{}));
}

TEST(FleetTargets, ConfiguredTargetsKeepTheirSettingsAndSwitchDatabases) {
    const Config c = parse_config("[[targets]]\nname = \"a\"\ndsn = \"host=x dbname=postgres\"\n"
                                  "databases = [\"app\"]\nconnections = 4\ntimeout = \"1s\"\n",
                                  "t");
    EXPECT_TRUE(fleet::has_fleet(c));
    const auto targets = fleet::configured_targets(c, "host=ignored");
    ASSERT_EQ(targets.size(), 1u);
    EXPECT_EQ(targets[0].name, "a");
    EXPECT_FALSE(targets[0].own_database_only);
    EXPECT_EQ(targets[0].connections, 4);
    EXPECT_EQ(parse_dsn(fleet::database_dsn(targets[0], "app")),
              (std::map<std::string, std::string>{{"dbname", "app"}, {"host", "x"}}));
    EXPECT_EQ(fleet::database_dsn(targets[0], ""), "host=x dbname=postgres");
}

// Every TOML example of docs/fleet.md is a configuration vigild accepts.
TEST(FleetDocs, EveryTomlExampleParses) {
    std::ifstream in(std::string(VIGIL_SOURCE_DIR) + "/docs/fleet.md");
    std::stringstream text;
    text << in.rdbuf();
    const std::string doc = text.str();
    int examples = 0;
    for (std::size_t at = doc.find("```toml\n"); at != std::string::npos; at = doc.find("```toml\n", at)) {
        const std::size_t begin = at + 8, end = doc.find("```", begin);
        ASSERT_NE(end, std::string::npos);
        const std::string example = doc.substr(begin, end - begin);
        EXPECT_NO_THROW(parse_config(example, "docs/fleet.md example " + std::to_string(++examples)))
            << example;
        at = end + 3;
    }
    EXPECT_GE(examples, 2);
}
