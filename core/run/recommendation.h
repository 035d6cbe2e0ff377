// Recommends a loss for the class imbalance a run has shown (DESIGN.md's
// decision table) and flags the known anti-patterns in the losses it uses.
//
//   ImbalanceProfile profile{.task = Task::kBinary, .class_counts = {120,
//   99880}}; LossRecommendation advice = RecommendLoss(profile, losses_in_use);
//   print(advice.reason, advice.warnings);
#ifndef FOCALMETRICS_CORE_RUN_RECOMMENDATION_H_
#define FOCALMETRICS_CORE_RUN_RECOMMENDATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/losses/batch.h"
#include "core/losses/loss.h"

namespace focalmetrics {

struct ImbalanceProfile {
  Task task = Task::kBinary;
  // MULTICLASS: samples per class. BINARY: {positives, negatives}.
  // MULTILABEL and DETECTION: positives per class.
  std::vector<int64_t> class_counts;
  // MULTILABEL and DETECTION: negatives per class (samples without the
  // label; background anchors count for every class).
  std::vector<int64_t> negative_counts;
  // BINARY batches of rank >= 3 ([N, H, W]): segmentation masks.
  bool masks = false;
};

struct LossRecommendation {
  LossSpec loss;
  std::string reason;
  std::vector<std::string> warnings;
  // Majority : minority, >= 1 (1 with no data).
  double imbalance_ratio = 1.0;
};

// The majority : minority ratio of `profile` (see ImbalanceProfile).
double ImbalanceRatio(const ImbalanceProfile& profile);

// DESIGN.md's decision table: balanced (<= 1.5:1) -> CROSS_ENTROPY; mild
// (<= 10:1) -> class-weighted cross-entropy; moderate (<= 100:1) -> focal
// with gamma 1; > 100:1 -> focal gamma 2, alpha 0.25; > 1000:1 -> gamma 3;
// > 10000:1 -> gamma 5; MULTILABEL -> ASYMMETRIC; masks -> FOCAL_DICE;
// DETECTION -> RETINANET. Warnings: focal on balanced data, gamma > 5, no
// alpha under imbalance, accuracy on imbalanced data.
LossRecommendation RecommendLoss(const ImbalanceProfile& profile,
                                 absl::Span<const LossSpec> losses_in_use);

// Gamma presets: extreme_imbalance 5, object_detection 2,
// medical_rare_disease 3, mild_imbalance 1, no_imbalance 0. NOT_FOUND for
// other names.
absl::StatusOr<double> FocalGammaPreset(absl::string_view preset);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_RUN_RECOMMENDATION_H_
