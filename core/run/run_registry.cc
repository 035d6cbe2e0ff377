#include "core/run/run_registry.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace focalmetrics {
namespace {

absl::string_view SplitOrDefault(absl::string_view split) {
  return split.empty() ? absl::string_view(kDefaultSplit) : split;
}

}  // namespace

absl::Status ValidateRunId(absl::string_view id, absl::string_view field) {
  if (id.empty())
    return absl::InvalidArgumentError(absl::StrCat(field, ": empty"));
  if (id.size() > kMaxRunIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", id.size(), " bytes, more than ", kMaxRunIdBytes));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": byte ", i, " (0x", absl::Hex(c),
                       ") is not printable ASCII"));
    }
  }
  return absl::OkStatus();
}

RunRegistry::RunRegistry(RegistryLimits limits) : limits_(limits) {}

template <typename Predicate>
int RunRegistry::EraseIf(Shard& shard, Predicate should_erase) {
  absl::MutexLock lock(&shard.mu);
  int removed = 0;
  for (auto it = shard.runs.begin(); it != shard.runs.end();) {
    if (should_erase(it->first, *it->second)) {
      shard.runs.erase(it++);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

RunRegistry::Shard& RunRegistry::ShardOf(absl::string_view run) const {
  return shards_[absl::HashOf(run) % kShards];
}

absl::StatusOr<std::shared_ptr<RunState>> RunRegistry::GetOrCreate(
    absl::string_view run, absl::string_view split) {
  split = SplitOrDefault(split);
  FM_RETURN_IF_ERROR(ValidateRunId(run, "run"));
  FM_RETURN_IF_ERROR(ValidateRunId(split, "split"));
  Shard& shard = ShardOf(run);
  absl::MutexLock lock(&shard.mu);
  Key key(run, split);
  auto it = shard.runs.find(key);
  if (it != shard.runs.end()) return it->second;
  if (count_.fetch_add(1) >= limits_.max_runs) {
    count_.fetch_sub(1);
    return absl::ResourceExhaustedError(
        absl::StrCat("run: this server holds ", limits_.max_runs,
                     " (run, split) states, its --max_runs; delete finished "
                     "runs (DeleteRun) "
                     "or raise the limit"));
  }
  auto state = std::make_shared<RunState>(key.first, key.second, limits_.run);
  shard.runs.emplace(std::move(key), state);
  return state;
}

absl::StatusOr<std::shared_ptr<RunState>> RunRegistry::Find(
    absl::string_view run, absl::string_view split) const {
  split = SplitOrDefault(split);
  const Shard& shard = ShardOf(run);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.runs.find(Key(run, split));
  if (it == shard.runs.end()) {
    return absl::NotFoundError(absl::StrCat(
        "run: no run '", run, "' with split '", split, "' on this server"));
  }
  return it->second;
}

std::vector<std::shared_ptr<RunState>> RunRegistry::States() const {
  std::vector<std::shared_ptr<RunState>> states;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (const auto& [key, state] : shard.runs) states.push_back(state);
  }
  return states;
}

absl::Status RunRegistry::Insert(std::shared_ptr<RunState> state) {
  Key key = state->key();
  Shard& shard = ShardOf(key.first);
  absl::MutexLock lock(&shard.mu);
  if (shard.runs.contains(key)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "run '", key.first, "' split '", key.second, "' is already held"));
  }
  if (count_.fetch_add(1) >= limits_.max_runs) {
    count_.fetch_sub(1);
    return absl::ResourceExhaustedError(absl::StrCat(
        "run: more than --max_runs ", limits_.max_runs, " runs to restore"));
  }
  shard.runs.emplace(std::move(key), std::move(state));
  return absl::OkStatus();
}

std::vector<RunSummary> RunRegistry::List() const {
  std::vector<RunSummary> out;
  for (const auto& state : States()) out.push_back(state->Summary());
  std::sort(out.begin(), out.end(),
            [](const RunSummary& a, const RunSummary& b) {
              return std::tie(a.run, a.split) < std::tie(b.run, b.split);
            });
  return out;
}

int RunRegistry::Delete(absl::string_view run, absl::string_view split) {
  Shard& shard = ShardOf(run);
  const int removed = EraseIf(shard, [&](const Key& key, const RunState&) {
    return key.first == run && (split.empty() || key.second == split);
  });
  count_.fetch_sub(removed);
  return removed;
}

int RunRegistry::DeleteIdleSince(absl::Time cutoff) {
  int removed = 0;
  for (Shard& shard : shards_) {
    removed += EraseIf(shard, [cutoff](const Key&, const RunState& state) {
      return state.Summary().last_report < cutoff;
    });
  }
  count_.fetch_sub(removed);
  return removed;
}

}  // namespace focalmetrics
