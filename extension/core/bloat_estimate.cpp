/*
 * bloat_estimate.cpp — the arithmetic of a bloat measurement (see bloat_estimate.hpp).
 */
#include "bloat_estimate.hpp"

namespace vigil::core {

bool is_sampled(std::int32_t sample_pages, std::uint64_t range) {
    return sample_pages > 0 && static_cast<std::uint64_t>(sample_pages) < range;
}

PageSlice sample_slice(std::uint64_t i, std::uint64_t n, std::uint64_t range) {
    return PageSlice{i * range / n, (i + 1) * range / n};
}

std::uint64_t probe_page(const PageSlice &slice, std::uint64_t start, std::uint64_t k) {
    const std::uint64_t size = slice.end - slice.first;
    return slice.first + (start - slice.first + k) % size;
}

std::uint64_t leaf_level_pages(std::uint64_t range, std::uint32_t root_level) {
    return range > root_level ? range - root_level : 0;
}

void scale_to_range(PageTotals &totals, std::uint64_t measurable_pages) {
    if (totals.measured_pages == 0)
        return;
    const double scale = static_cast<double>(measurable_pages) / static_cast<double>(totals.measured_pages);
    auto scaled = [scale](std::uint64_t v) { return static_cast<std::uint64_t>(v * scale + 0.5); };
    totals.leaf_pages = scaled(totals.leaf_pages);
    totals.live_tuples = scaled(totals.live_tuples);
    totals.dead_tuples = scaled(totals.dead_tuples);
    totals.live_bytes = scaled(totals.live_bytes);
    totals.dead_bytes = scaled(totals.dead_bytes);
    totals.free_bytes = scaled(totals.free_bytes);
}

double bloat_ratio(std::uint64_t relation_bytes, std::uint64_t live_bytes) {
    if (relation_bytes == 0)
        return 0.0;
    const double ratio = 1.0 - static_cast<double>(live_bytes) / static_cast<double>(relation_bytes);
    return ratio < 0.0 ? 0.0 : ratio;
}

} // namespace vigil::core
