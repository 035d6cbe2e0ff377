// focalmetrics-server: the gRPC service of DESIGN.md, with the gRPC health
// service and server reflection. SIGTERM or SIGINT: health turns
// NOT_SERVING, in-flight calls get --drain_deadline to finish, then exit 0.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/durability/run_store.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "prometheus/exposer.h"
#include "server/focal_metrics_service.h"
#include "server/run_maintenance.h"
#include "server/run_metrics_collector.h"
#include "server/server_metrics.h"

ABSL_FLAG(std::string, host, "0.0.0.0",
          "Address to listen on for gRPC: 0.0.0.0 (all IPv4), :: (all IPv6), "
          "or 127.0.0.1 for this machine only.");
ABSL_FLAG(int32_t, port, 50051,
          "gRPC port. 0 picks a free port; the chosen one is printed.");
ABSL_FLAG(
    int32_t, metrics_port, 9464,
    "Port of the Prometheus endpoint http://HOST:PORT/metrics (on --host). "
    "0 picks a free port; the chosen one is printed.");
ABSL_FLAG(int32_t, max_class_labels, 32,
          "Per-class series (PR-AUC, positives, weight) exported per run: the "
          "classes with the most samples. Bounds Prometheus cardinality.");
ABSL_FLAG(absl::Duration, run_ttl, absl::Hours(72),
          "A run with no report for this long is deleted, with its series "
          "(e.g. 72h, 30m). 0 keeps runs until DeleteRun.");
ABSL_FLAG(int32_t, max_message_mb, 64,
          "Largest request accepted, in MiB. Larger ones are refused with "
          "RESOURCE_EXHAUSTED before they are read. A 256x80 float32 batch is "
          "80 KiB; 64 MiB holds 16M float32 scores.");
ABSL_FLAG(int64_t, max_runs, 1000,
          "Most (run, split) states held at once; more are RESOURCE_EXHAUSTED "
          "until runs are deleted (DeleteRun).");
ABSL_FLAG(int64_t, max_classes, 4096,
          "Most classes a run may have; wider batches are RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_epochs_kept, 64,
          "Closed epochs whose final metrics stay queryable per run; older "
          "ones are dropped.");
ABSL_FLAG(
    double, run_memory_budget_mb, 256,
    "Memory for exact PR-AUC per run (8 bytes per sample and class). Past "
    "it the run switches to bounded-memory histograms and reports "
    "exact=false with certified [lower, upper] bounds.");
ABSL_FLAG(int64_t, histogram_kb_per_class, 64,
          "Memory per class of a run in bounded-memory mode.");
ABSL_FLAG(std::string, state_dir, "",
          "Directory for run snapshots. Runs are restored from it at start "
          "(before health says SERVING) and written to it every "
          "--snapshot_interval and at shutdown; acks then carry durable_seq. "
          "Empty: runs live in memory only.");
ABSL_FLAG(absl::Duration, snapshot_interval, absl::Seconds(2),
          "How often runs that changed are written to --state_dir.");
ABSL_FLAG(absl::Duration, drain_deadline, absl::Seconds(10),
          "On SIGTERM/SIGINT, how long in-flight calls may take to finish "
          "before they are cancelled (e.g. 10s, 500ms).");

namespace focalmetrics {
namespace {

constexpr char kServiceName[] = "focalmetrics.v1.FocalMetrics";

constexpr char kUsage[] = R"(focal losses and PR-AUC for trainers, over gRPC.

Starts the focalmetrics.v1.FocalMetrics service (see proto/focalmetrics/v1/
focal_metrics.proto), the standard gRPC health service and server reflection.

Examples:
  focalmetrics-server                          # listen on 0.0.0.0:50051
  focalmetrics-server --host=127.0.0.1 --port=0   # a free local port, printed
  focalmetrics-server --max_message_mb=256     # accept batches up to 256 MiB

Then, from Python (PYTHONPATH=client/python):
  import focalmetrics, numpy as np
  client = focalmetrics.Client("localhost:50051")
  client.compute_loss(np.random.randn(8).astype("float32"),
                      np.array([0, 1] * 4, dtype="float32"),
                      losses=["focal"], task="binary")

Stop with Ctrl-C or SIGTERM: health turns NOT_SERVING, calls in flight get
--drain_deadline to finish, and the process exits 0.

Flags:)";

std::string ListenAddress(const std::string& host, int port) {
  const bool bare_ipv6 =
      absl::StrContains(host, ':') && !absl::StartsWith(host, "[");
  return bare_ipv6 ? absl::StrCat("[", host, "]:", port)
                   : absl::StrCat(host, ":", port);
}

int Run() {
  // Termination signals are taken synchronously by sigwait below; blocking
  // them before gRPC starts its threads keeps every thread from seeing them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  RunRegistry registry(
      {.max_runs = absl::GetFlag(FLAGS_max_runs),
       .run = {
           .max_classes = absl::GetFlag(FLAGS_max_classes),
           .max_epochs_kept = absl::GetFlag(FLAGS_max_epochs_kept),
           .exact_memory_budget_bytes = static_cast<size_t>(
               absl::GetFlag(FLAGS_run_memory_budget_mb) * (1 << 20)),
           .histogram_bytes_per_class =
               static_cast<size_t>(absl::GetFlag(FLAGS_histogram_kb_per_class))
               << 10}});
  ServerMetrics server_metrics;
  // A file-size limit or a full disk must fail a write, not kill the server.
  std::signal(SIGXFSZ, SIG_IGN);
  std::unique_ptr<RunStore> store;
  if (!absl::GetFlag(FLAGS_state_dir).empty()) {
    absl::StatusOr<std::unique_ptr<RunStore>> opened =
        RunStore::Open(absl::GetFlag(FLAGS_state_dir));
    if (!opened.ok()) {
      std::fprintf(stderr, "focalmetrics-server: %s\n",
                   std::string(opened.status().message()).c_str());
      return 1;
    }
    store = *std::move(opened);
    // Every run is back before anything is served.
    const RestoreReport restored = store->RestoreAll(registry);
    for (const std::string& line : restored.quarantined) {
      std::fprintf(stderr, "focalmetrics-server: quarantined %s\n",
                   line.c_str());
    }
    std::fprintf(
        stderr,
        "focalmetrics-server: restored %d run(s) from %s, quarantined %zu\n",
        restored.restored, store->dir().c_str(), restored.quarantined.size());
    server_metrics.RunsRestored(restored.restored);
    server_metrics.SnapshotsQuarantined(
        static_cast<int>(restored.quarantined.size()));
  }
  FocalMetricsService service(&registry, &server_metrics);
  const std::string metrics_address = ListenAddress(
      absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_metrics_port));
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // prometheus-cpp reports a port it cannot bind by throwing.
    exposer = std::make_unique<prometheus::Exposer>(metrics_address);
  } catch (const std::exception& error) {
    std::fprintf(stderr,
                 "focalmetrics-server: cannot serve metrics on %s: %s\n",
                 metrics_address.c_str(), error.what());
    return 1;
  }
  auto run_collector = std::make_shared<RunMetricsCollector>(
      &registry, absl::GetFlag(FLAGS_max_class_labels));
  exposer->RegisterCollectable(server_metrics.registry());
  exposer->RegisterCollectable(run_collector);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int selected_port = 0;
  const std::string address =
      ListenAddress(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port));
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_mb) * 1024 *
                                   1024);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    std::fprintf(stderr, "focalmetrics-server: cannot listen on %s\n",
                 address.c_str());
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(kServiceName, true);
  health->SetServingStatus(true);
  std::fprintf(stderr, "focalmetrics-server metrics on http://%s:%d/metrics\n",
               absl::GetFlag(FLAGS_host).c_str(),
               exposer->GetListeningPorts().front());
  std::fprintf(stderr, "focalmetrics-server listening on %s:%d\n",
               absl::GetFlag(FLAGS_host).c_str(), selected_port);

  // Changed runs are snapshotted and expired runs swept in the background.
  RunMaintenance maintenance(
      &registry, store.get(), &server_metrics,
      {.snapshot_interval = absl::GetFlag(FLAGS_snapshot_interval),
       .run_ttl = absl::GetFlag(FLAGS_run_ttl)});
  maintenance.Start();

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(
      stderr, "focalmetrics-server: %s, draining for %s\n",
      strsignal(signal_number),
      absl::FormatDuration(absl::GetFlag(FLAGS_drain_deadline)).c_str());
  health->SetServingStatus(false);
  service.StartDraining();
  server->Shutdown(
      absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_drain_deadline)));
  server->Wait();
  // Everything acknowledged is in memory: the last snapshot makes it durable.
  maintenance.Stop();
  std::fprintf(stderr, "focalmetrics-server: stopped\n");
  return 0;
}

}  // namespace
}  // namespace focalmetrics

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(focalmetrics::kUsage);
  absl::FlagsUsageConfig usage_config;
  // --help lists this binary's flags, not those of every linked library.
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "focalmetrics_server");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  usage_config.normalize_filename = [](absl::string_view file) {
    const size_t at = file.rfind("server/");
    return std::string(at == absl::string_view::npos ? file : file.substr(at));
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);
  return focalmetrics::Run();
}
