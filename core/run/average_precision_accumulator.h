// Average precision of one class of a run: exact (every score kept) until
// the run's memory budget says otherwise, then a bounded-memory histogram
// with certified bounds. Scores are logits (sigmoid tasks) or softmax
// probabilities (MULTICLASS); curves report thresholds as probabilities.
//
//   AveragePrecisionAccumulator ap(ScoreSpace::kLogit);
//   ap.Add(logits, is_positive);
//   if (over_budget) ap.SwitchToHistogram(64 * 1024);
//   ClassAveragePrecision value = ap.Compute();
#ifndef FOCALMETRICS_CORE_RUN_AVERAGE_PRECISION_ACCUMULATOR_H_
#define FOCALMETRICS_CORE_RUN_AVERAGE_PRECISION_ACCUMULATOR_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "core/ap/average_precision.h"
#include "core/ap/average_precision_histogram.h"
#include "core/ap/exact_average_precision.h"
#include "core/durability/byte_codec.h"

namespace focalmetrics {

enum class ScoreSpace {
  kLogit,        // Sigmoid logits.
  kProbability,  // Probabilities in [0, 1].
};

// In histogram mode, added samples are staged and folded into the histogram
// in bulk: a histogram Add costs O(bins) however few samples it adds, so
// folding a 256-sample batch of each of 80 classes into ~10,000 bins apiece
// made a bounded-memory run ingest 16x slower than an exact one. Of the
// class's budget the stage takes a quarter (9 bytes a sample: 1,820 samples
// of 64 KiB) and the bins the rest, so MemoryBytes() stays within it. The
// stage is allocated on the first sample staged and folded whenever it is
// full and before anything reads the histogram.
//
// Not thread-safe: the run serialises calls, const ones included (they may
// fold the stage).
class AveragePrecisionAccumulator {
 public:
  explicit AveragePrecisionAccumulator(ScoreSpace space);
  AveragePrecisionAccumulator(AveragePrecisionAccumulator&&) = default;
  AveragePrecisionAccumulator& operator=(AveragePrecisionAccumulator&&) =
      default;

  void Add(absl::Span<const double> scores,
           absl::Span<const uint8_t> is_positive);
  bool exact() const { return histogram_ == nullptr; }
  // The exact scores, or the histogram's bins plus the stage.
  size_t MemoryBytes() const;
  // Moves every stored score into a histogram and keeps adding there from
  // now on, using at most `bytes` (bins and stage). No-op when already a
  // histogram.
  void SwitchToHistogram(size_t bytes);

  ClassAveragePrecision Compute() const;
  // Thresholds as probabilities, decreasing.
  PrecisionRecallPoints Curve(size_t max_points) const;

  // Snapshot encoding (see RunState::AppendSnapshot).
  void AppendTo(std::string* out) const;
  static absl::StatusOr<AveragePrecisionAccumulator> ReadFrom(ByteReader& in);

  // AP of the union of `classes` (the micro average): exact when all are.
  static ClassAveragePrecision Pooled(
      absl::Span<const AveragePrecisionAccumulator* const> classes,
      size_t histogram_bytes);

 private:
  // The histogram's key: monotone, finite, fine where probabilities crowd
  // near 0 and 1 (log-odds).
  double HistogramKey(double score) const;
  // Adds the staged samples to the histogram. Logically const: the samples
  // the accumulator represents stay the same.
  void Fold() const;

  ScoreSpace space_;
  ExactAveragePrecision exact_;
  std::unique_ptr<AveragePrecisionHistogram> histogram_;
  // Histogram keys and labels not yet folded (histogram mode only).
  mutable std::vector<double> staged_keys_;
  mutable std::vector<uint8_t> staged_labels_;
  size_t stage_capacity_ = 0;  // samples
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_RUN_AVERAGE_PRECISION_ACCUMULATOR_H_
