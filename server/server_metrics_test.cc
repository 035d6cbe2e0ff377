#include "server/server_metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace focalmetrics {
namespace {

using ::testing::HasSubstr;

std::string Scrape(const ServerMetrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
}

TEST(ServerMetricsTest, CountsRpcsErrorsBytesStreamsAndRejections) {
  ServerMetrics metrics;
  metrics.ObserveRpc("ComputeLoss", absl::Milliseconds(3), absl::OkStatus());
  metrics.ObserveRpc("ComputeLoss", absl::Milliseconds(1),
                     absl::InvalidArgumentError("batch.scores: missing"));
  metrics.AddReceivedBytes(100);
  metrics.AddReceivedBytes(28);
  metrics.StreamOpened();
  metrics.StreamOpened();
  metrics.StreamClosed();
  metrics.BatchRejected(absl::InvalidArgumentError("x"));
  const std::string text = Scrape(metrics);
  EXPECT_THAT(
      text,
      HasSubstr(
          "focalmetrics_rpc_duration_seconds_count{method=\"ComputeLoss\"} 2"));
  EXPECT_THAT(
      text, HasSubstr("focalmetrics_rpc_errors_total{code=\"invalid_argument\","
                      "method=\"ComputeLoss\"} 1"));
  EXPECT_THAT(text, HasSubstr("focalmetrics_received_bytes_total 128"));
  EXPECT_THAT(text, HasSubstr("focalmetrics_active_streams 1"));
  EXPECT_THAT(text, HasSubstr("focalmetrics_rejected_batches_total{reason="
                              "\"invalid_argument\"} 1"));
  EXPECT_THAT(text, HasSubstr("focalmetrics_build_info{version=\""));
}

TEST(StatusCodeLabelTest, IsTheLowerCaseCodeName) {
  EXPECT_EQ(StatusCodeLabel(absl::StatusCode::kResourceExhausted),
            "resource_exhausted");
}

}  // namespace
}  // namespace focalmetrics
