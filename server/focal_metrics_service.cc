#include "server/focal_metrics_service.h"

#include "server/status_conversion.h"

namespace focalmetrics {
namespace {

// Finishes a unary call with `status`; a failed call returns an empty message.
template <typename Response>
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status,
                                 Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!status.ok()) response->Clear();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// One StreamReports call: read, apply, ack, read again. Errors of a batch go
// into its ack and the stream stays open.
class ReportStream final
    : public grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportAck> {
 public:
  explicit ReportStream(const RunsImpl* runs) : runs_(runs) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // The client closed its side: every request has been acked.
      Finish(grpc::Status::OK);
      return;
    }
    ack_.Clear();
    runs_->ReportOnStream(request_, &ack_);
    StartWrite(&ack_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "stream closed while acking"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const RunsImpl* runs_;
  v1::ReportRequest request_;
  v1::ReportAck ack_;
};

}  // namespace

FocalMetricsService::FocalMetricsService(RunRegistry* registry)
    : compute_loss_(registry), runs_(registry) {}

grpc::ServerUnaryReactor* FocalMetricsService::ComputeLoss(
    grpc::CallbackServerContext* context, const v1::ComputeLossRequest* request,
    v1::ComputeLossResponse* response) {
  return Finish(context, compute_loss_.Compute(*request, response), response);
}

grpc::ServerUnaryReactor* FocalMetricsService::Report(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::ReportAck* response) {
  return Finish(context, runs_.Report(*request, response), response);
}

grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportAck>*
FocalMetricsService::StreamReports(grpc::CallbackServerContext* context) {
  return new ReportStream(&runs_);
}

grpc::ServerUnaryReactor* FocalMetricsService::GetMetrics(
    grpc::CallbackServerContext* context, const v1::GetMetricsRequest* request,
    v1::RunMetrics* response) {
  return Finish(context, runs_.GetMetrics(*request, response), response);
}

grpc::ServerUnaryReactor* FocalMetricsService::GetClassWeights(
    grpc::CallbackServerContext* context,
    const v1::GetClassWeightsRequest* request, v1::ClassWeights* response) {
  return Finish(context, runs_.GetClassWeights(*request, response), response);
}

grpc::ServerUnaryReactor* FocalMetricsService::GetPrecisionRecallCurve(
    grpc::CallbackServerContext* context,
    const v1::GetPrecisionRecallCurveRequest* request,
    v1::PrecisionRecallCurve* response) {
  return Finish(context, runs_.GetPrecisionRecallCurve(*request, response),
                response);
}

grpc::ServerUnaryReactor* FocalMetricsService::ListRuns(
    grpc::CallbackServerContext* context, const v1::ListRunsRequest* request,
    v1::ListRunsResponse* response) {
  return Finish(context, runs_.ListRuns(*request, response), response);
}

grpc::ServerUnaryReactor* FocalMetricsService::DeleteRun(
    grpc::CallbackServerContext* context, const v1::DeleteRunRequest* request,
    v1::DeleteRunResponse* response) {
  return Finish(context, runs_.DeleteRun(*request, response), response);
}

}  // namespace focalmetrics
