#include "server/runs_impl.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/losses/batch.h"
#include "core/losses/loss.h"
#include "core/status_macros.h"
#include "server/proto_conversion.h"

namespace focalmetrics {
namespace {

absl::StatusOr<WeightScheme> SchemeFromProto(int scheme) {
  switch (scheme) {
    case v1::WEIGHT_SCHEME_UNSPECIFIED:
    case v1::WEIGHT_SCHEME_EFFECTIVE_NUMBER:
      return WeightScheme::kEffectiveNumber;
    case v1::WEIGHT_SCHEME_INVERSE_FREQUENCY:
      return WeightScheme::kInverseFrequency;
    case v1::WEIGHT_SCHEME_INVERSE_SQRT_FREQUENCY:
      return WeightScheme::kInverseSqrtFrequency;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("scheme: unknown value ", scheme,
                       "; expected one of WEIGHT_SCHEME_EFFECTIVE_NUMBER, "
                       "WEIGHT_SCHEME_INVERSE_FREQUENCY, "
                       "WEIGHT_SCHEME_INVERSE_SQRT_FREQUENCY"));
  }
}

}  // namespace

absl::Status RunsImpl::Report(const v1::ReportRequest& request,
                              v1::ReportAck* ack) const {
  ack->set_seq(request.seq());
  FM_RETURN_IF_ERROR(ValidateRunId(request.run(), "run"));
  if (!request.worker().empty())
    FM_RETURN_IF_ERROR(ValidateRunId(request.worker(), "worker"));
  if (!request.has_batch()) return absl::InvalidArgumentError("batch: missing");
  std::vector<LossSpec> specs;
  for (int i = 0; i < request.losses_size(); ++i) {
    FM_ASSIGN_OR_RETURN(
        LossSpec spec,
        LossSpecFromProto(request.losses(i), absl::StrCat("losses[", i, "]")));
    specs.push_back(std::move(spec));
  }
  // A resend of a batch the run already has is answered without computing
  // anything (clients resend from durable_seq + 1 after every reconnect).
  const auto existing = registry_->Find(request.run(), request.split());
  if (existing.ok()) {
    if (const auto duplicate =
            (*existing)->DuplicateOf(request.worker(), request.seq())) {
      ack->set_duplicate(true);
      ack->set_durable_seq(duplicate->durable_seq);
      return absl::OkStatus();
    }
  }
  FM_ASSIGN_OR_RETURN(const BatchView view, BatchFromProto(request.batch()));
  FM_ASSIGN_OR_RETURN(const PreparedBatch batch, PreparedBatch::Prepare(view));
  std::vector<int64_t> run_class_counts;
  if (existing.ok() && NeedsRunClassCounts(specs)) {
    run_class_counts = (*existing)->SamplesPerClass();
  }
  // Everything that needs no run is checked before the run is created, so a
  // rejected first batch leaves no empty run behind.
  FM_ASSIGN_OR_RETURN(
      PreparedReport report,
      RunState::Prepare({.worker = request.worker(),
                         .seq = request.seq(),
                         .step = request.step(),
                         .epoch = request.epoch(),
                         .batch = &batch,
                         .losses = std::move(specs),
                         .run_class_counts = std::move(run_class_counts)},
                        registry_->limits().run));
  FM_ASSIGN_OR_RETURN(const std::shared_ptr<RunState> state,
                      registry_->GetOrCreate(request.run(), request.split()));
  FM_ASSIGN_OR_RETURN(const ReportResult result,
                      state->Apply(std::move(report)));
  ack->set_duplicate(result.duplicate);
  ack->set_durable_seq(result.durable_seq);
  for (const NamedLossValue& loss : result.losses) {
    v1::LossResult* out = ack->add_losses();
    out->set_name(loss.name);
    out->set_kind(LossKindToProto(loss.kind));
    out->set_value(loss.value);
  }
  return absl::OkStatus();
}

void RunsImpl::ReportOnStream(const v1::ReportRequest& request,
                              v1::ReportAck* ack) const {
  const absl::Status status = Report(request, ack);
  if (status.ok()) return;
  ack->Clear();
  ack->set_seq(request.seq());
  // Even a refusal says how far durability got, so a client whose last
  // batch was refused still learns when the ones before it are safe.
  if (const auto existing = registry_->Find(request.run(), request.split());
      existing.ok()) {
    ack->set_durable_seq((*existing)->DurableSeq(request.worker()));
  }
  ack->mutable_error()->set_code(static_cast<int32_t>(status.code()));
  ack->mutable_error()->set_message(std::string(status.message()));
}

absl::Status RunsImpl::GetMetrics(const v1::GetMetricsRequest& request,
                                  v1::RunMetrics* response) const {
  FM_ASSIGN_OR_RETURN(const std::shared_ptr<RunState> state,
                      registry_->Find(request.run(), request.split()));
  std::optional<int64_t> epoch;
  if (request.has_epoch()) epoch = request.epoch();
  FM_ASSIGN_OR_RETURN(const RunMetricsSnapshot metrics, state->Metrics(epoch));
  RunMetricsToProto(metrics, response);
  return absl::OkStatus();
}

absl::Status RunsImpl::GetClassWeights(
    const v1::GetClassWeightsRequest& request,
    v1::ClassWeights* response) const {
  FM_ASSIGN_OR_RETURN(const WeightScheme scheme,
                      SchemeFromProto(request.scheme()));
  FM_ASSIGN_OR_RETURN(const std::shared_ptr<RunState> state,
                      registry_->Find(request.run(), request.split()));
  const double beta =
      request.has_beta() ? request.beta() : kDefaultEffectiveNumberBeta;
  FM_ASSIGN_OR_RETURN(const std::vector<double> weights,
                      state->ClassWeights(scheme, beta));
  const std::vector<int64_t> counts = state->SamplesPerClass();
  response->mutable_weights()->Assign(weights.begin(), weights.end());
  response->mutable_samples_per_class()->Assign(counts.begin(), counts.end());
  return absl::OkStatus();
}

absl::Status RunsImpl::GetPrecisionRecallCurve(
    const v1::GetPrecisionRecallCurveRequest& request,
    v1::PrecisionRecallCurve* response) const {
  if (request.max_points() < 0 || request.max_points() == 1 ||
      request.max_points() > kMaxCurvePoints) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_points: ", request.max_points(), " is outside [2, ",
                     kMaxCurvePoints, "] (0 means ", kDefaultCurvePoints, ")"));
  }
  FM_ASSIGN_OR_RETURN(const std::shared_ptr<RunState> state,
                      registry_->Find(request.run(), request.split()));
  const int32_t points =
      request.max_points() == 0 ? kDefaultCurvePoints : request.max_points();
  FM_ASSIGN_OR_RETURN(
      const PrecisionRecallPoints curve,
      state->Curve(request.class_id(), static_cast<size_t>(points)));
  response->mutable_thresholds()->Assign(curve.thresholds.begin(),
                                         curve.thresholds.end());
  response->mutable_precision()->Assign(curve.precision.begin(),
                                        curve.precision.end());
  response->mutable_recall()->Assign(curve.recall.begin(), curve.recall.end());
  return absl::OkStatus();
}

absl::Status RunsImpl::ListRuns(const v1::ListRunsRequest&,
                                v1::ListRunsResponse* response) const {
  for (const RunSummary& summary : registry_->List()) {
    v1::RunSummary* out = response->add_runs();
    out->set_run(summary.run);
    out->set_split(summary.split);
    out->set_epoch(summary.epoch);
    out->set_samples(summary.samples);
    if (summary.task.has_value()) out->set_task(TaskToProto(*summary.task));
  }
  return absl::OkStatus();
}

absl::Status RunsImpl::DeleteRun(const v1::DeleteRunRequest& request,
                                 v1::DeleteRunResponse* response) const {
  FM_RETURN_IF_ERROR(ValidateRunId(request.run(), "run"));
  response->set_deleted(registry_->Delete(request.run(), request.split()));
  return absl::OkStatus();
}

}  // namespace focalmetrics
