// Checks every loss in core against tests/golden/losses.json, written by
// tests/golden/generate_losses.py from PyTorch and torchvision: value,
// per-element values and gradient, to 1e-5 relative.
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/losses/batch.h"
#include "core/losses/loss.h"
#include "core/tensor/tensor.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace focalmetrics {
namespace {

using nlohmann::json;

constexpr double kRelativeTolerance = 1e-5;
// Elements that are zero in one implementation and ~1e-40 in the other (an
// underflowed (1 - p_t)^gamma) are equal for every practical purpose.
constexpr double kAbsoluteTolerance = 1e-12;

bool Close(double actual, double expected) {
  return std::abs(actual - expected) <=
         kRelativeTolerance * std::abs(expected) + kAbsoluteTolerance;
}

DType ParseDType(const std::string& name) {
  static const std::map<std::string, DType> kDTypes = {
      {"FLOAT32", DType::kFloat32},   {"FLOAT16", DType::kFloat16},
      {"BFLOAT16", DType::kBFloat16}, {"FLOAT64", DType::kFloat64},
      {"INT64", DType::kInt64},       {"INT32", DType::kInt32},
      {"UINT8", DType::kUInt8},       {"BOOL", DType::kBool}};
  return kDTypes.at(name);
}

Task ParseTask(const std::string& name) {
  static const std::map<std::string, Task> kTasks = {
      {"BINARY", Task::kBinary},
      {"MULTICLASS", Task::kMulticlass},
      {"MULTILABEL", Task::kMultilabel},
      {"DETECTION", Task::kDetection}};
  return kTasks.at(name);
}

LossKind ParseKind(const std::string& name) {
  static const std::map<std::string, LossKind> kKinds = {
      {"CROSS_ENTROPY", LossKind::kCrossEntropy},
      {"FOCAL", LossKind::kFocal},
      {"CLASS_BALANCED_FOCAL", LossKind::kClassBalancedFocal},
      {"ASYMMETRIC", LossKind::kAsymmetric},
      {"OHEM", LossKind::kOhem},
      {"FOCAL_DICE", LossKind::kFocalDice},
      {"RETINANET", LossKind::kRetinaNet}};
  return kKinds.at(name);
}

Reduction ParseReduction(const std::string& name) {
  if (name == "SUM") return Reduction::kSum;
  if (name == "NONE") return Reduction::kNone;
  return Reduction::kMean;
}

// Owns the bytes a TensorView points into.
struct EncodedTensor {
  std::vector<int64_t> shape;
  DType dtype;
  std::string bytes;
  TensorView View() const { return {shape, dtype, bytes}; }
};

EncodedTensor Encode(const json& tensor) {
  EncodedTensor out{tensor["shape"].get<std::vector<int64_t>>(),
                    ParseDType(tensor["dtype"].get<std::string>()), ""};
  out.bytes = EncodeAs(tensor["values"].get<std::vector<double>>(), out.dtype);
  return out;
}

std::optional<double> OptionalParam(const json& spec, const char* key) {
  if (!spec.contains(key)) return std::nullopt;
  return spec[key].get<double>();
}

LossSpec ParseSpec(const json& spec) {
  LossSpec out;
  out.kind = ParseKind(spec["kind"].get<std::string>());
  out.name = spec.value("name", "");
  out.reduction = ParseReduction(spec["reduction"].get<std::string>());
  out.alpha = OptionalParam(spec, "alpha");
  out.gamma = OptionalParam(spec, "gamma");
  out.beta = OptionalParam(spec, "beta");
  out.gamma_pos = OptionalParam(spec, "gamma_pos");
  out.gamma_neg = OptionalParam(spec, "gamma_neg");
  out.clip = OptionalParam(spec, "clip");
  out.ohem_ratio = OptionalParam(spec, "ohem_ratio");
  out.smooth_l1_beta = OptionalParam(spec, "smooth_l1_beta");
  if (spec.contains("class_alpha")) {
    out.class_alpha = spec["class_alpha"].get<std::vector<double>>();
  }
  if (spec.contains("samples_per_class")) {
    out.samples_per_class =
        spec["samples_per_class"].get<std::vector<int64_t>>();
  }
  return out;
}

json LoadGolden() {
  std::ifstream in("tests/golden/losses.json");
  EXPECT_TRUE(in.good()) << "run from the repository root";
  return json::parse(in);
}

class GoldenLossTest : public testing::TestWithParam<size_t> {
 protected:
  static const json& Golden() {
    static const json* golden = new json(LoadGolden());
    return *golden;
  }
};

TEST_P(GoldenLossTest, MatchesReference) {
  const json& c = Golden()["cases"][GetParam()];
  SCOPED_TRACE(c["id"].get<std::string>());
  const EncodedTensor scores = Encode(c["scores"]);
  const EncodedTensor targets = Encode(c["targets"]);
  BatchView view{.task = ParseTask(c["task"].get<std::string>()),
                 .input_kind = c["input_kind"] == "PROBABILITIES"
                                   ? InputKind::kProbabilities
                                   : InputKind::kLogits,
                 .scores = scores.View(),
                 .targets = targets.View()};
  if (c.contains("ignore_index"))
    view.ignore_index = c["ignore_index"].get<int64_t>();
  std::optional<EncodedTensor> box_preds, box_targets;
  if (c.contains("box_preds")) {
    box_preds = Encode(c["box_preds"]);
    box_targets = Encode(c["box_targets"]);
    view.box_preds = box_preds->View();
    view.box_targets = box_targets->View();
  }
  absl::StatusOr<PreparedBatch> batch = PreparedBatch::Prepare(view);
  ASSERT_TRUE(batch.ok()) << batch.status();

  for (const json& expected : c["losses"]) {
    SCOPED_TRACE(expected["spec"].dump());
    absl::StatusOr<LossOutput> out = ComputeLoss(
        *batch, ParseSpec(expected["spec"]), /*want_gradient=*/true);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_PRED2(Close, out->value, expected["value"].get<double>());
    const auto gradient = expected["gradient"].get<std::vector<double>>();
    ASSERT_EQ(out->gradient.size(), gradient.size());
    for (size_t i = 0; i < gradient.size(); ++i) {
      EXPECT_PRED2(Close, out->gradient[i], gradient[i])
          << "gradient[" << i << "]";
    }
    if (expected.contains("values")) {
      const auto values = expected["values"].get<std::vector<double>>();
      EXPECT_EQ(out->values_shape,
                expected["values_shape"].get<std::vector<int64_t>>());
      ASSERT_EQ(out->values.size(), values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_PRED2(Close, out->values[i], values[i]) << "values[" << i << "]";
      }
    } else {
      EXPECT_TRUE(out->values.empty());
    }
  }
}

size_t NumCases() { return LoadGolden()["cases"].size(); }

INSTANTIATE_TEST_SUITE_P(
    AllCases, GoldenLossTest, testing::Range<size_t>(0, NumCases()),
    [](const testing::TestParamInfo<size_t>& info) {
      return LoadGolden()["cases"][info.param]["id"].get<std::string>();
    });

}  // namespace
}  // namespace focalmetrics
