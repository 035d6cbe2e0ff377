#include "core/losses/batch.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

// Owns the bytes of the tensors of one BatchView.
struct TestBatch {
  std::string scores, targets, box_preds, box_targets;
  BatchView view;

  TestBatch(Task task, std::vector<int64_t> scores_shape,
            const std::vector<double>& score_values,
            std::vector<int64_t> targets_shape,
            const std::vector<double>& target_values,
            DType target_dtype = DType::kFloat32) {
    scores = EncodeAs(score_values, DType::kFloat32);
    targets = EncodeAs(target_values, target_dtype);
    view.task = task;
    view.scores = {std::move(scores_shape), DType::kFloat32, scores};
    view.targets = {std::move(targets_shape), target_dtype, targets};
  }
};

std::string PrepareError(const BatchView& view) {
  absl::StatusOr<PreparedBatch> batch = PreparedBatch::Prepare(view);
  EXPECT_FALSE(batch.ok());
  if (batch.ok()) return "";
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(batch.status().message());
}

TEST(PreparedBatchTest, BinaryOfAnyShape) {
  TestBatch b(Task::kBinary, {2, 1, 2}, {0.5, -1, 2, 0}, {2, 1, 2},
              {1, 0, 0.3, 1});
  absl::StatusOr<PreparedBatch> batch = PreparedBatch::Prepare(b.view);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->num_rows(), 4);
  EXPECT_EQ(batch->num_classes(), 1);
  EXPECT_EQ(batch->logits().ToDoubles(), (std::vector<double>{0.5, -1, 2, 0}));
}

TEST(PreparedBatchTest, RejectsShapeMismatch) {
  TestBatch b(Task::kBinary, {4}, {0, 0, 0, 0}, {2, 2}, {0, 0, 0, 0});
  EXPECT_THAT(
      PrepareError(b.view),
      HasSubstr(
          "batch.targets.shape: expected [4] (same as scores), got [2, 2]"));
  TestBatch m(Task::kMulticlass, {4}, {0, 0, 0, 0}, {4}, {0, 0, 0, 0},
              DType::kInt64);
  EXPECT_THAT(
      PrepareError(m.view),
      HasSubstr("batch.scores.shape: expected [N, C] for this task, got [4]"));
  TestBatch l(Task::kMultilabel, {2, 2}, {0, 0, 0, 0}, {2}, {0, 0});
  EXPECT_THAT(PrepareError(l.view),
              HasSubstr("batch.targets.shape: expected [2, 2]"));
}

TEST(PreparedBatchTest, RejectsByteLengthMismatch) {
  TestBatch b(Task::kBinary, {3}, {0, 0, 0}, {3}, {0, 0, 0});
  b.view.scores.data = b.view.scores.data.substr(0, 8);
  EXPECT_THAT(PrepareError(b.view), HasSubstr("batch.scores.data: 8 bytes"));
}

TEST(PreparedBatchTest, RejectsNonFloatScores) {
  TestBatch b(Task::kBinary, {2}, {0, 0}, {2}, {0, 0});
  const std::string ints = EncodeAs({1, 2}, DType::kInt32);
  b.view.scores = {{2}, DType::kInt32, ints};
  EXPECT_THAT(PrepareError(b.view),
              HasSubstr("batch.scores.dtype: scores must be"));
}

TEST(PreparedBatchTest, RejectsNanAndInfinity) {
  TestBatch b(Task::kBinary, {3}, {0, NAN, 1}, {3}, {0, 1, 0});
  EXPECT_THAT(PrepareError(b.view),
              HasSubstr("batch.scores: element 1 is nan"));
  TestBatch t(Task::kBinary, {2}, {0, 1}, {2}, {INFINITY, 0});
  EXPECT_THAT(PrepareError(t.view),
              HasSubstr("batch.targets: element 0 is inf"));
}

TEST(PreparedBatchTest, RejectsTargetsOutOfRange) {
  TestBatch b(Task::kBinary, {2}, {0, 0}, {2}, {0, 1.5});
  EXPECT_THAT(
      PrepareError(b.view),
      HasSubstr("batch.targets: element 1 is 1.5; targets must lie in [0, 1]"));
  TestBatch m(Task::kMulticlass, {2, 3}, {0, 0, 0, 0, 0, 0}, {2}, {2, 3},
              DType::kInt64);
  EXPECT_THAT(PrepareError(m.view),
              HasSubstr("batch.targets: element 1 is 3, outside [0, 3)"));
  TestBatch d(Task::kDetection, {1, 2}, {0, 0}, {1}, {-3}, DType::kInt64);
  EXPECT_THAT(PrepareError(d.view),
              HasSubstr("element 0 is -3, outside [-2, 2)"));
}

TEST(PreparedBatchTest, IgnoreIndexIsExemptFromRangeCheck) {
  TestBatch m(Task::kMulticlass, {2, 3}, {0, 0, 0, 0, 0, 0}, {2}, {-100, 1},
              DType::kInt64);
  m.view.ignore_index = -100;
  EXPECT_TRUE(PreparedBatch::Prepare(m.view).ok());
  TestBatch b(Task::kBinary, {1}, {0}, {1}, {0});
  b.view.ignore_index = -100;
  EXPECT_THAT(PrepareError(b.view),
              HasSubstr("batch.ignore_index: only MULTICLASS batches"));
}

TEST(PreparedBatchTest, MulticlassTargetsMustBeIntegers) {
  TestBatch m(Task::kMulticlass, {1, 2}, {0, 0}, {1}, {1}, DType::kFloat32);
  EXPECT_THAT(
      PrepareError(m.view),
      HasSubstr("batch.targets.dtype: class ids must be an integer dtype"));
}

TEST(PreparedBatchTest, ProbabilitiesAreChecked) {
  TestBatch b(Task::kBinary, {2}, {0.5, 1.2}, {2}, {0, 1});
  b.view.input_kind = InputKind::kProbabilities;
  EXPECT_THAT(
      PrepareError(b.view),
      HasSubstr(
          "batch.scores: element 1 is 1.2; probabilities must lie in [0, 1]"));
  TestBatch m(Task::kMulticlass, {2, 2}, {0.5, 0.5, 0.9, 0.3}, {2}, {0, 1},
              DType::kInt64);
  m.view.input_kind = InputKind::kProbabilities;
  EXPECT_THAT(PrepareError(m.view),
              HasSubstr("row 1 of MULTICLASS probabilities sums to 1.2"));
}

TEST(PreparedBatchTest, ProbabilitiesBecomeClampedLogits) {
  TestBatch b(Task::kBinary, {3}, {0.5, 0.0, 1.0}, {3}, {0, 1, 1});
  b.view.input_kind = InputKind::kProbabilities;
  absl::StatusOr<PreparedBatch> batch = PreparedBatch::Prepare(b.view);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->logits().ToDoubles(),
            (std::vector<double>{0.0, -100.0, 100.0}));
}

TEST(PreparedBatchTest, DetectionBoxesMustMatchAnchors) {
  TestBatch d(Task::kDetection, {2, 2}, {0, 0, 0, 0}, {2}, {0, -1},
              DType::kInt64);
  const std::string boxes = EncodeAs({0, 0, 1, 1}, DType::kFloat32);
  d.view.box_preds = TensorView{{1, 4}, DType::kFloat32, boxes};
  d.view.box_targets = TensorView{{1, 4}, DType::kFloat32, boxes};
  EXPECT_THAT(
      PrepareError(d.view),
      HasSubstr("batch.box_preds.shape: expected [2, 4] (one box per anchor)"));
  TestBatch b(Task::kBinary, {1}, {0}, {1}, {0});
  b.view.box_preds = TensorView{{1, 4}, DType::kFloat32, boxes};
  EXPECT_THAT(PrepareError(b.view),
              HasSubstr("only DETECTION batches carry boxes"));
}

}  // namespace
}  // namespace focalmetrics
