// A batch of scores and targets, checked once and read once, so that every
// loss computed on it sees validated, decoded values.
//
//   BatchView view{.task = Task::kBinary, .scores = s, .targets = t};
//   FM_ASSIGN_OR_RETURN(PreparedBatch batch, PreparedBatch::Prepare(view));
//   FM_ASSIGN_OR_RETURN(LossOutput out, ComputeLoss(batch, spec, false,
//   "losses[0]"));
#ifndef FOCALMETRICS_CORE_LOSSES_BATCH_H_
#define FOCALMETRICS_CORE_LOSSES_BATCH_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/tensor/tensor.h"

namespace focalmetrics {

enum class Task { kBinary, kMulticlass, kMultilabel, kDetection };
enum class InputKind { kLogits, kProbabilities };

absl::string_view TaskName(Task task);  // "BINARY", ...

// Detection targets: an anchor's class id, or one of these.
inline constexpr int64_t kDetectionBackground = -1;
inline constexpr int64_t kDetectionIgnored = -2;

// The batch as received. Views only: the bytes must outlive any PreparedBatch
// made from it.
struct BatchView {
  Task task = Task::kBinary;
  InputKind input_kind = InputKind::kLogits;
  TensorView scores;
  TensorView targets;
  std::optional<int64_t> ignore_index;  // MULTICLASS only.
  std::optional<TensorView> box_preds;  // DETECTION only, [A, 4].
  std::optional<TensorView> box_targets;
};

// A validated batch. Shapes by task (DESIGN.md): BINARY scores of any shape
// with targets of the same shape; MULTICLASS scores [N, C], targets [N];
// MULTILABEL scores and targets [N, C]; DETECTION scores [A, C], targets [A],
// boxes [A, 4]. Scores must be finite floats; probabilities must lie in
// [0, 1] (MULTICLASS rows summing to 1); soft targets in [0, 1]; class ids in
// [0, C) or the ignore index (MULTICLASS) or -1/-2 (DETECTION).
//
// Probabilities are turned into logits on preparation (log-odds clamped to
// +-100, log-probabilities clamped at -100, which is where PyTorch's
// binary_cross_entropy clamps its logs), so every loss works on logits;
// ChainToInputs() turns a gradient with respect to logits into one with
// respect to the scores as sent. MULTICLASS probabilities become
// log-probabilities that the losses use as they are (nll_loss(log(p))
// semantics: no renormalisation).
class PreparedBatch {
 public:
  // Errors are INVALID_ARGUMENT naming the field: "batch.targets: element 3
  // is 7, outside [0, 5)".
  static absl::StatusOr<PreparedBatch> Prepare(const BatchView& batch);

  PreparedBatch(PreparedBatch&&) = default;
  PreparedBatch& operator=(PreparedBatch&&) = default;

  Task task() const { return task_; }
  InputKind input_kind() const { return input_kind_; }
  const std::vector<int64_t>& scores_shape() const { return scores_shape_; }
  int64_t num_scores() const { return num_rows_ * num_classes_; }
  // BINARY: the element count; otherwise N (or A).
  int64_t num_rows() const { return num_rows_; }
  // BINARY: 1; otherwise C.
  int64_t num_classes() const { return num_classes_; }

  // Sigmoid logits (BINARY, MULTILABEL, DETECTION) or softmax logits
  // (MULTICLASS; for probabilities, their logs).
  const FloatingValues& logits() const { return logits_; }
  // BINARY and MULTILABEL targets in [0, 1].
  const FloatingValues& soft_targets() const { return soft_targets_; }
  // MULTICLASS and DETECTION targets.
  const std::vector<int64_t>& class_targets() const { return class_targets_; }
  std::optional<int64_t> ignore_index() const { return ignore_index_; }
  // DETECTION: empty when the batch has no boxes.
  const std::vector<double>& box_preds() const { return box_preds_; }
  const std::vector<double>& box_targets() const { return box_targets_; }

  // Rewrites d/d(logits) into d/d(scores as sent) in place: the identity for
  // logits, the chain rule through the log-odds or log for probabilities.
  // REQUIRES: gradient.size() == num_scores().
  void ChainToInputs(absl::Span<double> gradient) const;

 private:
  PreparedBatch() = default;

  Task task_ = Task::kBinary;
  InputKind input_kind_ = InputKind::kLogits;
  std::vector<int64_t> scores_shape_;
  int64_t num_rows_ = 0;
  int64_t num_classes_ = 1;
  FloatingValues logits_;
  FloatingValues soft_targets_;
  std::vector<int64_t> class_targets_;
  std::optional<int64_t> ignore_index_;
  std::vector<double> box_preds_;
  std::vector<double> box_targets_;
  // Probabilities as sent, kept for ChainToInputs.
  std::vector<double> probabilities_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_LOSSES_BATCH_H_
