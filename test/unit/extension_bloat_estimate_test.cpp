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
    t.leaf_pages = 9;
    t.live_tuples = 1000;
    t.dead_tuples = 3;
    t.live_bytes = 80000;
    t.dead_bytes = 240;
    t.free_bytes = 1234;
    scale_to_range(t, 1000);
    EXPECT_EQ(t.pages, 10u) << "pages read stays what was read";
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
    t.live_tuples = 1; // × 10/3 = 3.33
    t.dead_tuples = 2; // × 10/3 = 6.67
    scale_to_range(t, 10);
    EXPECT_EQ(t.live_tuples, 3u);
    EXPECT_EQ(t.dead_tuples, 7u);
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
