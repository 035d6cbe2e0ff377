#include "server/compute_loss_impl.h"

#include <cmath>

#include "core/tensor/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

const RunRegistry kNoRuns({});

v1::ComputeLossRequest BinaryRequest() {
  v1::ComputeLossRequest request;
  v1::Batch* batch = request.mutable_batch();
  batch->set_task(v1::TASK_BINARY);
  batch->mutable_scores()->add_shape(2);
  batch->mutable_scores()->set_dtype(v1::DTYPE_FLOAT64);
  batch->mutable_scores()->set_data(EncodeAs({2.0, -1.0}, DType::kFloat64));
  batch->mutable_targets()->add_shape(2);
  batch->mutable_targets()->set_dtype(v1::DTYPE_FLOAT32);
  batch->mutable_targets()->set_data(EncodeAs({1.0, 1.0}, DType::kFloat32));
  request.add_losses()->set_kind(v1::LOSS_KIND_CROSS_ENTROPY);
  return request;
}

double Softplus(double x) { return std::log1p(std::exp(x)); }

TEST(ComputeLossImplTest, ComputesEveryRequestedLossInOrder) {
  v1::ComputeLossRequest request = BinaryRequest();
  v1::LossSpec* focal = request.add_losses();
  focal->set_kind(v1::LOSS_KIND_FOCAL);
  focal->set_name("my_focal");
  focal->set_alpha(-1.0f);
  focal->set_gamma(0.0f);
  request.set_return_gradients(true);
  v1::ComputeLossResponse response;
  ASSERT_TRUE(ComputeLossImpl(&kNoRuns).Compute(request, &response).ok());
  ASSERT_EQ(response.results_size(), 2);
  // BCE with logits for targets 1: softplus(-x), mean over 2 elements.
  const double expected = (Softplus(-2.0) + Softplus(1.0)) / 2;
  EXPECT_EQ(response.results(0).name(), "cross_entropy");
  EXPECT_NEAR(response.results(0).value(), expected, 1e-15);
  // Focal with gamma 0 and no alpha is the same loss under another name.
  EXPECT_EQ(response.results(1).name(), "my_focal");
  EXPECT_NEAR(response.results(1).value(), expected, 1e-15);
  EXPECT_EQ(response.results(1).gradient().shape(0), 2);
}

TEST(ComputeLossImplTest, RejectsMissingBatchAndEmptyLosses) {
  v1::ComputeLossRequest request = BinaryRequest();
  request.clear_batch();
  v1::ComputeLossResponse response;
  EXPECT_THAT(ComputeLossImpl(&kNoRuns).Compute(request, &response).message(),
              HasSubstr("batch: missing"));
  request = BinaryRequest();
  request.clear_losses();
  EXPECT_THAT(ComputeLossImpl(&kNoRuns).Compute(request, &response).message(),
              HasSubstr("losses: empty"));
}

TEST(ComputeLossImplTest, RejectsDuplicateNames) {
  v1::ComputeLossRequest request = BinaryRequest();
  request.add_losses()->set_kind(v1::LOSS_KIND_CROSS_ENTROPY);
  v1::ComputeLossResponse response;
  EXPECT_THAT(
      ComputeLossImpl(&kNoRuns).Compute(request, &response).message(),
      HasSubstr(
          "losses[1].name: 'cross_entropy' is already the name of losses[0]"));
}

TEST(ComputeLossImplTest, AnErrorInALaterLossLeavesTheResponseEmpty) {
  v1::ComputeLossRequest request = BinaryRequest();
  request.add_losses()->set_kind(v1::LOSS_KIND_RETINANET);
  v1::ComputeLossResponse response;
  const absl::Status status =
      ComputeLossImpl(&kNoRuns).Compute(request, &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("losses[1].kind"));
  EXPECT_EQ(response.results_size(), 0);
}

TEST(ComputeLossImplTest, UnknownRunIsNotFound) {
  v1::ComputeLossRequest request = BinaryRequest();
  request.set_run("resnet-7");
  v1::ComputeLossResponse response;
  const absl::Status status =
      ComputeLossImpl(&kNoRuns).Compute(request, &response);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              HasSubstr("run: no run 'resnet-7' with split 'train'"));
}

}  // namespace
}  // namespace focalmetrics
