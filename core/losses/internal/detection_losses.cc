// Losses on DETECTION batches: sigmoid class logits per anchor (targets are
// class ids, -1 background, -2 ignored) plus box regression.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/losses/internal/loss_families.h"
#include "core/losses/internal/sigmoid_kernels.h"

namespace focalmetrics::losses_internal {
namespace {

double SmoothL1(double diff, double beta) {
  const double a = std::abs(diff);
  return a < beta ? 0.5 * a * a / beta : a - 0.5 * beta;
}

}  // namespace

absl::StatusOr<LossOutput> DetectionLoss(const PreparedBatch& batch,
                                         const ResolvedLoss& loss,
                                         bool want_gradient) {
  const bool retinanet = loss.kind == LossKind::kRetinaNet;
  if (!retinanet && loss.kind != LossKind::kCrossEntropy) {
    return absl::InternalError(
        absl::StrCat("DetectionLoss called with ", LossKindName(loss.kind)));
  }
  if (retinanet && batch.box_preds().empty() && batch.num_rows() > 0) {
    return absl::InvalidArgumentError(
        "batch.box_preds: LOSS_KIND_RETINANET needs box_preds and box_targets "
        "[A, 4]");
  }
  const int64_t anchors = batch.num_rows();
  const int64_t classes = batch.num_classes();
  const std::vector<int64_t>& targets = batch.class_targets();
  const FloatingValues& logits = batch.logits();

  // Non-ignored anchors, compacted, with one-hot targets (background rows
  // all zero), go through the shared sigmoid kernel.
  std::vector<int64_t> kept_rows;
  int64_t foreground = 0;
  for (int64_t a = 0; a < anchors; ++a) {
    if (targets[a] == kDetectionIgnored) continue;
    kept_rows.push_back(a);
    foreground += targets[a] >= 0;
  }
  const int64_t kept = static_cast<int64_t>(kept_rows.size());
  std::vector<double> x(kept * classes);
  std::vector<double> onehot(kept * classes, 0.0);
  for (int64_t k = 0; k < kept; ++k) {
    const int64_t a = kept_rows[k];
    for (int64_t j = 0; j < classes; ++j)
      x[k * classes + j] = logits[a * classes + j];
    if (targets[a] >= 0) onehot[k * classes + targets[a]] = 1.0;
  }
  // RetinaNet normalises by the foreground count, cross-entropy's mean is
  // over the non-ignored elements.
  const int64_t normaliser = retinanet ? foreground : kept * classes;
  const bool per_element = loss.reduction == Reduction::kNone;
  std::vector<double> values(per_element ? kept * classes : 0);
  std::vector<double> kept_gradient(want_gradient ? kept * classes : 0);
  SigmoidFocalParams params;
  if (retinanet) params = {.alpha = loss.alpha, .gamma = loss.gamma};
  const ElementwiseSums sums = SigmoidFocal(
      FloatingValues::Borrow(absl::MakeConstSpan(x)),
      FloatingValues::Borrow(absl::MakeConstSpan(onehot)), params,
      {.values = absl::MakeSpan(values),
       .gradient = absl::MakeSpan(kept_gradient),
       .gradient_scale = GradientScale(normaliser, loss.reduction)});

  LossOutput out;
  double box_sum = 0.0;
  std::vector<double> box_per_anchor;
  if (retinanet) {
    box_per_anchor.assign(anchors, 0.0);
    for (int64_t a = 0; a < anchors; ++a) {
      if (targets[a] < 0) continue;
      for (int k = 0; k < 4; ++k) {
        box_per_anchor[a] += SmoothL1(
            batch.box_preds()[a * 4 + k] - batch.box_targets()[a * 4 + k],
            loss.smooth_l1_beta);
      }
      box_sum += box_per_anchor[a];
    }
  }
  out.value = Reduce(sums.loss, normaliser, loss.reduction) +
              Reduce(box_sum, normaliser, loss.reduction);

  if (per_element) {
    if (retinanet) {
      out.values = box_per_anchor;
      out.values_shape = {anchors};
      for (int64_t k = 0; k < kept; ++k) {
        for (int64_t j = 0; j < classes; ++j) {
          out.values[kept_rows[k]] += values[k * classes + j];
        }
      }
    } else {
      out.values.assign(anchors * classes, 0.0);
      out.values_shape = {anchors, classes};
      for (int64_t k = 0; k < kept; ++k) {
        std::copy_n(values.begin() + k * classes, classes,
                    out.values.begin() + kept_rows[k] * classes);
      }
    }
  }
  if (want_gradient) {
    out.gradient.assign(anchors * classes, 0.0);
    for (int64_t k = 0; k < kept; ++k) {
      std::copy_n(kept_gradient.begin() + k * classes, classes,
                  out.gradient.begin() + kept_rows[k] * classes);
    }
  }
  return out;
}

}  // namespace focalmetrics::losses_internal
