// The run RPCs behind the service: Report (unary and per stream message),
// GetMetrics, GetClassWeights, GetPrecisionRecallCurve, ListRuns and
// DeleteRun. Each reads its request, calls the run registry or one run's
// state in core, and writes the response. Tested without gRPC.
//
//   RunsImpl runs(&registry);
//   absl::Status status = runs.GetMetrics(request, &metrics);
#ifndef FOCALMETRICS_SERVER_RUNS_IMPL_H_
#define FOCALMETRICS_SERVER_RUNS_IMPL_H_

#include "absl/status/status.h"
#include "core/run/run_registry.h"
#include "focalmetrics/v1/focal_metrics.pb.h"

namespace focalmetrics {

inline constexpr int32_t kDefaultCurvePoints = 200;
inline constexpr int32_t kMaxCurvePoints = 10000;

// Thread-safe; `registry` must outlive it.
class RunsImpl {
 public:
  explicit RunsImpl(RunRegistry* registry) : registry_(registry) {}

  // Folds the batch into its run. On error nothing is applied and the
  // status names the field. `ack` gets seq, duplicate, durable_seq (the
  // worker's highest seq in a snapshot on disk; 0 without --state_dir) and
  // this batch's losses.
  absl::Status Report(const v1::ReportRequest& request,
                      v1::ReportAck* ack) const;
  // The stream form: an error goes into ack.error, never into the status.
  void ReportOnStream(const v1::ReportRequest& request,
                      v1::ReportAck* ack) const;

  absl::Status GetMetrics(const v1::GetMetricsRequest& request,
                          v1::RunMetrics* response) const;
  absl::Status GetClassWeights(const v1::GetClassWeightsRequest& request,
                               v1::ClassWeights* response) const;
  absl::Status GetPrecisionRecallCurve(
      const v1::GetPrecisionRecallCurveRequest& request,
      v1::PrecisionRecallCurve* response) const;
  absl::Status ListRuns(const v1::ListRunsRequest& request,
                        v1::ListRunsResponse* response) const;
  absl::Status DeleteRun(const v1::DeleteRunRequest& request,
                         v1::DeleteRunResponse* response) const;

 private:
  RunRegistry* registry_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_RUNS_IMPL_H_
