// Dense tensors as they arrive on the wire: a shape, an element type and
// little-endian bytes, viewed without copying. This component validates a
// view against its shape and reads its elements as float or double.
//
//   TensorView scores{.shape = {4, 3}, .dtype = DType::kFloat32, .data = b};
//   FM_RETURN_IF_ERROR(ValidateTensor(scores, "batch.scores"));
//   FM_ASSIGN_OR_RETURN(FloatingValues v, ReadFloating(scores,
//   "batch.scores"));
#ifndef FOCALMETRICS_CORE_TENSOR_TENSOR_H_
#define FOCALMETRICS_CORE_TENSOR_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace focalmetrics {

enum class DType {
  kFloat32,
  kFloat16,
  kBFloat16,
  kFloat64,
  kInt64,
  kInt32,
  kUInt8,
  kBool,
};

// "FLOAT32", "BFLOAT16", ... as in the proto without its prefix.
absl::string_view DTypeName(DType dtype);
size_t DTypeSize(DType dtype);
bool IsFloatingPoint(DType dtype);

// A non-owning view of a row-major little-endian tensor. `data` must outlive
// the view and everything read from it without copying.
struct TensorView {
  std::vector<int64_t> shape;
  DType dtype = DType::kFloat32;
  absl::string_view data;
};

// "[4, 3]".
std::string ShapeToString(absl::Span<const int64_t> shape);

// Product of `shape` (1 for a scalar). INVALID_ARGUMENT naming `field` when a
// dimension is negative or the product overflows.
absl::StatusOr<int64_t> NumElements(absl::Span<const int64_t> shape,
                                    absl::string_view field);

// Checks that `tensor.data` holds exactly NumElements(shape) elements of its
// dtype. Errors name `field`, e.g. "batch.scores: 10 bytes for shape [4]
// of FLOAT32 (expected 16)".
absl::Status ValidateTensor(const TensorView& tensor, absl::string_view field);

// Elements of a floating-point or integer tensor as float or double: borrowed
// when the wire already holds aligned float32/float64, otherwise widened into
// owned storage. Widening is exact (float16, bfloat16, bool, uint8 and the
// integers a float32 holds exactly; int32/int64 widen to double).
class FloatingValues {
 public:
  FloatingValues() = default;
  FloatingValues(FloatingValues&&) = default;
  FloatingValues& operator=(FloatingValues&&) = default;
  FloatingValues(const FloatingValues&) = delete;
  FloatingValues& operator=(const FloatingValues&) = delete;

  static FloatingValues Borrow(absl::Span<const float> values);
  static FloatingValues Borrow(absl::Span<const double> values);
  static FloatingValues Own(std::vector<float> values);
  static FloatingValues Own(std::vector<double> values);

  bool is_double() const { return is_double_; }
  size_t size() const { return is_double_ ? doubles_.size() : floats_.size(); }
  // REQUIRES: !is_double().
  absl::Span<const float> floats() const { return floats_; }
  // REQUIRES: is_double().
  absl::Span<const double> doubles() const { return doubles_; }
  double operator[](size_t i) const {
    return is_double_ ? doubles_[i] : static_cast<double>(floats_[i]);
  }
  // Copies every element into a double vector.
  std::vector<double> ToDoubles() const;

 private:
  bool is_double_ = false;
  absl::Span<const float> floats_;
  absl::Span<const double> doubles_;
  std::vector<float> owned_floats_;
  std::vector<double> owned_doubles_;
};

// Reads a validated tensor of any dtype as FloatingValues: FLOAT64, INT64 and
// INT32 as double, everything else as float.
// REQUIRES: ValidateTensor(tensor, field).ok().
FloatingValues ReadFloating(const TensorView& tensor);

// Reads a validated tensor of an integer or bool dtype as int64. A floating
// dtype is INVALID_ARGUMENT naming `field`.
absl::StatusOr<std::vector<int64_t>> ReadIntegers(const TensorView& tensor,
                                                  absl::string_view field);

// INVALID_ARGUMENT naming `field` and the first offending index when an
// element is NaN or infinite.
absl::Status CheckFinite(const FloatingValues& values, absl::string_view field);

// IEEE binary16 and bfloat16 conversions. The narrowing ones round to nearest
// even, as PyTorch does.
float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
uint16_t FloatToBFloat16(float value);

// Encodes doubles as `dtype` bytes (rounding to nearest even for narrower
// float types). For tests, clients and tools.
std::string EncodeAs(absl::Span<const double> values, DType dtype);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_TENSOR_TENSOR_H_
