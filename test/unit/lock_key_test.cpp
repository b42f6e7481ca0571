// vigil::lock_key: the sidecar's key of a lock name equals the shared reference vectors, which
// sql/500_advisory_locks.sql checks against the extension's vigil.lock_key() too.
#include <gtest/gtest.h>

#include "lock_key.hpp"

#include "lock_key_vectors.hpp"

#include <sstream>

TEST(LockKey, MatchesEverySharedVector) {
    const auto vectors = vigil::test::lock_key_vectors();
    ASSERT_GE(vectors.size(), 20u);
    for (const auto &v : vectors) {
        EXPECT_EQ(vigil::lock_key(v.name), v.key) << "name: " << v.name;
        // The hex column is the same hash unsigned: the two columns agree with each other.
        std::ostringstream hex;
        hex << std::hex;
        hex.width(16);
        hex.fill('0');
        hex << static_cast<std::uint64_t>(v.key);
        EXPECT_EQ(hex.str(), v.hex) << "name: " << v.name;
    }
}

TEST(LockKey, UsesAllSixtyFourBits) {
    // Keys above 2^32 and negative keys both occur: nothing is truncated to 32 bits.
    EXPECT_EQ(vigil::lock_key("a"), static_cast<std::int64_t>(0xaf63dc4c8601ec8cULL));
    EXPECT_LT(vigil::lock_key("a"), INT64_C(-4294967296));
    EXPECT_GT(vigil::lock_key("orders:42"), INT64_C(4294967296));
}

TEST(LockKey, DistinguishesNearbyNames) {
    EXPECT_NE(vigil::lock_key("orders:42"), vigil::lock_key("orders:43"));
    EXPECT_NE(vigil::lock_key("a"), vigil::lock_key("A"));
    EXPECT_NE(vigil::lock_key("ab"), vigil::lock_key("ba"));
}

TEST(LockKey, RefusesAnEmptyName) {
    EXPECT_THROW(vigil::lock_key(""), std::invalid_argument);
}
