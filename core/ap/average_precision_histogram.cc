#include "core/ap/average_precision_histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/status_macros.h"

namespace focalmetrics {
namespace {

// Samples whose score key lies in [lo, lo + 2^level - 1]; the low `level`
// bits of lo are zero.
struct Bin {
  uint64_t lo;
  int64_t positives;
  int64_t negatives;
  int level;
};

constexpr uint64_t kSignBit = uint64_t{1} << 63;

// Absorbs rounding in our sums and in any reasonable summation of the exact
// AP over up to ~10^6 tie groups, so the bounds hold for computed values.
constexpr double kRoundingSlack = 1e-10;

// Compact() estimates a bin's positive rate from a window of neighbouring
// bins holding this many positives: enough to smooth out the few positives
// of a bin, few enough to follow the rate as it changes along the scores
// (16 beat 8, 32, 64 and 128 on the acceptance stream and other seeds).
constexpr int64_t kWindowPositives = 16;

// Compaction goes this fraction of the budget below it, so that it runs once
// per ~1/16 of the budget of new bins, not on every small Add; a deeper
// margin only costs resolution.
constexpr size_t kCompactionMarginDivisor = 16;

// Order-preserving image of a score: ScoreKey(x) < ScoreKey(y) iff x < y, and
// equal keys iff equal scores (-0 and +0 are one score, as in a sort). Exact,
// so a one-key bin is one tie group, and no score range can overflow it.
constexpr uint64_t ScoreKey(double score) {
  const uint64_t bits = std::bit_cast<uint64_t>(score + 0.0);  // -0 -> +0
  return (bits & kSignBit) ? ~bits : bits | kSignBit;
}

double KeyScore(uint64_t key) {
  // A coarse bin's lower edge may fall among the NaN patterns below -inf;
  // the lowest finite score is an equally good threshold for it.
  constexpr uint64_t kLowest = ScoreKey(std::numeric_limits<double>::lowest());
  constexpr uint64_t kHighest = ScoreKey(std::numeric_limits<double>::max());
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

// ---------------------------------------------------------------------------
// Bounds.

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

// What a bin adds to AP * positives, given `t` positives and `f` negatives
// in the bins above it. scikit-learn credits every positive of a tie group
// with the precision at the group's end; within a bin the order and ties
// are unknown, so take the extremes.
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
  // All of the bin tied.
  const double estimate = static_cast<double>(a) * ratio(t + a, t + a + f + b);
  if (bin.level == 0) return {estimate, estimate, estimate};  // one score
  // Best: the positives rank above the negatives, as one tie group. No
  // positive's group can end with more positives or fewer negatives.
  const double upper = static_cast<double>(a) * ratio(t + a, t + a + f);
  // Worst: the negatives first, then the positives one by one. The r-th
  // positive's group ends with >= r positives and <= b negatives.
  const int64_t g = f + b;
  double lower;
  if (g == 0) {
    lower = static_cast<double>(a);
  } else if (a <= 256) {
    lower = 0.0;
    for (int64_t r = 1; r <= a; ++r) lower += ratio(t + r, t + r + g);
  } else {  // sum_r (t+r)/(t+r+g) = a - g * sum_r 1/(t+r+g)
    lower = static_cast<double>(a) -
            static_cast<double>(g) * HarmonicRange(t + g, t + g + a);
  }
  return {std::min(lower, estimate), estimate, std::max(upper, estimate)};
}

// ---------------------------------------------------------------------------
// Encoding, by increasing score: per bin its level (1 byte), then varints
// of its gap after the previous bin, its positives and its negatives. Most
// bins take 4-8 bytes, against 32 for the struct.

size_t VarintBytes(uint64_t value) {
  return 1 + (std::bit_width(value | 1) - 1) / 7;
}

void PutVarint(uint64_t value, uint8_t*& p) {
  for (; value >= 0x80; value >>= 7) *p++ = static_cast<uint8_t>(value | 0x80);
  *p++ = static_cast<uint8_t>(value);
}

uint64_t GetVarint(const uint8_t*& p) {
  uint64_t value = 0;
  for (int shift = 0;; shift += 7) {
    const uint8_t byte = *p++;
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) return value;
  }
}

// Where a bin of `level` at or after key `free` (the first key after the
// previous bin) may start. Such a bin exists, so this cannot overflow.
uint64_t AlignUp(uint64_t free, int level) {
  const uint64_t mask = LowMask(level);
  return (free + mask) & ~mask;
}

// The gap before a bin, in units of its own size: small, as neighbouring
// bins have similar sizes. (A level-64 bin is the only bin.)
uint64_t GapUnits(uint64_t free, const Bin& bin) {
  return bin.level >= 64 ? 0 : (bin.lo - AlignUp(free, bin.level)) >> bin.level;
}

size_t EncodedBytes(uint64_t free, const Bin& bin) {
  return 1 + VarintBytes(GapUnits(free, bin)) +
         VarintBytes(static_cast<uint64_t>(bin.positives)) +
         VarintBytes(static_cast<uint64_t>(bin.negatives));
}

// Exactly sized: its capacity is what MemoryBytes() reports.
std::vector<uint8_t> Encode(absl::Span<const Bin> bins) {
  size_t bytes = 0;
  uint64_t free = 0;
  for (const Bin& bin : bins) {
    bytes += EncodedBytes(free, bin);
    free = Hi(bin) + 1;
  }
  std::vector<uint8_t> out(bytes);
  uint8_t* p = out.data();
  free = 0;
  for (const Bin& bin : bins) {
    *p++ = static_cast<uint8_t>(bin.level);
    PutVarint(GapUnits(free, bin), p);
    PutVarint(static_cast<uint64_t>(bin.positives), p);
    PutVarint(static_cast<uint64_t>(bin.negatives), p);
    free = Hi(bin) + 1;
  }
  return out;
}

// Calls visit(bin) for each bin by increasing score.
template <typename Visit>
void ForEachBin(absl::Span<const uint8_t> encoded, Visit visit) {
  const uint8_t* p = encoded.data();
  const uint8_t* const end = p + encoded.size();
  uint64_t free = 0;
  while (p < end) {
    Bin bin;
    bin.level = *p++;
    const uint64_t units = GetVarint(p);
    bin.lo =
        bin.level >= 64 ? 0 : AlignUp(free, bin.level) + (units << bin.level);
    bin.positives = static_cast<int64_t>(GetVarint(p));
    bin.negatives = static_cast<int64_t>(GetVarint(p));
    free = Hi(bin) + 1;
    visit(bin);
  }
}

std::vector<Bin> Decode(absl::Span<const uint8_t> encoded, size_t count) {
  std::vector<Bin> bins;
  bins.reserve(count);
  ForEachBin(encoded, [&](const Bin& bin) { bins.push_back(bin); });
  return bins;
}

// ---------------------------------------------------------------------------
// Snapshots: varints of the encoding version, max_bytes, positives,
// negatives, bin count and the length of the bins' encoding, then that
// encoding (as above). Varints are little-endian base 128, as in protobuf.

constexpr uint64_t kEncodingVersion = 1;

// Per bin: a level byte and three one-byte varints at least.
constexpr size_t kMinBinBytes = 4;

constexpr uint64_t kMaxKey = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kMaxCount =
    static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

void AppendVarint(uint64_t value, std::string* out) {
  uint8_t buffer[10];
  uint8_t* end = buffer;
  PutVarint(value, end);
  out->append(reinterpret_cast<const char*>(buffer), end - buffer);
}

// GetVarint() for untrusted bytes: false if the varint runs past the end of
// *in or does not fit 64 bits.
bool ReadVarint(absl::string_view* in, uint64_t* value) {
  *value = 0;
  for (size_t i = 0; i < in->size() && i < 10; ++i) {
    const uint8_t byte = static_cast<uint8_t>((*in)[i]);
    if (i == 9 && byte > 1) return false;  // bits beyond the 64th
    *value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      in->remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

absl::Status SnapshotError(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("AveragePrecisionHistogram snapshot: ", what));
}

// Decode() for untrusted bytes, checking what Decode() takes for granted:
// that every bin is whole, has a level of at most 64, holds samples, and
// lies after the previous one and within the keys (a gap that wraps around
// would put it out of order).
absl::StatusOr<std::vector<Bin>> DecodeUntrusted(absl::string_view encoded) {
  std::vector<Bin> bins;
  bins.reserve(encoded.size() / kMinBinBytes);
  uint64_t free = 0;
  bool at_top = false;  // the previous bin ends at the highest key
  while (!encoded.empty()) {
    if (at_top) return SnapshotError("a bin past the highest score");
    Bin bin;
    bin.level = static_cast<uint8_t>(encoded.front());
    encoded.remove_prefix(1);
    uint64_t units, positives, negatives;
    if (!ReadVarint(&encoded, &units) || !ReadVarint(&encoded, &positives) ||
        !ReadVarint(&encoded, &negatives)) {
      return SnapshotError("a truncated bin");
    }
    if (bin.level > 64) {
      return SnapshotError(absl::StrCat("a bin of level ", bin.level));
    }
    if (bin.level == 64) {  // the whole key range: the only bin
      if (!bins.empty() || units != 0) {
        return SnapshotError("a level-64 bin that is not the only bin");
      }
      bin.lo = 0;
    } else {
      const uint64_t mask = LowMask(bin.level);
      if (free > kMaxKey - mask) {
        return SnapshotError("a bin past the highest score");
      }
      const uint64_t start = AlignUp(free, bin.level);
      if (units > (kMaxKey - start) >> bin.level) {
        return SnapshotError("a bin past the highest score");
      }
      bin.lo = start + (units << bin.level);
    }
    if (positives > kMaxCount || negatives > kMaxCount) {
      return SnapshotError("a bin count above 2^63 - 1");
    }
    if (positives == 0 && negatives == 0) {
      return SnapshotError("an empty bin");
    }
    bin.positives = static_cast<int64_t>(positives);
    bin.negatives = static_cast<int64_t>(negatives);
    at_top = Hi(bin) == kMaxKey;
    free = Hi(bin) + 1;
    bins.push_back(bin);
  }
  return bins;
}

// ---------------------------------------------------------------------------
// Building and merging bins.

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

// A smooth stand-in for a bin's width (upper - lower contributions) when it
// holds a positives and b negatives in expectation.
double ExpectedWidth(double t, double f, double a, double b) {
  if (a <= 0.0) return 0.0;
  const double upper = a * (t + a) / (t + a + f);
  const double g = f + b;
  // sum_{r=1}^{a} (t+r)/(t+r+g) = a - g * sum_r 1/(t+r+g), the sum ~ a log.
  const double lower =
      g <= 0.0 ? a : a - g * std::log((t + g + a + 0.5) / (t + g + 0.5));
  return std::max(0.0, upper - lower);
}

// Merges neighbouring bins, cheapest first, until their encoding fits
// max_bytes, less a margin. The cost of a merge is how much it widens the
// bounds -- not over the samples the bins hold now, but over those they are
// expected to hold: a bin is never split again, and every later sample whose
// score falls in its interval joins it. Two negative-only bins merge for
// free today, yet high in the ranking they soon hold positives too; a
// greedy on today's counts coarsens the top early and the stream's width
// ends 20x wider. So each bin's positives are estimated as its samples times
// the positive rate of a window of neighbouring bins. A bin's width depends
// only on its own counts and the counts above it, which merging elsewhere
// does not change, so a candidate's cost stays valid until one of its two
// bins changes.
//
// Only a pair whose smallest enclosing dyadic interval holds no third bin
// may merge (the result must stay dyadic); merging it leaves its
// neighbours' enclosing intervals as they were. O(n log n).
std::vector<Bin> Compact(std::vector<Bin> bins, size_t max_bytes) {
  const int32_t n = static_cast<int32_t>(bins.size());
  auto free_after = [&](int32_t k) { return k < 0 ? 0 : Hi(bins[k]) + 1; };
  std::vector<size_t> bytes(n);
  size_t total_bytes = 0;
  for (int32_t k = 0; k < n; ++k) {
    bytes[k] = EncodedBytes(free_after(k - 1), bins[k]);
    total_bytes += bytes[k];
  }
  if (total_bytes <= max_bytes) return bins;
  const size_t target_bytes = max_bytes - max_bytes / kCompactionMarginDivisor;

  std::vector<int64_t> prefix_pos(n + 1, 0), prefix_all(n + 1, 0);
  for (int32_t k = 0; k < n; ++k) {
    prefix_pos[k + 1] = prefix_pos[k] + bins[k].positives;
    prefix_all[k + 1] = prefix_all[k] + bins[k].positives + bins[k].negatives;
  }
  // Counts above each bin, and its expected positives and negatives.
  std::vector<double> above_pos(n), above_neg(n), exp_pos(n), exp_neg(n);
  for (int32_t k = 0; k < n; ++k) {
    above_pos[k] = static_cast<double>(prefix_pos[n] - prefix_pos[k + 1]);
    above_neg[k] = static_cast<double>((prefix_all[n] - prefix_all[k + 1]) -
                                       (prefix_pos[n] - prefix_pos[k + 1]));
    auto window = [&](int32_t r) {
      return std::pair(std::max(0, k - r), std::min(n, k + r + 1));
    };
    int32_t lo = 0, hi = n;  // smallest radius holding enough positives
    while (lo < hi) {
      const int32_t mid = lo + (hi - lo) / 2;
      const auto [l, h] = window(mid);
      if (prefix_pos[h] - prefix_pos[l] >= kWindowPositives) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    const auto [l, h] = window(lo);
    // Laplace's rule of succession: a window of positives only still
    // expects a negative now and then, and one landing among many merged
    // positives at the top would cost much.
    const double rate =
        (static_cast<double>(prefix_pos[h] - prefix_pos[l]) + 1.0) /
        (static_cast<double>(prefix_all[h] - prefix_all[l]) + 2.0);
    const double samples =
        static_cast<double>(bins[k].positives + bins[k].negatives);
    exp_pos[k] = rate * samples;
    exp_neg[k] = samples - exp_pos[k];
  }
  // One-score bins are exact, whatever they will hold.
  auto width = [&](int32_t k, const Bin& bin, double pos, double neg) {
    return bin.level == 0 ? 0.0
                          : ExpectedWidth(above_pos[k], above_neg[k], pos, neg);
  };
  std::vector<double> widths(n);
  for (int32_t k = 0; k < n; ++k) {
    widths[k] = width(k, bins[k], exp_pos[k], exp_neg[k]);
  }

  std::vector<int32_t> prev(n), next(n);
  for (int32_t k = 0; k < n; ++k) {
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  // Bumped whenever a bin changes or is absorbed, to drop stale candidates.
  std::vector<uint32_t> stamp(n, 0);
  struct Candidate {
    double cost;
    int32_t left;
    uint32_t left_stamp;
    uint32_t right_stamp;
    bool operator>(const Candidate& o) const { return cost > o.cost; }
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
    // The merged bin sits where j did: below the same bins.
    const double merged = width(j, merged_bin(i), exp_pos[i] + exp_pos[j],
                                exp_neg[i] + exp_neg[j]);
    return Candidate{.cost = merged - widths[i] - widths[j],
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
  // Each merge drops a whole encoded bin and can only shorten its
  // neighbours' gaps, so it saves bytes; with two bins or more some pair is
  // always mergeable.
  size_t remaining = bins.size();
  while (total_bytes > target_bytes && !heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int32_t i = c.left;
    const int32_t j = next[i];
    if (j < 0 || stamp[i] != c.left_stamp || stamp[j] != c.right_stamp) {
      continue;
    }
    bins[i] = merged_bin(i);
    above_pos[i] = above_pos[j];
    above_neg[i] = above_neg[j];
    exp_pos[i] += exp_pos[j];
    exp_neg[i] += exp_neg[j];
    widths[i] = width(i, bins[i], exp_pos[i], exp_neg[i]);
    ++stamp[i];
    ++stamp[j];
    next[i] = next[j];
    --remaining;
    total_bytes -= bytes[i] + bytes[j];
    bytes[i] = EncodedBytes(free_after(prev[i]), bins[i]);
    total_bytes += bytes[i];
    if (const int32_t k = next[i]; k >= 0) {
      prev[k] = i;
      total_bytes -= bytes[k];
      bytes[k] = EncodedBytes(free_after(i), bins[k]);
      total_bytes += bytes[k];
    }
    if (prev[i] >= 0 && mergeable(prev[i])) heap.push(candidate(prev[i]));
    if (mergeable(i)) heap.push(candidate(i));
  }
  // The lowest bin only ever absorbs, so it heads the list.
  std::vector<Bin> out;
  out.reserve(remaining);
  for (int32_t k = 0; k >= 0; k = next[k]) out.push_back(bins[k]);
  return out;
}

}  // namespace

AveragePrecisionHistogram::AveragePrecisionHistogram(size_t max_bytes)
    : max_bytes_(std::max(max_bytes, kMinMaxBytes)) {}

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
  const std::vector<Bin> bins =
      Compact(Unite(Decode(bins_, bin_count_), BatchBins(scores, is_positive)),
              max_bytes_);
  bin_count_ = bins.size();
  bins_ = Encode(bins);
}

void AveragePrecisionHistogram::Merge(const AveragePrecisionHistogram& other) {
  const std::vector<Bin> bins = Compact(
      Unite(Decode(bins_, bin_count_), Decode(other.bins_, other.bin_count_)),
      max_bytes_);
  positives_ += other.positives_;
  negatives_ += other.negatives_;
  bin_count_ = bins.size();
  bins_ = Encode(bins);
}

ClassAveragePrecision AveragePrecisionHistogram::Compute() const {
  ClassAveragePrecision result;
  result.positives = positives_;
  result.negatives = negatives_;
  result.exact = false;
  result.defined = positives_ > 0;
  if (!result.defined) return result;
  // By increasing score; what lies above a bin is the total minus what has
  // been seen up to and including it.
  double lower = 0.0, estimate = 0.0, upper = 0.0;
  int64_t seen_pos = 0, seen_neg = 0;
  ForEachBin(bins_, [&](const Bin& bin) {
    seen_pos += bin.positives;
    seen_neg += bin.negatives;
    const Contribution c =
        BinContribution(positives_ - seen_pos, negatives_ - seen_neg, bin);
    lower += c.lower;
    estimate += c.estimate;
    upper += c.upper;
  });
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
  const std::vector<Bin> bins = Decode(bins_, bin_count_);
  const size_t n = bins.size();
  const size_t m = std::min(n, std::max<size_t>(max_points, 2));
  curve.thresholds.reserve(m);
  curve.precision.reserve(m);
  curve.recall.reserve(m);
  // Points k * (n - 1) / (m - 1), k = 0..m-1: spread evenly over the bins,
  // which are dense where AP is sensitive, and always the last.
  size_t k = 0;
  int64_t tp = 0, fp = 0;
  for (size_t index = 0; index < n; ++index) {
    const Bin& bin = bins[n - 1 - index];
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

void AveragePrecisionHistogram::AppendTo(std::string* out) const {
  AppendVarint(kEncodingVersion, out);
  AppendVarint(max_bytes_, out);
  AppendVarint(static_cast<uint64_t>(positives_), out);
  AppendVarint(static_cast<uint64_t>(negatives_), out);
  AppendVarint(bin_count_, out);
  AppendVarint(bins_.size(), out);
  out->append(reinterpret_cast<const char*>(bins_.data()), bins_.size());
}

absl::StatusOr<AveragePrecisionHistogram> AveragePrecisionHistogram::ReadFrom(
    absl::string_view* in) {
  if (in == nullptr) {
    return absl::InvalidArgumentError(
        "AveragePrecisionHistogram::ReadFrom: null input");
  }
  absl::string_view rest = *in;
  uint64_t version;
  if (!ReadVarint(&rest, &version)) return SnapshotError("truncated");
  if (version != kEncodingVersion) {
    return SnapshotError(absl::StrCat("unknown encoding version ", version,
                                      " (this build reads version ",
                                      kEncodingVersion, ")"));
  }
  uint64_t max_bytes, positives, negatives, bin_count, encoded_bytes;
  if (!ReadVarint(&rest, &max_bytes) || !ReadVarint(&rest, &positives) ||
      !ReadVarint(&rest, &negatives) || !ReadVarint(&rest, &bin_count) ||
      !ReadVarint(&rest, &encoded_bytes)) {
    return SnapshotError("truncated");
  }
  if (max_bytes < kMinMaxBytes) {
    return SnapshotError(absl::StrCat("a budget of ", max_bytes,
                                      " bytes, below the minimum of ",
                                      kMinMaxBytes));
  }
  if (max_bytes > std::numeric_limits<size_t>::max()) {
    return SnapshotError(absl::StrCat("a budget of ", max_bytes,
                                      " bytes, more than this platform has"));
  }
  if (encoded_bytes > max_bytes) {
    return SnapshotError(absl::StrCat(encoded_bytes, " bytes of bins over a ",
                                      max_bytes, "-byte budget"));
  }
  if (encoded_bytes > rest.size()) return SnapshotError("truncated");
  if (positives > kMaxCount || negatives > kMaxCount - positives) {
    return SnapshotError("more than 2^63 - 1 samples");
  }
  const absl::string_view encoded = rest.substr(0, encoded_bytes);
  FM_ASSIGN_OR_RETURN(std::vector<Bin> bins, DecodeUntrusted(encoded));
  if (bins.size() != bin_count) {
    return SnapshotError(
        absl::StrCat(bins.size(), " bins where ", bin_count, " were recorded"));
  }
  // Each bin's counts are at most 2^63 - 1, so the sums stop before they
  // could wrap.
  uint64_t positives_seen = 0, negatives_seen = 0;
  for (const Bin& bin : bins) {
    positives_seen += static_cast<uint64_t>(bin.positives);
    negatives_seen += static_cast<uint64_t>(bin.negatives);
    if (positives_seen > positives || negatives_seen > negatives) break;
  }
  if (positives_seen != positives || negatives_seen != negatives) {
    return SnapshotError("bins that do not add up to the counts");
  }

  AveragePrecisionHistogram histogram(static_cast<size_t>(max_bytes));
  histogram.positives_ = static_cast<int64_t>(positives);
  histogram.negatives_ = static_cast<int64_t>(negatives);
  histogram.bin_count_ = bins.size();
  histogram.bins_ = Encode(bins);
  // One encoding per histogram, so that the restored histogram's
  // MemoryBytes() and later Adds are the original's, and over-long varints
  // (which GetVarint() would misread) are refused.
  if (absl::string_view(reinterpret_cast<const char*>(histogram.bins_.data()),
                        histogram.bins_.size()) != encoded) {
    return SnapshotError("bins not in their canonical encoding");
  }
  if (histogram.MemoryBytes() > histogram.max_bytes_) {
    return SnapshotError("bins over the budget");
  }
  rest.remove_prefix(encoded_bytes);
  *in = rest;
  return histogram;
}

}  // namespace focalmetrics
