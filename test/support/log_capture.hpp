// log_capture.hpp — what vigild logged while a test ran: replaces spdlog's default logger with one
// writing "<level> <message>" lines into memory, and puts the old one back when destroyed.
#pragma once

#include <memory>
#include <mutex>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace vigil::test {

class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        sink->set_pattern("%l %v");
        auto logger = std::make_shared<spdlog::logger>("capture", sink);
        logger->set_level(spdlog::level::info);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture &) = delete;
    LogCapture &operator=(const LogCapture &) = delete;

    std::string text() const {
        spdlog::default_logger()->flush();
        return out_.str();
    }
    // Lines at `level` ("warning", "info", ...) that contain `needle`.
    int count(const std::string &level, const std::string &needle = "") const {
        std::istringstream in(text());
        int n = 0;
        for (std::string line; std::getline(in, line);)
            if (line.rfind(level + " ", 0) == 0 && line.find(needle) != std::string::npos)
                ++n;
        return n;
    }

  private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

} // namespace vigil::test
