// Class weights from class counts, for re-weighting losses on imbalanced
// data: the effective number of samples (Cui et al. 2019) or inverse
// (square-root) frequency, normalised to sum to the number of classes.
//
//   FM_ASSIGN_OR_RETURN(std::vector<double> w,
//       ClassWeightsFromCounts(counts, WeightScheme::kEffectiveNumber, 0.999));
#ifndef FOCALMETRICS_CORE_LOSSES_CLASS_WEIGHTS_H_
#define FOCALMETRICS_CORE_LOSSES_CLASS_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace focalmetrics {

enum class WeightScheme {
  kEffectiveNumber,      // (1 - beta) / (1 - beta^n_c)
  kInverseFrequency,     // 1 / n_c
  kInverseSqrtFrequency  // 1 / sqrt(n_c)
};

inline constexpr double kDefaultEffectiveNumberBeta = 0.999;

// One weight per class, summing to counts.size(). A class with no samples
// counts as one sample (its weight is the largest, never infinite).
// `beta` is used by kEffectiveNumber only and must lie in [0, 1).
// INVALID_ARGUMENT naming `field` for empty or negative counts or a bad beta.
absl::StatusOr<std::vector<double>> ClassWeightsFromCounts(
    absl::Span<const int64_t> counts, WeightScheme scheme, double beta,
    absl::string_view field = "samples_per_class");

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_LOSSES_CLASS_WEIGHTS_H_
