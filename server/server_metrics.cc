#include "server/server_metrics.h"

#include "absl/strings/ascii.h"

namespace focalmetrics {
namespace {

// 100 us to ~100 s: loss calls on small batches take well under a
// millisecond, GetMetrics on a 10M-sample run tens of milliseconds, a
// stream its whole life.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  prometheus::Histogram::BucketBoundaries buckets;
  for (double bound = 1e-4; bound < 200; bound *= 2.5) buckets.push_back(bound);
  return buckets;
}

}  // namespace

std::string StatusCodeLabel(absl::StatusCode code) {
  return absl::AsciiStrToLower(absl::StatusCodeToString(code));
}

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpc_duration_(prometheus::BuildHistogram()
                        .Name("focalmetrics_rpc_duration_seconds")
                        .Help("Latency of focalmetrics RPCs, by method (a "
                              "stream: its whole life).")
                        .Register(*registry_)),
      rpc_errors_(
          prometheus::BuildCounter()
              .Name("focalmetrics_rpc_errors_total")
              .Help("RPCs that ended with an error, by method and gRPC code.")
              .Register(*registry_)),
      received_bytes_(prometheus::BuildCounter()
                          .Name("focalmetrics_received_bytes_total")
                          .Help("Bytes of request messages received.")
                          .Register(*registry_)
                          .Add({})),
      active_streams_(prometheus::BuildGauge()
                          .Name("focalmetrics_active_streams")
                          .Help("StreamReports calls open now.")
                          .Register(*registry_)
                          .Add({})),
      rejected_batches_(
          prometheus::BuildCounter()
              .Name("focalmetrics_rejected_batches_total")
              .Help("Reported batches not applied, by reason (the error code).")
              .Register(*registry_)),
      snapshots_written_(prometheus::BuildCounter()
                             .Name("focalmetrics_snapshots_written_total")
                             .Help("Run snapshots written to --state_dir.")
                             .Register(*registry_)
                             .Add({})),
      snapshot_errors_(
          prometheus::BuildCounter()
              .Name("focalmetrics_snapshot_errors_total")
              .Help("Run snapshots that could not be written, by code "
                    "(resource_exhausted: disk full).")
              .Register(*registry_)),
      snapshots_quarantined_(
          prometheus::BuildCounter()
              .Name("focalmetrics_snapshots_quarantined_total")
              .Help("Damaged snapshot files moved into quarantine/ at start.")
              .Register(*registry_)
              .Add({})),
      runs_restored_(prometheus::BuildGauge()
                         .Name("focalmetrics_runs_restored")
                         .Help("Runs restored from --state_dir at start.")
                         .Register(*registry_)
                         .Add({})) {
  prometheus::BuildGauge()
      .Name("focalmetrics_build_info")
      .Help("Always 1; the labels say which focalmetrics is running.")
      .Register(*registry_)
      .Add({{"version", FOCALMETRICS_VERSION}})
      .Set(1);
}

void ServerMetrics::ObserveRpc(absl::string_view method,
                               absl::Duration duration,
                               const absl::Status& status) {
  static const prometheus::Histogram::BucketBoundaries* const kBuckets =
      new prometheus::Histogram::BucketBoundaries(LatencyBuckets());
  const std::string method_label(method);
  rpc_duration_.Add({{"method", method_label}}, *kBuckets)
      .Observe(absl::ToDoubleSeconds(duration));
  if (!status.ok()) {
    rpc_errors_
        .Add({{"method", method_label},
              {"code", StatusCodeLabel(status.code())}})
        .Increment();
  }
}

void ServerMetrics::AddReceivedBytes(size_t bytes) {
  received_bytes_.Increment(static_cast<double>(bytes));
}

void ServerMetrics::StreamOpened() { active_streams_.Increment(); }
void ServerMetrics::StreamClosed() { active_streams_.Decrement(); }

void ServerMetrics::BatchRejected(const absl::Status& status) {
  rejected_batches_.Add({{"reason", StatusCodeLabel(status.code())}})
      .Increment();
}

void ServerMetrics::SnapshotsWritten(int count) {
  snapshots_written_.Increment(count);
}

void ServerMetrics::SnapshotFailed(const absl::Status& status) {
  snapshot_errors_.Add({{"code", StatusCodeLabel(status.code())}}).Increment();
}

void ServerMetrics::SnapshotsQuarantined(int count) {
  snapshots_quarantined_.Increment(count);
}

void ServerMetrics::RunsRestored(int count) { runs_restored_.Set(count); }

}  // namespace focalmetrics
