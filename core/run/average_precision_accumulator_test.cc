#include "core/run/average_precision_accumulator.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/durability/byte_codec.h"
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

// Small batches in histogram mode are staged and folded in bulk: the result
// is that of one histogram Add of them all, not of one Add per batch.
TEST(AveragePrecisionAccumulatorTest, SmallBatchesAreFoldedInBulk) {
  const Data data = Random(2500, 3, false);
  const auto scores = absl::MakeConstSpan(data.scores);
  const auto labels = absl::MakeConstSpan(data.labels);
  // 1000 samples fill the bins (3/4 of 4096 bytes) before the batches come.
  AveragePrecisionAccumulator staged(ScoreSpace::kLogit);
  staged.Add(scores.first(1000), labels.first(1000));
  staged.SwitchToHistogram(4096);
  AveragePrecisionHistogram bulk(3072), per_batch(3072);
  bulk.Add(scores.first(1000), labels.first(1000));
  per_batch.Add(scores.first(1000), labels.first(1000));
  // The stage's 1024 bytes hold 113 samples: staged in batches of 10.
  const size_t stage = 3072 / 3 / 9;
  for (size_t start = 1000; start < 1000 + stage; start += 10) {
    const size_t n = std::min<size_t>(10, 1000 + stage - start);
    staged.Add(scores.subspan(start, n), labels.subspan(start, n));
    per_batch.Add(scores.subspan(start, n), labels.subspan(start, n));
  }
  bulk.Add(scores.subspan(1000, stage), labels.subspan(1000, stage));
  const ClassAveragePrecision got = staged.Compute();
  EXPECT_EQ(got.lower, bulk.Compute().lower);
  EXPECT_EQ(got.upper, bulk.Compute().upper);
  EXPECT_EQ(got.estimate, bulk.Compute().estimate);
  EXPECT_EQ(got.positives + got.negatives, static_cast<int64_t>(1000 + stage));
  // One Add per batch compacts another way: the comparison can tell.
  EXPECT_NE(per_batch.Compute().upper - per_batch.Compute().lower,
            got.upper - got.lower);
  EXPECT_LE(staged.MemoryBytes(), 4096u);

  // Past the stage's size, a fold happens on its own; every sample counts.
  staged.Add(scores.subspan(1000 + stage), labels.subspan(1000 + stage));
  const ClassAveragePrecision all = staged.Compute();
  EXPECT_EQ(all.positives + all.negatives, 2500);
  EXPECT_LE(staged.MemoryBytes(), 4096u);
}

// A snapshot folds the stage first, so the restored copy and the original
// go on identically.
TEST(AveragePrecisionAccumulatorTest, SnapshotsCarryStagedSamples) {
  const Data data = Random(900, 4, true);
  AveragePrecisionAccumulator original(ScoreSpace::kProbability);
  original.SwitchToHistogram(4096);
  original.Add(absl::MakeConstSpan(data.scores).first(50),
               absl::MakeConstSpan(data.labels).first(50));
  std::string encoded;
  original.AppendTo(&encoded);
  ByteReader reader(encoded);
  absl::StatusOr<AveragePrecisionAccumulator> restored =
      AveragePrecisionAccumulator::ReadFrom(reader);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->Compute().positives, original.Compute().positives);
  for (size_t start = 50; start < 900; start += 50) {
    const auto scores = absl::MakeConstSpan(data.scores).subspan(start, 50);
    const auto labels = absl::MakeConstSpan(data.labels).subspan(start, 50);
    original.Add(scores, labels);
    restored->Add(scores, labels);
  }
  EXPECT_EQ(restored->Compute().lower, original.Compute().lower);
  EXPECT_EQ(restored->Compute().upper, original.Compute().upper);
  EXPECT_EQ(restored->Compute().positives + restored->Compute().negatives, 900);
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
