// config.cpp — loading and validating vigild's TOML configuration.
#include "config.hpp"

#include <cmath>
#include <fstream>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <tuple>

#include <toml++/toml.h>

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

// One setter per key; it validates the node and stores the value.
using Setter = std::function<void(const toml::node &, const std::string &key, Config &)>;

struct Reader {
    std::string source;

    template <typename Section> Setter string(Section Config::*section, std::string Section::*field) const {
        auto src = source;
        return [=](const toml::node &n, const std::string &key, Config &c) {
            if (!n.is_string())
                bad_value(src, n, key, "must be a string");
            c.*section.*field = **n.as_string();
        };
    }

    template <typename Section>
    Setter integer(Section Config::*section, int Section::*field, long min, long max) const {
        auto src = source;
        return [=](const toml::node &n, const std::string &key, Config &c) {
            if (!n.is_integer() || **n.as_integer() < min || **n.as_integer() > max)
                bad_value(src, n, key,
                          "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
            c.*section.*field = static_cast<int>(**n.as_integer());
        };
    }

    template <typename Section> Setter boolean(Section Config::*section, bool Section::*field) const {
        auto src = source;
        return [=](const toml::node &n, const std::string &key, Config &c) {
            if (!n.is_boolean())
                bad_value(src, n, key, "must be true or false");
            c.*section.*field = **n.as_boolean();
        };
    }

    template <typename Section> Setter duration(Section Config::*section, Seconds Section::*field) const {
        auto src = source;
        return [=](const toml::node &n, const std::string &key, Config &c) {
            std::optional<Seconds> d;
            if (n.is_string())
                d = parse_duration(**n.as_string());
            else if (n.is_integer())
                d = Seconds(static_cast<double>(**n.as_integer()));
            else if (n.is_floating_point())
                d = Seconds(**n.as_floating_point());
            if (!d || d->count() < 0 || !std::isfinite(d->count()))
                bad_value(
                    src, n, key,
                    "must be a duration such as \"500ms\", \"30s\", \"5min\", \"2h\" or a number of seconds");
            c.*section.*field = *d;
        };
    }

    template <typename Section>
    Setter strings(Section Config::*section, std::vector<std::string> Section::*field) const {
        auto src = source;
        return [=](const toml::node &n, const std::string &key, Config &c) {
            const toml::array *arr = n.as_array();
            if (!arr)
                bad_value(src, n, key, "must be an array of strings");
            std::vector<std::string> out;
            for (const toml::node &item : *arr) {
                if (!item.is_string())
                    bad_value(src, item, key, "must be an array of strings");
                out.push_back(**item.as_string());
            }
            c.*section.*field = out;
        };
    }
};

// The schema: every key vigild understands. Anything else is an error.
std::map<std::string, std::map<std::string, Setter>> schema(const std::string &source) {
    const Reader r{source};
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
    };
}

template <typename... Fields> auto fields(const Fields &...f) {
    return std::tie(f...);
}

} // namespace

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
bool operator==(const Config &a, const Config &b) {
    return fields(a.database, a.log, a.pool, a.metrics, a.health, a.backup) ==
           fields(b.database, b.log, b.pool, b.metrics, b.health, b.backup);
}

std::vector<std::string> config_keys() {
    std::vector<std::string> out;
    for (const auto &[section, keys] : schema(""))
        for (const auto &[key, setter] : keys)
            out.push_back(section + "." + key);
    return out;
}

namespace {

void check_consistency(const Config &c) {
    if (c.pool.min_idle > c.pool.max_size)
        throw ConfigError((c.source.empty() ? "<config>" : c.source) + ": pool.min_idle (" +
                          std::to_string(c.pool.min_idle) + ") must not exceed pool.max_size (" +
                          std::to_string(c.pool.max_size) + ")");
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
    const auto keys = schema(source);
    for (const auto &[section_name, section_node] : root) {
        const std::string section(section_name.str());
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
