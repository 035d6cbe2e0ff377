// RunState's snapshot encoding: everything a restarted server needs to answer
// as the old one would have (metrics of the current and closed epochs, class
// counts for weights, and the per-worker seqs that make delivery
// exactly-once). Versioned by the snapshot file's header.
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/durability/byte_codec.h"
#include "core/run/run_state.h"
#include "core/status_macros.h"

namespace focalmetrics {
namespace {

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("snapshot: ", what));
}

void PutOptional(ByteWriter& w, const std::optional<double>& value) {
  w.PutU8(value.has_value());
  if (value.has_value()) w.PutDouble(*value);
}

absl::StatusOr<std::optional<double>> GetOptional(ByteReader& r) {
  FM_ASSIGN_OR_RETURN(const uint8_t present, r.GetU8());
  if (!present) return std::optional<double>();
  FM_ASSIGN_OR_RETURN(const double value, r.GetDouble());
  return std::optional<double>(value);
}

absl::StatusOr<LossKind> GetKind(ByteReader& r) {
  FM_ASSIGN_OR_RETURN(const uint8_t kind, r.GetU8());
  if (kind > static_cast<uint8_t>(LossKind::kRetinaNet))
    return Corrupt("unknown loss kind");
  return static_cast<LossKind>(kind);
}

void PutSpec(ByteWriter& w, const LossSpec& spec) {
  w.PutU8(static_cast<uint8_t>(spec.kind));
  w.PutString(spec.name);
  w.PutU8(static_cast<uint8_t>(spec.reduction));
  for (const auto* value :
       {&spec.alpha, &spec.gamma, &spec.beta, &spec.gamma_pos, &spec.gamma_neg,
        &spec.clip, &spec.ohem_ratio, &spec.smooth_l1_beta}) {
    PutOptional(w, *value);
  }
  w.PutDoubles(spec.class_alpha);
  w.PutSignedVector(spec.samples_per_class);
}

absl::StatusOr<LossSpec> GetSpec(ByteReader& r) {
  LossSpec spec;
  FM_ASSIGN_OR_RETURN(spec.kind, GetKind(r));
  FM_ASSIGN_OR_RETURN(spec.name, r.GetString());
  FM_ASSIGN_OR_RETURN(const uint8_t reduction, r.GetU8());
  if (reduction > static_cast<uint8_t>(Reduction::kNone))
    return Corrupt("unknown reduction");
  spec.reduction = static_cast<Reduction>(reduction);
  for (auto* value :
       {&spec.alpha, &spec.gamma, &spec.beta, &spec.gamma_pos, &spec.gamma_neg,
        &spec.clip, &spec.ohem_ratio, &spec.smooth_l1_beta}) {
    FM_ASSIGN_OR_RETURN(*value, GetOptional(r));
  }
  FM_ASSIGN_OR_RETURN(spec.class_alpha, r.GetDoubles());
  FM_ASSIGN_OR_RETURN(spec.samples_per_class, r.GetSignedVector());
  return spec;
}

void PutMetrics(ByteWriter& w, const RunMetricsSnapshot& m) {
  w.PutString(m.run);
  w.PutString(m.split);
  for (int64_t v : {m.epoch, m.step, m.samples, m.batches}) w.PutSigned(v);
  w.PutVarint(m.losses.size());
  for (const LossStatistics& loss : m.losses) {
    w.PutString(loss.name);
    w.PutU8(static_cast<uint8_t>(loss.kind));
    for (double v : {loss.last, loss.mean, loss.ema}) w.PutDouble(v);
  }
  const AveragePrecisionSummary& ap = m.average_precision;
  for (double v : {ap.macro, ap.micro, ap.weighted}) w.PutDouble(v);
  w.PutU8(ap.exact);
  w.PutVarint(ap.per_class.size());
  for (const ClassAveragePrecision& c : ap.per_class) {
    for (double v : {c.estimate, c.lower, c.upper}) w.PutDouble(v);
    w.PutSigned(c.positives);
    w.PutSigned(c.negatives);
    w.PutU8(c.defined);
    w.PutU8(c.exact);
  }
  w.PutVarint(m.classes.size());
  for (const ClassStatistics& c : m.classes) {
    w.PutSigned(c.class_id);
    w.PutSigned(c.positives);
    w.PutSigned(c.negatives);
    w.PutDouble(c.mean_probability);
  }
  PutSpec(w, m.recommendation.loss);
  w.PutString(m.recommendation.reason);
  w.PutVarint(m.recommendation.warnings.size());
  for (const std::string& warning : m.recommendation.warnings)
    w.PutString(warning);
  w.PutDouble(m.recommendation.imbalance_ratio);
}

absl::StatusOr<RunMetricsSnapshot> GetMetrics(ByteReader& r) {
  RunMetricsSnapshot m;
  FM_ASSIGN_OR_RETURN(m.run, r.GetString());
  FM_ASSIGN_OR_RETURN(m.split, r.GetString());
  for (int64_t* v : {&m.epoch, &m.step, &m.samples, &m.batches}) {
    FM_ASSIGN_OR_RETURN(*v, r.GetSigned());
  }
  FM_ASSIGN_OR_RETURN(const uint64_t losses, r.GetCount(26));
  for (uint64_t i = 0; i < losses; ++i) {
    LossStatistics loss;
    FM_ASSIGN_OR_RETURN(loss.name, r.GetString());
    FM_ASSIGN_OR_RETURN(loss.kind, GetKind(r));
    for (double* v : {&loss.last, &loss.mean, &loss.ema}) {
      FM_ASSIGN_OR_RETURN(*v, r.GetDouble());
    }
    m.losses.push_back(std::move(loss));
  }
  AveragePrecisionSummary& ap = m.average_precision;
  for (double* v : {&ap.macro, &ap.micro, &ap.weighted}) {
    FM_ASSIGN_OR_RETURN(*v, r.GetDouble());
  }
  FM_ASSIGN_OR_RETURN(const uint8_t exact, r.GetU8());
  ap.exact = exact;
  FM_ASSIGN_OR_RETURN(const uint64_t classes, r.GetCount(28));
  for (uint64_t i = 0; i < classes; ++i) {
    ClassAveragePrecision c;
    for (double* v : {&c.estimate, &c.lower, &c.upper}) {
      FM_ASSIGN_OR_RETURN(*v, r.GetDouble());
    }
    FM_ASSIGN_OR_RETURN(c.positives, r.GetSigned());
    FM_ASSIGN_OR_RETURN(c.negatives, r.GetSigned());
    FM_ASSIGN_OR_RETURN(const uint8_t defined, r.GetU8());
    FM_ASSIGN_OR_RETURN(const uint8_t class_exact, r.GetU8());
    c.defined = defined;
    c.exact = class_exact;
    ap.per_class.push_back(c);
  }
  FM_ASSIGN_OR_RETURN(const uint64_t stats, r.GetCount(11));
  for (uint64_t i = 0; i < stats; ++i) {
    ClassStatistics c;
    FM_ASSIGN_OR_RETURN(const int64_t id, r.GetSigned());
    c.class_id = static_cast<int32_t>(id);
    FM_ASSIGN_OR_RETURN(c.positives, r.GetSigned());
    FM_ASSIGN_OR_RETURN(c.negatives, r.GetSigned());
    FM_ASSIGN_OR_RETURN(c.mean_probability, r.GetDouble());
    m.classes.push_back(c);
  }
  FM_ASSIGN_OR_RETURN(m.recommendation.loss, GetSpec(r));
  FM_ASSIGN_OR_RETURN(m.recommendation.reason, r.GetString());
  FM_ASSIGN_OR_RETURN(const uint64_t warnings, r.GetCount(1));
  for (uint64_t i = 0; i < warnings; ++i) {
    FM_ASSIGN_OR_RETURN(std::string warning, r.GetString());
    m.recommendation.warnings.push_back(std::move(warning));
  }
  FM_ASSIGN_OR_RETURN(m.recommendation.imbalance_ratio, r.GetDouble());
  return m;
}

}  // namespace

RunState::SnapshotCoverage RunState::AppendSnapshot(std::string* out) const {
  absl::MutexLock lock(&mu_);
  ByteWriter w(out);
  w.PutString(run_);
  w.PutString(split_);
  w.PutU8(task_.has_value());
  w.PutU8(task_.has_value() ? static_cast<uint8_t>(*task_) : 0);
  w.PutSigned(num_classes_);
  w.PutU8(masks_);
  w.PutU8(exact_);
  w.PutVarint(highest_seq_.size());
  for (const auto& [worker, seq] : highest_seq_) {
    w.PutString(worker);
    w.PutVarint(seq);
  }
  w.PutSignedVector(run_positives_);
  w.PutSignedVector(run_negatives_);
  w.PutVarint(losses_in_use_.size());
  for (const auto& [name, spec] : losses_in_use_) {
    w.PutString(name);
    PutSpec(w, spec);
  }
  w.PutSigned(total_samples_);
  w.PutSigned(total_batches_);
  w.PutSigned(absl::ToUnixMicros(last_report_));
  // The current epoch.
  for (int64_t v :
       {current_.epoch, current_.step, current_.samples, current_.batches}) {
    w.PutSigned(v);
  }
  w.PutVarint(current_.losses.size());
  for (const auto& [name, acc] : current_.losses) {
    w.PutString(name);
    w.PutU8(static_cast<uint8_t>(acc.kind));
    w.PutDouble(acc.last);
    w.PutDouble(acc.sum);
    w.PutSigned(acc.count);
    w.PutDouble(acc.ema);
  }
  w.PutVarint(current_.classes.size());
  for (const ClassAccumulator& c : current_.classes) {
    w.PutSigned(c.positives);
    w.PutSigned(c.negatives);
    w.PutDouble(c.probability_sum);
  }
  w.PutVarint(current_.average_precision.size());
  for (const auto& ap : current_.average_precision) ap.AppendTo(out);
  w.PutVarint(closed_epochs_.size());
  for (const auto& [epoch, metrics] : closed_epochs_) {
    w.PutSigned(epoch);
    PutMetrics(w, metrics);
  }
  return {version_, highest_seq_};
}

absl::StatusOr<std::unique_ptr<RunState>> RunState::Restore(
    absl::string_view snapshot, RunLimits limits) {
  ByteReader r(snapshot);
  FM_ASSIGN_OR_RETURN(std::string run, r.GetString());
  FM_ASSIGN_OR_RETURN(std::string split, r.GetString());
  auto state =
      std::make_unique<RunState>(std::move(run), std::move(split), limits);
  RunState& s = *state;
  absl::MutexLock lock(&s.mu_);
  FM_ASSIGN_OR_RETURN(const uint8_t has_task, r.GetU8());
  FM_ASSIGN_OR_RETURN(const uint8_t task, r.GetU8());
  if (task > static_cast<uint8_t>(Task::kDetection))
    return Corrupt("unknown task");
  if (has_task) s.task_ = static_cast<Task>(task);
  FM_ASSIGN_OR_RETURN(s.num_classes_, r.GetSigned());
  if (s.num_classes_ < 0 || s.num_classes_ > (int64_t{1} << 24)) {
    return Corrupt("class count out of range");
  }
  FM_ASSIGN_OR_RETURN(const uint8_t masks, r.GetU8());
  FM_ASSIGN_OR_RETURN(const uint8_t exact, r.GetU8());
  s.masks_ = masks;
  s.exact_ = exact;
  FM_ASSIGN_OR_RETURN(const uint64_t workers, r.GetCount(2));
  for (uint64_t i = 0; i < workers; ++i) {
    FM_ASSIGN_OR_RETURN(std::string worker, r.GetString());
    FM_ASSIGN_OR_RETURN(const uint64_t seq, r.GetVarint());
    s.highest_seq_[worker] = seq;
  }
  s.durable_seq_ = s.highest_seq_;
  FM_ASSIGN_OR_RETURN(s.run_positives_, r.GetSignedVector());
  FM_ASSIGN_OR_RETURN(s.run_negatives_, r.GetSignedVector());
  FM_ASSIGN_OR_RETURN(const uint64_t specs, r.GetCount(2));
  for (uint64_t i = 0; i < specs; ++i) {
    FM_ASSIGN_OR_RETURN(std::string name, r.GetString());
    FM_ASSIGN_OR_RETURN(LossSpec spec, GetSpec(r));
    s.losses_in_use_.emplace(std::move(name), std::move(spec));
  }
  FM_ASSIGN_OR_RETURN(s.total_samples_, r.GetSigned());
  FM_ASSIGN_OR_RETURN(s.total_batches_, r.GetSigned());
  FM_ASSIGN_OR_RETURN(const int64_t last_report, r.GetSigned());
  s.last_report_ = absl::FromUnixMicros(last_report);
  EpochState& e = s.current_;
  for (int64_t* v : {&e.epoch, &e.step, &e.samples, &e.batches}) {
    FM_ASSIGN_OR_RETURN(*v, r.GetSigned());
  }
  FM_ASSIGN_OR_RETURN(const uint64_t losses, r.GetCount(29));
  for (uint64_t i = 0; i < losses; ++i) {
    FM_ASSIGN_OR_RETURN(std::string name, r.GetString());
    LossAccumulator acc;
    FM_ASSIGN_OR_RETURN(acc.kind, GetKind(r));
    FM_ASSIGN_OR_RETURN(acc.last, r.GetDouble());
    FM_ASSIGN_OR_RETURN(acc.sum, r.GetDouble());
    FM_ASSIGN_OR_RETURN(acc.count, r.GetSigned());
    FM_ASSIGN_OR_RETURN(acc.ema, r.GetDouble());
    e.losses.emplace(std::move(name), acc);
  }
  FM_ASSIGN_OR_RETURN(const uint64_t classes, r.GetCount(10));
  for (uint64_t i = 0; i < classes; ++i) {
    ClassAccumulator c;
    FM_ASSIGN_OR_RETURN(c.positives, r.GetSigned());
    FM_ASSIGN_OR_RETURN(c.negatives, r.GetSigned());
    FM_ASSIGN_OR_RETURN(c.probability_sum, r.GetDouble());
    e.classes.push_back(c);
  }
  FM_ASSIGN_OR_RETURN(const uint64_t accumulators, r.GetCount(2));
  for (uint64_t i = 0; i < accumulators; ++i) {
    FM_ASSIGN_OR_RETURN(AveragePrecisionAccumulator ap,
                        AveragePrecisionAccumulator::ReadFrom(r));
    e.average_precision.push_back(std::move(ap));
  }
  const size_t expected = static_cast<size_t>(s.num_classes_);
  if (e.classes.size() != expected || e.average_precision.size() != expected ||
      s.run_positives_.size() != expected ||
      s.run_negatives_.size() != expected) {
    return Corrupt("per-class sections disagree with the class count");
  }
  FM_ASSIGN_OR_RETURN(const uint64_t closed, r.GetCount(8));
  for (uint64_t i = 0; i < closed; ++i) {
    FM_ASSIGN_OR_RETURN(const int64_t epoch, r.GetSigned());
    FM_ASSIGN_OR_RETURN(RunMetricsSnapshot metrics, GetMetrics(r));
    s.closed_epochs_.emplace(epoch, std::move(metrics));
  }
  if (!r.empty()) return Corrupt("trailing bytes after the run");
  return state;
}

void RunState::MarkDurable(
    const absl::flat_hash_map<std::string, uint64_t>& seqs) {
  absl::MutexLock lock(&mu_);
  for (const auto& [worker, seq] : seqs) {
    uint64_t& durable = durable_seq_[worker];
    durable = std::max(durable, seq);
  }
}

uint64_t RunState::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

}  // namespace focalmetrics
