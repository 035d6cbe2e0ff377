#include "client/cpp/shard_router.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

TEST(Fnv1a64Test, MatchesTheReferenceValues) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(JumpConsistentHashTest, IsStableAndMovesFewKeysWhenGrowing) {
  int moved = 0;
  for (uint64_t key = 0; key < 10000; ++key) {
    const int32_t three = JumpConsistentHash(key * 7919, 3);
    const int32_t four = JumpConsistentHash(key * 7919, 4);
    EXPECT_GE(three, 0);
    EXPECT_LT(three, 3);
    EXPECT_EQ(three, JumpConsistentHash(key * 7919, 3));
    if (three != four) {
      EXPECT_EQ(four, 3);  // Keys only move to the new shard.
      ++moved;
    }
  }
  EXPECT_NEAR(moved / 10000.0, 0.25, 0.03);
}

TEST(ShardRouterTest, SpreadsRunsEvenlyOverHeadlessServiceAddresses) {
  const ShardRouter router = ShardRouter::FromHeadlessService(
      "focalmetrics", "focalmetrics-headless", 3, 50051);
  EXPECT_EQ(router.addresses()[2],
            "focalmetrics-2.focalmetrics-headless:50051");
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 1000; ++i) {
    const std::string& target = router.TargetFor("run-" + std::to_string(i));
    for (int s = 0; s < 3; ++s) counts[s] += target == router.addresses()[s];
  }
  for (int count : counts) EXPECT_NEAR(count, 1000 / 3.0, 0.15 * 1000 / 3.0);
}

}  // namespace
}  // namespace focalmetrics
