// Exports the runs to Prometheus: a prometheus-cpp Collectable that reads the
// run registry at scrape time, so the report path never touches a metric.
// Label cardinality is bounded: runs by --max_runs, losses per run by
// RunLimits::max_losses, and per-class series by max_class_labels (the
// classes with the most samples); a deleted or expired run's series are gone
// at the next scrape because they are never stored.
//
//   auto collector = std::make_shared<RunMetricsCollector>(&registry, 32);
//   exposer.RegisterCollectable(collector);
#ifndef FOCALMETRICS_SERVER_RUN_METRICS_COLLECTOR_H_
#define FOCALMETRICS_SERVER_RUN_METRICS_COLLECTOR_H_

#include <vector>

#include "core/run/run_registry.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace focalmetrics {

class RunMetricsCollector : public prometheus::Collectable {
 public:
  // `registry` must outlive the collector.
  RunMetricsCollector(const RunRegistry* registry, int max_class_labels);

  // Metric names and labels are DESIGN.md's (prefix focalmetrics_, every run
  // series labelled run and split).
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const RunRegistry* registry_;
  const int max_class_labels_;
};

}  // namespace focalmetrics

#endif  // FOCALMETRICS_SERVER_RUN_METRICS_COLLECTOR_H_
