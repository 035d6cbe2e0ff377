// Which server shard holds a run: a stable hash of the run id (FNV-1a 64)
// mapped to [0, shards) by jump consistent hashing (Lamping and Veach 2014),
// so growing from n to n+1 shards moves only 1/(n+1) of the runs. The Python
// client (focalmetrics.routing) computes the same mapping; a test checks
// that the two agree.
//
//   ShardRouter router = ShardRouter::FromHeadlessService("focalmetrics",
//       "focalmetrics-headless.focalmetrics.svc.cluster.local", 3, 50051);
//   std::string target = router.TargetFor("resnet-7");  //
//   "focalmetrics-1...:50051"
#ifndef FOCALMETRICS_CLIENT_CPP_SHARD_ROUTER_H_
#define FOCALMETRICS_CLIENT_CPP_SHARD_ROUTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace focalmetrics {

uint64_t Fnv1a64(absl::string_view data);
// REQUIRES: buckets >= 1.
int32_t JumpConsistentHash(uint64_t key, int32_t buckets);
// The shard of `run` among `shards` (>= 1).
int32_t ShardFor(absl::string_view run, int32_t shards);

class ShardRouter {
 public:
  // One address ("host:port") per shard, in shard order. REQUIRES: non-empty.
  explicit ShardRouter(std::vector<std::string> addresses);
  // The StatefulSet's per-pod DNS names: "<statefulset>-<i>.<service>:<port>".
  static ShardRouter FromHeadlessService(absl::string_view statefulset,
                                         absl::string_view service,
                                         int32_t shards, int32_t port);

  const std::string& TargetFor(absl::string_view run) const;
  const std::vector<std::string>& addresses() const { return addresses_; }

 private:
  std::vector<std::string> addresses_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CLIENT_CPP_SHARD_ROUTER_H_
