#include "plans/reference.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "costmodel/collectives.h"
#include "costmodel/compute.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/json_reader.h"
#include "costmodel/memory.h"
#include "costmodel/params.h"
#include "costmodel/pipeline.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/answer.h"
#include "plans/framework.h"

namespace meshplan::plans {
namespace {
using costmodel::Recompute;
using nlohmann::json;

using costmodel::AsciiLower;
bool Has(const std::string& lower, std::string_view needle) {
  return lower.find(needle) != std::string::npos;
}

/// Thrown inside MapRecord when a rule cannot read the record; caught into skip_reason.
struct Skip {
  std::string reason;
};
/// A malformed value (ReferenceRecord::invalid_reason).
struct Invalid {
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
  if (!f->is_number()) throw Invalid{std::string(key) + ": expected a number, got " + f->dump().substr(0, 40)};
  return f->get<double>();
}
std::optional<int64_t> OptInt(const json& o, const char* key) {
  const std::optional<double> v = OptNumber(o, key);
  if (!v) return std::nullopt;
  if (*v < 1 || *v > 1e9 || std::floor(*v) != *v) {
    throw Invalid{std::string(key) + ": expected a positive integer (at most 1e9), got " + Field(o, key)->dump().substr(0, 40)};
  }
  return static_cast<int64_t>(*v);
}
int64_t ReqInt(const json& o, const char* section, const char* key) {
  const std::optional<int64_t> v = OptInt(o, key);
  if (!v) throw Skip{std::string(section) + "." + key + " missing"};
  return *v;
}

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

// Phrases longer than this are not read as numbers, shapes or keys (none published is).
constexpr size_t kMaxPhrase = 200;

namespace {
/// A cursor over a phrase for the three fixed grammars the mapping reads (a message size, an
/// MxNxK shape, a per-group-size key): one pass, no backtracking (std::regex recursed per
/// character and took milliseconds on long phrases).
struct Scan {
  std::string_view s;
  bool Lit(std::string_view t) {
    if (s.substr(0, t.size()) != t) return false;
    s.remove_prefix(t.size());
    return true;
  }
  void Spaces() {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  }
  std::string_view Digits() {
    size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    const std::string_view d = s.substr(0, n);
    s.remove_prefix(n);
    return d;
  }
  bool End() const { return s.empty(); }
};

/// "busbw_GBps_<N>node_<G>gpu": G, the ranks of that group size; nullopt for any other key.
std::optional<int64_t> PerGroupSizeRanks(std::string_view key) {
  if (key.size() > 64) return std::nullopt;
  Scan c{key};
  if (!c.Lit("busbw_GBps_") || c.Digits().empty() || !c.Lit("node_")) return std::nullopt;
  const std::string gpus(c.Digits());
  if (gpus.empty() || !c.Lit("gpu") || !c.End()) return std::nullopt;
  return std::strtoll(gpus.c_str(), nullptr, 10);
}
}  // namespace

namespace {

// --- The tables (data/reference/mapping.json). Read once; a broken file is the user's error,
// named by file and JSON path.
struct GpuRow {
  std::string token, memory, cluster, assumption;
  // A record's gpus_per_node that names the compute tray inside the cluster's NVLink domain
  // (GB200 NVL72: 4 GPUs per tray, 72 per domain, meshplan's node): read as that domain.
  int64_t tray_gpus = 0;
};
struct UnitSpelling {
  std::string spelling;
  double Gbps;  // Gb/s per unit
};
struct RateWord {
  std::string token;
  double value;
};
struct SourceRow {
  std::string match, framework;  // framework "" when the table does not say
  std::optional<bool> flash_attention;
  std::optional<FlopConvention> convention;
  // Workload switches the source ran otherwise than its framework's file (its "workload"
  // object, spelled as specs.h kWorkloadSwitches): each field with its value.
  std::vector<std::pair<bool costmodel::WorkloadSwitches::*, bool>> switches;
};
struct FrameworkWord {
  std::string token, framework, unmodelled;
};
struct DtypeWord {
  std::string token;
  costmodel::Dtype dtype;
};
struct RecomputeWord {
  enum class Match { kContains, kPrefix, kExact } match;
  std::string token;
  std::optional<Recompute> recompute;  // nullopt: `unmodelled` says why
  std::string unmodelled;
  int64_t ac_freq = 0;  // recompute full of every ac_freq-th layer (torchtitan's layer-level AC)
  // Micro-batch-level recompute, its count the most that fit: a modifier, the mode comes from
  // the phrase's other words (the rows after it).
  bool partial_fit = false;
};
struct AttentionWords {
  std::vector<std::string> tokens;
  int flash_version;  // 0: flash attention named without a generation
};
struct MappingTables {
  std::vector<GpuRow> gpus;
  // Parts not modelled as clusters whose sustained-over-burst GEMM ratio stands for a cluster's
  // GPU (the same die): read for that ratio only, never for their throughput.
  std::vector<GpuRow> sustained_ratio_parts;
  std::vector<std::string> unmodelled_gpus;
  std::vector<UnitSpelling> units;  // longest spelling first
  std::vector<RateWord> link_generations, nvlink_generations;
  std::vector<std::string> per_gpu, per_node, bidirectional, not_stated;
  // A link phrase with one of these words gives another tool's configuration value (a
  // simulator's parameter), not the hardware's rate: the standard system's link is kept.
  std::vector<std::string> tool_parameter;
  std::vector<SourceRow> sources;
  std::vector<FrameworkWord> framework_words;
  std::vector<DtypeWord> dtype_words;
  std::vector<RecomputeWord> recompute_words;
  std::vector<AttentionWords> attention_words;
  std::vector<std::string> fused_words, eager_words;
  // Phrases saying the embedding (loss) takes one layer slot of the pipeline split.
  std::vector<std::string> split_embedding_words, split_loss_words;
  // Collective records that give a bandwidth with no message size but say it is the
  // large-message plateau: scored at plateau_bytes.
  std::vector<std::string> plateau_words;
  double plateau_bytes = 0;
  // Phrases saying the FP8 weights are the parameters (gathered in FP8, no bf16 copy).
  std::vector<std::string> fp8_param_gather_words;
  std::vector<std::string> fused_attention_off_words;
  std::vector<std::string> moe_sequential_words, moe_grouped_words;
  // Phrases naming TP communication overlapped with the GEMMs (not modelled), and what the
  // record then says of its prediction.
  std::vector<std::string> tp_comm_overlap_words;
  std::string tp_comm_overlap_says;
  // Phrases saying a record lists its Megatron-LM launcher flags, and the two overlap flags
  // whose absence from such a list means Megatron-LM's default (off).
  std::vector<std::string> launcher_flag_list_words;
  std::string grad_reduce_overlap_flag, param_gather_overlap_flag;
};

std::vector<std::string> Strings(costmodel::JsonObject& o, const std::string& key) {
  std::vector<std::string> out;
  const json& a = o.Array(key);
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) o.Fail(key + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back(AsciiLower(a[i].get<std::string>()));
  }
  return out;
}

template <typename Row>
std::vector<Row> Rows(costmodel::JsonObject& o, const std::string& key,
                      const std::function<Row(costmodel::JsonObject&)>& read) {
  std::vector<Row> out;
  const json& a = o.Array(key);
  for (size_t i = 0; i < a.size(); ++i) {
    costmodel::JsonObject r(a[i], o.origin(), key + "[" + std::to_string(i) + "]");
    out.push_back(read(r));
    if (r.String("source").empty()) r.Fail("source", "every entry needs its source");
    r.Finish();
  }
  return out;
}

MappingTables ParseMappingTables(std::string_view text, const std::string& origin) {
  const json j = costmodel::ParseJsonText(text, origin);
  costmodel::JsonObject o(j, origin, "");
  costmodel::CheckSchemaVersion(o, 1);
  o.Ignore("description");
  MappingTables t;
  t.gpus = Rows<GpuRow>(o, "gpus", [](costmodel::JsonObject& r) {
    GpuRow g{AsciiLower(r.String("token")), AsciiLower(r.String("memory")), r.String("cluster"), ""};
    if (r.Has("assumption")) g.assumption = r.String("assumption");
    if (r.Has("tray_gpus")) g.tray_gpus = r.Int("tray_gpus", 1, 1 << 10);
    return g;
  });
  t.sustained_ratio_parts = Rows<GpuRow>(o, "sustained_ratio_parts", [](costmodel::JsonObject& r) {
    return GpuRow{AsciiLower(r.String("token")), "", r.String("cluster"), r.String("assumption"), 0};
  });
  for (const auto& u : Rows<GpuRow>(o, "unmodelled_gpus", [](costmodel::JsonObject& r) {
         return GpuRow{AsciiLower(r.String("token")), "", "", "", 0};
       })) {
    t.unmodelled_gpus.push_back(u.token);
  }
  for (const auto& u : Rows<std::vector<UnitSpelling>>(o, "bandwidth_units", [](costmodel::JsonObject& r) {
         std::vector<UnitSpelling> out;
         const double gbps = r.Number("Gbps", 1e-3, 1e6);
         const json& sp = r.Array("spellings");
         for (const json& s : sp) {
           if (!s.is_string() || s.get<std::string>().empty()) r.Fail("spellings", "must be non-empty strings");
           out.push_back({s.get<std::string>(), gbps});
         }
         return out;
       })) {
    t.units.insert(t.units.end(), u.begin(), u.end());
  }
  std::stable_sort(t.units.begin(), t.units.end(), [](const UnitSpelling& a, const UnitSpelling& b) {
    return a.spelling.size() > b.spelling.size();
  });
  auto rates = [&](const char* key, const char* value) {
    return Rows<RateWord>(o, key, [value](costmodel::JsonObject& r) {
      return RateWord{AsciiLower(r.String("token")), r.Number(value, 1e-3, 1e6)};
    });
  };
  t.link_generations = rates("link_generations", "Gbps");
  t.nvlink_generations = rates("nvlink_generations", "GBps_per_gpu");
  {
    costmodel::JsonObject w = o.Object("scope_words");
    t.per_gpu = Strings(w, "per_gpu");
    t.per_node = Strings(w, "per_node");
    t.bidirectional = Strings(w, "bidirectional");
    w.String("source");
    w.Finish();
  }
  t.sources = Rows<SourceRow>(o, "sources", [](costmodel::JsonObject& r) {
    SourceRow s{AsciiLower(r.String("match")), "", std::nullopt, std::nullopt, {}};
    if (r.Has("framework")) s.framework = r.String("framework");
    if (r.Has("flash_attention")) s.flash_attention = r.Bool("flash_attention");
    if (r.Has("workload")) {
      costmodel::JsonObject w = r.Object("workload");
      for (const costmodel::WorkloadSwitch& sw : costmodel::kWorkloadSwitches) {
        const std::string key(sw.key);
        if (w.Has(key)) s.switches.emplace_back(sw.field, w.Enum(key, {sw.off, sw.on}) == sw.on);
      }
      w.Finish();
    }
    if (r.Has("flop_convention")) {
      const std::string c = r.Enum("flop_convention", {"palm", "llm-foundry", "narayanan"});
      s.convention = c == "palm" ? FlopConvention::kPalm
                     : c == "llm-foundry" ? FlopConvention::kLlmFoundry
                                          : FlopConvention::kNarayanan;
    }
    return s;
  });
  t.framework_words = Rows<FrameworkWord>(o, "framework_words", [](costmodel::JsonObject& r) {
    FrameworkWord f{AsciiLower(r.String("token")), "", ""};
    if (r.Has("framework")) f.framework = r.String("framework");
    if (r.Has("unmodelled")) f.unmodelled = r.String("unmodelled");
    if (f.framework.empty() == f.unmodelled.empty()) r.Fail("framework", "give a framework or an unmodelled reason");
    return f;
  });
  t.dtype_words = Rows<DtypeWord>(o, "reduce_dtype_words", [](costmodel::JsonObject& r) {
    return DtypeWord{AsciiLower(r.String("token")),
                     costmodel::ParseDtype(r.Enum("dtype", {"fp32", "bf16"}), r.PathOf("dtype"))};
  });
  t.recompute_words = Rows<RecomputeWord>(o, "recompute_words", [](costmodel::JsonObject& r) {
    RecomputeWord w{RecomputeWord::Match::kContains, "", std::nullopt, ""};
    int given = 0;
    for (const auto& [key, match] : {std::pair{"contains", RecomputeWord::Match::kContains},
                                     std::pair{"prefix", RecomputeWord::Match::kPrefix},
                                     std::pair{"exact", RecomputeWord::Match::kExact}}) {
      if (!r.Has(key)) continue;
      w.match = match;
      w.token = AsciiLower(r.String(key));
      ++given;
    }
    if (given != 1) r.Fail("contains", "give exactly one of contains, prefix, exact");
    if (r.Has("recompute")) {
      const std::string v = r.Enum("recompute", {"none", "selective", "full", "op"});
      w.recompute = v == "none" ? Recompute::kNone
                    : v == "full" ? Recompute::kFull
                    : v == "op"   ? Recompute::kOp
                                  : Recompute::kSelective;
    }
    if (r.Has("ac_freq")) {
      w.ac_freq = r.Int("ac_freq", 1, 1 << 20);
      if (w.recompute != Recompute::kFull) r.Fail("ac_freq", "needs recompute full");
    }
    if (r.Has("unmodelled")) w.unmodelled = r.String("unmodelled");
    if (r.Has("partial_ckpt_mbs")) {
      r.Enum("partial_ckpt_mbs", {"most that fit"});
      w.partial_fit = true;
      if (w.recompute || !w.unmodelled.empty()) r.Fail("partial_ckpt_mbs", "a modifier row gives no recompute or unmodelled");
    } else if (w.recompute.has_value() == !w.unmodelled.empty()) {
      r.Fail("recompute", "give recompute, unmodelled or partial_ckpt_mbs");
    }
    return w;
  });
  t.attention_words = Rows<AttentionWords>(o, "attention_words", [](costmodel::JsonObject& r) {
    return AttentionWords{Strings(r, "tokens"), static_cast<int>(r.Int("flash_version", 0, 3))};
  });
  {
    costmodel::JsonObject w = o.Object("elementwise_words");
    t.fused_words = Strings(w, "fused");
    t.eager_words = Strings(w, "eager");
    w.String("source");
    w.Finish();
  }
  {
    costmodel::JsonObject w = o.Object("pipeline_split_words");
    t.split_embedding_words = Strings(w, "embedding");
    t.split_loss_words = Strings(w, "loss");
    w.String("source");
    w.Finish();
  }
  {
    costmodel::JsonObject w = o.Object("megatron_launcher_flags");
    t.launcher_flag_list_words = Strings(w, "list_words");
    t.grad_reduce_overlap_flag = w.String("grad_reduce_overlap");
    t.param_gather_overlap_flag = w.String("param_gather_overlap");
    w.String("source");
    w.Finish();
  }
  {
    costmodel::JsonObject w = o.Object("tp_comm_overlap_words");
    t.tp_comm_overlap_words = Strings(w, "words");
    t.tp_comm_overlap_says = w.String("says");
    w.String("source");
    w.Finish();
  }
  // A phrase table that is only its words and their source.
  auto word_table = [&o](const char* key) {
    costmodel::JsonObject w = o.Object(key);
    std::vector<std::string> words = Strings(w, "words");
    w.String("source");
    w.Finish();
    return words;
  };
  t.fp8_param_gather_words = word_table("fp8_param_gather_words");
  t.fused_attention_off_words = word_table("fused_attention_off_words");
  t.moe_sequential_words = word_table("moe_sequential_words");
  t.moe_grouped_words = word_table("moe_grouped_words");
  t.tool_parameter = word_table("tool_parameter_words");
  {
    costmodel::JsonObject w = o.Object("plateau");
    t.plateau_words = Strings(w, "words");
    t.plateau_bytes = w.Number("message_bytes", 1 << 20, 1e12);
    w.String("source");
    w.Finish();
  }
  t.not_stated = Strings(o, "not_stated_words");
  o.Finish();
  return t;
}

const MappingTables& Tables() {
  static const MappingTables t = [] {
    const std::string path = costmodel::DataDir() + "/reference/mapping.json";
    return ParseMappingTables(costmodel::ReadFileText(path, "data/reference/mapping.json"), path);
  }();
  return t;
}

bool HasAny(const std::string& lower, const std::vector<std::string>& words) {
  return std::any_of(words.begin(), words.end(), [&](const std::string& w) { return Has(lower, w); });
}

/// Every "<number> <unit>" in a phrase, in Gb/s, in order. The unit's case matters (GB/s is
/// bytes, Gb/s bits); a number glued to a letter before it ("A100", "NVLink3") is a name, and a
/// unit must end at a word boundary ("400G" but not "400Gx").
std::vector<double> RatesGbps(std::string_view p) {
  std::vector<double> out;
  const auto& units = Tables().units;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i < p.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(p[i]))) continue;
    if (i > 0 && (alnum(p[i - 1]) || p[i - 1] == '.' || p[i - 1] == '-' || p[i - 1] == '_')) {
      while (i < p.size() && (std::isdigit(static_cast<unsigned char>(p[i])) || p[i] == '.')) ++i;
      continue;
    }
    size_t j = i;
    while (j < p.size() && std::isdigit(static_cast<unsigned char>(p[j]))) ++j;
    if (j + 1 < p.size() && p[j] == '.' && std::isdigit(static_cast<unsigned char>(p[j + 1]))) {
      ++j;
      while (j < p.size() && std::isdigit(static_cast<unsigned char>(p[j]))) ++j;
    }
    const double v = std::strtod(std::string(p.substr(i, j - i)).c_str(), nullptr);
    if (!(v > 0) || v > 1e7) {  // no link is faster than 10 PB/s: a figure that is not a rate
      i = j;
      continue;
    }
    size_t k = j;
    while (k < p.size() && k - j < 2 && p[k] == ' ') ++k;
    for (const UnitSpelling& u : units) {
      if (p.substr(k, u.spelling.size()) != u.spelling) continue;
      const size_t end = k + u.spelling.size();
      if (end < p.size() && alnum(p[end])) continue;
      out.push_back(v * u.Gbps);
      break;
    }
    i = j;
  }
  return out;
}

/// A generation word's value ("NDR" -> 400 Gb/s, "NVLink4" -> 450 GB/s), first table row
/// first. NVLink tokens are matched on the phrase squashed to letters and digits ("NVLink 4th
/// generation"); an InfiniBand generation must be a word of its own ("NDR", "NDR200", not the
/// "ndr" in "Alexandria"), and "ndr" followed by digits is another row ("ndr200").
std::optional<double> GenerationValue(std::string_view phrase, const std::vector<RateWord>& table,
                                      bool whole_word) {
  const std::string lower = AsciiLower(phrase);
  std::string squashed;
  for (char c : lower) {
    if (std::isalnum(static_cast<unsigned char>(c))) squashed += c;
  }
  auto alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  for (const RateWord& w : table) {
    const std::string& text = whole_word ? lower : squashed;
    for (size_t at = text.find(w.token); at != std::string::npos; at = text.find(w.token, at + 1)) {
      const size_t end = at + w.token.size();
      const bool more_digits = end < text.size() && digit(text[end]) && !digit(w.token.back());
      if (more_digits) continue;
      if (whole_word && ((at > 0 && alpha(text[at - 1])) || (end < text.size() && alpha(text[end])))) continue;
      return w.value;
    }
  }
  return std::nullopt;
}

/// The "N x" NIC count right before a rate or a generation name: "8x 400G", "8 x NDR".
std::optional<int64_t> LinkCount(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(p[i]))) continue;
    if (i > 0 && std::isalnum(static_cast<unsigned char>(p[i - 1]))) continue;
    size_t j = i;
    while (j < p.size() && std::isdigit(static_cast<unsigned char>(p[j]))) ++j;
    size_t k = j;
    while (k < p.size() && p[k] == ' ') ++k;
    if (k < p.size() && (p[k] == 'x' || p[k] == 'X') && k + 1 < p.size() && !std::isalpha(static_cast<unsigned char>(p[k + 1]))) {
      const long n = std::strtol(std::string(p.substr(i, j - i)).c_str(), nullptr, 10);
      if (n >= 1 && n <= 64) return n;
    }
    i = j;
  }
  return std::nullopt;
}

}  // namespace

std::string ClusterForGpu(std::string_view gpu, std::string& reason, std::string& assumption) {
  const std::string sq = Squash(gpu);
  if (Has(sq, "pcie") && !Has(sq, "nvlink") && !Has(sq, "sxm")) {
    reason = "GPU '" + std::string(gpu) + "': PCIe parts are not modelled (clusters are SXM/NVLink systems)";
    return "";
  }
  if (Has(sq, "h100nvl")) {
    reason = "GPU '" + std::string(gpu) + "': H100 NVL is not modelled";
    return "";
  }
  const MappingTables& t = Tables();
  for (const std::string& u : t.unmodelled_gpus) {
    if (Has(sq, u)) {
      reason = "GPU '" + std::string(gpu) + "' not modelled";
      return "";
    }
  }
  for (const GpuRow& r : t.gpus) {
    if (!Has(sq, r.token)) continue;
    if (!r.memory.empty() && !Has(sq, r.memory)) continue;
    assumption = r.assumption;
    return r.cluster;
  }
  reason = "GPU '" + std::string(gpu) + "' not modelled";
  return "";
}

std::optional<double> IntraLinkGBps(std::string_view phrase, int64_t gpus_per_node) {
  if (phrase.size() > 4 * kMaxPhrase) return std::nullopt;
  const MappingTables& t = Tables();
  const std::string lower = AsciiLower(phrase);
  const std::vector<double> rates = RatesGbps(phrase);
  if (rates.empty()) return GenerationValue(phrase, t.nvlink_generations, /*whole_word=*/false);
  double GBps = rates.front() / 8.0;
  if (HasAny(lower, t.bidirectional)) GBps /= 2.0;
  if (HasAny(lower, t.per_node) && !HasAny(lower, t.per_gpu)) GBps /= static_cast<double>(gpus_per_node);
  return GBps;
}

std::optional<NicReading> InterLinkNics(std::string_view phrase, int64_t default_nics,
                                        int64_t gpus_per_node) {
  if (phrase.size() > 4 * kMaxPhrase) return std::nullopt;
  const MappingTables& t = Tables();
  const std::string lower = AsciiLower(phrase);
  const std::vector<double> rates = RatesGbps(phrase);
  std::optional<double> rate;
  if (!rates.empty()) rate = rates.front();
  const bool named_generation = !rate.has_value();
  if (!rate) rate = GenerationValue(phrase, t.link_generations, /*whole_word=*/true);
  if (!rate) return std::nullopt;
  if (const auto n = LinkCount(phrase)) return NicReading{*n, *rate, false};
  if (!named_generation && HasAny(lower, t.per_gpu)) return NicReading{gpus_per_node, *rate, false};
  if (!named_generation && HasAny(lower, t.per_node)) {
    return NicReading{default_nics, *rate / static_cast<double>(default_nics), false};
  }
  return NicReading{default_nics, *rate, true};
}

std::string FrameworkFor(std::string_view framework_phrase, std::string_view source_ref) {
  const MappingTables& t = Tables();
  const std::string phrase = AsciiLower(framework_phrase);
  for (const FrameworkWord& w : t.framework_words) {
    if (!w.framework.empty() && Has(phrase, w.token)) return w.framework;
  }
  const std::string ref = AsciiLower(source_ref);
  for (const SourceRow& s : t.sources) {
    if (Has(ref, s.match) && !s.framework.empty()) return s.framework;
  }
  return "";
}

std::string UnmodelledFeature(const json& layout, const json& model) {
  auto number = [](const json& o, const char* key) -> double {
    const json* f = Field(o, key);
    return f && f->is_number() ? f->get<double>() : 1.0;
  };
  auto text = [](const json& o, const char* key) -> std::string {
    const json* f = Field(o, key);
    return f && f->is_string() ? AsciiLower(f->get<std::string>()) : std::string();
  };
  // Pipeline, context and expert parallelism are modelled (MapPipeline, MapContext, MapExperts).
  if (number(layout, "ep") > 1 && !Field(model, "moe")) return "ep > 1 on a model without model.moe";
  const std::string precision = text(layout, "precision");
  // FP8 is decided with the framework (MapRecord): TransformerEngine's delayed scaling is priced.
  if (!precision.empty() && !(Has(precision, "fp8") || Has(precision, "float8") || Has(precision, "bf16") || Has(precision, "fp16") || Has(precision, "16-bit") ||
                              Has(precision, "mixed") || Has(precision, "amp"))) {
    return "precision other than 16-bit mixed not modelled";
  }
  const std::string finetune = text(layout, "finetune");
  if (finetune == "lora" || Field(layout, "peft")) return "LoRA fine-tuning not modelled";
  if (!finetune.empty()) return "fine-tuning (" + finetune + ") not modelled";
  if (const json* off = Field(layout, "cpu_offload"); off && off->is_boolean() && off->get<bool>()) {
    return "CPU offload not modelled";
  }
  const std::string framework = text(layout, "framework");
  for (const FrameworkWord& w : Tables().framework_words) {
    if (!w.unmodelled.empty() && Has(framework, w.token)) return w.unmodelled;
  }
  return "";
}
std::optional<Recompute> RecomputeFor(std::string_view phrase, std::string& reason, int64_t* ac_freq,
                                      bool* partial_fit) {
  const std::string lower = AsciiLower(phrase);
  const std::string quoted = "recompute '" + std::string(phrase) + "'";
  if (partial_fit) *partial_fit = false;
  // The table's order matters: mixed or partial schemes come first (they contain the plain words).
  for (const RecomputeWord& w : Tables().recompute_words) {
    const bool hit = w.match == RecomputeWord::Match::kContains ? Has(lower, w.token)
                     : w.match == RecomputeWord::Match::kPrefix ? lower.rfind(w.token, 0) == 0
                                                                : lower == w.token;
    if (!hit) continue;
    if (w.partial_fit) {
      if (partial_fit) *partial_fit = true;
      continue;
    }
    if (!w.recompute) reason = quoted + ": " + w.unmodelled;
    if (ac_freq) *ac_freq = w.ac_freq;
    return w.recompute;
  }
  reason = "unrecognised " + quoted;
  return std::nullopt;
}

costmodel::Dtype ReduceDtypeFor(std::string_view phrase, costmodel::Dtype fallback) {
  const std::string lower = AsciiLower(phrase);
  std::string squashed;
  for (char c : lower) {
    if (c != ' ') squashed += c;
  }
  for (const DtypeWord& w : Tables().dtype_words) {
    if (Has(squashed, w.token)) return w.dtype;
  }
  return fallback;
}
FlopConvention ConventionFor(std::string_view source_ref) {
  // published.json conventions: MFU is Korthikanti/PaLM "unless noted"; the sources table
  // (mapping.json) notes the others.
  const std::string lower = AsciiLower(source_ref);
  for (const SourceRow& s : Tables().sources) {
    if (Has(lower, s.match) && s.convention) return *s.convention;
  }
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
  // [spaces] digits [. digits] [spaces] [b|kib|mib|gib|kb|mb|gb] [spaces]
  if (phrase.size() > kMaxPhrase) return std::nullopt;
  const std::string lower = AsciiLower(phrase);
  Scan c{lower};
  c.Spaces();
  std::string number(c.Digits());
  if (number.empty()) return std::nullopt;
  if (c.Lit(".")) {
    const std::string_view frac = c.Digits();
    if (frac.empty()) return std::nullopt;
    number += "." + std::string(frac);
  }
  c.Spaces();
  std::string unit;
  for (std::string_view u : {"kib", "mib", "gib", "kb", "mb", "gb", "b"}) {
    if (c.Lit(u)) {
      unit = u;
      break;
    }
  }
  c.Spaces();
  if (!c.End()) return std::nullopt;
  double v = std::strtod(number.c_str(), nullptr);
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
// Memory: "peak memory" in published tables is PyTorch's torch.cuda.max_memory_allocated()
// (shared/data/reference/README.md, simumax-b200), scored against the allocated peak;
// max_memory_reserved() against the allocator's reserved peak (costmodel/memory.h).
constexpr std::array<MeasuredRule, 11> kMeasuredRules{{
    {"step_time_s", "step_time_s", 1.0},
    {"tokens_per_s_per_gpu", "tokens_per_s_per_gpu", 1.0},
    {"tflops_per_gpu", "tflops_per_gpu", 1.0},
    {"mfu", "mfu", 1.0},
    {"peak_mem_gib", "peak_memory_gib", 1.0},
    {"peak_memory_gib", "peak_memory_gib", 1.0},
    {"peak_reserved_gib", "peak_reserved_gib", 1.0},
    {"fwd_ms_per_layer", "layer_forward_s", 1e-3},
    {"bwd_ms_per_layer", "layer_backward_s", 1e-3},
    {"time_us", "collective_time_s", 1e-6},
    {"tflops", "gemm_tflops", 1.0},
}};

std::vector<Measured> ReadMeasured(const json& m, const std::string& kind) {
  std::vector<Measured> out;
  for (const MeasuredRule& r : kMeasuredRules) {
    const std::optional<double> v = OptNumber(m, std::string(r.key).c_str());
    if (!v) continue;
    // A GEMM record's "tflops" is the GEMM's; other kinds' quantities stay with their kinds.
    if ((r.quantity == "gemm_tflops") != (kind == "gemm")) continue;
    if ((r.quantity == "collective_time_s") != (kind == "collective")) continue;
    // Zero, negative, or finite but absurd values (1e-310, 1e308) would score an infinite or
    // meaningless error, and fit nothing: the same bound as a measurement file's times
    // (costmodel/measurements.cc). (Values <= 0 used to be dropped without a word.)
    const double value = *v * r.scale;
    if (value < 1e-12 || value > 1e12) {
      char buf[128];  // the bound in the field's own unit
      std::snprintf(buf, sizeof buf, "measured.%s: %g is outside [%g, %g]", std::string(r.key).c_str(), *v,
                    1e-12 / r.scale, 1e12 / r.scale);
      throw Skip{buf};
    }
    out.push_back({std::string(r.quantity), value});
  }
  return out;
}

bool HasQuantity(const std::vector<Measured>& ms, std::string_view q) {
  return std::any_of(ms.begin(), ms.end(), [&](const Measured& m) { return m.quantity == q; });
}

/// Whether a free-text link field says nothing: absent, or a "not stated" phrase with no rate.
bool Unstated(const std::optional<std::string>& phrase) {
  return !phrase || HasAny(AsciiLower(*phrase), Tables().not_stated);
}

/// Sets the record's GPU generation ("A100") from its cluster's row; returns that row's tray size.
int64_t SetGpuGeneration(ReferenceRecord& out) {
  for (const GpuRow& r : Tables().gpus) {
    if (r.cluster != out.cluster_name) continue;
    out.gpu_generation = r.token;
    for (char& ch : out.gpu_generation) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return r.tray_gpus;
  }
  return 0;
}

costmodel::Cluster MapCluster(const json& rec, ReferenceRecord& out) {
  const json* c = Field(rec, "cluster");
  if (!c || !c->is_object()) throw Skip{"cluster missing"};
  const std::optional<std::string> gpu = OptString(*c, "gpu");
  if (!gpu) throw Skip{"cluster.gpu missing"};
  std::string reason, assumption;
  out.cluster_name = ClusterForGpu(*gpu, reason, assumption);
  if (out.cluster_name.empty()) throw Skip{reason};
  if (!assumption.empty()) out.assumptions.push_back(assumption);
  const int64_t tray_gpus = SetGpuGeneration(out);
  costmodel::Cluster cluster = costmodel::ResolveCluster(out.cluster_name, "reference");
  const int64_t gpn = cluster.node.gpus_per_node;
  if (const auto g = OptInt(*c, "gpus_per_node")) {
    if (*g != gpn && *g == tray_gpus) {
      out.notes.push_back("cluster.gpus_per_node " + std::to_string(*g) + ": the compute tray inside " +
                          out.cluster_name + "'s " + std::to_string(gpn) + "-GPU NVLink domain");
    } else if (*g != gpn) {
      throw Skip{"cluster.gpus_per_node " + std::to_string(*g) + " differs from " + out.cluster_name +
                 "'s " + std::to_string(gpn)};
    }
  }
  // Link phrases override the standard system's figures; a link the record leaves out (or
  // phrases without a rate: "RoCE", "not stated") keeps the standard system's, and says so.
  const std::optional<std::string> intra = OptString(*c, "intra_link");
  std::optional<double> intra_GBps;
  const bool tool_value = intra && HasAny(AsciiLower(*intra), Tables().tool_parameter);
  if (!Unstated(intra) && !tool_value) intra_GBps = IntraLinkGBps(*intra, gpn);
  if (intra_GBps) {
    cluster.node.intra.GBps_per_gpu = *intra_GBps;
  } else if (tool_value) {
    out.assumptions.push_back("intra-node link given as another tool's configuration value, not the hardware's rate: " +
                              out.cluster_name + "'s " + cluster.node.intra.name);
  } else {
    out.assumptions.push_back("intra-node link not stated: " + out.cluster_name + "'s " + cluster.node.intra.name);
  }
  const std::optional<std::string> inter = OptString(*c, "inter_link");
  std::optional<NicReading> nics;
  if (!Unstated(inter)) nics = InterLinkNics(*inter, cluster.fabric.nics_per_node, gpn);
  if (nics) {
    cluster.fabric.nics_per_node = nics->nics;
    cluster.fabric.nic_Gbps = nics->Gbps_each;
    if (nics->count_assumed) {
      out.assumptions.push_back("inter-node NIC count not stated: " + out.cluster_name + "'s " +
                                std::to_string(cluster.fabric.nics_per_node) + " per node");
    }
  } else if (OptInt(*c, "gpus").value_or(gpn + 1) > gpn) {  // only a run across nodes uses it
    out.assumptions.push_back("inter-node link not stated: " + out.cluster_name + "'s " + cluster.fabric.name);
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

/// The FlashAttention generation a free-text phrase (lower-case) names, 0 when it names flash
/// attention without one, nullopt when it names none (mapping.json attention_words).
std::optional<int> FlashVersionStated(const std::string& lower) {
  for (const AttentionWords& w : Tables().attention_words) {
    if (HasAny(lower, w.tokens)) return w.flash_version;
  }
  return std::nullopt;
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
  if (m.hidden % m.heads != 0 && !Field(*mj, "mla")) throw Skip{"model.hidden not a multiple of model.heads"};
  if (m.heads % m.kv_heads != 0) throw Skip{"model.heads not a multiple of model.kv_heads"};
  m.head_dim = m.hidden / m.heads;
  const std::string arch = AsciiLower(OptString(*mj, "arch").value_or(m.name));
  const Family* fam = nullptr;
  for (const Family& f : kFamilies) {
    if (arch.rfind(f.token, 0) == 0 || AsciiLower(m.name).rfind(f.token, 0) == 0) {
      fam = &f;
      break;
    }
  }
  const bool says_act = Has(arch, "gelu") || Has(arch, "swiglu") || Has(arch, "geglu") || Has(arch, "relu");
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
  // GeGLU (Grok-1's fast-geglu) is a gated MLP like SwiGLU: the same three matrices and the
  // same elementwise bytes, GeLU in place of SiLU; priced as SwiGLU.
  if (Has(arch, "swiglu") || Has(arch, "geglu")) m.activation = costmodel::Activation::kSwiglu;
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
  if (const json* moe = Field(*mj, "moe")) {
    // Mixture of experts: routed experts (top-k), shared experts, the first dense layers.
    if (!moe->is_object()) throw Skip{"model.moe: expected an object"};
    m.moe.experts = ReqInt(*moe, "model.moe", "experts");
    m.moe.experts_per_token = ReqInt(*moe, "model.moe", "top_k");
    m.moe.expert_ffn = ReqInt(*moe, "model.moe", "expert_ffn");
    // Counts that may be 0 (OptInt takes positive integers only).
    auto count = [&](const char* key) -> std::optional<int64_t> {
      const std::optional<double> v = OptNumber(*moe, key);
      if (!v) return std::nullopt;
      if (*v < 0 || *v > 1e6 || *v != std::floor(*v)) throw Skip{std::string("model.moe.") + key + ": expected a count"};
      return static_cast<int64_t>(*v);
    };
    const int64_t shared_ffn = count("shared_expert_ffn").value_or(0);
    m.moe.shared_experts = count("shared_experts").value_or(shared_ffn > 0 ? 1 : 0);
    if (m.moe.shared_experts > 0) {
      if (shared_ffn <= 0) throw Skip{"model.moe.shared_experts without shared_expert_ffn"};
      m.moe.shared_expert_ffn = shared_ffn / m.moe.shared_experts;  // the total, split evenly
    }
    const int64_t dense = count("dense_layers").value_or(0);
    if (m.moe.experts < 1 || m.moe.experts_per_token < 1 || m.moe.experts_per_token > m.moe.experts ||
        dense < 0 || dense >= m.layers) {
      throw Skip{"model.moe: experts, top_k or dense_layers out of range"};
    }
    for (int64_t i = 0; i < dense; ++i) m.moe.dense_layers.push_back(i);
    if (const auto dffn = OptInt(*moe, "dense_ffn")) m.ffn = *dffn;
  }
  if (const json* mla = Field(*mj, "mla")) {
    // Multi-head latent attention (Megatron-Core's names: qk_head_dim is the no-RoPE part,
    // qk_pos_emb_head_dim the RoPE part); q_lora_rank 0 or absent is a full query projection.
    if (!mla->is_object()) throw Skip{"model.mla: expected an object"};
    m.mla.q_lora_rank = OptInt(*mla, "q_lora_rank").value_or(0);
    m.mla.kv_lora_rank = ReqInt(*mla, "model.mla", "kv_lora_rank");
    m.mla.qk_nope_head_dim = ReqInt(*mla, "model.mla", "qk_head_dim");
    m.mla.qk_rope_head_dim = ReqInt(*mla, "model.mla", "qk_pos_emb_head_dim");
    m.mla.v_head_dim = ReqInt(*mla, "model.mla", "v_head_dim");
    m.head_dim = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim;
  }
  const std::optional<int> stated = FlashVersionStated(arch);
  flash_version = stated.value_or(0);
  flash_stated = stated.has_value();
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

/// The framework file of a name (data/frameworks), read once per run.
const Framework& FrameworkNamed(const std::string& name) {
  static std::map<std::string, Framework> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, ResolveFramework(name, "data/reference/mapping.json")).first;
  return it->second;
}

/// The source table's workload switches for a source that ran otherwise than its framework's
/// file says (mapping.json sources[].workload), set over `w`.
void ApplySourceSwitches(const std::string& source_ref, costmodel::WorkloadSwitches& w) {
  const std::string lower = AsciiLower(source_ref);
  for (const SourceRow& s : Tables().sources) {
    if (!Has(lower, s.match)) continue;
    for (const auto& [field, on] : s.switches) w.*field = on;
  }
}

/// The source table's word on flash attention for sources that predate it (mapping.json).
std::optional<bool> SourceFlashAttention(const std::string& source_ref) {
  const std::string lower = AsciiLower(source_ref);
  for (const SourceRow& s : Tables().sources) {
    if (Has(lower, s.match) && s.flash_attention) return s.flash_attention;
  }
  return std::nullopt;
}

/// Pipeline degree, virtual stages and schedule of a record: vpp > 1 or a schedule phrase naming
/// interleaving is Megatron's interleaved 1F1B; "zero bubble" / "zb" is ZB-H1; anything else
/// with pp > 1 ("1F1B", "none", not stated) is 1F1B, the default of Megatron-LM, NeMo and
/// DeepSpeed (Megatron-LM schedules.py get_forward_backward_func). Layers that pp does not
/// divide need the record's own split: pp_first_layers / pp_last_layers, or words in `text`
/// (arch and notes, lower-case) saying the embedding and / or the loss count as one layer of
/// the split (mapping.json pipeline_split_words: Megatron-LM --account-for-embedding-in-
/// pipeline-split / --account-for-loss-in-pipeline-split, NeMo's account_for_*_in_pipeline_split).
void MapPipeline(const json& lj, int64_t pp, int64_t layers, const std::string& text, costmodel::Layout& l,
                 std::vector<std::string>& notes) {
  l.pp = pp;
  if (pp <= 1) return;
  const int64_t vpp = OptInt(lj, "vpp").value_or(1);
  const std::string phrase = AsciiLower(OptString(lj, "pipeline_schedule").value_or(""));
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
  const bool embedding_slot = HasAny(text, Tables().split_embedding_words);
  const bool loss_slot = HasAny(text, Tables().split_loss_words);
  if (l.pp_first_layers == 0 && l.pp_last_layers == 0 && (embedding_slot || loss_slot)) {
    // Megatron-Core transformer_block.py get_num_layers_to_build: the slots (layers, plus one
    // for the embedding and one for the loss) split evenly over the stages; the first (last)
    // stage builds one layer fewer for the embedding (loss) it holds.
    const int64_t slots = layers + (embedding_slot ? 1 : 0) + (loss_slot ? 1 : 0);
    const int64_t each = costmodel::AccountedSplit(layers, pp, embedding_slot, loss_slot, l.pp_first_layers,
                                                   l.pp_last_layers);
    if (each == 0) {
      throw Skip{"pipeline split: pp " + std::to_string(pp) + " does not divide " + std::to_string(slots) +
                 " layer slots (layers, embedding and loss)"};
    }
    notes.push_back("pipeline split: the " + std::string(embedding_slot && loss_slot ? "embedding and the loss"
                                                        : embedding_slot            ? "embedding"
                                                                                    : "loss") +
                    " each count as one layer (" + std::to_string(layers) + " layers in " + std::to_string(slots) +
                    " slots, " + std::to_string(each) + " per stage), as the record says");
  }
  costmodel::StageSplit split;
  std::string why;
  if (!costmodel::SplitLayers(l, layers, split, &why)) throw Skip{"pipeline split: " + why};
}

/// Whether the record's own words (arch and notes, lower-case) say how the elementwise ops
/// ran (mapping.json elementwise_words: "torch.compile", "fused kernels" -> fused; "eager" ->
/// eager; a fused optimizer says nothing about the layers); nullopt: the framework's default.
std::optional<bool> EagerElementwiseStated(const std::string& text) {
  if (HasAny(text, Tables().fused_words)) return false;
  if (HasAny(text, Tables().eager_words)) return true;
  return std::nullopt;
}

/// Context parallelism of a record: cp (Megatron's --context-parallel-size; the record's dp then
/// excludes it, as Megatron's data-parallel size does) and cp_comm_type, which Megatron-Core
/// names p2p (its default, megatron/core/model_parallel_config.py cp_comm_type), all_gather or
/// a2a; the hierarchical "a2a+p2p" is not modelled. Megatron always balances the causal load
/// (megatron/training/utils.py get_batch_on_this_cp_rank: chunks i and 2cp-1-i).
void MapContext(const json& lj, ReferenceRecord& out) {
  costmodel::Layout& l = out.layout;
  l.cp = OptInt(lj, "cp").value_or(1);
  if (l.cp <= 1) return;
  const std::optional<std::string> comm = OptString(lj, "cp_comm_type");
  if (!comm) {
    l.cp_comm = costmodel::CpComm::kP2p;
    out.assumptions.push_back("cp_comm_type not stated: Megatron-Core's default p2p (ring attention)");
    return;
  }
  const std::string c = AsciiLower(*comm);
  if (c == "p2p") l.cp_comm = costmodel::CpComm::kP2p;
  else if (c == "all_gather" || c == "allgather") l.cp_comm = costmodel::CpComm::kAllGather;
  else if (c == "a2a") l.cp_comm = costmodel::CpComm::kA2a;
  else throw Skip{"cp_comm_type '" + *comm + "' not modelled"};
}

void MapTraining(const json& rec, const std::string& framework, ReferenceRecord& out) {
  out.cluster = MapCluster(rec, out);
  const json* lj = Field(rec, "layout");
  if (!lj || !lj->is_object()) throw Skip{"layout missing"};
  const json* model_json = Field(rec, "model");
  if (const std::string f = UnmodelledFeature(*lj, model_json ? *model_json : json::object()); !f.empty()) {
    throw Skip{f};
  }
  const int64_t pp = OptInt(*lj, "pp").value_or(1);
  const json* src = Field(rec, "source");
  const std::string ref = src ? OptString(*src, "ref").value_or("") : "";
  out.convention = ConventionFor(ref);
  // The framework the record names (or its source implies) supplies the traits it leaves out.
  out.framework = !framework.empty() ? framework : FrameworkFor(OptString(*lj, "framework").value_or(""), ref);
  const Framework* fw = out.framework.empty() ? nullptr : &FrameworkNamed(out.framework);
  if (!fw) {
    out.assumptions.push_back(
        "framework not stated: meshplan's defaults (FlashAttention-2, fused elementwise, fp32 gradient reduction)");
  }
  std::optional<std::string> precision = OptString(*lj, "precision");
  if (!precision) {
    if (!fw || !fw->default_precision) throw Skip{"layout.precision missing (and no framework default)"};
    precision = fw->default_precision;
    out.assumptions.push_back("precision not stated: " + fw->name + "'s default");
  }
  const costmodel::Dtype reduce = ReduceDtypeFor(*precision, fw ? fw->reduce_dtype : costmodel::Dtype::kFp32);
  std::optional<std::string> rc = OptString(*lj, "recompute");
  if (!rc) {
    if (!fw || !fw->default_recompute) throw Skip{"layout.recompute missing (and no framework default)"};
    rc = fw->default_recompute;
    out.assumptions.push_back("recompute not stated: " + fw->name + "'s default");
  }
  std::string reason;
  int64_t ac_freq = 0;
  bool partial_fit = false;
  const auto recompute = RecomputeFor(*rc, reason, &ac_freq, &partial_fit);
  if (!recompute) throw Skip{reason};
  if (partial_fit && *recompute != Recompute::kSelective && (*recompute != Recompute::kFull || ac_freq > 0)) {
    throw Skip{"recompute '" + *rc + "': micro-batch-level recompute beside " + std::string(ToString(*recompute)) +
               " recompute not modelled"};
  }
  // "Selective" is the framework's word: torchtitan's checkpoints whole layers, not the
  // attention core meshplan prices (unless the phrase itself says attention).
  if (*recompute == Recompute::kSelective && fw && fw->selective == Framework::Selective::kSomeLayers &&
      !Has(AsciiLower(*rc), "attention")) {
    throw Skip{"checkpointing of only some layers not modelled"};
  }

  bool flash_stated = false;
  int flash_version = 0;
  out.model = MapModel(rec, flash_stated, flash_version);

  const int64_t gpus = ReqInt(rec.at("cluster"), "cluster", "gpus");
  costmodel::Layout& l = out.layout;
  l.tp = OptInt(*lj, "tp").value_or(1);
  if (const json* sp = Field(*lj, "sp")) {
    if (!sp->is_boolean()) throw Skip{"layout.sp: expected true or false"};
    l.sp = sp->get<bool>();
  }
  l.recompute = *recompute;
  l.ac_freq = ac_freq;
  out.partial_ckpt_fit = partial_fit;
  if (ac_freq > 0) {
    out.assumptions.push_back("layer-level checkpointing of every " + std::to_string(ac_freq) +
                              "nd layer (torchtitan's default selective_ac_option)");
  }
  // The record's own words: its model's arch and its notes, lower-case.
  const std::string text = AsciiLower((model_json ? OptString(*model_json, "arch").value_or("") : std::string()) + " " +
                                 OptString(rec, "notes").value_or(""));
  MapPipeline(*lj, pp, out.model.layers, text, l, out.notes);
  MapContext(*lj, out);
  if (l.tp > 1 && HasAny(text, Tables().tp_comm_overlap_words)) out.assumptions.push_back(Tables().tp_comm_overlap_says);
  l.ep = OptInt(*lj, "ep").value_or(1);
  const int64_t dp = OptInt(*lj, "dp").value_or(gpus / std::max<int64_t>(1, l.tp * pp * l.cp));
  if (l.tp * pp * l.cp * dp != gpus) {
    throw Skip{"tp " + std::to_string(l.tp) + " x pp " + std::to_string(pp) + " x cp " +
               std::to_string(l.cp) + " x dp " + std::to_string(dp) + " != " + std::to_string(gpus) +
               " GPUs"};
  }
  const json* dist_opt = Field(*lj, "distributed_optimizer");
  const std::optional<int64_t> zero_stage = OptInt(*lj, "zero_stage");
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
  } else if ((dist_opt && dist_opt->is_boolean() && dist_opt->get<bool>()) || (zero_stage && *zero_stage >= 1)) {
    // Megatron's distributed optimizer (ZeRO-1, or the ZeRO stage given) over the whole
    // data-parallel group: states sharded by dp, gradients reduce-scattered, params gathered.
    if (zero_stage && *zero_stage > 3) throw Skip{"layout.zero_stage: expected 1, 2 or 3"};
    l.fsdp = dp;
    l.replicate = 1;
    l.zero = static_cast<int>(zero_stage.value_or(1));
    l.recipe = costmodel::Recipe::kMegatron;
  } else {
    // Plain data parallelism: replicated states, gradient all-reduce.
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
  if (partial_fit) {
    if (l.pp == 1) throw Skip{"micro-batch-level recompute without a pipeline (it needs pp > 1)"};
    if (l.recipe != costmodel::Recipe::kMegatron) throw Skip{"micro-batch-level recompute outside Megatron not modelled"};
    out.assumptions.push_back("micro-batch-level recompute: as many micro-batches per window keep all activations "
                              "as stage 0's memory allows (Korthikanti et al. 2022, Appendix C)");
  }

  costmodel::Workload& w = out.workload;
  w.gpus = gpus;
  w.global_batch = *gb;
  w.seq = out.model.max_seq;
  // Each trait: the record's own words, else the source table's, else the framework's, else
  // meshplan's default.
  const std::optional<bool> source_flash = SourceFlashAttention(ref);
  w.flash_attention = flash_stated || source_flash.value_or(fw ? fw->flash_attention : true);
  w.flash_version = flash_version > 0 ? flash_version : fw ? fw->flash_version : 2;
  w.eager_elementwise = EagerElementwiseStated(text).value_or(fw ? fw->eager_elementwise : false);
  w.fsdp2_copies = fw ? fw->fsdp2_copies : true;
  // The per-step data-parallel traffic, behind the passes or outside them: as the record says
  // (gradient buckets reduced behind the backward, vTrain's ddp_gradient_bucketing; the
  // all-reduce overlapped with it, dp_grad_overlap, Korthikanti et al. 2022 Section 6.3: "No
  // overlap of gradient all-reduce with backprop"; a listed Megatron-LM launch), else as its
  // framework runs it.
  static_cast<costmodel::WorkloadSwitches&>(w) =
      fw ? static_cast<const costmodel::WorkloadSwitches&>(*fw) : costmodel::WorkloadSwitches{};
  ApplySourceSwitches(ref, w);
  const json* bucketing = Field(*lj, "ddp_gradient_bucketing");
  if (!bucketing || !bucketing->is_boolean()) bucketing = Field(*lj, "dp_grad_overlap");
  if (bucketing && bucketing->is_boolean()) {
    w.dp_reduce_after_backward = !bucketing->get<bool>();
  } else if (fw && fw->name == "megatron" && HasAny(text, Tables().launcher_flag_list_words)) {
    // A listed Megatron-LM launch leaves out what defaults off (mapping.json megatron_launcher_flags).
    w.dp_reduce_after_backward = !Has(text, Tables().grad_reduce_overlap_flag);
    w.dp_gather_after_step = !Has(text, Tables().param_gather_overlap_flag);
    const int64_t dp_ranks = l.shard() * l.replicate;
    if (dp_ranks > 1 && (w.dp_reduce_after_backward || w.dp_gather_after_step)) {
      out.notes.push_back(std::string("Megatron-LM launcher flags listed without ") +
                          (w.dp_reduce_after_backward ? Tables().grad_reduce_overlap_flag : "") +
                          (w.dp_reduce_after_backward && w.dp_gather_after_step ? " and " : "") +
                          (w.dp_gather_after_step ? Tables().param_gather_overlap_flag : "") +
                          ": the data-parallel traffic priced outside the passes (Megatron-LM's defaults)");
    }
  }
  // TransformerEngine's fused attention where the framework runs it, unless the record switched
  // it off (NVTE_FUSED_ATTN=0: TE falls back to FlashAttention).
  w.te_attention = fw && fw->te_attention && w.flash_attention && !HasAny(text, Tables().fused_attention_off_words);
  // A rank's experts one after another or grouped: as the record says, else its framework's way.
  if (HasAny(text, Tables().moe_sequential_words)) {
    w.moe_sequential = true;
  } else if (HasAny(text, Tables().moe_grouped_words)) {
    w.moe_sequential = false;
  }
  if (!costmodel::AttentionRunsOn(w, out.cluster.gpu.name)) {
    throw Skip{"FlashAttention-3 on '" + out.cluster.gpu.name + "': it runs only on Hopper GPUs"};
  }
  w.reduce_dtype = reduce;
  w.allow_cross_node_tp = false;
  {
    // FP8: priced on the framework's own FP8 path (TransformerEngine's delayed scaling, or
    // torchtitan's torchao tensorwise), on a cluster with a measured FP8 GEMM efficiency;
    // anything else is skipped by name.
    const std::string p = AsciiLower(*precision);
    if (Has(p, "fp8") || Has(p, "float8")) {
      if (!fw || !fw->fp8) throw Skip{"fp8 not modelled for framework '" + out.framework + "'"};
      if (!costmodel::Fp8Priceable(out.cluster)) {
        throw Skip{"fp8 on '" + out.cluster.name + "': no measured FP8 GEMM efficiency"};
      }
      const bool torchao = costmodel::TorchaoFp8(costmodel::ParseFp8Recipe(*fw->fp8, "framework fp8"));
      if ((Has(p, "rowwise") && !torchao) || Has(p, "mxfp8") || Has(p, "blockwise")) {
        throw Skip{"fp8 recipe '" + *precision + "' not modelled for framework '" + out.framework + "'"};
      }
      w.fp8_recipe = costmodel::ParseFp8Recipe(*fw->fp8, "framework fp8");
      // torchao's rowwise recipes where the record names them (torchtitan recipe_name).
      if (torchao && Has(p, "rowwise")) {
        w.fp8_recipe = Has(p, "gw_hp") || Has(p, "gw-hp") ? costmodel::Fp8Recipe::kTorchaoRowwiseGwHp
                                                           : costmodel::Fp8Recipe::kTorchaoRowwise;
      }
      // TransformerEngine's current scaling where the record names it (Megatron "tensorwise").
      if (w.fp8_recipe == costmodel::Fp8Recipe::kTeDelayed && (Has(p, "current scaling") || Has(p, "tensorwise"))) {
        w.fp8_recipe = costmodel::Fp8Recipe::kTeTensorwise;
      }
      w.precision = costmodel::Precision::kFp8;
      // (FSDP's float8 all-gather is tensorwise only.)
      w.fp8_param_gather = !costmodel::RowwiseFp8(w.fp8_recipe) && HasAny(p, Tables().fp8_param_gather_words);
    }
  }
  if (const json* moe = model_json ? Field(*model_json, "moe") : nullptr) {
    // Routing: a capacity factor (with padding, every expert computes its capacity) or dropless.
    if (const auto cf = OptNumber(*moe, "capacity_factor")) {
      if (!(*cf > 0 && *cf <= 64)) throw Skip{"model.moe.capacity_factor out of range"};
      w.moe_capacity_factor = *cf;
      const json* pad = Field(*moe, "pad_to_capacity");
      w.moe_pad_to_capacity = pad && pad->is_boolean() && pad->get<bool>();
    } else {
      out.assumptions.push_back("MoE capacity factor not stated: dropless, even routing");
    }
    if (Has(AsciiLower(OptString(*model_json, "arch").value_or("")), "geglu")) {
      out.assumptions.push_back("GeGLU priced as SwiGLU (the same matrices and elementwise bytes)");
    }
  }
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
  // The operation first: one meshplan does not price is named whatever else the record lacks.
  const json* lj = Field(rec, "layout");
  if (!lj || !lj->is_object()) throw Skip{"layout missing"};
  const std::optional<std::string> op = OptString(*lj, "collective");
  if (!op) throw Skip{"layout.collective missing"};
  const std::string lop = AsciiLower(*op);
  costmodel::CollectiveSample& s = out.collective;
  if (lop.rfind("all_reduce", 0) == 0 || lop.rfind("allreduce", 0) == 0) s.op = costmodel::Coll::kAllReduce;
  else if (lop.rfind("all_gather", 0) == 0 || lop.rfind("allgather", 0) == 0) s.op = costmodel::Coll::kAllGather;
  else if (lop.rfind("reduce_scatter", 0) == 0 || lop.rfind("reducescatter", 0) == 0) s.op = costmodel::Coll::kReduceScatter;
  else throw Skip{"collective '" + *op + "' not modelled"};
  // Then the size: a record without one cannot be scored whatever its system, unless it says
  // its bandwidth is the large-message plateau (mapping.json "plateau").
  const json& mj = rec.at("measured");
  std::optional<double> bytes = OptNumber(mj, "message_bytes");
  if (!bytes) {
    if (const auto msg = OptString(mj, "message")) {
      bytes = MessageBytes(*msg);
      if (!bytes) throw Skip{"measured.message '" + *msg + "': not a size"};
    }
  }
  // A size outside what a collective moves (nccl-tests' sizes are whole bytes; 1 PiB is far
  // past any published run) would price an infinite or meaningless time: the measured
  // values' treatment (ReadMeasured), said and skipped.
  if (bytes && !(*bytes >= 1 && *bytes <= 1125899906842624.0 && std::floor(*bytes) == *bytes)) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "measured.message_bytes: %g is not a whole number of bytes in [1, 2^50]", *bytes);
    throw Skip{buf};
  }
  if (!bytes) {
    const json* src = Field(rec, "source");
    const std::string said = AsciiLower(OptString(rec, "notes").value_or("") + " " +
                                   (src && src->is_object() ? OptString(*src, "table").value_or("") : ""));
    if (!HasAny(said, Tables().plateau_words)) throw Skip{"message size not stated"};
    bytes = Tables().plateau_bytes;
    char gib[32];
    std::snprintf(gib, sizeof gib, "%g GiB", *bytes / 1073741824.0);
    out.assumptions.push_back(std::string("message size not stated, the bandwidth is the large-message plateau: scored at ") + gib);
  }
  out.cluster = MapCluster(rec, out);
  // Forced algorithm: "(NVLS on)" / "(NVLS off)" in the op, or an algo field naming one alone.
  const std::string algo = AsciiLower(OptString(*lj, "algo").value_or(""));
  if (Has(lop, "nvls on") || algo == "nvls") s.algo = static_cast<int>(costmodel::Algo::kNvls);
  else if (Has(lop, "nvls off") || algo == "ring") s.algo = static_cast<int>(costmodel::Algo::kRing);
  else if (algo == "tree") s.algo = static_cast<int>(costmodel::Algo::kTree);
  else if (algo == "collnet") throw Skip{"InfiniBand SHARP (NCCL's CollNet algorithms) not modelled"};
  const int64_t ranks = OptInt(*lj, "ranks").value_or(ReqInt(rec.at("cluster"), "cluster", "gpus"));
  const int64_t gpn = out.cluster.node.gpus_per_node;
  s.group = {ranks, (ranks + gpn - 1) / gpn};
  if (s.group.nodes > 1 && ranks % s.group.nodes != 0) throw Skip{"ranks not spread evenly over nodes"};
  s.bytes = *bytes;
  // Time: published, else from algbw (S / t), else from busbw (nccl-tests' factor).
  if (!HasQuantity(out.measured, "collective_time_s")) {
    double t = 0;
    if (const auto alg = OptNumber(mj, "algbw_GBps"); alg && *alg > 0) t = s.bytes / (*alg * 1e9);
    else if (const auto bus = OptNumber(mj, "busbw_GBps"); bus && *bus > 0) {
      t = s.bytes * costmodel::BusBwFactor(s.op, ranks) / (*bus * 1e9);
    }
    if (t <= 0) throw Skip{"no time, algbw_GBps or busbw_GBps measured"};
    if (!(t >= 1e-12 && t <= 1e12)) throw Skip{"collective time from the measured bandwidth is outside [1e-12, 1e12] s"};
    out.measured.push_back({"collective_time_s", t});
    out.notes.push_back("collective_time_s from the measured bandwidth");
  }
  // The harness: a torch.distributed timing loop pays host cost per call that nccl-tests does not.
  // stas00's all_reduce_bench.py is one whether or not the table says so: each trial is
  // dist.barrier(), a CUDA event, dist.all_reduce(tensor), a CUDA event, a synchronize
  // (ml-engineering network/benchmarks/all_reduce_bench.py at 3e75510 timed_allreduce).
  const json* src = Field(rec, "source");
  if (src && src->is_object()) {
    const std::string table = AsciiLower(OptString(*src, "table").value_or(""));
    if (Has(table, "torch.distributed") || Has(table, "all_reduce_bench.py")) {
      s.harness = costmodel::Harness::kTorchDistributed;
    }
  }
  s.source = out.id;
}

/// The same-die row a sustained GEMM record's GPU stands for (mapping.json
/// sustained_ratio_parts), or null.
const GpuRow* SustainedRatioPart(const json& rec) {
  const json* c = Field(rec, "cluster");
  const std::optional<std::string> gpu = c && c->is_object() ? OptString(*c, "gpu") : std::nullopt;
  if (!gpu) return nullptr;
  const std::string sq = Squash(*gpu);
  for (const GpuRow& r : Tables().sustained_ratio_parts) {
    if (Has(sq, r.token)) return &r;
  }
  return nullptr;
}

void MapGemm(const json& rec, ReferenceRecord& out) {
  const json* lj = Field(rec, "layout");
  if (!lj || !lj->is_object()) throw Skip{"layout missing"};
  // burst (the default): a short timed loop at boost clock, what the GEMM table and the peak
  // fractions are fitted from; sustained: the chain held at the GPU's power limit (mamf-finder's
  // MSMF), published with the same run's burst figure, whose ratio is gemm_sustained_fraction.
  const std::string regime = AsciiLower(OptString(*lj, "regime").value_or("burst"));
  if (regime != "burst" && regime != "sustained") {
    throw Skip{"layout.regime '" + regime.substr(0, 40) + "' not modelled (burst or sustained)"};
  }
  const GpuRow* ratio_part = regime == "sustained" ? SustainedRatioPart(rec) : nullptr;
  if (ratio_part) {
    // Another part of the cluster's die: its ratio is the cluster's, its TFLOP/s are not.
    out.cluster_name = ratio_part->cluster;
    out.cluster = costmodel::ResolveCluster(out.cluster_name, "reference");
    SetGpuGeneration(out);
    out.assumptions.push_back(ratio_part->assumption);
  } else {
    out.cluster = MapCluster(rec, out);
  }
  const std::string dtype = AsciiLower(OptString(*lj, "dtype").value_or(""));
  const bool fp8 = Has(dtype, "fp8") || Has(dtype, "float8");
  if (regime == "sustained") {
    const json* mj = Field(rec, "measured");
    const std::optional<double> burst = mj && mj->is_object() ? OptNumber(*mj, "burst_tflops") : std::nullopt;
    if (!burst) throw Skip{"measured.burst_tflops missing: a sustained GEMM record needs its run's burst figure"};
    if (!(*burst >= 1e-3 && *burst <= 1e6)) throw Skip{"measured.burst_tflops: outside [0.001, 1e6]"};
    out.gemm_sustained = true;
    out.gemm_burst_tflops = *burst;
    if (ratio_part) {
      for (Measured& m : out.measured) {
        if (m.quantity != "gemm_tflops") continue;
        m.quantity = "gemm_sustained_fraction";
        m.value /= *burst;
        if (m.value > 1.0) throw Skip{"measured.tflops over measured.burst_tflops is above 1: not a sustained fraction"};
      }
    }
    if (fp8 && !costmodel::Fp8Priceable(out.cluster)) {
      throw Skip{"fp8 GEMM on " + out.cluster_name + ": no FP8 GEMM fraction measured (efficiency.gemm_fp8_peak_fraction)"};
    }
  } else if (fp8) {
    // The burst FP8 GEMM records are where the clusters' gemm_fp8_peak_fraction comes from.
    throw Skip{"fp8 GEMM record: the source of gemm_fp8_peak_fraction, not scored"};
  }
  if (!fp8 && dtype != "bf16" && dtype != "fp16") throw Skip{"GEMM dtype '" + dtype + "' not modelled (bf16/fp16 only)"};
  out.gemm_fp8 = fp8;
  // The GEMM's shape: mamf-finder's best of a sweep, or the one shape a kernel record measured.
  std::optional<std::string> shape = OptString(*lj, "shape_MxNxK");
  if (!shape) shape = OptString(*lj, "best_shape_MxNxK");
  if (!shape) throw Skip{"layout.shape_MxNxK (or best_shape_MxNxK) missing"};
  // digits x digits x digits, nothing else
  Scan c{*shape};
  std::string dims[3];
  bool ok = shape->size() <= kMaxPhrase;
  for (int i = 0; ok && i < 3; ++i) {
    if (i > 0) ok = c.Lit("x");
    if (ok) dims[i] = std::string(c.Digits());
    ok = ok && !dims[i].empty();
  }
  if (!ok || !c.End()) throw Skip{"GEMM shape '" + shape->substr(0, 40) + "' not MxNxK"};
  out.gemm_m = std::strtoll(dims[0].c_str(), nullptr, 10);
  out.gemm_n = std::strtoll(dims[1].c_str(), nullptr, 10);
  out.gemm_k = std::strtoll(dims[2].c_str(), nullptr, 10);
}

}  // namespace

ReferenceRecord MapRecord(const json& rec, const std::string& framework) {
  ReferenceRecord out;
  try {
    // The id names the record in every message and in the report: not text is malformed, not a
    // record to skip (skipping it printed a blank name).
    if (const json* id = Field(rec, "id"); id && !id->is_string()) {
      throw Invalid{"id: expected text, got " + id->dump().substr(0, 40)};
    }
    out.id = OptString(rec, "id").value_or("");
    out.kind = OptString(rec, "kind").value_or("");
    if (const json* src = Field(rec, "source")) out.source = SourceName(OptString(*src, "ref").value_or(""));
    if (out.id.empty()) throw Invalid{"id: missing"};
    const json* mj = Field(rec, "measured");
    if (!mj || !mj->is_object()) throw Skip{"measured missing"};
    out.measured = ReadMeasured(*mj, out.kind);
    if (const std::optional<double> p = OptNumber(*mj, "mfu_peak_tflops"); p && *p > 0) {
      out.mfu_peak_flops = *p * 1e12;
    }
    if (out.kind == "end_to_end" || out.kind == "per_layer") MapTraining(rec, framework, out);
    else if (out.kind == "collective") MapCollective(rec, out);
    else if (out.kind == "gemm") MapGemm(rec, out);
    else throw Skip{"unknown kind '" + out.kind + "'"};
    if (out.measured.empty()) throw Skip{"no measured quantity meshplan predicts"};
  } catch (const Skip& s) {
    out.skip_reason = s.reason;
  } catch (const Invalid& v) {
    out.skip_reason = v.reason;
    out.invalid_reason = v.reason;
  }
  return out;
}

namespace {
/// A collective record that publishes one bus bandwidth per group size
/// ("busbw_GBps_1node_8gpu", "busbw_GBps_4node_32gpu") is that many measurements: one record
/// each, id suffixed "@1node_8gpu", with its ranks and bandwidth. Other records pass unchanged.
std::vector<json> SplitPerGroupSize(const json& r) {
  const json* m = Field(r, "measured");
  const json* kind = Field(r, "kind");
  if (!m || !m->is_object() || !kind || *kind != "collective") return {r};
  const json* id = Field(r, "id");
  const std::string base_id = id && id->is_string() ? id->get<std::string>() : "";
  std::vector<json> out;
  for (const auto& [key, value] : m->items()) {
    const std::optional<int64_t> group_ranks = PerGroupSizeRanks(key);
    if (!group_ranks || !value.is_number()) continue;
    json one = r;
    const std::string suffix = key.substr(std::string("busbw_GBps_").size());
    one["id"] = base_id + "@" + suffix;
    one["measured"].erase(key);
    for (const auto& [other, v] : m->items()) {
      if (other != key && PerGroupSizeRanks(other)) one["measured"].erase(other);
    }
    one["measured"]["busbw_GBps"] = value;
    const int64_t ranks = *group_ranks;
    if (one.contains("layout") && one["layout"].is_object()) one["layout"]["ranks"] = ranks;
    if (one.contains("cluster") && one["cluster"].is_object()) one["cluster"]["gpus"] = ranks;
    out.push_back(std::move(one));
  }
  if (out.empty()) return {r};
  return out;
}
}  // namespace

std::vector<ReferenceRecord> MapReferenceFile(std::string_view text, std::string_view origin,
                                              const std::string& framework) {
  const json j = costmodel::ParseJsonText(text, origin);
  if (!j.is_object() || !j.contains("records") || !j.at("records").is_array()) {
    throw meshplan::Error(std::string(origin), "records: expected an array of records");
  }
  std::vector<ReferenceRecord> out;
  const json& records = j.at("records");
  std::map<std::string, size_t> seen;  // id -> the record index that gave it first
  for (size_t i = 0; i < records.size(); ++i) {
    const json& r = records[i];
    if (!r.is_object()) throw meshplan::Error(std::string(origin), "records: expected objects");
    for (const json& one : SplitPerGroupSize(r)) {
      out.push_back(MapRecord(one, framework));
      // One measurement, one record: an id given twice would count its run twice.
      if (const std::string& id = out.back().id; !id.empty() && out.back().invalid_reason.empty()) {
        const auto [it, fresh] = seen.emplace(id, i);
        if (!fresh && it->second != i) {
          throw meshplan::Error(std::string(origin) + ": records[" + std::to_string(i) + "] (" + id + ")",
                                "id given twice (records[" + std::to_string(it->second) + "] has it): one record per measurement");
        }
      }
      if (!out.back().invalid_reason.empty()) {
        const std::string id = out.back().id.empty() ? "" : " (" + out.back().id + ")";
        throw meshplan::Error(std::string(origin) + ": records[" + std::to_string(i) + "]" + id,
                              out.back().invalid_reason);
      }
    }
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
    out.push_back({m.quantity, m.value, predicted, 100.0 * (predicted - m.value) / m.value, 0.0, {}, {}, {}, {}, {}});
  };
  if (r.kind == "collective") {
    const double t = costmodel::PredictCollectiveCost(cluster, r.collective).time_s;
    for (const Measured& m : r.measured) score(m, t);
    return out;
  }
  if (r.kind == "gemm") {
    costmodel::ComputeParams cp = costmodel::ComputeParamsFor(cluster);
    // A burst record was timed before the clocks dropped: the sustained fraction is not its.
    if (!r.gemm_sustained) cp.gemm_sustained = 1.0;
    const costmodel::KernelTime k = r.gemm_fp8 ? costmodel::Fp8GemmTime(cp, r.gemm_m, r.gemm_n, r.gemm_k)
                                               : costmodel::GemmTime(cp, r.gemm_m, r.gemm_n, r.gemm_k);
    for (const Measured& m : r.measured) {
      score(m, m.quantity == "gemm_sustained_fraction" ? cp.gemm_sustained : k.flops / k.time_s / 1e12);
    }
    return out;
  }
  const costmodel::Evaluator ev(r.model, cluster, r.workload);
  costmodel::Layout layout = r.layout;
  if (r.partial_ckpt_fit) layout.partial_ckpt_mbs = ev.MostPartialCheckpointMicroBatches(layout);
  const costmodel::Evaluation e = ev.Evaluate(layout);
  const double peak = r.mfu_peak_flops > 0 ? r.mfu_peak_flops : cluster.gpu.peak_tflops.bf16 * 1e12;
  const double tps = e.throughput.tokens_per_s_per_gpu;
  const double flops = FlopsPerToken(r, e);
  for (const Measured& m : r.measured) {
    if (m.quantity == "step_time_s") {
      score(m, e.time.step_s);
      out.back().layer_passes = LayerPasses(layout, r.model.layers, e.parts.micro_batches);
    }
    else if (m.quantity == "tokens_per_s_per_gpu") score(m, tps);
    else if (m.quantity == "mfu") score(m, tps * flops / peak);
    else if (m.quantity == "tflops_per_gpu") score(m, tps * flops / 1e12);
    else if (m.quantity == "peak_memory_gib") score(m, e.memory.allocated_bytes / costmodel::kGiB);
    else if (m.quantity == "peak_reserved_gib") score(m, e.memory.reserved_bytes / costmodel::kGiB);
    else if (m.quantity == "layer_forward_s") score(m, e.layer_forward_s + e.parts.layer_fwd_tp_s);
    else if (m.quantity == "layer_backward_s") score(m, e.layer_backward_s + e.parts.layer_bwd_tp_s);
  }
  // Whatever quantity an end-to-end run was scored on, it ran: the first one carries what the
  // evaluator says of its layout, once per record. (A per-layer record times one layer, as
  // Korthikanti et al.'s Table 4 does for layouts whose whole model would not fit: not checked.)
  if (!out.empty() && r.kind == "end_to_end") {
    out.front().memory = e.memory;
    out.front().time = e.time;
    for (int i = 0; i < e.num_collectives; ++i) {
      const costmodel::CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
      out.front().collective_s[std::string(costmodel::ToString(u.purpose))] += u.cost.time_s * u.count_per_step;
    }
    if (!e.feasible()) {
      out.front().infeasible = ev.Reasons(layout, e);
      for (int bit = 0; bit < costmodel::kNumReasonCodes; ++bit) {
        if (e.reasons & (1u << bit)) out.front().rejection_codes.emplace_back(costmodel::ReasonCodeName(bit));
      }
    }
  }
  return out;
}

ResidualSplit SplitStepResiduals(const std::vector<StepResidual>& rows) {
  ResidualSplit out;
  out.n = static_cast<int64_t>(rows.size());
  if (rows.empty()) return out;
  // Relative least squares: each row divided by its measurement, so a 10 ms run and a 10 s
  // run weigh alike (MAPE's weighting).
  Eigen::MatrixXd a(out.n, 2);
  Eigen::VectorXd b = Eigen::VectorXd::Ones(out.n);
  double before = 0;
  for (Eigen::Index i = 0; i < out.n; ++i) {
    const StepResidual& r = rows[static_cast<size_t>(i)];
    a(i, 0) = r.predicted_s / r.measured_s;
    a(i, 1) = r.layer_passes / r.measured_s;
    before += std::fabs(r.predicted_s - r.measured_s) / r.measured_s;
  }
  out.mape_pct = 100.0 * before / static_cast<double>(out.n);
  if (out.n < 3) return out;
  // Scale the columns to unit norm so the rank test compares like with like.
  const Eigen::Vector2d scale(a.col(0).norm(), a.col(1).norm());
  if (!(scale(0) > 0) || !(scale(1) > 0)) return out;
  const Eigen::MatrixXd as = a * scale.cwiseInverse().asDiagonal();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(as, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::VectorXd sv = svd.singularValues();
  if (!(sv(1) > 1e-3 * sv(0))) return out;
  const Eigen::VectorXd x = svd.solve(b).cwiseQuotient(scale);
  out.separable = true;
  out.rate = x(0);
  out.fixed_s = x(1);
  double after = 0;
  for (const StepResidual& r : rows) {
    after += std::fabs(out.rate * r.predicted_s + out.fixed_s * r.layer_passes - r.measured_s) / r.measured_s;
  }
  out.mape_after_pct = 100.0 * after / static_cast<double>(out.n);
  return out;
}

ScaleTrend FitScaleTrend(const std::vector<ScaledStep>& rows) {
  ScaleTrend out;
  std::map<std::string, std::vector<const ScaledStep*>> by_work;
  for (const ScaledStep& r : rows) {
    if (r.gpus > 0 && std::isfinite(r.error_pct)) by_work[r.work].push_back(&r);
  }
  double sxy = 0, sxx = 0;
  std::vector<double> slopes;
  for (const auto& [work, group] : by_work) {
    double mx = 0, my = 0;
    int64_t lo = group.front()->gpus, hi = lo;
    for (const ScaledStep* r : group) {
      mx += std::log2(static_cast<double>(r->gpus));
      my += r->error_pct;
      lo = std::min(lo, r->gpus);
      hi = std::max(hi, r->gpus);
    }
    if (lo == hi) continue;  // one GPU count: nothing to say about scale
    const double n = static_cast<double>(group.size());
    mx /= n;
    my /= n;
    double gxy = 0, gxx = 0;
    for (const ScaledStep* r : group) {
      const double dx = std::log2(static_cast<double>(r->gpus)) - mx;
      gxy += dx * (r->error_pct - my);
      gxx += dx * dx;
    }
    sxy += gxy;
    sxx += gxx;
    slopes.push_back(gxy / gxx);
    out.min_gpus = out.groups == 0 ? lo : std::min(out.min_gpus, lo);
    out.max_gpus = std::max(out.max_gpus, hi);
    ++out.groups;
    out.rows += static_cast<int64_t>(group.size());
  }
  if (out.groups >= 2 && sxx > 0) {
    out.defined = true;
    out.pooled_slope_pct_per_doubling = sxy / sxx;
    std::sort(slopes.begin(), slopes.end());
    const size_t m = slopes.size() / 2;
    out.median_slope_pct_per_doubling = slopes.size() % 2 == 1 ? slopes[m] : 0.5 * (slopes[m - 1] + slopes[m]);
  }
  return out;
}

}  // namespace meshplan::plans
