#include "core/losses/batch.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace focalmetrics {
namespace {

// Where PyTorch's binary_cross_entropy clamps log(p): log-odds and
// log-probabilities derived from probabilities stay within this.
constexpr double kMaxLogMagnitude = 100.0;
// Rows of MULTICLASS probabilities must sum to 1 within this (float16 rows
// of a few hundred classes are off by ~1e-3).
constexpr double kRowSumTolerance = 1e-2;

absl::Status RequireRank(const TensorView& tensor, size_t rank,
                         absl::string_view field, absl::string_view what) {
  if (tensor.shape.size() != rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".shape: ", what, ", got ", ShapeToString(tensor.shape)));
  }
  return absl::OkStatus();
}

absl::Status RequireShape(const TensorView& tensor,
                          const std::vector<int64_t>& shape,
                          absl::string_view field, absl::string_view reason) {
  if (tensor.shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".shape: expected ", ShapeToString(shape), " (",
                     reason, "), got ", ShapeToString(tensor.shape)));
  }
  return absl::OkStatus();
}

template <typename Span>
bool AllInUnitInterval(Span values) {
  // NaN compares false, so it is caught too. An integer reduction: GCC
  // vectorizes it, not a bool.
  int outside = 0;
  for (auto v : values) outside |= !((v >= 0) & (v <= 1));
  return outside == 0;
}

absl::Status CheckUnitInterval(const FloatingValues& values,
                               absl::string_view field,
                               absl::string_view what) {
  // A vectorizable pass first; the offending element is looked for on error.
  if (values.is_double() ? AllInUnitInterval(values.doubles())
                         : AllInUnitInterval(values.floats())) {
    return absl::OkStatus();
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (!(v >= 0.0 && v <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": element ", i,
                                                     " is ", v, "; ", what,
                                                     " must lie in [0, 1]"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> ReadBoxes(
    const std::optional<TensorView>& boxes, int64_t num_anchors,
    absl::string_view field) {
  if (!boxes.has_value()) return std::vector<double>();
  FM_RETURN_IF_ERROR(ValidateTensor(*boxes, field));
  FM_RETURN_IF_ERROR(
      RequireShape(*boxes, {num_anchors, 4}, field, "one box per anchor"));
  if (!IsFloatingPoint(boxes->dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".dtype: boxes must be floating point, got ",
                     DTypeName(boxes->dtype)));
  }
  FloatingValues values = ReadFloating(*boxes);
  FM_RETURN_IF_ERROR(CheckFinite(values, field));
  return values.ToDoubles();
}

}  // namespace

absl::string_view TaskName(Task task) {
  switch (task) {
    case Task::kBinary:
      return "BINARY";
    case Task::kMulticlass:
      return "MULTICLASS";
    case Task::kMultilabel:
      return "MULTILABEL";
    case Task::kDetection:
      return "DETECTION";
  }
  return "UNKNOWN";
}

absl::StatusOr<PreparedBatch> PreparedBatch::Prepare(const BatchView& view) {
  FM_RETURN_IF_ERROR(ValidateTensor(view.scores, "batch.scores"));
  FM_RETURN_IF_ERROR(ValidateTensor(view.targets, "batch.targets"));
  if (!IsFloatingPoint(view.scores.dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch.scores.dtype: scores must be FLOAT32, FLOAT16, BFLOAT16 or "
        "FLOAT64, got ",
        DTypeName(view.scores.dtype)));
  }
  if (view.ignore_index.has_value() && view.task != Task::kMulticlass) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch.ignore_index: only MULTICLASS batches have an ignore index, "
        "this one is ",
        TaskName(view.task)));
  }
  if ((view.box_preds.has_value() || view.box_targets.has_value()) &&
      view.task != Task::kDetection) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch.box_preds: only DETECTION batches carry boxes, this one is ",
        TaskName(view.task)));
  }

  PreparedBatch batch;
  batch.task_ = view.task;
  batch.input_kind_ = view.input_kind;
  batch.scores_shape_ = view.scores.shape;
  batch.ignore_index_ = view.ignore_index;

  switch (view.task) {
    case Task::kBinary: {
      FM_ASSIGN_OR_RETURN(batch.num_rows_,
                          NumElements(view.scores.shape, "batch.scores"));
      batch.num_classes_ = 1;
      FM_RETURN_IF_ERROR(RequireShape(view.targets, view.scores.shape,
                                      "batch.targets", "same as scores"));
      break;
    }
    case Task::kMulticlass:
    case Task::kMultilabel:
    case Task::kDetection: {
      FM_RETURN_IF_ERROR(RequireRank(view.scores, 2, "batch.scores",
                                     "expected [N, C] for this task"));
      batch.num_rows_ = view.scores.shape[0];
      batch.num_classes_ = view.scores.shape[1];
      if (batch.num_classes_ < 1) {
        return absl::InvalidArgumentError(
            "batch.scores.shape: need at least one class (C >= 1)");
      }
      if (view.task == Task::kMultilabel) {
        FM_RETURN_IF_ERROR(RequireShape(view.targets, view.scores.shape,
                                        "batch.targets", "one per score"));
      } else {
        FM_RETURN_IF_ERROR(RequireShape(view.targets, {batch.num_rows_},
                                        "batch.targets",
                                        "one class id per row"));
      }
      break;
    }
  }

  FloatingValues scores = ReadFloating(view.scores);
  FM_RETURN_IF_ERROR(CheckFinite(scores, "batch.scores"));

  // Targets.
  if (view.task == Task::kBinary || view.task == Task::kMultilabel) {
    batch.soft_targets_ = ReadFloating(view.targets);
    FM_RETURN_IF_ERROR(
        CheckUnitInterval(batch.soft_targets_, "batch.targets", "targets"));
  } else {
    FM_ASSIGN_OR_RETURN(batch.class_targets_,
                        ReadIntegers(view.targets, "batch.targets"));
    const int64_t lowest =
        view.task == Task::kDetection ? kDetectionIgnored : 0;
    for (size_t i = 0; i < batch.class_targets_.size(); ++i) {
      const int64_t t = batch.class_targets_[i];
      if (view.ignore_index.has_value() && t == *view.ignore_index) continue;
      if (t < lowest || t >= batch.num_classes_) {
        return absl::InvalidArgumentError(
            absl::StrCat("batch.targets: element ", i, " is ", t, ", outside [",
                         lowest, ", ", batch.num_classes_, ")",
                         view.task == Task::kDetection
                             ? " (-1 is background, -2 ignored)"
                             : (view.ignore_index.has_value()
                                    ? absl::StrCat(" and not ignore_index ",
                                                   *view.ignore_index)
                                    : std::string())));
      }
    }
  }

  if (view.task == Task::kDetection) {
    FM_ASSIGN_OR_RETURN(
        batch.box_preds_,
        ReadBoxes(view.box_preds, batch.num_rows_, "batch.box_preds"));
    FM_ASSIGN_OR_RETURN(
        batch.box_targets_,
        ReadBoxes(view.box_targets, batch.num_rows_, "batch.box_targets"));
    if (batch.box_preds_.size() != batch.box_targets_.size()) {
      return absl::InvalidArgumentError(
          "batch.box_targets: box_preds and box_targets come together");
    }
  }

  // Scores as logits.
  if (view.input_kind == InputKind::kLogits) {
    batch.logits_ = std::move(scores);
    return batch;
  }
  FM_RETURN_IF_ERROR(
      CheckUnitInterval(scores, "batch.scores", "probabilities"));
  batch.probabilities_ = scores.ToDoubles();
  std::vector<double> logits(batch.probabilities_.size());
  if (view.task == Task::kMulticlass) {
    const int64_t c = batch.num_classes_;
    for (int64_t row = 0; row < batch.num_rows_; ++row) {
      double sum = 0.0;
      for (int64_t j = 0; j < c; ++j) sum += batch.probabilities_[row * c + j];
      if (std::abs(sum - 1.0) > kRowSumTolerance) {
        return absl::InvalidArgumentError(absl::StrCat(
            "batch.scores: row ", row, " of MULTICLASS probabilities sums to ",
            sum, ", not 1 (send logits, or softmax outputs)"));
      }
    }
    for (size_t i = 0; i < logits.size(); ++i) {
      logits[i] =
          std::max(std::log(batch.probabilities_[i]), -kMaxLogMagnitude);
    }
  } else {
    for (size_t i = 0; i < logits.size(); ++i) {
      const double p = batch.probabilities_[i];
      logits[i] = std::clamp(std::log(p) - std::log1p(-p), -kMaxLogMagnitude,
                             kMaxLogMagnitude);
    }
  }
  batch.logits_ = FloatingValues::Own(std::move(logits));
  return batch;
}

void PreparedBatch::ChainToInputs(absl::Span<double> gradient) const {
  if (input_kind_ == InputKind::kLogits) return;
  // Same floors as PyTorch's binary_cross_entropy backward (1e-12) keep the
  // gradient finite where a probability is exactly 0 or 1.
  constexpr double kMinDerivativeDenominator = 1e-12;
  for (size_t i = 0; i < gradient.size(); ++i) {
    const double p = probabilities_[i];
    const double denominator = task_ == Task::kMulticlass ? p : p * (1.0 - p);
    gradient[i] /= std::max(denominator, kMinDerivativeDenominator);
  }
}

}  // namespace focalmetrics
