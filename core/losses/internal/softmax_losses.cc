// Losses on softmax rows: MULTICLASS batches.
#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/losses/internal/loss_families.h"

namespace focalmetrics::losses_internal {
namespace {

// The loss of one row and the factor g with d loss / d x_j = g (s_j - [j=t]).
struct RowTerm {
  double loss;
  double factor;
};

// -w (1 - p_t)^gamma log p_t; gamma = 0, w = 1 is cross-entropy.
// d/dx_j = w m^gamma [1 - gamma p_t (log p_t / m)] (s_j - [j=t]), with
// m = 1 - p_t computed as -expm1(log p_t) so it does not cancel, and
// log p_t / m in [-inf, -1] tending to -1 as m -> 0, so a tiny m cannot
// overflow m^(gamma - 1).
RowTerm FocalRow(double log_p_t, double weight, double gamma) {
  if (gamma == 0.0) return {-weight * log_p_t, weight};
  const double p_t = std::exp(log_p_t);
  const double m = -std::expm1(log_p_t);
  const double m_pow = std::pow(m, gamma);
  const double log_p_over_m = m > 0 ? log_p_t / m : -1.0;
  return {-weight * m_pow * log_p_t,
          weight * m_pow * (1.0 - gamma * p_t * log_p_over_m)};
}

}  // namespace

absl::StatusOr<LossOutput> SoftmaxLoss(const PreparedBatch& batch,
                                       const ResolvedLoss& loss,
                                       bool want_gradient) {
  if (loss.kind != LossKind::kCrossEntropy && loss.kind != LossKind::kFocal &&
      loss.kind != LossKind::kClassBalancedFocal &&
      loss.kind != LossKind::kOhem) {
    return absl::InternalError(
        absl::StrCat("SoftmaxLoss called with ", LossKindName(loss.kind)));
  }
  const int64_t rows = batch.num_rows();
  const int64_t classes = batch.num_classes();
  const absl::Span<const double> x = batch.logits().doubles();
  const std::vector<int64_t>& targets = batch.class_targets();
  const std::optional<int64_t> ignore = batch.ignore_index();
  const bool focal = loss.kind == LossKind::kFocal ||
                     loss.kind == LossKind::kClassBalancedFocal;
  const double gamma = focal ? loss.gamma : 0.0;
  const bool ohem = loss.kind == LossKind::kOhem;
  // Probabilities arrive as log-probabilities and are used as they are, as
  // nll_loss(log(p)) does: no renormalisation, so the loss depends on log p_t
  // alone.
  const bool log_probabilities =
      batch.input_kind() == InputKind::kProbabilities;

  // Per-row losses; ignored rows are 0 (PyTorch's reduction='none'), or
  // -infinity while OHEM selects.
  std::vector<double> per_row(rows, 0.0);
  std::vector<double> gradient(want_gradient ? rows * classes : 0, 0.0);
  int64_t counted = 0;
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets[r];
    if (ignore.has_value() && t == *ignore) {
      if (ohem) per_row[r] = -std::numeric_limits<double>::infinity();
      continue;
    }
    const double* row = x.data() + r * classes;
    double log_sum_exp = 0.0;
    if (!log_probabilities) {
      const double max = *std::max_element(row, row + classes);
      double exp_sum = 0.0;
      for (int64_t j = 0; j < classes; ++j) exp_sum += std::exp(row[j] - max);
      log_sum_exp = max + std::log(exp_sum);
    }
    const double weight = loss.class_alpha.empty() ? 1.0 : loss.class_alpha[t];
    const RowTerm term = FocalRow(row[t] - log_sum_exp, weight, gamma);
    per_row[r] = term.loss;
    sum += term.loss;
    ++counted;
    if (want_gradient) {
      double* g = gradient.data() + r * classes;
      if (!log_probabilities) {
        for (int64_t j = 0; j < classes; ++j) {
          g[j] = term.factor * std::exp(row[j] - log_sum_exp);
        }
      }
      g[t] -= term.factor;
    }
  }

  LossOutput out;
  double scale = 1.0;
  if (ohem) {
    const HardExamples kept =
        KeepHardest(per_row, loss.ohem_ratio, gradient, classes);
    out.value = Reduce(kept.sum, kept.count, loss.reduction);
    scale = GradientScale(kept.count, loss.reduction);
  } else {
    out.value = Reduce(sum, counted, loss.reduction);
    scale = GradientScale(counted, loss.reduction);
  }
  if (scale != 1.0) {
    for (double& g : gradient) g *= scale;
  }
  out.gradient = std::move(gradient);
  if (loss.reduction == Reduction::kNone) {
    out.values = std::move(per_row);
    out.values_shape = {rows};
  }
  return out;
}

}  // namespace focalmetrics::losses_internal
