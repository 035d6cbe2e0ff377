#include "core/losses/loss.h"

#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

// A FLOAT64 batch whose bytes the test owns.
struct OwnedBatch {
  Task task;
  std::vector<int64_t> shape;
  std::vector<double> scores;
  std::vector<double> targets;
  DType target_dtype = DType::kFloat64;
  std::vector<double> boxes;  // DETECTION: preds then targets, [A, 4] each.

  absl::StatusOr<PreparedBatch> Prepare() {
    score_bytes_ = EncodeAs(scores, DType::kFloat64);
    target_bytes_ = EncodeAs(targets, target_dtype);
    BatchView view{
        .task = task,
        .scores = {shape, DType::kFloat64, score_bytes_},
        .targets = {task == Task::kBinary || task == Task::kMultilabel
                        ? shape
                        : std::vector<int64_t>{shape[0]},
                    target_dtype, target_bytes_}};
    if (!boxes.empty()) {
      const size_t half = boxes.size() / 2;
      pred_bytes_ = EncodeAs(absl::MakeConstSpan(boxes).subspan(0, half),
                             DType::kFloat64);
      box_target_bytes_ =
          EncodeAs(absl::MakeConstSpan(boxes).subspan(half), DType::kFloat64);
      view.box_preds = TensorView{{shape[0], 4}, DType::kFloat64, pred_bytes_};
      view.box_targets =
          TensorView{{shape[0], 4}, DType::kFloat64, box_target_bytes_};
    }
    return PreparedBatch::Prepare(view);
  }

  std::string score_bytes_, target_bytes_, pred_bytes_, box_target_bytes_;
};

OwnedBatch RandomBatch(Task task, int64_t rows, int64_t classes,
                       uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> logit(0.0, 2.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  OwnedBatch b;
  b.task = task;
  b.shape = {rows, classes};
  b.scores.resize(rows * classes);
  for (double& x : b.scores) x = logit(rng);
  switch (task) {
    case Task::kBinary:
    case Task::kMultilabel:
      b.targets.resize(rows * classes);
      for (double& t : b.targets) t = unit(rng) < 0.3 ? 1.0 : unit(rng) * 0.2;
      break;
    case Task::kMulticlass:
      b.target_dtype = DType::kInt64;
      for (int64_t r = 0; r < rows; ++r) b.targets.push_back(rng() % classes);
      break;
    case Task::kDetection:
      b.target_dtype = DType::kInt64;
      for (int64_t r = 0; r < rows; ++r) {
        b.targets.push_back(static_cast<double>(
            static_cast<int64_t>(rng() % (classes + 2)) - 2));
      }
      b.boxes.resize(rows * 8);
      for (double& v : b.boxes) v = logit(rng);
      break;
  }
  return b;
}

std::string LossError(OwnedBatch batch, const LossSpec& spec) {
  absl::StatusOr<PreparedBatch> prepared = batch.Prepare();
  EXPECT_TRUE(prepared.ok()) << prepared.status();
  absl::StatusOr<LossOutput> out =
      ComputeLoss(*prepared, spec, false, "losses[3]");
  EXPECT_FALSE(out.ok());
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

TEST(ComputeLossTest, RejectsKindsThatDoNotApplyToTheTask) {
  EXPECT_THAT(
      LossError(RandomBatch(Task::kMulticlass, 4, 3, 1),
                {.kind = LossKind::kFocalDice}),
      HasSubstr("losses[3].kind: LOSS_KIND_FOCAL_DICE does not apply to "
                "TASK_MULTICLASS"));
  EXPECT_THAT(LossError(RandomBatch(Task::kBinary, 4, 1, 1),
                        {.kind = LossKind::kRetinaNet}),
              HasSubstr("LOSS_KIND_RETINANET does not apply to TASK_BINARY"));
  EXPECT_THAT(LossError(RandomBatch(Task::kMultilabel, 4, 3, 1),
                        {.kind = LossKind::kClassBalancedFocal}),
              HasSubstr("does not apply to TASK_MULTILABEL"));
  EXPECT_THAT(LossError(RandomBatch(Task::kDetection, 4, 3, 1),
                        {.kind = LossKind::kFocal}),
              HasSubstr("does not apply to TASK_DETECTION"));
}

TEST(ComputeLossTest, RejectsParametersOutsideTheirDomain) {
  const OwnedBatch binary = RandomBatch(Task::kBinary, 4, 1, 2);
  EXPECT_THAT(LossError(binary, {.kind = LossKind::kFocal, .gamma = -1.0}),
              HasSubstr("losses[3].gamma: must lie in [0, inf), got -1"));
  EXPECT_THAT(LossError(binary, {.kind = LossKind::kFocal, .alpha = 1.5}),
              HasSubstr("losses[3].alpha: must lie in"));
  EXPECT_THAT(LossError(binary, {.kind = LossKind::kFocal, .gamma = NAN}),
              HasSubstr("losses[3].gamma: must lie in [0, inf), got nan"));
  EXPECT_THAT(LossError(binary, {.kind = LossKind::kOhem, .ohem_ratio = 0.0}),
              HasSubstr("losses[3].ohem_ratio: must lie in (0, 1], got 0"));
  EXPECT_THAT(LossError(binary, {.kind = LossKind::kAsymmetric, .clip = 1.5}),
              HasSubstr("losses[3].clip: must lie in [0, 1], got 1.5"));
  EXPECT_THAT(LossError(RandomBatch(Task::kMulticlass, 4, 2, 2),
                        {.kind = LossKind::kClassBalancedFocal,
                         .beta = 1.0,
                         .samples_per_class = {1, 2}}),
              HasSubstr("losses[3].beta: must lie in [0, 1), got 1"));
}

TEST(ComputeLossTest, RejectsParametersTheKindDoesNotUse) {
  const OwnedBatch binary = RandomBatch(Task::kBinary, 4, 1, 3);
  EXPECT_THAT(
      LossError(binary, {.kind = LossKind::kFocal, .ohem_ratio = 0.5}),
      HasSubstr("losses[3].ohem_ratio: not a parameter of LOSS_KIND_FOCAL on "
                "TASK_BINARY"));
  EXPECT_THAT(
      LossError(binary, {.kind = LossKind::kFocal, .class_alpha = {1.0}}),
      HasSubstr("losses[3].class_alpha: not a parameter"));
  EXPECT_THAT(
      LossError(binary, {.kind = LossKind::kCrossEntropy, .gamma = 2.0}),
      HasSubstr("losses[3].gamma: not a parameter of LOSS_KIND_CROSS_ENTROPY"));
  EXPECT_THAT(
      LossError(RandomBatch(Task::kMulticlass, 4, 3, 3),
                {.kind = LossKind::kFocal, .alpha = 0.25}),
      HasSubstr("losses[3].alpha: not a parameter of LOSS_KIND_FOCAL on "
                "TASK_MULTICLASS"));
}

TEST(ComputeLossTest, RejectsPerClassVectorsOfTheWrongLength) {
  const OwnedBatch multiclass = RandomBatch(Task::kMulticlass, 4, 3, 4);
  EXPECT_THAT(
      LossError(multiclass, {.kind = LossKind::kFocal, .class_alpha = {1, 2}}),
      HasSubstr("losses[3].class_alpha: 2 weights for 3 classes"));
  EXPECT_THAT(LossError(multiclass, {.kind = LossKind::kClassBalancedFocal}),
              HasSubstr("losses[3].samples_per_class: 0 counts for 3 classes"));
  EXPECT_THAT(LossError(multiclass,
                        {.kind = LossKind::kFocal, .class_alpha = {1, -1, 1}}),
              HasSubstr("losses[3].class_alpha[1]: must be finite and >= 0"));
}

TEST(ComputeLossTest, FocalDiceHasNoPerElementForm) {
  EXPECT_THAT(
      LossError(RandomBatch(Task::kBinary, 4, 4, 5),
                {.kind = LossKind::kFocalDice, .reduction = Reduction::kNone}),
      HasSubstr("losses[3].reduction: REDUCTION_NONE is not defined for "
                "LOSS_KIND_FOCAL_DICE"));
}

TEST(ComputeLossTest, RetinaNetNeedsBoxes) {
  OwnedBatch detection = RandomBatch(Task::kDetection, 4, 3, 6);
  detection.boxes.clear();
  EXPECT_THAT(
      LossError(detection, {.kind = LossKind::kRetinaNet}),
      HasSubstr("batch.box_preds: LOSS_KIND_RETINANET needs box_preds"));
}

TEST(ComputeLossTest, DefaultNamesAreTheKindInLowerCase) {
  EXPECT_EQ(DefaultLossName(LossKind::kClassBalancedFocal),
            "class_balanced_focal");
  EXPECT_EQ(DefaultLossName(LossKind::kRetinaNet), "retinanet");
}

struct KindOnTask {
  const char* name;
  Task task;
  int64_t classes;
  LossSpec spec;
};

class ReductionsAndGradientsTest : public testing::TestWithParam<KindOnTask> {};

// SUM is the sum of the NONE values, and MEAN its mean over the documented
// normaliser, so the reductions cannot drift apart.
TEST_P(ReductionsAndGradientsTest, SumEqualsSumOfValues) {
  OwnedBatch owned = RandomBatch(GetParam().task, 9, GetParam().classes, 11);
  absl::StatusOr<PreparedBatch> batch = owned.Prepare();
  ASSERT_TRUE(batch.ok());
  LossSpec sum_spec = GetParam().spec;
  sum_spec.reduction = Reduction::kSum;
  LossSpec none_spec = GetParam().spec;
  none_spec.reduction = Reduction::kNone;
  absl::StatusOr<LossOutput> sum = ComputeLoss(*batch, sum_spec, true);
  ASSERT_TRUE(sum.ok()) << sum.status();
  if (GetParam().spec.kind == LossKind::kFocalDice) return;
  absl::StatusOr<LossOutput> none = ComputeLoss(*batch, none_spec, true);
  ASSERT_TRUE(none.ok()) << none.status();
  const double total =
      std::accumulate(none->values.begin(), none->values.end(), 0.0);
  EXPECT_NEAR(sum->value, total, 1e-12 * std::abs(total));
  EXPECT_NEAR(none->value, total, 1e-12 * std::abs(total));
  for (size_t i = 0; i < sum->gradient.size(); ++i) {
    EXPECT_NEAR(sum->gradient[i], none->gradient[i], 1e-12);
  }
}

// The analytic gradient agrees with central differences of the value.
TEST_P(ReductionsAndGradientsTest, GradientMatchesFiniteDifferences) {
  OwnedBatch owned = RandomBatch(GetParam().task, 7, GetParam().classes, 12);
  absl::StatusOr<PreparedBatch> batch = owned.Prepare();
  ASSERT_TRUE(batch.ok());
  absl::StatusOr<LossOutput> out = ComputeLoss(*batch, GetParam().spec, true);
  ASSERT_TRUE(out.ok()) << out.status();
  constexpr double kStep = 1e-6;
  for (size_t i = 0; i < owned.scores.size(); ++i) {
    OwnedBatch plus = owned, minus = owned;
    plus.scores[i] += kStep;
    minus.scores[i] -= kStep;
    const double up =
        ComputeLoss(*plus.Prepare(), GetParam().spec, false)->value;
    const double down =
        ComputeLoss(*minus.Prepare(), GetParam().spec, false)->value;
    const double numeric = (up - down) / (2 * kStep);
    EXPECT_NEAR(out->gradient[i], numeric, 1e-6 + 1e-5 * std::abs(numeric))
        << "element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, ReductionsAndGradientsTest,
    testing::Values(
        KindOnTask{"BinaryCrossEntropy",
                   Task::kBinary,
                   3,
                   {.kind = LossKind::kCrossEntropy}},
        KindOnTask{"BinaryFocal", Task::kBinary, 3, {.kind = LossKind::kFocal}},
        KindOnTask{"BinaryFocalHalfGamma",
                   Task::kBinary,
                   3,
                   {.kind = LossKind::kFocal, .alpha = -1.0, .gamma = 0.5}},
        KindOnTask{"MultilabelAsymmetric",
                   Task::kMultilabel,
                   4,
                   {.kind = LossKind::kAsymmetric}},
        KindOnTask{"BinaryAsymmetricNoClip",
                   Task::kBinary,
                   2,
                   {.kind = LossKind::kAsymmetric,
                    .gamma_pos = 0.5,
                    .gamma_neg = 2.5,
                    .clip = 0.0}},
        KindOnTask{"BinaryOhem", Task::kBinary, 3, {.kind = LossKind::kOhem}},
        KindOnTask{
            "FocalDice", Task::kBinary, 3, {.kind = LossKind::kFocalDice}},
        KindOnTask{"MulticlassCrossEntropy",
                   Task::kMulticlass,
                   4,
                   {.kind = LossKind::kCrossEntropy}},
        KindOnTask{"MulticlassFocal",
                   Task::kMulticlass,
                   4,
                   {.kind = LossKind::kFocal,
                    .gamma = 1.5,
                    .class_alpha = {1, 2, 3, 4}}},
        KindOnTask{"ClassBalancedFocal",
                   Task::kMulticlass,
                   4,
                   {.kind = LossKind::kClassBalancedFocal,
                    .samples_per_class = {1000, 100, 10, 0}}},
        KindOnTask{"MulticlassOhem",
                   Task::kMulticlass,
                   4,
                   {.kind = LossKind::kOhem, .ohem_ratio = 0.5}},
        KindOnTask{"DetectionCrossEntropy",
                   Task::kDetection,
                   3,
                   {.kind = LossKind::kCrossEntropy}},
        KindOnTask{
            "RetinaNet", Task::kDetection, 3, {.kind = LossKind::kRetinaNet}}),
    [](const testing::TestParamInfo<KindOnTask>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace focalmetrics
