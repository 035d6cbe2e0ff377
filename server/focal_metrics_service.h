// The gRPC face of focalmetrics.v1.FocalMetrics on the callback API. Each
// handler reads its request, calls one core-backed operation (ComputeLossImpl,
// RunsImpl), converts the status once and finishes. StreamReports reads one
// message, answers it, and only then reads the next: a slow run slows its
// own stream and nothing else.
#ifndef FOCALMETRICS_SERVER_FOCAL_METRICS_SERVICE_H_
#define FOCALMETRICS_SERVER_FOCAL_METRICS_SERVICE_H_

#include <memory>

#include "core/run/run_registry.h"
#include "focalmetrics/v1/focal_metrics.grpc.pb.h"
#include "server/compute_loss_impl.h"
#include "server/runs_impl.h"
#include "server/server_metrics.h"

namespace focalmetrics {

class OpenStreams;

class FocalMetricsService final : public v1::FocalMetrics::CallbackService {
 public:
  // `registry` and `metrics` must outlive the service.
  FocalMetricsService(RunRegistry* registry, ServerMetrics* metrics);
  ~FocalMetricsService() override;

  grpc::ServerUnaryReactor* ComputeLoss(
      grpc::CallbackServerContext* context,
      const v1::ComputeLossRequest* request,
      v1::ComputeLossResponse* response) override;
  grpc::ServerUnaryReactor* Report(grpc::CallbackServerContext* context,
                                   const v1::ReportRequest* request,
                                   v1::ReportAck* response) override;
  grpc::ServerBidiReactor<v1::ReportRequest, v1::ReportAck>* StreamReports(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* context,
                                       const v1::GetMetricsRequest* request,
                                       v1::RunMetrics* response) override;
  grpc::ServerUnaryReactor* GetClassWeights(
      grpc::CallbackServerContext* context,
      const v1::GetClassWeightsRequest* request,
      v1::ClassWeights* response) override;
  grpc::ServerUnaryReactor* GetPrecisionRecallCurve(
      grpc::CallbackServerContext* context,
      const v1::GetPrecisionRecallCurveRequest* request,
      v1::PrecisionRecallCurve* response) override;
  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* context,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) override;
  // From now on new StreamReports calls are UNAVAILABLE, open ones waiting
  // for the client's next message end with UNAVAILABLE at once and the
  // others after their current ack (the graceful-shutdown path): clients
  // reconnect and resend from durable_seq + 1.
  void StartDraining();

  grpc::ServerUnaryReactor* DeleteRun(grpc::CallbackServerContext* context,
                                      const v1::DeleteRunRequest* request,
                                      v1::DeleteRunResponse* response) override;

 private:
  // Finishes a unary call: records its latency, bytes and status, and
  // returns an empty message on error.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                   absl::string_view method, absl::Time start,
                                   const Request& request,
                                   const absl::Status& status,
                                   Response* response);

  ComputeLossImpl compute_loss_;
  RunsImpl runs_;
  ServerMetrics* metrics_;
  std::unique_ptr<OpenStreams> open_streams_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_FOCAL_METRICS_SERVICE_H_
