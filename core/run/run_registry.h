// Every (run, split) the server holds, sharded by a hash of the run id so
// that reports into unrelated runs do not contend on one lock; the count of
// runs is bounded.
//
//   RunRegistry runs({.max_runs = 1000});
//   FM_ASSIGN_OR_RETURN(std::shared_ptr<RunState> state, runs.GetOrCreate("r",
//   "train")); state->Report(...);
#ifndef FOCALMETRICS_CORE_RUN_RUN_REGISTRY_H_
#define FOCALMETRICS_CORE_RUN_RUN_REGISTRY_H_

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/run/run_state.h"

namespace focalmetrics {

inline constexpr char kDefaultSplit[] = "train";
inline constexpr size_t kMaxRunIdBytes = 128;

struct RegistryLimits {
  int64_t max_runs = 1000;  // (run, split) pairs.
  RunLimits run;
};

// Thread-safe.
class RunRegistry {
 public:
  explicit RunRegistry(RegistryLimits limits);

  // The state of (run, split), created on first use. An empty split means
  // "train". INVALID_ARGUMENT for an empty, over-long (> 128 bytes) or
  // non-printable run or split; RESOURCE_EXHAUSTED past max_runs.
  absl::StatusOr<std::shared_ptr<RunState>> GetOrCreate(
      absl::string_view run, absl::string_view split);
  // NOT_FOUND when absent.
  absl::StatusOr<std::shared_ptr<RunState>> Find(absl::string_view run,
                                                 absl::string_view split) const;
  // Sorted by run, then split.
  std::vector<RunSummary> List() const;
  // Every state held, in no particular order.
  std::vector<std::shared_ptr<RunState>> States() const;
  // Adds a restored run. ALREADY_EXISTS when (run, split) is held;
  // RESOURCE_EXHAUSTED past max_runs.
  absl::Status Insert(std::shared_ptr<RunState> state);
  // Removes one split of `run`, or all of them when `split` is empty; returns
  // how many were removed. Reports in flight into them finish on the state
  // they hold, which is then dropped.
  int Delete(absl::string_view run, absl::string_view split);
  // Removes every run whose last report (or creation) is before `cutoff`;
  // returns how many (the --run_ttl sweep).
  int DeleteIdleSince(absl::Time cutoff);
  // How many (run, split) states are held.
  int64_t size() const { return count_.load(); }

  const RegistryLimits& limits() const { return limits_; }

 private:
  using Key = std::pair<std::string, std::string>;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<Key, std::shared_ptr<RunState>> runs
        ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(absl::string_view run) const;
  // Erases the runs of `shard` for which should_erase(key, state) holds;
  // returns how many.
  template <typename Predicate>
  static int EraseIf(Shard& shard, Predicate should_erase);

  const RegistryLimits limits_;
  mutable std::array<Shard, kShards> shards_;
  std::atomic<int64_t> count_{0};
};

// INVALID_ARGUMENT naming `field` unless `id` is 1..128 printable ASCII
// bytes: run and split ids become Prometheus label values and file names.
absl::Status ValidateRunId(absl::string_view id, absl::string_view field);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_RUN_RUN_REGISTRY_H_
