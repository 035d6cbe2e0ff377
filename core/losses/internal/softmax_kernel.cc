// Compiled once per SIMD target by Highway's foreach_target; the best target
// of the running CPU is picked on first use.
// clang-format off: foreach_target.h must come first, right after the define.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/losses/internal/softmax_kernel.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/losses/internal/simd-inl.h"
#include "core/losses/internal/softmax_kernel.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace focalmetrics::losses_internal::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One row: max, then exp(x - max) summed below the max, then (optionally)
// the normalised exponentials.
template <class DL, typename T>
HWY_INLINE SoftmaxRow Row(DL d, const T* x, size_t classes,
                          double* probabilities) {
  using L = hn::TFromD<DL>;
  const size_t lanes = hn::Lanes(d);
  const size_t full = classes - classes % lanes;
  const size_t rest_count = classes - full;
  HWY_ALIGN T tail[kMaxLanes];
  std::fill(tail, tail + kMaxLanes, std::numeric_limits<T>::lowest());
  std::copy(x + full, x + classes, tail);

  auto max_vec = hn::Set(d, std::numeric_limits<L>::lowest());
  for (size_t j = 0; j < full; j += lanes)
    max_vec = hn::Max(max_vec, LoadAs(d, x + j));
  if (rest_count > 0) max_vec = hn::Max(max_vec, LoadAs(d, tail));
  const L max = hn::GetLane(hn::MaxOfLanes(d, max_vec));
  const auto max_splat = hn::Set(d, max);

  SoftmaxRow row;
  row.max = static_cast<double>(max);
  row.max_count = 0;
  auto sum = hn::Zero(d);
  auto count = hn::Zero(d);
  const auto one = hn::Set(d, L{1});
  auto step = [&](hn::Vec<DL> v, hn::Mask<DL> valid, L* out) {
    const auto at_max = hn::And(valid, hn::Eq(v, max_splat));
    const auto e = hn::IfThenElseZero(valid, hn::Exp(d, hn::Sub(v, max_splat)));
    sum = hn::Add(sum, hn::IfThenZeroElse(at_max, e));
    count = hn::Add(count, hn::IfThenElseZero(at_max, one));
    if (out != nullptr) hn::StoreU(e, d, out);
  };
  // Probabilities are written through float64 lanes only (see Rows).
  L* const store = reinterpret_cast<L*>(probabilities);
  const auto all = hn::FirstN(d, lanes);
  for (size_t j = 0; j < full; j += lanes) {
    step(LoadAs(d, x + j), all, store != nullptr ? store + j : nullptr);
  }
  if (rest_count > 0) {
    HWY_ALIGN L out[kMaxLanes];
    step(LoadAs(d, tail), hn::FirstN(d, rest_count), out);
    if (store != nullptr) std::copy(out, out + rest_count, store + full);
  }
  row.rest = static_cast<double>(hn::GetLane(hn::SumOfLanes(d, sum)));
  row.max_count = static_cast<int64_t>(hn::GetLane(hn::SumOfLanes(d, count)));
  if (store != nullptr) {
    const double inverse =
        1.0 / (static_cast<double>(row.max_count) + row.rest);
    for (size_t j = 0; j < classes; ++j) probabilities[j] *= inverse;
  }
  return row;
}

template <typename T>
void Rows(const T* x, int64_t rows, int64_t classes, SoftmaxRow* stats,
          double* probabilities) {
  // float32 lanes for float32 logits when only the statistics are wanted.
  if constexpr (std::is_same_v<T, float> && HWY_TARGET != HWY_SCALAR) {
    if (probabilities == nullptr) {
      const hn::ScalableTag<float> d;
      for (int64_t r = 0; r < rows; ++r) {
        stats[r] = Row(d, x + r * classes, classes, nullptr);
      }
      return;
    }
  }
  const hn::ScalableTag<double> d;
  for (int64_t r = 0; r < rows; ++r) {
    stats[r] =
        Row(d, x + r * classes, classes,
            probabilities == nullptr ? nullptr : probabilities + r * classes);
  }
}

void SoftmaxRowsF(const float* x, int64_t rows, int64_t classes,
                  SoftmaxRow* stats, double* probabilities) {
  Rows(x, rows, classes, stats, probabilities);
}
void SoftmaxRowsD(const double* x, int64_t rows, int64_t classes,
                  SoftmaxRow* stats, double* probabilities) {
  Rows(x, rows, classes, stats, probabilities);
}

}  // namespace focalmetrics::losses_internal::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace focalmetrics::losses_internal {

HWY_EXPORT(SoftmaxRowsF);
HWY_EXPORT(SoftmaxRowsD);

void SoftmaxRows(const FloatingValues& logits, int64_t rows, int64_t classes,
                 absl::Span<SoftmaxRow> stats,
                 absl::Span<double> probabilities) {
  double* out = probabilities.empty() ? nullptr : probabilities.data();
  if (logits.is_double()) {
    HWY_DYNAMIC_DISPATCH(SoftmaxRowsD)
    (logits.doubles().data(), rows, classes, stats.data(), out);
  } else {
    HWY_DYNAMIC_DISPATCH(SoftmaxRowsF)
    (logits.floats().data(), rows, classes, stats.data(), out);
  }
}

}  // namespace focalmetrics::losses_internal
#endif  // HWY_ONCE
