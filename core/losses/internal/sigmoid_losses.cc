// Losses on independent sigmoid outputs: BINARY and MULTILABEL batches.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/losses/internal/loss_families.h"
#include "core/losses/internal/sigmoid_kernels.h"

namespace focalmetrics::losses_internal {
namespace {

LossOutput NewOutput(const PreparedBatch& batch, Reduction reduction,
                     bool want_gradient) {
  LossOutput out;
  const size_t n = static_cast<size_t>(batch.num_scores());
  if (reduction == Reduction::kNone) {
    out.values.resize(n);
    out.values_shape = batch.scores_shape();
  }
  if (want_gradient) out.gradient.resize(n);
  return out;
}

LossOutput FocalFamily(const PreparedBatch& batch, SigmoidFocalParams params,
                       Reduction reduction, bool want_gradient) {
  LossOutput out = NewOutput(batch, reduction, want_gradient);
  const int64_t n = batch.num_scores();
  const ElementwiseSums sums =
      SigmoidFocal(batch.logits(), batch.soft_targets(), params,
                   {.values = absl::MakeSpan(out.values),
                    .gradient = absl::MakeSpan(out.gradient),
                    .gradient_scale = GradientScale(n, reduction)});
  out.value = Reduce(sums.loss, n, reduction);
  return out;
}

LossOutput AsymmetricLoss(const PreparedBatch& batch, const ResolvedLoss& loss,
                          bool want_gradient) {
  LossOutput out = NewOutput(batch, loss.reduction, want_gradient);
  const int64_t n = batch.num_scores();
  const ElementwiseSums sums =
      Asymmetric(batch.logits(), batch.soft_targets(),
                 {.gamma_pos = loss.gamma_pos,
                  .gamma_neg = loss.gamma_neg,
                  .clip = loss.clip},
                 {.values = absl::MakeSpan(out.values),
                  .gradient = absl::MakeSpan(out.gradient),
                  .gradient_scale = GradientScale(n, loss.reduction)});
  out.value = Reduce(sums.loss, n, loss.reduction);
  return out;
}

LossOutput OhemLoss(const PreparedBatch& batch, const ResolvedLoss& loss,
                    bool want_gradient) {
  const int64_t n = batch.num_scores();
  std::vector<double> per_sample(n);
  std::vector<double> gradient(want_gradient ? n : 0);
  SigmoidFocal(batch.logits(), batch.soft_targets(), SigmoidFocalParams{},
               {.values = absl::MakeSpan(per_sample),
                .gradient = absl::MakeSpan(gradient)});
  const HardExamples kept =
      KeepHardest(per_sample, loss.ohem_ratio, gradient, 1);
  LossOutput out;
  out.value = Reduce(kept.sum, kept.count, loss.reduction);
  const double scale = GradientScale(kept.count, loss.reduction);
  for (double& g : gradient) g *= scale;
  out.gradient = std::move(gradient);
  if (loss.reduction == Reduction::kNone) {
    out.values = std::move(per_sample);
    out.values_shape = batch.scores_shape();
  }
  return out;
}

LossOutput FocalDiceLoss(const PreparedBatch& batch, const ResolvedLoss& loss,
                         bool want_gradient) {
  const int64_t n = batch.num_scores();
  LossOutput out;
  std::vector<double> probabilities(want_gradient ? n : 0);
  if (want_gradient) out.gradient.resize(n);
  const ElementwiseSums sums =
      SigmoidFocal(batch.logits(), batch.soft_targets(),
                   {.alpha = loss.alpha, .gamma = loss.gamma},
                   {.gradient = absl::MakeSpan(out.gradient),
                    .probabilities = absl::MakeSpan(probabilities),
                    .gradient_scale = GradientScale(n, loss.reduction)});
  const FloatingValues& t = batch.soft_targets();
  double target_sum = 0.0;
  for (size_t i = 0; i < t.size(); ++i) target_sum += t[i];
  const double denominator = sums.probability + target_sum + 1.0;
  const double dice = 1.0 - 2.0 * sums.probability_target / denominator;
  out.value = Reduce(sums.loss, n, loss.reduction) + dice;
  if (want_gradient) {
    const double inv_sq = 1.0 / (denominator * denominator);
    for (int64_t i = 0; i < n; ++i) {
      const double p = probabilities[i];
      const double d_dice_dp =
          -2.0 * (t[i] * denominator - sums.probability_target) * inv_sq;
      out.gradient[i] += d_dice_dp * p * (1.0 - p);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<LossOutput> SigmoidLoss(const PreparedBatch& batch,
                                       const ResolvedLoss& loss,
                                       bool want_gradient) {
  switch (loss.kind) {
    case LossKind::kCrossEntropy:
      return FocalFamily(batch, SigmoidFocalParams{}, loss.reduction,
                         want_gradient);
    case LossKind::kFocal:
      return FocalFamily(batch, {.alpha = loss.alpha, .gamma = loss.gamma},
                         loss.reduction, want_gradient);
    case LossKind::kAsymmetric:
      return AsymmetricLoss(batch, loss, want_gradient);
    case LossKind::kOhem:
      return OhemLoss(batch, loss, want_gradient);
    case LossKind::kFocalDice:
      return FocalDiceLoss(batch, loss, want_gradient);
    default:
      return absl::InternalError(
          absl::StrCat("SigmoidLoss called with ", LossKindName(loss.kind)));
  }
}

}  // namespace focalmetrics::losses_internal
