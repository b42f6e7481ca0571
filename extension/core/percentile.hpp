/*
 * percentile.hpp — percentiles of observed values, as SQL's percentile_cont computes them.
 * Pure C++ (no PostgreSQL header), specified by test/unit/extension_percentile_test.cpp.
 */
#pragma once

#include <vector>

namespace vigil::core {

/* The q-quantile (0 <= q <= 1) of sorted, non-empty values, interpolating linearly between the
 * two nearest ranks like percentile_cont. */
double percentile_cont(const std::vector<double> &sorted, double q);

} // namespace vigil::core
