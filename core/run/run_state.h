// The state of one (run, split): every batch its workers reported, folded
// into per-loss statistics, per-class counts and average precision, by
// epoch. Delivery is idempotent per (worker, seq); a batch is applied whole
// or not at all.
//
//   RunState state("resnet-7", "train", RunLimits{});
//   FM_ASSIGN_OR_RETURN(ReportResult r, state.Report({.worker = "w0", .seq = 1,
//                                                      .batch = &batch, .losses
//                                                      = specs}));
//   FM_ASSIGN_OR_RETURN(RunMetricsSnapshot m, state.Metrics(std::nullopt));
#ifndef FOCALMETRICS_CORE_RUN_RUN_STATE_H_
#define FOCALMETRICS_CORE_RUN_RUN_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/ap/average_precision.h"
#include "core/losses/batch.h"
#include "core/losses/class_weights.h"
#include "core/losses/loss.h"
#include "core/run/average_precision_accumulator.h"
#include "core/run/recommendation.h"

namespace focalmetrics {

struct RunLimits {
  int64_t max_classes = 4096;
  // Distinct loss names a run tracks (each is a Prometheus series).
  int64_t max_losses = 16;
  // Closed epochs whose final metrics stay queryable; older ones are dropped.
  int64_t max_epochs_kept = 64;
  // Exact AP keeps 8 bytes per (sample, class); past this many bytes the run
  // switches to histograms (and reports exact = false).
  size_t exact_memory_budget_bytes = size_t{256} << 20;
  size_t histogram_bytes_per_class = size_t{64} << 10;
  // EMA of a loss: ema = decay * ema + (1 - decay) * value.
  double ema_decay = 0.9;
};

struct ReportInput {
  std::string worker;
  uint64_t seq = 0;
  int64_t step = 0;
  int64_t epoch = 0;
  const PreparedBatch* batch = nullptr;
  std::vector<LossSpec> losses;
  // The run's SamplesPerClass() when the batch is prepared (empty for a new
  // run). CLASS_BALANCED_FOCAL without samples_per_class weighs classes by
  // them (DESIGN.md: "from the run's accumulated counts when a run is
  // named"); counts for another number of classes than the batch's (which
  // Apply then rejects) count as zeros: n_c = 0 is 1, equal weights.
  std::vector<int64_t> run_class_counts;
};

// Whether Prepare reads ReportInput::run_class_counts for `losses` (a
// CLASS_BALANCED_FOCAL without samples_per_class), so that callers fetch the
// counts, under the run's lock, only then.
bool NeedsRunClassCounts(absl::Span<const LossSpec> losses);

struct NamedLossValue {
  std::string name;
  LossKind kind = LossKind::kCrossEntropy;
  double value = 0.0;
};

struct ReportResult {
  // True when (worker, seq) was already applied: nothing changed and
  // `losses` is empty.
  bool duplicate = false;
  // The highest seq of this worker covered by a snapshot on disk (0 without
  // durability, or before the first snapshot).
  uint64_t durable_seq = 0;
  std::vector<NamedLossValue> losses;
};

struct LossStatistics {
  std::string name;
  LossKind kind = LossKind::kCrossEntropy;
  double last = 0.0;
  double mean = 0.0;  // Over the epoch's batches.
  double ema = 0.0;
};

struct ClassStatistics {
  int32_t class_id = 0;
  int64_t positives = 0;
  int64_t negatives = 0;
  double mean_probability = 0.0;
};

struct AveragePrecisionSummary {
  // Means over the classes with positives; 0 when none has any.
  double macro = 0.0;
  double micro = 0.0;
  double weighted = 0.0;
  bool exact = true;
  std::vector<ClassAveragePrecision> per_class;
};

struct RunMetricsSnapshot {
  std::string run;
  std::string split;
  int64_t epoch = 0;
  int64_t step = 0;
  int64_t samples = 0;
  int64_t batches = 0;
  std::vector<LossStatistics> losses;
  AveragePrecisionSummary average_precision;
  std::vector<ClassStatistics> classes;
  LossRecommendation recommendation;
};

struct RunSummary {
  std::string run;
  std::string split;
  int64_t epoch = 0;
  int64_t step = 0;
  // Over the whole run, every epoch.
  int64_t samples = 0;
  int64_t batches = 0;
  std::optional<Task> task;
  // When the run was created or last folded in a batch.
  absl::Time last_report;
};

// A batch reduced to what a run folds in (its loss values, its samples per
// class), checked against everything that does not depend on the run:
// RunState::Prepare makes it, RunState::Apply folds it in. Preparing first
// lets a caller create a run only for a batch that can be applied.
struct PreparedReport {
  std::string worker;
  uint64_t seq = 0;
  int64_t step = 0;
  int64_t epoch = 0;
  std::vector<LossSpec> losses;
  std::vector<NamedLossValue> loss_values;
  Task task = Task::kBinary;
  int64_t classes = 1;
  bool masks = false;
  int64_t samples = 0;
  // Per class: scores (logits, or softmax probabilities for MULTICLASS),
  // whether each is a positive, counts and the sum of probabilities.
  std::vector<std::vector<double>> scores;
  std::vector<std::vector<uint8_t>> labels;
  std::vector<int64_t> positives;
  std::vector<int64_t> negatives;
  std::vector<double> probability_sum;
};

// Thread-safe; one mutex per run, held (exclusively, reads included: they may
// fold staged AP samples) only to fold in an already computed batch or to
// read.
class RunState {
 public:
  RunState(std::string run, std::string split, RunLimits limits);
  RunState(const RunState&) = delete;
  RunState& operator=(const RunState&) = delete;

  // Computes the batch's losses and class data, then folds them in. Errors
  // (INVALID_ARGUMENT naming the field; RESOURCE_EXHAUSTED over a limit)
  // leave the state unchanged:
  // - seq 0; a task or class count other than the run's first batch's;
  // - soft targets (PR-AUC needs hard 0/1 targets);
  // - more classes than RunLimits::max_classes;
  // - the losses' own errors (see ComputeLoss).
  // An epoch larger than the current one closes it first; a smaller one is
  // folded into the current epoch (a slow worker's late batch is counted, not
  // lost).
  absl::StatusOr<ReportResult> Report(const ReportInput& input);

  // Report in two steps. Prepare does the work and the checks that need no
  // run (the losses, hard targets, seq, max_classes), outside any lock;
  // Apply the rest, under the run's lock.
  static absl::StatusOr<PreparedReport> Prepare(const ReportInput& input,
                                                const RunLimits& limits);
  absl::StatusOr<ReportResult> Apply(PreparedReport report);

  // Metrics of the current epoch, or of a closed one (NOT_FOUND when it was
  // never seen or has been dropped from the history).
  absl::StatusOr<RunMetricsSnapshot> Metrics(
      std::optional<int64_t> epoch) const;

  // Accumulated over the whole run: MULTICLASS samples per class; BINARY
  // {positives, negatives}; MULTILABEL and DETECTION positives per class.
  std::vector<int64_t> SamplesPerClass() const;

  // ClassWeightsFromCounts on SamplesPerClass(). FAILED_PRECONDITION before
  // the first batch.
  absl::StatusOr<std::vector<double>> ClassWeights(WeightScheme scheme,
                                                   double beta) const;

  // The current epoch's precision-recall curve of `class_id`.
  absl::StatusOr<PrecisionRecallPoints> Curve(int64_t class_id,
                                              size_t max_points) const;

  RunSummary Summary() const;

  // Durability (core/durability writes these to disk). AppendSnapshot adds
  // everything Metrics, ClassWeights and delivery need (epochs, the
  // per-worker highest seqs) to *out and returns the seqs it covers and the
  // version it captured; once the bytes are on disk, MarkDurable(seqs) makes
  // them the workers' durable_seq.
  struct SnapshotCoverage {
    uint64_t version = 0;
    absl::flat_hash_map<std::string, uint64_t> seqs;
  };
  SnapshotCoverage AppendSnapshot(std::string* out) const;
  // A run from AppendSnapshot's bytes; its durable seqs are the ones it
  // holds. DATA_LOSS for bytes that do not decode.
  static absl::StatusOr<std::unique_ptr<RunState>> Restore(
      absl::string_view snapshot, RunLimits limits);
  void MarkDurable(const absl::flat_hash_map<std::string, uint64_t>& seqs);
  // The highest seq of `worker` in a snapshot on disk (0 if none).
  uint64_t DurableSeq(absl::string_view worker) const;
  // The duplicate answer when (worker, seq) is already applied, so a resend
  // costs no loss computation; nullopt otherwise.
  std::optional<ReportResult> DuplicateOf(absl::string_view worker,
                                          uint64_t seq) const;
  // Unique per RunState object: a run deleted and created again is a new
  // incarnation even when its version counts up to the same number.
  uint64_t incarnation() const { return incarnation_; }
  // Increases with every applied batch; a snapshot is stale when older.
  uint64_t version() const;
  std::pair<std::string, std::string> key() const { return {run_, split_}; }

 private:
  struct LossAccumulator {
    LossKind kind = LossKind::kCrossEntropy;
    double last = 0.0;
    double sum = 0.0;
    int64_t count = 0;
    double ema = 0.0;
  };
  struct ClassAccumulator {
    int64_t positives = 0;
    int64_t negatives = 0;
    double probability_sum = 0.0;
  };
  struct EpochState {
    int64_t epoch = 0;
    int64_t step = 0;
    int64_t samples = 0;
    int64_t batches = 0;
    std::map<std::string, LossAccumulator> losses;
    std::vector<ClassAccumulator> classes;
    std::vector<AveragePrecisionAccumulator> average_precision;
  };
  // Exclusive although const: computing AP folds the accumulators' staged
  // samples (AveragePrecisionAccumulator), so readers may not share the lock.
  RunMetricsSnapshot Snapshot(const EpochState& epoch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartEpoch(int64_t epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t ExactBytes() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::vector<int64_t> SamplesPerClassLocked() const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::string run_;
  const std::string split_;
  const RunLimits limits_;
  const uint64_t incarnation_;

  mutable absl::Mutex mu_;
  std::optional<Task> task_ ABSL_GUARDED_BY(mu_);
  int64_t num_classes_ ABSL_GUARDED_BY(mu_) = 0;
  bool masks_ ABSL_GUARDED_BY(mu_) = false;
  bool exact_ ABSL_GUARDED_BY(mu_) = true;
  absl::flat_hash_map<std::string, uint64_t> highest_seq_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> durable_seq_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  // Whole-run counts, for class weights and the recommendation.
  std::vector<int64_t> run_positives_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> run_negatives_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LossSpec> losses_in_use_ ABSL_GUARDED_BY(mu_);
  int64_t total_samples_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t total_batches_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_report_ ABSL_GUARDED_BY(mu_) = absl::Now();
  EpochState current_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, RunMetricsSnapshot> closed_epochs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_RUN_RUN_STATE_H_
