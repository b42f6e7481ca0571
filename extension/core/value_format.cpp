/*
 * value_format.cpp — numbers with their unit (see value_format.hpp).
 */
#include "value_format.hpp"

#include <cctype>
#include <cstdio>

namespace vigil::core {

namespace {

constexpr double kBytesPerKb = 1024.0;
constexpr double kBytesPerMb = 1024.0 * kBytesPerKb;
constexpr double kBytesPerGb = 1024.0 * kBytesPerMb;

/* snprintf of one number, without a trailing ".0". */
std::string printf_trimmed(const char *fmt, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, v);
    std::string s = buf;
    const size_t dot = s.find(".0");
    if (dot != std::string::npos &&
        (dot + 2 == s.size() || !std::isdigit(static_cast<unsigned char>(s[dot + 2]))))
        s.erase(dot, 2);
    return s;
}

} // namespace

std::string format_percent(double fraction) {
    return printf_trimmed("%.1f%%", fraction * 100);
}

std::string format_factor(double factor) {
    return printf_trimmed("%.3g", factor);
}

std::string format_count(double count) {
    return printf_trimmed("%.0f", count);
}

std::string format_duration_ms(double ms) {
    if (ms < 1000)
        return printf_trimmed("%.0f ms", ms);
    if (ms < 120e3)
        return printf_trimmed("%.1f s", ms / 1000);
    if (ms < 7200e3)
        return printf_trimmed("%.1f min", ms / 60e3);
    return printf_trimmed("%.1f h", ms / 3600e3);
}

std::string format_bytes(double bytes) {
    if (bytes < 10 * kBytesPerKb)
        return printf_trimmed("%.0f bytes", bytes);
    if (bytes < 10 * kBytesPerMb)
        return printf_trimmed("%.0f kB", bytes / kBytesPerKb);
    if (bytes < 10 * kBytesPerGb)
        return printf_trimmed("%.0f MB", bytes / kBytesPerMb);
    return printf_trimmed("%.0f GB", bytes / kBytesPerGb);
}

} // namespace vigil::core
