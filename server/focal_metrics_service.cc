#include "server/focal_metrics_service.h"

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "server/status_conversion.h"

namespace focalmetrics {
namespace {
class ReportStream;
}  // namespace

// The StreamReports calls open now, so draining can end the idle ones.
class OpenStreams {
 public:
  void Add(ReportStream* stream) {
    absl::MutexLock lock(&mu_);
    streams_.insert(stream);
  }
  void Remove(ReportStream* stream) {
    absl::MutexLock lock(&mu_);
    streams_.erase(stream);
  }
  bool draining() const { return draining_.load(); }
  // Holds mu_ throughout, so no stream is deleted while it is drained
  // (OnDone's Remove waits).
  void DrainAll();

 private:
  std::atomic<bool> draining_{false};
  absl::Mutex mu_;
  absl::flat_hash_set<ReportStream*> streams_ ABSL_GUARDED_BY(mu_);
};

namespace {

// One StreamReports call: read, apply, ack, read again. Errors of a batch go
// into its ack and the stream stays open. Draining ends it with UNAVAILABLE:
// at once when it waits for the client's next message, after its current ack
// otherwise.
class ReportStream final
    : public grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportAck> {
 public:
  ReportStream(const RunsImpl* runs, ServerMetrics* metrics, OpenStreams* open)
      : runs_(runs), metrics_(metrics), open_(open), start_(absl::Now()) {
    metrics_->StreamOpened();
    open_->Add(this);
    Continue();
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (finished_) return;  // Drained while the read was outstanding.
    }
    if (!ok) {  // The client closed its side: every request has been acked.
      FinishOnce(absl::OkStatus());
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
      FinishOnce(absl::UnavailableError("stream closed while acking"));
      return;
    }
    Continue();
  }

  // Ends the stream now if it waits for a message; otherwise Continue()
  // ends it after the current ack.
  void Drain() {
    {
      absl::MutexLock lock(&mu_);
      if (!reading_ || finished_) return;
    }
    FinishOnce(DrainingStatus());
  }

  void OnDone() override {
    metrics_->StreamClosed();
    metrics_->ObserveRpc("StreamReports", absl::Now() - start_, status_);
    open_->Remove(this);  // Waits for a Drain() in progress on this stream.
    delete this;
  }

 private:
  static absl::Status DrainingStatus() {
    return absl::UnavailableError(
        "server is shutting down; reconnect and resend from durable_seq + 1");
  }

  // Reads the next message, unless the server is draining.
  void Continue() {
    if (open_->draining()) {
      FinishOnce(DrainingStatus());
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      reading_ = true;
    }
    StartRead(&request_);
  }

  // Finish exactly once, whoever gets there first (a reaction or Drain()).
  void FinishOnce(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      status_ = status;
    }
    Finish(ToGrpcStatus(status));
  }

  const RunsImpl* runs_;
  ServerMetrics* metrics_;
  OpenStreams* open_;
  const absl::Time start_;
  v1::ReportRequest request_;
  v1::ReportAck ack_;
  absl::Mutex mu_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // What the stream ended with; a cancelled stream never reaches Finish.
  absl::Status status_ = absl::CancelledError("stream cancelled");
};

}  // namespace

void OpenStreams::DrainAll() {
  draining_.store(true);
  absl::MutexLock lock(&mu_);
  for (ReportStream* stream : streams_) stream->Drain();
}

FocalMetricsService::FocalMetricsService(RunRegistry* registry,
                                         ServerMetrics* metrics)
    : compute_loss_(registry),
      runs_(registry),
      metrics_(metrics),
      open_streams_(std::make_unique<OpenStreams>()) {}

FocalMetricsService::~FocalMetricsService() = default;

void FocalMetricsService::StartDraining() { open_streams_->DrainAll(); }

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
  return new ReportStream(&runs_, metrics_, open_streams_.get());
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
