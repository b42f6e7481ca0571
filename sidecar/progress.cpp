// progress.cpp — the status line: "\r", the text, and spaces over what a longer line left.
#include "progress.hpp"

#include <algorithm>
#include <cstdarg>
#include <unistd.h>

namespace vigil {

ProgressLine::ProgressLine(std::chrono::milliseconds interval, bool enabled)
    : out_(enabled && isatty(STDERR_FILENO) ? stderr : nullptr), interval_(interval), started_(Clock::now()),
      last_(started_) {}

ProgressLine::ProgressLine(std::chrono::milliseconds interval, std::FILE *out)
    : out_(out), interval_(interval), started_(Clock::now()), last_(started_) {}

ProgressLine::~ProgressLine() {
    clear();
}

bool ProgressLine::due() const {
    return out_ && Clock::now() - last_ >= interval_;
}

void ProgressLine::update(const std::string &text) {
    if (due())
        show(text);
}

void ProgressLine::show(const std::string &text) {
    if (!out_)
        return;
    std::string line = "\r" + text;
    if (text.size() < width_)
        line.append(width_ - text.size(), ' ');
    width_ = std::max(width_, text.size());
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
    last_ = Clock::now();
}

void ProgressLine::clear() {
    if (!out_ || width_ == 0)
        return;
    const std::string blank = "\r" + std::string(width_, ' ') + "\r";
    std::fwrite(blank.data(), 1, blank.size(), out_);
    std::fflush(out_);
    width_ = 0;
}

std::string ProgressLine::format(const char *fmt, ...) {
    char buf[512];
    va_list args;
    va_start(args, fmt);
    const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    return n < 0 ? std::string() : std::string(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
}

} // namespace vigil
