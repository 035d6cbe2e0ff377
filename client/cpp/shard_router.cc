#include "client/cpp/shard_router.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace focalmetrics {

uint64_t Fnv1a64(absl::string_view data) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

int32_t JumpConsistentHash(uint64_t key, int32_t buckets) {
  int64_t b = -1;
  int64_t j = 0;
  while (j < buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) *
                             (static_cast<double>(int64_t{1} << 31) /
                              static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int32_t>(b);
}

int32_t ShardFor(absl::string_view run, int32_t shards) {
  return JumpConsistentHash(Fnv1a64(run), shards);
}

ShardRouter::ShardRouter(std::vector<std::string> addresses)
    : addresses_(std::move(addresses)) {}

ShardRouter ShardRouter::FromHeadlessService(absl::string_view statefulset,
                                             absl::string_view service,
                                             int32_t shards, int32_t port) {
  std::vector<std::string> addresses;
  for (int32_t i = 0; i < shards; ++i) {
    addresses.push_back(
        absl::StrCat(statefulset, "-", i, ".", service, ":", port));
  }
  return ShardRouter(std::move(addresses));
}

const std::string& ShardRouter::TargetFor(absl::string_view run) const {
  return addresses_[ShardFor(run, static_cast<int32_t>(addresses_.size()))];
}

}  // namespace focalmetrics
