// A directory of run snapshots (--state_dir): restores every run at start,
// writes the runs that changed (one file per (run, split), atomically, with
// a checksum), removes the files of runs no longer held, and moves damaged
// files into quarantine/ instead of failing the start.
//
//   FM_ASSIGN_OR_RETURN(auto store, RunStore::Open("/var/lib/focalmetrics"));
//   RestoreReport restored = store->RestoreAll(registry);
//   SnapshotResult written = store->SnapshotChanged(registry);  // every 2 s
#ifndef FOCALMETRICS_CORE_DURABILITY_RUN_STORE_H_
#define FOCALMETRICS_CORE_DURABILITY_RUN_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/run/run_registry.h"

namespace focalmetrics {

struct RestoreReport {
  int restored = 0;
  // "file: why" for every file moved into quarantine/.
  std::vector<std::string> quarantined;
};

struct SnapshotResult {
  int written = 0;
  int failed = 0;
  int removed = 0;
  absl::Status first_error;  // OK when nothing failed.
};

// Thread-safe; one SnapshotChanged at a time.
class RunStore {
 public:
  // Creates `dir` and dir/quarantine when missing.
  static absl::StatusOr<std::unique_ptr<RunStore>> Open(std::string dir);

  // Adds every decodable snapshot of the directory to `registry`. A file
  // that is empty, truncated, torn (a leftover .tmp), fails its checksum,
  // has a newer version, or does not decode is moved into quarantine/ with
  // the reason in its name, and the others are restored all the same.
  RestoreReport RestoreAll(RunRegistry& registry);

  // Writes every run whose version changed since its last successful
  // snapshot, then marks the seqs it covers durable. On a write error (disk
  // full, I/O error) the old file stays, the run stays dirty and its
  // durable_seq does not advance. Files of deleted runs are removed.
  SnapshotResult SnapshotChanged(const RunRegistry& registry);

  const std::string& dir() const { return dir_; }
  // "run-<hex run>-<hex split>.snap": any printable id, no path tricks.
  static std::string FileName(const std::string& run, const std::string& split);

 private:
  explicit RunStore(std::string dir) : dir_(std::move(dir)) {}
  void Quarantine(const std::string& name, absl::string_view reason,
                  RestoreReport& report);

  const std::string dir_;
  absl::Mutex mu_;
  // What was last written to a file: which run object (a run deleted and
  // created again is another incarnation) at which version.
  struct Written {
    uint64_t incarnation = 0;
    uint64_t version = 0;
    bool operator==(const Written&) const = default;
  };
  // File name -> what it holds.
  absl::flat_hash_map<std::string, Written> written_ ABSL_GUARDED_BY(mu_);
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_CORE_DURABILITY_RUN_STORE_H_
