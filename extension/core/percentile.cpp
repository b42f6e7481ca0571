/*
 * percentile.cpp — percentile_cont (see percentile.hpp).
 */
#include "percentile.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace vigil::core {

double percentile_cont(const std::vector<double> &sorted, double q) {
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

} // namespace vigil::core
