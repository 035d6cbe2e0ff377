#include "core/ap/average_precision_histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <queue>
#include <utility>

namespace focalmetrics {
namespace {

using Bin = ap_internal::HistogramBin;

constexpr uint64_t kSignBit = uint64_t{1} << 63;

// Absorbs rounding in our sums and in any reasonable summation of the exact
// AP over up to ~10^6 tie groups, so the bounds hold for computed values too.
constexpr double kRoundingSlack = 1e-10;

// Order-preserving image of a score: ScoreKey(x) < ScoreKey(y) iff x < y, and
// equal keys iff equal scores (-0 and +0 are one score, as in a sort). Exact,
// so a one-key bin is one tie group, and no score range can overflow it.
uint64_t ScoreKey(double score) {
  const uint64_t bits = std::bit_cast<uint64_t>(score + 0.0);  // -0 -> +0
  return (bits & kSignBit) ? ~bits : bits | kSignBit;
}

double KeyScore(uint64_t key) {
  // A coarse bin's lower edge may fall among NaN patterns below -inf; the
  // lowest finite score is an equally valid threshold for it.
  static const uint64_t kLowest =
      ScoreKey(std::numeric_limits<double>::lowest());
  static const uint64_t kHighest = ScoreKey(std::numeric_limits<double>::max());
  key = std::clamp(key, kLowest, kHighest);
  return std::bit_cast<double>((key & kSignBit) ? key & ~kSignBit : ~key);
}

uint64_t LowMask(int level) {
  return level >= 64 ? ~uint64_t{0} : (uint64_t{1} << level) - 1;
}

uint64_t Hi(const Bin& bin) { return bin.lo | LowMask(bin.level); }

// Level of the smallest dyadic interval holding two disjoint bins.
int AncestorLevel(const Bin& x, const Bin& y) {
  return 64 - std::countl_zero(x.lo ^ y.lo);
}

// sum_{k=n+1}^{m} 1/k for 0 <= n <= m, to a few ulps.
double HarmonicRange(int64_t n, int64_t m) {
  if (m - n <= 256) {
    double sum = 0.0;
    for (int64_t k = m; k > n; --k) sum += 1.0 / static_cast<double>(k);
    return sum;
  }
  // H(m) - H(n) = psi(m + 1) - psi(n + 1). Shift the lower argument up with
  // psi(x + 1) = psi(x) + 1/x until psi's asymptotic series is exact to
  // double precision (its next term is below 1e-18 at x >= 64).
  double sum = 0.0;
  int64_t x = n + 1;
  const int64_t y = m + 1;
  for (; x < 64; ++x) sum += 1.0 / static_cast<double>(x);
  auto series = [](double z) {  // psi(z) - log(z)
    const double z2 = 1.0 / (z * z);
    return -0.5 / z -
           z2 * (1.0 / 12 - z2 * (1.0 / 120 - z2 * (1.0 / 252 - z2 / 240)));
  };
  const double dx = static_cast<double>(x);
  const double dy = static_cast<double>(y);
  return sum + std::log1p(static_cast<double>(y - x) / dx) + series(dy) -
         series(dx);
}

// What a bin adds to sum_positives precision (AP times the positives),
// given `t` positives and `f` negatives in the bins above it.
struct Contribution {
  double lower;
  double estimate;
  double upper;
};

Contribution BinContribution(int64_t t, int64_t f, const Bin& bin) {
  const int64_t a = bin.positives;
  const int64_t b = bin.negatives;
  if (a == 0) return {0.0, 0.0, 0.0};
  const auto ratio = [](int64_t num, int64_t den) {
    return static_cast<double>(num) / static_cast<double>(den);
  };
  // scikit-learn credits every positive of a tie group with the precision
  // at the group's end.
  const double estimate = static_cast<double>(a) * ratio(t + a, t + a + f + b);
  if (bin.level == 0) return {estimate, estimate, estimate};  // one score
  // Best case: the positives rank above the negatives as one tie group. No
  // positive can see fewer negatives or more positives at its group's end.
  const double upper = static_cast<double>(a) * ratio(t + a, t + a + f);
  // Worst case: the negatives first, then the positives one by one; the
  // r-th positive's group ends with >= r positives and <= b negatives.
  const int64_t g = f + b;
  double lower;
  if (g == 0) {
    lower = static_cast<double>(a);
  } else if (a <= 256) {
    lower = 0.0;
    for (int64_t r = 1; r <= a; ++r) lower += ratio(t + r, t + r + g);
  } else {
    // sum_r (t+r)/(t+r+g) = a - g * sum_r 1/(t+r+g).
    lower = static_cast<double>(a) -
            static_cast<double>(g) * HarmonicRange(t + g, t + g + a);
  }
  return {std::min(lower, estimate), estimate, std::max(upper, estimate)};
}

double Width(int64_t t, int64_t f, const Bin& bin) {
  const Contribution c = BinContribution(t, f, bin);
  return c.upper - c.lower;
}

int g_smooth_k = 16;

// Approximate width of a bin holding a positives and b negatives in
// expectation (real-valued counts).
double ExpectedWidth(double t, double f, double a, double b, bool one_score) {
  if (one_score || a <= 0.0) return 0.0;
  const double upper = a * (t + a) / (t + a + f);
  const double g = f + b;
  const double lower =
      g <= 0.0 ? a : a - g * std::log((t + g + a + 0.5) / (t + g + 0.5));
  return upper - lower;
}

// Sorted, disjoint bins holding the samples of both inputs. Dyadic intervals
// are nested or disjoint, so a bin overlapping another contains it or lies
// in it: the union absorbs the smaller into the larger and never chains.
std::vector<Bin> Unite(absl::Span<const Bin> x, absl::Span<const Bin> y) {
  std::vector<Bin> out;
  out.reserve(x.size() + y.size());
  size_t i = 0, j = 0;
  while (i < x.size() || j < y.size()) {
    // By increasing lo, the larger interval first on equal lo.
    const bool take_x =
        j == y.size() ||
        (i < x.size() && (x[i].lo < y[j].lo ||
                          (x[i].lo == y[j].lo && x[i].level >= y[j].level)));
    const Bin& next = take_x ? x[i++] : y[j++];
    if (!out.empty() && next.lo <= Hi(out.back())) {
      out.back().positives += next.positives;
      out.back().negatives += next.negatives;
    } else {
      out.push_back(next);
    }
  }
  return out;
}

// One bin per distinct score of the batch.
std::vector<Bin> BatchBins(absl::Span<const double> scores,
                           absl::Span<const uint8_t> is_positive) {
  std::vector<uint64_t> pos, neg;
  for (size_t i = 0; i < scores.size(); ++i) {
    (is_positive[i] ? pos : neg).push_back(ScoreKey(scores[i]));
  }
  std::sort(pos.begin(), pos.end());
  std::sort(neg.begin(), neg.end());
  std::vector<Bin> bins;
  bins.reserve(pos.size() + neg.size());
  size_t i = 0, j = 0;
  while (i < pos.size() || j < neg.size()) {
    const uint64_t key = i == pos.size()   ? neg[j]
                         : j == neg.size() ? pos[i]
                                           : std::min(pos[i], neg[j]);
    Bin bin{.lo = key, .positives = 0, .negatives = 0, .level = 0};
    for (; i < pos.size() && pos[i] == key; ++i) ++bin.positives;
    for (; j < neg.size() && neg[j] == key; ++j) ++bin.negatives;
    bins.push_back(bin);
  }
  return bins;
}

// Merges neighbouring bins, cheapest widening of the AP bounds first, until
// at most max_bins remain. A bin's width depends only on its own counts and
// the counts above it, which merging elsewhere does not change, so each
// candidate's cost stays valid until one of its two bins changes.
//
// Only a pair whose smallest enclosing dyadic interval holds no third bin
// may merge (the result must stay dyadic); merging it leaves its
// neighbours' enclosing intervals as they were. O(n + merges * log n).
std::vector<Bin> Compact(std::vector<Bin> bins, size_t max_bins) {
  const int32_t n = static_cast<int32_t>(bins.size());
  std::vector<int64_t> above_pos(n), above_neg(n);
  int64_t t = 0, f = 0;
  for (int32_t i = n - 1; i >= 0; --i) {
    above_pos[i] = t;
    above_neg[i] = f;
    t += bins[i].positives;
    f += bins[i].negatives;
  }
  // Expected positives per bin: the positive rate of a window around it
  // holding >= K positives.
  std::vector<int64_t> prefix_pos(n + 1, 0), prefix_all(n + 1, 0);
  for (int32_t i = 0; i < n; ++i) {
    prefix_pos[i + 1] = prefix_pos[i] + bins[i].positives;
    prefix_all[i + 1] = prefix_all[i] + bins[i].positives + bins[i].negatives;
  }
  std::vector<double> exp_pos(n), exp_neg(n);
  for (int32_t i = 0; i < n; ++i) {
    int32_t lo_r = 0, hi_r = n;
    auto window_pos = [&](int32_t r) {
      const int32_t l = std::max(0, i - r), h = std::min(n, i + r + 1);
      return prefix_pos[h] - prefix_pos[l];
    };
    while (lo_r < hi_r) {
      const int32_t mid = (lo_r + hi_r) / 2;
      if (window_pos(mid) >= g_smooth_k)
        hi_r = mid;
      else
        lo_r = mid + 1;
    }
    const int32_t l = std::max(0, i - lo_r), h = std::min(n, i + lo_r + 1);
    const double q = static_cast<double>(prefix_pos[h] - prefix_pos[l]) /
                     static_cast<double>(prefix_all[h] - prefix_all[l]);
    const double s = static_cast<double>(bins[i].positives + bins[i].negatives);
    exp_pos[i] = q * s;
    exp_neg[i] = s - q * s;
  }
  auto width_of = [&](int32_t i, const Bin& bin, double ep, double en) {
    return ExpectedWidth(static_cast<double>(above_pos[i]),
                         static_cast<double>(above_neg[i]), ep, en,
                         bin.level == 0);
  };
  std::vector<double> width(n);
  for (int32_t i = 0; i < n; ++i) {
    width[i] = width_of(i, bins[i], exp_pos[i], exp_neg[i]);
  }
  std::vector<int32_t> prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  // Bumped whenever a bin changes or is absorbed, to drop stale candidates.
  std::vector<uint32_t> stamp(n, 0);

  struct Candidate {
    double cost;
    int64_t samples;  // ties: keep bins balanced, merge small ones first
    int32_t left;
    uint32_t left_stamp;
    uint32_t right_stamp;
    bool operator>(const Candidate& o) const {
      return cost != o.cost ? cost > o.cost : samples > o.samples;
    }
  };
  auto merged_bin = [&](int32_t i) {
    const int32_t j = next[i];
    const int level = AncestorLevel(bins[i], bins[j]);
    return Bin{.lo = bins[i].lo & ~LowMask(level),
               .positives = bins[i].positives + bins[j].positives,
               .negatives = bins[i].negatives + bins[j].negatives,
               .level = level};
  };
  auto mergeable = [&](int32_t i) {
    const int32_t j = next[i];
    if (j < 0) return false;
    const int level = AncestorLevel(bins[i], bins[j]);
    return (prev[i] < 0 || AncestorLevel(bins[prev[i]], bins[i]) > level) &&
           (next[j] < 0 || AncestorLevel(bins[j], bins[next[j]]) > level);
  };
  auto candidate = [&](int32_t i) {
    const int32_t j = next[i];
    const Bin merged = merged_bin(i);
    // The merged bin sits where j did: below the same bins.
    const double cost =
        width_of(j, merged, exp_pos[i] + exp_pos[j], exp_neg[i] + exp_neg[j]) -
        width[i] - width[j];
    return Candidate{.cost = cost,
                     .samples = merged.positives + merged.negatives,
                     .left = i,
                     .left_stamp = stamp[i],
                     .right_stamp = stamp[j]};
  };

  std::vector<Candidate> initial;
  for (int32_t i = 0; i < n; ++i) {
    if (mergeable(i)) initial.push_back(candidate(i));
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap(
      std::greater<>(), std::move(initial));
  size_t remaining = bins.size();
  while (remaining > max_bins && !heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int32_t i = c.left;
    const int32_t j = next[i];
    if (j < 0 || stamp[i] != c.left_stamp || stamp[j] != c.right_stamp) {
      continue;
    }
    if (getenv("TRACE_MERGE") && KeyScore(bins[i].lo) > 2.5)
      printf(
          "recomputed %.3g merge cost %.3g remaining %zu [%g..] a %ld+%ld b "
          "%ld+%ld ep %.3g+%.3g w %.3g %.3g T %ld F %ld\n",
          candidate(i).cost, c.cost, remaining, KeyScore(bins[i].lo),
          bins[i].positives, bins[next[i]].positives, bins[i].negatives,
          bins[next[i]].negatives, exp_pos[i], exp_pos[next[i]], width[i],
          width[next[i]], above_pos[next[i]], above_neg[next[i]]);
    bins[i] = merged_bin(i);
    above_pos[i] = above_pos[j];
    above_neg[i] = above_neg[j];
    exp_pos[i] += exp_pos[j];
    exp_neg[i] += exp_neg[j];
    width[i] = width_of(i, bins[i], exp_pos[i], exp_neg[i]);
    ++stamp[i];
    ++stamp[j];
    next[i] = next[j];
    if (next[i] >= 0) prev[next[i]] = i;
    --remaining;
    if (prev[i] >= 0 && mergeable(prev[i])) heap.push(candidate(prev[i]));
    if (mergeable(i)) heap.push(candidate(i));
  }
  // The lowest bin only ever absorbs, so it heads the list.
  std::vector<Bin> out;
  out.reserve(remaining);
  for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(bins[i]);
  return out;
}

}  // namespace

void SetSmoothK(int k) { g_smooth_k = k; }
AveragePrecisionHistogram::AveragePrecisionHistogram(size_t max_bytes)
    : max_bins_(std::max<size_t>(1, max_bytes / sizeof(Bin))) {}

void AveragePrecisionHistogram::Add(absl::Span<const double> scores,
                                    absl::Span<const uint8_t> is_positive) {
  assert(scores.size() == is_positive.size());
  const size_t n = std::min(scores.size(), is_positive.size());
  if (n == 0) return;
  scores = scores.first(n);
  is_positive = is_positive.first(n);
  for (const uint8_t positive : is_positive) {
    ++(positive ? positives_ : negatives_);
  }
  Adopt(Unite(bins_, BatchBins(scores, is_positive)));
}

void AveragePrecisionHistogram::Merge(const AveragePrecisionHistogram& other) {
  std::vector<Bin> united = Unite(bins_, other.bins_);
  positives_ += other.positives_;
  negatives_ += other.negatives_;
  Adopt(std::move(united));
}

void AveragePrecisionHistogram::Adopt(std::vector<Bin> bins) {
  if (bins.size() > max_bins_) {
    bins_ = Compact(std::move(bins), max_bins_);
  } else if (bins.capacity() > max_bins_) {
    bins_.assign(bins.begin(), bins.end());
    if (bins_.capacity() > max_bins_) bins_.shrink_to_fit();
  } else {
    bins_ = std::move(bins);
  }
}

ClassAveragePrecision AveragePrecisionHistogram::Compute() const {
  ClassAveragePrecision result;
  result.positives = positives_;
  result.negatives = negatives_;
  result.exact = false;
  result.defined = positives_ > 0;
  if (!result.defined) return result;
  double lower = 0.0, estimate = 0.0, upper = 0.0;
  int64_t t = 0, f = 0;
  for (auto bin = bins_.rbegin(); bin != bins_.rend(); ++bin) {
    const Contribution c = BinContribution(t, f, *bin);
    lower += c.lower;
    estimate += c.estimate;
    upper += c.upper;
    t += bin->positives;
    f += bin->negatives;
  }
  const double total = static_cast<double>(positives_);
  result.lower = std::max(0.0, lower / total - kRoundingSlack);
  result.upper = std::min(1.0, upper / total + kRoundingSlack);
  result.estimate = std::clamp(estimate / total, result.lower, result.upper);
  return result;
}

PrecisionRecallPoints AveragePrecisionHistogram::Curve(
    size_t max_points) const {
  PrecisionRecallPoints curve;
  if (positives_ == 0) return curve;
  const size_t n = bins_.size();
  const size_t m = std::min(n, std::max<size_t>(max_points, 2));
  curve.thresholds.reserve(m);
  curve.precision.reserve(m);
  curve.recall.reserve(m);
  // Keeps points k * (n - 1) / (m - 1) for k = 0..m-1: evenly spread over
  // the bins, which are dense where AP is sensitive, and always the last.
  size_t k = 0;
  int64_t tp = 0, fp = 0;
  for (size_t index = 0; index < n; ++index) {
    const Bin& bin = bins_[n - 1 - index];
    tp += bin.positives;
    fp += bin.negatives;
    if (m > 1 && index != k * (n - 1) / (m - 1)) continue;
    ++k;
    curve.thresholds.push_back(KeyScore(bin.lo));
    curve.precision.push_back(static_cast<double>(tp) /
                              static_cast<double>(tp + fp));
    curve.recall.push_back(static_cast<double>(tp) /
                           static_cast<double>(positives_));
  }
  return curve;
}

size_t AveragePrecisionHistogram::MemoryBytes() const {
  return bins_.capacity() * sizeof(Bin);
}

}  // namespace focalmetrics
#include <cstdio>
namespace focalmetrics {
void DebugDump(const std::vector<ap_internal::HistogramBin>& bins, int64_t P) {
  int64_t t = 0, f = 0;
  struct Row {
    double w;
    int64_t t, f, a, b;
    int level;
    double lo, hi;
  };
  std::vector<Row> rows;
  for (auto it = bins.rbegin(); it != bins.rend(); ++it) {
    double w = Width(t, f, *it) / P;
    rows.push_back({w, t, f, it->positives, it->negatives, it->level,
                    KeyScore(it->lo), KeyScore(Hi(*it))});
    t += it->positives;
    f += it->negatives;
  }
  double total = 0;
  for (auto& r : rows) total += r.w;
  printf("bins %zu total width %.4g\n", rows.size(), total);
  auto sorted = rows;
  std::sort(sorted.begin(), sorted.end(),
            [](auto& x, auto& y) { return x.w > y.w; });
  for (int i = 0; i < 15 && i < (int)sorted.size(); ++i) {
    auto& r = sorted[i];
    printf("  w %.3g T %ld F %ld a %ld b %ld lvl %d [%.5g, %.5g]\n", r.w, r.t,
           r.f, r.a, r.b, r.level, r.lo, r.hi);
  }
  // width by score decile region
  int64_t nneg = 0, npos = 0, nmix = 0;
  for (auto& r : rows) {
    if (r.a == 0)
      nneg++;
    else if (r.b == 0)
      npos++;
    else
      nmix++;
  }
  printf("  neg-only %ld pos-only %ld mixed %ld\n", nneg, npos, nmix);
}
}  // namespace focalmetrics
namespace focalmetrics {
void DebugTop(const std::vector<ap_internal::HistogramBin>& bins, int k) {
  int c = 0;
  for (auto it = bins.rbegin(); it != bins.rend() && c < k; ++it, ++c)
    printf("   a %ld b %ld lvl %d [%.5g, %.5g]\n", it->positives, it->negatives,
           it->level, KeyScore(it->lo), KeyScore(Hi(*it)));
}
}  // namespace focalmetrics
