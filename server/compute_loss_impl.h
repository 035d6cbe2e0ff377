// The ComputeLoss operation behind the RPC: reads the request, prepares the
// batch once, computes each requested loss with core, and fills the
// response. Tested without gRPC (TensorFlow Serving's *Impl pattern).
//
//   ComputeLossImpl impl(&registry);
//   absl::Status status = impl.Compute(request, &response);
#ifndef FOCALMETRICS_SERVER_COMPUTE_LOSS_IMPL_H_
#define FOCALMETRICS_SERVER_COMPUTE_LOSS_IMPL_H_

#include "absl/status/status.h"
#include "core/run/run_registry.h"
#include "focalmetrics/v1/focal_metrics.pb.h"

namespace focalmetrics {

class ComputeLossImpl {
 public:
  // `registry` (which must outlive this) supplies the class counts of a
  // named run to CLASS_BALANCED_FOCAL losses that give none.
  explicit ComputeLossImpl(const RunRegistry* registry) : registry_(registry) {}

  // Thread-safe. Errors are INVALID_ARGUMENT naming the field (batch.*,
  // losses[i].*), NOT_FOUND for an unknown run; on error `response` is left
  // empty.
  absl::Status Compute(const v1::ComputeLossRequest& request,
                       v1::ComputeLossResponse* response) const;

 private:
  const RunRegistry* registry_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_COMPUTE_LOSS_IMPL_H_
