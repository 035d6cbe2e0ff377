#include "server/run_metrics_collector.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/losses/class_weights.h"

namespace focalmetrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Builds the families of one scrape, in a fixed order.
class Families {
 public:
  MetricFamily& Get(const std::string& name, const std::string& help,
                    MetricType type) {
    auto [it, inserted] = by_name_.emplace(name, families_.size());
    if (inserted) families_.push_back(MetricFamily{name, help, type, {}});
    return families_[it->second];
  }

  void Add(const std::string& name, const std::string& help, MetricType type,
           std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric metric;
    metric.label = std::move(labels);
    if (type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    Get(name, help, type).metric.push_back(std::move(metric));
  }

  std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  std::vector<MetricFamily> families_;
  std::map<std::string, size_t> by_name_;
};

std::string LossLabel(LossKind kind) { return DefaultLossName(kind); }

}  // namespace

RunMetricsCollector::RunMetricsCollector(const RunRegistry* registry,
                                         int max_class_labels)
    : registry_(registry), max_class_labels_(max_class_labels) {}

std::vector<MetricFamily> RunMetricsCollector::Collect() const {
  Families out;
  constexpr MetricType kGauge = MetricType::Gauge;
  constexpr MetricType kCounter = MetricType::Counter;
  const std::vector<RunSummary> runs = registry_->List();
  out.Add("focalmetrics_runs", "(run, split) states held by this server.",
          kGauge, {}, static_cast<double>(runs.size()));
  for (const RunSummary& summary : runs) {
    const auto state = registry_->Find(summary.run, summary.split);
    if (!state.ok()) continue;  // Deleted since List().
    const auto metrics = (*state)->Metrics(std::nullopt);
    if (!metrics.ok()) continue;
    const std::vector<ClientMetric::Label> run_labels = {
        {"run", summary.run}, {"split", summary.split}};
    auto with = [&run_labels](std::string name, std::string value) {
      std::vector<ClientMetric::Label> labels = run_labels;
      labels.push_back({std::move(name), std::move(value)});
      return labels;
    };
    out.Add("focalmetrics_samples_total",
            "Samples folded into the run, every epoch.", kCounter, run_labels,
            static_cast<double>(summary.samples));
    out.Add("focalmetrics_batches_total",
            "Batches folded into the run, every epoch.", kCounter, run_labels,
            static_cast<double>(summary.batches));
    out.Add("focalmetrics_epoch", "Current epoch of the run.", kGauge,
            run_labels, static_cast<double>(metrics->epoch));
    out.Add("focalmetrics_step", "Highest step reported in the current epoch.",
            kGauge, run_labels, static_cast<double>(metrics->step));
    for (const LossStatistics& loss : metrics->losses) {
      out.Add("focalmetrics_loss",
              "Mean of the loss over the current epoch's batches.", kGauge,
              with("loss", loss.name), loss.mean);
      out.Add("focalmetrics_loss_last", "The loss on the last batch.", kGauge,
              with("loss", loss.name), loss.last);
    }
    const AveragePrecisionSummary& ap = metrics->average_precision;
    const bool any_defined =
        std::any_of(ap.per_class.begin(), ap.per_class.end(),
                    [](const auto& c) { return c.defined; });
    if (any_defined) {
      for (const auto& [average, value] :
           {std::pair<std::string, double>{"macro", ap.macro},
            {"micro", ap.micro},
            {"weighted", ap.weighted}}) {
        out.Add(
            "focalmetrics_pr_auc",
            "Average precision of the current epoch (area under the PR curve).",
            kGauge, with("average", average), value);
      }
    }
    out.Add(
        "focalmetrics_pr_auc_exact",
        "1 while PR-AUC is exact, 0 once the run is in bounded-memory mode.",
        kGauge, run_labels, ap.exact ? 1 : 0);

    // Per-class series for at most max_class_labels classes: those with the
    // most samples over the run.
    const std::vector<int64_t> counts = (*state)->SamplesPerClass();
    std::vector<size_t> order(counts.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&counts](size_t a, size_t b) {
      return counts[a] > counts[b];
    });
    order.resize(
        std::min<size_t>(order.size(), std::max(0, max_class_labels_)));
    std::sort(order.begin(), order.end());
    // The weights the recommendation's class_alpha uses: effective numbers at
    // beta 0.999 are all equal on a run of millions (docs/runs.md).
    const auto weights =
        (*state)->ClassWeights(WeightScheme::kInverseSqrtFrequency, 0.0);
    for (size_t c : order) {
      const std::string id = absl::StrCat(c);
      out.Add("focalmetrics_class_positives_total",
              "Samples of the class over the run (BINARY: class 0 positives, "
              "class 1 "
              "negatives).",
              kCounter, with("class", id), static_cast<double>(counts[c]));
      if (weights.ok()) {
        out.Add(
            "focalmetrics_class_weight",
            "Class weight 1/sqrt(class count), normalised to sum to the number "
            "of classes (the recommendation's class_alpha).",
            kGauge, with("class", id), (*weights)[c]);
      }
      if (c < ap.per_class.size() && ap.per_class[c].defined) {
        out.Add("focalmetrics_class_pr_auc",
                "Average precision of the class, current epoch.", kGauge,
                with("class", id), ap.per_class[c].estimate);
      }
    }
    const LossRecommendation& advice = metrics->recommendation;
    std::vector<ClientMetric::Label> advice_labels =
        with("loss", LossLabel(advice.loss.kind));
    advice_labels.push_back({"gamma", advice.loss.gamma.has_value()
                                          ? absl::StrCat(*advice.loss.gamma)
                                          : std::string()});
    out.Add("focalmetrics_recommendation_info",
            "Always 1; the loss label is the loss recommended for the run's "
            "imbalance.",
            kGauge, advice_labels, 1);
    out.Add("focalmetrics_recommendation_warnings",
            "Anti-patterns found in the run's losses (GetMetrics lists them).",
            kGauge, run_labels, static_cast<double>(advice.warnings.size()));
    out.Add("focalmetrics_imbalance_ratio",
            "Majority : minority class ratio of the run.", kGauge, run_labels,
            advice.imbalance_ratio);
  }
  return out.Take();
}

}  // namespace focalmetrics
