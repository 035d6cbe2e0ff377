#include "server/run_maintenance.h"

#include <filesystem>
#include <string>

#include "core/tensor/tensor.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace focalmetrics {
namespace {

void ReportOne(RunRegistry& registry, const std::string& run) {
  const std::string scores = EncodeAs({1.0, -1.0}, DType::kFloat32);
  const std::string targets = EncodeAs({1.0, 0.0}, DType::kFloat32);
  auto batch =
      PreparedBatch::Prepare({.task = Task::kBinary,
                              .scores = {{2}, DType::kFloat32, scores},
                              .targets = {{2}, DType::kFloat32, targets}});
  ASSERT_TRUE(batch.ok());
  ASSERT_TRUE((*registry.GetOrCreate(run, "train"))
                  ->Report({.worker = "w", .seq = 1, .batch = &*batch})
                  .ok());
}

uint64_t DurableSeq(RunRegistry& registry, const std::string& run) {
  const std::string scores = EncodeAs({0.0}, DType::kFloat32);
  auto batch =
      PreparedBatch::Prepare({.task = Task::kBinary,
                              .scores = {{1}, DType::kFloat32, scores},
                              .targets = {{1}, DType::kFloat32, scores}});
  // Resending seq 1 is a duplicate whose result says what is durable.
  return (*registry.Find(run, "train"))
      ->Report({.worker = "w", .seq = 1, .batch = &*batch})
      ->durable_seq;
}

TEST(RunMaintenanceTest, SnapshotsPeriodicallyAndAtStop) {
  const std::string dir = testing::TempDir() + "/maintenance";
  std::filesystem::remove_all(dir);
  RunRegistry registry({});
  auto store = RunStore::Open(dir);
  ASSERT_TRUE(store.ok());
  ServerMetrics metrics;
  RunMaintenance maintenance(
      &registry, store->get(), &metrics,
      {.snapshot_interval = absl::Milliseconds(10), .run_ttl = {}});
  maintenance.Start();
  ReportOne(registry, "periodic");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (DurableSeq(registry, "periodic") < 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(DurableSeq(registry, "periodic"), 1u);
  maintenance.Stop();
  const std::string text =
      prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
  EXPECT_NE(text.find("focalmetrics_snapshots_written_total 1"),
            std::string::npos)
      << text;
}

TEST(RunMaintenanceTest, StopWritesTheFinalSnapshot) {
  const std::string dir = testing::TempDir() + "/maintenance_final";
  std::filesystem::remove_all(dir);
  RunRegistry registry({});
  auto store = RunStore::Open(dir);
  ServerMetrics metrics;
  RunMaintenance maintenance(
      &registry, store->get(), &metrics,
      {.snapshot_interval = absl::Hours(1), .run_ttl = {}});
  maintenance.Start();
  ReportOne(registry, "final");
  EXPECT_EQ(DurableSeq(registry, "final"), 0u);
  maintenance.Stop();
  EXPECT_EQ(DurableSeq(registry, "final"), 1u);
  EXPECT_TRUE(std::filesystem::exists(dir + "/" +
                                      RunStore::FileName("final", "train")));
}

TEST(RunMaintenanceTest, DeletesRunsIdleForTheTtl) {
  RunRegistry registry({});
  ServerMetrics metrics;
  RunMaintenance maintenance(&registry, nullptr, &metrics,
                             {.snapshot_interval = absl::Hours(1),
                              .run_ttl = absl::Milliseconds(100)});
  ReportOne(registry, "idle");
  maintenance.Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (registry.size() > 0 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(registry.size(), 0);
  maintenance.Stop();
}

}  // namespace
}  // namespace focalmetrics
