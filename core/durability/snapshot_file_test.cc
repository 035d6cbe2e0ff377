#include "core/durability/snapshot_file.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // RFC 3720's check value.
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(SnapshotFileTest, RoundTrips) {
  const std::string body = "the run's state";
  EXPECT_EQ(*DecodeSnapshot(EncodeSnapshot(body)), body);
  EXPECT_EQ(*DecodeSnapshot(EncodeSnapshot("")), "");
}

TEST(SnapshotFileTest, DetectsEveryDamageShape) {
  const std::string good = EncodeSnapshot("0123456789 the run's state");
  EXPECT_THAT(DecodeSnapshot("").status().message(), HasSubstr("empty"));
  for (size_t n = 1; n < good.size(); ++n) {
    EXPECT_EQ(DecodeSnapshot(good.substr(0, n)).status().code(),
              absl::StatusCode::kDataLoss)
        << n;
  }
  for (size_t i = 8; i < good.size(); ++i) {  // Every byte after the magic.
    std::string flipped = good;
    flipped[i] ^= 0x10;
    EXPECT_FALSE(DecodeSnapshot(flipped).ok()) << i;
  }
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_THAT(DecodeSnapshot(magic).status().message(),
              HasSubstr("wrong magic"));
}

TEST(SnapshotFileTest, ANewerVersionIsKeptApartNotMisread) {
  // A well-formed file of the next version, checksum and all.
  const std::string file =
      EncodeSnapshot("from the future", kSnapshotVersion + 1);
  const auto decoded = DecodeSnapshot(file);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(decoded.status().message(),
              HasSubstr("newer than this server's"));
}

TEST(WriteFileAtomicallyTest, ReplacesAndLeavesNoTemporaryFile) {
  const std::string dir = testing::TempDir() + "/atomic";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomically(dir, "f", "one").ok());
  ASSERT_TRUE(WriteFileAtomically(dir, "f", "two").ok());
  EXPECT_EQ(*ReadWholeFile(dir + "/f"), "two");
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.tmp"));
  EXPECT_FALSE(WriteFileAtomically(dir + "/missing", "f", "x").ok());
}

}  // namespace
}  // namespace focalmetrics
