// logging.cpp — vigild's logging set-up.
#include "logging.hpp"

#include <stdexcept>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vigil {

void setup_logging(const std::string &level) {
    const auto parsed = spdlog::level::from_str(level);
    if (parsed == spdlog::level::off && level != "off")
        throw std::invalid_argument("unknown log level \"" + level + "\"");
    static const auto logger = [] {
        auto l = spdlog::stderr_color_mt("vigild");
        l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
        spdlog::set_default_logger(l);
        return l;
    }();
    logger->set_level(parsed);
}

} // namespace vigil
