#include "core/losses/class_weights.h"

#include <cmath>
#include <numeric>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ClassWeightsTest, EffectiveNumberFollowsCui2019) {
  // (1 - b) / (1 - b^n) for n = 10, 100, 1000, normalised to sum to 3.
  const double b = 0.99;
  const double raw[] = {(1 - b) / (1 - std::pow(b, 10)),
                        (1 - b) / (1 - std::pow(b, 100)),
                        (1 - b) / (1 - std::pow(b, 1000))};
  const double scale = 3 / (raw[0] + raw[1] + raw[2]);
  const auto weights = ClassWeightsFromCounts(
      {10, 100, 1000}, WeightScheme::kEffectiveNumber, b);
  ASSERT_TRUE(weights.ok());
  EXPECT_THAT(*weights, ElementsAre(DoubleNear(raw[0] * scale, 1e-12),
                                    DoubleNear(raw[1] * scale, 1e-12),
                                    DoubleNear(raw[2] * scale, 1e-12)));
}

TEST(ClassWeightsTest, InverseFrequenciesSumToClassCount) {
  const auto inverse =
      ClassWeightsFromCounts({1, 3}, WeightScheme::kInverseFrequency, 0.0);
  EXPECT_THAT(*inverse,
              ElementsAre(DoubleNear(1.5, 1e-15), DoubleNear(0.5, 1e-15)));
  const auto sqrt_inverse =
      ClassWeightsFromCounts({1, 4}, WeightScheme::kInverseSqrtFrequency, 0.0);
  EXPECT_THAT(*sqrt_inverse, ElementsAre(DoubleNear(4.0 / 3, 1e-15),
                                         DoubleNear(2.0 / 3, 1e-15)));
}

TEST(ClassWeightsTest, EmptyClassCountsAsOneSample) {
  const auto weights =
      ClassWeightsFromCounts({0, 1, 9}, WeightScheme::kInverseFrequency, 0.0);
  EXPECT_DOUBLE_EQ((*weights)[0], (*weights)[1]);
  EXPECT_TRUE(std::isfinite((*weights)[0]));
}

TEST(ClassWeightsTest, BetaZeroGivesEqualWeights) {
  const auto weights =
      ClassWeightsFromCounts({5, 500}, WeightScheme::kEffectiveNumber, 0.0);
  EXPECT_THAT(*weights, ElementsAre(1.0, 1.0));
}

TEST(ClassWeightsTest, RejectsBadInput) {
  EXPECT_THAT(ClassWeightsFromCounts({}, WeightScheme::kEffectiveNumber, 0.9)
                  .status()
                  .message(),
              HasSubstr("samples_per_class: no classes"));
  EXPECT_THAT(ClassWeightsFromCounts({1, -2}, WeightScheme::kEffectiveNumber,
                                     0.9, "losses[0].samples_per_class")
                  .status()
                  .message(),
              HasSubstr("losses[0].samples_per_class[1]: negative count -2"));
  EXPECT_THAT(ClassWeightsFromCounts({1}, WeightScheme::kEffectiveNumber, 1.0)
                  .status()
                  .message(),
              HasSubstr("beta: must lie in [0, 1)"));
}

}  // namespace
}  // namespace focalmetrics
