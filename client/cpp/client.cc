#include "client/cpp/client.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace focalmetrics {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tensors are sent little-endian, as the host stores them");

template <typename T>
v1::Tensor MakeTensor(absl::Span<const T> values,
                      absl::Span<const int64_t> shape, v1::DType dtype) {
  v1::Tensor tensor;
  for (const int64_t dimension : shape) tensor.add_shape(dimension);
  tensor.set_dtype(dtype);
  std::string* data = tensor.mutable_data();
  data->resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(data->data(), values.data(), data->size());
  return tensor;
}

// Sets the deadline `timeout` from now; none when it is infinite.
void SetTimeout(grpc::ClientContext& context, absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(timeout));
}

// Calls a unary RPC and returns its response or its status. A request that
// names a run sends it as kRunMetadataKey, for routers that shard by run.
template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Call(v1::FocalMetrics::Stub* stub, Method method,
                              std::unique_ptr<grpc::ClientContext> context,
                              const Request& request) {
  if constexpr (requires { request.run(); }) {
    if (!request.run().empty())
      context->AddMetadata(kRunMetadataKey, request.run());
  }
  Response response;
  const grpc::Status status =
      (stub->*method)(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

v1::Tensor Float32Tensor(absl::Span<const float> values,
                         absl::Span<const int64_t> shape) {
  return MakeTensor(values, shape, v1::DTYPE_FLOAT32);
}

v1::Tensor Int64Tensor(absl::Span<const int64_t> values,
                       absl::Span<const int64_t> shape) {
  return MakeTensor(values, shape, v1::DTYPE_INT64);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

ReportStream::ReportStream(std::unique_ptr<grpc::ClientContext> context,
                           v1::FocalMetrics::Stub* stub)
    : context_(std::move(context)),
      stream_(stub->StreamReports(context_.get())) {}

bool ReportStream::Write(const v1::ReportRequest& request) {
  return stream_->Write(request);
}

std::optional<v1::ReportAck> ReportStream::Read() {
  v1::ReportAck ack;
  if (!stream_->Read(&ack)) return std::nullopt;
  return ack;
}

void ReportStream::WritesDone() { stream_->WritesDone(); }

absl::Status ReportStream::Finish() {
  return FromGrpcStatus(stream_->Finish());
}

std::unique_ptr<Client> Client::Create(const std::string& target,
                                       ClientOptions options) {
  grpc::ChannelArguments arguments;
  const int max_bytes = static_cast<int>(
      std::clamp<int64_t>(int64_t{options.max_message_mb} * 1024 * 1024, 0,
                          std::numeric_limits<int>::max()));
  arguments.SetMaxSendMessageSize(max_bytes);
  arguments.SetMaxReceiveMessageSize(max_bytes);
  return std::make_unique<Client>(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                arguments),
      options);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(options), stub_(v1::FocalMetrics::NewStub(std::move(channel))) {}

std::unique_ptr<grpc::ClientContext> Client::UnaryContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  SetTimeout(*context, options_.timeout);
  return context;
}

absl::StatusOr<v1::ComputeLossResponse> Client::ComputeLoss(
    const v1::ComputeLossRequest& request) const {
  return Call<v1::ComputeLossResponse>(stub_.get(),
                                       &v1::FocalMetrics::Stub::ComputeLoss,
                                       UnaryContext(), request);
}

absl::StatusOr<v1::ReportAck> Client::Report(
    const v1::ReportRequest& request) const {
  return Call<v1::ReportAck>(stub_.get(), &v1::FocalMetrics::Stub::Report,
                             UnaryContext(), request);
}

absl::StatusOr<v1::RunMetrics> Client::GetMetrics(
    const v1::GetMetricsRequest& request) const {
  return Call<v1::RunMetrics>(stub_.get(), &v1::FocalMetrics::Stub::GetMetrics,
                              UnaryContext(), request);
}

absl::StatusOr<v1::ClassWeights> Client::GetClassWeights(
    const v1::GetClassWeightsRequest& request) const {
  return Call<v1::ClassWeights>(stub_.get(),
                                &v1::FocalMetrics::Stub::GetClassWeights,
                                UnaryContext(), request);
}

absl::StatusOr<v1::PrecisionRecallCurve> Client::GetPrecisionRecallCurve(
    const v1::GetPrecisionRecallCurveRequest& request) const {
  return Call<v1::PrecisionRecallCurve>(
      stub_.get(), &v1::FocalMetrics::Stub::GetPrecisionRecallCurve,
      UnaryContext(), request);
}

absl::StatusOr<v1::ListRunsResponse> Client::ListRuns(
    const v1::ListRunsRequest& request) const {
  return Call<v1::ListRunsResponse>(
      stub_.get(), &v1::FocalMetrics::Stub::ListRuns, UnaryContext(), request);
}

absl::StatusOr<v1::DeleteRunResponse> Client::DeleteRun(
    const v1::DeleteRunRequest& request) const {
  return Call<v1::DeleteRunResponse>(
      stub_.get(), &v1::FocalMetrics::Stub::DeleteRun, UnaryContext(), request);
}

std::unique_ptr<ReportStream> Client::OpenReportStream(
    const std::string& run, absl::Duration deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  SetTimeout(*context, deadline);
  context->AddMetadata(kRunMetadataKey, run);
  return std::make_unique<ReportStream>(std::move(context), stub_.get());
}

}  // namespace focalmetrics
