// Translates between the wire messages of focal_metrics.proto and core's
// types. Enum values that are unset where they have no default, or unknown
// to this server, are INVALID_ARGUMENT naming the field; nothing here knows
// what a loss means.
//
//   FM_ASSIGN_OR_RETURN(BatchView view, BatchFromProto(request.batch()));
//   FM_ASSIGN_OR_RETURN(LossSpec spec, LossSpecFromProto(request.losses(0),
//   "losses[0]"));
#ifndef FOCALMETRICS_SERVER_PROTO_CONVERSION_H_
#define FOCALMETRICS_SERVER_PROTO_CONVERSION_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/losses/batch.h"
#include "core/losses/loss.h"
#include "core/run/run_state.h"
#include "focalmetrics/v1/focal_metrics.pb.h"

namespace focalmetrics {

// A view of `batch` (which must outlive it). Errors name "batch.*" fields.
absl::StatusOr<BatchView> BatchFromProto(const v1::Batch& batch);

absl::StatusOr<TensorView> TensorFromProto(const v1::Tensor& tensor,
                                           absl::string_view field);

absl::StatusOr<LossSpec> LossSpecFromProto(const v1::LossSpec& spec,
                                           absl::string_view field);

v1::LossKind LossKindToProto(LossKind kind);
v1::Task TaskToProto(Task task);
void LossSpecToProto(const LossSpec& spec, v1::LossSpec* out);
void RunMetricsToProto(const RunMetricsSnapshot& metrics, v1::RunMetrics* out);

// `out` gets the name (the spec's, or the kind's default), kind, value, the
// values for REDUCTION_NONE and, when asked, the gradient shaped as the
// scores, both as FLOAT64 tensors.
void LossResultToProto(const LossSpec& spec, const LossOutput& output,
                       const std::vector<int64_t>& scores_shape,
                       bool with_gradient, v1::LossResult* out);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_PROTO_CONVERSION_H_
