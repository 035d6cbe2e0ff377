#include "core/durability/run_store.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/durability/snapshot_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

std::string FreshDir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/run_store_" + name;
  fs::remove_all(dir);
  return dir;
}

// Reports `batches` MULTICLASS batches of 3 classes into (run, "train") as
// worker "w", seqs 1..batches, epoch = seq / 3.
void Feed(RunRegistry& registry, const std::string& run, int batches,
          int first_seq = 1) {
  for (int seq = first_seq; seq < first_seq + batches; ++seq) {
    std::vector<double> scores, targets;
    for (int r = 0; r < 12; ++r) {
      targets.push_back((r * 7 + seq) % 3);
      for (int c = 0; c < 3; ++c)
        scores.push_back(0.1 * ((r + c * seq) % 5) + (c == targets.back()));
    }
    const std::string s = EncodeAs(scores, DType::kFloat32);
    const std::string t = EncodeAs(targets, DType::kInt64);
    auto batch =
        PreparedBatch::Prepare({.task = Task::kMulticlass,
                                .scores = {{12, 3}, DType::kFloat32, s},
                                .targets = {{12}, DType::kInt64, t}});
    ASSERT_TRUE(batch.ok());
    auto state = registry.GetOrCreate(run, "train");
    ASSERT_TRUE(state.ok());
    ASSERT_TRUE((*state)
                    ->Report({.worker = "w",
                              .seq = static_cast<uint64_t>(seq),
                              .epoch = seq / 3,
                              .batch = &*batch,
                              .losses = {{.kind = LossKind::kFocal}}})
                    .ok());
  }
}

void ExpectSameMetrics(const RunState& a, const RunState& b,
                       std::optional<int64_t> epoch) {
  const auto x = a.Metrics(epoch);
  const auto y = b.Metrics(epoch);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(x->samples, y->samples);
  EXPECT_EQ(x->batches, y->batches);
  EXPECT_EQ(x->epoch, y->epoch);
  ASSERT_EQ(x->losses.size(), y->losses.size());
  EXPECT_EQ(x->losses[0].mean, y->losses[0].mean);
  EXPECT_EQ(x->losses[0].ema, y->losses[0].ema);
  ASSERT_EQ(x->average_precision.per_class.size(),
            y->average_precision.per_class.size());
  for (size_t c = 0; c < x->average_precision.per_class.size(); ++c) {
    EXPECT_EQ(x->average_precision.per_class[c].estimate,
              y->average_precision.per_class[c].estimate);
    EXPECT_EQ(x->average_precision.per_class[c].upper,
              y->average_precision.per_class[c].upper);
  }
  EXPECT_EQ(x->average_precision.micro, y->average_precision.micro);
  EXPECT_EQ(x->recommendation.reason, y->recommendation.reason);
}

TEST(RunStoreTest, RestoresWhatItWroteAndMarksItDurable) {
  const std::string dir = FreshDir("restore");
  RunRegistry registry({});
  Feed(registry, "a", 7);
  Feed(registry, "b", 2);
  auto store = RunStore::Open(dir);
  ASSERT_TRUE(store.ok());
  const SnapshotResult written = (*store)->SnapshotChanged(registry);
  EXPECT_EQ(written.written, 2);
  EXPECT_TRUE(written.first_error.ok());
  // Nothing changed: nothing to write.
  EXPECT_EQ((*store)->SnapshotChanged(registry).written, 0);

  RunRegistry restored({});
  auto reopened = RunStore::Open(dir);
  const RestoreReport report = (*reopened)->RestoreAll(restored);
  EXPECT_EQ(report.restored, 2);
  EXPECT_THAT(report.quarantined, SizeIs(0));
  for (const char* run : {"a", "b"}) {
    ExpectSameMetrics(**registry.Find(run, "train"),
                      **restored.Find(run, "train"), std::nullopt);
  }
  ExpectSameMetrics(**registry.Find("a", "train"),
                    **restored.Find("a", "train"), 1);
  EXPECT_EQ((*restored.Find("a", "train"))->SamplesPerClass(),
            (*registry.Find("a", "train"))->SamplesPerClass());
  // The restored run knows seq 7 was applied, and that it is durable.
  std::vector<double> scores(3, 0.0), targets(1, 0.0);
  const std::string s = EncodeAs(scores, DType::kFloat32);
  const std::string t = EncodeAs(targets, DType::kInt64);
  auto batch = PreparedBatch::Prepare({.task = Task::kMulticlass,
                                       .scores = {{1, 3}, DType::kFloat32, s},
                                       .targets = {{1}, DType::kInt64, t}});
  const auto again =
      (*restored.Find("a", "train"))
          ->Report({.worker = "w", .seq = 7, .epoch = 2, .batch = &*batch});
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->durable_seq, 7u);
}

TEST(RunStoreTest, DeletedRunsLoseTheirFile) {
  const std::string dir = FreshDir("delete");
  RunRegistry registry({});
  Feed(registry, "a", 1);
  Feed(registry, "b", 1);
  auto store = RunStore::Open(dir);
  (*store)->SnapshotChanged(registry);
  EXPECT_TRUE(fs::exists(dir + "/" + RunStore::FileName("b", "train")));
  registry.Delete("b", "");
  EXPECT_EQ((*store)->SnapshotChanged(registry).removed, 1);
  EXPECT_FALSE(fs::exists(dir + "/" + RunStore::FileName("b", "train")));
  EXPECT_TRUE(fs::exists(dir + "/" + RunStore::FileName("a", "train")));
}

TEST(RunStoreTest, BoundedMemoryRunsRoundTrip) {
  const std::string dir = FreshDir("bounded");
  RunRegistry registry({.run = {.exact_memory_budget_bytes = 256,
                                .histogram_bytes_per_class = 1024}});
  Feed(registry, "h", 20);
  ASSERT_FALSE((*registry.Find("h", "train"))
                   ->Metrics(std::nullopt)
                   ->average_precision.exact);
  auto store = RunStore::Open(dir);
  (*store)->SnapshotChanged(registry);
  RunRegistry restored(registry.limits());
  EXPECT_EQ((*RunStore::Open(dir))->RestoreAll(restored).restored, 1);
  ExpectSameMetrics(**registry.Find("h", "train"),
                    **restored.Find("h", "train"), std::nullopt);
}

// Every damage shape is detected, moved into quarantine/ and reported; the
// intact runs are restored all the same.
TEST(RunStoreTest, QuarantinesEveryDamageShapeAndRestoresTheRest) {
  const std::string dir = FreshDir("damage");
  RunRegistry registry({});
  for (const char* run :
       {"intact", "truncated", "checksum", "newer", "empty", "garbage"}) {
    Feed(registry, run, 2);
  }
  auto store = RunStore::Open(dir);
  ASSERT_EQ((*store)->SnapshotChanged(registry).written, 6);
  auto path = [&dir](const char* run) {
    return dir + "/" + RunStore::FileName(run, "train");
  };
  auto overwrite = [](const std::string& file, const std::string& contents) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
  };
  const std::string good = *ReadWholeFile(path("truncated"));
  overwrite(path("truncated"), good.substr(0, good.size() / 2));
  std::string flipped = *ReadWholeFile(path("checksum"));
  flipped[flipped.size() - 3] ^= 0x01;
  overwrite(path("checksum"), flipped);
  overwrite(path("newer"),
            EncodeSnapshot(*DecodeSnapshot(*ReadWholeFile(path("newer"))),
                           kSnapshotVersion + 1));
  overwrite(path("empty"), "");
  overwrite(path("garbage"), EncodeSnapshot("not a run at all"));
  // A crash between write and rename leaves a torn temporary file.
  overwrite(path("intact") + ".tmp", good.substr(0, 10));

  RunRegistry restored({});
  const RestoreReport report = (*RunStore::Open(dir))->RestoreAll(restored);
  EXPECT_EQ(report.restored, 1);
  ASSERT_TRUE(restored.Find("intact", "train").ok());
  ExpectSameMetrics(**registry.Find("intact", "train"),
                    **restored.Find("intact", "train"), std::nullopt);
  EXPECT_THAT(report.quarantined, SizeIs(6));
  std::string all;
  for (const std::string& line : report.quarantined) all += line + "\n";
  EXPECT_THAT(all, HasSubstr(RunStore::FileName("truncated", "train") +
                             ": snapshot truncated"));
  EXPECT_THAT(all, HasSubstr(RunStore::FileName("checksum", "train") +
                             ": snapshot checksum"));
  EXPECT_THAT(all, HasSubstr(RunStore::FileName("newer", "train") +
                             ": snapshot version 2"));
  EXPECT_THAT(all, HasSubstr(RunStore::FileName("empty", "train") +
                             ": snapshot is empty"));
  EXPECT_THAT(all,
              HasSubstr(RunStore::FileName("garbage", "train") + ": snapshot"));
  EXPECT_THAT(all, HasSubstr(".snap.tmp: torn write"));
  std::vector<std::string> left, quarantined;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file())
      left.push_back(entry.path().filename().string());
  }
  for (const auto& entry : fs::directory_iterator(dir + "/quarantine")) {
    quarantined.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(left,
              UnorderedElementsAre(RunStore::FileName("intact", "train")));
  EXPECT_THAT(quarantined, SizeIs(6));
}

}  // namespace
}  // namespace focalmetrics

namespace focalmetrics {
namespace {

// Regression: a run deleted and reported again up to the same version was
// taken for unchanged, so the deleted run came back after a restart.
TEST(RunStoreTest, ARecreatedRunIsWrittenEvenAtTheSameVersion) {
  const std::string dir = FreshDir("recreated");
  RunRegistry registry({});
  Feed(registry, "r", 3);
  auto store = RunStore::Open(dir);
  ASSERT_EQ((*store)->SnapshotChanged(registry).written, 1);
  registry.Delete("r", "");
  Feed(registry, "r", 3, /*first_seq=*/10);
  EXPECT_EQ((*store)->SnapshotChanged(registry).written, 1);
  RunRegistry restored({});
  ASSERT_EQ((*RunStore::Open(dir))->RestoreAll(restored).restored, 1);
  ExpectSameMetrics(**registry.Find("r", "train"),
                    **restored.Find("r", "train"), std::nullopt);
}

}  // namespace
}  // namespace focalmetrics
