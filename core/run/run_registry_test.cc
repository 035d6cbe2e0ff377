#include "core/run/run_registry.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

TEST(RunRegistryTest, CreatesOnceAndFinds) {
  RunRegistry registry({.max_runs = 10});
  auto a = registry.GetOrCreate("run-1", "");
  auto b = registry.GetOrCreate("run-1", "train");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());  // "" is "train".
  EXPECT_TRUE(registry.Find("run-1", "train").ok());
  EXPECT_EQ(registry.Find("run-1", "val").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(RunRegistryTest, BoundsTheNumberOfRuns) {
  RunRegistry registry({.max_runs = 2});
  ASSERT_TRUE(registry.GetOrCreate("a", "train").ok());
  ASSERT_TRUE(registry.GetOrCreate("a", "val").ok());
  const auto third = registry.GetOrCreate("b", "train");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("--max_runs"));
  EXPECT_EQ(registry.Delete("a", "val"), 1);
  EXPECT_TRUE(registry.GetOrCreate("b", "train").ok());
}

TEST(RunRegistryTest, DeletesAllSplitsOfARun) {
  RunRegistry registry({});
  for (const char* split : {"train", "val", "test"}) {
    ASSERT_TRUE(registry.GetOrCreate("r", split).ok());
  }
  ASSERT_TRUE(registry.GetOrCreate("other", "train").ok());
  EXPECT_EQ(registry.Delete("r", ""), 3);
  ASSERT_EQ(registry.List().size(), 1u);
  EXPECT_EQ(registry.List()[0].run, "other");
  EXPECT_EQ(registry.Delete("r", ""), 0);
}

TEST(RunRegistryTest, DeletesIdleRuns) {
  RunRegistry registry({});
  ASSERT_TRUE(registry.GetOrCreate("old", "train").ok());
  const absl::Time cutoff = absl::Now() + absl::Milliseconds(1);
  absl::SleepFor(absl::Milliseconds(2));
  ASSERT_TRUE(registry.GetOrCreate("new", "train").ok());
  EXPECT_EQ(registry.DeleteIdleSince(cutoff), 1);
  ASSERT_EQ(registry.List().size(), 1u);
  EXPECT_EQ(registry.List()[0].run, "new");
  EXPECT_EQ(registry.size(), 1);
}

TEST(RunRegistryTest, ListsSorted) {
  RunRegistry registry({});
  ASSERT_TRUE(registry.GetOrCreate("b", "val").ok());
  ASSERT_TRUE(registry.GetOrCreate("a", "train").ok());
  ASSERT_TRUE(registry.GetOrCreate("b", "train").ok());
  const auto runs = registry.List();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].run + "/" + runs[0].split, "a/train");
  EXPECT_EQ(runs[1].run + "/" + runs[1].split, "b/train");
  EXPECT_EQ(runs[2].run + "/" + runs[2].split, "b/val");
}

TEST(RunRegistryTest, RejectsBadIds) {
  RunRegistry registry({});
  EXPECT_THAT(registry.GetOrCreate("", "train").status().message(),
              HasSubstr("run: empty"));
  EXPECT_THAT(
      registry.GetOrCreate(std::string(200, 'x'), "train").status().message(),
      HasSubstr("run: 200 bytes, more than 128"));
  EXPECT_THAT(registry.GetOrCreate("a\nb", "train").status().message(),
              HasSubstr("run: byte 1 (0xa) is not printable ASCII"));
  EXPECT_THAT(registry.GetOrCreate("a", "x\x01").status().message(),
              HasSubstr("split: byte 1"));
}

TEST(RunRegistryTest, ConcurrentCreationRespectsTheLimit) {
  RunRegistry registry({.max_runs = 50});
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        if (registry.GetOrCreate("run-" + std::to_string(t * 100 + i), "train")
                .ok())
          ++created;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(created.load(), 50);
  EXPECT_EQ(registry.List().size(), 50u);
}

}  // namespace
}  // namespace focalmetrics
