#include "core/durability/run_store.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "core/durability/snapshot_file.h"

namespace focalmetrics {
namespace {

namespace fs = std::filesystem;
constexpr char kSuffix[] = ".snap";

// "checksum mismatch" -> "checksum_mismatch", for quarantined file names.
std::string ReasonTag(absl::string_view message) {
  std::string tag;
  for (char c : message.substr(0, 40)) {
    tag.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) ? c : '_');
  }
  return tag;
}

}  // namespace

std::string RunStore::FileName(const std::string& run,
                               const std::string& split) {
  return absl::StrCat("run-", absl::BytesToHexString(run), "-",
                      absl::BytesToHexString(split), kSuffix);
}

absl::StatusOr<std::unique_ptr<RunStore>> RunStore::Open(std::string dir) {
  std::error_code error;
  fs::create_directories(fs::path(dir) / "quarantine", error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--state_dir ", dir, ": cannot create it: ", error.message()));
  }
  return std::unique_ptr<RunStore>(new RunStore(std::move(dir)));
}

void RunStore::Quarantine(const std::string& name, absl::string_view reason,
                          RestoreReport& report) {
  const std::string target =
      absl::StrCat(dir_, "/quarantine/", name, ".",
                   absl::ToUnixSeconds(absl::Now()), ".", ReasonTag(reason));
  std::error_code error;
  fs::rename(fs::path(dir_) / name, target, error);
  report.quarantined.push_back(absl::StrCat(
      name, ": ", reason,
      error ? " (could not move it: " + error.message() + ")" : ""));
}

RestoreReport RunStore::RestoreAll(RunRegistry& registry) {
  RestoreReport report;
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir_, error)) {
    if (entry.is_regular_file())
      names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (absl::EndsWith(name, ".tmp")) {
      Quarantine(name, "torn write (temporary file left by a crash)", report);
      continue;
    }
    if (!absl::EndsWith(name, kSuffix)) continue;
    const absl::StatusOr<std::string> file =
        ReadWholeFile(absl::StrCat(dir_, "/", name));
    absl::StatusOr<std::string> body =
        file.ok() ? DecodeSnapshot(*file)
                  : absl::StatusOr<std::string>(file.status());
    if (!body.ok()) {
      Quarantine(name, body.status().message(), report);
      continue;
    }
    absl::StatusOr<std::unique_ptr<RunState>> state =
        RunState::Restore(*body, registry.limits().run);
    if (!state.ok()) {
      Quarantine(name, state.status().message(), report);
      continue;
    }
    const auto [run, split] = (*state)->key();
    if (FileName(run, split) != name) {
      Quarantine(name, "holds another run than its name says", report);
      continue;
    }
    const Written written{(*state)->incarnation(), (*state)->version()};
    const absl::Status inserted = registry.Insert(std::move(*state));
    if (!inserted.ok()) {
      Quarantine(name, inserted.message(), report);
      continue;
    }
    absl::MutexLock lock(&mu_);
    written_[name] = written;
    ++report.restored;
  }
  return report;
}

SnapshotResult RunStore::SnapshotChanged(const RunRegistry& registry) {
  absl::MutexLock lock(&mu_);
  SnapshotResult result;
  absl::flat_hash_set<std::string> live;
  for (const std::shared_ptr<RunState>& state : registry.States()) {
    const auto [run, split] = state->key();
    const std::string name = FileName(run, split);
    live.insert(name);
    const auto it = written_.find(name);
    if (it != written_.end() &&
        it->second == Written{state->incarnation(), state->version()}) {
      continue;
    }
    std::string body;
    const RunState::SnapshotCoverage coverage = state->AppendSnapshot(&body);
    const absl::Status status =
        WriteFileAtomically(dir_, name, EncodeSnapshot(body));
    if (!status.ok()) {
      ++result.failed;
      if (result.first_error.ok()) result.first_error = status;
      continue;
    }
    state->MarkDurable(coverage.seqs);
    written_[name] = Written{state->incarnation(), coverage.version};
    ++result.written;
  }
  // Runs deleted (DeleteRun, --run_ttl) since the last pass lose their file.
  for (auto it = written_.begin(); it != written_.end();) {
    if (live.contains(it->first)) {
      ++it;
      continue;
    }
    std::error_code error;
    fs::remove(fs::path(dir_) / it->first, error);
    ++result.removed;
    written_.erase(it++);
  }
  return result;
}

}  // namespace focalmetrics
