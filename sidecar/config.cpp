// config.cpp — loading and validating vigild's TOML configuration.
#include "config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <toml++/toml.h>

#include "dsn_params.hpp"

namespace vigil {

namespace {

std::string where(const std::string &source, const toml::node &node, const std::string &key) {
    std::ostringstream out;
    out << (source.empty() ? "<config>" : source) << ":" << node.source().begin.line << ": " << key;
    return out.str();
}

[[noreturn]] void bad_value(const std::string &source, const toml::node &node, const std::string &key,
                            const std::string &expected) {
    throw ConfigError(where(source, node, key) + ": " + expected);
}

// The value checks every key shares; each throws ConfigError naming the file, line and key.
struct Values {
    std::string source;

    std::string string(const toml::node &n, const std::string &key) const {
        if (!n.is_string())
            bad_value(source, n, key, "must be a string");
        return **n.as_string();
    }
    int integer(const toml::node &n, const std::string &key, long min, long max) const {
        if (!n.is_integer() || **n.as_integer() < min || **n.as_integer() > max)
            bad_value(source, n, key,
                      "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
        return static_cast<int>(**n.as_integer());
    }
    bool boolean(const toml::node &n, const std::string &key) const {
        if (!n.is_boolean())
            bad_value(source, n, key, "must be true or false");
        return **n.as_boolean();
    }
    Seconds duration(const toml::node &n, const std::string &key) const {
        std::optional<Seconds> d;
        if (n.is_string())
            d = parse_duration(**n.as_string());
        else if (n.is_integer())
            d = Seconds(static_cast<double>(**n.as_integer()));
        else if (n.is_floating_point())
            d = Seconds(**n.as_floating_point());
        if (!d || d->count() < 0 || !std::isfinite(d->count()))
            bad_value(
                source, n, key,
                "must be a duration such as \"500ms\", \"30s\", \"5min\", \"2h\" or a number of seconds");
        return *d;
    }
    // A duration of at least `min` (timeouts and intervals of the fleet: 0 would mean "never wait").
    Seconds duration_at_least(const toml::node &n, const std::string &key, Seconds min,
                              const std::string &min_text) const {
        const Seconds d = duration(n, key);
        if (d < min)
            bad_value(source, n, key, "must be at least " + min_text);
        return d;
    }
    std::vector<std::string> strings(const toml::node &n, const std::string &key) const {
        const toml::array *arr = n.as_array();
        if (!arr)
            bad_value(source, n, key, "must be an array of strings");
        std::vector<std::string> out;
        for (const toml::node &item : *arr) {
            if (!item.is_string())
                bad_value(source, item, key, "must be an array of strings");
            out.push_back(**item.as_string());
        }
        return out;
    }
    // A libpq connection string libpq accepts; its text is never repeated (it may hold a password).
    std::string dsn(const toml::node &n, const std::string &key, bool required) const {
        std::string text = string(n, key);
        if (text.empty()) {
            if (required)
                bad_value(source, n, key, "must not be empty");
            return text;
        }
        try {
            dsn_settings(text);
        } catch (const InvalidDsn &) {
            bad_value(source, n, key,
                      "is not a connection string libpq accepts (keyword=value pairs or a URI)");
        }
        return text;
    }
    // A name that is used as a label value and in URLs: letters, digits, '_', '-', '.', at most 63.
    std::string name(const toml::node &n, const std::string &key) const {
        std::string text = string(n, key);
        if (!is_label_safe_name(text))
            bad_value(source, n, key,
                      "must be 1 to 63 letters, digits, '_', '-' or '.' (it becomes a metric label), got \"" +
                          text + "\"");
        return text;
    }
    // Database names of a target: distinct and not empty.
    std::vector<std::string> databases(const toml::node &n, const std::string &key) const {
        std::vector<std::string> out = strings(n, key);
        std::set<std::string> seen;
        for (const std::string &d : out) {
            if (d.empty())
                bad_value(source, n, key, "must not contain an empty database name");
            if (!seen.insert(d).second)
                bad_value(source, n, key, "lists \"" + d + "\" twice");
        }
        return out;
    }
};

// One setter per key of an object of type T; it validates the node and stores the value.
template <typename T> using Setter = std::function<void(const toml::node &, const std::string &key, T &)>;
template <typename T> using Keys = std::map<std::string, Setter<T>>;

// Setters on a field of a section of Config, reached by member pointers.
struct Reader {
    Values v;

    template <typename Section>
    Setter<Config> string(Section Config::*section, std::string Section::*field) const {
        return [v = v, section, field](const toml::node &n, const std::string &key, Config &c) {
            c.*section.*field = v.string(n, key);
        };
    }
    template <typename Section>
    Setter<Config> integer(Section Config::*section, int Section::*field, long min, long max) const {
        return [v = v, section, field, min, max](const toml::node &n, const std::string &key, Config &c) {
            c.*section.*field = v.integer(n, key, min, max);
        };
    }
    template <typename Section> Setter<Config> boolean(Section Config::*section, bool Section::*field) const {
        return [v = v, section, field](const toml::node &n, const std::string &key, Config &c) {
            c.*section.*field = v.boolean(n, key);
        };
    }
    template <typename Section>
    Setter<Config> duration(Section Config::*section, Seconds Section::*field) const {
        return [v = v, section, field](const toml::node &n, const std::string &key, Config &c) {
            c.*section.*field = v.duration(n, key);
        };
    }
    template <typename Section>
    Setter<Config> strings(Section Config::*section, std::vector<std::string> Section::*field) const {
        return [v = v, section, field](const toml::node &n, const std::string &key, Config &c) {
            c.*section.*field = v.strings(n, key);
        };
    }
    // Any check of Values on a field.
    template <typename Section, typename Field>
    Setter<Config>
    with(Section Config::*section, Field Section::*field,
         std::function<Field(const Values &, const toml::node &, const std::string &)> read) const {
        return [v = v, section, field, read](const toml::node &n, const std::string &key, Config &c) {
            c.*section.*field = read(v, n, key);
        };
    }
};

// The keys of one [[targets]] table.
Keys<TargetConfig> target_keys(const Values &v) {
    return {
        {"name", [v](const toml::node &n, const std::string &k, TargetConfig &t) { t.name = v.name(n, k); }},
        {"dsn",
         [v](const toml::node &n, const std::string &k, TargetConfig &t) { t.dsn = v.dsn(n, k, true); }},
        {"databases", [v](const toml::node &n, const std::string &k,
                          TargetConfig &t) { t.databases = v.databases(n, k); }},
        {"connections", [v](const toml::node &n, const std::string &k,
                            TargetConfig &t) { t.connections = v.integer(n, k, 1, 100); }},
        {"timeout", [v](const toml::node &n, const std::string &k,
                        TargetConfig &t) { t.timeout = v.duration_at_least(n, k, Seconds(0.1), "100ms"); }},
    };
}

// The keys of one [[pgbouncers]] table.
Keys<PgBouncerConfig> pgbouncer_keys(const Values &v) {
    return {
        {"name",
         [v](const toml::node &n, const std::string &k, PgBouncerConfig &p) { p.name = v.name(n, k); }},
        {"dsn",
         [v](const toml::node &n, const std::string &k, PgBouncerConfig &p) { p.dsn = v.dsn(n, k, true); }},
    };
}

// The schema of the plain sections: every key vigild understands. Anything else is an error.
std::map<std::string, Keys<Config>> schema(const std::string &source) {
    const Reader r{Values{source}};
    using C = Config;
    return {
        {"database", {{"dsn", r.string(&C::database, &DatabaseConfig::dsn)}}},
        {"log",
         {{"level",
           [src = source](const toml::node &n, const std::string &key, Config &c) {
               static const char *levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
               if (n.is_string())
                   for (const char *l : levels)
                       if (**n.as_string() == l) {
                           c.log.level = l;
                           return;
                       }
               bad_value(src, n, key, "must be one of trace, debug, info, warn, error, critical, off");
           }}}},
        {"pool",
         {{"max_size", r.integer(&C::pool, &PoolConfig::max_size, 1, 10000)},
          {"min_idle", r.integer(&C::pool, &PoolConfig::min_idle, 0, 10000)},
          {"acquire_timeout", r.duration(&C::pool, &PoolConfig::acquire_timeout)},
          {"idle_timeout", r.duration(&C::pool, &PoolConfig::idle_timeout)},
          {"max_lifetime", r.duration(&C::pool, &PoolConfig::max_lifetime)},
          {"validation_interval", r.duration(&C::pool, &PoolConfig::validation_interval)},
          {"validation_timeout", r.duration(&C::pool, &PoolConfig::validation_timeout)},
          {"statement_timeout", r.duration(&C::pool, &PoolConfig::statement_timeout)},
          {"leak_detection_threshold", r.duration(&C::pool, &PoolConfig::leak_detection_threshold)},
          {"application_name", r.string(&C::pool, &PoolConfig::application_name)},
          {"named_statements", r.boolean(&C::pool, &PoolConfig::named_statements)},
          {"max_replica_lag", r.duration(&C::pool, &PoolConfig::max_replica_lag)},
          {"replicas", r.strings(&C::pool, &PoolConfig::replicas)}}},
        {"metrics",
         {{"listen", r.string(&C::metrics, &MetricsConfig::listen)},
          {"slow_query_threshold", r.duration(&C::metrics, &MetricsConfig::slow_query_threshold)},
          {"top_tables", r.integer(&C::metrics, &MetricsConfig::top_tables, 0, 1000)},
          {"top_statements", r.integer(&C::metrics, &MetricsConfig::top_statements, 0, 1000)}}},
        {"health", {{"interval", r.duration(&C::health, &HealthConfig::interval)}}},
        {"backup",
         {{"directory", r.string(&C::backup, &BackupConfig::directory)},
          {"retention_count", r.integer(&C::backup, &BackupConfig::retention_count, 1, 100000)},
          {"retention_days", r.integer(&C::backup, &BackupConfig::retention_days, 0, 100000)},
          {"max_age", r.duration(&C::backup, &BackupConfig::max_age)},
          {"verify_interval", r.duration(&C::backup, &BackupConfig::verify_interval)},
          {"pg_bindir", r.string(&C::backup, &BackupConfig::pg_bindir)}}},
        {"discovery",
         {{"patroni",
           r.with<DiscoveryConfig, std::string>(
               &C::discovery, &DiscoveryConfig::patroni,
               [](const Values &v, const toml::node &n, const std::string &k) {
                   std::string url = v.string(n, k);
                   if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
                       bad_value(v.source, n, k,
                                 "must be an http:// or https:// URL of Patroni's REST API, such as "
                                 "\"http://127.0.0.1:8008\"");
                   return url;
               })},
          {"interval",
           r.with<DiscoveryConfig, Seconds>(&C::discovery, &DiscoveryConfig::interval,
                                            [](const Values &v, const toml::node &n, const std::string &k) {
                                                return v.duration_at_least(n, k, Seconds(1), "1s");
                                            })},
          {"dsn",
           r.with<DiscoveryConfig, std::string>(&C::discovery, &DiscoveryConfig::dsn,
                                                [](const Values &v, const toml::node &n,
                                                   const std::string &k) { return v.dsn(n, k, false); })},
          {"databases",
           r.with<DiscoveryConfig, std::vector<std::string>>(
               &C::discovery, &DiscoveryConfig::databases,
               [](const Values &v, const toml::node &n, const std::string &k) { return v.databases(n, k); })},
          {"connections", r.integer(&C::discovery, &DiscoveryConfig::connections, 1, 100)},
          {"timeout",
           r.with<DiscoveryConfig, Seconds>(&C::discovery, &DiscoveryConfig::timeout,
                                            [](const Values &v, const toml::node &n, const std::string &k) {
                                                return v.duration_at_least(n, k, Seconds(0.1), "100ms");
                                            })}}},
        {"web",
         {{"console", r.boolean(&C::web, &WebConfig::console)},
          {"auth", r.with<WebConfig, std::string>(
                       &C::web, &WebConfig::auth,
                       [](const Values &v, const toml::node &n, const std::string &k) {
                           std::string a = v.string(n, k);
                           if (a != "" && a != "basic" && a != "bearer")
                               bad_value(v.source, n, k, "must be \"\" (none), \"basic\" or \"bearer\"");
                           return a;
                       })},
          {"auth_file", r.string(&C::web, &WebConfig::auth_file)},
          {"admin_token_file", r.string(&C::web, &WebConfig::admin_token_file)}}},
        {"history",
         {{"path", r.string(&C::history, &HistoryConfig::path)},
          {"interval",
           r.with<HistoryConfig, Seconds>(&C::history, &HistoryConfig::interval,
                                          [](const Values &v, const toml::node &n, const std::string &k) {
                                              return v.duration_at_least(n, k, Seconds(1), "1s");
                                          })},
          {"retention", r.duration(&C::history, &HistoryConfig::retention)},
          {"slow_interval",
           r.with<HistoryConfig, Seconds>(&C::history, &HistoryConfig::slow_interval,
                                          [](const Values &v, const toml::node &n, const std::string &k) {
                                              return v.duration_at_least(n, k, Seconds(1), "1s");
                                          })}}},
    };
}

// Reads an array of tables ([[targets]]): every table's keys through `keys`, required keys present.
template <typename T>
std::vector<T> read_array(const std::string &source, const std::string &section, const toml::node &node,
                          const Keys<T> &keys, const std::vector<std::string> &required) {
    const toml::array *arr = node.as_array();
    if (!arr || !arr->is_array_of_tables())
        bad_value(source, node, section, "must be an array of tables ([[" + section + "]])");
    std::vector<T> out;
    for (const toml::node &item : *arr) {
        const toml::table &table = *item.as_table();
        T element;
        for (const auto &[key_name, value] : table) {
            const std::string key = section + "." + std::string(key_name.str());
            auto setter = keys.find(std::string(key_name.str()));
            if (setter == keys.end())
                throw ConfigError(where(source, value, key) + ": unknown key");
            setter->second(value, key, element);
        }
        for (const std::string &r : required)
            if (!table.contains(r))
                throw ConfigError(where(source, item, section + "." + r) + ": missing (every [[" + section +
                                  "]] needs " + r + ")");
        out.push_back(std::move(element));
    }
    return out;
}

// Names must be unique within an array of tables.
template <typename T>
void check_unique_names(const std::string &source, const std::string &section, const toml::node &node,
                        const std::vector<T> &items) {
    std::set<std::string> seen;
    const toml::array &arr = *node.as_array();
    for (std::size_t i = 0; i < items.size(); ++i)
        if (!seen.insert(items[i].name).second)
            throw ConfigError(where(source, *arr.get(i), section + ".name") + ": \"" + items[i].name +
                              "\" names two [[" + section + "]]");
}

template <typename... Fields> auto fields(const Fields &...f) {
    return std::tie(f...);
}

} // namespace

bool is_label_safe_name(const std::string &name) {
    if (name.empty() || name.size() > 63)
        return false;
    for (unsigned char c : name)
        if (!std::isalnum(c) && c != '_' && c != '-' && c != '.')
            return false;
    return true;
}

bool operator==(const DatabaseConfig &a, const DatabaseConfig &b) {
    return a.dsn == b.dsn;
}
bool operator==(const LogConfig &a, const LogConfig &b) {
    return a.level == b.level;
}
bool operator==(const PoolConfig &a, const PoolConfig &b) {
    const auto all = [](const PoolConfig &p) {
        return fields(p.max_size, p.min_idle, p.acquire_timeout, p.idle_timeout, p.max_lifetime,
                      p.validation_interval, p.validation_timeout, p.statement_timeout,
                      p.leak_detection_threshold, p.application_name, p.named_statements, p.max_replica_lag,
                      p.replicas);
    };
    return all(a) == all(b);
}
bool operator==(const MetricsConfig &a, const MetricsConfig &b) {
    return fields(a.listen, a.slow_query_threshold, a.top_tables, a.top_statements) ==
           fields(b.listen, b.slow_query_threshold, b.top_tables, b.top_statements);
}
bool operator==(const HealthConfig &a, const HealthConfig &b) {
    return a.interval == b.interval;
}
bool operator==(const BackupConfig &a, const BackupConfig &b) {
    const auto all = [](const BackupConfig &k) {
        return fields(k.directory, k.retention_count, k.retention_days, k.max_age, k.verify_interval,
                      k.pg_bindir);
    };
    return all(a) == all(b);
}
bool operator==(const TargetConfig &a, const TargetConfig &b) {
    return fields(a.name, a.dsn, a.databases, a.connections, a.timeout) ==
           fields(b.name, b.dsn, b.databases, b.connections, b.timeout);
}
bool operator==(const DiscoveryConfig &a, const DiscoveryConfig &b) {
    return fields(a.patroni, a.interval, a.dsn, a.databases, a.connections, a.timeout) ==
           fields(b.patroni, b.interval, b.dsn, b.databases, b.connections, b.timeout);
}
bool operator==(const PgBouncerConfig &a, const PgBouncerConfig &b) {
    return fields(a.name, a.dsn) == fields(b.name, b.dsn);
}
bool operator==(const WebConfig &a, const WebConfig &b) {
    return fields(a.console, a.auth, a.auth_file, a.admin_token_file) ==
           fields(b.console, b.auth, b.auth_file, b.admin_token_file);
}
bool operator==(const HistoryConfig &a, const HistoryConfig &b) {
    return fields(a.path, a.interval, a.retention, a.slow_interval) ==
           fields(b.path, b.interval, b.retention, b.slow_interval);
}
bool operator==(const Config &a, const Config &b) {
    return fields(a.database, a.log, a.pool, a.metrics, a.health, a.backup, a.targets, a.discovery,
                  a.pgbouncers, a.web, a.history) == fields(b.database, b.log, b.pool, b.metrics, b.health,
                                                            b.backup, b.targets, b.discovery, b.pgbouncers,
                                                            b.web, b.history);
}

std::vector<std::string> config_keys() {
    std::vector<std::string> out;
    for (const auto &[section, keys] : schema(""))
        for (const auto &[key, setter] : keys)
            out.push_back(section + "." + key);
    for (const auto &[key, setter] : target_keys(Values{}))
        out.push_back("targets." + key);
    for (const auto &[key, setter] : pgbouncer_keys(Values{}))
        out.push_back("pgbouncers." + key);
    std::sort(out.begin(), out.end());
    return out;
}

namespace {

void check_consistency(const Config &c) {
    const std::string file = c.source.empty() ? "<config>" : c.source;
    if (c.pool.min_idle > c.pool.max_size)
        throw ConfigError(file + ": pool.min_idle (" + std::to_string(c.pool.min_idle) +
                          ") must not exceed pool.max_size (" + std::to_string(c.pool.max_size) + ")");
    if (!c.web.auth.empty() && c.web.auth_file.empty())
        throw ConfigError(file + ": web.auth = \"" + c.web.auth + "\" needs web.auth_file");
}

} // namespace

Config parse_config(const std::string &toml_text, const std::string &source) {
    toml::table root;
    try {
        root = toml::parse(toml_text, source);
    } catch (const toml::parse_error &e) {
        std::ostringstream out;
        out << (source.empty() ? "<config>" : source) << ":" << e.source().begin.line << ": "
            << e.description();
        throw ConfigError(out.str());
    }

    Config config;
    config.source = source;
    const Values values{source};
    const auto keys = schema(source);
    for (const auto &[section_name, section_node] : root) {
        const std::string section(section_name.str());
        if (section == "targets") {
            config.targets = read_array(source, section, section_node, target_keys(values), {"name", "dsn"});
            check_unique_names(source, section, section_node, config.targets);
            continue;
        }
        if (section == "pgbouncers") {
            config.pgbouncers =
                read_array(source, section, section_node, pgbouncer_keys(values), {"name", "dsn"});
            check_unique_names(source, section, section_node, config.pgbouncers);
            continue;
        }
        auto known = keys.find(section);
        if (known == keys.end())
            throw ConfigError(where(source, section_node, section) + ": unknown section");
        const toml::table *table = section_node.as_table();
        if (!table)
            bad_value(source, section_node, section, "must be a table ([" + section + "])");
        for (const auto &[key_name, value] : *table) {
            const std::string key = section + "." + std::string(key_name.str());
            auto setter = known->second.find(std::string(key_name.str()));
            if (setter == known->second.end())
                throw ConfigError(where(source, value, key) + ": unknown key");
            setter->second(value, key, config);
        }
    }
    check_consistency(config);
    return config;
}

Config load_config_file(const std::string &path) {
    std::ifstream probe(path);
    if (!probe)
        throw ConfigError(path + ": cannot read the configuration file");
    std::stringstream text;
    text << probe.rdbuf();
    return parse_config(text.str(), path);
}
std::optional<Seconds> parse_duration(const std::string &text) {
    std::size_t pos = 0;
    double value = 0;
    try {
        value = std::stod(text, &pos);
    } catch (const std::exception &) {
        return std::nullopt;
    }
    while (pos < text.size() && text[pos] == ' ')
        ++pos;
    static const std::map<std::string, double> units = {
        {"", 1},     {"us", 1e-6}, {"ms", 1e-3}, {"s", 1},     {"sec", 1},
        {"min", 60}, {"m", 60},    {"h", 3600},  {"d", 86400},
    };
    auto unit = units.find(text.substr(pos));
    if (unit == units.end())
        return std::nullopt;
    // Finite in seconds too: "1e308d" overflows to infinity, which no timeout can be converted to.
    const double seconds = value * unit->second;
    if (!std::isfinite(seconds))
        return std::nullopt;
    return Seconds(seconds);
}

std::string resolve_dsn(const std::optional<std::string> &flag_dsn, const Config &config) {
    if (flag_dsn)
        return *flag_dsn;
    if (const char *env = std::getenv("VIGIL_DSN"); env && *env)
        return env;
    return config.database.dsn;
}

} // namespace vigil
