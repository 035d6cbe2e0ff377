// The focal family of losses on one prepared batch: what a LossSpec asks for
// (DESIGN.md's table), its value under a reduction, per-element values and
// the gradient with respect to the scores as sent.
//
//   LossSpec focal{.kind = LossKind::kFocal};  // alpha 0.25, gamma 2
//   FM_ASSIGN_OR_RETURN(LossOutput out,
//                       ComputeLoss(batch, focal, /*want_gradient=*/true));
//   use(out.value, out.gradient);
#ifndef FOCALMETRICS_CORE_LOSSES_LOSS_H_
#define FOCALMETRICS_CORE_LOSSES_LOSS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/losses/batch.h"

namespace focalmetrics {

enum class LossKind {
  kCrossEntropy,
  kFocal,
  kClassBalancedFocal,
  kAsymmetric,
  kOhem,
  kFocalDice,
  kRetinaNet,
};

enum class Reduction { kMean, kSum, kNone };

// "CROSS_ENTROPY", ... as in the proto without its prefix.
absl::string_view LossKindName(LossKind kind);
// The default result name: the kind in lower case ("class_balanced_focal").
std::string DefaultLossName(LossKind kind);

// One loss to compute. Unset parameters take DESIGN.md's defaults; a
// parameter the kind does not use is an error, so typos do not pass silently.
struct LossSpec {
  LossKind kind = LossKind::kCrossEntropy;
  std::string name;  // Empty: DefaultLossName(kind).
  Reduction reduction = Reduction::kMean;
  std::optional<double> alpha;
  std::optional<double> gamma;
  std::vector<double> class_alpha;
  std::optional<double> beta;
  std::vector<int64_t> samples_per_class;
  std::optional<double> gamma_pos;
  std::optional<double> gamma_neg;
  std::optional<double> clip;
  std::optional<double> ohem_ratio;
  std::optional<double> smooth_l1_beta;
};

struct LossOutput {
  // MEAN or SUM value; for NONE, the sum of `values`.
  double value = 0.0;
  // REDUCTION_NONE only: per-element (BINARY, MULTILABEL) or per-row
  // (MULTICLASS, DETECTION) values, shaped `values_shape`.
  std::vector<double> values;
  std::vector<int64_t> values_shape;
  // When asked: d value / d scores, shaped as the scores. For NONE, the
  // gradient of the sum of `values`.
  std::vector<double> gradient;
};

// Computes `spec` on `batch`. `field` prefixes error messages
// ("losses[2].gamma: must be >= 0, got -1").
//
// Definitions and normalisers are DESIGN.md's. Where the design leaves a
// choice, this is what is done (docs/losses.md lists them):
// - MEAN over zero contributing elements (an empty batch, every sample
//   ignored) is 0, not NaN; SUM is 0 and NONE is empty.
// - OHEM with NONE returns every per-sample loss with the unselected ones
//   set to 0, so that the SUM of values equals SUM.
// - FOCAL_DICE has no per-element form: NONE is INVALID_ARGUMENT.
// - RETINANET with SUM or NONE drops the 1/max(1, n_fg) normaliser; NONE is
//   per anchor (its class terms plus its box term).
//
// Errors (INVALID_ARGUMENT): a kind that does not apply to the task, a
// parameter outside its domain or not used by the kind, class_alpha or
// samples_per_class of the wrong length, missing boxes for RETINANET.
absl::StatusOr<LossOutput> ComputeLoss(const PreparedBatch& batch,
                                       const LossSpec& spec, bool want_gradient,
                                       absl::string_view field = "loss");

// The model's probability for every score of `batch`, shaped as the scores:
// sigmoid of the logits (BINARY, MULTILABEL, DETECTION) or the softmax of
// each row (MULTICLASS); probabilities sent as such come back as sent (up to
// rounding).
std::vector<double> ScoreProbabilities(const PreparedBatch& batch);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_LOSSES_LOSS_H_
