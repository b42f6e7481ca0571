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
    std::uint64_t pages = 0;          /* pages read */
    std::uint64_t measured_pages = 0; /* pages the counts come from: every heap page; a btree's
                                         leaf-level pages (leaves, and empty, deleted and
                                         half-dead pages, which are free space), not its inner
                                         pages */
    std::uint64_t leaf_pages = 0;     /* btree only */
    std::uint64_t live_tuples = 0;    /* heap tuples or index items */
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

/* Page k (0 <= k < size of the slice) of a walk through a slice from its page start: start,
 * start + 1, ..., the slice's last page, then its first, ..., start - 1. A sampled scan takes
 * the first page of the walk that it can measure (a btree's inner pages hold no entries: a
 * ratio from one would be made up), so each slice yields a measured page if it has one. */
std::uint64_t probe_page(const PageSlice &slice, std::uint64_t start, std::uint64_t k);

/* The pages of a btree's range (every page but the metapage) that its measured pages stand
 * for: all but the inner pages, as far as the root's level tells them. A root at level 1 is
 * the only inner page, which is what matters in a small index; a taller tree has at least one
 * inner page per level and the rest (one page in hundreds) count as leaf-level pages. */
std::uint64_t leaf_level_pages(std::uint64_t range, std::uint32_t root_level);

/* Scales sampled totals up from the measured pages to measurable_pages pages (pages read and
 * pages measured stay as they are), rounding each total to the nearest whole unit. Totals of no
 * measured page stay zero. */
void scale_to_range(PageTotals &totals, std::uint64_t measurable_pages);

/* The share of a relation not holding live data, 0 for an empty relation, never negative. */
double bloat_ratio(std::uint64_t relation_bytes, std::uint64_t live_bytes);

} // namespace vigil::core
