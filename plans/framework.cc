#include "plans/framework.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::plans {
namespace {

std::optional<std::string> OptionalString(costmodel::JsonObject& o, const std::string& key) {
  if (o.Raw(key).is_null()) return std::nullopt;
  return o.String(key);
}

// A JSON array of distinct strings, each one of `allowed`; errors name the element.
std::vector<std::string> EnumList(costmodel::JsonObject& o, const std::string& key,
                                  std::initializer_list<std::string_view> allowed) {
  const nlohmann::json& a = o.Array(key);
  std::vector<std::string> out;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string at = "element " + std::to_string(i) + " ";
    if (!a[i].is_string()) o.Fail(key, at + "must be a string, got " + costmodel::Describe(a[i]));
    const std::string v = a[i].get<std::string>();
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string names;
      for (std::string_view n : allowed) names += std::string(names.empty() ? "" : ", ") + std::string(n);
      o.Fail(key, at + "'" + v + "' is not one of " + names);
    }
    if (std::find(out.begin(), out.end(), v) != out.end()) o.Fail(key, at + "'" + v + "' is listed twice");
    out.push_back(v);
  }
  return out;
}

FrameworkLayouts ParseLayouts(costmodel::JsonObject& l) {
  FrameworkLayouts r;
  r.listed = true;
  if (l.Has("tp")) {
    const std::string tp = l.Enum("tp", {"any", "with_sp", "without_sp", "none"});
    r.tp = tp != "none";
    r.tp_needs_sp = tp == "with_sp";
    r.tp_without_sp = tp == "without_sp";
  }
  if (l.Has("pp_schedules")) {
    r.schedules.clear();
    for (const std::string& s : EnumList(l, "pp_schedules", {"1f1b", "interleaved", "zb-h1"})) {
      r.schedules.push_back(costmodel::ParseSchedule(s, l.PathOf("pp_schedules")));
    }
  }
  if (l.Has("cp_comm")) {
    r.cp_comms.clear();
    for (const std::string& s : EnumList(l, "cp_comm", {"p2p", "all_gather", "a2a"})) {
      r.cp_comms.push_back(costmodel::ParseCpComm(s, l.PathOf("cp_comm")));
    }
  }
  if (l.Has("ep")) r.ep = l.Bool("ep");
  // A JSON array of distinct ZeRO stages.
  const auto stages = [&](const std::string& key) {
    std::vector<int> out;
    const nlohmann::json& a = l.Array(key);
    for (size_t i = 0; i < a.size(); ++i) {
      const bool stage = a[i].is_number_integer() && a[i].get<int64_t>() >= 1 && a[i].get<int64_t>() <= 3;
      if (!stage) l.Fail(key, "element " + std::to_string(i) + " must be a ZeRO stage 1, 2 or 3, got " + costmodel::Describe(a[i]));
      const int z = static_cast<int>(a[i].get<int64_t>());
      if (std::find(out.begin(), out.end(), z) != out.end()) {
        l.Fail(key, "element " + std::to_string(i) + " " + std::to_string(z) + " is listed twice");
      }
      out.push_back(z);
    }
    if (out.empty()) l.Fail(key, "must list at least one ZeRO stage (1, 2 or 3)");
    return out;
  };
  if (l.Has("zero")) r.zero = stages("zero");
  if (l.Has("hsdp")) {
    if (l.Raw("hsdp").is_boolean()) {
      if (!l.Bool("hsdp")) r.hsdp_zero.clear();
    } else if (l.Raw("hsdp").is_array()) {
      r.hsdp_zero = stages("hsdp");
    } else {
      l.Fail("hsdp", "must be true, false or a list of ZeRO stages, got " + costmodel::Describe(l.Raw("hsdp")));
    }
  }
  if (l.Has("ddp_with_tp_or_pp")) r.ddp_with_tp_or_pp = l.Bool("ddp_with_tp_or_pp");
  if (l.Has("tp_or_pp_unsharded")) r.tp_or_pp_unsharded = l.Bool("tp_or_pp_unsharded");
  if (l.Has("ddp_or_one_device")) r.ddp_or_one_device = l.Bool("ddp_or_one_device");
  if (l.Has("activation_offload")) r.activation_offload = l.Bool("activation_offload");
  if (l.Has("recompute_partial")) {
    const std::vector<std::string> modes = EnumList(
        l, "recompute_partial", {"recompute=op", "ac_freq", "recompute_num_layers", "recompute_modules", "partial_ckpt_mbs"});
    const auto runs = [&](std::string_view m) { return std::find(modes.begin(), modes.end(), m) != modes.end(); };
    r.recompute_op = runs("recompute=op");
    r.ac_freq = runs("ac_freq");
    r.recompute_num_layers = runs("recompute_num_layers");
    r.recompute_modules = runs("recompute_modules");
    r.partial_ckpt_mbs = runs("partial_ckpt_mbs");
  }
  return r;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

std::string Name(costmodel::Schedule s) { return std::string(costmodel::ToString(s)); }
std::string Name(costmodel::CpComm c) { return std::string(costmodel::ToString(c)); }
std::string Name(int zero) { return std::to_string(zero); }

template <typename T>
bool Lists(const std::vector<T>& v, T x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

template <typename T>
std::string Names(const std::vector<T>& v) {
  std::vector<std::string> names;
  for (const T& x : v) names.push_back(Name(x));
  return Join(names);
}

/// The first limit `l` breaks (the order FrameworkLayoutProblem names them in), or kNone.
enum class Broken {
  kNone, kRecipe, kTp, kSpOff, kSpOn, kPp, kSchedule, kCp, kCpComm, kEp, kZero, kHsdp, kDdp, kUnsharded, kAutocast, kSelective, kOffload,
  kRecomputeOp, kAcFreq, kRecomputeNumLayers, kRecomputeModules, kPartialCkptMbs
};

Broken FirstBroken(const FrameworkLayouts& f, const costmodel::Layout& l) {
  if (f.recipe && l.recipe != *f.recipe) return Broken::kRecipe;
  if (l.tp > 1 && !f.tp) return Broken::kTp;
  if (l.tp > 1 && !l.sp && f.tp_needs_sp) return Broken::kSpOff;
  if (l.tp > 1 && l.sp && f.tp_without_sp) return Broken::kSpOn;
  if (l.pp > 1 && !Lists(f.schedules, l.schedule)) return f.schedules.empty() ? Broken::kPp : Broken::kSchedule;
  if (l.cp > 1 && !Lists(f.cp_comms, l.cp_comm)) return f.cp_comms.empty() ? Broken::kCp : Broken::kCpComm;
  if (l.ep > 1 && !f.ep) return Broken::kEp;
  if (l.shard() > 1 && !Lists(f.zero, l.zero)) return Broken::kZero;
  if (l.shard() > 1 && l.replicate > 1 && !Lists(f.hsdp_zero, l.zero)) return Broken::kHsdp;
  if (l.shard() == 1 && l.replicate > 1 && (l.tp > 1 || l.pp > 1) && !f.ddp_with_tp_or_pp) return Broken::kDdp;
  if (l.shard() == 1 && l.replicate == 1 && (l.tp > 1 || l.pp > 1) && !f.tp_or_pp_unsharded) return Broken::kUnsharded;
  if (l.shard() == 1 && l.tp == 1 && l.pp == 1 && !f.ddp_or_one_device) return Broken::kAutocast;
  if (l.recompute == costmodel::Recompute::kSelective && !f.selective) return Broken::kSelective;
  if (l.cpu_offload_layers > 0 && !f.activation_offload) return Broken::kOffload;
  if (l.recompute == costmodel::Recompute::kOp && !f.recompute_op) return Broken::kRecomputeOp;
  if (l.ac_freq > 0 && !f.ac_freq) return Broken::kAcFreq;
  if (l.recompute_num_layers > 0 && !f.recompute_num_layers) return Broken::kRecomputeNumLayers;
  if (l.recompute == costmodel::Recompute::kSelective && l.recompute_modules != costmodel::kDefaultRecomputeModules &&
      !f.recompute_modules) {
    return Broken::kRecomputeModules;
  }
  if (l.partial_ckpt_mbs > 0 && !f.partial_ckpt_mbs) return Broken::kPartialCkptMbs;
  return Broken::kNone;
}

/// "tp=8", "pp=4" or "tp=8,pp=4": the degrees a kUnsharded layout is refused for.
std::string UnshardedDegrees(const costmodel::Layout& l) {
  std::string s = l.tp > 1 ? "tp=" + std::to_string(l.tp) : "";
  if (l.pp > 1) s += (s.empty() ? "" : ",") + std::string("pp=") + std::to_string(l.pp);
  return s;
}

/// "stage 1" / "stages 2, 3": a noun for a list of one or more.
template <typename T>
std::string Counted(const std::string& noun, const std::vector<T>& v) {
  return noun + (v.size() == 1 ? " " : "s ") + Names(v);
}

}  // namespace

bool FrameworkRuns(const FrameworkLayouts& f, const costmodel::Layout& l) { return FirstBroken(f, l) == Broken::kNone; }

std::string FrameworkLayoutProblem(const FrameworkLayouts& f, std::string_view framework, const costmodel::Layout& l) {
  const std::string who(framework);
  switch (FirstBroken(f, l)) {
    case Broken::kNone: return "";
    case Broken::kRecipe:
      return "recipe=" + std::string(costmodel::ToString(l.recipe)) + ": " + who + " runs the " +
             std::string(costmodel::ToString(*f.recipe)) + " recipe";
    case Broken::kTp: return "tp=" + std::to_string(l.tp) + ": " + who + " runs no tensor parallelism";
    case Broken::kSpOff: return "sp=off: " + who + " runs tensor parallelism only with sequence parallelism";
    case Broken::kSpOn: return "sp=on: " + who + " has no sequence parallelism";
    case Broken::kPp: return "pp=" + std::to_string(l.pp) + ": " + who + " runs no pipeline parallelism";
    case Broken::kSchedule:
      return "schedule=" + Name(l.schedule) + ": " + who + " runs only the pipeline " + Counted("schedule", f.schedules);
    case Broken::kCp: return "cp=" + std::to_string(l.cp) + ": " + who + " runs no context parallelism";
    case Broken::kCpComm:
      return "cp_comm=" + Name(l.cp_comm) + ": " + who + " exchanges context-parallel keys and values only by " +
             Names(f.cp_comms);
    case Broken::kEp: return "ep=" + std::to_string(l.ep) + ": " + who + " runs no expert parallelism";
    case Broken::kZero: return "zero=" + std::to_string(l.zero) + ": " + who + " shards only at ZeRO " + Counted("stage", f.zero);
    case Broken::kHsdp:
      if (f.hsdp_zero.empty()) {
        return "replicate=" + std::to_string(l.replicate) + ": " + who +
               " shards over the whole data-parallel group (no hybrid sharding)";
      }
      return "replicate=" + std::to_string(l.replicate) + ": " + who + " shards hybrid only at ZeRO " +
             Counted("stage", f.hsdp_zero) + "; at zero=" + std::to_string(l.zero) +
             " it shards over the whole data-parallel group";
    case Broken::kDdp:
      return "fsdp=1,replicate=" + std::to_string(l.replicate) + ": " + who +
             " replicates without sharding only when there is no tensor or pipeline parallelism";
    case Broken::kUnsharded:
      return "fsdp=1,replicate=1 with " + UnshardedDegrees(l) + ": " + who + " trains such a layout in fp32 (its mixed precision comes with FSDP, HSDP or CP), which is not priced";
    case Broken::kAutocast:
      return "fsdp=1,replicate=" + std::to_string(l.replicate) + ": " + who + " trains " +
             (l.replicate > 1 ? "DDP" : "one device") +
             " under torch.autocast (fp32 weights cast to bf16 in every forward and held for backward, fp32 where "
             "autocast does not cast), which is not priced";
    case Broken::kSelective:
      return "recompute=selective: " + who + " has no Megatron-style selective recompute (of the attention core)";
    case Broken::kOffload:
      return "cpu_offload_layers=" + std::to_string(l.cpu_offload_layers) + ": " + who +
             " has no activation offload (Megatron-Core's --cpu-offloading)";
    case Broken::kRecomputeOp: return "recompute=op: " + who + " has no per-op checkpointing policy";
    case Broken::kAcFreq:
      return "ac_freq=" + std::to_string(l.ac_freq) + ": " + who + " does not checkpoint every n-th layer";
    case Broken::kRecomputeNumLayers:
      return "recompute_num_layers=" + std::to_string(l.recompute_num_layers) + ": " + who +
             " does not recompute the first n layers of each stage";
    case Broken::kRecomputeModules:
      return "recompute_modules=" + costmodel::RecomputeModulesText(l.recompute_modules, "+") + ": " + who +
             " recomputes no chosen modules";
    case Broken::kPartialCkptMbs:
      return "partial_ckpt_mbs=" + std::to_string(l.partial_ckpt_mbs) + ": " + who +
             " checkpoints every micro-batch alike";
  }
  return "";
}

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
  costmodel::ReadWorkloadSwitches(w, f);
  if (w.Has("fp8") && !w.Raw("fp8").is_null()) {
    f.fp8 = w.Enum("fp8", {"te-delayed", "torchao-tensorwise"});
  }
  w.Finish();
  costmodel::JsonObject d = o.Object("defaults");
  f.default_precision = OptionalString(d, "precision");
  f.default_recompute = OptionalString(d, "recompute");
  d.Finish();
  if (o.Has("layouts")) {
    costmodel::JsonObject l = o.Object("layouts");
    f.layouts = ParseLayouts(l);
    l.Finish();
  }
  f.layouts.selective = f.selective == Framework::Selective::kAttentionCore;
  f.layouts.recipe = f.recipe;
  const nlohmann::json& traits = o.Array("traits");
  for (size_t i = 0; i < traits.size(); ++i) {
    costmodel::JsonObject t(traits[i], std::string(origin), "traits[" + std::to_string(i) + "]");
    Framework::Trait tr{t.String("trait"), t.String("value"), t.String("source"),
                        t.Bool("modelled")};
    if (tr.source.empty()) t.Fail("source", "every trait needs its source in the framework's code");
    t.Finish();
    if (!tr.modelled) f.layouts.unpriced.push_back(tr.trait + ": " + tr.value);
    f.traits.push_back(std::move(tr));
  }
  if (f.traits.empty()) o.Fail("traits", "must list the traits with their sources");
  // Every limit on the layouts cites the framework's code, as the workload traits do.
  if (o.Has("layouts")) {
    for (const auto& limit : o.Raw("layouts").items()) {
      const std::string name = "layouts." + limit.key();
      // A trait names its fields separated by ", " ("layouts.tp, layouts.cp_comm"): whole names.
      const bool cited = std::any_of(f.traits.begin(), f.traits.end(), [&](const Framework::Trait& t) {
        for (size_t at = 0; at <= t.trait.size();) {
          const size_t comma = std::min(t.trait.find(',', at), t.trait.size());
          size_t b = at, e = comma;
          while (b < e && t.trait[b] == ' ') ++b;
          while (e > b && t.trait[e - 1] == ' ') --e;
          if (t.trait.compare(b, e - b, name) == 0) return true;
          at = comma + 1;
        }
        return false;
      });
      if (!cited) o.Fail("traits", "no trait names '" + name + "': every layout limit needs its source in the framework's code");
    }
  }
  o.Finish();
  return f;
}

std::vector<std::string> ListFrameworks() { return costmodel::ListZoo("frameworks"); }

Framework ResolveFramework(const std::string& name_or_path, std::string_view flag) {
  const costmodel::ZooFile f = costmodel::ReadZooFile(name_or_path, flag, "frameworks");
  return ParseFramework(f.text, f.origin);
}

void ApplyFramework(const Framework& f, costmodel::Workload& w) {
  w.flash_attention = f.flash_attention;
  w.flash_version = f.flash_version;
  w.eager_elementwise = f.eager_elementwise;
  w.reduce_dtype = f.reduce_dtype;
  w.fsdp2_copies = f.fsdp2_copies;
  static_cast<costmodel::WorkloadSwitches&>(w) = f;
  w.te_attention = f.te_attention && f.flash_attention;
}

}  // namespace meshplan::plans
