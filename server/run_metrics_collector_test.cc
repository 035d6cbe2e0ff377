#include "server/run_metrics_collector.h"

#include <string>

#include "core/tensor/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Reports a MULTICLASS batch with `counts[c]` samples of class c.
void ReportCounts(RunRegistry& registry, const std::string& run,
                  const std::vector<int64_t>& counts) {
  std::vector<double> targets;
  for (size_t c = 0; c < counts.size(); ++c)
    targets.insert(targets.end(), counts[c], c);
  const int64_t n = static_cast<int64_t>(targets.size());
  const int64_t classes = static_cast<int64_t>(counts.size());
  std::vector<double> scores(n * classes);
  for (int64_t r = 0; r < n; ++r)
    scores[r * classes + static_cast<int64_t>(targets[r])] = 1;
  const std::string score_bytes = EncodeAs(scores, DType::kFloat32);
  const std::string target_bytes = EncodeAs(targets, DType::kInt64);
  auto batch = PreparedBatch::Prepare(
      {.task = Task::kMulticlass,
       .scores = {{n, classes}, DType::kFloat32, score_bytes},
       .targets = {{n}, DType::kInt64, target_bytes}});
  ASSERT_TRUE(batch.ok());
  auto state = registry.GetOrCreate(run, "train");
  ASSERT_TRUE(state.ok());
  ASSERT_TRUE((*state)
                  ->Report({.worker = "w",
                            .seq = 1,
                            .batch = &*batch,
                            .losses = {{.kind = LossKind::kFocal}}})
                  .ok());
}

std::string Scrape(const RunMetricsCollector& collector) {
  return prometheus::TextSerializer().Serialize(collector.Collect());
}

TEST(RunMetricsCollectorTest, ExportsEveryRunSeries) {
  RunRegistry registry({});
  ReportCounts(registry, "r1", {30, 20, 10});
  const std::string text = Scrape(RunMetricsCollector(&registry, 32));
  for (const char* series :
       {"focalmetrics_runs 1",
        "focalmetrics_samples_total{run=\"r1\",split=\"train\"} 60",
        "focalmetrics_batches_total{run=\"r1\",split=\"train\"} 1",
        "focalmetrics_epoch{run=\"r1\",split=\"train\"} 0",
        "focalmetrics_loss{run=\"r1\",split=\"train\",loss=\"focal\"}",
        "focalmetrics_loss_last{run=\"r1\",split=\"train\",loss=\"focal\"}",
        "focalmetrics_pr_auc{run=\"r1\",split=\"train\",average=\"macro\"} 1",
        "focalmetrics_pr_auc{run=\"r1\",split=\"train\",average=\"micro\"} 1",
        "focalmetrics_pr_auc{run=\"r1\",split=\"train\",average=\"weighted\"} "
        "1",
        "focalmetrics_class_pr_auc{run=\"r1\",split=\"train\",class=\"2\"} 1",
        "focalmetrics_class_positives_total{run=\"r1\",split=\"train\",class="
        "\"0\"} 30",
        "focalmetrics_class_weight{run=\"r1\",split=\"train\",class=\"2\"}",
        "focalmetrics_recommendation_info{run=\"r1\",split=\"train\",loss="
        "\"focal\",gamma=\"0\"} 1"}) {
    EXPECT_THAT(text, HasSubstr(series));
  }
}

TEST(RunMetricsCollectorTest, PerClassSeriesAreCappedToTheLargestClasses) {
  RunRegistry registry({});
  ReportCounts(registry, "wide", {5, 50, 1, 40, 3});
  const std::string text = Scrape(RunMetricsCollector(&registry, 2));
  EXPECT_THAT(text, HasSubstr("split=\"train\",class=\"1\"} 50"));
  EXPECT_THAT(text, HasSubstr("split=\"train\",class=\"3\"} 40"));
  EXPECT_THAT(text, Not(HasSubstr("class=\"0\"")));
  EXPECT_THAT(text, Not(HasSubstr("class=\"2\"")));
}

TEST(RunMetricsCollectorTest, DeletedRunsDisappear) {
  RunRegistry registry({});
  ReportCounts(registry, "gone", {3, 4});
  ReportCounts(registry, "kept", {3, 4});
  const RunMetricsCollector collector(&registry, 32);
  EXPECT_THAT(Scrape(collector), HasSubstr("run=\"gone\""));
  registry.Delete("gone", "");
  const std::string text = Scrape(collector);
  EXPECT_THAT(text, Not(HasSubstr("run=\"gone\"")));
  EXPECT_THAT(text, HasSubstr("run=\"kept\""));
  EXPECT_THAT(text, HasSubstr("focalmetrics_runs 1"));
}

}  // namespace
}  // namespace focalmetrics
