#include "core/losses/class_weights.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace focalmetrics {

absl::StatusOr<std::vector<double>> ClassWeightsFromCounts(
    absl::Span<const int64_t> counts, WeightScheme scheme, double beta,
    absl::string_view field) {
  if (counts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": no classes (need one count per class)"));
  }
  if (scheme == WeightScheme::kEffectiveNumber &&
      !(beta >= 0.0 && beta < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("beta: must lie in [0, 1), got ", beta));
  }
  std::vector<double> weights(counts.size());
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", c, "]: negative count ", counts[c]));
    }
    const double n = static_cast<double>(std::max<int64_t>(counts[c], 1));
    switch (scheme) {
      case WeightScheme::kEffectiveNumber:
        // (1 - beta^n) via expm1 keeps precision when beta is close to 1.
        weights[c] = (1.0 - beta) / -std::expm1(n * std::log(beta));
        if (beta == 0.0) weights[c] = 1.0;
        break;
      case WeightScheme::kInverseFrequency:
        weights[c] = 1.0 / n;
        break;
      case WeightScheme::kInverseSqrtFrequency:
        weights[c] = 1.0 / std::sqrt(n);
        break;
    }
  }
  double total = 0.0;
  for (double w : weights) total += w;
  const double scale = static_cast<double>(weights.size()) / total;
  for (double& w : weights) w *= scale;
  return weights;
}

}  // namespace focalmetrics
