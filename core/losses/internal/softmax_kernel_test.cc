#include "core/losses/internal/softmax_kernel.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace focalmetrics::losses_internal {
namespace {

// Every class count from 1 to 40 exercises the vector body and the padded
// tail, in float32 lanes (statistics only) and float64 lanes (with the
// softmax).
TEST(SoftmaxRowsTest, StatisticsAndSoftmaxMatchTheDefinition) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> logit(0.0f, 3.0f);
  constexpr int64_t kRows = 3;
  for (int64_t classes = 1; classes <= 40; ++classes) {
    std::vector<float> x(kRows * classes);
    for (float& v : x) v = logit(rng);
    std::vector<SoftmaxRow> float_stats(kRows), double_stats(kRows);
    std::vector<double> softmax(kRows * classes);
    const FloatingValues values =
        FloatingValues::Borrow(absl::MakeConstSpan(x));
    SoftmaxRows(values, kRows, classes, absl::MakeSpan(float_stats), {});
    SoftmaxRows(values, kRows, classes, absl::MakeSpan(double_stats),
                absl::MakeSpan(softmax));
    for (int64_t r = 0; r < kRows; ++r) {
      long double max = x[r * classes];
      for (int64_t j = 0; j < classes; ++j)
        max = std::max<long double>(max, x[r * classes + j]);
      long double rest = 0;
      int64_t at_max = 0;
      for (int64_t j = 0; j < classes; ++j) {
        if (x[r * classes + j] == max) {
          ++at_max;
        } else {
          rest += std::exp(x[r * classes + j] - max);
        }
      }
      for (const SoftmaxRow& row : {float_stats[r], double_stats[r]}) {
        EXPECT_EQ(row.max, static_cast<double>(max)) << classes;
        EXPECT_EQ(row.max_count, at_max) << classes;
      }
      EXPECT_NEAR(double_stats[r].rest, rest, 1e-14 * rest + 1e-300) << classes;
      EXPECT_NEAR(float_stats[r].rest, rest, 1e-6 * rest + 1e-30) << classes;
      double total = 0;
      for (int64_t j = 0; j < classes; ++j) {
        const long double expected =
            std::exp(x[r * classes + j] - max) / (at_max + rest);
        EXPECT_NEAR(softmax[r * classes + j], expected, 1e-14) << classes;
        total += softmax[r * classes + j];
      }
      EXPECT_NEAR(total, 1.0, 1e-14);
    }
  }
}

TEST(SoftmaxRowsTest, TiedMaximaAreCounted) {
  const std::vector<double> x = {5, 5, 1, 5};
  std::vector<SoftmaxRow> stats(1);
  SoftmaxRows(FloatingValues::Borrow(absl::MakeConstSpan(x)), 1, 4,
              absl::MakeSpan(stats), {});
  EXPECT_EQ(stats[0].max, 5);
  EXPECT_EQ(stats[0].max_count, 3);
  EXPECT_NEAR(stats[0].rest, std::exp(-4.0), 1e-16);
}

}  // namespace
}  // namespace focalmetrics::losses_internal
