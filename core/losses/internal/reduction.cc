#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/losses/internal/loss_families.h"

namespace focalmetrics::losses_internal {

double Reduce(double sum, int64_t count, Reduction reduction) {
  if (reduction != Reduction::kMean) return sum;
  return sum / static_cast<double>(std::max<int64_t>(count, 1));
}

double GradientScale(int64_t count, Reduction reduction) {
  return Reduce(1.0, count, reduction);
}

HardExamples KeepHardest(std::vector<double>& per_sample, double ratio,
                         std::vector<double>& gradient, int64_t row_width) {
  // Samples not eligible (ignored rows) arrive as -infinity and are never
  // among the hardest because k never exceeds the eligible count.
  const int64_t eligible =
      std::count_if(per_sample.begin(), per_sample.end(),
                    [](double v) { return !std::isinf(v); });
  HardExamples kept;
  if (eligible > 0) {
    kept.count = std::max<int64_t>(
        1, static_cast<int64_t>(
               std::floor(ratio * static_cast<double>(eligible))));
  }
  std::vector<int64_t> order(per_sample.size());
  std::iota(order.begin(), order.end(), 0);
  // Ties broken by index so the choice is deterministic.
  auto harder = [&](int64_t a, int64_t b) {
    return per_sample[a] != per_sample[b] ? per_sample[a] > per_sample[b]
                                          : a < b;
  };
  std::nth_element(order.begin(), order.begin() + kept.count, order.end(),
                   harder);
  std::vector<char> keep(per_sample.size(), 0);
  for (int64_t i = 0; i < kept.count; ++i) {
    keep[order[i]] = 1;
    kept.sum += per_sample[order[i]];
  }
  for (size_t i = 0; i < per_sample.size(); ++i) {
    if (keep[i]) continue;
    per_sample[i] = 0.0;
    if (!gradient.empty()) {
      std::fill_n(gradient.begin() + i * row_width, row_width, 0.0);
    }
  }
  return kept;
}

}  // namespace focalmetrics::losses_internal
