#include "core/run/run_state.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace focalmetrics {

namespace {

absl::Status RequireHardTargets(const FloatingValues& targets) {
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i] != 0.0 && targets[i] != 1.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch.targets: element ", i, " is ", targets[i],
          "; runs track PR-AUC, which needs hard 0/1 targets (soft targets "
          "work with ComputeLoss)"));
    }
  }
  return absl::OkStatus();
}

// Fills the per-class part of `data` from `batch`.
absl::Status AddClassData(const PreparedBatch& batch, const RunLimits& limits,
                          PreparedReport& data) {
  data.task = batch.task();
  const bool multiclass = batch.task() == Task::kMulticlass;
  data.classes = batch.num_classes();
  if (data.classes > limits.max_classes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("batch.scores.shape: ", data.classes,
                     " classes, more than this server's "
                     "--max_classes ",
                     limits.max_classes));
  }
  data.masks =
      batch.task() == Task::kBinary && batch.scores_shape().size() >= 3;
  if (batch.task() == Task::kBinary || batch.task() == Task::kMultilabel) {
    FM_RETURN_IF_ERROR(RequireHardTargets(batch.soft_targets()));
  }
  const std::vector<double> probabilities = ScoreProbabilities(batch);
  const int64_t rows = batch.num_rows();
  const int64_t classes = data.classes;
  data.scores.resize(classes);
  data.labels.resize(classes);
  data.positives.assign(classes, 0);
  data.negatives.assign(classes, 0);
  data.probability_sum.assign(classes, 0.0);
  const FloatingValues& logits = batch.logits();
  for (int64_t r = 0; r < rows; ++r) {
    std::optional<int64_t> label;  // MULTICLASS and DETECTION rows.
    if (multiclass || batch.task() == Task::kDetection) {
      const int64_t t = batch.class_targets()[r];
      if (batch.ignore_index().has_value() && t == *batch.ignore_index())
        continue;
      if (t == kDetectionIgnored) continue;
      label = t;
    }
    ++data.samples;
    for (int64_t c = 0; c < classes; ++c) {
      const int64_t i = r * classes + c;
      const bool positive =
          label.has_value() ? *label == c : batch.soft_targets()[i] == 1.0;
      // Exact AP keeps the score it is ranked by: the softmax probability
      // for MULTICLASS (one-vs-rest), the logit otherwise.
      data.scores[c].push_back(multiclass ? probabilities[i] : logits[i]);
      data.labels[c].push_back(positive);
      (positive ? data.positives[c] : data.negatives[c]) += 1;
      data.probability_sum[c] += probabilities[i];
    }
  }
  return absl::OkStatus();
}

}  // namespace

RunState::RunState(std::string run, std::string split, RunLimits limits)
    : run_(std::move(run)),
      split_(std::move(split)),
      limits_(limits),
      incarnation_([] {
        static std::atomic<uint64_t> next{1};
        return next.fetch_add(1);
      }()) {}

uint64_t RunState::DurableSeq(absl::string_view worker) const {
  absl::MutexLock lock(&mu_);
  const auto it = durable_seq_.find(worker);
  return it == durable_seq_.end() ? 0 : it->second;
}

std::optional<ReportResult> RunState::DuplicateOf(absl::string_view worker,
                                                  uint64_t seq) const {
  absl::MutexLock lock(&mu_);
  const auto it = highest_seq_.find(worker);
  if (it == highest_seq_.end() || seq > it->second) return std::nullopt;
  const auto durable = durable_seq_.find(worker);
  return ReportResult{
      .duplicate = true,
      .durable_seq = durable == durable_seq_.end() ? 0 : durable->second};
}

size_t RunState::ExactBytes() const {
  size_t bytes = 0;
  for (const auto& ap : current_.average_precision) bytes += ap.MemoryBytes();
  return bytes;
}

void RunState::StartEpoch(int64_t epoch) {
  const ScoreSpace space = task_ == Task::kMulticlass ? ScoreSpace::kProbability
                                                      : ScoreSpace::kLogit;
  current_ = EpochState();
  current_.epoch = epoch;
  current_.classes.assign(num_classes_, ClassAccumulator());
  current_.average_precision.reserve(num_classes_);
  for (int64_t c = 0; c < num_classes_; ++c) {
    current_.average_precision.emplace_back(space);
    if (!exact_) {
      current_.average_precision.back().SwitchToHistogram(
          limits_.histogram_bytes_per_class);
    }
  }
}

bool NeedsRunClassCounts(absl::Span<const LossSpec> losses) {
  return std::any_of(losses.begin(), losses.end(), [](const LossSpec& spec) {
    return spec.kind == LossKind::kClassBalancedFocal &&
           spec.samples_per_class.empty();
  });
}

absl::StatusOr<PreparedReport> RunState::Prepare(const ReportInput& input,
                                                 const RunLimits& limits) {
  if (input.seq == 0) {
    return absl::InvalidArgumentError(
        "seq: must start at 1 and increase per worker");
  }
  if (input.batch == nullptr) {
    return absl::InvalidArgumentError("batch: missing");
  }
  if (static_cast<int64_t>(input.losses.size()) > limits.max_losses) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "losses: ", input.losses.size(), " losses, more than a run tracks (",
        limits.max_losses, ")"));
  }
  const PreparedBatch& batch = *input.batch;
  PreparedReport report{.worker = input.worker,
                        .seq = input.seq,
                        .step = input.step,
                        .epoch = input.epoch,
                        .losses = input.losses};
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < input.losses.size(); ++i) {
    LossSpec spec = input.losses[i];
    if (NeedsRunClassCounts({&spec, 1})) {
      const int64_t classes = batch.num_classes();
      spec.samples_per_class =
          static_cast<int64_t>(input.run_class_counts.size()) == classes
              ? input.run_class_counts
              : std::vector<int64_t>(static_cast<size_t>(classes), 0);
    }
    const std::string field = absl::StrCat("losses[", i, "]");
    FM_ASSIGN_OR_RETURN(const LossOutput output,
                        ComputeLoss(batch, spec, false, field));
    const std::string name =
        spec.name.empty() ? DefaultLossName(spec.kind) : spec.name;
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name: '", name,
                       "' is used twice; give each loss its own name"));
    }
    report.loss_values.push_back({name, spec.kind, output.value});
  }
  FM_RETURN_IF_ERROR(AddClassData(batch, limits, report));
  return report;
}

absl::StatusOr<ReportResult> RunState::Report(const ReportInput& input) {
  ReportInput with_counts = input;
  if (with_counts.run_class_counts.empty() &&
      NeedsRunClassCounts(with_counts.losses)) {
    with_counts.run_class_counts = SamplesPerClass();
  }
  FM_ASSIGN_OR_RETURN(PreparedReport report, Prepare(with_counts, limits_));
  return Apply(std::move(report));
}

absl::StatusOr<ReportResult> RunState::Apply(PreparedReport report) {
  const PreparedReport& data = report;
  ReportResult result{.losses = report.loss_values};
  absl::MutexLock lock(&mu_);
  auto seq_it = highest_seq_.find(report.worker);
  const auto durable_it = durable_seq_.find(report.worker);
  const uint64_t durable =
      durable_it == durable_seq_.end() ? 0 : durable_it->second;
  if (seq_it != highest_seq_.end() && report.seq <= seq_it->second) {
    return ReportResult{.duplicate = true, .durable_seq = durable};
  }
  result.durable_seq = durable;
  // Every check comes before the first change.
  if (task_.has_value() && *task_ != data.task) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch.task: run '", run_, "' holds TASK_", TaskName(*task_),
        " batches, this one is TASK_", TaskName(data.task)));
  }
  if (task_.has_value() && num_classes_ != data.classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch.scores.shape: run '", run_, "' has ", num_classes_,
                     " classes, this batch has ", data.classes));
  }
  for (size_t i = 0; i < report.losses.size(); ++i) {
    const auto it = losses_in_use_.find(result.losses[i].name);
    if (it != losses_in_use_.end() &&
        it->second.kind != report.losses[i].kind) {
      return absl::InvalidArgumentError(absl::StrCat(
          "losses[", i, "].name: '", result.losses[i].name, "' is LOSS_KIND_",
          LossKindName(it->second.kind), " in this run, not LOSS_KIND_",
          LossKindName(report.losses[i].kind)));
    }
  }

  int64_t new_names = 0;
  for (const NamedLossValue& loss : result.losses) {
    new_names += losses_in_use_.count(loss.name) == 0;
  }
  if (static_cast<int64_t>(losses_in_use_.size()) + new_names >
      limits_.max_losses) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "losses: run '", run_, "' would track more than ", limits_.max_losses,
        " loss names; reuse the names it has"));
  }

  if (!task_.has_value()) {
    task_ = data.task;
    num_classes_ = data.classes;
    masks_ = data.masks;
    run_positives_.assign(num_classes_, 0);
    run_negatives_.assign(num_classes_, 0);
    StartEpoch(report.epoch);
  } else if (report.epoch > current_.epoch) {
    closed_epochs_[current_.epoch] = Snapshot(current_);
    while (static_cast<int64_t>(closed_epochs_.size()) >
           limits_.max_epochs_kept) {
      closed_epochs_.erase(closed_epochs_.begin());
    }
    StartEpoch(report.epoch);
  }
  highest_seq_[report.worker] = report.seq;
  ++version_;

  if (exact_) {
    size_t added = 0;
    for (const auto& scores : data.scores)
      added += scores.size() * sizeof(double);
    if (ExactBytes() + added > limits_.exact_memory_budget_bytes) {
      exact_ = false;
      for (auto& ap : current_.average_precision) {
        ap.SwitchToHistogram(limits_.histogram_bytes_per_class);
      }
    }
  }
  current_.step = std::max(current_.step, report.step);
  current_.samples += data.samples;
  current_.batches += 1;
  total_samples_ += data.samples;
  total_batches_ += 1;
  last_report_ = absl::Now();
  for (int64_t c = 0; c < num_classes_; ++c) {
    ClassAccumulator& stats = current_.classes[c];
    stats.positives += data.positives[c];
    stats.negatives += data.negatives[c];
    stats.probability_sum += data.probability_sum[c];
    run_positives_[c] += data.positives[c];
    run_negatives_[c] += data.negatives[c];
    current_.average_precision[c].Add(data.scores[c], data.labels[c]);
  }
  for (size_t i = 0; i < result.losses.size(); ++i) {
    const NamedLossValue& loss = result.losses[i];
    losses_in_use_.emplace(loss.name, report.losses[i]);
    LossAccumulator& acc = current_.losses[loss.name];
    acc.kind = loss.kind;
    acc.ema = acc.count == 0 ? loss.value
                             : limits_.ema_decay * acc.ema +
                                   (1 - limits_.ema_decay) * loss.value;
    acc.last = loss.value;
    acc.sum += loss.value;
    acc.count += 1;
  }
  return result;
}

RunMetricsSnapshot RunState::Snapshot(const EpochState& epoch) const {
  RunMetricsSnapshot out;
  out.run = run_;
  out.split = split_;
  out.epoch = epoch.epoch;
  out.step = epoch.step;
  out.samples = epoch.samples;
  out.batches = epoch.batches;
  for (const auto& [name, acc] : epoch.losses) {
    out.losses.push_back(
        {name, acc.kind, acc.last,
         acc.sum / static_cast<double>(std::max<int64_t>(acc.count, 1)),
         acc.ema});
  }
  AveragePrecisionSummary& ap = out.average_precision;
  ap.exact = exact_;
  double macro_sum = 0.0, weighted_sum = 0.0;
  int64_t defined = 0, weight = 0;
  std::vector<const AveragePrecisionAccumulator*> parts;
  for (size_t c = 0; c < epoch.average_precision.size(); ++c) {
    ClassAveragePrecision value = epoch.average_precision[c].Compute();
    if (value.defined) {
      macro_sum += value.estimate;
      weighted_sum += value.estimate * static_cast<double>(value.positives);
      weight += value.positives;
      ++defined;
    }
    ap.per_class.push_back(value);
    parts.push_back(&epoch.average_precision[c]);
    const ClassAccumulator& stats = epoch.classes[c];
    const int64_t seen = stats.positives + stats.negatives;
    out.classes.push_back(
        {static_cast<int32_t>(c), stats.positives, stats.negatives,
         seen == 0 ? 0.0 : stats.probability_sum / static_cast<double>(seen)});
  }
  if (defined > 0) {
    ap.macro = macro_sum / static_cast<double>(defined);
    ap.weighted = weighted_sum / static_cast<double>(weight);
    ap.micro = parts.size() == 1 ? ap.per_class[0].estimate
                                 : AveragePrecisionAccumulator::Pooled(
                                       parts, limits_.histogram_bytes_per_class)
                                       .estimate;
  }
  std::vector<LossSpec> in_use;
  for (const auto& [name, spec] : losses_in_use_) in_use.push_back(spec);
  ImbalanceProfile profile{.task = task_.value_or(Task::kBinary),
                           .class_counts = SamplesPerClassLocked(),
                           .masks = masks_};
  if (profile.task == Task::kMultilabel || profile.task == Task::kDetection) {
    profile.negative_counts = run_negatives_;
  }
  out.recommendation = RecommendLoss(profile, in_use);
  return out;
}

std::vector<int64_t> RunState::SamplesPerClassLocked() const {
  if (task_ == Task::kBinary && !run_positives_.empty()) {
    return {run_positives_[0], run_negatives_[0]};
  }
  return run_positives_;
}

absl::StatusOr<RunMetricsSnapshot> RunState::Metrics(
    std::optional<int64_t> epoch) const {
  absl::MutexLock lock(&mu_);
  if (!epoch.has_value() || (task_.has_value() && *epoch == current_.epoch)) {
    return Snapshot(current_);
  }
  const auto it = closed_epochs_.find(*epoch);
  if (it == closed_epochs_.end()) {
    return absl::NotFoundError(
        absl::StrCat("epoch: run '", run_, "' split '", split_,
                     "' has no epoch ", *epoch, " (current ", current_.epoch,
                     "; the oldest closed epochs are dropped past ",
                     limits_.max_epochs_kept, ")"));
  }
  return it->second;
}

std::vector<int64_t> RunState::SamplesPerClass() const {
  absl::MutexLock lock(&mu_);
  return SamplesPerClassLocked();
}

absl::StatusOr<std::vector<double>> RunState::ClassWeights(WeightScheme scheme,
                                                           double beta) const {
  const std::vector<int64_t> counts = SamplesPerClass();
  if (counts.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("run: '", run_, "' split '", split_,
                     "' has no batches yet, so no class counts"));
  }
  return ClassWeightsFromCounts(counts, scheme, beta);
}

absl::StatusOr<PrecisionRecallPoints> RunState::Curve(int64_t class_id,
                                                      size_t max_points) const {
  absl::MutexLock lock(&mu_);
  if (!task_.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run: '", run_, "' split '", split_, "' has no batches yet"));
  }
  if (class_id < 0 || class_id >= num_classes_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "class_id: ", class_id, " is outside [0, ", num_classes_, ")"));
  }
  return current_.average_precision[class_id].Curve(max_points);
}

RunSummary RunState::Summary() const {
  absl::MutexLock lock(&mu_);
  return {.run = run_,
          .split = split_,
          .epoch = current_.epoch,
          .step = current_.step,
          .samples = total_samples_,
          .batches = total_batches_,
          .task = task_,
          .last_report = last_report_};
}

}  // namespace focalmetrics
