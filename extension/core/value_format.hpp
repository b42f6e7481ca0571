/*
 * value_format.hpp — numbers as a person reads them, with their unit: 73.2%, 1.5 s, 12 MB.
 * The health checks show their values and thresholds this way. Pure C++ (no PostgreSQL
 * header), specified by test/unit/extension_value_format_test.cpp.
 *
 * Every formatter drops a trailing ".0" (50%, not 50.0%; 2 min, not 2.0 min).
 */
#pragma once

#include <string>

namespace vigil::core {

/* A fraction as a percentage with one decimal: 0.732 → "73.2%". */
std::string format_percent(double fraction);

/* A multiple of a setting, to three significant digits: 1.5 → "1.5". */
std::string format_factor(double factor);

/* A number of objects or events, rounded to a whole number: "3". */
std::string format_count(double count);

/* Milliseconds in the largest unit that keeps two digits: ms below 1 s, s with one decimal
 * below 2 min, min below 2 h, h beyond. */
std::string format_duration_ms(double ms);

/* Bytes in the largest unit that keeps two digits (1024-based): bytes below 10 kB, kB below
 * 10 MB, MB below 10 GB, GB beyond. */
std::string format_bytes(double bytes);

} // namespace vigil::core
