// Throughput of the core losses on one thread: 10M binary elements (1%
// positives) and a 65536 x 80 multiclass batch. bench/compare_losses.py
// writes the data it times PyTorch on into $FM_BENCH_DATA_DIR, so both sides
// see the same bytes; without it the data is generated here.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/losses/batch.h"
#include "core/losses/internal/sigmoid_kernels.h"
#include "core/losses/loss.h"
#include "core/tensor/tensor.h"

namespace focalmetrics {
namespace {

struct Data {
  std::vector<int64_t> shape;
  std::string scores;
  std::string targets;
  DType target_dtype;
};

// The bytes of $FM_BENCH_DATA_DIR/name, or empty when unset or absent.
std::string ReadDataFile(const char* name) {
  const char* dir = std::getenv("FM_BENCH_DATA_DIR");
  if (dir == nullptr) return "";
  std::ifstream in(std::string(dir) + "/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const Data& BinaryData() {
  static const Data* data = [] {
    std::string scores = ReadDataFile("binary_scores.f32");
    if (!scores.empty()) {
      const int64_t n = static_cast<int64_t>(scores.size() / 4);
      return new Data{{n},
                      std::move(scores),
                      ReadDataFile("binary_targets.f32"),
                      DType::kFloat32};
    }
    constexpr int64_t kElements = 10'000'000;
    std::mt19937_64 rng(1);
    std::normal_distribution<float> logit(0.0f, 2.0f);
    std::bernoulli_distribution positive(0.01);
    std::vector<float> x(kElements), t(kElements);
    for (int64_t i = 0; i < kElements; ++i) {
      x[i] = logit(rng);
      t[i] = positive(rng) ? 1.0f : 0.0f;
    }
    auto* d =
        new Data{{kElements},
                 std::string(reinterpret_cast<char*>(x.data()), x.size() * 4),
                 std::string(reinterpret_cast<char*>(t.data()), t.size() * 4),
                 DType::kFloat32};
    return d;
  }();
  return *data;
}

const Data& MulticlassData() {
  static const Data* data = [] {
    constexpr int64_t kRows = 65536, kClasses = 80;
    std::string scores = ReadDataFile("multiclass_scores.f32");
    if (!scores.empty()) {
      return new Data{{kRows, kClasses},
                      std::move(scores),
                      ReadDataFile("multiclass_targets.i64"),
                      DType::kInt64};
    }
    std::mt19937_64 rng(2);
    std::normal_distribution<float> logit(0.0f, 2.0f);
    std::uniform_int_distribution<int64_t> label(0, kClasses - 1);
    std::vector<float> x(kRows * kClasses);
    std::vector<int64_t> t(kRows);
    for (float& v : x) v = logit(rng);
    for (int64_t& v : t) v = label(rng);
    return new Data{
        {kRows, kClasses},
        std::string(reinterpret_cast<char*>(x.data()), x.size() * 4),
        std::string(reinterpret_cast<char*>(t.data()), t.size() * 8),
        DType::kInt64};
  }();
  return *data;
}

void RunLoss(benchmark::State& state, const Data& data, Task task,
             LossSpec spec, bool gradient) {
  const std::vector<int64_t> target_shape =
      task == Task::kMulticlass ? std::vector<int64_t>{data.shape[0]}
                                : data.shape;
  const BatchView view{
      .task = task,
      .scores = {data.shape, DType::kFloat32, data.scores},
      .targets = {target_shape, data.target_dtype, data.targets}};
  int64_t elements = 0;
  for (auto _ : state) {
    absl::StatusOr<PreparedBatch> batch = PreparedBatch::Prepare(view);
    absl::StatusOr<LossOutput> out = ComputeLoss(*batch, spec, gradient);
    benchmark::DoNotOptimize(out->value);
    elements = batch->num_scores();
  }
  state.SetItemsProcessed(state.iterations() * elements);
}

void BM_BinaryFocal(benchmark::State& state) {
  RunLoss(state, BinaryData(), Task::kBinary, {.kind = LossKind::kFocal},
          false);
}
// The kernel alone, without validation: what Prepare() costs is the
// difference to BM_BinaryFocal.
void BM_BinaryFocalKernelOnly(benchmark::State& state) {
  const Data& data = BinaryData();
  const auto x = FloatingValues::Borrow(
      absl::MakeConstSpan(reinterpret_cast<const float*>(data.scores.data()),
                          data.scores.size() / 4));
  const auto t = FloatingValues::Borrow(
      absl::MakeConstSpan(reinterpret_cast<const float*>(data.targets.data()),
                          data.targets.size() / 4));
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        losses_internal::SigmoidFocal(x, t, {.alpha = 0.25, .gamma = 2.0}, {})
            .loss);
  }
  state.SetItemsProcessed(state.iterations() * x.size());
}
// Validation and decoding alone (finite scores, targets in [0, 1]).
void BM_PrepareBinary(benchmark::State& state) {
  const Data& data = BinaryData();
  const BatchView view{
      .task = Task::kBinary,
      .scores = {data.shape, DType::kFloat32, data.scores},
      .targets = {data.shape, data.target_dtype, data.targets}};
  for (auto _ : state) {
    absl::StatusOr<PreparedBatch> batch = PreparedBatch::Prepare(view);
    benchmark::DoNotOptimize(batch->num_scores());
  }
  state.SetItemsProcessed(state.iterations() * (data.scores.size() / 4));
}
void BM_BinaryFocalWithGradient(benchmark::State& state) {
  RunLoss(state, BinaryData(), Task::kBinary, {.kind = LossKind::kFocal}, true);
}
void BM_BinaryCrossEntropy(benchmark::State& state) {
  RunLoss(state, BinaryData(), Task::kBinary, {.kind = LossKind::kCrossEntropy},
          false);
}
void BM_BinaryAsymmetric(benchmark::State& state) {
  RunLoss(state, BinaryData(), Task::kBinary, {.kind = LossKind::kAsymmetric},
          false);
}
void BM_MulticlassCrossEntropy(benchmark::State& state) {
  RunLoss(state, MulticlassData(), Task::kMulticlass,
          {.kind = LossKind::kCrossEntropy}, false);
}
void BM_MulticlassFocal(benchmark::State& state) {
  RunLoss(state, MulticlassData(), Task::kMulticlass,
          {.kind = LossKind::kFocal}, false);
}

BENCHMARK(BM_BinaryFocal)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BinaryFocalKernelOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrepareBinary)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BinaryFocalWithGradient)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BinaryCrossEntropy)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BinaryAsymmetric)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MulticlassCrossEntropy)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MulticlassFocal)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace focalmetrics

BENCHMARK_MAIN();
