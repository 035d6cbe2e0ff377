// An imbalanced multiclass task for the load generator and tests: class c
// occurs with frequency proportional to imbalance^(-c/(C-1)) (class 0 the most
// frequent, class C-1 `imbalance` times rarer), and each sample's logits are
// N(0, 1) plus `separation` on its true class, so that average precision is
// neither 0 nor 1. Deterministic for a seed.
#ifndef FOCALMETRICS_CLIENT_CPP_SYNTHETIC_TASK_H_
#define FOCALMETRICS_CLIENT_CPP_SYNTHETIC_TASK_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "focalmetrics/v1/focal_metrics.pb.h"

namespace focalmetrics {

struct SyntheticTaskOptions {
  int64_t classes = 10;
  double imbalance = 100.0;  // most frequent / least frequent class
  double separation = 2.0;   // added to the true class's logit
  uint64_t seed = 1;
};

class SyntheticTask {
 public:
  // INVALID_ARGUMENT, naming the option, unless classes >= 2, imbalance >= 1
  // and separation is finite.
  static absl::StatusOr<SyntheticTask> Create(SyntheticTaskOptions options);

  // Fills `batch` with `rows` samples: TASK_MULTICLASS, float32 logits of
  // shape [rows, classes], int64 labels of shape [rows].
  void NextBatch(int64_t rows, v1::Batch* batch);

  // The probability of each class.
  const std::vector<double>& class_frequencies() const { return frequencies_; }

 private:
  explicit SyntheticTask(SyntheticTaskOptions options,
                         std::vector<double> frequencies);

  SyntheticTaskOptions options_;
  std::vector<double> frequencies_;
  std::mt19937_64 random_;
  std::discrete_distribution<int64_t> label_;
  std::normal_distribution<float> noise_;
  std::vector<float> logits_;  // reused between batches
  std::vector<int64_t> labels_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CLIENT_CPP_SYNTHETIC_TASK_H_
