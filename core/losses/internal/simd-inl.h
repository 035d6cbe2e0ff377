// SIMD helpers shared by the loss kernels, compiled once per Highway target
// (include after hwy/foreach_target.h; the guard below is Highway's
// per-target idiom, not a plain include guard).
#if defined(FOCALMETRICS_CORE_LOSSES_INTERNAL_SIMD_INL_H_) == \
    defined(HWY_TARGET_TOGGLE)
#ifdef FOCALMETRICS_CORE_LOSSES_INTERNAL_SIMD_INL_H_
#undef FOCALMETRICS_CORE_LOSSES_INTERNAL_SIMD_INL_H_
#else
#define FOCALMETRICS_CORE_LOSSES_INTERNAL_SIMD_INL_H_
#endif

#include <type_traits>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace focalmetrics::losses_internal::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lanes in the widest vector of floats: the size of padded tail buffers.
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Loads Lanes(d) elements of type T as DL's lane type (float -> double
// widening where they differ).
template <class DL, typename T>
HWY_INLINE hn::Vec<DL> LoadAs(DL d, const T* p) {
  if constexpr (std::is_same_v<hn::TFromD<DL>, T>) {
    return hn::LoadU(d, p);
  } else {
    return hn::PromoteTo(d, hn::LoadU(hn::Rebind<T, DL>(), p));
  }
}

}  // namespace focalmetrics::losses_internal::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // FOCALMETRICS_CORE_LOSSES_INTERNAL_SIMD_INL_H_
