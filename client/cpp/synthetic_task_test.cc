#include "client/cpp/synthetic_task.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "client/cpp/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

TEST(SyntheticTaskTest, ClassFrequenciesFallGeometricallyByTheImbalance) {
  const auto task = SyntheticTask::Create({.classes = 5, .imbalance = 100});
  ASSERT_TRUE(task.ok());
  const std::vector<double>& f = task->class_frequencies();
  ASSERT_EQ(f.size(), 5u);
  EXPECT_NEAR(std::accumulate(f.begin(), f.end(), 0.0), 1.0, 1e-12);
  EXPECT_NEAR(f[0] / f[4], 100.0, 1e-9);
  for (int c = 1; c < 5; ++c)
    EXPECT_NEAR(f[c - 1] / f[c], std::sqrt(10.0), 1e-9);
}

TEST(SyntheticTaskTest, BatchesFollowTheFrequenciesAndSeparateTheTrueClass) {
  auto task = SyntheticTask::Create(
      {.classes = 4, .imbalance = 20, .separation = 1.5, .seed = 7});
  ASSERT_TRUE(task.ok());
  std::vector<int64_t> counts(4, 0);
  double true_minus_other = 0;
  int64_t rows = 0;
  v1::Batch batch;
  for (int i = 0; i < 100; ++i) {
    task->NextBatch(1000, &batch);
    ASSERT_EQ(batch.task(), v1::TASK_MULTICLASS);
    ASSERT_THAT(batch.scores().shape(), testing::ElementsAre(1000, 4));
    ASSERT_EQ(batch.scores().dtype(), v1::DTYPE_FLOAT32);
    ASSERT_THAT(batch.targets().shape(), testing::ElementsAre(1000));
    ASSERT_EQ(batch.targets().dtype(), v1::DTYPE_INT64);
    const std::vector<float> logits = TensorValues<float>(batch.scores());
    const std::vector<int64_t> labels = TensorValues<int64_t>(batch.targets());
    for (int64_t row = 0; row < 1000; ++row) {
      ++counts[labels[row]];
      const int64_t other = (labels[row] + 1) % 4;
      true_minus_other +=
          logits[row * 4 + labels[row]] - logits[row * 4 + other];
      ++rows;
    }
  }
  for (int c = 0; c < 4; ++c) {
    const double p = task->class_frequencies()[c];
    const double sigma = std::sqrt(rows * p * (1 - p));
    EXPECT_NEAR(counts[c], rows * p, 5 * sigma) << "class " << c;
  }
  // The difference of two N(0,1) has standard deviation sqrt(2).
  EXPECT_NEAR(true_minus_other / rows, 1.5, 5 * std::sqrt(2.0 / rows));
}

TEST(SyntheticTaskTest, SameSeedSameBatchesOtherSeedOthers) {
  auto a = SyntheticTask::Create({.seed = 3});
  auto b = SyntheticTask::Create({.seed = 3});
  auto c = SyntheticTask::Create({.seed = 4});
  v1::Batch batch_a, batch_b, batch_c;
  a->NextBatch(64, &batch_a);
  b->NextBatch(64, &batch_b);
  c->NextBatch(64, &batch_c);
  EXPECT_EQ(batch_a.SerializeAsString(), batch_b.SerializeAsString());
  EXPECT_NE(batch_a.scores().data(), batch_c.scores().data());
}

TEST(SyntheticTaskTest, RejectsBadOptionsNamingThem) {
  EXPECT_THAT(SyntheticTask::Create({.classes = 1}).status().message(),
              HasSubstr("classes: 1"));
  EXPECT_THAT(SyntheticTask::Create({.imbalance = 0.5}).status().message(),
              HasSubstr("imbalance: 0.5"));
  EXPECT_THAT(SyntheticTask::Create(
                  {.imbalance = std::numeric_limits<double>::quiet_NaN()})
                  .status()
                  .message(),
              HasSubstr("imbalance"));
  EXPECT_THAT(SyntheticTask::Create(
                  {.separation = std::numeric_limits<double>::infinity()})
                  .status()
                  .message(),
              HasSubstr("separation"));
}

}  // namespace
}  // namespace focalmetrics
