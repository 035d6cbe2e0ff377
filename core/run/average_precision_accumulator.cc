#include "core/run/average_precision_accumulator.h"

#include <algorithm>
#include <cmath>

#include "core/status_macros.h"

namespace focalmetrics {
namespace {

// Log-odds of probabilities 0 and 1 are infinite; these stand for them and
// keep the order.
constexpr double kMaxLogOdds = 800.0;

// Bytes a staged sample takes: its key and its label.
constexpr size_t kStagedSampleBytes = sizeof(double) + sizeof(uint8_t);

// Of the bytes a class may use in histogram mode, the stage takes a quarter
// and the histogram's bins the rest.
size_t HistogramShare(size_t bytes) { return bytes - bytes / 4; }
size_t StageSamples(size_t histogram_bytes) {
  return std::max<size_t>(1, histogram_bytes / 3 / kStagedSampleBytes);
}

double Sigmoid(double x) {
  return x >= 0 ? 1.0 / (1.0 + std::exp(-x))
                : std::exp(x) / (1.0 + std::exp(x));
}

}  // namespace

AveragePrecisionAccumulator::AveragePrecisionAccumulator(ScoreSpace space)
    : space_(space) {}

double AveragePrecisionAccumulator::HistogramKey(double score) const {
  if (space_ == ScoreSpace::kLogit) return score;
  return std::clamp(std::log(score) - std::log1p(-score), -kMaxLogOdds,
                    kMaxLogOdds);
}

void AveragePrecisionAccumulator::Add(absl::Span<const double> scores,
                                      absl::Span<const uint8_t> is_positive) {
  if (exact()) {
    exact_.Add(scores, is_positive);
    return;
  }
  if (staged_keys_.capacity() == 0) {  // allocated once, at its final size
    staged_keys_.reserve(stage_capacity_);
    staged_labels_.reserve(stage_capacity_);
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    staged_keys_.push_back(HistogramKey(scores[i]));
    staged_labels_.push_back(is_positive[i]);
    if (staged_keys_.size() == stage_capacity_) Fold();
  }
}

void AveragePrecisionAccumulator::Fold() const {
  if (staged_keys_.empty()) return;
  histogram_->Add(staged_keys_, staged_labels_);
  staged_keys_.clear();
  staged_labels_.clear();
}

size_t AveragePrecisionAccumulator::MemoryBytes() const {
  if (exact()) return exact_.MemoryBytes();
  return histogram_->MemoryBytes() + staged_keys_.capacity() * sizeof(double) +
         staged_labels_.capacity();
}

void AveragePrecisionAccumulator::SwitchToHistogram(size_t bytes) {
  if (!exact()) return;
  histogram_ =
      std::make_unique<AveragePrecisionHistogram>(HistogramShare(bytes));
  stage_capacity_ = StageSamples(histogram_->max_bytes());
  // One Add with both labels: added apart, the positives alone would let the
  // histogram merge their bins for free before the negatives arrive.
  const absl::Span<const double> positives = exact_.SortedPositives();
  const absl::Span<const double> negatives = exact_.SortedNegatives();
  std::vector<double> keys;
  keys.reserve(positives.size() + negatives.size());
  for (double score : positives) keys.push_back(HistogramKey(score));
  for (double score : negatives) keys.push_back(HistogramKey(score));
  std::vector<uint8_t> labels(keys.size(), 0);
  std::fill_n(labels.begin(), positives.size(), 1);
  histogram_->Add(keys, labels);
  exact_ = ExactAveragePrecision();
}

ClassAveragePrecision AveragePrecisionAccumulator::Compute() const {
  if (exact()) return exact_.Compute();
  Fold();
  return histogram_->Compute();
}

PrecisionRecallPoints AveragePrecisionAccumulator::Curve(
    size_t max_points) const {
  if (!exact()) Fold();
  PrecisionRecallPoints curve =
      exact() ? exact_.Curve(max_points) : histogram_->Curve(max_points);
  // Exact probabilities are already probabilities; logits and log-odds keys
  // are turned back into them.
  if (space_ == ScoreSpace::kLogit || !exact()) {
    for (double& threshold : curve.thresholds) threshold = Sigmoid(threshold);
  }
  return curve;
}

void AveragePrecisionAccumulator::AppendTo(std::string* out) const {
  ByteWriter w(out);
  w.PutU8(space_ == ScoreSpace::kLogit ? 0 : 1);
  w.PutU8(exact() ? 0 : 1);
  if (exact()) {
    w.PutDoubles(exact_.SortedPositives());
    w.PutDoubles(exact_.SortedNegatives());
  } else {
    Fold();
    histogram_->AppendTo(out);
  }
}

absl::StatusOr<AveragePrecisionAccumulator>
AveragePrecisionAccumulator::ReadFrom(ByteReader& in) {
  FM_ASSIGN_OR_RETURN(const uint8_t space, in.GetU8());
  FM_ASSIGN_OR_RETURN(const uint8_t mode, in.GetU8());
  if (space > 1 || mode > 1) {
    return absl::DataLossError("snapshot: unknown average-precision encoding");
  }
  AveragePrecisionAccumulator out(space == 0 ? ScoreSpace::kLogit
                                             : ScoreSpace::kProbability);
  if (mode == 0) {
    FM_ASSIGN_OR_RETURN(const std::vector<double> positives, in.GetDoubles());
    FM_ASSIGN_OR_RETURN(const std::vector<double> negatives, in.GetDoubles());
    out.exact_.Add(positives, std::vector<uint8_t>(positives.size(), 1));
    out.exact_.Add(negatives, std::vector<uint8_t>(negatives.size(), 0));
    return out;
  }
  absl::string_view rest = in.remaining();
  const size_t before = rest.size();
  FM_ASSIGN_OR_RETURN(AveragePrecisionHistogram histogram,
                      AveragePrecisionHistogram::ReadFrom(&rest));
  in.Skip(before - rest.size());
  out.stage_capacity_ = StageSamples(histogram.max_bytes());
  out.histogram_ =
      std::make_unique<AveragePrecisionHistogram>(std::move(histogram));
  return out;
}

ClassAveragePrecision AveragePrecisionAccumulator::Pooled(
    absl::Span<const AveragePrecisionAccumulator* const> classes,
    size_t histogram_bytes) {
  const bool all_exact = std::all_of(classes.begin(), classes.end(),
                                     [](const auto* c) { return c->exact(); });
  if (all_exact) {
    std::vector<const ExactAveragePrecision*> parts;
    for (const auto* c : classes) parts.push_back(&c->exact_);
    return PooledAveragePrecision(parts);
  }
  AveragePrecisionHistogram pooled(histogram_bytes);
  for (const auto* c : classes) {
    if (c->exact()) {
      AveragePrecisionAccumulator copy(c->space_);
      copy.exact_.Merge(c->exact_);
      copy.SwitchToHistogram(histogram_bytes);
      pooled.Merge(*copy.histogram_);
    } else {
      c->Fold();
      pooled.Merge(*c->histogram_);
    }
  }
  return pooled.Compute();
}

}  // namespace focalmetrics
