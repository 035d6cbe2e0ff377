#include "client/cpp/synthetic_task.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/cpp/client.h"

namespace focalmetrics {

absl::StatusOr<SyntheticTask> SyntheticTask::Create(
    SyntheticTaskOptions options) {
  if (options.classes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("classes: ", options.classes, "; at least 2"));
  }
  if (!(options.imbalance >= 1.0) || !std::isfinite(options.imbalance)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "imbalance: ", options.imbalance, "; a finite ratio of at least 1"));
  }
  if (!std::isfinite(options.separation)) {
    return absl::InvalidArgumentError("separation: not finite");
  }
  std::vector<double> frequencies(static_cast<size_t>(options.classes));
  double total = 0;
  for (int64_t c = 0; c < options.classes; ++c) {
    frequencies[c] = std::pow(options.imbalance,
                              -static_cast<double>(c) / (options.classes - 1));
    total += frequencies[c];
  }
  for (double& frequency : frequencies) frequency /= total;
  return SyntheticTask(options, std::move(frequencies));
}

SyntheticTask::SyntheticTask(SyntheticTaskOptions options,
                             std::vector<double> frequencies)
    : options_(options),
      frequencies_(std::move(frequencies)),
      random_(options.seed),
      label_(frequencies_.begin(), frequencies_.end()) {}

void SyntheticTask::NextBatch(int64_t rows, v1::Batch* batch) {
  const int64_t classes = options_.classes;
  logits_.resize(static_cast<size_t>(rows * classes));
  labels_.resize(static_cast<size_t>(rows));
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t label = label_(random_);
    labels_[row] = label;
    float* logits = &logits_[row * classes];
    for (int64_t c = 0; c < classes; ++c) logits[c] = noise_(random_);
    logits[label] += static_cast<float>(options_.separation);
  }
  batch->Clear();
  batch->set_task(v1::TASK_MULTICLASS);
  *batch->mutable_scores() = Float32Tensor(logits_, {rows, classes});
  *batch->mutable_targets() = Int64Tensor(labels_, {rows});
}

}  // namespace focalmetrics
