#include "core/tensor/tensor.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace focalmetrics {
namespace {

template <typename T>
T LoadLittleEndian(const char* p) {
  // Only little-endian hosts are supported (static_assert below), so the wire
  // bytes are the host representation.
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

static_assert(std::endian::native == std::endian::little,
              "focalmetrics reads little-endian tensors in place");

template <typename T>
bool IsAligned(const char* p) {
  return reinterpret_cast<uintptr_t>(p) % alignof(T) == 0;
}

template <typename Out, typename In, typename Convert>
std::vector<Out> Widen(absl::string_view data, Convert convert) {
  const size_t n = data.size() / sizeof(In);
  std::vector<Out> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<Out>(
        convert(LoadLittleEndian<In>(data.data() + i * sizeof(In))));
  }
  return out;
}

}  // namespace

absl::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "FLOAT32";
    case DType::kFloat16:
      return "FLOAT16";
    case DType::kBFloat16:
      return "BFLOAT16";
    case DType::kFloat64:
      return "FLOAT64";
    case DType::kInt64:
      return "INT64";
    case DType::kInt32:
      return "INT32";
    case DType::kUInt8:
      return "UINT8";
    case DType::kBool:
      return "BOOL";
  }
  return "UNKNOWN";
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
    case DType::kInt64:
      return 8;
    case DType::kFloat32:
    case DType::kInt32:
      return 4;
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kUInt8:
    case DType::kBool:
      return 1;
  }
  return 1;
}

bool IsFloatingPoint(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat16 ||
         dtype == DType::kBFloat16 || dtype == DType::kFloat64;
}

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<int64_t> NumElements(absl::Span<const int64_t> shape,
                                    absl::string_view field) {
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".shape[", i, "]: negative dimension ", shape[i]));
    }
    if (shape[i] != 0 &&
        count > std::numeric_limits<int64_t>::max() / 16 / shape[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".shape: ", ShapeToString(shape), " has too many elements"));
    }
    count *= shape[i];
  }
  return count;
}

absl::Status ValidateTensor(const TensorView& tensor, absl::string_view field) {
  absl::StatusOr<int64_t> count = NumElements(tensor.shape, field);
  if (!count.ok()) return count.status();
  const uint64_t expected =
      static_cast<uint64_t>(*count) * DTypeSize(tensor.dtype);
  if (tensor.data.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".data: ", tensor.data.size(), " bytes for shape ",
                     ShapeToString(tensor.shape), " of ",
                     DTypeName(tensor.dtype), " (expected ", expected, ")"));
  }
  return absl::OkStatus();
}

FloatingValues FloatingValues::Borrow(absl::Span<const float> values) {
  FloatingValues v;
  v.floats_ = values;
  return v;
}

FloatingValues FloatingValues::Borrow(absl::Span<const double> values) {
  FloatingValues v;
  v.is_double_ = true;
  v.doubles_ = values;
  return v;
}

FloatingValues FloatingValues::Own(std::vector<float> values) {
  FloatingValues v;
  v.owned_floats_ = std::move(values);
  v.floats_ = v.owned_floats_;
  return v;
}

FloatingValues FloatingValues::Own(std::vector<double> values) {
  FloatingValues v;
  v.is_double_ = true;
  v.owned_doubles_ = std::move(values);
  v.doubles_ = v.owned_doubles_;
  return v;
}

std::vector<double> FloatingValues::ToDoubles() const {
  if (is_double_) return std::vector<double>(doubles_.begin(), doubles_.end());
  return std::vector<double>(floats_.begin(), floats_.end());
}

FloatingValues ReadFloating(const TensorView& tensor) {
  const absl::string_view data = tensor.data;
  const auto identity = [](auto x) { return x; };
  switch (tensor.dtype) {
    case DType::kFloat32:
      if (IsAligned<float>(data.data())) {
        return FloatingValues::Borrow(absl::MakeConstSpan(
            reinterpret_cast<const float*>(data.data()), data.size() / 4));
      }
      return FloatingValues::Own(Widen<float, float>(data, identity));
    case DType::kFloat64:
      if (IsAligned<double>(data.data())) {
        return FloatingValues::Borrow(absl::MakeConstSpan(
            reinterpret_cast<const double*>(data.data()), data.size() / 8));
      }
      return FloatingValues::Own(Widen<double, double>(data, identity));
    case DType::kFloat16:
      return FloatingValues::Own(Widen<float, uint16_t>(data, HalfToFloat));
    case DType::kBFloat16:
      return FloatingValues::Own(Widen<float, uint16_t>(data, BFloat16ToFloat));
    case DType::kInt64:
      return FloatingValues::Own(Widen<double, int64_t>(data, identity));
    case DType::kInt32:
      return FloatingValues::Own(Widen<double, int32_t>(data, identity));
    case DType::kUInt8:
    case DType::kBool:
      return FloatingValues::Own(Widen<float, uint8_t>(data, identity));
  }
  return FloatingValues();
}

absl::StatusOr<std::vector<int64_t>> ReadIntegers(const TensorView& tensor,
                                                  absl::string_view field) {
  const auto identity = [](auto x) { return x; };
  switch (tensor.dtype) {
    case DType::kInt64:
      return Widen<int64_t, int64_t>(tensor.data, identity);
    case DType::kInt32:
      return Widen<int64_t, int32_t>(tensor.data, identity);
    case DType::kUInt8:
    case DType::kBool:
      return Widen<int64_t, uint8_t>(tensor.data, identity);
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          field,
          ".dtype: class ids must be an integer dtype (INT64, INT32, "
          "UINT8), got ",
          DTypeName(tensor.dtype)));
  }
}

absl::Status CheckFinite(const FloatingValues& values,
                         absl::string_view field) {
  // One branch-free pass on the exponent bits, which vectorizes; the index
  // is looked for only on error.
  auto first_bad = [&](auto span) -> int64_t {
    using Value = typename decltype(span)::value_type;
    using Bits = std::conditional_t<sizeof(Value) == 4, uint32_t, uint64_t>;
    constexpr Bits kExponent = static_cast<Bits>(
        sizeof(Value) == 4 ? 0x7f800000u : 0x7ff0000000000000u);
    Bits not_finite =
        0;  // An integer reduction: GCC vectorizes it, not a bool.
    for (Value v : span) {
      not_finite |=
          static_cast<Bits>((std::bit_cast<Bits>(v) & kExponent) == kExponent);
    }
    if (not_finite == 0) return -1;
    for (size_t i = 0; i < span.size(); ++i) {
      if (!std::isfinite(span[i])) return static_cast<int64_t>(i);
    }
    return -1;
  };
  const int64_t bad = values.is_double() ? first_bad(values.doubles())
                                         : first_bad(values.floats());
  if (bad < 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": element ", bad, " is ", values[bad],
                   " (NaN and infinity are not accepted)"));
}

float HalfToFloat(uint16_t bits) {
  _Float16 h;
  std::memcpy(&h, &bits, sizeof(h));
  return static_cast<float>(h);
}

float BFloat16ToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof(f));
  return f;
}

uint16_t FloatToHalf(float value) {
  const _Float16 h = static_cast<_Float16>(value);
  uint16_t bits;
  std::memcpy(&bits, &h, sizeof(bits));
  return bits;
}

uint16_t FloatToBFloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if (std::isnan(value)) return 0x7fc0;
  const uint32_t rounding_bias = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding_bias) >> 16);
}

std::string EncodeAs(absl::Span<const double> values, DType dtype) {
  std::string out(values.size() * DTypeSize(dtype), '\0');
  char* p = out.data();
  auto put = [&p](auto v) {
    std::memcpy(p, &v, sizeof(v));
    p += sizeof(v);
  };
  for (double v : values) {
    switch (dtype) {
      case DType::kFloat32:
        put(static_cast<float>(v));
        break;
      case DType::kFloat64:
        put(v);
        break;
      case DType::kFloat16:
        put(FloatToHalf(static_cast<float>(v)));
        break;
      case DType::kBFloat16:
        put(FloatToBFloat16(static_cast<float>(v)));
        break;
      case DType::kInt64:
        put(static_cast<int64_t>(v));
        break;
      case DType::kInt32:
        put(static_cast<int32_t>(v));
        break;
      case DType::kUInt8:
      case DType::kBool:
        put(static_cast<uint8_t>(v));
        break;
    }
  }
  return out;
}

}  // namespace focalmetrics
