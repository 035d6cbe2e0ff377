// Exact average precision of one class, equal to scikit-learn's
// average_precision_score on every sample added (ties grouped): keeps every
// score, sorts lazily and incrementally (sorted prefix + sorted new tail,
// merged), so repeated queries on a growing run stay cheap.
//
//   ExactAveragePrecision ap;
//   ap.Add(scores, is_positive);
//   double value = ap.Compute().estimate;
#ifndef FOCALMETRICS_CORE_AP_EXACT_AVERAGE_PRECISION_H_
#define FOCALMETRICS_CORE_AP_EXACT_AVERAGE_PRECISION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/ap/average_precision.h"

namespace focalmetrics {

// Not thread-safe: the owner (a run) serialises calls.
class ExactAveragePrecision {
 public:
  // Adds samples: finite scores (larger = more likely positive) and whether
  // each sample is a positive of this class.
  // REQUIRES: scores.size() == is_positive.size().
  void Add(absl::Span<const double> scores,
           absl::Span<const uint8_t> is_positive);

  // Folds in every sample of `other`.
  void Merge(const ExactAveragePrecision& other);

  // estimate == lower == upper == the AP; defined == (positives > 0).
  ClassAveragePrecision Compute() const;

  // The precision-recall curve at every distinct score (as scikit-learn's
  // precision_recall_curve, by decreasing threshold), down-sampled to at
  // most max_points points, always keeping the last (recall 1).
  PrecisionRecallPoints Curve(size_t max_points) const;

  int64_t positives() const { return static_cast<int64_t>(positives_.size()); }
  int64_t negatives() const { return static_cast<int64_t>(negatives_.size()); }
  // Bytes held for the scores.
  size_t MemoryBytes() const;

  // Scores of the positives and negatives, sorted descending.
  absl::Span<const double> SortedPositives() const;
  absl::Span<const double> SortedNegatives() const;

 private:
  // Scores, descending up to *_sorted_, then an unsorted tail. The sorting is
  // a cache: logically const.
  mutable std::vector<double> positives_;
  mutable std::vector<double> negatives_;
  mutable size_t positives_sorted_ = 0;
  mutable size_t negatives_sorted_ = 0;

  void Sort() const;
};

// AP of pooled classes (micro average): the AP of the union of every
// class's samples, computed from their sorted scores without copying them
// into one array.
ClassAveragePrecision PooledAveragePrecision(
    absl::Span<const ExactAveragePrecision* const> classes);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_AP_EXACT_AVERAGE_PRECISION_H_
