#include "server/runs_impl.h"

#include "core/tensor/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

v1::ReportRequest BinaryReport(uint64_t seq, std::vector<double> x,
                               std::vector<double> t) {
  v1::ReportRequest request;
  request.set_run("run-1");
  request.set_worker("w0");
  request.set_seq(seq);
  request.set_step(static_cast<int64_t>(seq) * 10);
  v1::Batch* batch = request.mutable_batch();
  batch->set_task(v1::TASK_BINARY);
  batch->mutable_scores()->add_shape(static_cast<int64_t>(x.size()));
  batch->mutable_scores()->set_dtype(v1::DTYPE_FLOAT64);
  batch->mutable_scores()->set_data(EncodeAs(x, DType::kFloat64));
  batch->mutable_targets()->add_shape(static_cast<int64_t>(t.size()));
  batch->mutable_targets()->set_dtype(v1::DTYPE_UINT8);
  batch->mutable_targets()->set_data(EncodeAs(t, DType::kUInt8));
  request.add_losses()->set_kind(v1::LOSS_KIND_FOCAL);
  return request;
}

class RunsImplTest : public testing::Test {
 protected:
  RunRegistry registry_{{.max_runs = 3}};
  RunsImpl runs_{&registry_};
};

TEST_F(RunsImplTest, ReportThenReadEverything) {
  v1::ReportAck ack;
  ASSERT_TRUE(
      runs_.Report(BinaryReport(1, {2, -1, 0.5}, {1, 0, 0}), &ack).ok());
  EXPECT_EQ(ack.seq(), 1u);
  EXPECT_FALSE(ack.duplicate());
  EXPECT_EQ(ack.durable_seq(), 0u);
  ASSERT_EQ(ack.losses_size(), 1);
  EXPECT_EQ(ack.losses(0).name(), "focal");

  v1::ReportAck again;
  ASSERT_TRUE(
      runs_.Report(BinaryReport(1, {2, -1, 0.5}, {1, 0, 0}), &again).ok());
  EXPECT_TRUE(again.duplicate());

  v1::GetMetricsRequest metrics_request;
  metrics_request.set_run("run-1");
  v1::RunMetrics metrics;
  ASSERT_TRUE(runs_.GetMetrics(metrics_request, &metrics).ok());
  EXPECT_EQ(metrics.split(), "train");
  EXPECT_EQ(metrics.samples(), 3);
  EXPECT_EQ(metrics.step(), 10);
  EXPECT_DOUBLE_EQ(metrics.average_precision().macro(), 1.0);
  EXPECT_TRUE(metrics.average_precision().exact());
  EXPECT_EQ(metrics.losses(0).kind(), v1::LOSS_KIND_FOCAL);
  EXPECT_FALSE(metrics.recommendation().reason().empty());

  v1::GetClassWeightsRequest weights_request;
  weights_request.set_run("run-1");
  weights_request.set_scheme(v1::WEIGHT_SCHEME_INVERSE_FREQUENCY);
  v1::ClassWeights weights;
  ASSERT_TRUE(runs_.GetClassWeights(weights_request, &weights).ok());
  EXPECT_THAT(weights.samples_per_class(), testing::ElementsAre(1, 2));
  EXPECT_NEAR(weights.weights(0), 2 * weights.weights(1), 1e-12);

  v1::GetPrecisionRecallCurveRequest curve_request;
  curve_request.set_run("run-1");
  v1::PrecisionRecallCurve curve;
  ASSERT_TRUE(runs_.GetPrecisionRecallCurve(curve_request, &curve).ok());
  EXPECT_EQ(curve.recall(curve.recall_size() - 1), 1.0);

  v1::ListRunsResponse list;
  ASSERT_TRUE(runs_.ListRuns({}, &list).ok());
  ASSERT_EQ(list.runs_size(), 1);
  EXPECT_EQ(list.runs(0).task(), v1::TASK_BINARY);
  EXPECT_EQ(list.runs(0).samples(), 3);

  v1::DeleteRunRequest delete_request;
  delete_request.set_run("run-1");
  v1::DeleteRunResponse deleted;
  ASSERT_TRUE(runs_.DeleteRun(delete_request, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 1);
  EXPECT_EQ(runs_.GetMetrics(metrics_request, &metrics).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RunsImplTest, ErrorsNameTheFieldAndStreamsCarryThemInTheAck) {
  v1::ReportAck ack;
  v1::ReportRequest bad = BinaryReport(1, {1.0}, {1});
  bad.set_run("");
  EXPECT_THAT(runs_.Report(bad, &ack).message(), HasSubstr("run: empty"));
  bad = BinaryReport(1, {1.0}, {1});
  bad.clear_batch();
  EXPECT_THAT(runs_.Report(bad, &ack).message(), HasSubstr("batch: missing"));
  bad = BinaryReport(1, {1.0}, {3});
  runs_.ReportOnStream(bad, &ack);
  EXPECT_EQ(ack.seq(), 1u);
  EXPECT_EQ(ack.error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ack.error().message(), HasSubstr("batch.targets"));
  // Nothing was applied.
  EXPECT_TRUE(registry_.List().empty());
}

TEST_F(RunsImplTest, LimitsAreResourceExhausted) {
  v1::ReportAck ack;
  for (int i = 0; i < 3; ++i) {
    v1::ReportRequest request = BinaryReport(1, {1.0}, {1});
    request.set_run("run-" + std::to_string(i));
    ASSERT_TRUE(runs_.Report(request, &ack).ok());
  }
  v1::ReportRequest request = BinaryReport(1, {1.0}, {1});
  request.set_run("one-too-many");
  EXPECT_EQ(runs_.Report(request, &ack).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(RunsImplTest, CurvePointsAreBounded) {
  v1::GetPrecisionRecallCurveRequest request;
  request.set_run("run-1");
  request.set_max_points(1);
  v1::PrecisionRecallCurve curve;
  EXPECT_THAT(runs_.GetPrecisionRecallCurve(request, &curve).message(),
              HasSubstr("max_points: 1 is outside [2, 10000]"));
}

TEST_F(RunsImplTest, UnknownWeightSchemeIsAnError) {
  v1::GetClassWeightsRequest request;
  request.set_run("run-1");
  request.set_scheme(static_cast<v1::WeightScheme>(9));
  v1::ClassWeights weights;
  EXPECT_THAT(runs_.GetClassWeights(request, &weights).message(),
              HasSubstr("scheme: unknown value 9"));
}

}  // namespace
}  // namespace focalmetrics
