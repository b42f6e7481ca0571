// vigil::core bloat estimate: the arithmetic of vigil.measure_bloat(rel, sample_pages) and
// vigil.measure_index_bloat(): which pages a sample reads and how its totals scale up.
#include <gtest/gtest.h>

#include "bloat_estimate.hpp"

#include <cstdint>

using namespace vigil::core;

TEST(ExtensionBloatEstimate, ZeroSamplePagesReadsEveryPage) {
    EXPECT_FALSE(is_sampled(0, 1000));
}

TEST(ExtensionBloatEstimate, ASampleAsLargeAsTheRelationReadsEveryPage) {
    EXPECT_FALSE(is_sampled(1000, 1000));
    EXPECT_FALSE(is_sampled(5000, 1000));
    EXPECT_FALSE(is_sampled(1, 0)) << "an empty relation";
}

TEST(ExtensionBloatEstimate, AnySmallerSampleSamples) {
    EXPECT_TRUE(is_sampled(999, 1000));
    EXPECT_TRUE(is_sampled(1, 2));
}

TEST(ExtensionBloatEstimate, SlicesCoverTheRangeWithoutGapsOrOverlaps) {
    for (std::uint64_t range : {7u, 100u, 1001u, 65536u}) {
        for (std::uint64_t n : {1u, 2u, 3u, 6u}) {
            std::uint64_t expected_first = 0;
            for (std::uint64_t i = 0; i < n; i++) {
                const PageSlice s = sample_slice(i, n, range);
                EXPECT_EQ(s.first, expected_first) << "range " << range << ", slice " << i << " of " << n;
                EXPECT_GT(s.end, s.first) << "every slice holds a page";
                expected_first = s.end;
            }
            EXPECT_EQ(expected_first, range);
        }
    }
}

TEST(ExtensionBloatEstimate, SlicesAreEqualToWithinOnePage) {
    for (std::uint64_t i = 0; i < 3; i++) {
        const PageSlice s = sample_slice(i, 3, 10);
        EXPECT_GE(s.end - s.first, 3u);
        EXPECT_LE(s.end - s.first, 4u);
    }
}

TEST(ExtensionBloatEstimate, SampledTotalsScaleToTheRange) {
    PageTotals t;
    t.pages = 10;
    t.measured_pages = 10;
    t.leaf_pages = 9;
    t.live_tuples = 1000;
    t.dead_tuples = 3;
    t.live_bytes = 80000;
    t.dead_bytes = 240;
    t.free_bytes = 1234;
    scale_to_range(t, 1000);
    EXPECT_EQ(t.pages, 10u) << "pages read stays what was read";
    EXPECT_EQ(t.measured_pages, 10u);
    EXPECT_EQ(t.leaf_pages, 900u);
    EXPECT_EQ(t.live_tuples, 100000u);
    EXPECT_EQ(t.dead_tuples, 300u);
    EXPECT_EQ(t.live_bytes, 8000000u);
    EXPECT_EQ(t.dead_bytes, 24000u);
    EXPECT_EQ(t.free_bytes, 123400u);
}

TEST(ExtensionBloatEstimate, ScaledTotalsRoundToTheNearestUnit) {
    PageTotals t;
    t.pages = 3;
    t.measured_pages = 3;
    t.live_tuples = 1; // × 10/3 = 3.33
    t.dead_tuples = 2; // × 10/3 = 6.67
    scale_to_range(t, 10);
    EXPECT_EQ(t.live_tuples, 3u);
    EXPECT_EQ(t.dead_tuples, 7u);
}

TEST(ExtensionBloatEstimate, PagesReadButNotMeasuredDoNotDiluteTheSample) {
    // A sample of 2 slices that stepped over an inner page: 3 pages read, 2 measured (leaves of
    // 4000 live bytes each), standing for the 4 leaf-level pages of the index.
    PageTotals t;
    t.pages = 3;
    t.measured_pages = 2;
    t.leaf_pages = 2;
    t.live_bytes = 8000;
    scale_to_range(t, 4);
    EXPECT_EQ(t.pages, 3u);
    EXPECT_EQ(t.leaf_pages, 4u);
    EXPECT_EQ(t.live_bytes, 16000u) << "the inner page is not a page of zero live bytes";
}

TEST(ExtensionBloatEstimate, NothingMeasuredIsNotScaledIntoAnything) {
    PageTotals t;
    t.pages = 1; // an inner page, read and stepped over
    scale_to_range(t, 1000);
    EXPECT_EQ(t.live_bytes, 0u);
    EXPECT_EQ(t.leaf_pages, 0u);
}

TEST(ExtensionBloatEstimate, AProbeWalksTheWholeSliceOnceFromItsStart) {
    const PageSlice s{10, 14}; // pages 10..13
    EXPECT_EQ(probe_page(s, 12, 0), 12u) << "the random page first";
    EXPECT_EQ(probe_page(s, 12, 1), 13u);
    EXPECT_EQ(probe_page(s, 12, 2), 10u) << "then around to the slice's first page";
    EXPECT_EQ(probe_page(s, 12, 3), 11u);
    for (std::uint64_t start = 10; start < 14; start++) {
        std::uint64_t seen = 0;
        for (std::uint64_t k = 0; k < 4; k++) {
            const std::uint64_t p = probe_page(s, start, k);
            EXPECT_GE(p, 10u);
            EXPECT_LT(p, 14u);
            seen |= 1u << (p - 10);
        }
        EXPECT_EQ(seen, 0xfu) << "every page of the slice, from start " << start;
    }
}

TEST(ExtensionBloatEstimate, TheLeafLevelIsTheRangeWithoutTheInnerPagesItKnows) {
    EXPECT_EQ(leaf_level_pages(4, 0), 4u) << "a root leaf: every page is leaf level";
    EXPECT_EQ(leaf_level_pages(4, 1), 3u) << "a root at level 1 is the one inner page";
    EXPECT_EQ(leaf_level_pages(1000, 2), 998u) << "at least one inner page per level";
    EXPECT_EQ(leaf_level_pages(0, 0), 0u);
}

TEST(ExtensionBloatEstimate, TotalsOfNoPageStayZero) {
    PageTotals t;
    scale_to_range(t, 1000);
    EXPECT_EQ(t.pages, 0u);
    EXPECT_EQ(t.live_bytes, 0u);
}

TEST(ExtensionBloatEstimate, TheRatioIsTheShareWithoutLiveData) {
    EXPECT_DOUBLE_EQ(bloat_ratio(8192 * 4, 8192), 0.75);
    EXPECT_DOUBLE_EQ(bloat_ratio(8192, 8192), 0.0);
}

TEST(ExtensionBloatEstimate, AnEmptyRelationHasNoBloat) {
    EXPECT_EQ(bloat_ratio(0, 0), 0.0);
}

TEST(ExtensionBloatEstimate, TheRatioIsNeverNegative) {
    // A sampled estimate can put more live bytes in a relation than it has.
    EXPECT_EQ(bloat_ratio(8192, 9000), 0.0);
}
