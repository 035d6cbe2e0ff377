#include "core/run/average_precision_accumulator.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

struct Data {
  std::vector<double> scores;
  std::vector<uint8_t> labels;
};

Data Random(int n, uint64_t seed, bool probabilities) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> logit(0, 1);
  Data data;
  for (int i = 0; i < n; ++i) {
    const uint8_t label = i % 8 == 0;
    const double x = logit(rng) + 1.5 * label;
    data.scores.push_back(probabilities ? 1 / (1 + std::exp(-x)) : x);
    data.labels.push_back(label);
  }
  return data;
}

TEST(AveragePrecisionAccumulatorTest,
     SwitchingKeepsTheExactValueInsideTheBounds) {
  for (const ScoreSpace space :
       {ScoreSpace::kLogit, ScoreSpace::kProbability}) {
    const Data data = Random(5000, 1, space == ScoreSpace::kProbability);
    AveragePrecisionAccumulator exact(space), switched(space);
    exact.Add(data.scores, data.labels);
    const size_t half = data.scores.size() / 2;
    switched.Add(absl::MakeConstSpan(data.scores).subspan(0, half),
                 absl::MakeConstSpan(data.labels).subspan(0, half));
    switched.SwitchToHistogram(4096);
    EXPECT_FALSE(switched.exact());
    switched.Add(absl::MakeConstSpan(data.scores).subspan(half),
                 absl::MakeConstSpan(data.labels).subspan(half));
    const ClassAveragePrecision truth = exact.Compute();
    const ClassAveragePrecision bounded = switched.Compute();
    EXPECT_TRUE(truth.exact);
    EXPECT_FALSE(bounded.exact);
    EXPECT_LE(bounded.lower, truth.estimate);
    EXPECT_GE(bounded.upper, truth.estimate);
    EXPECT_EQ(bounded.positives, truth.positives);
    EXPECT_LE(switched.MemoryBytes(), 4096u);
  }
}

TEST(AveragePrecisionAccumulatorTest, CurveThresholdsAreProbabilities) {
  for (const ScoreSpace space :
       {ScoreSpace::kLogit, ScoreSpace::kProbability}) {
    const Data data = Random(300, 2, space == ScoreSpace::kProbability);
    AveragePrecisionAccumulator ap(space);
    ap.Add(data.scores, data.labels);
    for (const bool exact : {true, false}) {
      if (!exact) ap.SwitchToHistogram(4096);
      const PrecisionRecallPoints curve = ap.Curve(20);
      ASSERT_FALSE(curve.thresholds.empty());
      for (double threshold : curve.thresholds) {
        EXPECT_GE(threshold, 0.0);
        EXPECT_LE(threshold, 1.0);
      }
    }
  }
}

TEST(AveragePrecisionAccumulatorTest, PooledIsTheApOfTheUnion) {
  const Data a = Random(400, 3, false), b = Random(400, 4, false);
  AveragePrecisionAccumulator first(ScoreSpace::kLogit),
      second(ScoreSpace::kLogit), both(ScoreSpace::kLogit);
  first.Add(a.scores, a.labels);
  second.Add(b.scores, b.labels);
  both.Add(a.scores, a.labels);
  both.Add(b.scores, b.labels);
  const std::vector<const AveragePrecisionAccumulator*> parts = {&first,
                                                                 &second};
  const double truth = both.Compute().estimate;
  EXPECT_NEAR(AveragePrecisionAccumulator::Pooled(parts, 4096).estimate, truth,
              1e-15);
  second.SwitchToHistogram(4096);
  const ClassAveragePrecision mixed =
      AveragePrecisionAccumulator::Pooled(parts, 4096);
  EXPECT_FALSE(mixed.exact);
  EXPECT_LE(mixed.lower, truth);
  EXPECT_GE(mixed.upper, truth);
}

}  // namespace
}  // namespace focalmetrics
