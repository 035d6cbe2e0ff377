// The server's background work on runs: writing the runs that changed to
// --state_dir every --snapshot_interval (and once more at shutdown), and
// deleting runs idle for --run_ttl. Failures are counted in ServerMetrics and
// logged once per failing streak; the server keeps serving through them.
//
//   RunMaintenance maintenance(&registry, store.get(), &metrics,
//                              {.snapshot_interval = absl::Seconds(2), .run_ttl
//                              = absl::Hours(72)});
//   maintenance.Start();
//   ...                        // serve
//   maintenance.Stop();        // joins the threads and writes the final
//   snapshot
#ifndef FOCALMETRICS_SERVER_RUN_MAINTENANCE_H_
#define FOCALMETRICS_SERVER_RUN_MAINTENANCE_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/durability/run_store.h"
#include "core/run/run_registry.h"
#include "server/server_metrics.h"

namespace focalmetrics {

struct MaintenanceOptions {
  absl::Duration snapshot_interval = absl::Seconds(2);
  // Zero or negative: runs never expire.
  absl::Duration run_ttl = absl::Hours(72);
};

class RunMaintenance {
 public:
  // `store` may be null (no --state_dir): then nothing is written. All
  // pointers must outlive this object.
  RunMaintenance(RunRegistry* registry, RunStore* store, ServerMetrics* metrics,
                 MaintenanceOptions options);
  ~RunMaintenance();  // Stops if still running.

  void Start();
  // Stops the background threads, then writes one last snapshot: every batch
  // acknowledged before the call becomes durable. Idempotent.
  void Stop();
  // Writes the runs that changed now (what the snapshot thread does).
  void SnapshotNow();

 private:
  void SnapshotLoop();
  void SweepLoop();

  RunRegistry* const registry_;
  RunStore* const store_;
  ServerMetrics* const metrics_;
  const MaintenanceOptions options_;
  absl::Notification stopping_;
  std::thread snapshotter_;
  std::thread sweeper_;
  absl::Mutex mu_;
  bool failing_ ABSL_GUARDED_BY(mu_) =
      false;  // In a streak of failed snapshots.
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_RUN_MAINTENANCE_H_
