// config_fuzz.cpp — vigild's configuration reader (parse_config, on toml++) and parse_duration on
// arbitrary text. The input is the file. parse_config gives a Config that keeps its own rules
// (ranges, min_idle <= max_size, finite non-negative durations, a known log level) or throws
// ConfigError naming the source; anything else escaping is a bug. parse_duration, on the whole
// text and on each line, gives nothing or a finite duration, and never throws.
#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <string>
#include <typeinfo>

#include "config.hpp"
#include "fuzz_support.hpp"

namespace {

using vigil::Config;
using vigil::ConfigError;
using vigil::Seconds;
using vigil::fuzz::printable;

void check_duration(const std::string &text) {
    std::optional<Seconds> d;
    try {
        d = vigil::parse_duration(text);
    } catch (const std::exception &e) {
        vigil::fuzz::fail(__FILE__, __LINE__, "parse_duration threw",
                          std::string(typeid(e).name()) + ": " + e.what() + " on " + printable(text));
    }
    if (d)
        FUZZ_CHECK(std::isfinite(d->count()),
                   "parse_duration(" + printable(text) + ") = " + std::to_string(d->count()) + " s");
}

void check_seconds(Seconds s, const char *key) {
    FUZZ_CHECK(std::isfinite(s.count()) && s.count() >= 0,
               std::string(key) + " = " + std::to_string(s.count()));
}

void check_config(const Config &c) {
    FUZZ_CHECK(c.source == "fuzz.toml", c.source);
    const auto &p = c.pool;
    FUZZ_CHECK(p.max_size >= 1 && p.max_size <= 10000, std::to_string(p.max_size));
    FUZZ_CHECK(p.min_idle >= 0 && p.min_idle <= p.max_size, std::to_string(p.min_idle));
    check_seconds(p.acquire_timeout, "pool.acquire_timeout");
    check_seconds(p.idle_timeout, "pool.idle_timeout");
    check_seconds(p.max_lifetime, "pool.max_lifetime");
    check_seconds(p.validation_interval, "pool.validation_interval");
    check_seconds(p.statement_timeout, "pool.statement_timeout");
    check_seconds(p.leak_detection_threshold, "pool.leak_detection_threshold");
    check_seconds(p.max_replica_lag, "pool.max_replica_lag");
    check_seconds(c.metrics.slow_query_threshold, "metrics.slow_query_threshold");
    check_seconds(c.health.interval, "health.interval");
    check_seconds(c.backup.max_age, "backup.max_age");
    check_seconds(c.backup.verify_interval, "backup.verify_interval");
    for (const auto &t : c.targets) {
        FUZZ_CHECK(vigil::is_label_safe_name(t.name), printable(t.name));
        FUZZ_CHECK(!t.dsn.empty(), "targets.dsn empty for " + printable(t.name));
        FUZZ_CHECK(t.connections >= 1 && t.connections <= 100, std::to_string(t.connections));
        FUZZ_CHECK(std::isfinite(t.timeout.count()) && t.timeout.count() >= 0.1,
                   std::to_string(t.timeout.count()));
    }
    FUZZ_CHECK(c.backup.retention_count >= 1 && c.backup.retention_count <= 100000,
               std::to_string(c.backup.retention_count));
    FUZZ_CHECK(c.backup.retention_days >= 0 && c.backup.retention_days <= 100000,
               std::to_string(c.backup.retention_days));
    bool level_known = false;
    for (const char *l : {"trace", "debug", "info", "warn", "error", "critical", "off"})
        level_known = level_known || c.log.level == l;
    FUZZ_CHECK(level_known, printable(c.log.level));
    FUZZ_CHECK(c == c, "a Config differs from itself");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);

    check_duration(text);
    for (std::size_t pos = 0, lines = 0; pos < text.size() && lines < 64; ++lines) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        check_duration(text.substr(pos, end - pos));
        pos = end + 1;
    }

    try {
        const Config config = vigil::parse_config(text, "fuzz.toml");
        check_config(config);
        FUZZ_CHECK(vigil::parse_config(text, "fuzz.toml") == config, "a second parse differs");
    } catch (const ConfigError &e) {
        const std::string message = e.what();
        FUZZ_CHECK(message.rfind("fuzz.toml:", 0) == 0,
                   "a ConfigError not naming the source: " + printable(message));
    } catch (const std::exception &e) {
        vigil::fuzz::fail(__FILE__, __LINE__, "parse_config threw something else than ConfigError",
                          std::string(typeid(e).name()) + ": " + e.what());
    }
    return 0;
}
