#include "core/ap/exact_average_precision.h"

#include <algorithm>
#include <functional>
#include <queue>

#include "hwy/contrib/sort/vqsort.h"

namespace focalmetrics {
namespace {

void SortTailAndMerge(std::vector<double>& scores, size_t& sorted) {
  if (sorted == scores.size()) return;
  // One Sorter per thread: it owns scratch buffers.
  thread_local hwy::Sorter sorter;
  sorter(scores.data() + sorted, scores.size() - sorted, hwy::SortDescending());
  std::inplace_merge(scores.begin(), scores.begin() + sorted, scores.end(),
                     std::greater<double>());
  sorted = scores.size();
}

// Walks descending positive and negative scores together, one group of
// equal scores at a time (scikit-learn's tie grouping), and calls
// visit(threshold, true positives, false positives) after each group.
template <typename Visit>
void WalkGroups(absl::Span<const double> positives,
                absl::Span<const double> negatives, Visit visit) {
  size_t i = 0, j = 0;
  while (i < positives.size() || j < negatives.size()) {
    double threshold;
    if (i == positives.size()) {
      threshold = negatives[j];
    } else if (j == negatives.size()) {
      threshold = positives[i];
    } else {
      threshold = std::max(positives[i], negatives[j]);
    }
    while (i < positives.size() && positives[i] == threshold) ++i;
    while (j < negatives.size() && negatives[j] == threshold) ++j;
    visit(threshold, static_cast<int64_t>(i), static_cast<int64_t>(j));
  }
}

// AP = sum over groups of (recall_k - recall_{k-1}) precision_k.
ClassAveragePrecision FromSorted(absl::Span<const double> positives,
                                 absl::Span<const double> negatives) {
  ClassAveragePrecision result;
  result.positives = static_cast<int64_t>(positives.size());
  result.negatives = static_cast<int64_t>(negatives.size());
  result.defined = !positives.empty();
  if (!result.defined) return result;
  const double total = static_cast<double>(positives.size());
  int64_t previous_tp = 0;
  double ap = 0.0;
  WalkGroups(positives, negatives, [&](double, int64_t tp, int64_t fp) {
    if (tp == previous_tp) return;
    ap += static_cast<double>(tp - previous_tp) / total *
          (static_cast<double>(tp) / static_cast<double>(tp + fp));
    previous_tp = tp;
  });
  result.estimate = result.lower = result.upper = ap;
  return result;
}

}  // namespace

void ExactAveragePrecision::Add(absl::Span<const double> scores,
                                absl::Span<const uint8_t> is_positive) {
  for (size_t i = 0; i < scores.size(); ++i) {
    (is_positive[i] ? positives_ : negatives_).push_back(scores[i]);
  }
}

void ExactAveragePrecision::Merge(const ExactAveragePrecision& other) {
  positives_.insert(positives_.end(), other.positives_.begin(),
                    other.positives_.end());
  negatives_.insert(negatives_.end(), other.negatives_.begin(),
                    other.negatives_.end());
}

void ExactAveragePrecision::Sort() const {
  SortTailAndMerge(positives_, positives_sorted_);
  SortTailAndMerge(negatives_, negatives_sorted_);
}

absl::Span<const double> ExactAveragePrecision::SortedPositives() const {
  Sort();
  return positives_;
}

absl::Span<const double> ExactAveragePrecision::SortedNegatives() const {
  Sort();
  return negatives_;
}

ClassAveragePrecision ExactAveragePrecision::Compute() const {
  return FromSorted(SortedPositives(), SortedNegatives());
}

PrecisionRecallPoints ExactAveragePrecision::Curve(size_t max_points) const {
  PrecisionRecallPoints curve;
  const absl::Span<const double> pos = SortedPositives();
  const absl::Span<const double> neg = SortedNegatives();
  if (pos.empty() || max_points == 0) return curve;
  size_t groups = 0;
  WalkGroups(pos, neg, [&](double, int64_t, int64_t) { ++groups; });
  // Keep every stride-th group and the last one.
  const size_t stride = (groups + max_points - 1) / max_points;
  size_t index = 0;
  const double total = static_cast<double>(pos.size());
  WalkGroups(pos, neg, [&](double threshold, int64_t tp, int64_t fp) {
    ++index;
    if (index % stride != 0 && index != groups) return;
    if (curve.thresholds.size() == max_points) {
      curve.thresholds.pop_back();
      curve.precision.pop_back();
      curve.recall.pop_back();
    }
    curve.thresholds.push_back(threshold);
    curve.precision.push_back(static_cast<double>(tp) /
                              static_cast<double>(tp + fp));
    curve.recall.push_back(static_cast<double>(tp) / total);
  });
  return curve;
}

size_t ExactAveragePrecision::MemoryBytes() const {
  return (positives_.capacity() + negatives_.capacity()) * sizeof(double);
}

ClassAveragePrecision PooledAveragePrecision(
    absl::Span<const ExactAveragePrecision* const> classes) {
  // A k-way merge of the classes' sorted scores into one descending stream
  // per label; the pooled arrays are what scikit-learn's micro average sees.
  std::vector<double> positives, negatives;
  auto pool = [](std::vector<absl::Span<const double>> parts,
                 std::vector<double>& out) {
    size_t total = 0;
    for (const auto& part : parts) total += part.size();
    out.reserve(total);
    using Head = std::pair<double, size_t>;  // (score, part)
    std::priority_queue<Head> heads;
    std::vector<size_t> next(parts.size(), 0);
    for (size_t k = 0; k < parts.size(); ++k) {
      if (!parts[k].empty()) heads.push({parts[k][0], k});
    }
    while (!heads.empty()) {
      const auto [score, k] = heads.top();
      heads.pop();
      out.push_back(score);
      if (++next[k] < parts[k].size()) heads.push({parts[k][next[k]], k});
    }
  };
  std::vector<absl::Span<const double>> pos_parts, neg_parts;
  for (const ExactAveragePrecision* c : classes) {
    pos_parts.push_back(c->SortedPositives());
    neg_parts.push_back(c->SortedNegatives());
  }
  pool(std::move(pos_parts), positives);
  pool(std::move(neg_parts), negatives);
  return FromSorted(positives, negatives);
}

}  // namespace focalmetrics
