// Configuration: every key is validated, errors name the file, line and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.hpp"

using namespace vigil;
using ::testing::HasSubstr;

namespace {

std::string error_of(const std::string &toml) {
    try {
        parse_config(toml, "test.toml");
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST(Config, EmptyFileGivesDefaults) {
    Config c = parse_config("", "test.toml");
    EXPECT_EQ(c.pool.max_size, 10);
    EXPECT_EQ(c.metrics.listen, "127.0.0.1:9188");
    EXPECT_DOUBLE_EQ(c.health.interval.count(), 15);
    EXPECT_DOUBLE_EQ(c.backup.max_age.count(), 25 * 3600);
    EXPECT_EQ(c.database.dsn, "");
}

TEST(Config, ReadsEverySection) {
    Config c = parse_config(R"(
[database]
dsn = "host=db1 dbname=app"
[log]
level = "debug"
[pool]
max_size = 20
min_idle = 2
acquire_timeout = "250ms"
max_lifetime = "30min"
named_statements = false
replicas = ["host=r1", "host=r2"]
[metrics]
listen = "127.0.0.1:9999"
[health]
interval = 5
[backup]
directory = "/var/backups/vigil"
retention_count = 3
max_age = "2d"
)",
                            "test.toml");
    EXPECT_EQ(c.database.dsn, "host=db1 dbname=app");
    EXPECT_EQ(c.log.level, "debug");
    EXPECT_EQ(c.pool.max_size, 20);
    EXPECT_EQ(c.pool.min_idle, 2);
    EXPECT_DOUBLE_EQ(c.pool.acquire_timeout.count(), 0.25);
    EXPECT_DOUBLE_EQ(c.pool.max_lifetime.count(), 1800);
    EXPECT_FALSE(c.pool.named_statements);
    EXPECT_EQ(c.pool.replicas.size(), 2u);
    EXPECT_EQ(c.metrics.listen, "127.0.0.1:9999");
    EXPECT_DOUBLE_EQ(c.health.interval.count(), 5);
    EXPECT_EQ(c.backup.directory, "/var/backups/vigil");
    EXPECT_EQ(c.backup.retention_count, 3);
    EXPECT_DOUBLE_EQ(c.backup.max_age.count(), 2 * 86400);
}

TEST(Config, UnknownKeyNamesKeyAndLine) {
    EXPECT_EQ(error_of("[pool]\nmax_size = 5\nmax_sise = 6\n"), "test.toml:3: pool.max_sise: unknown key");
}

TEST(Config, UnknownSectionNamesSectionAndLine) {
    EXPECT_EQ(error_of("\n\n[poool]\nmax_size = 5\n"), "test.toml:3: poool: unknown section");
}

TEST(Config, BadValueNamesKeyLineAndExpectation) {
    EXPECT_THAT(error_of("[pool]\n\nmax_size = \"ten\"\n"),
                HasSubstr("test.toml:3: pool.max_size: must be an integer from 1 to 10000"));
    EXPECT_THAT(error_of("[pool]\nmax_size = 0\n"), HasSubstr("test.toml:2: pool.max_size"));
    EXPECT_THAT(error_of("[pool]\nacquire_timeout = \"soon\"\n"),
                HasSubstr("test.toml:2: pool.acquire_timeout: must be a duration"));
    EXPECT_THAT(error_of("[pool]\nacquire_timeout = -1\n"), HasSubstr("pool.acquire_timeout"));
    EXPECT_THAT(error_of("[log]\nlevel = \"loud\"\n"), HasSubstr("test.toml:2: log.level: must be one of"));
    EXPECT_THAT(error_of("[pool]\nnamed_statements = \"yes\"\n"), HasSubstr("must be true or false"));
    EXPECT_THAT(error_of("[pool]\nreplicas = [\"a\", 3]\n"),
                HasSubstr("pool.replicas: must be an array of strings"));
    EXPECT_THAT(error_of("pool = 3\n"), HasSubstr("test.toml:1: pool: must be a table"));
}

TEST(Config, SyntaxErrorNamesLine) {
    EXPECT_THAT(error_of("[pool]\nmax_size = = 3\n"), HasSubstr("test.toml:2:"));
}

TEST(Config, CrossFieldRules) {
    EXPECT_THAT(error_of("[pool]\nmax_size = 2\nmin_idle = 3\n"),
                HasSubstr("pool.min_idle (3) must not exceed pool.max_size (2)"));
}

TEST(Config, MissingFileIsAnError) {
    EXPECT_THROW(load_config_file("/nonexistent/vigild.toml"), ConfigError);
}

TEST(Duration, ParsesUnits) {
    EXPECT_DOUBLE_EQ(parse_duration("250ms")->count(), 0.25);
    EXPECT_DOUBLE_EQ(parse_duration("30s")->count(), 30);
    EXPECT_DOUBLE_EQ(parse_duration("30")->count(), 30);
    EXPECT_DOUBLE_EQ(parse_duration("5min")->count(), 300);
    EXPECT_DOUBLE_EQ(parse_duration("2 h")->count(), 7200);
    EXPECT_DOUBLE_EQ(parse_duration("1d")->count(), 86400);
    EXPECT_FALSE(parse_duration(""));
    EXPECT_FALSE(parse_duration("s"));
    EXPECT_FALSE(parse_duration("5 parsecs"));
}
