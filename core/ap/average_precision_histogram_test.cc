#include "core/ap/average_precision_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// ---------------------------------------------------------------------------
// Snapshots.

std::string Encoding(const AveragePrecisionHistogram& histogram) {
  std::string out;
  histogram.AppendTo(&out);
  return out;
}

absl::StatusOr<AveragePrecisionHistogram> Read(absl::string_view in) {
  return AveragePrecisionHistogram::ReadFrom(&in);
}

// Everything observable is equal, to the bit.
void ExpectSameHistogram(const AveragePrecisionHistogram& actual,
                         const AveragePrecisionHistogram& expected) {
  EXPECT_EQ(actual.max_bytes(), expected.max_bytes());
  EXPECT_EQ(actual.MemoryBytes(), expected.MemoryBytes());
  EXPECT_EQ(actual.bin_count(), expected.bin_count());
  EXPECT_EQ(actual.positives(), expected.positives());
  EXPECT_EQ(actual.negatives(), expected.negatives());
  const ClassAveragePrecision a = actual.Compute();
  const ClassAveragePrecision e = expected.Compute();
  EXPECT_EQ(a.defined, e.defined);
  EXPECT_EQ(a.exact, e.exact);
  EXPECT_EQ(a.positives, e.positives);
  EXPECT_EQ(a.negatives, e.negatives);
  EXPECT_EQ(a.lower, e.lower);
  EXPECT_EQ(a.estimate, e.estimate);
  EXPECT_EQ(a.upper, e.upper);
  for (const size_t max_points : {2, 7, 1'000'000}) {
    const PrecisionRecallPoints ac = actual.Curve(max_points);
    const PrecisionRecallPoints ec = expected.Curve(max_points);
    EXPECT_EQ(ac.thresholds, ec.thresholds);
    EXPECT_EQ(ac.precision, ec.precision);
    EXPECT_EQ(ac.recall, ec.recall);
  }
  EXPECT_EQ(Encoding(actual), Encoding(expected));
}

void ExpectRoundTrip(const AveragePrecisionHistogram& histogram) {
  const std::string encoding = Encoding(histogram);
  absl::string_view in = encoding;
  absl::StatusOr<AveragePrecisionHistogram> restored =
      AveragePrecisionHistogram::ReadFrom(&in);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(in.empty());
  ExpectSameHistogram(*restored, histogram);
}

// The class's invariants, as far as they can be seen from outside, and that
// the histogram can be used further.
void ExpectValidHistogram(AveragePrecisionHistogram histogram) {
  EXPECT_GE(histogram.max_bytes(), AveragePrecisionHistogram::kMinMaxBytes);
  EXPECT_LE(histogram.MemoryBytes(), histogram.max_bytes());
  EXPECT_GE(histogram.positives(), 0);
  EXPECT_GE(histogram.negatives(), 0);
  const ClassAveragePrecision ap = histogram.Compute();
  EXPECT_EQ(ap.defined, histogram.positives() > 0);
  EXPECT_LE(0.0, ap.lower);
  EXPECT_LE(ap.lower, ap.estimate);
  EXPECT_LE(ap.estimate, ap.upper);
  EXPECT_LE(ap.upper, 1.0);
  const PrecisionRecallPoints curve = histogram.Curve(1'000'000);
  if (ap.defined) {
    EXPECT_EQ(curve.recall.size(), histogram.bin_count());
    EXPECT_TRUE(std::is_sorted(curve.recall.begin(), curve.recall.end()));
    EXPECT_TRUE(
        std::is_sorted(curve.thresholds.rbegin(), curve.thresholds.rend()));
    for (size_t k = 0; k < curve.recall.size(); ++k) {
      EXPECT_TRUE(std::isfinite(curve.thresholds[k]));
      EXPECT_GE(curve.precision[k], 0.0);
      EXPECT_LE(curve.precision[k], 1.0);
    }
    EXPECT_EQ(curve.recall.back(), 1.0);
  }
  ExpectRoundTrip(histogram);
  const Samples more = ShiftedGaussians(500, 0.3, /*seed=*/1);
  histogram.Add(more.scores, more.is_positive);
  histogram.Merge(histogram);
  EXPECT_LE(histogram.MemoryBytes(), histogram.max_bytes());
  EXPECT_LE(histogram.Compute().lower, histogram.Compute().upper);
}

// Histograms with and without compaction, merges and tiny budgets.
std::vector<AveragePrecisionHistogram> SnapshotCases() {
  std::vector<AveragePrecisionHistogram> cases;
  cases.emplace_back();  // empty
  const Samples samples = ShiftedGaussians(100'000, 0.05, /*seed=*/23);
  AveragePrecisionHistogram compacted(4096);
  AddInBatches(samples, 0, 60'000, 1000, compacted);
  cases.push_back(compacted);
  AveragePrecisionHistogram merged(2048);
  AddInBatches(samples, 60'000, 100'000, 777, merged);
  merged.Merge(compacted);
  cases.push_back(merged);
  AveragePrecisionHistogram tiny(0);  // raised to kMinMaxBytes: one bin
  AddInBatches(samples, 0, 5000, 100, tiny);
  cases.push_back(tiny);
  AveragePrecisionHistogram exact;  // one bin per distinct score
  AddInBatches(samples, 0, 500, 64, exact);
  cases.push_back(exact);
  AveragePrecisionHistogram negatives_only(64);
  negatives_only.Add(std::vector<double>{1.0, -2.0, 3.0},
                     std::vector<uint8_t>{0, 0, 0});
  cases.push_back(negatives_only);
  AveragePrecisionHistogram extremes;  // denormals, +-DBL_MAX
  const double huge = std::numeric_limits<double>::max();
  extremes.Add(std::vector<double>{-huge, -1e-310, 0.0, 5e-324, huge},
               std::vector<uint8_t>{1, 0, 1, 0, 1});
  cases.push_back(extremes);
  AveragePrecisionHistogram large_counts(1024);  // counts above 2^40
  large_counts.Add(samples.Scores(0, 3000), samples.Labels(0, 3000));
  for (int i = 0; i < 30; ++i) large_counts.Merge(large_counts);
  cases.push_back(large_counts);
  return cases;
}

TEST(AveragePrecisionHistogramTest, SnapshotRoundTripIsExact) {
  const std::vector<AveragePrecisionHistogram> cases = SnapshotCases();
  ASSERT_EQ(cases[0].bin_count(), 0u);
  ASSERT_GT(cases[1].bin_count(), 100u);
  ASSERT_EQ(cases[3].max_bytes(), AveragePrecisionHistogram::kMinMaxBytes);
  for (size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE(testing::Message() << "case " << k);
    ExpectRoundTrip(cases[k]);
  }
}

TEST(AveragePrecisionHistogramTest, SnapshotBehavesLikeTheOriginalAfterwards) {
  const Samples samples = ShiftedGaussians(200'000, 0.02, /*seed=*/29);
  for (const size_t budget : {0, 512, 8192}) {
    SCOPED_TRACE(testing::Message() << "budget " << budget);
    AveragePrecisionHistogram original(budget);
    AddInBatches(samples, 0, 50'000, 4096, original);
    absl::StatusOr<AveragePrecisionHistogram> restored =
        Read(Encoding(original));
    ASSERT_TRUE(restored.ok()) << restored.status();
    AveragePrecisionHistogram other(4096);
    AddInBatches(samples, 150'000, 200'000, 1000, other);
    // Adds that compact, a Merge, and a Merge with itself: step by step the
    // two stay identical.
    for (size_t i = 50'000; i < 150'000; i += 10'000) {
      original.Add(samples.Scores(i, i + 10'000),
                   samples.Labels(i, i + 10'000));
      restored->Add(samples.Scores(i, i + 10'000),
                    samples.Labels(i, i + 10'000));
      ExpectSameHistogram(*restored, original);
    }
    original.Merge(other);
    restored->Merge(other);
    ExpectSameHistogram(*restored, original);
    original.Merge(original);
    restored->Merge(*restored);
    ExpectSameHistogram(*restored, original);
    // And as the argument of a Merge.
    AveragePrecisionHistogram into_original(1024), into_restored(1024);
    into_original.Merge(original);
    into_restored.Merge(*restored);
    ExpectSameHistogram(into_restored, into_original);
  }
}

TEST(AveragePrecisionHistogramTest, ConcatenatedSnapshotsReadBackInOrder) {
  const std::vector<AveragePrecisionHistogram> cases = SnapshotCases();
  std::string encoding;
  for (const AveragePrecisionHistogram& histogram : cases) {
    histogram.AppendTo(&encoding);
  }
  encoding += "tail";
  absl::string_view in = encoding;
  for (size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE(testing::Message() << "case " << k);
    absl::StatusOr<AveragePrecisionHistogram> restored =
        AveragePrecisionHistogram::ReadFrom(&in);
    ASSERT_TRUE(restored.ok()) << restored.status();
    ExpectSameHistogram(*restored, cases[k]);
  }
  EXPECT_EQ(in, "tail");
  // "tail" is not an encoding; a failed read leaves the input as it was.
  EXPECT_FALSE(AveragePrecisionHistogram::ReadFrom(&in).ok());
  EXPECT_EQ(in, "tail");
}

TEST(AveragePrecisionHistogramTest, EveryTruncatedSnapshotIsDataLoss) {
  for (const AveragePrecisionHistogram& histogram : SnapshotCases()) {
    const std::string encoding = Encoding(histogram);
    for (size_t length = 0; length < encoding.size(); ++length) {
      absl::string_view in(encoding.data(), length);
      const absl::StatusOr<AveragePrecisionHistogram> restored =
          AveragePrecisionHistogram::ReadFrom(&in);
      ASSERT_EQ(restored.status().code(), absl::StatusCode::kDataLoss)
          << "length " << length << " of " << encoding.size();
      ASSERT_EQ(in.size(), length);
    }
  }
}

TEST(AveragePrecisionHistogramTest, CorruptSnapshotsFailOrStayValid) {
  std::mt19937_64 rng(31);
  int read_back = 0, refused = 0;
  for (const AveragePrecisionHistogram& histogram : SnapshotCases()) {
    const std::string encoding = Encoding(histogram);
    if (encoding.size() < 300) {
      // Every bit of a small encoding, one at a time.
      for (size_t i = 0; i < encoding.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
          std::string corrupt = encoding;
          corrupt[i] = static_cast<char>(corrupt[i] ^ (1 << bit));
          const absl::StatusOr<AveragePrecisionHistogram> restored =
              Read(corrupt);
          if (!restored.ok()) {
            ++refused;
            continue;
          }
          ++read_back;
          SCOPED_TRACE(testing::Message() << "byte " << i << " bit " << bit);
          ExpectValidHistogram(*restored);
        }
      }
    }
    // Random bytes at 1 to 4 random places.
    for (int trial = 0; trial < 300; ++trial) {
      std::string corrupt = encoding;
      const int flips = std::uniform_int_distribution<>(1, 4)(rng);
      for (int f = 0; f < flips; ++f) {
        const size_t i =
            std::uniform_int_distribution<size_t>(0, corrupt.size() - 1)(rng);
        corrupt[i] =
            static_cast<char>(std::uniform_int_distribution<>(0, 255)(rng));
      }
      const absl::StatusOr<AveragePrecisionHistogram> restored = Read(corrupt);
      if (!restored.ok()) {
        EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss);
        ++refused;
        continue;
      }
      ++read_back;
      SCOPED_TRACE(testing::Message() << "trial " << trial);
      ExpectValidHistogram(*restored);
    }
  }
  // Both outcomes occur: the test exercises the checks and what passes them.
  EXPECT_GT(read_back, 0);
  EXPECT_GT(refused, 0);
}

TEST(AveragePrecisionHistogramTest, UnknownSnapshotVersionIsDataLoss) {
  AveragePrecisionHistogram histogram;
  histogram.Add(std::vector<double>{0.5, 1.5}, std::vector<uint8_t>{0, 1});
  const std::string encoding = Encoding(histogram);
  ASSERT_EQ(encoding[0], '\x01');  // version 1, a one-byte varint
  for (const absl::string_view version :
       {"\x00", "\x02", "\x7f", "\x80\x01", "\xff\xff\xff\xff\x0f"}) {
    const std::string corrupt = std::string(version) + encoding.substr(1);
    const absl::StatusOr<AveragePrecisionHistogram> restored = Read(corrupt);
    EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(restored.status().message(),
                testing::HasSubstr("unknown encoding version"));
  }
}

// Hand-written encodings: version 1, max_bytes, positives, negatives, bin
// count, bin bytes, then per bin its level, gap, positives and negatives
// (all one-byte varints here).
std::string Snapshot(std::vector<uint8_t> header, std::vector<uint8_t> bins) {
  std::string out = {1};
  for (const uint8_t byte : header) out.push_back(static_cast<char>(byte));
  out.push_back(static_cast<char>(bins.size()));
  for (const uint8_t byte : bins) out.push_back(static_cast<char>(byte));
  return out;
}

TEST(AveragePrecisionHistogramTest, InconsistentSnapshotsAreDataLoss) {
  // Valid: two bins, [0, 15] with 1+2 and [32, 35] with 3+0.
  const std::string valid = Snapshot({64, 4, 2, 2}, {4, 0, 1, 2, 2, 0, 3, 0});
  ASSERT_TRUE(Read(valid).ok()) << Read(valid).status();
  const struct {
    const char* what;
    std::string encoding;
  } cases[] = {
      {"positives do not add up",
       Snapshot({64, 5, 2, 2}, {4, 0, 1, 2, 2, 0, 3, 0})},
      {"negatives do not add up",
       Snapshot({64, 4, 1, 2}, {4, 0, 1, 2, 2, 0, 3, 0})},
      {"bin count differs", Snapshot({64, 4, 2, 3}, {4, 0, 1, 2, 2, 0, 3, 0})},
      {"budget below the minimum",
       Snapshot({31, 4, 2, 2}, {4, 0, 1, 2, 2, 0, 3, 0})},
      {"bins over the budget",
       Snapshot({32, 60, 0, 30}, std::vector<uint8_t>(120, 0))},
      {"empty bin", Snapshot({64, 4, 2, 2}, {4, 0, 1, 2, 2, 0, 0, 0})},
      {"level above 64", Snapshot({64, 1, 0, 1}, {65, 0, 1, 0})},
      {"level-64 bin after another",
       Snapshot({64, 2, 0, 2}, {0, 0, 1, 0, 64, 0, 1, 0})},
      {"bin after the highest key",
       Snapshot({64, 2, 0, 2}, {64, 0, 1, 0, 0, 0, 1, 0})},
      {"gap past the highest key", Snapshot({64, 1, 0, 1}, {63, 2, 1, 0})},
      {"over-long varint", Snapshot({64, 1, 0, 1}, {0, 0x80, 0, 1, 0})},
      {"trailing partial bin", Snapshot({64, 1, 0, 1}, {0, 0, 1, 0, 0})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const absl::StatusOr<AveragePrecisionHistogram> restored = Read(c.encoding);
    EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss)
        << restored.status();
  }
  // Counts beyond int64, and a varint beyond 64 bits.
  std::string huge = {1, 64};
  for (int i = 0; i < 9; ++i) huge.push_back('\xff');
  huge.push_back('\x01');  // positives = 2^64 - 1
  huge += std::string{0, 0, 0};
  EXPECT_EQ(Read(huge).status().code(), absl::StatusCode::kDataLoss);
  huge[11] = '\x02';  // bit 64 set
  EXPECT_EQ(Read(huge).status().code(), absl::StatusCode::kDataLoss);

  EXPECT_EQ(AveragePrecisionHistogram::ReadFrom(nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace focalmetrics
