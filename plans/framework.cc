#include "plans/framework.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::plans {
namespace {
namespace fs = std::filesystem;

std::optional<std::string> OptionalString(costmodel::JsonObject& o, const std::string& key) {
  if (o.Raw(key).is_null()) return std::nullopt;
  return o.String(key);
}

}  // namespace

Framework ParseFramework(std::string_view text, std::string_view origin) {
  const nlohmann::json j = costmodel::ParseJsonText(text, origin);
  costmodel::JsonObject o(j, std::string(origin), "");
  costmodel::CheckSchemaVersion(o, 1);
  Framework f;
  f.name = o.Name("name");
  f.description = o.String("description");
  costmodel::JsonObject w = o.Object("workload");
  f.flash_attention = w.Bool("flash_attention");
  f.flash_version = static_cast<int>(w.Int("flash_version", 1, 3));
  f.eager_elementwise = w.Bool("eager_elementwise");
  f.reduce_dtype =
      costmodel::ParseDtype(w.Enum("reduce_dtype", {"fp32", "bf16"}), w.PathOf("reduce_dtype"));
  f.recipe = costmodel::ParseRecipe(w.Enum("recipe", {"megatron", "fsdp2"}), w.PathOf("recipe"));
  if (w.Has("fsdp2_copies")) {
    f.fsdp2_copies = w.Bool("fsdp2_copies");
  } else if (f.recipe == costmodel::Recipe::kFsdp2) {
    w.Fail("fsdp2_copies", "an fsdp2-recipe framework must say whether it shards with FSDP2 (fully_shard: true, "
                           "with its copies around each all-gather and reduce-scatter) or FSDP1 (false)");
  }
  if (!w.Raw("selective_recompute").is_null()) {
    f.selective = w.Enum("selective_recompute", {"attention_core", "some_layers"}) == "attention_core"
                      ? Framework::Selective::kAttentionCore
                      : Framework::Selective::kSomeLayers;
  }
  if (w.Has("dp_grad_reduce")) {
    f.dp_reduce_after_backward = w.Enum("dp_grad_reduce", {"overlapped", "after_backward"}) == "after_backward";
  }
  if (w.Has("dp_param_gather")) {
    f.dp_gather_after_step = w.Enum("dp_param_gather", {"overlapped", "before_forward"}) == "before_forward";
  }
  if (w.Has("attention_kernel")) f.te_attention = w.Enum("attention_kernel", {"flash", "te-fused"}) == "te-fused";
  if (w.Has("fp8") && !w.Raw("fp8").is_null()) {
    f.fp8 = w.Enum("fp8", {"te-delayed", "torchao-tensorwise"});
  }
  w.Finish();
  costmodel::JsonObject d = o.Object("defaults");
  f.default_precision = OptionalString(d, "precision");
  f.default_recompute = OptionalString(d, "recompute");
  d.Finish();
  const nlohmann::json& traits = o.Array("traits");
  for (size_t i = 0; i < traits.size(); ++i) {
    costmodel::JsonObject t(traits[i], std::string(origin), "traits[" + std::to_string(i) + "]");
    Framework::Trait tr{t.String("trait"), t.String("value"), t.String("source"),
                        t.Bool("modelled")};
    if (tr.source.empty()) t.Fail("source", "every trait needs its source in the framework's code");
    t.Finish();
    f.traits.push_back(std::move(tr));
  }
  if (f.traits.empty()) o.Fail("traits", "must list the traits with their sources");
  o.Finish();
  return f;
}

std::vector<std::string> ListFrameworks() { return costmodel::ListZoo("frameworks"); }

Framework ResolveFramework(const std::string& name_or_path, std::string_view flag) {
  if (name_or_path.empty()) throw Error(std::string(flag), "must not be empty");
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json")) {
    return ParseFramework(costmodel::ReadFileText(name_or_path, flag), name_or_path);
  }
  const fs::path p = fs::path(costmodel::DataDir()) / "frameworks" / (name_or_path + ".json");
  std::error_code ec;  // a name past the file system's limits is no built-in either
  if (!fs::exists(p, ec)) {
    std::string names;
    for (const auto& n : ListFrameworks()) names += (names.empty() ? "" : ", ") + n;
    throw Error(std::string(flag), "no built-in framework named '" + name_or_path +
                                       "' (built-in: " + names +
                                       "; or give a path to a .json file)");
  }
  return ParseFramework(costmodel::ReadFileText(p.string(), flag), p.string());
}

void ApplyFramework(const Framework& f, costmodel::Workload& w) {
  w.flash_attention = f.flash_attention;
  w.flash_version = f.flash_version;
  w.eager_elementwise = f.eager_elementwise;
  w.reduce_dtype = f.reduce_dtype;
  w.fsdp2_copies = f.fsdp2_copies;
  w.dp_reduce_after_backward = f.dp_reduce_after_backward;
  w.dp_gather_after_step = f.dp_gather_after_step;
  w.te_attention = f.te_attention && f.flash_attention;
}

}  // namespace meshplan::plans
