#include "server/focal_metrics_service.h"

#include "server/status_conversion.h"

namespace focalmetrics {
namespace {

// One StreamReports call: read, apply, ack, read again. Errors of a batch go
// into its ack and the stream stays open.
class ReportStream final
    : public grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportAck> {
 public:
  ReportStream(const RunsImpl* runs, ServerMetrics* metrics,
               const std::atomic<bool>* draining)
      : runs_(runs),
        metrics_(metrics),
        draining_(draining),
        start_(absl::Now()) {
    metrics_->StreamOpened();
    if (draining_->load()) {
      FinishDraining();
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // The client closed its side: every request has been acked.
      status_ = absl::OkStatus();
      Finish(grpc::Status::OK);
      return;
    }
    ack_.Clear();
    metrics_->AddReceivedBytes(request_.ByteSizeLong());
    runs_->ReportOnStream(request_, &ack_);
    if (ack_.has_error()) {
      metrics_->BatchRejected(
          absl::Status(static_cast<absl::StatusCode>(ack_.error().code()),
                       ack_.error().message()));
    }
    StartWrite(&ack_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      status_ = absl::UnavailableError("stream closed while acking");
      Finish(ToGrpcStatus(status_));
      return;
    }
    if (draining_->load()) {
      FinishDraining();
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override {
    metrics_->StreamClosed();
    metrics_->ObserveRpc("StreamReports", absl::Now() - start_, status_);
    delete this;
  }

 private:
  void FinishDraining() {
    status_ = absl::UnavailableError(
        "server is shutting down; reconnect and resend from durable_seq + 1");
    Finish(ToGrpcStatus(status_));
  }

  const RunsImpl* runs_;
  ServerMetrics* metrics_;
  const std::atomic<bool>* draining_;
  const absl::Time start_;
  // What the stream ended with; a cancelled stream never reaches Finish.
  absl::Status status_ = absl::CancelledError("stream cancelled");
  v1::ReportRequest request_;
  v1::ReportAck ack_;
};

}  // namespace

FocalMetricsService::FocalMetricsService(RunRegistry* registry,
                                         ServerMetrics* metrics)
    : compute_loss_(registry), runs_(registry), metrics_(metrics) {}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* FocalMetricsService::Finish(
    grpc::CallbackServerContext* context, absl::string_view method,
    absl::Time start, const Request& request, const absl::Status& status,
    Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!status.ok()) response->Clear();
  metrics_->AddReceivedBytes(request.ByteSizeLong());
  metrics_->ObserveRpc(method, absl::Now() - start, status);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* FocalMetricsService::ComputeLoss(
    grpc::CallbackServerContext* context, const v1::ComputeLossRequest* request,
    v1::ComputeLossResponse* response) {
  const absl::Time start = absl::Now();
  const absl::Status status = compute_loss_.Compute(*request, response);
  return Finish(context, "ComputeLoss", start, *request, status, response);
}

grpc::ServerUnaryReactor* FocalMetricsService::Report(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::ReportAck* response) {
  const absl::Time start = absl::Now();
  const absl::Status status = runs_.Report(*request, response);
  if (!status.ok()) metrics_->BatchRejected(status);
  return Finish(context, "Report", start, *request, status, response);
}

grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportAck>*
FocalMetricsService::StreamReports(grpc::CallbackServerContext* context) {
  return new ReportStream(&runs_, metrics_, &draining_);
}

grpc::ServerUnaryReactor* FocalMetricsService::GetMetrics(
    grpc::CallbackServerContext* context, const v1::GetMetricsRequest* request,
    v1::RunMetrics* response) {
  const absl::Time start = absl::Now();
  const absl::Status status = runs_.GetMetrics(*request, response);
  return Finish(context, "GetMetrics", start, *request, status, response);
}

grpc::ServerUnaryReactor* FocalMetricsService::GetClassWeights(
    grpc::CallbackServerContext* context,
    const v1::GetClassWeightsRequest* request, v1::ClassWeights* response) {
  const absl::Time start = absl::Now();
  const absl::Status status = runs_.GetClassWeights(*request, response);
  return Finish(context, "GetClassWeights", start, *request, status, response);
}

grpc::ServerUnaryReactor* FocalMetricsService::GetPrecisionRecallCurve(
    grpc::CallbackServerContext* context,
    const v1::GetPrecisionRecallCurveRequest* request,
    v1::PrecisionRecallCurve* response) {
  const absl::Time start = absl::Now();
  const absl::Status status = runs_.GetPrecisionRecallCurve(*request, response);
  return Finish(context, "GetPrecisionRecallCurve", start, *request, status,
                response);
}

grpc::ServerUnaryReactor* FocalMetricsService::ListRuns(
    grpc::CallbackServerContext* context, const v1::ListRunsRequest* request,
    v1::ListRunsResponse* response) {
  const absl::Time start = absl::Now();
  const absl::Status status = runs_.ListRuns(*request, response);
  return Finish(context, "ListRuns", start, *request, status, response);
}

grpc::ServerUnaryReactor* FocalMetricsService::DeleteRun(
    grpc::CallbackServerContext* context, const v1::DeleteRunRequest* request,
    v1::DeleteRunResponse* response) {
  const absl::Time start = absl::Now();
  const absl::Status status = runs_.DeleteRun(*request, response);
  return Finish(context, "DeleteRun", start, *request, status, response);
}

}  // namespace focalmetrics
