#include "server/proto_conversion.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace focalmetrics {
namespace {

// "INVALID_ARGUMENT: batch.task: TASK_UNSPECIFIED; set one of ...".
absl::Status EnumError(absl::string_view field, int value,
                       absl::string_view unspecified_name,
                       absl::string_view choices) {
  if (value == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", unspecified_name, " (unset); set one of ", choices));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": unknown value ", value, "; expected one of ", choices));
}

absl::StatusOr<DType> DTypeFromProto(int dtype, absl::string_view field) {
  switch (dtype) {
    case v1::DTYPE_FLOAT32:
      return DType::kFloat32;
    case v1::DTYPE_FLOAT16:
      return DType::kFloat16;
    case v1::DTYPE_BFLOAT16:
      return DType::kBFloat16;
    case v1::DTYPE_FLOAT64:
      return DType::kFloat64;
    case v1::DTYPE_INT64:
      return DType::kInt64;
    case v1::DTYPE_INT32:
      return DType::kInt32;
    case v1::DTYPE_UINT8:
      return DType::kUInt8;
    case v1::DTYPE_BOOL:
      return DType::kBool;
    default:
      return EnumError(field, dtype, "DTYPE_UNSPECIFIED",
                       "DTYPE_FLOAT32, DTYPE_FLOAT16, DTYPE_BFLOAT16, "
                       "DTYPE_FLOAT64, DTYPE_INT64, DTYPE_INT32, DTYPE_UINT8, "
                       "DTYPE_BOOL");
  }
}

absl::StatusOr<Task> TaskFromProto(int task) {
  switch (task) {
    case v1::TASK_BINARY:
      return Task::kBinary;
    case v1::TASK_MULTICLASS:
      return Task::kMulticlass;
    case v1::TASK_MULTILABEL:
      return Task::kMultilabel;
    case v1::TASK_DETECTION:
      return Task::kDetection;
    default:
      return EnumError("batch.task", task, "TASK_UNSPECIFIED",
                       "TASK_BINARY, TASK_MULTICLASS, TASK_MULTILABEL, "
                       "TASK_DETECTION");
  }
}

absl::StatusOr<LossKind> LossKindFromProto(int kind, absl::string_view field) {
  switch (kind) {
    case v1::LOSS_KIND_CROSS_ENTROPY:
      return LossKind::kCrossEntropy;
    case v1::LOSS_KIND_FOCAL:
      return LossKind::kFocal;
    case v1::LOSS_KIND_CLASS_BALANCED_FOCAL:
      return LossKind::kClassBalancedFocal;
    case v1::LOSS_KIND_ASYMMETRIC:
      return LossKind::kAsymmetric;
    case v1::LOSS_KIND_OHEM:
      return LossKind::kOhem;
    case v1::LOSS_KIND_FOCAL_DICE:
      return LossKind::kFocalDice;
    case v1::LOSS_KIND_RETINANET:
      return LossKind::kRetinaNet;
    default:
      return EnumError(
          absl::StrCat(field, ".kind"), kind, "LOSS_KIND_UNSPECIFIED",
          "LOSS_KIND_CROSS_ENTROPY, LOSS_KIND_FOCAL, "
          "LOSS_KIND_CLASS_BALANCED_FOCAL, LOSS_KIND_ASYMMETRIC, "
          "LOSS_KIND_OHEM, LOSS_KIND_FOCAL_DICE, LOSS_KIND_RETINANET");
  }
}

std::optional<double> Optional(bool present, float value) {
  if (!present) return std::nullopt;
  return static_cast<double>(value);
}

void SetFloat64Tensor(const std::vector<double>& values,
                      const std::vector<int64_t>& shape, v1::Tensor* out) {
  out->mutable_shape()->Assign(shape.begin(), shape.end());
  out->set_dtype(v1::DTYPE_FLOAT64);
  out->set_data(EncodeAs(values, DType::kFloat64));
}

}  // namespace

absl::StatusOr<TensorView> TensorFromProto(const v1::Tensor& tensor,
                                           absl::string_view field) {
  FM_ASSIGN_OR_RETURN(
      const DType dtype,
      DTypeFromProto(tensor.dtype(), absl::StrCat(field, ".dtype")));
  return TensorView{
      std::vector<int64_t>(tensor.shape().begin(), tensor.shape().end()), dtype,
      tensor.data()};
}

absl::StatusOr<BatchView> BatchFromProto(const v1::Batch& batch) {
  BatchView view;
  FM_ASSIGN_OR_RETURN(view.task, TaskFromProto(batch.task()));
  switch (batch.input_kind()) {
    case v1::INPUT_KIND_UNSPECIFIED:
    case v1::INPUT_KIND_LOGITS:
      view.input_kind = InputKind::kLogits;
      break;
    case v1::INPUT_KIND_PROBABILITIES:
      view.input_kind = InputKind::kProbabilities;
      break;
    default:
      return EnumError("batch.input_kind", batch.input_kind(), "",
                       "INPUT_KIND_LOGITS, INPUT_KIND_PROBABILITIES");
  }
  if (!batch.has_scores()) {
    return absl::InvalidArgumentError("batch.scores: missing");
  }
  if (!batch.has_targets()) {
    return absl::InvalidArgumentError("batch.targets: missing");
  }
  FM_ASSIGN_OR_RETURN(view.scores,
                      TensorFromProto(batch.scores(), "batch.scores"));
  FM_ASSIGN_OR_RETURN(view.targets,
                      TensorFromProto(batch.targets(), "batch.targets"));
  if (batch.has_ignore_index()) view.ignore_index = batch.ignore_index();
  if (batch.has_box_preds() != batch.has_box_targets()) {
    return absl::InvalidArgumentError(absl::StrCat(
        batch.has_box_preds() ? "batch.box_targets" : "batch.box_preds",
        ": missing (box_preds and box_targets come together)"));
  }
  if (batch.has_box_preds()) {
    FM_ASSIGN_OR_RETURN(view.box_preds,
                        TensorFromProto(batch.box_preds(), "batch.box_preds"));
    FM_ASSIGN_OR_RETURN(view.box_targets, TensorFromProto(batch.box_targets(),
                                                          "batch.box_targets"));
  }
  return view;
}

absl::StatusOr<LossSpec> LossSpecFromProto(const v1::LossSpec& spec,
                                           absl::string_view field) {
  LossSpec out;
  FM_ASSIGN_OR_RETURN(out.kind, LossKindFromProto(spec.kind(), field));
  out.name = spec.name();
  switch (spec.reduction()) {
    case v1::REDUCTION_UNSPECIFIED:
    case v1::REDUCTION_MEAN:
      out.reduction = Reduction::kMean;
      break;
    case v1::REDUCTION_SUM:
      out.reduction = Reduction::kSum;
      break;
    case v1::REDUCTION_NONE:
      out.reduction = Reduction::kNone;
      break;
    default:
      return EnumError(absl::StrCat(field, ".reduction"), spec.reduction(), "",
                       "REDUCTION_MEAN, REDUCTION_SUM, REDUCTION_NONE");
  }
  out.alpha = Optional(spec.has_alpha(), spec.alpha());
  out.gamma = Optional(spec.has_gamma(), spec.gamma());
  out.beta = Optional(spec.has_beta(), spec.beta());
  out.gamma_pos = Optional(spec.has_gamma_pos(), spec.gamma_pos());
  out.gamma_neg = Optional(spec.has_gamma_neg(), spec.gamma_neg());
  out.clip = Optional(spec.has_clip(), spec.clip());
  out.ohem_ratio = Optional(spec.has_ohem_ratio(), spec.ohem_ratio());
  out.smooth_l1_beta =
      Optional(spec.has_smooth_l1_beta(), spec.smooth_l1_beta());
  out.class_alpha.assign(spec.class_alpha().begin(), spec.class_alpha().end());
  out.samples_per_class.assign(spec.samples_per_class().begin(),
                               spec.samples_per_class().end());
  return out;
}

v1::LossKind LossKindToProto(LossKind kind) {
  switch (kind) {
    case LossKind::kCrossEntropy:
      return v1::LOSS_KIND_CROSS_ENTROPY;
    case LossKind::kFocal:
      return v1::LOSS_KIND_FOCAL;
    case LossKind::kClassBalancedFocal:
      return v1::LOSS_KIND_CLASS_BALANCED_FOCAL;
    case LossKind::kAsymmetric:
      return v1::LOSS_KIND_ASYMMETRIC;
    case LossKind::kOhem:
      return v1::LOSS_KIND_OHEM;
    case LossKind::kFocalDice:
      return v1::LOSS_KIND_FOCAL_DICE;
    case LossKind::kRetinaNet:
      return v1::LOSS_KIND_RETINANET;
  }
  return v1::LOSS_KIND_UNSPECIFIED;
}

void LossResultToProto(const LossSpec& spec, const LossOutput& output,
                       const std::vector<int64_t>& scores_shape,
                       bool with_gradient, v1::LossResult* out) {
  out->set_name(spec.name.empty() ? DefaultLossName(spec.kind) : spec.name);
  out->set_kind(LossKindToProto(spec.kind));
  out->set_value(output.value);
  if (spec.reduction == Reduction::kNone) {
    SetFloat64Tensor(output.values, output.values_shape, out->mutable_values());
  }
  if (with_gradient) {
    SetFloat64Tensor(output.gradient, scores_shape, out->mutable_gradient());
  }
}

v1::Task TaskToProto(Task task) {
  switch (task) {
    case Task::kBinary:
      return v1::TASK_BINARY;
    case Task::kMulticlass:
      return v1::TASK_MULTICLASS;
    case Task::kMultilabel:
      return v1::TASK_MULTILABEL;
    case Task::kDetection:
      return v1::TASK_DETECTION;
  }
  return v1::TASK_UNSPECIFIED;
}

void LossSpecToProto(const LossSpec& spec, v1::LossSpec* out) {
  out->set_kind(LossKindToProto(spec.kind));
  out->set_name(spec.name);
  switch (spec.reduction) {
    case Reduction::kMean:
      out->set_reduction(v1::REDUCTION_MEAN);
      break;
    case Reduction::kSum:
      out->set_reduction(v1::REDUCTION_SUM);
      break;
    case Reduction::kNone:
      out->set_reduction(v1::REDUCTION_NONE);
      break;
  }
  if (spec.alpha) out->set_alpha(static_cast<float>(*spec.alpha));
  if (spec.gamma) out->set_gamma(static_cast<float>(*spec.gamma));
  if (spec.beta) out->set_beta(static_cast<float>(*spec.beta));
  if (spec.gamma_pos) out->set_gamma_pos(static_cast<float>(*spec.gamma_pos));
  if (spec.gamma_neg) out->set_gamma_neg(static_cast<float>(*spec.gamma_neg));
  if (spec.clip) out->set_clip(static_cast<float>(*spec.clip));
  if (spec.ohem_ratio)
    out->set_ohem_ratio(static_cast<float>(*spec.ohem_ratio));
  if (spec.smooth_l1_beta)
    out->set_smooth_l1_beta(static_cast<float>(*spec.smooth_l1_beta));
  for (double a : spec.class_alpha) out->add_class_alpha(static_cast<float>(a));
  out->mutable_samples_per_class()->Assign(spec.samples_per_class.begin(),
                                           spec.samples_per_class.end());
}

void RunMetricsToProto(const RunMetricsSnapshot& metrics, v1::RunMetrics* out) {
  out->set_run(metrics.run);
  out->set_split(metrics.split);
  out->set_epoch(metrics.epoch);
  out->set_step(metrics.step);
  out->set_samples(metrics.samples);
  out->set_batches(metrics.batches);
  for (const LossStatistics& loss : metrics.losses) {
    v1::LossStat* stat = out->add_losses();
    stat->set_name(loss.name);
    stat->set_kind(LossKindToProto(loss.kind));
    stat->set_last(loss.last);
    stat->set_mean(loss.mean);
    stat->set_ema(loss.ema);
  }
  const AveragePrecisionSummary& ap = metrics.average_precision;
  v1::AveragePrecision* ap_out = out->mutable_average_precision();
  ap_out->set_macro(ap.macro);
  ap_out->set_micro(ap.micro);
  ap_out->set_weighted(ap.weighted);
  ap_out->set_exact(ap.exact);
  for (size_t c = 0; c < ap.per_class.size(); ++c) {
    const ClassAveragePrecision& value = ap.per_class[c];
    v1::ClassAP* class_ap = ap_out->add_per_class();
    class_ap->set_class_id(static_cast<int32_t>(c));
    class_ap->set_ap(value.estimate);
    class_ap->set_lower(value.lower);
    class_ap->set_upper(value.upper);
    class_ap->set_positives(value.positives);
    class_ap->set_defined(value.defined);
  }
  for (const ClassStatistics& stats : metrics.classes) {
    v1::ClassStats* c = out->add_classes();
    c->set_class_id(stats.class_id);
    c->set_positives(stats.positives);
    c->set_negatives(stats.negatives);
    c->set_mean_probability(stats.mean_probability);
  }
  v1::Recommendation* recommendation = out->mutable_recommendation();
  LossSpecToProto(metrics.recommendation.loss, recommendation->mutable_loss());
  recommendation->set_reason(metrics.recommendation.reason);
  for (const std::string& warning : metrics.recommendation.warnings) {
    recommendation->add_warnings(warning);
  }
}

}  // namespace focalmetrics
