#include "plans/reference.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <regex>

#include <nlohmann/json.hpp>

#include "costmodel/collectives.h"
#include "costmodel/compute.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/json_reader.h"
#include "costmodel/memory.h"
#include "costmodel/params.h"
#include "costmodel/pipeline.h"
#include "costmodel/zoo.h"

namespace meshplan::plans {
namespace {
using costmodel::Recompute;
using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
bool Has(const std::string& lower, std::string_view needle) {
  return lower.find(needle) != std::string::npos;
}

/// Thrown inside MapRecord when a rule cannot read the record; caught into skip_reason.
struct Skip {
  std::string reason;
};

const json* Field(const json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}
std::optional<std::string> OptString(const json& o, const char* key) {
  const json* f = Field(o, key);
  if (!f) return std::nullopt;
  if (!f->is_string()) throw Skip{std::string(key) + ": expected text"};
  return f->get<std::string>();
}
std::optional<double> OptNumber(const json& o, const char* key) {
  const json* f = Field(o, key);
  if (!f) return std::nullopt;
  if (!f->is_number()) throw Skip{std::string(key) + ": expected a number"};
  return f->get<double>();
}
std::optional<int64_t> OptInt(const json& o, const char* key) {
  const std::optional<double> v = OptNumber(o, key);
  if (!v) return std::nullopt;
  if (*v < 1 || *v > 1e9 || std::floor(*v) != *v) {
    throw Skip{std::string(key) + ": expected a positive integer"};
  }
  return static_cast<int64_t>(*v);
}
int64_t ReqInt(const json& o, const char* section, const char* key) {
  const std::optional<int64_t> v = OptInt(o, key);
  if (!v) throw Skip{std::string(section) + "." + key + " missing"};
  return *v;
}

// --- GPU names. One row per GPU part meshplan has a cluster for; matched on the lowercased
// name with spaces, dashes and underscores removed. Rows are tried in order.
struct GpuRule {
  std::string_view token;      // must appear in the squashed name
  std::string_view cluster;    // built-in cluster
  std::string_view memory;     // "" or the memory-size token that selects this row
};
// Order matters: GH200/GB200 contain "h200"/"b200"; they are rejected before this table.
constexpr std::array<GpuRule, 5> kGpuRules{{
    {"a100", "dgx-a100-40g", "40g"},
    {"a100", "dgx-a100-80g", "80g"},
    {"h100", "dgx-h100", ""},
    {"h200", "dgx-h200", ""},
    {"a100", "dgx-a100-80g", ""},  // size unstated (kernel-level records only, see ClusterForGpu)
}};
// Parts named but not modelled: no cluster file (or a different form factor).
constexpr std::array<std::string_view, 8> kUnmodelledGpus{
    "gh200", "gb200", "gb300", "b200", "b300", "mi250", "mi300", "v100"};

std::string Squash(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '-' || c == '_') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

std::string_view ToString(FlopConvention c) {
  switch (c) {
    case FlopConvention::kPalm: return "model FLOPs without recompute (Korthikanti/PaLM)";
    case FlopConvention::kLlmFoundry: return "6N + 12*L*h*s per token, N all parameters (llm-foundry/torchtitan)";
    case FlopConvention::kNarayanan: return "hardware FLOPs with the recompute forward (Narayanan SC21)";
  }
  return "?";
}

std::string ClusterForGpu(std::string_view gpu, bool needs_memory, std::string& reason) {
  const std::string sq = Squash(gpu);
  if (Has(sq, "pcie") && !Has(sq, "nvlink") && !Has(sq, "sxm")) {
    reason = "GPU '" + std::string(gpu) + "': PCIe parts are not modelled (clusters are SXM/NVLink systems)";
    return "";
  }
  if (Has(sq, "h100nvl")) {
    reason = "GPU '" + std::string(gpu) + "': H100 NVL is not modelled";
    return "";
  }
  for (std::string_view u : kUnmodelledGpus) {
    if (Has(sq, u)) {
      reason = "unknown GPU '" + std::string(gpu) + "'";
      return "";
    }
  }
  for (const GpuRule& r : kGpuRules) {
    if (!Has(sq, r.token)) continue;
    if (!r.memory.empty() && !Has(sq, r.memory)) continue;
    if (r.memory.empty() && r.token == "a100" && needs_memory) {
      reason = "GPU '" + std::string(gpu) + "': A100 memory size (40GB or 80GB) not stated";
      return "";
    }
    return std::string(r.cluster);
  }
  reason = "unknown GPU '" + std::string(gpu) + "'";
  return "";
}

namespace {
/// The first "<number> <unit>" in `lower` whose unit starts with one of `units`, e.g. "600 gb/s".
std::optional<std::pair<double, std::string>> NumberWithUnit(const std::string& lower,
                                                             const std::regex& re) {
  std::smatch m;
  if (!std::regex_search(lower, m, re)) return std::nullopt;
  return std::make_pair(std::strtod(m[1].str().c_str(), nullptr), m.suffix().str());
}
}  // namespace

// libstdc++'s std::regex recurses per input character: phrases are bounded before matching.
constexpr size_t kMaxPhrase = 200;

std::optional<double> IntraLinkGBps(std::string_view phrase) {
  if (phrase.size() > kMaxPhrase) return std::nullopt;
  const std::string lower = Lower(phrase);
  static const std::regex kGBps(R"(([0-9]+(?:\.[0-9]+)?)\s*gb/s)");
  const auto v = NumberWithUnit(lower, kGBps);
  if (!v) return std::nullopt;
  // "600 GB/s bidir" is 300 per direction; "uni"/"unidirectional" or unqualified is per direction.
  const bool bidir = Has(v->second.substr(0, 12), "bidir") || Has(v->second.substr(0, 12), "bi-dir");
  return bidir ? v->first / 2.0 : v->first;
}

std::optional<std::pair<int64_t, double>> InterLinkNics(std::string_view phrase) {
  if (phrase.size() > kMaxPhrase) return std::nullopt;
  const std::string lower = Lower(phrase);
  // "8x 400 Gb/s ...", "8x Mellanox HDR 200 Gb/s ...": NICs x per-NIC rate.
  static const std::regex kPerNic(R"(([0-9]+)\s*x\s*(?:[a-z -]*?)([0-9]+(?:\.[0-9]+)?)\s*gb(?:/s|ps|it))");
  std::smatch m;
  if (std::regex_search(lower, m, kPerNic)) {
    return std::make_pair(static_cast<int64_t>(std::strtol(m[1].str().c_str(), nullptr, 10)),
                          std::strtod(m[2].str().c_str(), nullptr));
  }
  // "1600 Gbps node-node": a node's aggregate; spread over 8 NICs (only the product matters).
  static const std::regex kAggregate(R"(([0-9]+(?:\.[0-9]+)?)\s*gb(?:ps|/s|it/s))");
  if (std::regex_search(lower, m, kAggregate) && !Has(lower, "gb/s per gpu")) {
    const double total = std::strtod(m[1].str().c_str(), nullptr);
    if (Has(lower, "node")) return std::make_pair(int64_t{8}, total / 8.0);
  }
  return std::nullopt;
}

std::optional<Recompute> RecomputeFor(std::string_view phrase, std::string& reason) {
  const std::string lower = Lower(phrase);
  const std::string quoted = "recompute '" + std::string(phrase) + "'";
  // Mixed or partial schemes first: they contain the plain words too.
  if (Has(lower, "microbatch") || Has(lower, "micro-batch")) {
    reason = quoted + ": micro-batch-level recompute not modelled";
    return std::nullopt;
  }
  if (Has(lower, "partial") || Has(lower, "every n") || Has(lower, "selective-layer") ||
      Has(lower, "selective layer")) {
    reason = quoted + ": checkpointing of only some layers not modelled";
    return std::nullopt;
  }
  if (Has(lower, "selective-op") || Has(lower, "op-level") || Has(lower, "selective op")) {
    reason = quoted + ": op-level selective checkpointing not modelled";
    return std::nullopt;
  }
  if (lower.rfind("none", 0) == 0 || lower == "no" || lower == "off" || lower == "false") {
    return Recompute::kNone;
  }
  if (lower.rfind("full", 0) == 0 || lower == "true" || Has(lower, "activation checkpointing")) {
    return Recompute::kFull;
  }
  if (lower.rfind("selective", 0) == 0) return Recompute::kSelective;
  reason = "unrecognised " + quoted;
  return std::nullopt;
}

std::optional<costmodel::Dtype> ReduceDtypeFor(std::string_view phrase, std::string& reason) {
  const std::string lower = Lower(phrase);
  if (Has(lower, "fp8") || Has(lower, "float8")) {
    reason = "precision '" + std::string(phrase) + "': fp8 not modelled";
    return std::nullopt;
  }
  if (!(Has(lower, "bf16") || Has(lower, "fp16") || Has(lower, "16-bit") || Has(lower, "mixed") ||
        Has(lower, "amp"))) {
    reason = "precision '" + std::string(phrase) + "': only 16-bit mixed precision is modelled";
    return std::nullopt;
  }
  // FSDP MixedPrecision PURE reduces in bf16; DEFAULT/amp and Megatron reduce in fp32.
  if (Has(lower, "pure")) return costmodel::Dtype::kBf16;
  return costmodel::Dtype::kFp32;
}

FlopConvention ConventionFor(std::string_view source_ref) {
  const std::string lower = Lower(source_ref);
  // published.json conventions: MFU is Korthikanti/PaLM "unless noted"; these sources note it.
  if (Has(lower, "llm-foundry") || Has(lower, "torchtitan")) return FlopConvention::kLlmFoundry;
  if (Has(lower, "narayanan") || Has(lower, "bloom")) return FlopConvention::kNarayanan;
  return FlopConvention::kPalm;
}

std::string SourceName(std::string_view ref) {
  const size_t sp = ref.find(' ');
  const std::string_view first = ref.substr(0, sp);
  if (first.find('/') != std::string_view::npos) return std::string(first);
  size_t end = ref.find_first_of(",(");
  std::string out(ref.substr(0, end));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::optional<double> MessageBytes(std::string_view phrase) {
  static const std::regex kSize(R"(^\s*([0-9]+(?:\.[0-9]+)?)\s*(b|kib|mib|gib|kb|mb|gb)?\s*$)");
  if (phrase.size() > kMaxPhrase) return std::nullopt;
  const std::string lower = Lower(phrase);
  std::smatch m;
  if (!std::regex_match(lower, m, kSize)) return std::nullopt;
  double v = std::strtod(m[1].str().c_str(), nullptr);
  const std::string unit = m[2].str();
  if (unit == "kib" || unit == "kb") v *= 1024.0;
  if (unit == "mib" || unit == "mb") v *= 1024.0 * 1024.0;
  if (unit == "gib" || unit == "gb") v *= 1024.0 * 1024.0 * 1024.0;
  return v;
}

namespace {

// --- Measured values: published key -> quantity name and scale to SI. Keys ending in
// "_derived" are the curator's arithmetic on another value, not a measurement: never scored.
struct MeasuredRule {
  std::string_view key, quantity;
  double scale;
};
constexpr std::array<MeasuredRule, 10> kMeasuredRules{{
    {"step_time_s", "step_time_s", 1.0},
    {"tokens_per_s_per_gpu", "tokens_per_s_per_gpu", 1.0},
    {"tflops_per_gpu", "tflops_per_gpu", 1.0},
    {"mfu", "mfu", 1.0},
    {"peak_mem_gib", "peak_memory_gib", 1.0},
    {"peak_memory_gib", "peak_memory_gib", 1.0},
    {"fwd_ms_per_layer", "layer_forward_s", 1e-3},
    {"bwd_ms_per_layer", "layer_backward_s", 1e-3},
    {"time_us", "collective_time_s", 1e-6},
    {"tflops", "gemm_tflops", 1.0},
}};

std::vector<Measured> ReadMeasured(const json& m, const std::string& kind) {
  std::vector<Measured> out;
  for (const MeasuredRule& r : kMeasuredRules) {
    const std::optional<double> v = OptNumber(m, std::string(r.key).c_str());
    if (!v || !(*v > 0)) continue;
    // A GEMM record's "tflops" is the GEMM's; other kinds' quantities stay with their kinds.
    if ((r.quantity == "gemm_tflops") != (kind == "gemm")) continue;
    if ((r.quantity == "collective_time_s") != (kind == "collective")) continue;
    out.push_back({std::string(r.quantity), *v * r.scale});
  }
  return out;
}

bool HasQuantity(const std::vector<Measured>& ms, std::string_view q) {
  return std::any_of(ms.begin(), ms.end(), [&](const Measured& m) { return m.quantity == q; });
}

costmodel::Cluster MapCluster(const json& rec, ReferenceRecord& out, bool needs_memory) {
  const json* c = Field(rec, "cluster");
  if (!c || !c->is_object()) throw Skip{"cluster missing"};
  const std::optional<std::string> gpu = OptString(*c, "gpu");
  if (!gpu) throw Skip{"cluster.gpu missing"};
  std::string reason;
  out.cluster_name = ClusterForGpu(*gpu, needs_memory, reason);
  if (out.cluster_name.empty()) throw Skip{reason};
  costmodel::Cluster cluster = costmodel::ResolveCluster(out.cluster_name, "reference");
  if (const auto gpn = OptInt(*c, "gpus_per_node")) {
    if (*gpn != cluster.node.gpus_per_node) {
      throw Skip{"cluster.gpus_per_node " + std::to_string(*gpn) + " differs from " +
                 out.cluster_name + "'s " + std::to_string(cluster.node.gpus_per_node)};
    }
  }
  // Link phrases override the cluster file's figures; an unstated link keeps the reference
  // system's (DGX) figure, and the report says so.
  if (const auto intra = OptString(*c, "intra_link")) {
    if (const auto gbps = IntraLinkGBps(*intra)) cluster.node.intra.GBps_per_gpu = *gbps;
  } else if (needs_memory) {
    out.notes.push_back("intra_link unstated: " + cluster.node.intra.name);
  }
  if (const auto inter = OptString(*c, "inter_link")) {
    if (const auto nics = InterLinkNics(*inter)) {
      cluster.fabric.nics_per_node = nics->first;
      cluster.fabric.nic_Gbps = nics->second;
    } else {
      throw Skip{"cluster.inter_link '" + *inter + "': no bandwidth in it"};
    }
  } else if (needs_memory) {
    out.notes.push_back("inter_link unstated: " + cluster.fabric.name);
  }
  return cluster;
}

// --- Architecture: family defaults, then the phrase's explicit words override them.
struct Family {
  std::string_view token;  // lowercase, matched at the start of the arch phrase (or model name)
  costmodel::Activation activation;
  costmodel::Norm norm;
  costmodel::Position position;
  bool biases, dropout, tied;
};
// GPT: Megatron GPT-3 style (Korthikanti Table 3 setup). Llama: Touvron et al. 2023. MPT:
// llm-foundry MPTConfig defaults (no_bias false, learned_pos_emb true, pdrop 0, tied wte).
constexpr std::array<Family, 3> kFamilies{{
    {"gpt", costmodel::Activation::kGelu, costmodel::Norm::kLayerNorm, costmodel::Position::kLearned, true, true, true},
    {"llama", costmodel::Activation::kSwiglu, costmodel::Norm::kRmsNorm, costmodel::Position::kRope, false, false, false},
    {"mpt", costmodel::Activation::kGelu, costmodel::Norm::kLayerNorm, costmodel::Position::kLearned, true, false, true},
}};

// The FlashAttention generation a free-text phrase names (already lower-case), 0 when it names
// none: "FlashAttention-2", "flash-attn 2.5", "FA3", PyTorch SDPA (whose flash backend has been
// FlashAttention-2 since PyTorch 2.2), the Triton port (FlashAttention-1's algorithm).
int FlashVersionStated(const std::string& lower) {
  auto any = [&](std::initializer_list<std::string_view> tokens) {
    for (std::string_view t : tokens) {
      if (Has(lower, t)) return true;
    }
    return false;
  };
  if (any({"flashattention-3", "flashattention 3", "flashattention3", "flash attention 3",
           "flash-attention 3", "flash-attn 3", "flash_attn 3", "fa3"})) {
    return 3;
  }
  if (any({"flashattention-2", "flashattention 2", "flashattention2", "flash attention 2",
           "flash-attention 2", "flash-attn 2", "flash_attn 2", "fa2", "sdpa",
           "scaled_dot_product_attention"})) {
    return 2;
  }
  if (any({"flashattention-1", "flashattention 1", "flashattention v1", "flash attention 1",
           "triton"})) {
    return 1;
  }
  return 0;
}

costmodel::Model MapModel(const json& rec, bool& flash_stated, int& flash_version) {
  const json* mj = Field(rec, "model");
  if (!mj || !mj->is_object()) throw Skip{"model missing"};
  costmodel::Model m;
  m.name = OptString(*mj, "name").value_or("");
  m.layers = ReqInt(*mj, "model", "layers");
  m.hidden = ReqInt(*mj, "model", "hidden");
  m.heads = ReqInt(*mj, "model", "heads");
  m.kv_heads = OptInt(*mj, "kv_heads").value_or(m.heads);
  m.ffn = ReqInt(*mj, "model", "ffn");
  m.vocab = ReqInt(*mj, "model", "vocab");
  m.max_seq = ReqInt(*mj, "model", "seq");
  if (m.hidden % m.heads != 0) throw Skip{"model.hidden not a multiple of model.heads"};
  if (m.heads % m.kv_heads != 0) throw Skip{"model.heads not a multiple of model.kv_heads"};
  m.head_dim = m.hidden / m.heads;
  const std::string arch = Lower(OptString(*mj, "arch").value_or(m.name));
  const Family* fam = nullptr;
  for (const Family& f : kFamilies) {
    if (arch.rfind(f.token, 0) == 0 || Lower(m.name).rfind(f.token, 0) == 0) {
      fam = &f;
      break;
    }
  }
  const bool says_act = Has(arch, "gelu") || Has(arch, "swiglu") || Has(arch, "relu");
  const bool says_norm = Has(arch, "layernorm") || Has(arch, "rmsnorm");
  const bool says_pos = Has(arch, "rope") || Has(arch, "alibi") || Has(arch, "learned pos");
  if (!fam && !(says_act && says_norm && says_pos)) {
    throw Skip{"model.arch '" + OptString(*mj, "arch").value_or("") +
               "': unknown family and activation, norm or position not stated"};
  }
  if (fam) {
    m.family = std::string(fam->token);
    m.activation = fam->activation;
    m.norm = fam->norm;
    m.position = fam->position;
    m.biases = {fam->biases, fam->biases, fam->biases};
    m.dropout = fam->dropout;
    m.tied_embeddings = fam->tied;
  }
  if (Has(arch, "swiglu")) m.activation = costmodel::Activation::kSwiglu;
  else if (Has(arch, "gelu")) m.activation = costmodel::Activation::kGelu;
  else if (Has(arch, "relu")) m.activation = costmodel::Activation::kRelu;
  if (Has(arch, "rmsnorm")) m.norm = costmodel::Norm::kRmsNorm;
  else if (Has(arch, "layernorm")) m.norm = costmodel::Norm::kLayerNorm;
  if (Has(arch, "rope")) m.position = costmodel::Position::kRope;
  else if (Has(arch, "alibi")) m.position = costmodel::Position::kAlibi;
  else if (Has(arch, "learned pos")) m.position = costmodel::Position::kLearned;
  if (Has(arch, "no bias")) m.biases = {};
  else if (Has(arch, "biases on")) m.biases = {true, true, true};
  if (Has(arch, "untied")) m.tied_embeddings = false;
  else if (Has(arch, "tied emb")) m.tied_embeddings = true;
  m.norm_bias = m.norm == costmodel::Norm::kLayerNorm && m.biases.mlp;
  flash_version = FlashVersionStated(arch);
  flash_stated = flash_version > 0 || Has(arch, "flashattention") || Has(arch, "flash attention") ||
                 Has(arch, "flash-attn") || Has(arch, "flash_attn");
  // The shape must reproduce the published size (a typo in a shape is not silently scored).
  if (const auto pb = OptNumber(*mj, "params_b")) {
    const double counted = static_cast<double>(costmodel::CountParams(m).total) / 1e9;
    if (std::fabs(counted - *pb) > 0.1 * *pb) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "model shape counts %.2fB parameters, record says %.2fB", counted, *pb);
      throw Skip{buf};
    }
  }
  return m;
}

// Frameworks whose attention implementation is known when the arch phrase does not say:
// Megatron-LM of Narayanan 2021 / Korthikanti 2022 predates fused flash attention (its
// activation accounting keeps the s^2 scores); llm-foundry and torchtitan use flash/SDPA.
bool FlashDefaultFor(std::string_view source_ref) {
  const std::string lower = Lower(source_ref);
  return !(Has(lower, "korthikanti") || Has(lower, "narayanan"));
}

// The FlashAttention generation when the arch phrase does not name one. llm-foundry's
// benchmark tables were produced by scripts/train/benchmarking/submit_benchmarks.py, whose
// --attn_impl defaults to 'triton' (the Triton port of FlashAttention-1, the FA2 paper's
// "FlashAttention Triton" baseline); every other framework: FlashAttention-2, the version in
// flash-attn and PyTorch SDPA since mid-2023.
int FlashVersionDefaultFor(std::string_view source_ref) {
  const std::string lower = Lower(source_ref);
  return Has(lower, "llm-foundry") ? 1 : 2;
}

// Whether RMSNorm, SwiGLU and RoPE ran as eager PyTorch op chains (kernels.h EagerOp). A record
// whose arch or notes say "torch.compile", "compiled", "fused kernels" or "fused rmsnorm": no;
// one that says "eager": yes (a fused optimizer says nothing about the layer's kernels). Otherwise the source's default: torchtitan's A100 presets
// (train_configs/llama2_13b.toml and siblings) set compile = false and norm_type = "rmsnorm",
// the unfused PyTorch RMSNorm; llm-foundry ran MPT uncompiled (its LayerNorm and GeLU are one
// native kernel each, so nothing changes); Megatron-LM and everyone else: fused kernels.
bool EagerElementwiseFor(std::string_view source_ref, const std::string& text) {
  for (std::string_view fused : {"torch.compile", "compiled", "fused kernels", "fused rmsnorm",
                                 "fused_rmsnorm"}) {
    if (Has(text, fused)) return false;
  }
  if (Has(text, "eager")) return true;
  const std::string lower = Lower(source_ref);
  return Has(lower, "torchtitan") || Has(lower, "llm-foundry");
}

/// Pipeline degree, virtual stages and schedule of a record: vpp > 1 or a schedule phrase naming
/// interleaving is Megatron's interleaved 1F1B; "zero bubble" / "zb" is ZB-H1; anything else
/// with pp > 1 ("1F1B", "none", not stated) is 1F1B, the default of Megatron-LM, NeMo and
/// DeepSpeed (Megatron-LM schedules.py get_forward_backward_func). Layers that pp does not
/// divide need the record's own split (pp_first_layers / pp_last_layers).
void MapPipeline(const json& lj, int64_t pp, int64_t layers, costmodel::Layout& l) {
  l.pp = pp;
  if (pp <= 1) return;
  const int64_t vpp = OptInt(lj, "vpp").value_or(1);
  const std::string phrase = Lower(OptString(lj, "pipeline_schedule").value_or(""));
  // The phrase's head names the schedule; what follows may discuss others ("1F1B (inferred:
  // Sec 6 states interleaving only for 175B and 530B)").
  if (vpp > 1 || phrase.rfind("interleav", 0) == 0) {
    if (vpp < 2) throw Skip{"interleaved pipeline schedule without vpp"};
    l.vpp = vpp;
    l.schedule = costmodel::Schedule::kInterleaved;
  } else if (phrase.rfind("zero bubble", 0) == 0 || phrase.rfind("zero-bubble", 0) == 0 ||
             phrase.rfind("zb-h", 0) == 0) {
    l.schedule = costmodel::Schedule::kZeroBubble;
  }
  l.pp_first_layers = OptInt(lj, "pp_first_layers").value_or(0);
  l.pp_last_layers = OptInt(lj, "pp_last_layers").value_or(0);
  costmodel::StageSplit split;
  std::string why;
  if (!costmodel::SplitLayers(l, layers, split, &why)) throw Skip{"pipeline split: " + why};
}

void MapTraining(const json& rec, ReferenceRecord& out) {
  out.cluster = MapCluster(rec, out, /*needs_memory=*/true);
  const json* lj = Field(rec, "layout");
  if (!lj || !lj->is_object()) throw Skip{"layout missing"};
  const int64_t pp = OptInt(*lj, "pp").value_or(1);
  if (OptInt(*lj, "cp").value_or(1) > 1) throw Skip{"context parallelism not modelled"};
  if (const json* off = Field(*lj, "cpu_offload"); off && off->is_boolean() && off->get<bool>()) {
    throw Skip{"CPU offload not modelled"};
  }
  const std::optional<std::string> precision = OptString(*lj, "precision");
  if (!precision) throw Skip{"layout.precision missing"};
  std::string reason;
  const auto reduce = ReduceDtypeFor(*precision, reason);
  if (!reduce) throw Skip{reason};
  const std::optional<std::string> rc = OptString(*lj, "recompute");
  if (!rc) throw Skip{"layout.recompute missing"};
  const auto recompute = RecomputeFor(*rc, reason);
  if (!recompute) throw Skip{reason};

  bool flash_stated = false;
  int flash_version = 0;
  out.model = MapModel(rec, flash_stated, flash_version);
  const json* src = Field(rec, "source");
  const std::string ref = src ? OptString(*src, "ref").value_or("") : "";
  out.convention = ConventionFor(ref);

  const int64_t gpus = ReqInt(rec.at("cluster"), "cluster", "gpus");
  costmodel::Layout& l = out.layout;
  l.tp = OptInt(*lj, "tp").value_or(1);
  if (const json* sp = Field(*lj, "sp")) {
    if (!sp->is_boolean()) throw Skip{"layout.sp: expected true or false"};
    l.sp = sp->get<bool>();
  }
  l.recompute = *recompute;
  MapPipeline(*lj, pp, out.model.layers, l);
  const int64_t dp = OptInt(*lj, "dp").value_or(gpus / std::max<int64_t>(1, l.tp * pp));
  if (l.tp * pp * dp != gpus) {
    throw Skip{"tp " + std::to_string(l.tp) + " x pp " + std::to_string(pp) + " x dp " +
               std::to_string(dp) + " != " + std::to_string(gpus) + " GPUs"};
  }
  if (const auto f = OptInt(*lj, "fsdp")) {
    // FSDP: shard over f ranks, replicate over the rest (HSDP when dp > f).
    const std::string sharding = OptString(*lj, "fsdp_sharding").value_or("FULL_SHARD");
    if (sharding == "FULL_SHARD") l.zero = 3;
    else if (sharding == "SHARD_GRAD_OP") l.zero = 2;
    else throw Skip{"fsdp_sharding '" + sharding + "' not modelled"};
    if (dp % *f != 0) throw Skip{"dp not a multiple of fsdp"};
    l.fsdp = *f;
    l.replicate = dp / *f;
    l.recipe = costmodel::Recipe::kFsdp2;
  } else {
    // No FSDP: Megatron-style data parallelism (replicated states, gradient all-reduce).
    l.fsdp = 1;
    l.replicate = dp;
    l.zero = 1;
    l.recipe = costmodel::Recipe::kMegatron;
  }
  const std::optional<int64_t> gb = OptInt(*lj, "global_batch");
  if (!gb) throw Skip{"layout.global_batch missing"};
  const std::optional<int64_t> ga = OptInt(*lj, "grad_accum");
  if (const auto mbs = OptInt(*lj, "micro_batch")) {
    l.mbs = *mbs;
  } else if (ga && *gb % (dp * *ga) == 0) {
    l.mbs = *gb / (dp * *ga);  // rule: micro batch = global / (dp x grad_accum) when both given
    out.notes.push_back("micro_batch derived from global_batch / (dp x grad_accum)");
  } else {
    throw Skip{"layout.micro_batch missing (and no grad_accum to derive it)"};
  }
  if (*gb % (l.mbs * dp) != 0) throw Skip{"global_batch not a multiple of micro_batch x dp"};
  if (ga && *ga != *gb / (l.mbs * dp)) throw Skip{"grad_accum inconsistent with the batch sizes"};

  costmodel::Workload& w = out.workload;
  w.gpus = gpus;
  w.global_batch = *gb;
  w.seq = out.model.max_seq;
  w.flash_attention = flash_stated || FlashDefaultFor(ref);
  w.flash_version = flash_version > 0 ? flash_version : FlashVersionDefaultFor(ref);
  {
    const json* mj = Field(rec, "model");
    const std::string text = Lower((mj ? OptString(*mj, "arch").value_or("") : std::string()) + " " +
                                   OptString(rec, "notes").value_or(""));
    w.eager_elementwise = EagerElementwiseFor(ref, text);
  }
  if (!costmodel::AttentionRunsOn(w, out.cluster.gpu.name)) {
    throw Skip{"FlashAttention-3 on '" + out.cluster.gpu.name + "': it runs only on Hopper GPUs"};
  }
  w.reduce_dtype = *reduce;
  w.allow_cross_node_tp = false;
  if (l.sp && l.tp == 1) l.sp = false;
  // Derived step time: when a record gives throughput but no step time, the step follows from
  // it exactly: global_batch x seq / (tokens/s/GPU x GPUs).
  if (!HasQuantity(out.measured, "step_time_s")) {
    for (const Measured& m : out.measured) {
      if (m.quantity == "tokens_per_s_per_gpu") {
        out.measured.insert(out.measured.begin(),
                            {"step_time_s", static_cast<double>(*gb * w.seq) / (m.value * static_cast<double>(gpus))});
        out.notes.push_back("step_time_s from tokens_per_s_per_gpu");
        break;
      }
    }
  }
}

void MapCollective(const json& rec, ReferenceRecord& out) {
  out.cluster = MapCluster(rec, out, /*needs_memory=*/false);
  const json* lj = Field(rec, "layout");
  if (!lj || !lj->is_object()) throw Skip{"layout missing"};
  const std::optional<std::string> op = OptString(*lj, "collective");
  if (!op) throw Skip{"layout.collective missing"};
  const std::string lop = Lower(*op);
  costmodel::CollectiveSample& s = out.collective;
  if (lop.rfind("all_reduce", 0) == 0 || lop.rfind("allreduce", 0) == 0) s.op = costmodel::Coll::kAllReduce;
  else if (lop.rfind("all_gather", 0) == 0 || lop.rfind("allgather", 0) == 0) s.op = costmodel::Coll::kAllGather;
  else if (lop.rfind("reduce_scatter", 0) == 0 || lop.rfind("reducescatter", 0) == 0) s.op = costmodel::Coll::kReduceScatter;
  else throw Skip{"collective '" + *op + "' not modelled"};
  // Forced algorithm: "(NVLS on)" / "(NVLS off)" in the op, or an algo field naming one alone.
  const std::string algo = Lower(OptString(*lj, "algo").value_or(""));
  if (Has(lop, "nvls on") || algo == "nvls") s.algo = static_cast<int>(costmodel::Algo::kNvls);
  else if (Has(lop, "nvls off") || algo == "ring") s.algo = static_cast<int>(costmodel::Algo::kRing);
  else if (algo == "tree") s.algo = static_cast<int>(costmodel::Algo::kTree);
  const int64_t ranks = OptInt(*lj, "ranks").value_or(ReqInt(rec.at("cluster"), "cluster", "gpus"));
  const int64_t gpn = out.cluster.node.gpus_per_node;
  s.group = {ranks, (ranks + gpn - 1) / gpn};
  if (s.group.nodes > 1 && ranks % s.group.nodes != 0) throw Skip{"ranks not spread evenly over nodes"};
  const json& mj = rec.at("measured");
  std::optional<double> bytes = OptNumber(mj, "message_bytes");
  if (!bytes) {
    if (const auto msg = OptString(mj, "message")) {
      bytes = MessageBytes(*msg);
      if (!bytes) throw Skip{"measured.message '" + *msg + "': not a size"};
    }
  }
  if (!bytes) throw Skip{"message size not stated"};
  s.bytes = *bytes;
  // Time: published, else from algbw (S / t), else from busbw (nccl-tests' factor).
  if (!HasQuantity(out.measured, "collective_time_s")) {
    double t = 0;
    if (const auto alg = OptNumber(mj, "algbw_GBps"); alg && *alg > 0) t = s.bytes / (*alg * 1e9);
    else if (const auto bus = OptNumber(mj, "busbw_GBps"); bus && *bus > 0) {
      t = s.bytes * costmodel::BusBwFactor(s.op, ranks) / (*bus * 1e9);
    }
    if (t <= 0) throw Skip{"no time, algbw_GBps or busbw_GBps measured"};
    out.measured.push_back({"collective_time_s", t});
    out.notes.push_back("collective_time_s from the measured bandwidth");
  }
  // The harness: a torch.distributed timing loop pays host cost per call that nccl-tests does not.
  const json* src = Field(rec, "source");
  if (src && src->is_object()) {
    const std::string table = Lower(OptString(*src, "table").value_or(""));
    if (Has(table, "torch.distributed")) s.harness = costmodel::Harness::kTorchDistributed;
  }
  s.source = out.id;
}

void MapGemm(const json& rec, ReferenceRecord& out) {
  out.cluster = MapCluster(rec, out, /*needs_memory=*/false);
  const json* lj = Field(rec, "layout");
  if (!lj || !lj->is_object()) throw Skip{"layout missing"};
  const std::string dtype = Lower(OptString(*lj, "dtype").value_or(""));
  if (dtype != "bf16" && dtype != "fp16") throw Skip{"GEMM dtype '" + dtype + "' not modelled (bf16/fp16 only)"};
  const std::optional<std::string> shape = OptString(*lj, "best_shape_MxNxK");
  if (!shape) throw Skip{"layout.best_shape_MxNxK missing"};
  static const std::regex kShape(R"(^([0-9]+)x([0-9]+)x([0-9]+)$)");
  std::smatch m;
  if (shape->size() > kMaxPhrase || !std::regex_match(*shape, m, kShape)) {
    throw Skip{"GEMM shape '" + shape->substr(0, 40) + "' not MxNxK"};
  }
  out.gemm_m = std::strtoll(m[1].str().c_str(), nullptr, 10);
  out.gemm_n = std::strtoll(m[2].str().c_str(), nullptr, 10);
  out.gemm_k = std::strtoll(m[3].str().c_str(), nullptr, 10);
}

}  // namespace

ReferenceRecord MapRecord(const json& rec) {
  ReferenceRecord out;
  try {
    out.id = OptString(rec, "id").value_or("");
    out.kind = OptString(rec, "kind").value_or("");
    if (const json* src = Field(rec, "source")) out.source = SourceName(OptString(*src, "ref").value_or(""));
    if (out.id.empty()) throw Skip{"id missing"};
    const json* mj = Field(rec, "measured");
    if (!mj || !mj->is_object()) throw Skip{"measured missing"};
    out.measured = ReadMeasured(*mj, out.kind);
    if (out.kind == "end_to_end" || out.kind == "per_layer") MapTraining(rec, out);
    else if (out.kind == "collective") MapCollective(rec, out);
    else if (out.kind == "gemm") MapGemm(rec, out);
    else throw Skip{"unknown kind '" + out.kind + "'"};
    if (out.measured.empty()) throw Skip{"no measured quantity meshplan predicts"};
  } catch (const Skip& s) {
    out.skip_reason = s.reason;
  }
  return out;
}

std::vector<ReferenceRecord> MapReferenceFile(std::string_view text, std::string_view origin) {
  const json j = costmodel::ParseJsonText(text, origin);
  if (!j.is_object() || !j.contains("records") || !j.at("records").is_array()) {
    throw meshplan::Error(std::string(origin), "records: expected an array of records");
  }
  std::vector<ReferenceRecord> out;
  for (const json& r : j.at("records")) {
    if (!r.is_object()) throw meshplan::Error(std::string(origin), "records: expected objects");
    out.push_back(MapRecord(r));
  }
  return out;
}

namespace {
/// FLOPs per token under a source's convention (see FlopConvention).
double FlopsPerToken(const ReferenceRecord& r, const costmodel::Evaluation& e) {
  const costmodel::Model& m = r.model;
  const double s = static_cast<double>(r.workload.seq);
  const double palm = costmodel::ModelFlopsPerToken(m, r.workload.seq);
  switch (r.convention) {
    case FlopConvention::kPalm: return palm;
    case FlopConvention::kLlmFoundry:
      return 6.0 * static_cast<double>(costmodel::CountParams(m).total) +
             12.0 * static_cast<double>(m.layers) * static_cast<double>(m.hidden) * s;
    case FlopConvention::kNarayanan:
      return e.throughput.mfu > 0 ? palm * e.throughput.hfu / e.throughput.mfu : palm;
  }
  return palm;
}
}  // namespace

std::vector<ScoredQuantity> PredictRecord(const ReferenceRecord& r, const costmodel::Cluster& cluster) {
  std::vector<ScoredQuantity> out;
  auto score = [&](const Measured& m, double predicted) {
    out.push_back({m.quantity, m.value, predicted, 100.0 * (predicted - m.value) / m.value});
  };
  if (r.kind == "collective") {
    const double t = costmodel::PredictCollectiveCost(cluster, r.collective).time_s;
    for (const Measured& m : r.measured) score(m, t);
    return out;
  }
  if (r.kind == "gemm") {
    const costmodel::ComputeParams cp = costmodel::ComputeParamsFor(cluster);
    const costmodel::KernelTime k = costmodel::GemmTime(cp, r.gemm_m, r.gemm_n, r.gemm_k);
    for (const Measured& m : r.measured) score(m, k.flops / k.time_s / 1e12);
    return out;
  }
  const costmodel::Evaluator ev(r.model, cluster, r.workload);
  const costmodel::Evaluation e = ev.Evaluate(r.layout);
  const double peak = cluster.gpu.peak_tflops.bf16 * 1e12;
  const double tps = e.throughput.tokens_per_s_per_gpu;
  const double flops = FlopsPerToken(r, e);
  for (const Measured& m : r.measured) {
    if (m.quantity == "step_time_s") score(m, e.time.step_s);
    else if (m.quantity == "tokens_per_s_per_gpu") score(m, tps);
    else if (m.quantity == "mfu") score(m, tps * flops / peak);
    else if (m.quantity == "tflops_per_gpu") score(m, tps * flops / 1e12);
    else if (m.quantity == "peak_memory_gib") score(m, e.memory.peak_bytes / costmodel::kGiB);
    else if (m.quantity == "layer_forward_s") score(m, e.layer_forward_s + e.parts.layer_fwd_tp_s);
    else if (m.quantity == "layer_backward_s") score(m, e.layer_backward_s + e.parts.layer_bwd_tp_s);
  }
  return out;
}

}  // namespace meshplan::plans
