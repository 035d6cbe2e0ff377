#include "server/run_maintenance.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/time/clock.h"

namespace focalmetrics {

RunMaintenance::RunMaintenance(RunRegistry* registry, RunStore* store,
                               ServerMetrics* metrics,
                               MaintenanceOptions options)
    : registry_(registry),
      store_(store),
      metrics_(metrics),
      options_(options) {}

RunMaintenance::~RunMaintenance() { Stop(); }

void RunMaintenance::Start() {
  if (store_ != nullptr) snapshotter_ = std::thread([this] { SnapshotLoop(); });
  if (options_.run_ttl > absl::ZeroDuration()) {
    sweeper_ = std::thread([this] { SweepLoop(); });
  }
}

void RunMaintenance::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (snapshotter_.joinable()) snapshotter_.join();
  if (sweeper_.joinable()) sweeper_.join();
  SnapshotNow();
}

void RunMaintenance::SnapshotNow() {
  if (store_ == nullptr) return;
  const SnapshotResult result = store_->SnapshotChanged(*registry_);
  metrics_->SnapshotsWritten(result.written);
  for (int i = 0; i < result.failed; ++i)
    metrics_->SnapshotFailed(result.first_error);
  absl::MutexLock lock(&mu_);
  if (result.failed > 0 && !failing_) {
    std::fprintf(stderr, "focalmetrics-server: snapshot failed: %s\n",
                 std::string(result.first_error.message()).c_str());
  } else if (result.failed == 0 && failing_) {
    std::fprintf(stderr, "focalmetrics-server: snapshots succeed again\n");
  }
  failing_ = result.failed > 0;
}

void RunMaintenance::SnapshotLoop() {
  while (
      !stopping_.WaitForNotificationWithTimeout(options_.snapshot_interval)) {
    SnapshotNow();
  }
}

void RunMaintenance::SweepLoop() {
  const absl::Duration period =
      std::clamp(options_.run_ttl / 10, absl::Seconds(1), absl::Minutes(1));
  while (!stopping_.WaitForNotificationWithTimeout(period)) {
    const int removed =
        registry_->DeleteIdleSince(absl::Now() - options_.run_ttl);
    if (removed > 0) {
      std::fprintf(stderr,
                   "focalmetrics-server: %d run(s) idle for %s deleted\n",
                   removed, absl::FormatDuration(options_.run_ttl).c_str());
    }
  }
}

}  // namespace focalmetrics
