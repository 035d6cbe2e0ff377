// The hot loop of every sigmoid loss: per element x (logit) and t (target in
// [0, 1]), the focal-modulated binary cross-entropy
//   alpha_t * (1 - p_t)^gamma * BCEWithLogits(x, t),
// with cross-entropy itself as gamma = 0, alpha < 0. SIMD (Highway, chosen at
// run time), float64 arithmetic, stable forms: p and 1 - p are both computed
// from exp(-|x|), so nothing saturates at |x| > 16.
#ifndef FOCALMETRICS_CORE_LOSSES_INTERNAL_SIGMOID_FOCAL_KERNEL_H_
#define FOCALMETRICS_CORE_LOSSES_INTERNAL_SIGMOID_FOCAL_KERNEL_H_

#include "absl/types/span.h"
#include "core/tensor/tensor.h"

namespace focalmetrics::losses_internal {

struct SigmoidFocalParams {
  double alpha = -1.0;  // Negative: no alpha weighting.
  double gamma = 0.0;
};

struct SigmoidFocalSums {
  double loss = 0.0;                // Sum of the per-element losses.
  double probability = 0.0;         // Sum of p.
  double probability_target = 0.0;  // Sum of p * t.
};

// Optional outputs: a span is either empty or as long as `logits`.
struct SigmoidFocalOutputs {
  absl::Span<double> values;         // Per-element loss.
  absl::Span<double> gradient;       // gradient_scale * d loss_i / d x_i.
  absl::Span<double> probabilities;  // p = sigmoid(x).
  double gradient_scale = 1.0;
};

// REQUIRES: logits.size() == targets.size(); finite logits; targets in [0, 1].
SigmoidFocalSums SigmoidFocal(const FloatingValues& logits,
                              const FloatingValues& targets,
                              const SigmoidFocalParams& params,
                              const SigmoidFocalOutputs& outputs);

}  // namespace focalmetrics::losses_internal

#endif  // FOCALMETRICS_CORE_LOSSES_INTERNAL_SIGMOID_FOCAL_KERNEL_H_
