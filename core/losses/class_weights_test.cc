#include "core/losses/class_weights.h"

#include <cmath>
#include <fstream>
#include <numeric>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

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

// tests/golden/class_weights.json: Cui et al.'s official code and the
// inverse frequencies, by tests/golden/generate_class_weights.py.
TEST(ClassWeightsTest, MatchesGoldenValues) {
  std::ifstream in("tests/golden/class_weights.json");
  ASSERT_TRUE(in.good()) << "run from the repository root";
  const nlohmann::json golden = nlohmann::json::parse(in);
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c.dump());
    const std::string scheme = c["scheme"].get<std::string>();
    const WeightScheme parsed =
        scheme == "EFFECTIVE_NUMBER"    ? WeightScheme::kEffectiveNumber
        : scheme == "INVERSE_FREQUENCY" ? WeightScheme::kInverseFrequency
                                        : WeightScheme::kInverseSqrtFrequency;
    const auto weights = ClassWeightsFromCounts(
        c["counts"].get<std::vector<int64_t>>(), parsed, c.value("beta", 0.0));
    ASSERT_TRUE(weights.ok());
    const auto expected = c["weights"].get<std::vector<double>>();
    ASSERT_EQ(weights->size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_NEAR((*weights)[i], expected[i], 1e-12 * expected[i]);
    }
  }
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
