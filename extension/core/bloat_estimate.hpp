/*
 * bloat_estimate.hpp — the arithmetic of a bloat measurement: which pages a sampled scan reads,
 * how its totals scale up to the whole relation, and the bloat ratio. Pure C++ (no PostgreSQL
 * header); bloat.cpp reads the pages, test/unit/extension_bloat_estimate_test.cpp specifies this.
 */
#pragma once

#include <cstdint>

namespace vigil::core {

/* What a scan found. */
struct PageTotals {
    std::uint64_t pages = 0;       /* pages read */
    std::uint64_t leaf_pages = 0;  /* btree only */
    std::uint64_t live_tuples = 0; /* heap tuples or index items */
    std::uint64_t dead_tuples = 0;
    std::uint64_t live_bytes = 0;
    std::uint64_t dead_bytes = 0;
    std::uint64_t free_bytes = 0;
};

/* Whether a scan of range pages asked for sample_pages of them samples (0: read every page;
 * a sample as large as the range reads every page too). */
bool is_sampled(std::int32_t sample_pages, std::uint64_t range);

/* Pages [first, end) of a range: one of n equal slices (n <= range), so every slice is non-empty
 * and together they cover the range exactly. */
struct PageSlice {
    std::uint64_t first;
    std::uint64_t end;
};

/* Slice i (0 <= i < n) of n equal slices of range pages. */
PageSlice sample_slice(std::uint64_t i, std::uint64_t n, std::uint64_t range);

/* Scales sampled totals up to a range of range pages (pages read stays as it is), rounding
 * each total to the nearest whole unit. Totals of no page stay zero. */
void scale_to_range(PageTotals &totals, std::uint64_t range);

/* The share of a relation not holding live data, 0 for an empty relation, never negative. */
double bloat_ratio(std::uint64_t relation_bytes, std::uint64_t live_bytes);

} // namespace vigil::core
