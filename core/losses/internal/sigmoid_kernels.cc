// Compiled once per SIMD target by Highway's foreach_target; the best target
// of the running CPU is picked on first use.
// clang-format off: foreach_target.h must come first, right after the define.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/losses/internal/sigmoid_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/losses/internal/sigmoid_kernels.h"
#include "core/losses/internal/simd-inl.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace focalmetrics::losses_internal::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sums are always kept in float64 lanes.
using D64 = hn::ScalableTag<double>;
using V64 = hn::Vec<D64>;
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

// 2 atanh(s) = log((1 + s) / (1 - s)) for |s| <= 0.1716: 12 terms of the
// series reach float64 precision, 6 reach float32.
template <class DL>
HWY_INLINE hn::Vec<DL> TwoAtanh(DL d, hn::Vec<DL> s) {
  using T = hn::TFromD<DL>;
  constexpr int kTerms = sizeof(T) == 8 ? 12 : 6;
  const auto z = hn::Mul(s, s);
  auto series = hn::Set(d, static_cast<T>(1.0 / (2 * kTerms - 1)));
  for (int k = kTerms - 2; k >= 0; --k) {
    series =
        hn::MulAdd(series, z, hn::Set(d, static_cast<T>(1.0 / (2 * k + 1))));
  }
  return hn::Mul(hn::Add(s, s), series);
}

// For e = exp(-|x|) in [0, 1]: 1 / (1 + e) and log1p(e), sharing one
// division. log1p(e) = log(u) = 2 atanh((u - 1) / (u + 1)) on u = 1 + e,
// halved when u > sqrt(2) so |s| <= 0.1716; s is formed from e directly,
// so a tiny e keeps its full relative precision.
template <class DL>
struct SoftplusParts {
  hn::Vec<DL> inv_one_plus_e;
  hn::Vec<DL> log1p_e;
};

template <class DL>
HWY_INLINE SoftplusParts<DL> Softplus(DL d, hn::Vec<DL> e) {
  using T = hn::TFromD<DL>;
  const auto one = hn::Set(d, T{1});
  const auto halved =
      hn::Gt(e, hn::Set(d, static_cast<T>(0.41421356237309503)));
  const auto numerator = hn::IfThenElse(halved, hn::Sub(e, one), e);
  const auto denominator =
      hn::Add(e, hn::IfThenElse(halved, hn::Set(d, T{3}), hn::Set(d, T{2})));
  const auto one_plus_e = hn::Add(one, e);
  const auto r = hn::Div(one, hn::Mul(denominator, one_plus_e));
  const auto s = hn::Mul(hn::Mul(numerator, one_plus_e), r);
  const auto ln2 = hn::IfThenElseZero(
      halved, hn::Set(d, static_cast<T>(0.6931471805599453094)));
  return {hn::Mul(denominator, r), hn::Add(TwoAtanh(d, s), ln2)};
}

// log(1 - y) for y in [0, 1), given one_minus_y formed without rounding
// where y is large: -2 atanh(y / (2 - y)) below 0.29 (|s| <= 0.17), where
// log(1 - y) would lose relative precision, log(one_minus_y) above.
template <class DL>
HWY_INLINE hn::Vec<DL> LogOneMinus(DL d, hn::Vec<DL> y,
                                   hn::Vec<DL> one_minus_y) {
  using T = hn::TFromD<DL>;
  const auto small = hn::Lt(y, hn::Set(d, static_cast<T>(0.29)));
  const auto s = hn::Div(y, hn::Sub(hn::Set(d, T{2}), y));
  const auto safe = hn::IfThenElse(small, hn::Set(d, T{1}), one_minus_y);
  return hn::IfThenElse(small, hn::Neg(TwoAtanh(d, s)), hn::Log(d, safe));
}

// What one loss contributes per element: its value, p (for the dice sums)
// and, when asked, d value / dx.
template <class DL>
struct ElementTerms {
  hn::Vec<DL> loss;
  hn::Vec<DL> probability;
  hn::Vec<DL> derivative;
};

// The sigmoid parts every loss here starts from.
template <class DL>
struct Sigmoid {
  hn::Vec<DL> p, q;     // p = sigmoid(x), q = 1 - p.
  hn::Vec<DL> log1p_e;  // log1p(exp(-|x|)).

  HWY_INLINE Sigmoid(DL d, hn::Vec<DL> x) {
    const auto e = hn::Exp(d, hn::Neg(hn::Abs(x)));  // exp(-|x|) in [0, 1]
    const SoftplusParts<DL> parts = Softplus(d, e);
    const auto nonnegative = hn::Ge(x, hn::Zero(d));
    const auto e_inv = hn::Mul(e, parts.inv_one_plus_e);
    p = hn::IfThenElse(nonnegative, parts.inv_one_plus_e, e_inv);
    q = hn::IfThenElse(nonnegative, e_inv, parts.inv_one_plus_e);
    log1p_e = parts.log1p_e;
  }
};

struct FocalTerms {
  // Every factor of the value is a sum of same-sign parts: float32 lanes
  // keep ~1e-7 relative error.
  static constexpr bool kFloatLanesKeepPrecision = true;
  SigmoidFocalParams params;
  Modulation modulation;

  template <bool kGradient, class DL>
  HWY_INLINE ElementTerms<DL> Evaluate(DL d, hn::Vec<DL> x,
                                       hn::Vec<DL> t) const {
    using T = hn::TFromD<DL>;
    const auto zero = hn::Zero(d);
    const auto one = hn::Set(d, T{1});
    const Sigmoid<DL> s(d, x);
    // max(x, 0) - x t >= 0 for t in [0, 1]: as max(x,0)(1-t) + max(-x,0) t.
    const auto one_minus_t = hn::Sub(one, t);
    const auto margin = hn::MulAdd(hn::Max(x, zero), one_minus_t,
                                   hn::Mul(hn::Max(hn::Neg(x), zero), t));
    const auto ce = hn::Add(margin, s.log1p_e);
    // 1 - p_t = p (1 - t) + (1 - p) t, without cancellation.
    const auto m = hn::MulAdd(s.p, one_minus_t, hn::Mul(s.q, t));
    const auto m_pow = modulation.Pow(d, m);
    auto alpha_t = one;
    if (params.alpha >= 0) {
      alpha_t = hn::MulAdd(
          hn::Set(d, static_cast<T>(params.alpha)), t,
          hn::Mul(hn::Set(d, static_cast<T>(1.0 - params.alpha)), one_minus_t));
    }
    ElementTerms<DL> out{hn::Mul(alpha_t, hn::Mul(m_pow, ce)), s.p, zero};
    if constexpr (kGradient) {
      // d/dx = alpha_t [gamma m^(gamma-1) dm/dx ce + m^gamma (p - t)] with
      // dm/dx = p q (1 - 2t). Written as gamma m^gamma (p q / m) (1 - 2t) ce:
      // p q / m lies in [0, 1] (m >= min(p, q)), so nothing overflows where
      // m is tiny; the term vanishes where m = 0.
      const auto m_positive = hn::Gt(m, zero);
      const auto pq_over_m = hn::IfThenElseZero(
          m_positive,
          hn::Div(hn::Mul(s.p, s.q), hn::IfThenElse(m_positive, m, one)));
      const auto first = hn::Mul(
          hn::Mul(hn::Set(d, static_cast<T>(modulation.gamma)), m_pow),
          hn::Mul(hn::Mul(pq_over_m, hn::NegMulAdd(hn::Set(d, T{2}), t, one)),
                  ce));
      const auto second = hn::Mul(m_pow, hn::Sub(s.p, t));
      out.derivative = hn::Mul(alpha_t, hn::Add(first, second));
    }
    return out;
  }
};

struct AsymmetricTerms {
  // p_m = p - clip cancels near the clip: float64 lanes always.
  static constexpr bool kFloatLanesKeepPrecision = false;
  AsymmetricParams params;
  Modulation positive;
  Modulation negative;

  template <bool kGradient, class DL>
  HWY_INLINE ElementTerms<DL> Evaluate(DL d, hn::Vec<DL> x,
                                       hn::Vec<DL> t) const {
    using T = hn::TFromD<DL>;
    const auto zero = hn::Zero(d);
    const auto one = hn::Set(d, T{1});
    const auto log_floor =
        hn::Set(d, static_cast<T>(-18.420680743952367));  // log(1e-8)
    const Sigmoid<DL> s(d, x);
    const auto one_minus_t = hn::Sub(one, t);
    // log p and log q as log-sigmoids, floored as in the official code.
    const auto log_p = hn::Neg(hn::Add(hn::Max(hn::Neg(x), zero), s.log1p_e));
    const auto log_q = hn::Neg(hn::Add(hn::Max(x, zero), s.log1p_e));
    const auto floored_log_p = hn::Max(log_p, log_floor);
    const auto pos_weight = positive.Pow(d, s.q);
    const auto pos = hn::Mul(t, hn::Mul(pos_weight, floored_log_p));

    const auto clip = hn::Set(d, static_cast<T>(params.clip));
    const auto shifted = hn::Sub(s.p, clip);
    const auto above_clip = hn::Gt(shifted, zero);
    const auto p_m = hn::Max(shifted, zero);
    const auto one_minus_p_m = hn::Min(hn::Add(s.q, clip), one);
    const auto raw_log_neg =
        params.clip == 0.0 ? log_q : LogOneMinus(d, p_m, one_minus_p_m);
    const auto log_neg = hn::Max(raw_log_neg, log_floor);
    const auto neg_weight = negative.Pow(d, p_m);
    const auto neg = hn::Mul(one_minus_t, hn::Mul(neg_weight, log_neg));
    // Both terms are <= 0, so their sum does not cancel.
    ElementTerms<DL> out{hn::Neg(hn::Add(pos, neg)), s.p, zero};
    if constexpr (kGradient) {
      // d(q^g+)/dx = -g+ p q^g+; d log p/dx = q where not floored.
      const auto d_log_p = hn::IfThenElseZero(hn::Gt(log_p, log_floor), s.q);
      const auto d_pos = hn::Mul(
          t, hn::MulAdd(
                 pos_weight, d_log_p,
                 hn::Mul(hn::Set(d, static_cast<T>(-params.gamma_pos)),
                         hn::Mul(s.p, hn::Mul(pos_weight, floored_log_p)))));
      // dp_m/dx = p q above the clip; d log(1 - p_m)/dx = -dp_m / (1 - p_m).
      const auto dp_m = hn::IfThenElseZero(above_clip, hn::Mul(s.p, s.q));
      const auto d_log_neg =
          hn::IfThenElseZero(hn::Gt(raw_log_neg, log_floor),
                             hn::Neg(hn::Div(dp_m, one_minus_p_m)));
      const auto p_m_positive = hn::Gt(p_m, zero);
      const auto d_neg_weight = hn::IfThenElseZero(
          p_m_positive,
          hn::Mul(hn::Set(d, static_cast<T>(params.gamma_neg)),
                  hn::Mul(hn::Div(neg_weight,
                                  hn::IfThenElse(p_m_positive, p_m, one)),
                          dp_m)));
      const auto d_neg = hn::Mul(
          one_minus_t,
          hn::MulAdd(d_neg_weight, log_neg, hn::Mul(neg_weight, d_log_neg)));
      out.derivative = hn::Neg(hn::Add(d_pos, d_neg));
    }
    return out;
  }
};

struct Accumulators {
  V64 loss, probability, probability_target;
};

// One vector of elements in lanes of DL. `valid` masks lanes past the end in
// the tail.
template <bool kValues, bool kGradient, bool kProbabilities, class Terms,
          class DL>
HWY_INLINE void Step(DL d, hn::Vec<DL> x, hn::Vec<DL> t, hn::Mask<DL> valid,
                     const Terms& terms, double gradient_scale, double* values,
                     double* gradient, double* probabilities,
                     Accumulators& acc) {
  using T = hn::TFromD<DL>;
  const ElementTerms<DL> e = terms.template Evaluate<kGradient>(d, x, t);
  const auto loss = hn::IfThenElseZero(valid, e.loss);
  const auto p_valid = hn::IfThenElseZero(valid, e.probability);
  acc.loss = AddWide(d, acc.loss, loss);
  acc.probability = AddWide(d, acc.probability, p_valid);
  acc.probability_target =
      AddWide(d, acc.probability_target, hn::Mul(p_valid, t));
  if constexpr (kValues) StoreWide(d, loss, values);
  if constexpr (kProbabilities) StoreWide(d, e.probability, probabilities);
  if constexpr (kGradient) {
    StoreWide(d,
              hn::Mul(hn::Set(d, static_cast<T>(gradient_scale)), e.derivative),
              gradient);
  }
}

template <bool kValues, bool kGradient, bool kProbabilities, class Terms,
          typename TX, typename TT>
ElementwiseSums Run(const TX* x, const TT* t, size_t n, const Terms& terms,
                    const ElementwiseOutputs& out) {
  // float32 lanes when both inputs are float32, only values are wanted and
  // the loss keeps its precision in them (and the target has more than one
  // lane); float64 lanes otherwise. Gradients need float64: p - t and the
  // focal/dice terms cancel.
  constexpr bool kFloatLanes = HWY_TARGET != HWY_SCALAR &&
                               Terms::kFloatLanesKeepPrecision && !kGradient &&
                               !kProbabilities && std::is_same_v<TX, float> &&
                               std::is_same_v<TT, float>;
  using Lane = std::conditional_t<kFloatLanes, float, double>;
  const hn::ScalableTag<Lane> d;
  const size_t lanes = hn::Lanes(d);
  const D64 d64;
  Accumulators acc{hn::Zero(d64), hn::Zero(d64), hn::Zero(d64)};
  const auto all = hn::FirstN(d, lanes);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    Step<kValues, kGradient, kProbabilities>(
        d, LoadAs(d, x + i), LoadAs(d, t + i), all, terms, out.gradient_scale,
        kValues ? out.values.data() + i : nullptr,
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
        d, LoadAs(d, x_tail), LoadAs(d, t_tail), hn::FirstN(d, rest), terms,
        out.gradient_scale, values_tail, gradient_tail, probabilities_tail,
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
  return ElementwiseSums{
      hn::GetLane(hn::SumOfLanes(d64, acc.loss)),
      hn::GetLane(hn::SumOfLanes(d64, acc.probability)),
      hn::GetLane(hn::SumOfLanes(d64, acc.probability_target))};
}

template <class Terms, typename TX, typename TT>
ElementwiseSums Dispatch(const TX* x, const TT* t, size_t n, const Terms& terms,
                         const ElementwiseOutputs& out) {
  const bool values = !out.values.empty();
  const bool gradient = !out.gradient.empty();
  const bool probabilities = !out.probabilities.empty();
  // The common cases get loops without dead stores.
  if (!values && !gradient && !probabilities) {
    return Run<false, false, false>(x, t, n, terms, out);
  }
  if (values && !gradient && !probabilities) {
    return Run<true, false, false>(x, t, n, terms, out);
  }
  if (!values && gradient && !probabilities) {
    return Run<false, true, false>(x, t, n, terms, out);
  }
  if (values && gradient && !probabilities) {
    return Run<true, true, false>(x, t, n, terms, out);
  }
  // Any combination with probabilities: the (rare) FOCAL_DICE path.
  std::vector<double> scratch_values(values ? 0 : n),
      scratch_gradient(gradient ? 0 : n);
  ElementwiseOutputs full = out;
  if (!values) full.values = absl::MakeSpan(scratch_values);
  if (!gradient) full.gradient = absl::MakeSpan(scratch_gradient);
  return Run<true, true, true>(x, t, n, terms, full);
}

// One exported entry point per loss and input-type pair.
#define FM_ELEMENTWISE_ENTRY(name, TX, TT, Params, Terms, ...)                \
  ElementwiseSums name(const TX* x, const TT* t, size_t n,                    \
                       const Params& params, const ElementwiseOutputs& out) { \
    return Dispatch(x, t, n, Terms{params, __VA_ARGS__}, out);                \
  }
#define FM_FOCAL_ENTRY(name, TX, TT)                                 \
  FM_ELEMENTWISE_ENTRY(name, TX, TT, SigmoidFocalParams, FocalTerms, \
                       Modulation(params.gamma))
#define FM_ASYMMETRIC_ENTRY(name, TX, TT)                               \
  FM_ELEMENTWISE_ENTRY(name, TX, TT, AsymmetricParams, AsymmetricTerms, \
                       Modulation(params.gamma_pos),                    \
                       Modulation(params.gamma_neg))

FM_FOCAL_ENTRY(SigmoidFocalFF, float, float)
FM_FOCAL_ENTRY(SigmoidFocalFD, float, double)
FM_FOCAL_ENTRY(SigmoidFocalDF, double, float)
FM_FOCAL_ENTRY(SigmoidFocalDD, double, double)
FM_ASYMMETRIC_ENTRY(AsymmetricFF, float, float)
FM_ASYMMETRIC_ENTRY(AsymmetricFD, float, double)
FM_ASYMMETRIC_ENTRY(AsymmetricDF, double, float)
FM_ASYMMETRIC_ENTRY(AsymmetricDD, double, double)

}  // namespace focalmetrics::losses_internal::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace focalmetrics::losses_internal {

HWY_EXPORT(SigmoidFocalFF);
HWY_EXPORT(SigmoidFocalFD);
HWY_EXPORT(SigmoidFocalDF);
HWY_EXPORT(SigmoidFocalDD);
HWY_EXPORT(AsymmetricFF);
HWY_EXPORT(AsymmetricFD);
HWY_EXPORT(AsymmetricDF);
HWY_EXPORT(AsymmetricDD);

// Picks the entry for the input types; `ff` ... `dd` are the dispatched
// functions for (float, float) ... (double, double).
template <typename Params, typename FF, typename FD, typename DF, typename DD>
ElementwiseSums ByInputTypes(const FloatingValues& x, const FloatingValues& t,
                             const Params& params,
                             const ElementwiseOutputs& out, FF ff, FD fd, DF df,
                             DD dd) {
  const size_t n = x.size();
  if (x.is_double()) {
    return t.is_double()
               ? dd(x.doubles().data(), t.doubles().data(), n, params, out)
               : df(x.doubles().data(), t.floats().data(), n, params, out);
  }
  return t.is_double()
             ? fd(x.floats().data(), t.doubles().data(), n, params, out)
             : ff(x.floats().data(), t.floats().data(), n, params, out);
}

ElementwiseSums SigmoidFocal(const FloatingValues& logits,
                             const FloatingValues& targets,
                             const SigmoidFocalParams& params,
                             const ElementwiseOutputs& outputs) {
  return ByInputTypes(logits, targets, params, outputs,
                      HWY_DYNAMIC_DISPATCH(SigmoidFocalFF),
                      HWY_DYNAMIC_DISPATCH(SigmoidFocalFD),
                      HWY_DYNAMIC_DISPATCH(SigmoidFocalDF),
                      HWY_DYNAMIC_DISPATCH(SigmoidFocalDD));
}

ElementwiseSums Asymmetric(const FloatingValues& logits,
                           const FloatingValues& targets,
                           const AsymmetricParams& params,
                           const ElementwiseOutputs& outputs) {
  return ByInputTypes(
      logits, targets, params, outputs, HWY_DYNAMIC_DISPATCH(AsymmetricFF),
      HWY_DYNAMIC_DISPATCH(AsymmetricFD), HWY_DYNAMIC_DISPATCH(AsymmetricDF),
      HWY_DYNAMIC_DISPATCH(AsymmetricDD));
}

}  // namespace focalmetrics::losses_internal
#endif  // HWY_ONCE
