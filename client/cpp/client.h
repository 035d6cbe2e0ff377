// A typed C++ client of focalmetrics.v1.FocalMetrics: every unary RPC as a
// call returning absl::StatusOr (gRPC codes and messages kept as they are, so
// an error still names the offending field), tensors built from spans, and
// ReportStream for StreamReports. Every call that names a run sends it as
// kRunMetadataKey. The load generator is built on it.
//
//   auto client = focalmetrics::Client::Create("localhost:50051");
//   absl::StatusOr<v1::RunMetrics> metrics = client->GetMetrics(request);
#ifndef FOCALMETRICS_CLIENT_CPP_CLIENT_H_
#define FOCALMETRICS_CLIENT_CPP_CLIENT_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "focalmetrics/v1/focal_metrics.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace focalmetrics {

// The metadata key that carries a stream's run, for routers that pick a shard
// by run (docs/deploy.md); the Python client sends the same.
inline constexpr char kRunMetadataKey[] = "x-focalmetrics-run";

struct ClientOptions {
  // Deadline of each unary call; absl::InfiniteDuration() for none.
  absl::Duration timeout = absl::Seconds(30);
  // Largest message sent or received (Create only: a channel given to the
  // constructor keeps its own limits); the server's --max_message_mb bounds
  // what it accepts.
  int max_message_mb = 64;
};

// A float32 or int64 Tensor message of `shape` holding `values` (row-major,
// little-endian). REQUIRES: the product of `shape` is values.size().
v1::Tensor Float32Tensor(absl::Span<const float> values,
                         absl::Span<const int64_t> shape);
v1::Tensor Int64Tensor(absl::Span<const int64_t> values,
                       absl::Span<const int64_t> shape);

// The values of a Tensor message of element type T (e.g. double for the
// FLOAT64 per-element losses and gradients the server returns). REQUIRES: T
// matches the tensor's dtype.
template <typename T>
std::vector<T> TensorValues(const v1::Tensor& tensor) {
  std::vector<T> values(tensor.data().size() / sizeof(T));
  if (!values.empty()) {
    std::memcpy(values.data(), tensor.data().data(), values.size() * sizeof(T));
  }
  return values;
}

// The status a gRPC call ended with, as absl::Status (the codes are the same).
absl::Status FromGrpcStatus(const grpc::Status& status);

// One StreamReports call. One thread may Write while another Reads (gRPC's
// rule for a synchronous bidirectional stream); acks come in request order.
class ReportStream {
 public:
  ReportStream(std::unique_ptr<grpc::ClientContext> context,
               v1::FocalMetrics::Stub* stub);

  // False once the stream is broken; Finish then says why.
  bool Write(const v1::ReportRequest& request);
  // The next ack, or nullopt when the server ended the stream.
  std::optional<v1::ReportAck> Read();
  // Half-closes the stream (no more writes); acks still arrive.
  void WritesDone();
  // Ends the call: call after Read returned nullopt.
  absl::Status Finish();

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ReportRequest, v1::ReportAck>>
      stream_;
};

class Client {
 public:
  // A client of the server at `target` ("host:port"); the channel connects on
  // first use.
  static std::unique_ptr<Client> Create(const std::string& target,
                                        ClientOptions options = {});
  explicit Client(std::shared_ptr<grpc::Channel> channel,
                  ClientOptions options = {});

  absl::StatusOr<v1::ComputeLossResponse> ComputeLoss(
      const v1::ComputeLossRequest& request) const;
  absl::StatusOr<v1::ReportAck> Report(const v1::ReportRequest& request) const;
  absl::StatusOr<v1::RunMetrics> GetMetrics(
      const v1::GetMetricsRequest& request) const;
  absl::StatusOr<v1::ClassWeights> GetClassWeights(
      const v1::GetClassWeightsRequest& request) const;
  absl::StatusOr<v1::PrecisionRecallCurve> GetPrecisionRecallCurve(
      const v1::GetPrecisionRecallCurveRequest& request) const;
  absl::StatusOr<v1::ListRunsResponse> ListRuns(
      const v1::ListRunsRequest& request) const;
  absl::StatusOr<v1::DeleteRunResponse> DeleteRun(
      const v1::DeleteRunRequest& request) const;

  // Opens StreamReports for batches of `run` (sent as kRunMetadataKey). By
  // default no deadline: a stream lives as long as its reporter.
  std::unique_ptr<ReportStream> OpenReportStream(
      const std::string& run,
      absl::Duration deadline = absl::InfiniteDuration()) const;

 private:
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;

  ClientOptions options_;
  std::unique_ptr<v1::FocalMetrics::Stub> stub_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CLIENT_CPP_CLIENT_H_
