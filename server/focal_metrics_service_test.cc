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

  FocalMetricsService service_;
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

TEST_F(FocalMetricsServiceTest, LaterRpcsAreUnimplemented) {
  grpc::ClientContext context;
  v1::RunMetrics metrics;
  v1::GetMetricsRequest request;
  request.set_run("r");
  EXPECT_EQ(stub_->GetMetrics(&context, request, &metrics).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace focalmetrics
