// The server's own Prometheus metrics, updated once per RPC, stream or batch
// (never per sample): RPC latency per method, errors by method and code,
// bytes received, streams open, batches rejected by reason, build info.
//
//   ServerMetrics metrics;
//   metrics.ObserveRpc("ComputeLoss", absl::Seconds(0.002), absl::OkStatus());
//   exposer.RegisterCollectable(metrics.registry());
#ifndef FOCALMETRICS_SERVER_SERVER_METRICS_H_
#define FOCALMETRICS_SERVER_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace focalmetrics {

// Thread-safe (prometheus-cpp metrics are atomic; the families lock only to
// add a new label set, which happens once per method and code).
class ServerMetrics {
 public:
  ServerMetrics();

  // One finished RPC: its latency, and an error by code unless OK.
  void ObserveRpc(absl::string_view method, absl::Duration duration,
                  const absl::Status& status);
  void AddReceivedBytes(size_t bytes);
  void StreamOpened();
  void StreamClosed();
  // A Report (unary or on a stream) that was not applied; `reason` is the
  // canonical code name in lower case ("invalid_argument").
  void BatchRejected(const absl::Status& status);
  // Durability (--state_dir): snapshots written or failed, snapshot files
  // quarantined at start, runs restored.
  void SnapshotsWritten(int count);
  void SnapshotFailed(const absl::Status& status);
  void SnapshotsQuarantined(int count);
  void RunsRestored(int count);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>& rpc_duration_;
  prometheus::Family<prometheus::Counter>& rpc_errors_;
  prometheus::Counter& received_bytes_;
  prometheus::Gauge& active_streams_;
  prometheus::Family<prometheus::Counter>& rejected_batches_;
  prometheus::Counter& snapshots_written_;
  prometheus::Family<prometheus::Counter>& snapshot_errors_;
  prometheus::Counter& snapshots_quarantined_;
  prometheus::Gauge& runs_restored_;
};

// The lower-case canonical name of a status code: "invalid_argument".
std::string StatusCodeLabel(absl::StatusCode code);

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_SERVER_METRICS_H_
