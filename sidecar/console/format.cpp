// format.cpp — units for the console's pages.
#include "console/format.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace vigil::console {

namespace {

std::string printf_string(const char *fmt, double a, double b = 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, a, b);
    return buf;
}

std::string utc(double unix_seconds, const char *fmt) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, fmt, &tm);
    return buf;
}

} // namespace

std::string format_seconds(double s) {
    if (!std::isfinite(s))
        return "n/a";
    if (s == 0)
        return "0 s";
    const char *sign = s < 0 ? "-" : "";
    s = std::fabs(s);
    std::string v;
    if (s < 0.001)
        v = printf_string("%.0f µs", s * 1e6);
    else if (s < 1)
        v = printf_string(s < 0.01 ? "%.2f ms" : "%.0f ms", s * 1e3);
    else if (s < 60)
        v = printf_string("%.1f s", s);
    else if (s < 3600)
        v = printf_string("%.0f min %.0f s", std::floor(s / 60), std::fmod(std::floor(s), 60));
    else if (s < 86400)
        v = printf_string("%.0f h %.0f min", std::floor(s / 3600), std::floor(std::fmod(s, 3600) / 60));
    else
        v = printf_string("%.0f d %.0f h", std::floor(s / 86400), std::floor(std::fmod(s, 86400) / 3600));
    return sign + v;
}

std::string format_bytes(double b) {
    if (!std::isfinite(b))
        return "n/a";
    static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    double v = b;
    while (std::fabs(v) >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? printf_string("%.0f B", v)
                  : printf_string(std::fabs(v) < 10 ? "%.1f " : "%.0f ", v) + units[u];
}

std::string format_count(double n) {
    if (!std::isfinite(n))
        return "n/a";
    std::string digits = printf_string("%.0f", std::fabs(n));
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0)
            out += ',';
        out += digits[i];
    }
    return (n < 0 ? "-" : "") + out;
}

std::string format_fraction(double f) {
    if (!std::isfinite(f))
        return "n/a";
    return printf_string(f >= 0.1 || f == 0 ? "%.1f%%" : "%.2f%%", f * 100);
}

std::string format_number(double v) {
    if (!std::isfinite(v))
        return "n/a";
    if (std::fabs(v) >= 1000)
        return format_count(v);
    std::string s = printf_string(std::fabs(v) >= 10 ? "%.1f" : "%.3g", v);
    if (s.find('.') != std::string::npos && s.find('e') == std::string::npos) {
        while (s.back() == '0')
            s.pop_back();
        if (s.back() == '.')
            s.pop_back();
    }
    return s;
}

std::string format_time(double t) {
    return t > 0 ? utc(t, "%Y-%m-%d %H:%M:%S UTC") : "never";
}

std::string format_clock(double t) {
    return utc(t, "%H:%M");
}

std::string format_age(double now, double then) {
    if (then <= 0)
        return "never";
    return format_seconds(std::max(0.0, now - then)) + " ago";
}

} // namespace vigil::console
