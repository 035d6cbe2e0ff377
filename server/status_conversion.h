// Converts core's absl::Status into the gRPC status a handler returns, and
// into the in-message error of a stream ack. The canonical codes map one to
// one; the message is kept as it is, since it names the offending field.
#ifndef FOCALMETRICS_SERVER_STATUS_CONVERSION_H_
#define FOCALMETRICS_SERVER_STATUS_CONVERSION_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace focalmetrics {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_STATUS_CONVERSION_H_
