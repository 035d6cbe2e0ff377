// The hot loop of the softmax losses: per row of logits x [rows, classes],
// the statistics from which log p_t follows without cancellation, and
// optionally the softmax itself. SIMD (Highway, chosen at run time).
#ifndef FOCALMETRICS_CORE_LOSSES_INTERNAL_SOFTMAX_KERNEL_H_
#define FOCALMETRICS_CORE_LOSSES_INTERNAL_SOFTMAX_KERNEL_H_

#include <cstdint>

#include "absl/types/span.h"
#include "core/tensor/tensor.h"

namespace focalmetrics::losses_internal {

// log sum_j exp(x_j) = max + log(max_count + rest), where rest sums
// exp(x_j - max) over the x_j below the max. Cross-entropy for target t is
// then (max - x_t) + log1p(max_count - 1 + rest) when x_t is a max, a sum
// of non-negative terms that keeps full relative precision as p_t -> 1.
struct SoftmaxRow {
  double max = 0.0;
  double rest = 0.0;
  int64_t max_count = 1;
};

// Fills `stats` (one per row) and, when `probabilities` is non-empty
// (rows * classes), the softmax of every row. Float32 logits use float32
// lanes when no probabilities are wanted (relative error ~1e-7 per term,
// sums in float64), float64 lanes otherwise.
// REQUIRES: logits.size() == rows * classes, classes >= 1, finite logits.
void SoftmaxRows(const FloatingValues& logits, int64_t rows, int64_t classes,
                 absl::Span<SoftmaxRow> stats,
                 absl::Span<double> probabilities);

}  // namespace focalmetrics::losses_internal

#endif  // FOCALMETRICS_CORE_LOSSES_INTERNAL_SOFTMAX_KERNEL_H_
