// Losses on independent sigmoid outputs: BINARY and MULTILABEL batches.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/losses/internal/loss_families.h"
#include "core/losses/internal/sigmoid_focal_kernel.h"

namespace focalmetrics::losses_internal {
namespace {

// ASL's clamp of both logarithms (official code: eps = 1e-8).
const double kAsymmetricLogFloor = std::log(1e-8);

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
  const SigmoidFocalSums sums =
      SigmoidFocal(batch.logits(), batch.soft_targets(), params,
                   {.values = absl::MakeSpan(out.values),
                    .gradient = absl::MakeSpan(out.gradient),
                    .gradient_scale = GradientScale(n, reduction)});
  out.value = Reduce(sums.loss, n, reduction);
  return out;
}

struct AsymmetricTerm {
  double loss;
  double derivative;
};

// -(t (1-p)^g+ log p + (1-t) p_m^g- log(1-p_m)), p_m = max(p - clip, 0),
// logs floored at log(1e-8), and its exact derivative in x.
AsymmetricTerm Asymmetric(double x, double t, const ResolvedLoss& loss) {
  const double e = std::exp(-std::abs(x));
  const double inv = 1.0 / (1.0 + e);
  const double p = x >= 0 ? inv : e * inv;
  const double q = x >= 0 ? e * inv : inv;
  const double softplus_abs = std::log1p(e);
  const double log_p = -(std::max(-x, 0.0) + softplus_abs);
  const double log_q = -(std::max(x, 0.0) + softplus_abs);

  const double clamped_log_p = std::max(log_p, kAsymmetricLogFloor);
  const double pos_weight = std::pow(q, loss.gamma_pos);
  const double d_log_p = log_p > kAsymmetricLogFloor ? q : 0.0;
  const double pos = t * pos_weight * clamped_log_p;
  const double d_pos = t * (-loss.gamma_pos * p * pos_weight * clamped_log_p +
                            pos_weight * d_log_p);

  const double shifted = p - loss.clip;
  const double p_m = std::max(shifted, 0.0);
  const double dp_m = shifted > 0 ? p * q : 0.0;
  const double one_minus_p_m = std::min(q + loss.clip, 1.0);
  const double raw_log_neg = loss.clip == 0.0 ? log_q : std::log(one_minus_p_m);
  const double log_neg = std::max(raw_log_neg, kAsymmetricLogFloor);
  const double d_log_neg = raw_log_neg > kAsymmetricLogFloor && shifted > 0
                               ? -dp_m / one_minus_p_m
                               : 0.0;
  const double neg_weight = std::pow(p_m, loss.gamma_neg);
  const double d_neg_weight =
      p_m > 0 ? loss.gamma_neg * std::pow(p_m, loss.gamma_neg - 1.0) * dp_m
              : 0.0;
  const double neg = (1.0 - t) * neg_weight * log_neg;
  const double d_neg =
      (1.0 - t) * (d_neg_weight * log_neg + neg_weight * d_log_neg);
  return {-(pos + neg), -(d_pos + d_neg)};
}

LossOutput AsymmetricLoss(const PreparedBatch& batch, const ResolvedLoss& loss,
                          bool want_gradient) {
  LossOutput out = NewOutput(batch, loss.reduction, want_gradient);
  const int64_t n = batch.num_scores();
  const double scale = GradientScale(n, loss.reduction);
  const FloatingValues& x = batch.logits();
  const FloatingValues& t = batch.soft_targets();
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const AsymmetricTerm term = Asymmetric(x[i], t[i], loss);
    sum += term.loss;
    if (!out.values.empty()) out.values[i] = term.loss;
    if (want_gradient) out.gradient[i] = scale * term.derivative;
  }
  out.value = Reduce(sum, n, loss.reduction);
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
  const SigmoidFocalSums sums =
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
