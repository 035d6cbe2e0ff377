// focalmetrics-shard: prints the shard of each run id read from stdin (one
// per line) for --shards shards, or the address with --headless_service.
// For operators ("which pod holds run X?") and for the test that checks the
// C++ and Python routers agree.
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "client/cpp/shard_router.h"

ABSL_FLAG(int32_t, shards, 1, "Number of shards (StatefulSet replicas).");
ABSL_FLAG(std::string, statefulset, "focalmetrics", "StatefulSet name.");
ABSL_FLAG(std::string, headless_service, "",
          "Headless Service DNS name; when set, print addresses, not indices.");
ABSL_FLAG(int32_t, port, 50051, "gRPC port of the pods.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "prints the shard of each run id on stdin, e.g.\n"
      "  echo resnet-7 | focalmetrics-shard --shards=3 "
      "--headless_service=focalmetrics-headless.focalmetrics.svc.cluster."
      "local");
  absl::ParseCommandLine(argc, argv);
  const int32_t shards = absl::GetFlag(FLAGS_shards);
  if (shards < 1) {
    std::cerr << "--shards must be at least 1\n";
    return 2;
  }
  const focalmetrics::ShardRouter router =
      focalmetrics::ShardRouter::FromHeadlessService(
          absl::GetFlag(FLAGS_statefulset),
          absl::GetFlag(FLAGS_headless_service), shards,
          absl::GetFlag(FLAGS_port));
  std::string run;
  while (std::getline(std::cin, run)) {
    if (absl::GetFlag(FLAGS_headless_service).empty()) {
      std::cout << focalmetrics::ShardFor(run, shards) << "\n";
    } else {
      std::cout << router.TargetFor(run) << "\n";
    }
  }
  return 0;
}
