#include "costmodel/plan_file.h"

#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "costmodel/compute.h"
#include "costmodel/costable.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/params.h"
#include "costmodel/spec_io.h"

namespace meshplan::costmodel {
namespace {

constexpr int64_t kMaxGpus = int64_t{1} << 24;
constexpr int64_t kMaxBatch = int64_t{1} << 30;

/// The embedded model: ToJson(Model) plus the derived `params`, which must equal the count.
Model ReadEmbeddedModel(const nlohmann::json& j, const std::string& origin) {
  const std::string place = origin + ": inputs.model";
  if (!j.is_object()) throw Error(place, "must be an object, got " + Describe(j));
  nlohmann::json spec = j;
  if (spec.contains("schema_version")) throw Error(place + ": schema_version", "unknown key (the report's schema_version applies)");
  std::optional<nlohmann::json> params;
  if (auto it = spec.find("params"); it != spec.end()) {
    params = *it;
    spec.erase(it);
  }
  spec["schema_version"] = kSchemaVersion;  // the report's version, checked by the caller
  // replace: a plan path that is not UTF-8 (in a cited source) must not throw from dump().
  Model m = ParseModelJson(spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), place);
  if (!params) throw Error(place + ": params", "missing (required)");
  const int64_t counted = CountParams(m).total;
  if (!params->is_number_integer() || params->get<int64_t>() != counted) {
    throw Error(place + ": params", "must equal the parameter count of this model (" +
                                        std::to_string(counted) + "), got " + Describe(*params));
  }
  return m;
}

/// The embedded cluster: ToJson(Cluster); `sources` may be left out and then cites the plan.
Cluster ReadEmbeddedCluster(const nlohmann::json& j, const std::string& origin) {
  const std::string place = origin + ": inputs.cluster";
  if (!j.is_object()) throw Error(place, "must be an object, got " + Describe(j));
  if (j.contains("schema_version")) throw Error(place + ": schema_version", "unknown key (the report's schema_version applies)");
  nlohmann::json spec = j;
  if (!spec.contains("sources")) {
    spec["sources"] = nlohmann::json::array(
        {{{"field", "*"}, {"source", "embedded in plan file " + origin}}});
  }
  spec["schema_version"] = kSchemaVersion;
  return ParseClusterJson(spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), place);
}

}  // namespace

PlanSpec ReadPlanFile(std::string_view text, std::string_view origin_view, int64_t layout_index) {
  const std::string origin(origin_view);
  const nlohmann::json j = ParseJsonText(text, origin);
  JsonObject top(j, origin, "");
  CheckSchemaVersion(top, kSchemaVersion);
  const std::string tool = top.String("tool");
  if (tool.rfind("meshplan ", 0) != 0) top.Fail("tool", "must start with \"meshplan \", got " + Describe(j.at("tool")));
  PlanSpec p;
  p.command = top.Enum("command", {"plan", "simulate"});
  // Other top-level blocks (search, verdict, ...) are results, not inputs: not read.
  for (auto it = j.begin(); it != j.end(); ++it) top.Ignore(it.key());

  JsonObject in = top.Object("inputs");
  p.model = ReadEmbeddedModel(in.Raw("model"), origin);
  p.cluster = ReadEmbeddedCluster(in.Raw("cluster"), origin);
  Workload& w = p.workload;
  w.gpus = in.Int("gpus", 1, kMaxGpus);
  w.global_batch = in.Int("global_batch", 1, kMaxBatch);
  w.seq = in.Int("seq", 1, int64_t{1} << 24);
  RequireCostable(p.model, w.seq, origin + ": inputs.model", origin + ": inputs.seq");
  w.flash_attention = in.Bool("flash_attention");
  // Absent in reports written before these were modelled: FA2 and fused kernels then.
  if (in.Has("flash_version")) w.flash_version = static_cast<int>(in.Int("flash_version", 1, 3));
  if (in.Has("eager_elementwise")) w.eager_elementwise = in.Bool("eager_elementwise");
  if (in.Has("fsdp2_copies")) w.fsdp2_copies = in.Bool("fsdp2_copies");
  // The workload switches (specs.h kWorkloadSwitches); absent: off, as every report before they
  // were modelled was priced.
  ReadWorkloadSwitches(in, w);
  w.reduce_dtype = in.Enum("reduce_dtype", {"fp32", "bf16"}) == "fp32" ? Dtype::kFp32 : Dtype::kBf16;
  // Absent before FP8 was modelled: bf16.
  if (in.Has("precision")) {
    w.precision = in.Enum("precision", {"bf16", "fp8"}) == "fp8" ? Precision::kFp8 : Precision::kBf16;
  }
  if (in.Has("fp8_recipe")) {
    w.fp8_recipe = ParseFp8Recipe(in.Enum("fp8_recipe", {"te-delayed", "te-tensorwise", "torchao-tensorwise", "torchao-rowwise", "torchao-rowwise-gw-hp"}), in.PathOf("fp8_recipe"));
  }
  if (in.Has("fp8_param_gather")) w.fp8_param_gather = in.Bool("fp8_param_gather");
  if (w.fp8_param_gather && RowwiseFp8(w.fp8_recipe)) {
    in.Fail("fp8_param_gather", std::string("true with fp8_recipe ") + std::string(ToString(w.fp8_recipe)) +
                                    ": FSDP's float8 all-gather only supports tensorwise scaling (torchao)");
  }
  // Plans written before the MFU convention was recorded counted attention non-causally.
  if (in.Has("mfu_convention")) w.mfu_causal = in.Enum("mfu_convention", {"causal", "noncausal"}) == "causal";
  if (const auto& cal = in.Raw("calibration"); !cal.is_null() && !cal.is_string()) {
    in.Fail("calibration", "must be a profile name or null, got " + Describe(cal));
  }
  if (in.Has("moe_capacity_factor")) w.moe_capacity_factor = in.Number("moe_capacity_factor", 0, 64);
  if (in.Has("moe_pad_to_capacity")) w.moe_pad_to_capacity = in.Bool("moe_pad_to_capacity");
  if (in.Has("moe_imbalance")) w.moe_imbalance = in.Number("moe_imbalance", 1, 64);
  if (in.Has("calibration_why")) in.String("calibration_why");  // the sentence plan printed: informational
  in.Finish();
  if (w.precision == Precision::kFp8 && !Fp8Priceable(p.cluster)) {
    in.Fail("precision", "fp8 needs FP8 tensor cores and a measured efficiency.gemm_fp8_peak_fraction "
                         "in the cluster, which " + p.cluster.name + " does not give");
  }
  if (!AttentionRunsOn(w, p.cluster.gpu.name)) {
    in.Fail("flash_version", "FlashAttention-3 runs only on Hopper GPUs, the cluster has " +
                                 p.cluster.gpu.name);
  }
  const int64_t gpn = p.cluster.node.gpus_per_node;
  if (w.gpus > gpn && w.gpus % gpn != 0) {
    in.Fail("gpus", "must be a multiple of the cluster's " + std::to_string(gpn) +
                        " GPUs per node when it spans nodes, got " + std::to_string(w.gpus));
  }

  const nlohmann::json& layouts = top.Array("layouts");
  if (layouts.empty()) top.Fail("layouts", "is empty: the report has no layout to run");
  if (layout_index < 0 || layout_index >= static_cast<int64_t>(layouts.size())) {
    throw Error(origin + ": layouts",
                "has " + std::to_string(layouts.size()) + " entries; --layout-index " +
                    std::to_string(layout_index) + " is out of range");
  }
  p.layout_index = layout_index;
  const std::string path = "layouts[" + std::to_string(layout_index) + "]";
  JsonObject entry(layouts[static_cast<size_t>(layout_index)], origin, path);
  p.layout = LayoutFromJson(entry.Raw("layout"), origin + ": " + path);
  // Each degree is checked against the GPU count before the product, which could overflow.
  for (const auto& [key, degree] : {std::pair<const char*, int64_t>{"tp", p.layout.tp},
                                    {"fsdp", p.layout.fsdp}, {"replicate", p.layout.replicate}}) {
    if (degree > w.gpus) {
      throw Error(origin + ": " + path + ".layout." + key,
                  "must be <= inputs.gpus " + std::to_string(w.gpus) + ", got " + std::to_string(degree));
    }
  }
  p.layout_text = entry.String("layout_text");
  if (p.layout_text != LayoutToText(p.layout)) {
    entry.Fail("layout_text", "\"" + p.layout_text + "\" does not match layout (" +
                                  LayoutToText(p.layout) + ")");
  }
  if (!entry.Bool("feasible")) {
    entry.Fail("feasible", "is false: this layout cannot run (see its reasons[]); pick another");
  }
  if (p.layout.gpus() != w.gpus) {
    entry.Fail("layout", "tp*fsdp*replicate = " + std::to_string(p.layout.gpus()) +
                             " does not equal inputs.gpus " + std::to_string(w.gpus));
  }
  const int64_t per_mb = p.layout.mbs * p.layout.dp();
  if (w.global_batch % per_mb != 0) {
    entry.Fail("layout", "global batch " + std::to_string(w.global_batch) +
                             " is not a multiple of mbs x data-parallel degree " +
                             std::to_string(per_mb));
  }
  const nlohmann::json& lj = entry.Raw("layout");
  if (lj.contains("grad_accum") && lj["grad_accum"] != nlohmann::json(w.global_batch / per_mb)) {
    throw Error(origin + ": " + path + ".layout.grad_accum",
                "must be global_batch / (mbs x dp) = " + std::to_string(w.global_batch / per_mb) +
                    ", got " + Describe(lj["grad_accum"]));
  }
  // The entry's results (memory, time, collectives, ...) are predictions: recomputed on use.
  return p;
}

}  // namespace meshplan::costmodel
