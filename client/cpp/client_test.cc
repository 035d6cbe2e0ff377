#include "client/cpp/client.h"

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "client/cpp/synthetic_task.h"
#include "core/ap/exact_average_precision.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/focal_metrics_service.h"

namespace focalmetrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Softmax probabilities in float64 of float32 logits, row-major.
std::vector<double> Softmax(const std::vector<float>& logits, int64_t classes) {
  std::vector<double> p(logits.size());
  for (size_t row = 0; row < logits.size() / classes; ++row) {
    double max = logits[row * classes];
    for (int64_t c = 1; c < classes; ++c)
      max = std::max<double>(max, logits[row * classes + c]);
    double total = 0;
    for (int64_t c = 0; c < classes; ++c)
      total += p[row * classes + c] = std::exp(logits[row * classes + c] - max);
    for (int64_t c = 0; c < classes; ++c) p[row * classes + c] /= total;
  }
  return p;
}

// The client over real gRPC on loopback against the service, in process.
class ClientTest : public testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    client_ = Client::Create("127.0.0.1:" + std::to_string(port));
  }
  void TearDown() override { server_->Shutdown(); }

  v1::ReportRequest Request(uint64_t seq, SyntheticTask& task) {
    v1::ReportRequest request;
    request.set_run("cpp-client");
    request.set_worker("w");
    request.set_seq(seq);
    request.set_step(static_cast<int64_t>(seq));
    request.add_losses()->set_kind(v1::LOSS_KIND_FOCAL);
    task.NextBatch(64, request.mutable_batch());
    return request;
  }

  RunRegistry registry_{{}};
  ServerMetrics metrics_;
  FocalMetricsService service_{&registry_, &metrics_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, TensorsAreRowMajorLittleEndian) {
  const std::vector<float> values = {1.5f, -2.0f, 0.25f, 8.0f};
  const v1::Tensor tensor = Float32Tensor(values, {2, 2});
  EXPECT_THAT(tensor.shape(), ElementsAre(2, 2));
  EXPECT_EQ(tensor.dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(TensorValues<float>(tensor), values);
  const v1::Tensor labels = Int64Tensor(std::vector<int64_t>{3, 0, 7}, {3});
  EXPECT_EQ(labels.dtype(), v1::DTYPE_INT64);
  EXPECT_THAT(TensorValues<int64_t>(labels), ElementsAre(3, 0, 7));
}

TEST_F(ClientTest, ComputeLossEqualsMulticlassFocalComputedHere) {
  auto task = SyntheticTask::Create({.classes = 5, .seed = 11});
  ASSERT_TRUE(task.ok());
  v1::ComputeLossRequest request;
  task->NextBatch(200, request.mutable_batch());
  request.add_losses()->set_kind(v1::LOSS_KIND_FOCAL);
  const auto response = client_->ComputeLoss(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 1);

  // -(1 - p_t)^2 log p_t, mean over samples (DESIGN.md, gamma 2).
  const std::vector<double> p =
      Softmax(TensorValues<float>(request.batch().scores()), 5);
  const std::vector<int64_t> labels =
      TensorValues<int64_t>(request.batch().targets());
  double expected = 0;
  for (size_t row = 0; row < labels.size(); ++row) {
    const double p_t = p[row * 5 + labels[row]];
    expected -= (1 - p_t) * (1 - p_t) * std::log(p_t);
  }
  expected /= static_cast<double>(labels.size());
  EXPECT_NEAR(response->results(0).value(), expected, 1e-6 * expected);
}

TEST_F(ClientTest, StreamedBatchesAreAckedInOrderAndGiveTheExactAp) {
  auto task = SyntheticTask::Create({.classes = 3, .imbalance = 10, .seed = 5});
  ASSERT_TRUE(task.ok());
  std::vector<ExactAveragePrecision> expected(3);
  std::unique_ptr<ReportStream> stream =
      client_->OpenReportStream("cpp-client");
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    const v1::ReportRequest request = Request(seq, *task);
    const std::vector<double> p =
        Softmax(TensorValues<float>(request.batch().scores()), 3);
    const std::vector<int64_t> labels =
        TensorValues<int64_t>(request.batch().targets());
    for (int c = 0; c < 3; ++c) {
      std::vector<double> scores;
      std::vector<uint8_t> positive;
      for (size_t row = 0; row < labels.size(); ++row) {
        scores.push_back(p[row * 3 + c]);
        positive.push_back(labels[row] == c);
      }
      expected[c].Add(scores, positive);
    }
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    const std::optional<v1::ReportAck> ack = stream->Read();
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(ack->seq(), seq);
    EXPECT_FALSE(ack->has_error()) << ack->error().message();
    ASSERT_EQ(ack->losses_size(), 1);
    EXPECT_GT(ack->losses(0).value(), 0);
  }
  EXPECT_FALSE(stream->Read().has_value());
  EXPECT_TRUE(stream->Finish().ok());

  v1::GetMetricsRequest metrics_request;
  metrics_request.set_run("cpp-client");
  const auto metrics = client_->GetMetrics(metrics_request);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->samples(), 4 * 64);
  EXPECT_EQ(metrics->batches(), 4);
  ASSERT_EQ(metrics->average_precision().per_class_size(), 3);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(metrics->average_precision().per_class(c).ap(),
                expected[c].Compute().estimate, 1e-12)
        << "class " << c;
  }
}

TEST_F(ClientTest, EveryRunRpcAnswersAboutTheReportedRun) {
  auto task = SyntheticTask::Create({.classes = 3, .seed = 2});
  ASSERT_TRUE(task.ok());
  const v1::ReportRequest request = Request(1, *task);
  const auto ack = client_->Report(request);
  ASSERT_TRUE(ack.ok()) << ack.status();
  std::vector<int64_t> counts(3, 0);
  for (const int64_t label : TensorValues<int64_t>(request.batch().targets()))
    ++counts[label];

  v1::GetClassWeightsRequest weights_request;
  weights_request.set_run("cpp-client");
  const auto weights = client_->GetClassWeights(weights_request);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_THAT(weights->samples_per_class(),
              ElementsAre(counts[0], counts[1], counts[2]));

  v1::GetPrecisionRecallCurveRequest curve_request;
  curve_request.set_run("cpp-client");
  curve_request.set_class_id(1);
  const auto curve = client_->GetPrecisionRecallCurve(curve_request);
  ASSERT_TRUE(curve.ok()) << curve.status();
  EXPECT_EQ(curve->recall(curve->recall_size() - 1), 1.0);

  const auto runs = client_->ListRuns({});
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->runs_size(), 1);
  EXPECT_EQ(runs->runs(0).run(), "cpp-client");
  EXPECT_EQ(runs->runs(0).samples(), 64);

  v1::DeleteRunRequest delete_request;
  delete_request.set_run("cpp-client");
  const auto deleted = client_->DeleteRun(delete_request);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted(), 1);
  v1::GetMetricsRequest metrics_request;
  metrics_request.set_run("cpp-client");
  EXPECT_EQ(client_->GetMetrics(metrics_request).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientTest, ErrorsArriveAsStatusesNamingTheField) {
  v1::GetMetricsRequest metrics_request;
  metrics_request.set_run("no-such-run");
  const auto metrics = client_->GetMetrics(metrics_request);
  EXPECT_EQ(metrics.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(metrics.status().message(), HasSubstr("no-such-run"));

  auto task = SyntheticTask::Create({.classes = 3, .seed = 2});
  ASSERT_TRUE(task.ok());
  v1::ReportRequest bad = Request(1, *task);
  *bad.mutable_batch()->mutable_targets() =
      Int64Tensor(std::vector<int64_t>(64, 7), {64});
  const auto ack = client_->Report(bad);
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ack.status().message(), HasSubstr("batch.targets"));

  // On a stream the bad batch gets an error ack and the stream goes on.
  std::unique_ptr<ReportStream> stream =
      client_->OpenReportStream("cpp-client");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Write(Request(1, *task)));
  stream->WritesDone();
  const auto refused = stream->Read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_TRUE(refused->has_error());
  EXPECT_THAT(refused->error().message(), HasSubstr("batch.targets"));
  const auto accepted = stream->Read();
  ASSERT_TRUE(accepted.has_value());
  EXPECT_FALSE(accepted->has_error());
  EXPECT_FALSE(stream->Read().has_value());
  EXPECT_TRUE(stream->Finish().ok());
}

// Answers every RPC with an empty OK and records the run metadata it got.
class RecordingService final : public v1::FocalMetrics::Service {
 public:
  grpc::Status ComputeLoss(grpc::ServerContext* context,
                           const v1::ComputeLossRequest*,
                           v1::ComputeLossResponse*) override {
    return Record("ComputeLoss", context);
  }
  grpc::Status Report(grpc::ServerContext* context, const v1::ReportRequest*,
                      v1::ReportAck*) override {
    return Record("Report", context);
  }
  grpc::Status StreamReports(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ReportAck, v1::ReportRequest>*) override {
    return Record("StreamReports", context);
  }
  grpc::Status GetMetrics(grpc::ServerContext* context,
                          const v1::GetMetricsRequest*,
                          v1::RunMetrics*) override {
    return Record("GetMetrics", context);
  }
  grpc::Status GetClassWeights(grpc::ServerContext* context,
                               const v1::GetClassWeightsRequest*,
                               v1::ClassWeights*) override {
    return Record("GetClassWeights", context);
  }
  grpc::Status GetPrecisionRecallCurve(
      grpc::ServerContext* context, const v1::GetPrecisionRecallCurveRequest*,
      v1::PrecisionRecallCurve*) override {
    return Record("GetPrecisionRecallCurve", context);
  }
  grpc::Status ListRuns(grpc::ServerContext* context,
                        const v1::ListRunsRequest*,
                        v1::ListRunsResponse*) override {
    return Record("ListRuns", context);
  }
  grpc::Status DeleteRun(grpc::ServerContext* context,
                         const v1::DeleteRunRequest*,
                         v1::DeleteRunResponse*) override {
    return Record("DeleteRun", context);
  }

  std::map<std::string, std::string> runs() {
    absl::MutexLock lock(&mu_);
    return runs_;
  }

 private:
  grpc::Status Record(const std::string& method, grpc::ServerContext* context) {
    const auto it = context->client_metadata().find(kRunMetadataKey);
    absl::MutexLock lock(&mu_);
    runs_[method] = it == context->client_metadata().end()
                        ? "(none)"
                        : std::string(it->second.data(), it->second.size());
    return grpc::Status::OK;
  }

  absl::Mutex mu_;
  std::map<std::string, std::string> runs_;  // Guarded by mu_
};

template <typename Request>
Request WithRun(const std::string& run) {
  Request request;
  request.set_run(run);
  return request;
}

// Routers that shard by run (docs/deploy.md) see the run on every call that
// names one.
TEST(ClientMetadataTest, EveryCallNamingARunSendsIt) {
  RecordingService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  const std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  const auto client = Client::Create("127.0.0.1:" + std::to_string(port));

  EXPECT_TRUE(
      client->ComputeLoss(WithRun<v1::ComputeLossRequest>("r-compute")).ok());
  EXPECT_TRUE(client->Report(WithRun<v1::ReportRequest>("r-report")).ok());
  EXPECT_TRUE(
      client->GetMetrics(WithRun<v1::GetMetricsRequest>("r-metrics")).ok());
  EXPECT_TRUE(
      client->GetClassWeights(WithRun<v1::GetClassWeightsRequest>("r-weights"))
          .ok());
  EXPECT_TRUE(client
                  ->GetPrecisionRecallCurve(
                      WithRun<v1::GetPrecisionRecallCurveRequest>("r-curve"))
                  .ok());
  EXPECT_TRUE(
      client->DeleteRun(WithRun<v1::DeleteRunRequest>("r-delete")).ok());
  EXPECT_TRUE(client->ListRuns({}).ok());
  std::unique_ptr<ReportStream> stream = client->OpenReportStream("r-stream");
  stream->WritesDone();
  EXPECT_FALSE(stream->Read().has_value());
  EXPECT_TRUE(stream->Finish().ok());
  server->Shutdown();

  EXPECT_EQ(service.runs(), (std::map<std::string, std::string>{
                                {"ComputeLoss", "r-compute"},
                                {"Report", "r-report"},
                                {"GetMetrics", "r-metrics"},
                                {"GetClassWeights", "r-weights"},
                                {"GetPrecisionRecallCurve", "r-curve"},
                                {"DeleteRun", "r-delete"},
                                {"ListRuns", "(none)"},
                                {"StreamReports", "r-stream"},
                            }));
}

TEST(ClientOptionsTest, AnInfiniteTimeoutMeansNoDeadline) {
  RecordingService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  const std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  const auto client =
      Client::Create("127.0.0.1:" + std::to_string(port),
                     {.timeout = absl::InfiniteDuration(),
                      .max_message_mb = 100000});  // clamped, not overflowed
  EXPECT_TRUE(client->ListRuns({}).ok());
  server->Shutdown();
}

}  // namespace
}  // namespace focalmetrics
