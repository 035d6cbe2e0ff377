#include "core/ap/average_precision_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::DoubleNear;

// scikit-learn's average_precision_score: sort by score descending, group
// equal scores, AP = sum over groups of (recall_k - recall_{k-1}) *
// precision_k. NaN without positives.
double ReferenceAveragePrecision(absl::Span<const double> scores,
                                 absl::Span<const uint8_t> is_positive) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return scores[x] > scores[y]; });
  const int64_t total = std::count(is_positive.begin(), is_positive.end(), 1);
  if (total == 0) return std::nan("");
  double ap = 0.0;
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {
    const int64_t tp_before = tp;
    const double score = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == score; ++i) {
      ++(is_positive[order[i]] ? tp : fp);
    }
    ap += static_cast<double>(tp - tp_before) / static_cast<double>(total) *
          static_cast<double>(tp) / static_cast<double>(tp + fp);
  }
  return ap;
}

struct Samples {
  std::vector<double> scores;
  std::vector<uint8_t> is_positive;

  size_t size() const { return scores.size(); }
  absl::Span<const double> Scores(size_t begin, size_t end) const {
    return absl::MakeConstSpan(scores).subspan(begin, end - begin);
  }
  absl::Span<const uint8_t> Labels(size_t begin, size_t end) const {
    return absl::MakeConstSpan(is_positive).subspan(begin, end - begin);
  }
  double ReferenceAp() const {
    return ReferenceAveragePrecision(scores, is_positive);
  }
};

// The acceptance stream's distribution: negatives' logits ~ N(0, 1),
// positives' ~ N(2, 1).
Samples ShiftedGaussians(size_t n, double prevalence, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::bernoulli_distribution positive(prevalence);
  Samples samples;
  samples.scores.reserve(n);
  samples.is_positive.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const bool is_positive = positive(rng);
    samples.is_positive.push_back(is_positive ? 1 : 0);
    samples.scores.push_back(normal(rng) + (is_positive ? 2.0 : 0.0));
  }
  return samples;
}

// Feeds samples [begin, end) in batches, checking the budget after each Add.
void AddInBatches(const Samples& samples, size_t begin, size_t end,
                  size_t batch, AveragePrecisionHistogram& histogram) {
  for (size_t i = begin; i < end; i += batch) {
    const size_t stop = std::min(end, i + batch);
    histogram.Add(samples.Scores(i, stop), samples.Labels(i, stop));
    ASSERT_LE(histogram.MemoryBytes(), histogram.max_bytes());
  }
}

void ExpectBoundsHold(const ClassAveragePrecision& ap, double exact) {
  EXPECT_TRUE(ap.defined);
  EXPECT_FALSE(ap.exact);
  EXPECT_LE(ap.lower, exact);
  // upper is at most 1, which the reference's sum can exceed by an ulp.
  EXPECT_GE(ap.upper, std::min(exact, 1.0));
  EXPECT_LE(ap.lower, ap.estimate);
  EXPECT_GE(ap.upper, ap.estimate);
}

TEST(AveragePrecisionHistogramTest, ReferenceMatchesScikitLearn) {
  // Values from sklearn 1.2.1's average_precision_score.
  EXPECT_DOUBLE_EQ(
      ReferenceAveragePrecision({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}),
      0.8333333333333333);
  EXPECT_DOUBLE_EQ(
      ReferenceAveragePrecision({0.5, 0.5, 0.2, 0.2, 0.9}, {1, 0, 1, 0, 1}),
      0.7555555555555555);
  EXPECT_DOUBLE_EQ(ReferenceAveragePrecision({1, 1, 1, 1}, {1, 0, 0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(ReferenceAveragePrecision({3, 2, 2, 2, 1, 1, 0, -1},
                                             {1, 1, 0, 1, 0, 0, 1, 0}),
                   0.7678571428571428);
}

// The acceptance criterion: a 1M-sample stream at 1% prevalence in
// batches of 4096 stays within 64 KiB and pins AP to an interval <= 1e-3
// wide that holds the exact AP.
TEST(AveragePrecisionHistogramTest, AcceptanceStreamWithinBudgetAndNarrow) {
  const Samples stream = ShiftedGaussians(1'000'000, 0.01, /*seed=*/42);
  const double exact = stream.ReferenceAp();
  AveragePrecisionHistogram histogram;
  ASSERT_EQ(histogram.max_bytes(), 64u * 1024);
  AddInBatches(stream, 0, stream.size(), 4096, histogram);

  const ClassAveragePrecision ap = histogram.Compute();
  ExpectBoundsHold(ap, exact);
  EXPECT_LE(ap.upper - ap.lower, 1e-3);
  EXPECT_EQ(ap.positives + ap.negatives, 1'000'000);
  EXPECT_EQ(ap.positives, std::count(stream.is_positive.begin(),
                                     stream.is_positive.end(), 1));

  // The same stream split across four workers, round robin by batch.
  std::vector<AveragePrecisionHistogram> workers(4);
  for (size_t i = 0, k = 0; i < stream.size(); i += 4096, ++k) {
    AddInBatches(stream, i, std::min(stream.size(), i + 4096), 4096,
                 workers[k % 4]);
  }
  AveragePrecisionHistogram merged;
  for (const AveragePrecisionHistogram& worker : workers) {
    merged.Merge(worker);
    ASSERT_LE(merged.MemoryBytes(), 64u * 1024);
  }
  const ClassAveragePrecision merged_ap = merged.Compute();
  ExpectBoundsHold(merged_ap, exact);
  EXPECT_LE(merged_ap.upper - merged_ap.lower, 1e-3);
  EXPECT_EQ(merged_ap.positives, ap.positives);
  EXPECT_EQ(merged_ap.negatives, ap.negatives);
}

TEST(AveragePrecisionHistogramTest, BoundsHoldOnRandomSmallDataSets) {
  std::mt19937_64 rng(7);
  const size_t budgets[] = {0, 64, 256, 1024, 64 * 1024};
  for (int trial = 0; trial < 2000; ++trial) {
    const size_t n = std::uniform_int_distribution<size_t>(1, 400)(rng);
    const double prevalence = std::uniform_real_distribution<>(0.0, 1.0)(rng);
    // Half the data sets draw scores from a handful of values: heavy ties.
    const int distinct =
        trial % 2 == 0 ? std::uniform_int_distribution<>(1, 6)(rng) : 0;
    Samples samples;
    std::normal_distribution<double> normal;
    std::bernoulli_distribution positive(prevalence);
    for (size_t i = 0; i < n; ++i) {
      const bool is_positive = positive(rng);
      const double score =
          distinct > 0
              ? std::uniform_int_distribution<>(0, distinct - 1)(rng) * 0.5
              : normal(rng);
      samples.scores.push_back(score + (is_positive ? 0.7 : 0.0));
      samples.is_positive.push_back(is_positive ? 1 : 0);
    }
    const size_t budget = budgets[trial % 5];
    const size_t batch = std::uniform_int_distribution<size_t>(1, 64)(rng);
    // Every third data set goes through two workers and a Merge.
    const size_t split = trial % 3 == 0 ? n / 2 : n;
    AveragePrecisionHistogram histogram(budget);
    AddInBatches(samples, 0, split, batch, histogram);
    AveragePrecisionHistogram other(budgets[(trial + 2) % 5]);
    AddInBatches(samples, split, n, batch + 3, other);
    histogram.Merge(other);
    ASSERT_LE(histogram.MemoryBytes(),
              std::max(budget, AveragePrecisionHistogram::kMinMaxBytes));

    const ClassAveragePrecision ap = histogram.Compute();
    const int64_t positives =
        std::count(samples.is_positive.begin(), samples.is_positive.end(), 1);
    ASSERT_EQ(ap.positives, positives);
    ASSERT_EQ(ap.negatives, static_cast<int64_t>(n) - positives);
    if (positives == 0) {
      EXPECT_FALSE(ap.defined);
      continue;
    }
    SCOPED_TRACE(testing::Message()
                 << "trial " << trial << " n " << n << " budget " << budget);
    ExpectBoundsHold(ap, samples.ReferenceAp());
    if (budget == 64 * 1024 && distinct > 0 && split == n) {
      // Few distinct scores fit in one-score bins: exact.
      EXPECT_NEAR(ap.estimate, samples.ReferenceAp(), 1e-12);
      EXPECT_LE(ap.upper - ap.lower, 3e-10);
    }
  }
}

TEST(AveragePrecisionHistogramTest, TiesAreGroupedLikeScikitLearn) {
  AveragePrecisionHistogram histogram;
  const std::vector<double> scores = {0.5, 0.5, 0.2, 0.2, 0.9};
  const std::vector<uint8_t> labels = {1, 0, 1, 0, 1};
  histogram.Add(scores, labels);
  const ClassAveragePrecision ap = histogram.Compute();
  EXPECT_THAT(ap.estimate, DoubleNear(0.7555555555555555, 1e-15));
  EXPECT_THAT(ap.lower, DoubleNear(0.7555555555555555, 2e-10));
  EXPECT_THAT(ap.upper, DoubleNear(0.7555555555555555, 2e-10));

  // -0 and +0 are one score, as in a sort.
  AveragePrecisionHistogram zeros;
  const std::vector<double> zero_scores = {-0.0, 0.0};
  zeros.Add(zero_scores, std::vector<uint8_t>{1, 0});
  EXPECT_THAT(zeros.Compute().estimate, DoubleNear(0.5, 1e-15));
}

TEST(AveragePrecisionHistogramTest, ExtremeScoresKeepTheirOrder) {
  const double tiny = std::numeric_limits<double>::denorm_min();
  const double huge = std::numeric_limits<double>::max();
  Samples samples;
  samples.scores = {-huge, -1.0, -tiny, 0.0, tiny, 1e-300, 1.0, huge, 7.0};
  samples.is_positive = {0, 1, 0, 1, 0, 1, 0, 1, 1};
  AveragePrecisionHistogram histogram;
  histogram.Add(samples.scores, samples.is_positive);
  EXPECT_THAT(histogram.Compute().estimate,
              DoubleNear(samples.ReferenceAp(), 1e-15));
  // And merged into one bin, which covers the whole score range.
  AveragePrecisionHistogram one_bin(0);
  one_bin.Add(samples.scores, samples.is_positive);
  ExpectBoundsHold(one_bin.Compute(), samples.ReferenceAp());
  const PrecisionRecallPoints curve = one_bin.Curve(10);
  ASSERT_FALSE(curve.thresholds.empty());
  EXPECT_TRUE(std::isfinite(curve.thresholds.back()));
}

TEST(AveragePrecisionHistogramTest, ClassWithoutPositivesIsUndefined) {
  AveragePrecisionHistogram histogram;
  const std::vector<double> scores = {0.3, -1.0, 2.0};
  histogram.Add(scores, std::vector<uint8_t>{0, 0, 0});
  const ClassAveragePrecision ap = histogram.Compute();
  EXPECT_FALSE(ap.defined);
  EXPECT_FALSE(ap.exact);
  EXPECT_EQ(ap.positives, 0);
  EXPECT_EQ(ap.negatives, 3);
  EXPECT_EQ(ap.estimate, 0.0);
  EXPECT_TRUE(histogram.Curve(10).recall.empty());
}

TEST(AveragePrecisionHistogramTest, AllPositivesGiveApOne) {
  const Samples samples = ShiftedGaussians(10'000, 1.0, /*seed=*/3);
  AveragePrecisionHistogram histogram(256);
  AddInBatches(samples, 0, samples.size(), 1000, histogram);
  const ClassAveragePrecision ap = histogram.Compute();
  EXPECT_TRUE(ap.defined);
  EXPECT_EQ(ap.positives, 10'000);
  EXPECT_EQ(ap.negatives, 0);
  // No negative anywhere: every order of the positives has AP 1.
  EXPECT_GE(ap.lower, 1.0 - 1e-9);
  EXPECT_EQ(ap.upper, 1.0);
}

TEST(AveragePrecisionHistogramTest, SingleSample) {
  AveragePrecisionHistogram positive;
  positive.Add(std::vector<double>{0.25}, std::vector<uint8_t>{1});
  const ClassAveragePrecision ap = positive.Compute();
  EXPECT_TRUE(ap.defined);
  EXPECT_THAT(ap.estimate, DoubleNear(1.0, 1e-15));
  EXPECT_GE(ap.lower, 1.0 - 1e-9);
  const PrecisionRecallPoints curve = positive.Curve(5);
  EXPECT_THAT(curve.thresholds, testing::ElementsAre(0.25));
  EXPECT_THAT(curve.recall, testing::ElementsAre(1.0));

  AveragePrecisionHistogram negative;
  negative.Add(std::vector<double>{0.25}, std::vector<uint8_t>{0});
  EXPECT_FALSE(negative.Compute().defined);
}

TEST(AveragePrecisionHistogramTest, EmptyHistogram) {
  const AveragePrecisionHistogram histogram;
  const ClassAveragePrecision ap = histogram.Compute();
  EXPECT_FALSE(ap.defined);
  EXPECT_FALSE(ap.exact);
  EXPECT_EQ(ap.positives, 0);
  EXPECT_EQ(ap.negatives, 0);
  EXPECT_EQ(histogram.MemoryBytes(), 0u);
  EXPECT_TRUE(histogram.Curve(10).thresholds.empty());

  AveragePrecisionHistogram merged;
  merged.Merge(histogram);
  merged.Add({}, {});
  EXPECT_EQ(merged.MemoryBytes(), 0u);
  EXPECT_FALSE(merged.Compute().defined);
}

TEST(AveragePrecisionHistogramTest, TinyBudgetGivesValidWiderBounds) {
  const Samples samples = ShiftedGaussians(100'000, 0.05, /*seed=*/11);
  const double exact = samples.ReferenceAp();
  double previous_width = 1.0;
  for (const size_t budget : {32, 256, 4096, 64 * 1024}) {
    SCOPED_TRACE(testing::Message() << "budget " << budget);
    AveragePrecisionHistogram histogram(budget);
    AddInBatches(samples, 0, samples.size(), 4096, histogram);
    EXPECT_LE(histogram.MemoryBytes(), budget);
    const ClassAveragePrecision ap = histogram.Compute();
    ExpectBoundsHold(ap, exact);
    EXPECT_LT(ap.upper - ap.lower, previous_width);
    previous_width = ap.upper - ap.lower;
  }
  EXPECT_LT(previous_width, 1e-3);
}

TEST(AveragePrecisionHistogramTest, CurveIsMonotoneAndEndsAtFullRecall) {
  const Samples samples = ShiftedGaussians(200'000, 0.02, /*seed=*/5);
  AveragePrecisionHistogram histogram;
  AddInBatches(samples, 0, samples.size(), 4096, histogram);
  for (const size_t max_points : {0, 1, 2, 3, 50, 1000, 1'000'000}) {
    SCOPED_TRACE(testing::Message() << "max_points " << max_points);
    const PrecisionRecallPoints curve = histogram.Curve(max_points);
    ASSERT_GE(curve.recall.size(), 2u);
    EXPECT_LE(curve.recall.size(), std::max<size_t>(max_points, 2));
    EXPECT_LE(curve.recall.size(), histogram.bin_count());
    ASSERT_EQ(curve.thresholds.size(), curve.recall.size());
    ASSERT_EQ(curve.precision.size(), curve.recall.size());
    EXPECT_TRUE(std::is_sorted(curve.recall.begin(), curve.recall.end()));
    EXPECT_TRUE(
        std::is_sorted(curve.thresholds.rbegin(), curve.thresholds.rend()));
    EXPECT_EQ(curve.recall.back(), 1.0);
    for (const double precision : curve.precision) {
      EXPECT_GE(precision, 0.0);
      EXPECT_LE(precision, 1.0);
    }
  }
  EXPECT_EQ(histogram.Curve(1'000'000).recall.size(), histogram.bin_count());
}

TEST(AveragePrecisionHistogramTest, CurvePointsLieOnTheExactCurve) {
  const Samples samples = ShiftedGaussians(20'000, 0.1, /*seed=*/9);
  AveragePrecisionHistogram histogram(2048);
  AddInBatches(samples, 0, samples.size(), 1000, histogram);
  const PrecisionRecallPoints curve = histogram.Curve(40);
  ASSERT_EQ(curve.thresholds.size(), 40u);
  const int64_t total =
      std::count(samples.is_positive.begin(), samples.is_positive.end(), 1);
  for (size_t k = 0; k < curve.thresholds.size(); ++k) {
    int64_t tp = 0, fp = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      if (samples.scores[i] >= curve.thresholds[k]) {
        ++(samples.is_positive[i] ? tp : fp);
      }
    }
    EXPECT_DOUBLE_EQ(curve.recall[k], static_cast<double>(tp) / total);
    EXPECT_DOUBLE_EQ(curve.precision[k], static_cast<double>(tp) / (tp + fp));
  }
}

TEST(AveragePrecisionHistogramTest, MergeOrderDoesNotAffectValidity) {
  const Samples samples = ShiftedGaussians(40'000, 0.03, /*seed=*/13);
  const double exact = samples.ReferenceAp();
  // Four workers with different budgets and batch sizes, so their bins
  // differ.
  std::vector<AveragePrecisionHistogram> parts = {
      AveragePrecisionHistogram(512), AveragePrecisionHistogram(2048),
      AveragePrecisionHistogram(8192), AveragePrecisionHistogram(65536)};
  const size_t quarter = samples.size() / 4;
  for (size_t k = 0; k < 4; ++k) {
    AddInBatches(samples, k * quarter, (k + 1) * quarter, 97 + 1000 * k,
                 parts[k]);
  }
  std::vector<size_t> order = {0, 1, 2, 3};
  do {
    AveragePrecisionHistogram merged(4096);
    for (const size_t k : order) merged.Merge(parts[k]);
    EXPECT_LE(merged.MemoryBytes(), 4096u);
    const ClassAveragePrecision ap = merged.Compute();
    ExpectBoundsHold(ap, exact);
    EXPECT_EQ(ap.positives + ap.negatives, 40'000);
  } while (std::next_permutation(order.begin(), order.end()));

  // A tree of merges, as a reduction across workers would do.
  AveragePrecisionHistogram left = parts[3], right = parts[1];
  left.Merge(parts[0]);
  right.Merge(parts[2]);
  left.Merge(right);
  ExpectBoundsHold(left.Compute(), exact);
}

TEST(AveragePrecisionHistogramTest, MergeMatchesAddingEverything) {
  // Budgets large enough to keep every score: merging is then exact.
  const Samples samples = ShiftedGaussians(3000, 0.2, /*seed=*/17);
  AveragePrecisionHistogram all(1 << 20), first(1 << 20), second(1 << 20);
  all.Add(samples.scores, samples.is_positive);
  first.Add(samples.Scores(0, 1000), samples.Labels(0, 1000));
  second.Add(samples.Scores(1000, 3000), samples.Labels(1000, 3000));
  first.Merge(second);
  EXPECT_EQ(first.bin_count(), all.bin_count());
  EXPECT_EQ(first.MemoryBytes(), all.MemoryBytes());
  EXPECT_THAT(first.Compute().estimate,
              DoubleNear(samples.ReferenceAp(), 1e-12));
}

TEST(AveragePrecisionHistogramTest, CountsBeyondInt32DoNotOverflow) {
  const Samples samples = ShiftedGaussians(5000, 0.1, /*seed=*/19);
  AveragePrecisionHistogram histogram(1024);
  histogram.Add(samples.scores, samples.is_positive);
  const int64_t positives = histogram.positives();
  // Merging a histogram with itself repeats every sample, which keeps each
  // tie group's precision and so the AP.
  for (int i = 0; i < 36; ++i) histogram.Merge(histogram);
  EXPECT_EQ(histogram.positives(), positives << 36);
  EXPECT_LE(histogram.MemoryBytes(), 1024u);
  ExpectBoundsHold(histogram.Compute(), samples.ReferenceAp());
}

}  // namespace
}  // namespace focalmetrics
