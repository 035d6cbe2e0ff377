#include "server/focal_metrics_service.h"

#include <memory>

#include "core/tensor/tensor.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

// The service over real gRPC on loopback, in process.
class FocalMetricsServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = v1::FocalMetrics::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  RunRegistry registry_{{}};
  ServerMetrics metrics_;
  FocalMetricsService service_{&registry_, &metrics_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::FocalMetrics::Stub> stub_;
};

v1::ComputeLossRequest Request(double target) {
  v1::ComputeLossRequest request;
  v1::Batch* batch = request.mutable_batch();
  batch->set_task(v1::TASK_BINARY);
  batch->mutable_scores()->add_shape(1);
  batch->mutable_scores()->set_dtype(v1::DTYPE_FLOAT64);
  batch->mutable_scores()->set_data(EncodeAs({0.0}, DType::kFloat64));
  batch->mutable_targets()->add_shape(1);
  batch->mutable_targets()->set_dtype(v1::DTYPE_FLOAT64);
  batch->mutable_targets()->set_data(EncodeAs({target}, DType::kFloat64));
  request.add_losses()->set_kind(v1::LOSS_KIND_CROSS_ENTROPY);
  return request;
}

TEST_F(FocalMetricsServiceTest, ComputeLossAnswersOverGrpc) {
  grpc::ClientContext context;
  v1::ComputeLossResponse response;
  const grpc::Status status =
      stub_->ComputeLoss(&context, Request(1.0), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_NEAR(response.results(0).value(), std::log(2.0), 1e-15);
}

TEST_F(FocalMetricsServiceTest, ErrorsCarryCodeAndFieldAndAnEmptyResponse) {
  grpc::ClientContext context;
  v1::ComputeLossResponse response;
  const grpc::Status status =
      stub_->ComputeLoss(&context, Request(3.0), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("batch.targets: element 0 is 3"),
            std::string::npos);
  EXPECT_EQ(response.results_size(), 0);
}

TEST_F(FocalMetricsServiceTest, StreamAcksEveryBatchAndKeepsGoingAfterAnError) {
  grpc::ClientContext context;
  auto stream = stub_->StreamReports(&context);
  v1::ReportRequest request;
  request.set_run("r");
  request.set_worker("w");
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    request.set_seq(seq);
    *request.mutable_batch() = Request(seq == 2 ? 3.0 : 1.0).batch();
    ASSERT_TRUE(stream->Write(request));
    v1::ReportAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.seq(), seq);
    if (seq == 2) {
      EXPECT_EQ(ack.error().code(),
                static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_NE(ack.error().message().find("batch.targets"), std::string::npos);
    } else {
      EXPECT_FALSE(ack.has_error());
    }
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  grpc::ClientContext metrics_context;
  v1::GetMetricsRequest metrics_request;
  metrics_request.set_run("r");
  v1::RunMetrics metrics;
  ASSERT_TRUE(
      stub_->GetMetrics(&metrics_context, metrics_request, &metrics).ok());
  EXPECT_EQ(metrics.batches(), 2);
  EXPECT_EQ(metrics.samples(), 2);
}

}  // namespace
}  // namespace focalmetrics
