#include "core/run/run_state.h"

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/ap/exact_average_precision.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

// A prepared batch that owns its bytes.
struct TestBatch {
  std::string scores, targets;
  std::unique_ptr<PreparedBatch> prepared;

  TestBatch(Task task, std::vector<int64_t> shape, const std::vector<double>& x,
            std::vector<int64_t> target_shape, const std::vector<double>& t,
            DType target_dtype) {
    scores = EncodeAs(x, DType::kFloat64);
    targets = EncodeAs(t, target_dtype);
    auto batch = PreparedBatch::Prepare(
        {.task = task,
         .scores = {shape, DType::kFloat64, scores},
         .targets = {target_shape, target_dtype, targets}});
    EXPECT_TRUE(batch.ok()) << batch.status();
    prepared = std::make_unique<PreparedBatch>(*std::move(batch));
  }
};

TestBatch Binary(const std::vector<double>& x, const std::vector<double>& t) {
  return TestBatch(Task::kBinary, {static_cast<int64_t>(x.size())}, x,
                   {static_cast<int64_t>(t.size())}, t, DType::kFloat32);
}

TestBatch Multiclass(const std::vector<double>& x, const std::vector<double>& t,
                     int64_t c) {
  const int64_t n = static_cast<int64_t>(t.size());
  return TestBatch(Task::kMulticlass, {n, c}, x, {n}, t, DType::kInt64);
}

ReportInput Input(std::string worker, uint64_t seq, const TestBatch& batch,
                  int64_t epoch = 0) {
  return {.worker = std::move(worker),
          .seq = seq,
          .step = static_cast<int64_t>(seq),
          .epoch = epoch,
          .batch = batch.prepared.get(),
          .losses = {{.kind = LossKind::kCrossEntropy}}};
}

double ApOf(const std::vector<double>& scores,
            const std::vector<double>& labels) {
  ExactAveragePrecision ap;
  ap.Add(scores, std::vector<uint8_t>(labels.begin(), labels.end()));
  return ap.Compute().estimate;
}

TEST(RunStateTest, BinaryMetricsCoverEveryBatchOfEveryWorker) {
  RunState state("r", "train", {});
  const TestBatch a = Binary({2.0, -1.0, 0.5}, {1, 0, 0});
  const TestBatch b = Binary({-0.5, 3.0}, {1, 1});
  ASSERT_TRUE(state.Report(Input("w0", 1, a)).ok());
  ASSERT_TRUE(state.Report(Input("w1", 1, b)).ok());
  const auto metrics = state.Metrics(std::nullopt);
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->samples, 5);
  EXPECT_EQ(metrics->batches, 2);
  EXPECT_TRUE(metrics->average_precision.exact);
  const double expected = ApOf({2.0, -1.0, 0.5, -0.5, 3.0}, {1, 0, 0, 1, 1});
  EXPECT_NEAR(metrics->average_precision.macro, expected, 1e-15);
  EXPECT_NEAR(metrics->average_precision.micro, expected, 1e-15);
  ASSERT_EQ(metrics->classes.size(), 1u);
  EXPECT_EQ(metrics->classes[0].positives, 3);
  EXPECT_EQ(metrics->classes[0].negatives, 2);
  EXPECT_EQ(state.SamplesPerClass(), (std::vector<int64_t>{3, 2}));
}

TEST(RunStateTest, DuplicatesChangeNothing) {
  RunState state("r", "train", {});
  const TestBatch a = Binary({2.0, -1.0}, {1, 0});
  ASSERT_FALSE(state.Report(Input("w0", 1, a))->duplicate);
  ASSERT_FALSE(state.Report(Input("w0", 2, a))->duplicate);
  EXPECT_TRUE(state.Report(Input("w0", 2, a))->duplicate);
  EXPECT_TRUE(state.Report(Input("w0", 1, a))->duplicate);
  EXPECT_FALSE(state.Report(Input("w1", 1, a))->duplicate);  // Another worker.
  EXPECT_EQ(state.Metrics(std::nullopt)->batches, 3);
}

TEST(RunStateTest, LossStatisticsTrackLastMeanAndEma) {
  RunState state("r", "train", {.ema_decay = 0.5});
  const TestBatch a = Binary({0.0}, {1});            // BCE log 2
  const TestBatch b = Binary({std::log(3.0)}, {1});  // BCE log(4/3)
  ASSERT_TRUE(state.Report(Input("w", 1, a)).ok());
  ASSERT_TRUE(state.Report(Input("w", 2, b)).ok());
  const auto metrics = state.Metrics(std::nullopt);
  ASSERT_EQ(metrics->losses.size(), 1u);
  const LossStatistics& ce = metrics->losses[0];
  EXPECT_EQ(ce.name, "cross_entropy");
  EXPECT_NEAR(ce.last, std::log(4.0 / 3), 1e-12);
  EXPECT_NEAR(ce.mean, (std::log(2.0) + std::log(4.0 / 3)) / 2, 1e-12);
  EXPECT_NEAR(ce.ema, 0.5 * std::log(2.0) + 0.5 * std::log(4.0 / 3), 1e-12);
}

TEST(RunStateTest, ALargerEpochClosesTheCurrentOne) {
  RunState state("r", "train", {.max_epochs_kept = 2});
  const TestBatch a = Binary({2.0, -1.0}, {1, 0});
  const TestBatch b = Binary({-2.0, 1.0}, {1, 0});
  ASSERT_TRUE(state.Report(Input("w", 1, a, 0)).ok());
  ASSERT_TRUE(state.Report(Input("w", 2, b, 1)).ok());
  EXPECT_EQ(state.Metrics(0)->average_precision.macro, 1.0);
  EXPECT_EQ(state.Metrics(0)->samples, 2);
  EXPECT_EQ(state.Metrics(std::nullopt)->epoch, 1);
  EXPECT_EQ(state.Metrics(std::nullopt)->average_precision.macro, 0.5);
  // A late batch of epoch 0 is counted in the current epoch, not lost.
  ASSERT_TRUE(state.Report(Input("slow", 1, a, 0)).ok());
  EXPECT_EQ(state.Metrics(1)->samples, 4);
  EXPECT_EQ(state.Metrics(0)->samples, 2);
  ASSERT_TRUE(state.Report(Input("w", 3, a, 2)).ok());
  ASSERT_TRUE(state.Report(Input("w", 4, a, 3)).ok());
  EXPECT_EQ(state.Metrics(0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(state.Metrics(1).ok());
  EXPECT_EQ(state.Metrics(7).status().code(), absl::StatusCode::kNotFound);
  // Counts for class weights span the whole run.
  EXPECT_EQ(state.SamplesPerClass(), (std::vector<int64_t>{5, 5}));
}

TEST(RunStateTest, RejectedBatchesChangeNothing) {
  RunState state("r", "train", {});
  const TestBatch a = Binary({2.0, -1.0}, {1, 0});
  ASSERT_TRUE(state.Report(Input("w", 1, a)).ok());
  const TestBatch multi = Multiclass({0, 1, 2, 0, 1, 2}, {0, 1}, 3);
  EXPECT_THAT(
      state.Report(Input("w", 2, multi)).status().message(),
      HasSubstr("batch.task: run 'r' holds TASK_BINARY batches, this one is "
                "TASK_MULTICLASS"));
  const TestBatch soft = Binary({1.0}, {0.5});
  EXPECT_THAT(state.Report(Input("w", 2, soft)).status().message(),
              HasSubstr("needs hard 0/1 targets"));
  ReportInput renamed = Input("w", 2, a);
  renamed.losses = {{.kind = LossKind::kFocal, .name = "cross_entropy"}};
  EXPECT_THAT(
      state.Report(renamed).status().message(),
      HasSubstr("'cross_entropy' is LOSS_KIND_CROSS_ENTROPY in this run"));
  EXPECT_THAT(state.Report(Input("w", 0, a)).status().message(),
              HasSubstr("seq: must start at 1"));
  const auto metrics = state.Metrics(std::nullopt);
  EXPECT_EQ(metrics->batches, 1);
  EXPECT_EQ(metrics->samples, 2);
  // The rejected seq 2 was not consumed.
  EXPECT_FALSE(state.Report(Input("w", 2, a))->duplicate);
}

TEST(RunStateTest, MulticlassAveragesFollowTheirDefinitions) {
  RunState state("r", "train", {});
  std::mt19937_64 rng(4);
  std::normal_distribution<double> logit(0, 1);
  constexpr int64_t kClasses = 4, kRows = 60;
  std::vector<double> x(kRows * kClasses), t(kRows);
  for (int64_t r = 0; r < kRows; ++r) {
    t[r] = static_cast<double>(r % 3);  // Class 3 never appears.
    for (int64_t c = 0; c < kClasses; ++c)
      x[r * kClasses + c] = logit(rng) + (c == t[r]);
  }
  const TestBatch batch = Multiclass(x, t, kClasses);
  ASSERT_TRUE(state.Report(Input("w", 1, batch)).ok());
  const auto metrics = state.Metrics(std::nullopt);
  // One-vs-rest on softmax probabilities, class 3 undefined.
  std::vector<double> per_class;
  std::vector<double> all_scores, all_labels;
  for (int64_t c = 0; c < kClasses; ++c) {
    std::vector<double> scores, labels;
    for (int64_t r = 0; r < kRows; ++r) {
      double sum = 0;
      for (int64_t j = 0; j < kClasses; ++j)
        sum += std::exp(x[r * kClasses + j]);
      scores.push_back(std::exp(x[r * kClasses + c]) / sum);
      labels.push_back(t[r] == c);
    }
    all_scores.insert(all_scores.end(), scores.begin(), scores.end());
    all_labels.insert(all_labels.end(), labels.begin(), labels.end());
    if (c < 3) per_class.push_back(ApOf(scores, labels));
  }
  const AveragePrecisionSummary& ap = metrics->average_precision;
  EXPECT_FALSE(ap.per_class[3].defined);
  EXPECT_NEAR(ap.macro, (per_class[0] + per_class[1] + per_class[2]) / 3, 1e-9);
  EXPECT_NEAR(ap.weighted,
              (20 * per_class[0] + 20 * per_class[1] + 20 * per_class[2]) / 60,
              1e-9);
  EXPECT_NEAR(ap.micro, ApOf(all_scores, all_labels), 1e-9);
  EXPECT_EQ(state.SamplesPerClass(), (std::vector<int64_t>{20, 20, 20, 0}));
  const auto weights = state.ClassWeights(WeightScheme::kInverseFrequency, 0);
  ASSERT_TRUE(weights.ok());
  EXPECT_NEAR((*weights)[3], (*weights)[0] * 20, 1e-12);  // n = 0 counts as 1.
}

TEST(RunStateTest, SwitchesToCertifiedBoundsPastTheMemoryBudget) {
  RunState state(
      "r", "train",
      {.exact_memory_budget_bytes = 4096, .histogram_bytes_per_class = 2048});
  std::mt19937_64 rng(5);
  std::normal_distribution<double> logit(0, 1);
  std::vector<double> all_x, all_t;
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    std::vector<double> x(200), t(200);
    for (size_t i = 0; i < x.size(); ++i) {
      t[i] = (i % 10 == 0);
      x[i] = logit(rng) + 2 * t[i];
    }
    all_x.insert(all_x.end(), x.begin(), x.end());
    all_t.insert(all_t.end(), t.begin(), t.end());
    const TestBatch batch = Binary(x, t);
    ASSERT_TRUE(state.Report(Input("w", seq, batch)).ok());
  }
  const auto metrics = state.Metrics(std::nullopt);
  const ClassAveragePrecision& ap = metrics->average_precision.per_class[0];
  EXPECT_FALSE(metrics->average_precision.exact);
  EXPECT_FALSE(ap.exact);
  const double exact = ApOf(all_x, all_t);
  EXPECT_LE(ap.lower, exact);
  EXPECT_GE(ap.upper, exact);
  EXPECT_LE(ap.lower, ap.estimate);
  EXPECT_GE(ap.upper, ap.estimate);
  EXPECT_EQ(ap.positives, 400);
}

// CLASS_BALANCED_FOCAL without counts in a report weighs by the run's counts
// before the batch; none yet (or another class count) means equal weights.
TEST(RunStateTest, ClassBalancedFocalUsesTheRunCountsSoFar) {
  const TestBatch batch =
      Multiclass({2, 0, -1, 0, 1, 3, -2, 1, 0, 1, 0, 2}, {0, 1, 2, 2}, 3);
  auto loss_with = [&](std::vector<int64_t> counts) {
    LossSpec spec{.kind = LossKind::kClassBalancedFocal,
                  .samples_per_class = std::move(counts)};
    return ComputeLoss(*batch.prepared, spec, false, "losses[0]")->value;
  };
  auto prepared_loss = [&](std::vector<int64_t> run_counts) {
    ReportInput input = Input("w", 1, batch);
    input.losses = {{.kind = LossKind::kClassBalancedFocal}};
    input.run_class_counts = std::move(run_counts);
    const auto report = RunState::Prepare(input, RunLimits{});
    EXPECT_TRUE(report.ok()) << report.status();
    return report->loss_values.at(0).value;
  };
  EXPECT_EQ(prepared_loss({}), loss_with({0, 0, 0}));
  EXPECT_EQ(prepared_loss({300, 30, 3}), loss_with({300, 30, 3}));
  EXPECT_NE(loss_with({300, 30, 3}), loss_with({0, 0, 0}));
  EXPECT_EQ(prepared_loss({300, 30}), loss_with({0, 0, 0}));
  EXPECT_TRUE(NeedsRunClassCounts({{.kind = LossKind::kClassBalancedFocal}}));
  EXPECT_FALSE(NeedsRunClassCounts(
      {{.kind = LossKind::kClassBalancedFocal, .samples_per_class = {3, 1}},
       {.kind = LossKind::kFocal}}));

  // RunState::Report reads the counts itself.
  RunState run("cb", "train", RunLimits{});
  ASSERT_TRUE(run.Report(Input("w", 1, batch)).ok());  // counts 1, 1, 2
  ReportInput second = Input("w", 2, batch);
  second.losses = {{.kind = LossKind::kClassBalancedFocal}};
  const auto result = run.Report(second);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->losses.at(0).value, loss_with({1, 1, 2}));
}

TEST(RunStateTest, CurveAndWeightsNeedData) {
  RunState state("r", "train", {});
  EXPECT_EQ(
      state.ClassWeights(WeightScheme::kEffectiveNumber, 0.999).status().code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(state.Curve(0, 10).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const TestBatch a = Binary({2.0, -1.0, 0.0}, {1, 0, 1});
  ASSERT_TRUE(state.Report(Input("w", 1, a)).ok());
  const auto curve = state.Curve(0, 10);
  ASSERT_TRUE(curve.ok());
  EXPECT_NEAR(curve->thresholds[0], 1 / (1 + std::exp(-2.0)),
              1e-15);  // A probability.
  EXPECT_EQ(curve->recall.back(), 1.0);
  EXPECT_THAT(state.Curve(1, 10).status().message(),
              HasSubstr("class_id: 1 is outside [0, 1)"));
}

}  // namespace
}  // namespace focalmetrics
