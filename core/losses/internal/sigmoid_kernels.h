// The hot loops of the sigmoid losses, per element x (logit) and t (target
// in [0, 1]):
// - focal: alpha_t (1 - p_t)^gamma BCEWithLogits(x, t) (cross-entropy is
//   gamma = 0 with no alpha);
// - asymmetric (ASL): -(t (1-p)^g+ log p + (1-t) p_m^g- log(1 - p_m)),
//   p_m = max(p - clip, 0), logs floored at log(1e-8).
// SIMD (Highway, chosen at run time). Stable forms: p and 1 - p both come
// from exp(-|x|), so nothing saturates at |x| > 16. Sums are float64; the
// focal family on float32 inputs uses float32 lanes when only values are
// wanted (every factor is a sum of same-sign parts, so nothing cancels:
// ~1e-7 relative error per element), float64 lanes otherwise.
#ifndef FOCALMETRICS_CORE_LOSSES_INTERNAL_SIGMOID_KERNELS_H_
#define FOCALMETRICS_CORE_LOSSES_INTERNAL_SIGMOID_KERNELS_H_

#include "absl/types/span.h"
#include "core/tensor/tensor.h"

namespace focalmetrics::losses_internal {

struct SigmoidFocalParams {
  double alpha = -1.0;  // Negative: no alpha weighting.
  double gamma = 0.0;
};

struct AsymmetricParams {
  double gamma_pos = 1.0;
  double gamma_neg = 4.0;
  double clip = 0.05;
};

struct ElementwiseSums {
  double loss = 0.0;                // Sum of the per-element losses.
  double probability = 0.0;         // Sum of p.
  double probability_target = 0.0;  // Sum of p * t.
};

// Optional outputs: a span is either empty or as long as the logits.
struct ElementwiseOutputs {
  absl::Span<double> values;         // Per-element loss.
  absl::Span<double> gradient;       // gradient_scale * d loss_i / d x_i.
  absl::Span<double> probabilities;  // p = sigmoid(x).
  double gradient_scale = 1.0;
};

// REQUIRES: logits.size() == targets.size(); finite logits; targets in
// [0, 1].
ElementwiseSums SigmoidFocal(const FloatingValues& logits,
                             const FloatingValues& targets,
                             const SigmoidFocalParams& params,
                             const ElementwiseOutputs& outputs);
ElementwiseSums Asymmetric(const FloatingValues& logits,
                           const FloatingValues& targets,
                           const AsymmetricParams& params,
                           const ElementwiseOutputs& outputs);

}  // namespace focalmetrics::losses_internal

#endif  // FOCALMETRICS_CORE_LOSSES_INTERNAL_SIGMOID_KERNELS_H_
