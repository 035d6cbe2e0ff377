// Throughput of folding batches into a run (RunState::Report) and the cost of
// GetMetrics on a 10M-sample run, on one thread. bench/compare_runs.py times
// scikit-learn's average_precision_score on the same data
// ($FM_BENCH_DATA_DIR/runs_scores.f32, runs_targets.f32) in the same run.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/run/run_state.h"

namespace focalmetrics {
namespace {

constexpr int64_t kSamples = 10'000'000;
constexpr int64_t kBatch = 4096;

struct Data {
  std::vector<float> scores;
  std::vector<float> targets;
};

std::vector<float> ReadFloats(const char* name) {
  const char* dir = std::getenv("FM_BENCH_DATA_DIR");
  if (dir == nullptr) return {};
  std::ifstream in(std::string(dir) + "/" + name, std::ios::binary);
  const std::string bytes(std::istreambuf_iterator<char>(in), {});
  std::vector<float> out(bytes.size() / 4);
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(out.data()));
  return out;
}

// 10M binary samples, 1% positives whose logits are shifted up by 2.
const Data& BinaryStream() {
  static const Data* data = [] {
    auto* d =
        new Data{ReadFloats("runs_scores.f32"), ReadFloats("runs_targets.f32")};
    if (!d->scores.empty()) return d;
    std::mt19937_64 rng(3);
    std::normal_distribution<float> logit(0.0f, 1.0f);
    std::bernoulli_distribution positive(0.01);
    d->scores.resize(kSamples);
    d->targets.resize(kSamples);
    for (int64_t i = 0; i < kSamples; ++i) {
      d->targets[i] = positive(rng) ? 1.0f : 0.0f;
      d->scores[i] = logit(rng) + 2.0f * d->targets[i];
    }
    return d;
  }();
  return *data;
}

// Reports samples [begin, end) of the stream in batches of kBatch.
void Feed(RunState& state, int64_t begin, int64_t end, uint64_t& seq,
          const std::vector<LossSpec>& losses) {
  const Data& data = BinaryStream();
  for (int64_t start = begin; start < end; start += kBatch) {
    const int64_t n = std::min(kBatch, end - start);
    const absl::string_view scores(
        reinterpret_cast<const char*>(&data.scores[start]), n * 4);
    const absl::string_view targets(
        reinterpret_cast<const char*>(&data.targets[start]), n * 4);
    auto batch =
        PreparedBatch::Prepare({.task = Task::kBinary,
                                .scores = {{n}, DType::kFloat32, scores},
                                .targets = {{n}, DType::kFloat32, targets}});
    auto result = state.Report(
        {.worker = "w", .seq = ++seq, .batch = &*batch, .losses = losses});
    benchmark::DoNotOptimize(result);
  }
}

void BM_IngestExact(benchmark::State& state) {
  const std::vector<LossSpec> losses = {{.kind = LossKind::kFocal}};
  for (auto _ : state) {
    RunState run("bench", "train", {});
    uint64_t seq = 0;
    Feed(run, 0, 1'000'000, seq, losses);
  }
  state.SetItemsProcessed(state.iterations() * 1'000'000);
}

void BM_IngestBoundedMemory(benchmark::State& state) {
  const std::vector<LossSpec> losses = {{.kind = LossKind::kFocal}};
  for (auto _ : state) {
    RunState run("bench", "train", {.exact_memory_budget_bytes = 0});
    uint64_t seq = 0;
    Feed(run, 0, 1'000'000, seq, losses);
  }
  state.SetItemsProcessed(state.iterations() * 1'000'000);
}

// GetMetrics on a 10M-sample run right after one more batch arrived: the
// incremental sort merges the new tail into the sorted prefix.
void BM_GetMetrics10M(benchmark::State& state) {
  const bool exact = state.range(0) == 1;
  RunState run(
      "bench", "train",
      {.exact_memory_budget_bytes = exact ? size_t{1} << 30 : size_t{0}});
  uint64_t seq = 0;
  Feed(run, 0, kSamples - 100 * kBatch, seq, {});
  (void)run.Metrics(std::nullopt);
  int64_t next = kSamples - 100 * kBatch;
  for (auto _ : state) {
    state.PauseTiming();
    if (next >= kSamples) next = kSamples - 100 * kBatch;
    Feed(run, next, next + kBatch, seq, {});
    next += kBatch;
    state.ResumeTiming();
    benchmark::DoNotOptimize(run.Metrics(std::nullopt));
  }
}

// The first GetMetrics of a 10M-sample exact run: one full sort.
void BM_FirstGetMetrics10M(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    auto run = std::make_unique<RunState>(
        "bench", "train",
        RunLimits{.exact_memory_budget_bytes = size_t{1} << 30});
    uint64_t seq = 0;
    Feed(*run, 0, kSamples, seq, {});
    state.ResumeTiming();
    benchmark::DoNotOptimize(run->Metrics(std::nullopt));
    state.PauseTiming();
    run.reset();
    state.ResumeTiming();
  }
}

BENCHMARK(BM_IngestExact)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IngestBoundedMemory)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GetMetrics10M)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FirstGetMetrics10M)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace
}  // namespace focalmetrics

BENCHMARK_MAIN();
