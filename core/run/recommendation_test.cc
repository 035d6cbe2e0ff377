#include "core/run/recommendation.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

ImbalanceProfile Multiclass(std::vector<int64_t> counts) {
  return {.task = Task::kMulticlass, .class_counts = std::move(counts)};
}

ImbalanceProfile Binary(int64_t positives, int64_t negatives) {
  return {.task = Task::kBinary, .class_counts = {positives, negatives}};
}

TEST(RecommendLossTest, FollowsTheDecisionTable) {
  EXPECT_EQ(RecommendLoss(Multiclass({100, 110, 95}), {}).loss.kind,
            LossKind::kCrossEntropy);

  const LossRecommendation mild =
      RecommendLoss(Multiclass({800, 100, 200}), {});
  EXPECT_EQ(mild.loss.kind, LossKind::kFocal);
  EXPECT_EQ(mild.loss.gamma, 0.0);  // Class-weighted cross-entropy.
  // 1/sqrt(n) for (800, 100, 200), normalised to sum 3.
  std::vector<double> expected;
  for (const int n : {800, 100, 200}) expected.push_back(1 / std::sqrt(n));
  const double total = expected[0] + expected[1] + expected[2];
  ASSERT_EQ(mild.loss.class_alpha.size(), 3u);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(mild.loss.class_alpha[c], 3 * expected[c] / total, 1e-12);
  }
  EXPECT_GT(mild.loss.class_alpha[1], mild.loss.class_alpha[0]);
  EXPECT_DOUBLE_EQ(mild.imbalance_ratio, 8.0);

  const LossRecommendation binary_mild = RecommendLoss(Binary(100, 500), {});
  EXPECT_EQ(binary_mild.loss.kind, LossKind::kFocal);
  EXPECT_EQ(binary_mild.loss.gamma, 0.0);
  EXPECT_NEAR(*binary_mild.loss.alpha, 500.0 / 600.0, 1e-12);

  const LossRecommendation strong = RecommendLoss(Binary(10, 5000), {});
  EXPECT_EQ(strong.loss.kind, LossKind::kFocal);
  EXPECT_EQ(strong.loss.gamma, 2.0);
  EXPECT_EQ(strong.loss.alpha, 0.25);

  EXPECT_EQ(RecommendLoss(Binary(10, 500), {}).loss.gamma, 1.0);
  EXPECT_EQ(RecommendLoss(Binary(10, 50000), {}).loss.gamma, 3.0);
  EXPECT_EQ(RecommendLoss(Binary(1, 50000), {}).loss.gamma, 5.0);
  const LossRecommendation extreme = RecommendLoss(Multiclass({5, 50000}), {});
  EXPECT_EQ(extreme.loss.kind, LossKind::kFocal);
  EXPECT_EQ(extreme.loss.gamma, 3.0);  // 10000:1 is not above 10000:1
  ASSERT_EQ(extreme.loss.class_alpha.size(), 2u);
  // sqrt(10000) = 100 times the weight, however many samples the run holds
  // (effective numbers at beta 0.999 would be nearly equal here).
  EXPECT_NEAR(extreme.loss.class_alpha[0] / extreme.loss.class_alpha[1], 100,
              1e-9);
  const LossRecommendation large =
      RecommendLoss(Multiclass({10'000'000, 100'000}), {});
  ASSERT_EQ(large.loss.class_alpha.size(), 2u);
  EXPECT_NEAR(large.loss.class_alpha[1] / large.loss.class_alpha[0], 10, 1e-9);

  ImbalanceProfile multilabel{.task = Task::kMultilabel,
                              .class_counts = {5, 50},
                              .negative_counts = {95, 50}};
  EXPECT_EQ(RecommendLoss(multilabel, {}).loss.kind, LossKind::kAsymmetric);
  ImbalanceProfile masks = Binary(100, 9000);
  masks.masks = true;
  EXPECT_EQ(RecommendLoss(masks, {}).loss.kind, LossKind::kFocalDice);
  ImbalanceProfile detection{
      .task = Task::kDetection, .class_counts = {5}, .negative_counts = {1000}};
  EXPECT_EQ(RecommendLoss(detection, {}).loss.kind, LossKind::kRetinaNet);
}

TEST(RecommendLossTest, WarnsWhenClassWeightsAreNearlyUniform) {
  // At 100:1 with 10M samples, effective-number weights at beta 0.999 are
  // equal to machine precision: class-balanced focal then weighs nothing.
  const ImbalanceProfile large = Multiclass({10'000'000, 100'000});
  const auto nearly_uniform =
      HasSubstr("class weights of 'class_balanced_focal' are nearly uniform");
  EXPECT_THAT(
      RecommendLoss(large, {{.kind = LossKind::kClassBalancedFocal}}).warnings,
      Contains(nearly_uniform));
  // A beta fitted to the counts keeps them apart: no warning.
  EXPECT_THAT(RecommendLoss(large, {{.kind = LossKind::kClassBalancedFocal,
                                     .beta = 1 - 1e-7}})
                  .warnings,
              Not(Contains(nearly_uniform)));
  EXPECT_THAT(RecommendLoss(large, {{.kind = LossKind::kFocal,
                                     .class_alpha = {1.0, 1.01}}})
                  .warnings,
              Contains(HasSubstr("class weights of 'focal' are nearly uniform "
                                 "(largest / smallest 1.01)")));
  // The recommendation's own class_alpha does not trip it.
  const LossRecommendation advice = RecommendLoss(large, {});
  EXPECT_THAT(RecommendLoss(large, {advice.loss}).warnings,
              Not(Contains(HasSubstr("nearly uniform"))));
  // Nor does a loss that applies no class weights.
  EXPECT_THAT(RecommendLoss(large, {{.kind = LossKind::kOhem}}).warnings,
              Not(Contains(HasSubstr("nearly uniform"))));
}

TEST(RecommendLossTest, WarnsAboutAntiPatterns) {
  const std::vector<LossSpec> focal = {{.kind = LossKind::kFocal}};
  EXPECT_THAT(RecommendLoss(Binary(500, 520), focal).warnings,
              Contains(HasSubstr("focal loss 'focal' on balanced data")));
  EXPECT_THAT(
      RecommendLoss(Binary(500, 520), {{.kind = LossKind::kFocal, .gamma = 7}})
          .warnings,
      Contains(HasSubstr("gamma 7 in 'focal' is above 5")));
  EXPECT_THAT(
      RecommendLoss(Binary(10, 5000), {{.kind = LossKind::kFocal, .alpha = -1}})
          .warnings,
      Contains(HasSubstr("'focal' has no class weighting (alpha) at 500:1")));
  EXPECT_THAT(RecommendLoss(Binary(10, 5000), {}).warnings,
              Contains(HasSubstr("accuracy is misleading at 500:1")));
  EXPECT_THAT(
      RecommendLoss(Binary(500, 520), {{.kind = LossKind::kCrossEntropy}})
          .warnings,
      IsEmpty());
}

TEST(FocalGammaPresetTest, KnowsThePresets) {
  EXPECT_EQ(*FocalGammaPreset("extreme_imbalance"), 5);
  EXPECT_EQ(*FocalGammaPreset("object_detection"), 2);
  EXPECT_EQ(*FocalGammaPreset("medical_rare_disease"), 3);
  EXPECT_EQ(*FocalGammaPreset("mild_imbalance"), 1);
  EXPECT_EQ(*FocalGammaPreset("no_imbalance"), 0);
  EXPECT_EQ(FocalGammaPreset("huge").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace focalmetrics
