// focalmetrics-loadgen: a simulated fleet of trainers for load tests. Each
// worker streams batches of an imbalanced multiclass task (SyntheticTask)
// into one run over its own StreamReports call, keeping at most --window
// batches unacknowledged, and the tool prints throughput, ack latency and the
// run's metrics as the server computed them. Exits 0 when every batch was
// applied, 1 otherwise (an error ack, a duplicate: the run already had that
// (worker, seq), so use a fresh --run; a broken or expired stream), 2 on bad
// flags. It does not retry: a broken stream is counted and reported, since
// that is what a load test is for (the Python Reporter is the client that
// resends).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/cpp/client.h"
#include "client/cpp/synthetic_task.h"

ABSL_FLAG(std::string, target, "localhost:50051", "Server address host:port.");
ABSL_FLAG(std::string, run, "loadgen", "Run to report into.");
ABSL_FLAG(std::string, split, "", "Split (the server's default: train).");
ABSL_FLAG(int32_t, workers, 4, "Simulated trainers, one stream each.");
ABSL_FLAG(int64_t, batches, 200, "Batches per worker.");
ABSL_FLAG(int64_t, batch_size, 256, "Samples per batch.");
ABSL_FLAG(int64_t, classes, 10, "Classes of the task.");
ABSL_FLAG(double, imbalance, 100.0,
          "Ratio of the most to the least frequent class.");
ABSL_FLAG(double, separation, 2.0, "Logit added to each sample's true class.");
ABSL_FLAG(int32_t, window, 8, "Unacknowledged batches per worker, at most.");
ABSL_FLAG(std::string, losses, "focal",
          "Comma-separated loss kinds computed per batch (e.g. "
          "focal,class_balanced_focal); empty for none.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of worker 0; worker i uses seed + i.");
ABSL_FLAG(bool, json, false, "Print one JSON object instead of the report.");
ABSL_FLAG(absl::Duration, deadline, absl::Minutes(10),
          "Deadline of each worker's stream and of the final GetMetrics "
          "(\"inf\" for none): a server that stops acknowledging fails the "
          "run instead of hanging it.");

namespace focalmetrics {
namespace {

struct WorkerResult {
  int64_t sent = 0;
  int64_t acked = 0;       // applied
  int64_t duplicates = 0;  // the run already had the (worker, seq)
  int64_t errors = 0;
  int64_t request_bytes = 0;
  std::vector<double> latencies_ms;
  std::string first_error;
};

// The shared part of one worker's writer and reader.
class Window {
 public:
  explicit Window(int32_t size) : size_(size) {}

  void WaitForRoom() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Window* w) { return w->in_flight_ < w->size_ || w->closed_; },
        this));
    ++in_flight_;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }
  // Unblocks the writer for good (the stream ended).
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  absl::Mutex mu_;
  const int32_t size_;
  int32_t in_flight_ = 0;  // Guarded by mu_
  bool closed_ = false;    // Guarded by mu_
};

WorkerResult RunWorker(const Client& client, int32_t worker, SyntheticTask task,
                       const std::vector<v1::LossKind>& losses) {
  const std::string run = absl::GetFlag(FLAGS_run);
  const int64_t batches = absl::GetFlag(FLAGS_batches);
  const int64_t batch_size = absl::GetFlag(FLAGS_batch_size);
  std::unique_ptr<ReportStream> stream =
      client.OpenReportStream(run, absl::GetFlag(FLAGS_deadline));
  Window window(absl::GetFlag(FLAGS_window));
  std::vector<absl::Time> sent_at(static_cast<size_t>(batches) + 1);
  absl::Mutex sent_mu;
  WorkerResult result;

  std::thread reader([&] {
    while (std::optional<v1::ReportAck> ack = stream->Read()) {
      absl::Time sent;
      {
        absl::MutexLock lock(&sent_mu);
        sent = ack->seq() < sent_at.size() ? sent_at[ack->seq()]
                                           : absl::InfinitePast();
      }
      result.latencies_ms.push_back(
          absl::ToDoubleMilliseconds(absl::Now() - sent));
      if (ack->has_error()) {
        if (result.errors++ == 0 && result.first_error.empty()) {
          result.first_error = ack->error().message();
        }
      } else if (ack->duplicate()) {
        if (result.duplicates++ == 0 && result.first_error.empty()) {
          result.first_error = absl::StrCat(
              "batch seq ", ack->seq(), " of worker loadgen-", worker,
              " is a duplicate: run '", run,
              "' already has it; use a fresh --run or delete this one");
        }
      } else {
        ++result.acked;
      }
      window.Release();
    }
    window.Close();
  });

  v1::ReportRequest request;
  request.set_run(run);
  request.set_split(absl::GetFlag(FLAGS_split));
  request.set_worker(absl::StrCat("loadgen-", worker));
  for (const v1::LossKind kind : losses) request.add_losses()->set_kind(kind);
  for (int64_t seq = 1; seq <= batches; ++seq) {
    task.NextBatch(batch_size, request.mutable_batch());
    request.set_seq(static_cast<uint64_t>(seq));
    request.set_step(seq);
    window.WaitForRoom();
    {
      absl::MutexLock lock(&sent_mu);
      sent_at[seq] = absl::Now();
    }
    if (!stream->Write(request)) break;
    ++result.sent;
    result.request_bytes += static_cast<int64_t>(request.ByteSizeLong());
  }
  stream->WritesDone();
  reader.join();
  const absl::Status status = stream->Finish();
  if (!status.ok() && result.first_error.empty()) {
    result.first_error = status.ToString();
  }
  return result;
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = static_cast<size_t>(
      std::ceil(q * static_cast<double>(values.size())) - 1);
  return values[std::min(index, values.size() - 1)];
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

absl::StatusOr<std::vector<v1::LossKind>> ParseLosses(const std::string& flag) {
  std::vector<v1::LossKind> kinds;
  for (const absl::string_view name :
       absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    v1::LossKind kind;
    const std::string full =
        absl::StrCat("LOSS_KIND_", absl::AsciiStrToUpper(name));
    if (!v1::LossKind_Parse(full, &kind) || kind == v1::LOSS_KIND_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("--losses: unknown loss kind '", name, "'"));
    }
    kinds.push_back(kind);
  }
  return kinds;
}

int Main() {
  const int32_t workers = absl::GetFlag(FLAGS_workers);
  const int64_t batches = absl::GetFlag(FLAGS_batches);
  const int64_t batch_size = absl::GetFlag(FLAGS_batch_size);
  if (workers < 1 || batches < 1 || batch_size < 1 ||
      absl::GetFlag(FLAGS_window) < 1) {
    std::cerr << "--workers, --batches, --batch_size and --window must be at "
                 "least 1\n";
    return 2;
  }
  const absl::StatusOr<std::vector<v1::LossKind>> losses =
      ParseLosses(absl::GetFlag(FLAGS_losses));
  if (!losses.ok()) {
    std::cerr << losses.status().message() << "\n";
    return 2;
  }
  std::vector<SyntheticTask> tasks;
  for (int32_t worker = 0; worker < workers; ++worker) {
    absl::StatusOr<SyntheticTask> task = SyntheticTask::Create(
        {.classes = absl::GetFlag(FLAGS_classes),
         .imbalance = absl::GetFlag(FLAGS_imbalance),
         .separation = absl::GetFlag(FLAGS_separation),
         .seed = absl::GetFlag(FLAGS_seed) + static_cast<uint64_t>(worker)});
    if (!task.ok()) {
      std::cerr << "--" << task.status().message() << "\n";
      return 2;
    }
    tasks.push_back(*std::move(task));
  }

  const std::unique_ptr<Client> client = Client::Create(
      absl::GetFlag(FLAGS_target), {.timeout = absl::GetFlag(FLAGS_deadline)});
  std::vector<WorkerResult> results(static_cast<size_t>(workers));
  const absl::Time start = absl::Now();
  {
    std::vector<std::thread> threads;
    for (int32_t worker = 0; worker < workers; ++worker) {
      threads.emplace_back([&, worker] {
        results[worker] =
            RunWorker(*client, worker, std::move(tasks[worker]), *losses);
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  WorkerResult total;
  for (WorkerResult& result : results) {
    total.sent += result.sent;
    total.acked += result.acked;
    total.duplicates += result.duplicates;
    total.errors += result.errors;
    total.request_bytes += result.request_bytes;
    total.latencies_ms.insert(total.latencies_ms.end(),
                              result.latencies_ms.begin(),
                              result.latencies_ms.end());
    if (total.first_error.empty()) total.first_error = result.first_error;
  }
  const int64_t expected = int64_t{workers} * batches;
  const double p50 = Percentile(total.latencies_ms, 0.50);
  const double p99 = Percentile(total.latencies_ms, 0.99);

  v1::GetMetricsRequest metrics_request;
  metrics_request.set_run(absl::GetFlag(FLAGS_run));
  metrics_request.set_split(absl::GetFlag(FLAGS_split));
  const absl::StatusOr<v1::RunMetrics> metrics =
      client->GetMetrics(metrics_request);
  const bool ok = total.acked == expected && metrics.ok();
  if (!metrics.ok() && total.first_error.empty()) {
    total.first_error = metrics.status().ToString();
  }

  if (absl::GetFlag(FLAGS_json)) {
    std::string json = absl::StrFormat(
        "{\"workers\": %d, \"batches_planned\": %d, \"batches_sent\": %d, "
        "\"batches_acked\": %d, \"duplicates\": %d, \"errors\": %d, "
        "\"seconds\": %.6f, \"batches_per_second\": %.3f, "
        "\"samples_per_second\": %.3f, \"request_mib_per_second\": %.3f, "
        "\"ack_latency_ms_p50\": %.3f, \"ack_latency_ms_p99\": %.3f",
        workers, expected, total.sent, total.acked, total.duplicates,
        total.errors, seconds, total.acked / seconds,
        total.acked * batch_size / seconds,
        total.request_bytes / 1048576.0 / seconds, p50, p99);
    if (metrics.ok()) {
      absl::StrAppendFormat(
          &json,
          ", \"run_samples\": %d, \"run_batches\": %d, \"pr_auc_macro\": "
          "%.17g, \"pr_auc_micro\": %.17g, \"recommended_loss\": %s",
          metrics->samples(), metrics->batches(),
          metrics->average_precision().macro(),
          metrics->average_precision().micro(),
          JsonString(
              v1::LossKind_Name(metrics->recommendation().loss().kind())));
    }
    absl::StrAppend(&json, ", \"first_error\": ", JsonString(total.first_error),
                    "}");
    std::cout << json << std::endl;
  } else {
    std::cout << absl::StrFormat(
        "%d workers x %d batches of %d samples (%d classes, %.0f:1) in %.2f s\n"
        "  sent %d, applied %d/%d, duplicates %d, errors %d\n"
        "  %.1f batches/s, %.0f samples/s, %.1f MiB/s of requests\n"
        "  ack latency p50 %.2f ms, p99 %.2f ms\n",
        workers, batches, batch_size, absl::GetFlag(FLAGS_classes),
        absl::GetFlag(FLAGS_imbalance), seconds, total.sent, total.acked,
        expected, total.duplicates, total.errors, total.acked / seconds,
        total.acked * batch_size / seconds,
        total.request_bytes / 1048576.0 / seconds, p50, p99);
    if (metrics.ok()) {
      std::cout << absl::StrFormat(
          "  run '%s': %d samples, PR-AUC macro %.4f micro %.4f; recommended "
          "%s: %s\n",
          metrics->run(), metrics->samples(),
          metrics->average_precision().macro(),
          metrics->average_precision().micro(),
          v1::LossKind_Name(metrics->recommendation().loss().kind()),
          metrics->recommendation().reason());
    }
    if (!total.first_error.empty()) {
      std::cout << "  first error: " << total.first_error << "\n";
    }
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace focalmetrics

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "streams a simulated fleet of trainers into a focalmetrics server, e.g.\n"
      "  focalmetrics-loadgen --target=localhost:50051 --workers=8 "
      "--batches=1000 --imbalance=500");
  absl::ParseCommandLine(argc, argv);
  return focalmetrics::Main();
}
