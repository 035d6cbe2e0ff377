#include "core/run/recommendation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/losses/class_weights.h"

namespace focalmetrics {
namespace {

constexpr double kBalanced = 1.5;
constexpr double kMild = 10;
constexpr double kModerate = 100;
constexpr double kHigh = 1000;
constexpr double kExtreme = 10000;
// Class weights whose largest / smallest is below this weigh next to nothing.
constexpr double kUniformSpread = 1.5;

std::string Ratio(double ratio) { return absl::StrFormat("%.3g:1", ratio); }

bool IsFocal(const LossSpec& spec) {
  return spec.kind == LossKind::kFocal ||
         spec.kind == LossKind::kClassBalancedFocal ||
         spec.kind == LossKind::kFocalDice || spec.kind == LossKind::kRetinaNet;
}

std::string Name(const LossSpec& spec) {
  return spec.name.empty() ? DefaultLossName(spec.kind) : spec.name;
}

// Multiclass FOCAL's per-class alpha for `counts` (DESIGN.md's table names
// FOCAL with alpha; multiclass focal takes its alpha per class): inverse
// square-root frequency, normalised to sum to C, as GetClassWeights serves it.
// Not the effective number at beta 0.999: that flattens to equal weights once
// classes hold many more than 1/(1-beta) = 1000 samples, which on a real run
// would recommend focal without alpha. The square root keeps the rare
// classes' weight without 1/n's extremes at 10000:1.
std::vector<double> RecommendedClassAlpha(const std::vector<int64_t>& counts) {
  absl::StatusOr<std::vector<double>> weights =
      ClassWeightsFromCounts(counts, WeightScheme::kInverseSqrtFrequency, 0.0);
  // Counts of a run are never negative nor empty here.
  return weights.ok() ? *std::move(weights)
                      : std::vector<double>(counts.size(), 1.0);
}

// max/min of the per-class weights a multiclass FOCAL (class_alpha) or
// CLASS_BALANCED_FOCAL applies, for the "nearly uniform" warning.
double ClassWeightSpread(const LossSpec& spec,
                         const std::vector<int64_t>& run_counts) {
  std::vector<double> weights = spec.class_alpha;
  if (spec.kind == LossKind::kClassBalancedFocal) {
    const std::vector<int64_t>& counts =
        spec.samples_per_class.empty() ? run_counts : spec.samples_per_class;
    absl::StatusOr<std::vector<double>> computed =
        ClassWeightsFromCounts(counts, WeightScheme::kEffectiveNumber,
                               spec.beta.value_or(kDefaultEffectiveNumberBeta));
    if (computed.ok()) weights = *std::move(computed);
  }
  if (weights.empty()) return 1.0;
  const auto [low, high] = std::minmax_element(weights.begin(), weights.end());
  return *low > 0 ? *high / *low : 1.0;
}

double Gamma(const LossSpec& spec) {
  if (spec.kind == LossKind::kAsymmetric) {
    return std::max(spec.gamma_pos.value_or(1.0), spec.gamma_neg.value_or(4.0));
  }
  return spec.gamma.value_or(IsFocal(spec) ? 2.0 : 0.0);
}

}  // namespace

double ImbalanceRatio(const ImbalanceProfile& profile) {
  double ratio = 1.0;
  auto consider = [&ratio](int64_t a, int64_t b) {
    if (a + b == 0) return;
    const double major = static_cast<double>(std::max(a, b));
    const double minor =
        static_cast<double>(std::max<int64_t>(1, std::min(a, b)));
    ratio = std::max(ratio, major / minor);
  };
  const std::vector<int64_t>& counts = profile.class_counts;
  if (profile.task == Task::kMulticlass || profile.task == Task::kBinary) {
    if (counts.empty()) return 1.0;
    const auto [low, high] = std::minmax_element(counts.begin(), counts.end());
    consider(*high, *low);
    return ratio;
  }
  for (size_t c = 0; c < counts.size() && c < profile.negative_counts.size();
       ++c) {
    consider(counts[c], profile.negative_counts[c]);
  }
  return ratio;
}

absl::StatusOr<double> FocalGammaPreset(absl::string_view preset) {
  if (preset == "extreme_imbalance") return 5.0;
  if (preset == "object_detection") return 2.0;
  if (preset == "medical_rare_disease") return 3.0;
  if (preset == "mild_imbalance") return 1.0;
  if (preset == "no_imbalance") return 0.0;
  return absl::NotFoundError(absl::StrCat(
      "preset: unknown '", preset,
      "'; known: extreme_imbalance, object_detection, medical_rare_disease, "
      "mild_imbalance, no_imbalance"));
}

LossRecommendation RecommendLoss(const ImbalanceProfile& profile,
                                 absl::Span<const LossSpec> losses_in_use) {
  LossRecommendation out;
  const double r = ImbalanceRatio(profile);
  out.imbalance_ratio = r;
  const bool multiclass = profile.task == Task::kMulticlass;
  int64_t total = 0;
  for (int64_t n : profile.class_counts) total += n;

  if (profile.task == Task::kMultilabel) {
    out.loss = {.kind = LossKind::kAsymmetric};
    out.reason = absl::StrCat(
        "multi-label with up to ", Ratio(r),
        " negatives per positive: the asymmetric loss down-weights the many "
        "easy "
        "negatives and discards the mislabeled ones (Ben-Baruch 2020)");
  } else if (profile.task == Task::kDetection) {
    out.loss = {.kind = LossKind::kRetinaNet, .alpha = 0.25, .gamma = 2.0};
    out.reason =
        absl::StrCat("detection with ", Ratio(r),
                     " background to foreground anchors: RetinaNet's focal "
                     "loss (object_detection preset, gamma 2)");
  } else if (profile.masks) {
    out.loss = {.kind = LossKind::kFocalDice};
    out.reason =
        absl::StrCat("segmentation masks at ", Ratio(r),
                     ": focal for the pixels plus dice for the region overlap");
  } else if (total == 0) {
    out.loss = {.kind = LossKind::kCrossEntropy};
    out.reason =
        "no samples yet: cross-entropy until the class balance is known";
  } else if (r <= kBalanced) {
    out.loss = {.kind = LossKind::kCrossEntropy};
    out.reason = absl::StrCat("classes are balanced (", Ratio(r),
                              "): plain cross-entropy");
  } else if (r <= kMild) {
    if (multiclass) {
      out.loss = {.kind = LossKind::kFocal,
                  .gamma = 0.0,
                  .class_alpha = RecommendedClassAlpha(profile.class_counts)};
    } else {
      // Weight positives by the negatives' share: alpha-balanced CE.
      const double positives = static_cast<double>(profile.class_counts[0]);
      out.loss = {.kind = LossKind::kFocal,
                  .alpha = 1.0 - positives / static_cast<double>(total),
                  .gamma = 0.0};
    }
    out.reason =
        absl::StrCat("mild imbalance (", Ratio(r),
                     "): class-weighted cross-entropy (focal with gamma 0 and ",
                     multiclass ? "class_alpha 1/sqrt(class count)"
                                : "alpha the negatives' share",
                     ")");
  } else {
    const double gamma = r > kExtreme    ? 5.0
                         : r > kHigh     ? 3.0
                         : r > kModerate ? 2.0
                                         : 1.0;
    const char* preset = r > kExtreme    ? "extreme_imbalance"
                         : r > kHigh     ? "medical_rare_disease"
                         : r > kModerate ? "focal default"
                                         : "mild_imbalance";
    if (multiclass) {
      out.loss = {.kind = LossKind::kFocal,
                  .gamma = gamma,
                  .class_alpha = RecommendedClassAlpha(profile.class_counts)};
    } else {
      out.loss = {.kind = LossKind::kFocal, .alpha = 0.25, .gamma = gamma};
    }
    out.reason = absl::StrCat(
        r > kHigh ? "extreme" : "strong", " imbalance (", Ratio(r),
        "): focal loss with gamma ", gamma, " (", preset, ") and ",
        multiclass ? "class_alpha 1/sqrt(class count)" : "alpha 0.25");
  }

  for (const LossSpec& spec : losses_in_use) {
    const double gamma = Gamma(spec);
    if (IsFocal(spec) && gamma > 0 && r <= kBalanced && total > 0) {
      out.warnings.push_back(absl::StrCat(
          "focal loss '", Name(spec), "' on balanced data (", Ratio(r),
          "): it only slows learning here; use cross_entropy"));
    }
    if (gamma > 5) {
      out.warnings.push_back(
          absl::StrCat("gamma ", gamma, " in '", Name(spec),
                       "' is above 5: all but the hardest examples stop "
                       "contributing gradient"));
    }
    const bool no_alpha = (spec.kind == LossKind::kFocal && !multiclass &&
                           spec.alpha.value_or(0.25) < 0) ||
                          (spec.kind == LossKind::kFocal && multiclass &&
                           spec.class_alpha.empty()) ||
                          spec.kind == LossKind::kCrossEntropy;
    if (no_alpha && r > kMild && profile.task != Task::kMultilabel) {
      out.warnings.push_back(absl::StrCat(
          "'", Name(spec), "' has no class weighting (alpha) at ", Ratio(r),
          ": the majority class dominates the gradient"));
    }
    const bool weighs_classes =
        spec.kind == LossKind::kClassBalancedFocal ||
        (spec.kind == LossKind::kFocal && !spec.class_alpha.empty());
    const double spread = ClassWeightSpread(spec, profile.class_counts);
    if (weighs_classes && multiclass && r > kMild && spread < kUniformSpread) {
      out.warnings.push_back(absl::StrFormat(
          "the class weights of '%s' are nearly uniform (largest / smallest "
          "%.3g) at %s: effective-number weights flatten out once classes "
          "hold many more than 1/(1-beta) samples; raise beta (e.g. 1 - "
          "1/largest class count) or weigh by 1/sqrt(class count)",
          Name(spec), spread, Ratio(r)));
    }
  }
  if (r > kMild && total > 0) {
    out.warnings.push_back(
        absl::StrFormat("accuracy is misleading at %s: always predicting the "
                        "majority class scores "
                        "%.1f%%; watch PR-AUC (average precision) instead",
                        Ratio(r), 100.0 * r / (r + 1.0)));
  }
  return out;
}

}  // namespace focalmetrics
