#include "core/tensor/tensor.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

TEST(NumElementsTest, ProductOfDimensions) {
  EXPECT_EQ(*NumElements({2, 3, 4}, "t"), 24);
  EXPECT_EQ(*NumElements({}, "t"), 1);
  EXPECT_EQ(*NumElements({5, 0}, "t"), 0);
}

TEST(NumElementsTest, RejectsNegativeAndOverflowingShapes) {
  EXPECT_THAT(NumElements({2, -1}, "batch.scores").status().message(),
              HasSubstr("batch.scores.shape[1]: negative dimension -1"));
  const int64_t big = int64_t{1} << 40;
  EXPECT_THAT(NumElements({big, big}, "batch.scores").status().message(),
              HasSubstr("too many elements"));
}

TEST(ValidateTensorTest, ByteLengthMustMatchShapeAndDType) {
  const std::string bytes(10, '\0');
  const TensorView view{{4}, DType::kFloat32, bytes};
  const absl::Status status = ValidateTensor(view, "batch.scores");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("batch.scores.data: 10 bytes for shape [4] of FLOAT32 "
                        "(expected 16)"));
  EXPECT_TRUE(ValidateTensor({{2, 5}, DType::kUInt8, bytes}, "x").ok());
}

TEST(HalfTest, RoundTripsAndRoundsToNearestEven) {
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.5f)), 1.5f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(-65504.0f)), -65504.0f);
  // 1 + 2^-11 lies halfway between 1 and the next half; ties go to even.
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 0x1p-11f)), 1.0f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 3 * 0x1p-11f)), 1.0f + 0x1p-9f);
  EXPECT_EQ(HalfToFloat(0x0001), 0x1p-24f);  // Smallest subnormal.
}

TEST(BFloat16Test, RoundTripsAndRoundsToNearestEven) {
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(3.0f)), 3.0f);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f + 0x1p-8f)), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f + 3 * 0x1p-8f)),
            1.0f + 0x1p-6f);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(NAN))));
}

TEST(ReadFloatingTest, ReadsEveryDTypeExactly) {
  const std::vector<double> values = {0.0, 1.0, -2.5, 0.125};
  for (DType dtype :
       {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    const std::string bytes = EncodeAs(values, dtype);
    const FloatingValues read = ReadFloating({{4}, dtype, bytes});
    EXPECT_EQ(read.is_double(), dtype == DType::kFloat64) << DTypeName(dtype);
    EXPECT_EQ(read.ToDoubles(), values) << DTypeName(dtype);
  }
  const std::vector<double> ints = {0, 1, 7, 255};
  for (DType dtype : {DType::kInt64, DType::kInt32, DType::kUInt8}) {
    const std::string bytes = EncodeAs(ints, dtype);
    EXPECT_EQ(ReadFloating({{4}, dtype, bytes}).ToDoubles(), ints);
  }
}

TEST(ReadFloatingTest, CopiesMisalignedFloats) {
  std::string bytes(1, 'x');  // Shifts the floats off their alignment.
  bytes += EncodeAs({1.0, 2.0}, DType::kFloat32);
  const FloatingValues read =
      ReadFloating({{2}, DType::kFloat32, absl::string_view(bytes).substr(1)});
  EXPECT_EQ(read.ToDoubles(), (std::vector<double>{1.0, 2.0}));
}

TEST(ReadIntegersTest, RejectsFloatingDTypes) {
  const std::string bytes = EncodeAs({1.0}, DType::kFloat32);
  const auto read =
      ReadIntegers({{1}, DType::kFloat32, bytes}, "batch.targets");
  EXPECT_THAT(
      read.status().message(),
      HasSubstr("batch.targets.dtype: class ids must be an integer dtype"));
  const std::string ints = EncodeAs({3, -1}, DType::kInt32);
  EXPECT_EQ(*ReadIntegers({{2}, DType::kInt32, ints}, "t"),
            (std::vector<int64_t>{3, -1}));
}

TEST(CheckFiniteTest, NamesTheFirstBadElement) {
  std::vector<float> values(100, 1.0f);
  EXPECT_TRUE(
      CheckFinite(FloatingValues::Borrow(absl::MakeConstSpan(values)), "s")
          .ok());
  values[37] = std::numeric_limits<float>::infinity();
  values[80] = NAN;
  const absl::Status status = CheckFinite(
      FloatingValues::Borrow(absl::MakeConstSpan(values)), "batch.scores");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("batch.scores: element 37 is inf"));
  const std::vector<double> doubles = {0.0, NAN};
  EXPECT_THAT(
      CheckFinite(FloatingValues::Borrow(absl::MakeConstSpan(doubles)), "x")
          .message(),
      HasSubstr("element 1 is nan"));
}

}  // namespace
}  // namespace focalmetrics
