#include "core/durability/byte_codec.h"

#include <limits>

#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

TEST(ByteCodecTest, RoundTripsEveryKind) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8(7);
  w.PutFixed32(0xdeadbeef);
  w.PutFixed64(0x0123456789abcdefULL);
  w.PutVarint(300);
  w.PutSigned(-5);
  w.PutSigned(std::numeric_limits<int64_t>::min());
  w.PutDouble(-0.1);
  w.PutString("focal");
  w.PutDoubles({1.5, -2.5});
  w.PutSignedVector({-1, 0, 1});
  ByteReader r(out);
  EXPECT_EQ(*r.GetU8(), 7);
  EXPECT_EQ(*r.GetFixed32(), 0xdeadbeef);
  EXPECT_EQ(*r.GetFixed64(), 0x0123456789abcdefULL);
  EXPECT_EQ(*r.GetVarint(), 300u);
  EXPECT_EQ(*r.GetSigned(), -5);
  EXPECT_EQ(*r.GetSigned(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*r.GetDouble(), -0.1);
  EXPECT_EQ(*r.GetString(), "focal");
  EXPECT_EQ(*r.GetDoubles(), (std::vector<double>{1.5, -2.5}));
  EXPECT_EQ(*r.GetSignedVector(), (std::vector<int64_t>{-1, 0, 1}));
  EXPECT_TRUE(r.empty());
}

TEST(ByteCodecTest, TruncationIsDataLossAtEveryLength) {
  std::string out;
  ByteWriter w(&out);
  w.PutString("a longer string");
  w.PutDoubles({1, 2, 3});
  for (size_t n = 0; n < out.size(); ++n) {
    ByteReader r(absl::string_view(out).substr(0, n));
    const auto s = r.GetString();
    const bool failed = !s.ok() || !r.GetDoubles().ok();
    EXPECT_TRUE(failed) << n;
  }
}

TEST(ByteCodecTest, AHugeCountIsRejectedBeforeAllocating) {
  std::string out;
  ByteWriter(&out).PutVarint(uint64_t{1} << 60);
  ByteReader r(out);
  EXPECT_EQ(r.GetDoubles().status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace focalmetrics
