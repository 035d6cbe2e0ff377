#include "server/compute_loss_impl.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "core/losses/batch.h"
#include "core/losses/loss.h"
#include "core/status_macros.h"
#include "server/proto_conversion.h"

namespace focalmetrics {

absl::Status ComputeLossImpl::Compute(const v1::ComputeLossRequest& request,
                                      v1::ComputeLossResponse* response) const {
  if (!request.has_batch()) {
    return absl::InvalidArgumentError("batch: missing");
  }
  if (request.losses().empty()) {
    return absl::InvalidArgumentError(
        "losses: empty; ask for at least one loss (e.g. kind LOSS_KIND_FOCAL)");
  }
  // A named run supplies its accumulated class counts.
  std::vector<int64_t> run_counts;
  if (!request.run().empty()) {
    FM_ASSIGN_OR_RETURN(const std::shared_ptr<RunState> state,
                        registry_->Find(request.run(), request.split()));
    run_counts = state->SamplesPerClass();
  }
  std::vector<LossSpec> specs;
  absl::flat_hash_map<std::string, int> index_by_name;
  for (int i = 0; i < request.losses_size(); ++i) {
    const std::string field = absl::StrCat("losses[", i, "]");
    FM_ASSIGN_OR_RETURN(LossSpec spec,
                        LossSpecFromProto(request.losses(i), field));
    if (spec.kind == LossKind::kClassBalancedFocal &&
        spec.samples_per_class.empty()) {
      spec.samples_per_class = run_counts;
    }
    const std::string name =
        spec.name.empty() ? DefaultLossName(spec.kind) : spec.name;
    const auto [it, inserted] = index_by_name.emplace(name, i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".name: '", name, "' is already the name of losses[",
          it->second, "]; give each loss its own name"));
    }
    specs.push_back(std::move(spec));
  }
  FM_ASSIGN_OR_RETURN(const BatchView view, BatchFromProto(request.batch()));
  FM_ASSIGN_OR_RETURN(const PreparedBatch batch, PreparedBatch::Prepare(view));

  // Every loss is computed before anything is written, so an error leaves
  // the response empty.
  std::vector<LossOutput> outputs;
  outputs.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    FM_ASSIGN_OR_RETURN(LossOutput output,
                        ComputeLoss(batch, specs[i], request.return_gradients(),
                                    absl::StrCat("losses[", i, "]")));
    outputs.push_back(std::move(output));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    LossResultToProto(specs[i], outputs[i], batch.scores_shape(),
                      request.return_gradients(), response->add_results());
  }
  return absl::OkStatus();
}

}  // namespace focalmetrics
