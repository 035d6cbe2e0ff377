#include "core/losses/loss.h"

#include <cmath>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/losses/class_weights.h"
#include "core/losses/internal/loss_families.h"
#include "core/losses/internal/softmax_kernel.h"
#include "core/status_macros.h"

namespace focalmetrics {
namespace {

using losses_internal::ResolvedLoss;

// Which tasks each kind applies to (DESIGN.md's table).
bool Applies(LossKind kind, Task task) {
  switch (kind) {
    case LossKind::kCrossEntropy:
      return true;
    case LossKind::kFocal:
      return task != Task::kDetection;
    case LossKind::kClassBalancedFocal:
      return task == Task::kMulticlass;
    case LossKind::kAsymmetric:
      return task == Task::kMultilabel || task == Task::kBinary;
    case LossKind::kOhem:
      return task == Task::kMulticlass || task == Task::kBinary;
    case LossKind::kFocalDice:
      return task == Task::kBinary;
    case LossKind::kRetinaNet:
      return task == Task::kDetection;
  }
  return false;
}

// Checks one optional scalar parameter: present only where the kind uses it,
// finite and inside [low, high] (or (low, high] when low_open).
class ParameterCheck {
 public:
  ParameterCheck(absl::string_view field, const LossSpec& spec, Task task)
      : field_(field), spec_(spec), task_(task) {}

  absl::StatusOr<double> Scalar(absl::string_view name,
                                const std::optional<double>& value, bool used,
                                double fallback, double low, double high,
                                bool low_open = false) const {
    if (!value.has_value()) return fallback;
    if (!used) return Unused(name);
    const double v = *value;
    const bool inside =
        std::isfinite(v) && (low_open ? v > low : v >= low) && v <= high;
    if (!inside) {
      return absl::InvalidArgumentError(absl::StrCat(
          field_, ".", name, ": must lie in ", low_open ? "(" : "[", low, ", ",
          std::isinf(high) ? "inf)" : absl::StrCat(high, "]"), ", got ", v));
    }
    return v;
  }

  absl::Status Unused(absl::string_view name) const {
    return absl::InvalidArgumentError(
        absl::StrCat(field_, ".", name, ": not a parameter of LOSS_KIND_",
                     LossKindName(spec_.kind), " on TASK_", TaskName(task_)));
  }

 private:
  absl::string_view field_;
  const LossSpec& spec_;
  Task task_;
};

absl::StatusOr<ResolvedLoss> Resolve(const LossSpec& spec,
                                     const PreparedBatch& batch,
                                     absl::string_view field) {
  const Task task = batch.task();
  if (!Applies(spec.kind, task)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".kind: LOSS_KIND_", LossKindName(spec.kind),
                     " does not apply to TASK_", TaskName(task),
                     " (see the loss table in DESIGN.md)"));
  }
  if (spec.kind == LossKind::kFocalDice && spec.reduction == Reduction::kNone) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ".reduction: REDUCTION_NONE is not defined for "
        "LOSS_KIND_FOCAL_DICE (the dice term belongs to the whole batch)"));
  }
  const LossKind kind = spec.kind;
  const bool multiclass = task == Task::kMulticlass;
  const bool sigmoid_focal = (kind == LossKind::kFocal && !multiclass) ||
                             kind == LossKind::kFocalDice ||
                             kind == LossKind::kRetinaNet;
  const bool any_focal =
      kind == LossKind::kFocal || kind == LossKind::kFocalDice ||
      kind == LossKind::kRetinaNet || kind == LossKind::kClassBalancedFocal;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const ParameterCheck check(field, spec, task);

  ResolvedLoss r;
  r.kind = kind;
  r.reduction = spec.reduction;
  FM_ASSIGN_OR_RETURN(r.alpha,
                      check.Scalar("alpha", spec.alpha, sigmoid_focal,
                                   sigmoid_focal ? 0.25 : -1.0, -kInf, 1.0));
  FM_ASSIGN_OR_RETURN(r.gamma, check.Scalar("gamma", spec.gamma, any_focal,
                                            any_focal ? 2.0 : 0.0, 0.0, kInf));
  FM_ASSIGN_OR_RETURN(
      r.gamma_pos, check.Scalar("gamma_pos", spec.gamma_pos,
                                kind == LossKind::kAsymmetric, 1.0, 0.0, kInf));
  FM_ASSIGN_OR_RETURN(
      r.gamma_neg, check.Scalar("gamma_neg", spec.gamma_neg,
                                kind == LossKind::kAsymmetric, 4.0, 0.0, kInf));
  FM_ASSIGN_OR_RETURN(
      r.clip, check.Scalar("clip", spec.clip, kind == LossKind::kAsymmetric,
                           0.05, 0.0, 1.0));
  FM_ASSIGN_OR_RETURN(r.ohem_ratio, check.Scalar("ohem_ratio", spec.ohem_ratio,
                                                 kind == LossKind::kOhem, 0.25,
                                                 0.0, 1.0, /*low_open=*/true));
  FM_ASSIGN_OR_RETURN(
      r.smooth_l1_beta,
      check.Scalar("smooth_l1_beta", spec.smooth_l1_beta,
                   kind == LossKind::kRetinaNet, 1.0, 0.0, kInf));
  const bool class_balanced = kind == LossKind::kClassBalancedFocal;
  FM_ASSIGN_OR_RETURN(const double beta,
                      check.Scalar("beta", spec.beta, class_balanced,
                                   kDefaultEffectiveNumberBeta, 0.0, 1.0));
  if (class_balanced && beta == 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".beta: must lie in [0, 1), got 1"));
  }

  const int64_t classes = batch.num_classes();
  if (!spec.class_alpha.empty()) {
    if (!(kind == LossKind::kFocal && multiclass))
      return check.Unused("class_alpha");
    if (static_cast<int64_t>(spec.class_alpha.size()) != classes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".class_alpha: ", spec.class_alpha.size(),
                       " weights for ", classes, " classes"));
    }
    for (size_t c = 0; c < spec.class_alpha.size(); ++c) {
      if (!(std::isfinite(spec.class_alpha[c]) && spec.class_alpha[c] >= 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".class_alpha[", c, "]: must be finite and >= 0, got ",
            spec.class_alpha[c]));
      }
    }
    r.class_alpha = spec.class_alpha;
  }
  if (!spec.samples_per_class.empty() && !class_balanced) {
    return check.Unused("samples_per_class");
  }
  if (class_balanced) {
    if (static_cast<int64_t>(spec.samples_per_class.size()) != classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".samples_per_class: ", spec.samples_per_class.size(),
          " counts for ", classes,
          " classes (give one count per class, or name a run to use its "
          "counts)"));
    }
    FM_ASSIGN_OR_RETURN(
        r.class_alpha,
        ClassWeightsFromCounts(spec.samples_per_class,
                               WeightScheme::kEffectiveNumber, beta,
                               absl::StrCat(field, ".samples_per_class")));
  }
  return r;
}

}  // namespace

absl::string_view LossKindName(LossKind kind) {
  switch (kind) {
    case LossKind::kCrossEntropy:
      return "CROSS_ENTROPY";
    case LossKind::kFocal:
      return "FOCAL";
    case LossKind::kClassBalancedFocal:
      return "CLASS_BALANCED_FOCAL";
    case LossKind::kAsymmetric:
      return "ASYMMETRIC";
    case LossKind::kOhem:
      return "OHEM";
    case LossKind::kFocalDice:
      return "FOCAL_DICE";
    case LossKind::kRetinaNet:
      return "RETINANET";
  }
  return "UNKNOWN";
}

std::string DefaultLossName(LossKind kind) {
  return absl::AsciiStrToLower(LossKindName(kind));
}

absl::StatusOr<LossOutput> ComputeLoss(const PreparedBatch& batch,
                                       const LossSpec& spec, bool want_gradient,
                                       absl::string_view field) {
  FM_ASSIGN_OR_RETURN(const ResolvedLoss resolved, Resolve(spec, batch, field));
  absl::StatusOr<LossOutput> out;
  switch (batch.task()) {
    case Task::kBinary:
    case Task::kMultilabel:
      out = losses_internal::SigmoidLoss(batch, resolved, want_gradient);
      break;
    case Task::kMulticlass:
      out = losses_internal::SoftmaxLoss(batch, resolved, want_gradient);
      break;
    case Task::kDetection:
      out = losses_internal::DetectionLoss(batch, resolved, want_gradient);
      break;
  }
  if (out.ok() && want_gradient)
    batch.ChainToInputs(absl::MakeSpan(out->gradient));
  return out;
}

std::vector<double> ScoreProbabilities(const PreparedBatch& batch) {
  const FloatingValues& x = batch.logits();
  std::vector<double> p(x.size());
  if (batch.task() == Task::kMulticlass) {
    if (batch.input_kind() == InputKind::kProbabilities) {
      for (size_t i = 0; i < p.size(); ++i) p[i] = std::exp(x[i]);
      return p;
    }
    std::vector<losses_internal::SoftmaxRow> rows(batch.num_rows());
    losses_internal::SoftmaxRows(x, batch.num_rows(), batch.num_classes(),
                                 absl::MakeSpan(rows), absl::MakeSpan(p));
    return p;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = std::exp(-std::abs(x[i]));
    p[i] = x[i] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  }
  return p;
}

}  // namespace focalmetrics
