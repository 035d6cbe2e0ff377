// Losses on softmax rows: MULTICLASS batches.
#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/losses/internal/loss_families.h"
#include "core/losses/internal/softmax_kernel.h"

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
// m^gamma, by repeated products for the common small integer gammas.
double Power(double m, double gamma) {
  if (gamma == 2.0) return m * m;
  if (gamma == 1.0) return m;
  return std::pow(m, gamma);
}

RowTerm FocalRow(double log_p_t, double weight, double gamma) {
  if (gamma == 0.0) return {-weight * log_p_t, weight};
  const double m = -std::expm1(log_p_t);
  const double p_t = 1.0 - m;
  const double m_pow = Power(m, gamma);
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
  const FloatingValues& x = batch.logits();
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
  std::vector<SoftmaxRow> stats(log_probabilities ? 0 : rows);
  if (!log_probabilities) {
    // The softmax itself is only needed for the gradient; it is written
    // straight into the gradient rows and scaled there.
    SoftmaxRows(x, rows, classes, absl::MakeSpan(stats),
                absl::MakeSpan(gradient));
  }
  int64_t counted = 0;
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets[r];
    double* g = want_gradient ? gradient.data() + r * classes : nullptr;
    if (ignore.has_value() && t == *ignore) {
      if (ohem) per_row[r] = -std::numeric_limits<double>::infinity();
      if (g != nullptr) std::fill(g, g + classes, 0.0);
      continue;
    }
    const double x_t = x[r * classes + t];
    double log_p_t = x_t;
    if (!log_probabilities) {
      // -(cross-entropy) as a sum of non-negative terms (SoftmaxRow).
      const SoftmaxRow& row = stats[r];
      const double others =
          x_t == row.max ? static_cast<double>(row.max_count - 1) + row.rest
                         : static_cast<double>(row.max_count) + row.rest;
      log_p_t = x_t == row.max ? -std::log1p(others)
                               : -((row.max - x_t) + std::log(others));
    }
    const double weight = loss.class_alpha.empty() ? 1.0 : loss.class_alpha[t];
    const RowTerm term = FocalRow(log_p_t, weight, gamma);
    per_row[r] = term.loss;
    sum += term.loss;
    ++counted;
    if (g != nullptr) {
      // d/dx_j = factor (s_j - [j = t]), with s_t - 1 = expm1(log p_t)
      // formed without cancellation. Log-probabilities are not
      // renormalised, so only their target entry moves the loss.
      if (log_probabilities) {
        std::fill(g, g + classes, 0.0);
        g[t] = -term.factor;
      } else {
        for (int64_t j = 0; j < classes; ++j) g[j] *= term.factor;
        g[t] = term.factor * std::expm1(log_p_t);
      }
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
