// Average precision of one class in bounded memory, with certified bounds:
// a mergeable histogram of scores whose bins hold (positives, negatives) and
// are kept fine where AP is sensitive. Used when a run's exact scores would
// outgrow their memory budget; see docs/average_precision.md.
//
//   AveragePrecisionHistogram histogram;  // 64 KiB of bins at most
//   histogram.Add(scores, is_positive);
//   ClassAveragePrecision ap = histogram.Compute();  // ap.lower <= AP <= upper
#ifndef FOCALMETRICS_CORE_AP_AVERAGE_PRECISION_HISTOGRAM_H_
#define FOCALMETRICS_CORE_AP_AVERAGE_PRECISION_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/ap/average_precision.h"

namespace focalmetrics {

// The bins are disjoint dyadic intervals of an exact, order-preserving image
// of the score, so a bin of one key holds equal scores only, and the bins of
// two histograms are always nested or disjoint: merging never has to chain
// neighbouring bins together. When the bins outgrow the budget, neighbours
// are merged where that widens the bounds least (over the samples expected
// to arrive, not only those seen). The bins are stored delta- and
// varint-encoded, about 6.5 bytes each: 64 KiB holds ~10,000 bins.
//
// A run switching from exact to bounded mode Adds every stored (score,
// label) pair; until the budget is reached the histogram is exact (one bin
// per distinct score).
//
// Not thread-safe: the owner (a run) serialises calls. Copyable; a copy is a
// snapshot.
class AveragePrecisionHistogram {
 public:
  static constexpr size_t kDefaultMaxBytes = 64 * 1024;
  // Smaller budgets are raised to this: room for one bin of any counts.
  static constexpr size_t kMinMaxBytes = 32;

  // `max_bytes` bounds MemoryBytes().
  explicit AveragePrecisionHistogram(size_t max_bytes = kDefaultMaxBytes);

  // Adds samples: a score (any finite score, larger = more likely positive;
  // the service passes logits or log-odds) and whether each sample is a
  // positive of this class. Costs O(n log n + bins log bins) for n samples,
  // so large batches (thousands) are cheapest per sample.
  // REQUIRES: scores.size() == is_positive.size(); finite scores.
  void Add(absl::Span<const double> scores,
           absl::Span<const uint8_t> is_positive);

  // Folds in another histogram (another worker's, or a restored snapshot).
  // The result keeps this histogram's budget; `other` may be *this.
  void Merge(const AveragePrecisionHistogram& other);

  // AP with certified bounds: lower <= the AP of the samples added
  // (scikit-learn's average_precision_score, ties grouped) <= upper, padded
  // by 1e-10 for rounding; estimate (the AP with each bin's samples taken
  // as tied) lies in between. exact is false; defined is false, with the AP
  // fields 0, when there are no positives.
  ClassAveragePrecision Compute() const;

  // The precision-recall curve at bin edges, by decreasing threshold: each
  // point predicts positive for scores >= its threshold and lies on the
  // exact curve. Down-sampled evenly over the bins to at most
  // max(max_points, 2) points, always keeping the last (recall 1). Empty
  // when there are no positives.
  PrecisionRecallPoints Curve(size_t max_points) const;

  // Appends a self-delimiting, versioned encoding of the histogram (budget,
  // counts, bins) to *out, for a snapshot on disk. Little-endian varints,
  // the same on every platform; see docs/average_precision.md, "Snapshots".
  // REQUIRES: out != nullptr.
  void AppendTo(std::string* out) const;

  // Reads one encoding written by AppendTo() from the front of *in and
  // advances *in past it. The result is the same histogram: Compute(),
  // Curve(), the counts, max_bytes(), MemoryBytes() and every later Add or
  // Merge behave exactly as the original's would.
  //
  // On error *in is left as it was. INVALID_ARGUMENT if `in` is null;
  // DATA_LOSS if the bytes are truncated or inconsistent: an unknown
  // encoding version, a budget below kMinMaxBytes, bins larger than the
  // budget, bins that do not add up to the counts, are empty, out of order
  // or past the highest score, or not encoded as AppendTo() encodes them.
  // Arbitrary bytes never crash this and never yield a histogram that breaks
  // the class's invariants. Corruption that leaves a consistent histogram (a
  // bin shifted to other scores) goes undetected: checksums are the
  // snapshot file's job.
  [[nodiscard]] static absl::StatusOr<AveragePrecisionHistogram> ReadFrom(
      absl::string_view* in);

  // Bytes of the bin state; never above max_bytes() between calls.
  size_t MemoryBytes() const { return bins_.capacity(); }
  size_t max_bytes() const { return max_bytes_; }
  size_t bin_count() const { return bin_count_; }
  int64_t positives() const { return positives_; }
  int64_t negatives() const { return negatives_; }

 private:
  size_t max_bytes_;
  int64_t positives_ = 0;
  int64_t negatives_ = 0;
  size_t bin_count_ = 0;
  std::vector<uint8_t> bins_;  // encoded, by increasing score
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_AP_AVERAGE_PRECISION_HISTOGRAM_H_
