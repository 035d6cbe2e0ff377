// The ComputeLoss operation behind the RPC: reads the request, prepares the
// batch once, computes each requested loss with core, and fills the
// response. Tested without gRPC (TensorFlow Serving's *Impl pattern).
//
//   ComputeLossImpl impl;
//   absl::Status status = impl.Compute(request, &response);
#ifndef FOCALMETRICS_SERVER_COMPUTE_LOSS_IMPL_H_
#define FOCALMETRICS_SERVER_COMPUTE_LOSS_IMPL_H_

#include "absl/status/status.h"
#include "focalmetrics/v1/focal_metrics.pb.h"

namespace focalmetrics {

class ComputeLossImpl {
 public:
  // Thread-safe: holds no state. Errors are INVALID_ARGUMENT naming the field
  // (batch.*, losses[i].*); on error `response` is left empty. A named `run`
  // is NOT_FOUND until runs exist on this server (they supply class counts
  // for CLASS_BALANCED_FOCAL).
  absl::Status Compute(const v1::ComputeLossRequest& request,
                       v1::ComputeLossResponse* response) const;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_COMPUTE_LOSS_IMPL_H_
