// Compiled once per SIMD target by Highway's foreach_target; the best target
// of the running CPU is picked on first use.
// clang-format off: foreach_target.h must come first, right after the define.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/losses/internal/sigmoid_focal_kernel.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/losses/internal/sigmoid_focal_kernel.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace focalmetrics::losses_internal::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sums are always kept in float64 lanes.
using D64 = hn::ScalableTag<double>;
using V64 = hn::Vec<D64>;
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Loads `lanes of DL` elements of type T as DL's lane type.
template <class DL, typename T>
HWY_INLINE hn::Vec<DL> LoadAs(DL d, const T* p) {
  if constexpr (std::is_same_v<hn::TFromD<DL>, T>) {
    return hn::LoadU(d, p);
  } else {
    return hn::PromoteTo(d, hn::LoadU(hn::Rebind<T, DL>(), p));
  }
}

// Adds (or stores) a vector of DL lanes in float64: float lanes are widened
// in two halves.
template <class DL>
HWY_INLINE V64 AddWide(DL d, V64 acc, hn::Vec<DL> v) {
  if constexpr (sizeof(hn::TFromD<DL>) == 8) {
    return hn::Add(acc, v);
  } else {
#if HWY_TARGET != \
    HWY_SCALAR  // The scalar target has no halves (nor float lanes here).
    const D64 d64;
    const hn::Half<DL> dh;
    return hn::Add(acc, hn::Add(hn::PromoteTo(d64, hn::LowerHalf(dh, v)),
                                hn::PromoteTo(d64, hn::UpperHalf(dh, v))));
#endif
  }
}

template <class DL>
HWY_INLINE void StoreWide(DL d, hn::Vec<DL> v, double* out) {
  if constexpr (sizeof(hn::TFromD<DL>) == 8) {
    hn::StoreU(v, d, out);
  } else {
#if HWY_TARGET != HWY_SCALAR
    const D64 d64;
    const hn::Half<DL> dh;
    hn::StoreU(hn::PromoteTo(d64, hn::LowerHalf(dh, v)), d64, out);
    hn::StoreU(hn::PromoteTo(d64, hn::UpperHalf(dh, v)), d64,
               out + hn::Lanes(d64));
#endif
  }
}

// Small integer gammas (0..8, the common ones) are exact repeated products;
// others go through exp(gamma * log m).
struct Modulation {
  double gamma;
  int integer_gamma;  // -1 when gamma is not a small integer.

  explicit Modulation(double g) : gamma(g), integer_gamma(-1) {
    if (g >= 0 && g <= 8 && g == std::floor(g))
      integer_gamma = static_cast<int>(g);
  }

  template <class DL>
  HWY_INLINE hn::Vec<DL> Pow(DL d, hn::Vec<DL> m) const {
    using T = hn::TFromD<DL>;
    if (integer_gamma >= 0) {
      hn::Vec<DL> r = hn::Set(d, T{1});
      for (int k = 0; k < integer_gamma; ++k) r = hn::Mul(r, m);
      return r;
    }
    const auto positive = hn::Gt(m, hn::Zero(d));
    const auto safe_m = hn::IfThenElse(positive, m, hn::Set(d, T{1}));
    return hn::IfThenElseZero(
        positive, hn::Exp(d, hn::Mul(hn::Set(d, static_cast<T>(gamma)),
                                     hn::Log(d, safe_m))));
  }
};

// For e = exp(-|x|) in [0, 1]: 1 / (1 + e) and log1p(e), sharing one
// division. log1p goes through log(u) = 2 atanh((u - 1) / (u + 1)) on
// u = 1 + e, halved when u > sqrt(2) so |s| <= 0.1716: 12 terms of the
// series reach float64 precision, 6 reach float32. s is formed from e
// directly, so a tiny e keeps its full relative precision.
template <class DL>
struct SoftplusParts {
  hn::Vec<DL> inv_one_plus_e;
  hn::Vec<DL> log1p_e;
};

template <class DL>
HWY_INLINE SoftplusParts<DL> Softplus(DL d, hn::Vec<DL> e) {
  using T = hn::TFromD<DL>;
  constexpr int kTerms = sizeof(T) == 8 ? 12 : 6;
  const auto one = hn::Set(d, T{1});
  const auto halved =
      hn::Gt(e, hn::Set(d, static_cast<T>(0.41421356237309503)));
  const auto numerator = hn::IfThenElse(halved, hn::Sub(e, one), e);
  const auto denominator =
      hn::Add(e, hn::IfThenElse(halved, hn::Set(d, T{3}), hn::Set(d, T{2})));
  const auto one_plus_e = hn::Add(one, e);
  const auto r = hn::Div(one, hn::Mul(denominator, one_plus_e));
  const auto s = hn::Mul(hn::Mul(numerator, one_plus_e), r);
  const auto z = hn::Mul(s, s);
  auto series = hn::Set(d, static_cast<T>(1.0 / (2 * kTerms - 1)));
  for (int k = kTerms - 2; k >= 0; --k) {
    series =
        hn::MulAdd(series, z, hn::Set(d, static_cast<T>(1.0 / (2 * k + 1))));
  }
  const auto log_u = hn::Mul(hn::Add(s, s), series);
  const auto ln2 = hn::IfThenElseZero(
      halved, hn::Set(d, static_cast<T>(0.6931471805599453094)));
  return {hn::Mul(denominator, r), hn::Add(log_u, ln2)};
}

struct Accumulators {
  V64 loss, probability, probability_target;
};

// One vector of elements in lanes of DL: float64, or float32 for float32
// inputs when only loss values are wanted (the loss is a product of sums of
// non-negative parts, so nothing cancels and float32 lanes keep ~1e-7
// relative error per element; sums are float64 either way). `valid` masks
// lanes past the end in the tail.
template <bool kValues, bool kGradient, bool kProbabilities, class DL>
HWY_INLINE void Step(DL d, hn::Vec<DL> x, hn::Vec<DL> t, hn::Mask<DL> valid,
                     const SigmoidFocalParams& params, const Modulation& mod,
                     double gradient_scale, double* values, double* gradient,
                     double* probabilities, Accumulators& acc) {
  using T = hn::TFromD<DL>;
  const auto zero = hn::Zero(d);
  const auto one = hn::Set(d, T{1});
  const auto e = hn::Exp(d, hn::Neg(hn::Abs(x)));  // exp(-|x|) in [0, 1]
  const SoftplusParts<DL> parts = Softplus(d, e);
  const auto inv = parts.inv_one_plus_e;
  const auto nonnegative = hn::Ge(x, zero);
  const auto p = hn::IfThenElse(nonnegative, inv, hn::Mul(e, inv));
  const auto q = hn::IfThenElse(nonnegative, hn::Mul(e, inv), inv);  // 1 - p
  // max(x, 0) - x t >= 0 for t in [0, 1]: as max(x,0)(1-t) + max(-x,0) t.
  const auto one_minus_t = hn::Sub(one, t);
  const auto margin = hn::MulAdd(hn::Max(x, zero), one_minus_t,
                                 hn::Mul(hn::Max(hn::Neg(x), zero), t));
  const auto ce = hn::Add(margin, parts.log1p_e);
  // 1 - p_t = p (1 - t) + (1 - p) t, without cancellation.
  const auto m = hn::MulAdd(p, one_minus_t, hn::Mul(q, t));
  const auto modulation = mod.Pow(d, m);
  auto alpha_t = one;
  if (params.alpha >= 0) {
    alpha_t = hn::MulAdd(
        hn::Set(d, static_cast<T>(params.alpha)), t,
        hn::Mul(hn::Set(d, static_cast<T>(1.0 - params.alpha)), one_minus_t));
  }
  const auto loss =
      hn::IfThenElseZero(valid, hn::Mul(alpha_t, hn::Mul(modulation, ce)));
  const auto p_valid = hn::IfThenElseZero(valid, p);
  acc.loss = AddWide(d, acc.loss, loss);
  acc.probability = AddWide(d, acc.probability, p_valid);
  acc.probability_target =
      AddWide(d, acc.probability_target, hn::Mul(p_valid, t));
  if constexpr (kValues) StoreWide(d, loss, values);
  if constexpr (kProbabilities) StoreWide(d, p, probabilities);
  if constexpr (kGradient) {
    // d/dx = alpha_t [gamma m^(gamma-1) dm/dx ce + m^gamma (p - t)] with
    // dm/dx = p q (1 - 2t). Written as gamma m^gamma (p q / m) (1 - 2t) ce:
    // p q / m lies in [0, 1] (m >= min(p, q)), so nothing overflows where m
    // is tiny; the term vanishes where m = 0.
    const auto m_positive = hn::Gt(m, zero);
    const auto pq_over_m = hn::IfThenElseZero(
        m_positive, hn::Div(hn::Mul(p, q), hn::IfThenElse(m_positive, m, one)));
    const auto first = hn::Mul(
        hn::Mul(hn::Set(d, static_cast<T>(mod.gamma)), modulation),
        hn::Mul(hn::Mul(pq_over_m, hn::NegMulAdd(hn::Set(d, T{2}), t, one)),
                ce));
    const auto second = hn::Mul(modulation, hn::Sub(p, t));
    const auto g = hn::Mul(hn::Set(d, static_cast<T>(gradient_scale)),
                           hn::Mul(alpha_t, hn::Add(first, second)));
    StoreWide(d, g, gradient);
  }
}

template <bool kValues, bool kGradient, bool kProbabilities, typename TX,
          typename TT>
SigmoidFocalSums Run(const TX* x, const TT* t, size_t n,
                     const SigmoidFocalParams& params,
                     const SigmoidFocalOutputs& out) {
  // float32 lanes when both inputs are float32 and only values are wanted
  // (and the target has more than one lane); float64 lanes otherwise.
  // Gradients need float64: p - t and the focal/dice terms cancel.
  constexpr bool kFloatLanes = HWY_TARGET != HWY_SCALAR && !kGradient &&
                               !kProbabilities && std::is_same_v<TX, float> &&
                               std::is_same_v<TT, float>;
  using Lane = std::conditional_t<kFloatLanes, float, double>;
  const hn::ScalableTag<Lane> d;
  const size_t lanes = hn::Lanes(d);
  const Modulation mod(params.gamma);
  const D64 d64;
  Accumulators acc{hn::Zero(d64), hn::Zero(d64), hn::Zero(d64)};
  const auto all = hn::FirstN(d, lanes);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    Step<kValues, kGradient, kProbabilities>(
        d, LoadAs(d, x + i), LoadAs(d, t + i), all, params, mod,
        out.gradient_scale, kValues ? out.values.data() + i : nullptr,
        kGradient ? out.gradient.data() + i : nullptr,
        kProbabilities ? out.probabilities.data() + i : nullptr, acc);
  }
  if (i < n) {
    // The tail goes through the same vector code on zero-padded copies.
    const size_t rest = n - i;
    HWY_ALIGN TX x_tail[kMaxLanes] = {};
    HWY_ALIGN TT t_tail[kMaxLanes] = {};
    HWY_ALIGN double values_tail[kMaxLanes];
    HWY_ALIGN double gradient_tail[kMaxLanes];
    HWY_ALIGN double probabilities_tail[kMaxLanes];
    std::copy(x + i, x + n, x_tail);
    std::copy(t + i, t + n, t_tail);
    Step<kValues, kGradient, kProbabilities>(
        d, LoadAs(d, x_tail), LoadAs(d, t_tail), hn::FirstN(d, rest), params,
        mod, out.gradient_scale, values_tail, gradient_tail, probabilities_tail,
        acc);
    if (kValues)
      std::copy(values_tail, values_tail + rest, out.values.data() + i);
    if (kGradient)
      std::copy(gradient_tail, gradient_tail + rest, out.gradient.data() + i);
    if (kProbabilities) {
      std::copy(probabilities_tail, probabilities_tail + rest,
                out.probabilities.data() + i);
    }
  }
  return SigmoidFocalSums{
      hn::GetLane(hn::SumOfLanes(d64, acc.loss)),
      hn::GetLane(hn::SumOfLanes(d64, acc.probability)),
      hn::GetLane(hn::SumOfLanes(d64, acc.probability_target))};
}

template <typename TX, typename TT>
SigmoidFocalSums Dispatch(const TX* x, const TT* t, size_t n,
                          const SigmoidFocalParams& params,
                          const SigmoidFocalOutputs& out) {
  const bool values = !out.values.empty();
  const bool gradient = !out.gradient.empty();
  const bool probabilities = !out.probabilities.empty();
  // The common cases get loops without dead stores.
  if (!values && !gradient && !probabilities) {
    return Run<false, false, false>(x, t, n, params, out);
  }
  if (values && !gradient && !probabilities) {
    return Run<true, false, false>(x, t, n, params, out);
  }
  if (!values && gradient && !probabilities) {
    return Run<false, true, false>(x, t, n, params, out);
  }
  if (values && gradient && !probabilities) {
    return Run<true, true, false>(x, t, n, params, out);
  }
  // Any combination with probabilities: the (rare) FOCAL_DICE path.
  std::vector<double> scratch_values(values ? 0 : n),
      scratch_gradient(gradient ? 0 : n);
  SigmoidFocalOutputs full = out;
  if (!values) full.values = absl::MakeSpan(scratch_values);
  if (!gradient) full.gradient = absl::MakeSpan(scratch_gradient);
  return Run<true, true, true>(x, t, n, params, full);
}

SigmoidFocalSums SigmoidFocalFF(const float* x, const float* t, size_t n,
                                const SigmoidFocalParams& p,
                                const SigmoidFocalOutputs& o) {
  return Dispatch(x, t, n, p, o);
}
SigmoidFocalSums SigmoidFocalFD(const float* x, const double* t, size_t n,
                                const SigmoidFocalParams& p,
                                const SigmoidFocalOutputs& o) {
  return Dispatch(x, t, n, p, o);
}
SigmoidFocalSums SigmoidFocalDF(const double* x, const float* t, size_t n,
                                const SigmoidFocalParams& p,
                                const SigmoidFocalOutputs& o) {
  return Dispatch(x, t, n, p, o);
}
SigmoidFocalSums SigmoidFocalDD(const double* x, const double* t, size_t n,
                                const SigmoidFocalParams& p,
                                const SigmoidFocalOutputs& o) {
  return Dispatch(x, t, n, p, o);
}

}  // namespace focalmetrics::losses_internal::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace focalmetrics::losses_internal {

HWY_EXPORT(SigmoidFocalFF);
HWY_EXPORT(SigmoidFocalFD);
HWY_EXPORT(SigmoidFocalDF);
HWY_EXPORT(SigmoidFocalDD);

SigmoidFocalSums SigmoidFocal(const FloatingValues& logits,
                              const FloatingValues& targets,
                              const SigmoidFocalParams& params,
                              const SigmoidFocalOutputs& outputs) {
  const size_t n = logits.size();
  if (logits.is_double()) {
    if (targets.is_double()) {
      return HWY_DYNAMIC_DISPATCH(SigmoidFocalDD)(logits.doubles().data(),
                                                  targets.doubles().data(), n,
                                                  params, outputs);
    }
    return HWY_DYNAMIC_DISPATCH(SigmoidFocalDF)(
        logits.doubles().data(), targets.floats().data(), n, params, outputs);
  }
  if (targets.is_double()) {
    return HWY_DYNAMIC_DISPATCH(SigmoidFocalFD)(
        logits.floats().data(), targets.doubles().data(), n, params, outputs);
  }
  return HWY_DYNAMIC_DISPATCH(SigmoidFocalFF)(
      logits.floats().data(), targets.floats().data(), n, params, outputs);
}

}  // namespace focalmetrics::losses_internal
#endif  // HWY_ONCE
