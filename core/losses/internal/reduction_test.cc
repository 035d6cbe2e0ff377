#include <cmath>
#include <limits>
#include <vector>

#include "core/losses/internal/loss_families.h"
#include "gtest/gtest.h"

namespace focalmetrics::losses_internal {
namespace {

TEST(ReduceTest, MeanOverNothingIsZero) {
  EXPECT_EQ(Reduce(6.0, 3, Reduction::kMean), 2.0);
  EXPECT_EQ(Reduce(6.0, 3, Reduction::kSum), 6.0);
  EXPECT_EQ(Reduce(0.0, 0, Reduction::kMean), 0.0);
  EXPECT_EQ(GradientScale(4, Reduction::kMean), 0.25);
  EXPECT_EQ(GradientScale(4, Reduction::kNone), 1.0);
}

TEST(KeepHardestTest, KeepsTheLargestAndZeroesTheRest) {
  std::vector<double> losses = {0.1, 0.9, 0.5, 0.7};
  std::vector<double> gradient = {1, 1, 2, 2, 3, 3, 4, 4};  // Two per sample.
  const HardExamples kept = KeepHardest(losses, 0.5, gradient, 2);
  EXPECT_EQ(kept.count, 2);
  EXPECT_DOUBLE_EQ(kept.sum, 1.6);
  EXPECT_EQ(losses, (std::vector<double>{0, 0.9, 0, 0.7}));
  EXPECT_EQ(gradient, (std::vector<double>{0, 0, 2, 2, 0, 0, 4, 4}));
}

TEST(KeepHardestTest, KeepsAtLeastOneAndSkipsIneligibleSamples) {
  const double ignored = -std::numeric_limits<double>::infinity();
  std::vector<double> losses = {ignored, 0.2, ignored};
  std::vector<double> no_gradient;
  const HardExamples kept = KeepHardest(losses, 0.01, no_gradient, 1);
  EXPECT_EQ(kept.count, 1);
  EXPECT_EQ(kept.sum, 0.2);
  EXPECT_EQ(losses, (std::vector<double>{0, 0.2, 0}));

  std::vector<double> all_ignored = {ignored, ignored};
  EXPECT_EQ(KeepHardest(all_ignored, 0.5, no_gradient, 1).count, 0);
  EXPECT_EQ(all_ignored, (std::vector<double>{0, 0}));
}

TEST(KeepHardestTest, TiesGoToTheLowerIndex) {
  std::vector<double> losses = {0.5, 0.5, 0.5, 0.5};
  std::vector<double> no_gradient;
  KeepHardest(losses, 0.5, no_gradient, 1);
  EXPECT_EQ(losses, (std::vector<double>{0.5, 0.5, 0, 0}));
}

}  // namespace
}  // namespace focalmetrics::losses_internal
