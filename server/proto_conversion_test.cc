#include "server/proto_conversion.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

v1::Batch BinaryBatch() {
  v1::Batch batch;
  batch.set_task(v1::TASK_BINARY);
  batch.mutable_scores()->add_shape(2);
  batch.mutable_scores()->set_dtype(v1::DTYPE_FLOAT32);
  batch.mutable_scores()->set_data(EncodeAs({0.5, -1}, DType::kFloat32));
  batch.mutable_targets()->add_shape(2);
  batch.mutable_targets()->set_dtype(v1::DTYPE_UINT8);
  batch.mutable_targets()->set_data(EncodeAs({1, 0}, DType::kUInt8));
  return batch;
}

TEST(BatchFromProtoTest, ReadsAValidBatch) {
  const v1::Batch proto = BinaryBatch();
  absl::StatusOr<BatchView> view = BatchFromProto(proto);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->task, Task::kBinary);
  EXPECT_EQ(view->input_kind, InputKind::kLogits);
  EXPECT_EQ(view->scores.shape, std::vector<int64_t>{2});
  EXPECT_EQ(view->targets.dtype, DType::kUInt8);
  EXPECT_FALSE(view->ignore_index.has_value());
}

TEST(BatchFromProtoTest, UnsetAndUnknownEnumsNameTheField) {
  v1::Batch proto = BinaryBatch();
  proto.set_task(v1::TASK_UNSPECIFIED);
  EXPECT_THAT(
      BatchFromProto(proto).status().message(),
      HasSubstr(
          "batch.task: TASK_UNSPECIFIED (unset); set one of TASK_BINARY"));
  proto.set_task(static_cast<v1::Task>(42));
  EXPECT_THAT(BatchFromProto(proto).status().message(),
              HasSubstr("batch.task: unknown value 42"));
  proto = BinaryBatch();
  proto.mutable_scores()->set_dtype(static_cast<v1::DType>(99));
  EXPECT_THAT(BatchFromProto(proto).status().message(),
              HasSubstr("batch.scores.dtype: unknown value 99"));
  proto = BinaryBatch();
  proto.mutable_targets()->set_dtype(v1::DTYPE_UNSPECIFIED);
  EXPECT_THAT(BatchFromProto(proto).status().message(),
              HasSubstr("batch.targets.dtype: DTYPE_UNSPECIFIED (unset)"));
  proto = BinaryBatch();
  proto.set_input_kind(static_cast<v1::InputKind>(7));
  EXPECT_THAT(BatchFromProto(proto).status().message(),
              HasSubstr("batch.input_kind: unknown value 7"));
}

TEST(BatchFromProtoTest, MissingTensorsNameTheField) {
  v1::Batch proto = BinaryBatch();
  proto.clear_scores();
  EXPECT_THAT(BatchFromProto(proto).status().message(),
              HasSubstr("batch.scores: missing"));
  proto = BinaryBatch();
  proto.clear_targets();
  EXPECT_THAT(BatchFromProto(proto).status().message(),
              HasSubstr("batch.targets: missing"));
  proto = BinaryBatch();
  *proto.mutable_box_preds() = proto.scores();
  EXPECT_THAT(BatchFromProto(proto).status().message(),
              HasSubstr("batch.box_targets: missing"));
}

TEST(LossSpecFromProtoTest, OptionalParametersStayUnsetWhenAbsent) {
  v1::LossSpec proto;
  proto.set_kind(v1::LOSS_KIND_FOCAL);
  proto.set_gamma(0.0f);  // Set to zero is not the same as unset.
  absl::StatusOr<LossSpec> spec = LossSpecFromProto(proto, "losses[0]");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->kind, LossKind::kFocal);
  EXPECT_EQ(spec->reduction, Reduction::kMean);
  EXPECT_EQ(spec->gamma, 0.0);
  EXPECT_FALSE(spec->alpha.has_value());
}

TEST(LossSpecFromProtoTest, UnsetKindAndUnknownReductionAreErrors) {
  v1::LossSpec proto;
  EXPECT_THAT(LossSpecFromProto(proto, "losses[1]").status().message(),
              HasSubstr("losses[1].kind: LOSS_KIND_UNSPECIFIED (unset)"));
  proto.set_kind(v1::LOSS_KIND_OHEM);
  proto.set_reduction(static_cast<v1::Reduction>(9));
  EXPECT_THAT(LossSpecFromProto(proto, "losses[1]").status().message(),
              HasSubstr("losses[1].reduction: unknown value 9"));
}

TEST(LossResultToProtoTest, WritesValuesAndGradientAsFloat64) {
  LossOutput output{.value = 3.0,
                    .values = {1.0, 2.0},
                    .values_shape = {2},
                    .gradient = {0.5, -0.5}};
  v1::LossResult result;
  LossResultToProto(
      {.kind = LossKind::kClassBalancedFocal, .reduction = Reduction::kNone},
      output, {2}, true, &result);
  EXPECT_EQ(result.name(), "class_balanced_focal");
  EXPECT_EQ(result.kind(), v1::LOSS_KIND_CLASS_BALANCED_FOCAL);
  EXPECT_EQ(result.value(), 3.0);
  EXPECT_EQ(result.values().dtype(), v1::DTYPE_FLOAT64);
  EXPECT_EQ(result.values().data(), EncodeAs({1.0, 2.0}, DType::kFloat64));
  EXPECT_EQ(result.gradient().data(), EncodeAs({0.5, -0.5}, DType::kFloat64));
  EXPECT_EQ(result.gradient().shape_size(), 1);
}

}  // namespace
}  // namespace focalmetrics
