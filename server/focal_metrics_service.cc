#include "server/focal_metrics_service.h"

#include "server/status_conversion.h"

namespace focalmetrics {

grpc::ServerUnaryReactor* FocalMetricsService::ComputeLoss(
    grpc::CallbackServerContext* context, const v1::ComputeLossRequest* request,
    v1::ComputeLossResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Status status = compute_loss_.Compute(*request, response);
  if (!status.ok()) response->Clear();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace focalmetrics
