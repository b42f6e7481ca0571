// format.hpp — numbers as a person reads them on a page: units, few digits, no decoding.
#pragma once

#include <string>

namespace vigil::console {

std::string format_seconds(double seconds);      // "850 ms", "12.3 s", "4 min 5 s", "2 h 3 min", "3 d 4 h"
std::string format_bytes(double bytes);          // "512 B", "12.3 MB"
std::string format_count(double n);              // "1,234,567"
std::string format_fraction(double fraction);    // 0.732 → "73.2%"
std::string format_number(double v);             // up to 3 significant decimals: "12.5", "0.0031"
std::string format_time(double unix_seconds);    // "2026-12-01 13:05:00 UTC"
std::string format_clock(double unix_seconds);   // "13:05"
std::string format_age(double now, double then); // "4 min 5 s ago", "never" for then <= 0

} // namespace vigil::console
