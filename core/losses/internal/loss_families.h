// The loss implementations behind ComputeLoss, grouped by how they read the
// scores: sigmoid per element, softmax per row, detection per anchor. They
// receive parameters already checked and defaulted by loss.cc.
#ifndef FOCALMETRICS_CORE_LOSSES_INTERNAL_LOSS_FAMILIES_H_
#define FOCALMETRICS_CORE_LOSSES_INTERNAL_LOSS_FAMILIES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/losses/batch.h"
#include "core/losses/loss.h"

namespace focalmetrics::losses_internal {

// A LossSpec with every parameter resolved to its value or default.
struct ResolvedLoss {
  LossKind kind = LossKind::kCrossEntropy;
  Reduction reduction = Reduction::kMean;
  double alpha = -1.0;  // Negative: no alpha weighting.
  double gamma = 0.0;
  std::vector<double> class_alpha;  // Empty: no per-class weighting.
  double gamma_pos = 1.0;
  double gamma_neg = 4.0;
  double clip = 0.05;
  double ohem_ratio = 0.25;
  double smooth_l1_beta = 1.0;
};

// sum / max(1, count) for MEAN, sum otherwise: MEAN over nothing is 0.
double Reduce(double sum, int64_t count, Reduction reduction);
// The factor applied to per-element gradients under `reduction`.
double GradientScale(int64_t count, Reduction reduction);

// Keeps the max(1, floor(ratio * n)) largest of `per_sample` (n of them,
// nothing when n = 0): returns their sum and count; zeroes the rest of
// `per_sample` and, when non-empty, of the per-sample gradient rows.
struct HardExamples {
  double sum = 0.0;
  int64_t count = 0;
};
HardExamples KeepHardest(std::vector<double>& per_sample, double ratio,
                         std::vector<double>& gradient, int64_t row_width);

// BINARY, MULTILABEL: CROSS_ENTROPY, FOCAL, ASYMMETRIC, OHEM, FOCAL_DICE.
absl::StatusOr<LossOutput> SigmoidLoss(const PreparedBatch& batch,
                                       const ResolvedLoss& loss,
                                       bool want_gradient);
// MULTICLASS: CROSS_ENTROPY, FOCAL (and CLASS_BALANCED_FOCAL as FOCAL with
// class_alpha), OHEM.
absl::StatusOr<LossOutput> SoftmaxLoss(const PreparedBatch& batch,
                                       const ResolvedLoss& loss,
                                       bool want_gradient);
// DETECTION: CROSS_ENTROPY, RETINANET.
absl::StatusOr<LossOutput> DetectionLoss(const PreparedBatch& batch,
                                         const ResolvedLoss& loss,
                                         bool want_gradient);

}  // namespace focalmetrics::losses_internal

#endif  // FOCALMETRICS_CORE_LOSSES_INTERNAL_LOSS_FAMILIES_H_
