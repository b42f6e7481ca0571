// config.hpp — vigild's configuration: TOML file, then environment, then flags (flags win).
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vigil {

using Seconds = std::chrono::duration<double>;

// A configuration error; the message names the file, line and key.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct DatabaseConfig {
    std::string dsn; // empty: libpq defaults (PG* environment variables)
};

struct LogConfig {
    std::string level = "info"; // trace, debug, info, warn, error, critical, off
};

struct PoolConfig {
    int max_size = 10;
    int min_idle = 0;
    Seconds acquire_timeout{30};
    Seconds idle_timeout{600};
    Seconds max_lifetime{1800};
    Seconds validation_interval{30};
    Seconds validation_timeout{5};       // longest wait for a ping (and a rollback on return); 0: no bound
    Seconds statement_timeout{0};        // 0: the server's default
    Seconds leak_detection_threshold{0}; // 0: off
    std::string application_name = "vigild";
    bool named_statements = true; // false for PgBouncer in transaction mode
    Seconds max_replica_lag{10};
    std::vector<std::string> replicas; // DSNs of read replicas
};

struct MetricsConfig {
    std::string listen = "127.0.0.1:9188";
    Seconds slow_query_threshold{1}; // queries slower than this count as slow
    int top_tables = 20;             // the largest tables get per-table metrics; 0: none
    int top_statements = 20;         // the statements of most total time get metrics; 0: none
};

struct HealthConfig {
    Seconds interval{15};
};

struct BackupConfig {
    std::string directory;
    int retention_count = 7;
    int retention_days = 0; // 0: keep by count only
    Seconds max_age{25 * 3600};
    Seconds verify_interval{0}; // 0: no periodic verification in serve
    std::string pg_bindir;      // where pg_dump, pg_restore, ... are; empty: PostgreSQL 15's, else PATH
};

// One server of the fleet ([[targets]]). A configuration without targets and without discovery
// is a fleet of one: the target "default" with database.dsn (or --dsn / VIGIL_DSN).
struct TargetConfig {
    std::string name;                   // unique; the `target` label
    std::string dsn;                    // its dbname (if any) is replaced per database
    std::vector<std::string> databases; // empty: every connectable non-template database
    int connections = 2;                // most connections the target's polls hold at once
    Seconds timeout{10};                // connect and statement timeout of one poll query
};

// [discovery]: the members of a Patroni cluster become targets (refreshed every `interval`).
struct DiscoveryConfig {
    std::string patroni; // "http://127.0.0.1:8008"; empty: no discovery
    Seconds interval{10};
    std::string dsn; // user, password, sslmode, ... for the members; host and port come from Patroni
    std::vector<std::string> databases; // as TargetConfig::databases
    int connections = 2;
    Seconds timeout{10};
};

// [[pgbouncers]]: a PgBouncer admin console (dbname=pgbouncer) to monitor.
struct PgBouncerConfig {
    std::string name;
    std::string dsn;
};

// [web]: the console on the metrics listener.
struct WebConfig {
    bool console = true;
    std::string auth;             // "": none (loopback only), "basic" or "bearer"
    std::string auth_file;        // basic: "user:password" lines; bearer: the token
    std::string admin_token_file; // enables the actions; empty: read-only console
};

// [history]: the console's embedded store.
struct HistoryConfig {
    std::string path; // empty: history.sqlite3 in the state directory
    Seconds interval{60};
    Seconds retention{14 * 24 * 3600};
    Seconds slow_interval{300}; // table sizes and statement counters (history::Resolution)
};

struct Config {
    std::string source; // the file it was read from, empty for built-in defaults
    DatabaseConfig database;
    LogConfig log;
    PoolConfig pool;
    MetricsConfig metrics;
    HealthConfig health;
    BackupConfig backup;
    std::vector<TargetConfig> targets;
    DiscoveryConfig discovery;
    std::vector<PgBouncerConfig> pgbouncers;
    WebConfig web;
    HistoryConfig history;
};

// Each section compares by value (the daemon's reload and the default-config test use this).
bool operator==(const DatabaseConfig &a, const DatabaseConfig &b);
bool operator==(const LogConfig &a, const LogConfig &b);
bool operator==(const PoolConfig &a, const PoolConfig &b);
bool operator==(const MetricsConfig &a, const MetricsConfig &b);
bool operator==(const HealthConfig &a, const HealthConfig &b);
bool operator==(const BackupConfig &a, const BackupConfig &b);
bool operator==(const TargetConfig &a, const TargetConfig &b);
bool operator==(const DiscoveryConfig &a, const DiscoveryConfig &b);
bool operator==(const PgBouncerConfig &a, const PgBouncerConfig &b);
bool operator==(const WebConfig &a, const WebConfig &b);
bool operator==(const HistoryConfig &a, const HistoryConfig &b);
// Every setting but `source`.
bool operator==(const Config &a, const Config &b);

// A name fit for a label value and a URL (targets, pgbouncers): 1 to 63 letters, digits, '_', '-', '.'.
bool is_label_safe_name(const std::string &name);

// Every key vigild understands, as "section.key" ("targets.name" for [[targets]]), sorted.
std::vector<std::string> config_keys();

// Reads and validates a TOML file; unknown keys and bad values throw ConfigError.
Config load_config_file(const std::string &path);

// Parses TOML text; `source` names it in error messages.
Config parse_config(const std::string &toml_text, const std::string &source);

// Parses a duration: a number of seconds, or a string such as "250ms", "30s", "5min", "2h", "7d".
std::optional<Seconds> parse_duration(const std::string &text);

// Picks the connection string: --dsn, else VIGIL_DSN, else database.dsn, else "" (libpq defaults).
std::string resolve_dsn(const std::optional<std::string> &flag_dsn, const Config &config);

} // namespace vigil
