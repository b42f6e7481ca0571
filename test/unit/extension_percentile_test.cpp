// vigil::core::percentile_cont: the percentiles of vigil.activity_stats(), equal to SQL's
// percentile_cont(q) WITHIN GROUP (ORDER BY v).
#include <gtest/gtest.h>

#include "percentile.hpp"

#include <vector>

using vigil::core::percentile_cont;

TEST(ExtensionPercentile, OneValueIsEveryPercentile) {
    EXPECT_EQ(percentile_cont({7}, 0.0), 7);
    EXPECT_EQ(percentile_cont({7}, 0.5), 7);
    EXPECT_EQ(percentile_cont({7}, 1.0), 7);
}

TEST(ExtensionPercentile, TheEndsAreTheMinimumAndTheMaximum) {
    const std::vector<double> v{1, 2, 3, 4};
    EXPECT_EQ(percentile_cont(v, 0.0), 1);
    EXPECT_EQ(percentile_cont(v, 1.0), 4);
}

TEST(ExtensionPercentile, InterpolatesBetweenNeighbours) {
    // SELECT percentile_cont(q) WITHIN GROUP (ORDER BY v) FROM unnest('{1,2,3,4}') v
    const std::vector<double> v{1, 2, 3, 4};
    EXPECT_DOUBLE_EQ(percentile_cont(v, 0.5), 2.5);
    EXPECT_NEAR(percentile_cont(v, 0.95), 3.85, 1e-12);
    EXPECT_DOUBLE_EQ(percentile_cont({10, 20}, 0.25), 12.5);
}

TEST(ExtensionPercentile, AMedianOfAnOddCountIsTheMiddleValue) {
    EXPECT_EQ(percentile_cont({1, 5, 100}, 0.5), 5);
}

TEST(ExtensionPercentile, RepeatedValuesStayPut) {
    EXPECT_EQ(percentile_cont({3, 3, 3, 3, 9}, 0.5), 3);
}
