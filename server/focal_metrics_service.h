// The gRPC face of focalmetrics.v1.FocalMetrics on the callback API. Each
// handler reads its request, calls one core-backed operation, converts the
// status once and finishes; RPCs that later work implements answer
// UNIMPLEMENTED through the generated base class.
#ifndef FOCALMETRICS_SERVER_FOCAL_METRICS_SERVICE_H_
#define FOCALMETRICS_SERVER_FOCAL_METRICS_SERVICE_H_

#include "focalmetrics/v1/focal_metrics.grpc.pb.h"
#include "server/compute_loss_impl.h"

namespace focalmetrics {

class FocalMetricsService final : public v1::FocalMetrics::CallbackService {
 public:
  grpc::ServerUnaryReactor* ComputeLoss(
      grpc::CallbackServerContext* context,
      const v1::ComputeLossRequest* request,
      v1::ComputeLossResponse* response) override;

 private:
  ComputeLossImpl compute_loss_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_FOCAL_METRICS_SERVICE_H_
