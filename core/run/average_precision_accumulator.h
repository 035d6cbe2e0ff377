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

// Not thread-safe: the run serialises calls.
class AveragePrecisionAccumulator {
 public:
  explicit AveragePrecisionAccumulator(ScoreSpace space);
  AveragePrecisionAccumulator(AveragePrecisionAccumulator&&) = default;
  AveragePrecisionAccumulator& operator=(AveragePrecisionAccumulator&&) =
      default;

  void Add(absl::Span<const double> scores,
           absl::Span<const uint8_t> is_positive);
  bool exact() const { return histogram_ == nullptr; }
  size_t MemoryBytes() const;
  // Moves every stored score into a histogram of at most `bytes` and keeps
  // adding there from now on. No-op when already a histogram.
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

  ScoreSpace space_;
  ExactAveragePrecision exact_;
  std::unique_ptr<AveragePrecisionHistogram> histogram_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_RUN_AVERAGE_PRECISION_ACCUMULATOR_H_
