#include "core/losses/internal/sigmoid_kernels.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace focalmetrics::losses_internal {
namespace {

// The definition, one element at a time, in long double.
long double ReferenceFocal(double x, double t, double alpha, double gamma) {
  const long double p = 1.0L / (1.0L + std::exp(-static_cast<long double>(x)));
  const long double ce =
      std::max<long double>(x, 0) - x * t +
      std::log1p(std::exp(-std::fabs(static_cast<long double>(x))));
  const long double m = p * (1 - t) + (1 - p) * t;
  const long double alpha_t =
      alpha < 0 ? 1.0L : alpha * t + (1 - alpha) * (1 - t);
  return alpha_t * std::pow(m, static_cast<long double>(gamma)) * ce;
}

// The ASL definition of DESIGN.md, in long double.
long double ReferenceAsymmetric(double x, double t, const AsymmetricParams& a) {
  const long double p = 1.0L / (1.0L + std::exp(-static_cast<long double>(x)));
  const long double p_m = std::max<long double>(p - a.clip, 0);
  const long double floor = std::log(1e-8L);
  const long double pos =
      t * std::pow(1 - p, static_cast<long double>(a.gamma_pos)) *
      std::max(std::log(p), floor);
  const long double neg = (1 - t) *
                          std::pow(p_m, static_cast<long double>(a.gamma_neg)) *
                          std::max(std::log(1 - p_m), floor);
  return -(pos + neg);
}

TEST(AsymmetricKernelTest, EveryLengthMatchesTheDefinition) {
  std::mt19937_64 rng(6);
  std::normal_distribution<float> logit(0.0f, 3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (const AsymmetricParams params :
       {AsymmetricParams{},
        AsymmetricParams{.gamma_pos = 0, .gamma_neg = 2.5, .clip = 0}}) {
    for (size_t n = 0; n <= 40; ++n) {
      std::vector<float> x(n), t(n);
      for (size_t i = 0; i < n; ++i) {
        x[i] = logit(rng);
        t[i] = unit(rng) < 0.5 ? 1.0f : 0.0f;
      }
      std::vector<double> xd(x.begin(), x.end()), td(t.begin(), t.end());
      std::vector<double> values_float(n), values_double(n);
      Asymmetric(FloatingValues::Borrow(absl::MakeConstSpan(x)),
                 FloatingValues::Borrow(absl::MakeConstSpan(t)), params,
                 {.values = absl::MakeSpan(values_float)});
      Asymmetric(FloatingValues::Borrow(absl::MakeConstSpan(xd)),
                 FloatingValues::Borrow(absl::MakeConstSpan(td)), params,
                 {.values = absl::MakeSpan(values_double)});
      for (size_t i = 0; i < n; ++i) {
        const long double expected = ReferenceAsymmetric(xd[i], td[i], params);
        EXPECT_NEAR(values_double[i], expected, 1e-13 * expected + 1e-300)
            << n << " " << i;
        EXPECT_NEAR(values_float[i], expected, 2e-6 * expected + 1e-30)
            << n << " " << i;
      }
    }
  }
}

// Every length from 0 to 70 exercises the vector body and the padded tail
// on every SIMD width, in float32 and float64 lanes.
TEST(SigmoidFocalKernelTest, EveryLengthMatchesTheDefinition) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> logit(0.0f, 3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (const double gamma : {0.0, 2.0, 0.7}) {
    for (size_t n = 0; n <= 70; ++n) {
      std::vector<float> x(n), t(n);
      for (size_t i = 0; i < n; ++i) {
        x[i] = logit(rng);
        t[i] = unit(rng);
      }
      std::vector<double> xd(x.begin(), x.end()), td(t.begin(), t.end());
      std::vector<double> values_float(n), values_double(n);
      const SigmoidFocalParams params{.alpha = 0.25, .gamma = gamma};
      const ElementwiseSums float_lanes =
          SigmoidFocal(FloatingValues::Borrow(absl::MakeConstSpan(x)),
                       FloatingValues::Borrow(absl::MakeConstSpan(t)), params,
                       {.values = absl::MakeSpan(values_float)});
      const ElementwiseSums double_lanes =
          SigmoidFocal(FloatingValues::Borrow(absl::MakeConstSpan(xd)),
                       FloatingValues::Borrow(absl::MakeConstSpan(td)), params,
                       {.values = absl::MakeSpan(values_double)});
      long double expected_sum = 0;
      for (size_t i = 0; i < n; ++i) {
        const long double expected = ReferenceFocal(xd[i], td[i], 0.25, gamma);
        expected_sum += expected;
        EXPECT_NEAR(values_double[i], expected, 1e-14 * expected + 1e-300)
            << n << " " << i;
        EXPECT_NEAR(values_float[i], expected, 2e-6 * expected + 1e-30)
            << n << " " << i;
      }
      EXPECT_NEAR(double_lanes.loss, expected_sum,
                  1e-13 * expected_sum + 1e-300);
      EXPECT_NEAR(float_lanes.loss, expected_sum, 2e-6 * expected_sum + 1e-30);
    }
  }
}

TEST(SigmoidFocalKernelTest, ExtremeLogitsStayFinite) {
  const std::vector<double> x = {1e4, -1e4, 40, -40, 745, -745};
  const std::vector<double> t = {0, 1, 1, 0, 1, 1};
  std::vector<double> values(x.size()), gradient(x.size());
  SigmoidFocal(
      FloatingValues::Borrow(absl::MakeConstSpan(x)),
      FloatingValues::Borrow(absl::MakeConstSpan(t)), {.alpha = -1, .gamma = 0},
      {.values = absl::MakeSpan(values), .gradient = absl::MakeSpan(gradient)});
  EXPECT_DOUBLE_EQ(values[0], 1e4);  // Confidently wrong: the margin itself.
  EXPECT_DOUBLE_EQ(values[1], 1e4);
  // Confidently right: log1p(exp(-40)) = 4.25e-18, not 0 as log(p) would give.
  EXPECT_NEAR(values[2], std::exp(-40.0), 1e-30);
  EXPECT_NEAR(values[3], std::exp(-40.0), 1e-30);
  EXPECT_DOUBLE_EQ(values[5], 745);
  EXPECT_DOUBLE_EQ(gradient[0], 1.0);
  EXPECT_DOUBLE_EQ(gradient[1], -1.0);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_TRUE(std::isfinite(gradient[i]) && std::isfinite(values[i]))
        << "x=" << x[i] << " value " << values[i] << " gradient "
        << gradient[i];
  }
}

}  // namespace
}  // namespace focalmetrics::losses_internal
