#include "core/ap/exact_average_precision.h"

#include <fstream>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace focalmetrics {
namespace {

using ::testing::ElementsAre;

std::vector<uint8_t> Labels(const std::vector<int>& labels) {
  return std::vector<uint8_t>(labels.begin(), labels.end());
}

// tests/golden/average_precision.json holds scikit-learn's values.
TEST(ExactAveragePrecisionTest, MatchesScikitLearn) {
  std::ifstream in("tests/golden/average_precision.json");
  ASSERT_TRUE(in.good()) << "run from the repository root";
  const nlohmann::json golden = nlohmann::json::parse(in);
  for (const auto& c : golden["cases"]) {
    SCOPED_TRACE(c["id"].get<std::string>());
    const auto scores = c["scores"].get<std::vector<double>>();
    const auto labels = Labels(c["labels"].get<std::vector<int>>());
    ExactAveragePrecision ap;
    // Added in two parts so the incremental sort-and-merge is exercised.
    const size_t half = scores.size() / 2;
    ap.Add(absl::MakeConstSpan(scores).subspan(0, half),
           absl::MakeConstSpan(labels).subspan(0, half));
    ap.Compute();
    ap.Add(absl::MakeConstSpan(scores).subspan(half),
           absl::MakeConstSpan(labels).subspan(half));
    const ClassAveragePrecision result = ap.Compute();
    if (c["ap"].is_null()) {
      EXPECT_FALSE(result.defined);
    } else {
      EXPECT_TRUE(result.defined);
      EXPECT_NEAR(result.estimate, c["ap"].get<double>(), 1e-12);
      EXPECT_EQ(result.lower, result.estimate);
      EXPECT_EQ(result.upper, result.estimate);
    }
    EXPECT_EQ(result.positives + result.negatives,
              static_cast<int64_t>(scores.size()));
  }
}

TEST(ExactAveragePrecisionTest, CurveEndsAtFullRecallAndRespectsMaxPoints) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> score(0, 1);
  std::vector<double> scores(1000);
  std::vector<uint8_t> labels(1000);
  for (size_t i = 0; i < scores.size(); ++i) {
    labels[i] = i % 7 == 0;
    scores[i] = score(rng) + labels[i];
  }
  ExactAveragePrecision ap;
  ap.Add(scores, labels);
  const PrecisionRecallPoints curve = ap.Curve(50);
  ASSERT_LE(curve.recall.size(), 50u);
  ASSERT_GE(curve.recall.size(), 40u);
  EXPECT_EQ(curve.recall.back(), 1.0);
  for (size_t i = 1; i < curve.recall.size(); ++i) {
    EXPECT_GE(curve.recall[i], curve.recall[i - 1]);
    EXPECT_LT(curve.thresholds[i], curve.thresholds[i - 1]);
  }
  const PrecisionRecallPoints tiny = ap.Curve(3);
  EXPECT_EQ(tiny.recall.size(), 3u);
  EXPECT_EQ(tiny.recall.back(), 1.0);
}

TEST(ExactAveragePrecisionTest, CurveOfTheDocExample) {
  ExactAveragePrecision ap;
  ap.Add(std::vector<double>{0.1, 0.4, 0.35, 0.8},
         std::vector<uint8_t>{0, 0, 1, 1});
  const PrecisionRecallPoints curve = ap.Curve(10);
  EXPECT_THAT(curve.thresholds, ElementsAre(0.8, 0.4, 0.35, 0.1));
  EXPECT_THAT(curve.recall, ElementsAre(0.5, 0.5, 1.0, 1.0));
  EXPECT_THAT(curve.precision, ElementsAre(1.0, 0.5, 2.0 / 3, 0.5));
}

TEST(PooledAveragePrecisionTest, EqualsOneAccumulatorOverTheUnion) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> score(0, 1);
  ExactAveragePrecision a, b, both;
  for (int i = 0; i < 500; ++i) {
    const std::vector<double> s = {score(rng)};
    const std::vector<uint8_t> l = {static_cast<uint8_t>(i % 5 == 0)};
    (i % 2 ? a : b).Add(s, l);
    both.Add(s, l);
  }
  const std::vector<const ExactAveragePrecision*> parts = {&a, &b};
  EXPECT_NEAR(PooledAveragePrecision(parts).estimate, both.Compute().estimate,
              1e-15);
  a.Merge(b);
  EXPECT_NEAR(a.Compute().estimate, both.Compute().estimate, 1e-15);
}

}  // namespace
}  // namespace focalmetrics
