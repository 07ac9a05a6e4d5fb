#include "costmodel/spec_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/output_file.h"

namespace meshplan::costmodel {
namespace {

// Bounds that keep absurd input from overflowing the arithmetic (a 10^9-layer model).
constexpr int64_t kMaxLayers = 100'000;
constexpr int64_t kMaxWidth = 1 << 22;  // hidden, ffn, heads, head_dim
constexpr int64_t kMaxVocab = 1 << 24;
constexpr int64_t kMaxSeq = 1 << 24;
// Parameter count above which the integer arithmetic of the cost model could overflow: 2^50
// (10^15) is four orders of magnitude above any model trained so far.
constexpr double kMaxParams = 1125899906842624.0;
// Layout degrees (tp, fsdp, replicate) and micro-batch: as many as --gpus / --global-batch allow.
constexpr int64_t kMaxDegree = int64_t{1} << 24;
constexpr int64_t kMaxMicroBatch = int64_t{1} << 30;

Activation ActivationFrom(const std::string& s) {
  if (s == "gelu") return Activation::kGelu;
  if (s == "swiglu") return Activation::kSwiglu;
  return Activation::kRelu;
}

/// Checks the relations between a model's fields; `place` is the origin prefix.
void CheckModelConsistency(const Model& m, const std::string& origin) {
  auto fail = [&](const std::string& path, const std::string& why) {
    throw Error(origin + ": " + path, why);
  };
  if (m.hidden % m.heads != 0) {
    fail("heads", "must divide hidden (" + std::to_string(m.hidden) + "), got " +
                      std::to_string(m.heads));
  }
  if (m.heads % m.kv_heads != 0) {
    fail("kv_heads", "must divide heads (" + std::to_string(m.heads) + "), got " +
                         std::to_string(m.kv_heads));
  }
  if (m.norm == Norm::kRmsNorm && m.norm_bias) fail("norm_bias", "RMSNorm has no bias");
  const Moe& e = m.moe;
  if (e.experts == 0) {
    if (e.experts_per_token != 0 || e.expert_ffn != 0) {
      fail("moe", "a dense model (experts 0) must have experts_per_token 0 and expert_ffn 0");
    }
    if (e.shared_experts != 0 || e.shared_expert_ffn != 0 || e.shared_expert_gate || e.router_bias ||
        !e.dense_layers.empty()) {
      fail("moe", "a dense model (experts 0) has no shared experts, router bias or dense_layers");
    }
  } else {
    if (e.experts < 2) fail("moe.experts", "must be 0 (dense) or >= 2");
    if (e.experts_per_token < 1 || e.experts_per_token > e.experts) {
      fail("moe.experts_per_token", "must be in [1, experts], got " + std::to_string(e.experts_per_token) +
                                        " (experts is " + std::to_string(e.experts) + ")");
    }
    if (e.expert_ffn < 1) fail("moe.expert_ffn", "must be >= 1 for an MoE model");
    if ((e.shared_experts > 0) != (e.shared_expert_ffn > 0)) {
      fail("moe.shared_expert_ffn", "must be >= 1 exactly when shared_experts is >= 1");
    }
    if (e.shared_expert_gate && e.shared_experts == 0) {
      fail("moe.shared_expert_gate", "needs a shared expert (shared_experts >= 1)");
    }
    for (size_t i = 0; i < e.dense_layers.size(); ++i) {
      const int64_t l = e.dense_layers[i];
      if (l < 0 || l >= m.layers || (i > 0 && l <= e.dense_layers[i - 1])) {
        fail("moe.dense_layers[" + std::to_string(i) + "]",
             "must be ascending layer indices in [0, layers), got " + std::to_string(l));
      }
    }
    if (static_cast<int64_t>(e.dense_layers.size()) == m.layers) {
      fail("moe.dense_layers", "every layer is dense: no layer has experts");
    }
  }
  if (m.mla.enabled() && (m.mla.qk_rope_head_dim < 1 || m.mla.v_head_dim < 1)) {
    fail("mla", "needs qk_rope_head_dim >= 1 and v_head_dim >= 1");
  }
  if (m.mla.enabled() && m.head_dim != m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim) {
    fail("head_dim", "must be mla.qk_nope_head_dim + mla.qk_rope_head_dim (" +
                         std::to_string(m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim) +
                         ") for MLA, got " + std::to_string(m.head_dim));
  }
  if (m.mla.enabled() && m.kv_heads != m.heads) {
    fail("kv_heads", "must equal heads for MLA (each head's key and value come from the latent)");
  }
  if (!m.mla.enabled() && (m.mla.q_lora_rank != 0 || m.mla.qk_nope_head_dim != 0 ||
                           m.mla.qk_rope_head_dim != 0 || m.mla.v_head_dim != 0)) {
    fail("mla.kv_lora_rank", "must be >= 1 when any other mla field is set");
  }
  // An upper bound of CountParams in floating point, so the exact integer count cannot overflow.
  const double h = static_cast<double>(m.hidden), ad = static_cast<double>(m.heads * m.head_dim);
  const double gd = static_cast<double>(m.kv_heads * m.head_dim);
  const double experts = e.dense() ? 1.0 : static_cast<double>(e.experts);
  const double ffn = static_cast<double>(e.dense() ? m.ffn : std::max(e.expert_ffn, m.ffn));
  const double shared = static_cast<double>(e.shared_experts) * static_cast<double>(e.shared_expert_ffn);
  const double a = static_cast<double>(m.heads);
  const double mla = !m.mla.enabled() ? 0.0 : static_cast<double>(m.mla.q_lora_rank + m.mla.kv_lora_rank) *
                         (h + a * static_cast<double>(m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim + m.mla.v_head_dim)) +
                     (h + a * static_cast<double>(m.mla.v_head_dim + m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim)) * h;
  const double moe_extra = e.dense() ? 0.0
                                     : (3 * h * ffn + 2 * ffn + 2 * h) + 3 * h * shared + 2 * shared +
                                           experts + h;  // a dense layer's MLP, shared experts, gates
  const double layer = 2 * h * ad + 2 * h * gd + ad + 2 * gd + 4 * h +
                       experts * (3 * h * ffn + 2 * ffn + 2 * h) + h * experts + mla + moe_extra;
  const double params = static_cast<double>(m.layers) * layer +
                        (2 * static_cast<double>(m.vocab) + static_cast<double>(m.max_seq) + 2) * h;
  if (params > kMaxParams) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "has about %.3g parameters; meshplan costs models up to %.3g (check layers, "
                  "hidden, ffn, heads and experts)", params, kMaxParams);
    throw Error(origin, buf);
  }
}

}  // namespace

std::string_view ToString(Activation a) {
  switch (a) {
    case Activation::kGelu: return "gelu";
    case Activation::kSwiglu: return "swiglu";
    case Activation::kRelu: return "relu";
  }
  return "?";
}
std::string_view ToString(Norm n) { return n == Norm::kLayerNorm ? "layernorm" : "rmsnorm"; }
std::string_view ToString(Position p) {
  switch (p) {
    case Position::kLearned: return "learned";
    case Position::kRope: return "rope";
    case Position::kAlibi: return "alibi";
  }
  return "?";
}
std::string_view ToString(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
    case Recompute::kOp: return "op";
  }
  return "?";
}
std::string_view ToString(Recipe r) { return r == Recipe::kMegatron ? "megatron" : "fsdp2"; }
std::string_view ToString(Dtype d) { return d == Dtype::kFp32 ? "fp32" : "bf16"; }
std::string_view ToString(Precision p) { return p == Precision::kFp8 ? "fp8" : "bf16"; }
std::string_view ToString(Fp8Recipe r) {
  switch (r) {
    case Fp8Recipe::kTeTensorwise: return "te-tensorwise";
    case Fp8Recipe::kTorchaoTensorwise: return "torchao-tensorwise";
    case Fp8Recipe::kTorchaoRowwise: return "torchao-rowwise";
    case Fp8Recipe::kTorchaoRowwiseGwHp: return "torchao-rowwise-gw-hp";
    case Fp8Recipe::kTeDelayed: break;
  }
  return "te-delayed";
}

std::string ReadFileText(const std::string& path, std::string_view flag) {
  // Regular files only: a FIFO would block (at open, or forever at read) and a device has no
  // end. O_NONBLOCK makes the open of a FIFO return at once, so it can be refused.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw Error(std::string(flag), "cannot open file '" + path + "': " + OsReason(errno));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw Error(std::string(flag), "cannot read file '" + path + "': " + OsReason(errno));
  }
  if (S_ISDIR(st.st_mode)) throw Error(std::string(flag), "'" + path + "' is a directory, not a file");
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISFIFO(st.st_mode)  ? "a FIFO"
                       : S_ISCHR(st.st_mode) ? "a character device"
                       : S_ISBLK(st.st_mode) ? "a block device"
                                             : "a socket";
    throw Error(std::string(flag), "'" + path + "' is " + kind +
                                       ", not a regular file: meshplan reads inputs from files only");
  }
  // Every input meshplan reads is a few MB at most; refuse to slurp a disk image by mistake.
  // All inputs of one command together are bounded as well (kMaxTotalInputBytes).
  static std::atomic<size_t> total{0};
  auto too_large = [&](size_t bytes) {
    if (bytes > kMaxInputFileBytes) {
      throw Error(std::string(flag), "file '" + path + "' is larger than " +
                                         std::to_string(kMaxInputFileBytes >> 20) +
                                         " MiB: not a meshplan input");
    }
  };
  too_large(static_cast<size_t>(st.st_size));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(std::string(flag), "cannot read file '" + path + "': " + OsReason(errno));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    too_large(out.size());  // a file that grows while read
  }
  // Every meshplan input is text; a NUL would end what some readers see of it, silently.
  if (const size_t nul = out.find('\0'); nul != std::string::npos) {
    throw Error(std::string(flag), "file '" + path + "' holds a NUL byte at offset " + std::to_string(nul) +
                                       ": not a text file");
  }
  if (total.fetch_add(out.size()) + out.size() > kMaxTotalInputBytes) {
    throw Error(std::string(flag), "file '" + path + "' takes the command's inputs past " +
                                       std::to_string(kMaxTotalInputBytes >> 20) +
                                       " MiB in all: give fewer or smaller files");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// meshplan model JSON
Model ParseModelJson(std::string_view text, std::string_view origin_view) {
  std::string origin(origin_view);
  nlohmann::json j = ParseJsonText(text, origin);
  JsonObject o(j, origin, "");
  CheckSchemaVersion(o, kSchemaVersion);
  Model m;
  m.name = o.Name("name");
  m.family = o.String("family");
  m.layers = o.Int("layers", 1, kMaxLayers);
  m.hidden = o.Int("hidden", 1, kMaxWidth);
  m.heads = o.Int("heads", 1, kMaxWidth);
  m.kv_heads = o.Int("kv_heads", 1, kMaxWidth);
  m.head_dim = o.Int("head_dim", 1, kMaxWidth);
  m.ffn = o.Int("ffn", 1, kMaxWidth);
  m.vocab = o.Int("vocab", 1, kMaxVocab);
  m.max_seq = o.Int("max_seq", 1, kMaxSeq);
  m.activation = ActivationFrom(o.Enum("activation", {"gelu", "swiglu", "relu"}));
  m.norm = o.Enum("norm", {"layernorm", "rmsnorm"}) == "layernorm" ? Norm::kLayerNorm
                                                                   : Norm::kRmsNorm;
  m.norm_bias = o.Bool("norm_bias");
  m.tied_embeddings = o.Bool("tied_embeddings");
  {
    JsonObject b = o.Object("biases");
    m.biases.qkv = b.Bool("qkv");
    m.biases.attn_out = b.Bool("attn_out");
    m.biases.mlp = b.Bool("mlp");
    b.Finish();
  }
  std::string pos = o.Enum("position", {"learned", "rope", "alibi"});
  m.position = pos == "learned" ? Position::kLearned
               : pos == "rope"  ? Position::kRope
                                : Position::kAlibi;
  m.dropout = o.Bool("dropout");
  {
    JsonObject moe = o.Object("moe");
    m.moe.experts = moe.Int("experts", 0, 1 << 16);
    m.moe.experts_per_token = moe.Int("experts_per_token", 0, 1 << 16);
    m.moe.expert_ffn = moe.Int("expert_ffn", 0, kMaxWidth);
    // Optional (absent: none), written by ToJson only when set.
    if (moe.Has("shared_experts")) m.moe.shared_experts = moe.Int("shared_experts", 0, 1 << 16);
    if (moe.Has("shared_expert_ffn")) m.moe.shared_expert_ffn = moe.Int("shared_expert_ffn", 0, kMaxWidth);
    if (moe.Has("shared_expert_gate")) m.moe.shared_expert_gate = moe.Bool("shared_expert_gate");
    if (moe.Has("router_bias")) m.moe.router_bias = moe.Bool("router_bias");
    if (moe.Has("dense_layers")) {
      const auto& dl = moe.Array("dense_layers");
      for (size_t i = 0; i < dl.size(); ++i) {
        if (!dl[i].is_number_integer()) {
          moe.Fail("dense_layers[" + std::to_string(i) + "]", "must be an integer, got " + Describe(dl[i]));
        }
        m.moe.dense_layers.push_back(dl[i].get<int64_t>());
      }
    }
    moe.Finish();
  }
  if (o.Has("mla")) {
    JsonObject mla = o.Object("mla");
    m.mla.q_lora_rank = mla.Int("q_lora_rank", 0, kMaxWidth);
    m.mla.kv_lora_rank = mla.Int("kv_lora_rank", 1, kMaxWidth);
    m.mla.qk_nope_head_dim = mla.Int("qk_nope_head_dim", 0, kMaxWidth);
    m.mla.qk_rope_head_dim = mla.Int("qk_rope_head_dim", 1, kMaxWidth);
    m.mla.v_head_dim = mla.Int("v_head_dim", 1, kMaxWidth);
    mla.Finish();
  }
  if (o.Has("qk_norm")) m.qk_norm = o.Bool("qk_norm");
  if (o.Has("attention_sinks")) m.attention_sinks = o.Bool("attention_sinks");
  if (o.Has("sliding_window")) m.sliding_window = o.Int("sliding_window", 1, kMaxSeq);
  if (o.Has("mtp_layers")) m.mtp_layers = o.Int("mtp_layers", 0, kMaxLayers);
  if (o.Raw("params_published").is_null()) {
    m.params_published.reset();
  } else {
    m.params_published = o.Int("params_published", 1);
  }
  const auto& sources = o.Array("sources");
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!sources[i].is_string()) {
      o.Fail("sources[" + std::to_string(i) + "]", "must be a string, got " + Describe(sources[i]));
    }
    m.sources.push_back(sources[i].get<std::string>());
  }
  if (m.sources.empty()) o.Fail("sources", "must name at least one source");
  o.Finish();
  CheckModelConsistency(m, origin);
  return m;
}

// meshplan cluster JSON: costmodel/cluster_io.cc (every problem at once, declared defaults).

// ---------------------------------------------------------------------------------------------
// HuggingFace transformers config.json
namespace {

// Keys that carry no information about the parameter shapes or the training cost model
// (tokenizer ids, init scales, inference caches, numerical epsilons, rope frequencies).
const std::set<std::string>& HfIgnoredKeys() {
  static const std::set<std::string> k = {
      "_name_or_path", "architectures", "auto_map", "bos_token_id", "eos_token_id",
      "pad_token_id", "torch_dtype", "transformers_version", "use_cache", "initializer_range",
      "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "rope_theta", "rope_scaling",
      "pretraining_tp", "output_router_logits", "router_aux_loss_coef", "router_jitter_noise",
      "original_max_position_embeddings", "rotary_emb_base", "rotary_pct", "use_parallel_residual",
      "classifier_dropout", "summary_activation", "summary_first_dropout", "summary_proj_to_labels",
      "summary_type", "summary_use_proj", "task_specific_params", "scale_attn_weights",
      "reorder_and_upcast_attn", "scale_attn_by_inverse_layer_idx", "n_ctx", "is_decoder",
      "tokenizer_class", "model_type", "partial_rotary_factor", "embd_pdrop", "torch_dtype",
      "attn_implementation", "bias_dropout_fusion"};
  return k;
}

class HfReader {
 public:
  HfReader(const nlohmann::json& j, std::string origin, std::string family)
      : o_(j, std::move(origin), ""), family_(std::move(family)) {}
  JsonObject& o() { return o_; }
  bool Has(const std::string& k) { return o_.Has(k) && !o_.Raw(k).is_null(); }
  int64_t Int(const std::string& k, int64_t max = kMaxWidth) { return o_.Int(k, 1, max); }
  int64_t IntOr(const std::string& k, int64_t dflt, int64_t max = kMaxWidth) {
    if (!o_.Has(k)) return dflt;
    if (o_.Raw(k).is_null()) return dflt;
    return o_.Int(k, 1, max);
  }
  bool BoolOr(const std::string& k, bool dflt) {
    if (o_.Has(k) && o_.Raw(k).is_null()) return dflt;
    return o_.Has(k) ? o_.Bool(k) : dflt;
  }
  /// A key whose null (or absence) means "none": 0; otherwise an integer in [min, max].
  int64_t IntOrNone(const std::string& k, int64_t min, int64_t max = kMaxWidth) {
    if (!o_.Has(k) || o_.Raw(k).is_null()) return 0;
    return o_.Int(k, min, max);
  }
  /// Marks keys as read: they are known not to change the parameter shapes (each call says why).
  void Ignore(std::initializer_list<const char*> keys) {
    for (const char* k : keys) o_.Ignore(k);
  }
  double DropoutOr(const std::string& k) { return o_.Has(k) ? o_.Number(k, 0.0, 1.0) : 0.0; }
  void Finish() {
    // Everything not read must be a key known to have no effect on shapes or cost.
    for (const auto& key : HfIgnoredKeys()) o_.Ignore(key);
    try {
      o_.Finish();
    } catch (const Error& e) {
      throw Error(e.place(), "unknown key for family '" + family_ +
                                 "': meshplan cannot tell whether it changes the architecture");
    }
  }

 private:
  JsonObject o_;
  std::string family_;
};

void RequireActivation(HfReader& r, const std::string& key,
                       std::initializer_list<std::string_view> allowed) {
  r.o().Enum(key, allowed);
}

/// `text` with meshplan's model field names replaced by the HF config keys of `family` they
/// were read from (whole words only).
std::string HfWords(const std::string& text, const std::string& family) {
  const bool gpt2 = family == "gpt2";
  const bool deepseek = family.rfind("deepseek", 0) == 0;
  const bool local = family == "mixtral" || family == "gpt_oss";
  const std::string experts = local ? "num_local_experts"
                              : deepseek          ? "n_routed_experts"
                                                  : "num_experts";
  const std::string expert_ffn = local ? "intermediate_size" : "moe_intermediate_size";
  const std::map<std::string, std::string> names = {
      {"hidden", gpt2 ? "n_embd" : "hidden_size"},
      {"layers", gpt2 ? "n_layer" : "num_hidden_layers"},
      {"heads", gpt2 ? "n_head" : "num_attention_heads"},
      {"kv_heads", gpt2 || family == "gpt_neox" ? (gpt2 ? "n_head" : "num_attention_heads")
                                                : "num_key_value_heads"},
      {"ffn", gpt2 ? "n_inner" : "intermediate_size"},
      {"vocab", "vocab_size"},
      {"max_seq", gpt2 ? "n_positions" : "max_position_embeddings"},
      {"moe.experts", experts},
      {"experts", experts},
      {"moe.experts_per_token", "num_experts_per_tok"},
      {"experts_per_token", "num_experts_per_tok"},
      {"moe.expert_ffn", expert_ffn},
      {"expert_ffn", expert_ffn},
      {"moe.shared_expert_ffn", deepseek ? "n_shared_experts" : "shared_expert_intermediate_size"},
      {"moe.dense_layers", deepseek ? "first_k_dense_replace" : "mlp_only_layers"},
      {"mla", "kv_lora_rank"},
      {"mla.kv_lora_rank", "kv_lora_rank"},
      {"qk_rope_head_dim", "qk_rope_head_dim"}};
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; };
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (!word_char(text[i])) {
      out += text[i++];
      continue;
    }
    size_t j = i;
    while (j < text.size() && word_char(text[j])) ++j;
    std::string word = text.substr(i, j - i), tail;
    while (!word.empty() && word.back() == '.') {  // a sentence's full stop is not part of it
      tail += '.';
      word.pop_back();
    }
    const auto it = names.find(word);
    out += (it == names.end() ? word : it->second) + tail;
    i = j;
  }
  return out;
}

/// Sliding-window attention of a config (0: none), as HF transformers applies it: Phi3Attention
/// passes sliding_window=getattr(config, "sliding_window", None) to every layer's attention
/// (modular_phi3.py, commit 06053b84c14d72e9789fbf27844a75aa89b3ded7), as MistralAttention (which
/// Phi-3 derives from) and MixtralAttention do (null: none);
/// Qwen2 / Qwen2-MoE window the layers from max_window_layers on when use_sliding_window is set
/// (configuration_qwen2_moe.py layer_types); Qwen3MoeAttention windows every layer when
/// use_sliding_window is set (modular_qwen3_moe.py, commit 00eb1166685205e8b2c75ab33eee83dc77b18fca);
/// LlamaAttention and the DeepSeek attention have no window.
int64_t ReadSlidingWindow(HfReader& r, const std::string& family, int64_t layers) {
  if (family == "mistral" || family == "mixtral" || family == "phi3") {
    return r.IntOrNone("sliding_window", 1, kMaxSeq);
  }
  if (family == "qwen2" || family == "qwen2_moe" || family == "qwen3_moe") {
    const bool use = r.BoolOr("use_sliding_window", false);
    const int64_t window = r.IntOrNone("sliding_window", 1, kMaxSeq);
    const int64_t first = family == "qwen3_moe" ? 0 : r.IntOrNone("max_window_layers", 0, kMaxLayers);
    if (family == "qwen3_moe") r.Ignore({"max_window_layers"});  // Qwen3MoeAttention ignores it
    if (use && window == 0) {
      r.o().Fail("sliding_window", "must be set when use_sliding_window is true");
    }
    return use && first < layers ? window : 0;
  }
  if (family == "gpt_oss") {
    // GptOssAttention (a Qwen2Attention) windows the layers layer_types names
    // "sliding_attention" (modular_gpt_oss.py, commit 0261a467116de4a9103b58200f9d82f8fb5a0e86).
    const auto& types = r.o().Array("layer_types");
    if (static_cast<int64_t>(types.size()) != layers) {
      r.o().Fail("layer_types", "must have num_hidden_layers (" + std::to_string(layers) +
                                    ") entries, got " + std::to_string(types.size()));
    }
    bool any = false;
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] != "sliding_attention" && types[i] != "full_attention") {
        r.o().Fail("layer_types", "entry " + std::to_string(i) +
                                      " must be \"sliding_attention\" or \"full_attention\", got " +
                                      Describe(types[i]));
      }
      any = any || types[i] == "sliding_attention";
    }
    const int64_t window = r.IntOrNone("sliding_window", 1, kMaxSeq);
    if (any && window == 0) r.o().Fail("sliding_window", "must be set when layer_types has sliding_attention");
    return any ? window : 0;
  }
  // llama, deepseek_v2, deepseek_v3: HF's attention never reads these keys.
  r.Ignore({"sliding_window", "use_sliding_window", "max_window_layers"});
  return 0;
}

/// The MoE block of qwen2_moe / qwen3_moe (modular_qwen2_moe.py, commit
/// 001f85b38fb432858ace93f18622f07cec46d874, Qwen2MoeDecoderLayer / Qwen2MoeSparseMoeBlock):
/// layer i has experts when i is not in mlp_only_layers and (i + 1) % decoder_sparse_step == 0,
/// else a dense Qwen2MoeMLP of intermediate_size; experts of moe_intermediate_size, a router
/// Linear(h, num_experts, bias=False); Qwen2-MoE adds one shared expert of
/// shared_expert_intermediate_size and its sigmoid gate Linear(h, 1, bias=False).
void ReadQwenMoe(HfReader& r, const std::string& family, Model& m) {
  m.moe.experts = r.Int("num_experts", 1 << 16);
  m.moe.experts_per_token = r.Int("num_experts_per_tok", 1 << 16);
  m.moe.expert_ffn = r.Int("moe_intermediate_size");
  m.ffn = r.Int("intermediate_size");
  if (family == "qwen2_moe") {
    m.moe.shared_experts = 1;
    m.moe.shared_expert_ffn = r.Int("shared_expert_intermediate_size");
    m.moe.shared_expert_gate = true;
  }
  const int64_t step = r.IntOr("decoder_sparse_step", 1, kMaxLayers);
  std::set<int64_t> mlp_only;
  if (r.Has("mlp_only_layers")) {
    const auto& list = r.o().Array("mlp_only_layers");
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_number_integer() || list[i].get<int64_t>() < 0 ||
          list[i].get<int64_t>() >= m.layers) {
        r.o().Fail("mlp_only_layers", "entry " + std::to_string(i) +
                                          " must be a layer index in [0, num_hidden_layers), got " +
                                          Describe(list[i]));
      }
      mlp_only.insert(list[i].get<int64_t>());
    }
  }
  for (int64_t i = 0; i < m.layers; ++i) {
    if (mlp_only.count(i) > 0 || (i + 1) % step != 0) m.moe.dense_layers.push_back(i);
  }
  // Routing rule only (renormalise the top-k weights): no parameters.
  r.Ignore({"norm_topk_prob"});
}

/// DeepSeek-V2 / V3 (modeling_deepseek_v2.py commit 0233e509531ace915c8241b4c16c8032a583279c,
/// modeling_deepseek_v3.py commit 00b676f8f0489b88652a31d70751cc540dd06305): MLA attention (see
/// params.cc); layer i >= first_k_dense_replace has DeepseekV3MoE (n_routed_experts experts of
/// moe_intermediate_size, one shared MLP of moe_intermediate_size * n_shared_experts, router
/// n_routed_experts x h; V3's router also holds e_score_correction_bias of n_routed_experts),
/// the others a dense MLP of intermediate_size.
void ReadDeepseek(HfReader& r, const std::string& family, Model& m) {
  Mla& x = m.mla;
  x.q_lora_rank = r.IntOrNone("q_lora_rank", 1);
  x.kv_lora_rank = r.Int("kv_lora_rank");
  x.qk_nope_head_dim = r.Int("qk_nope_head_dim");
  x.qk_rope_head_dim = r.Int("qk_rope_head_dim");
  x.v_head_dim = r.Int("v_head_dim");
  m.head_dim = x.qk_nope_head_dim + x.qk_rope_head_dim;
  // DeepseekV2Config sets head_dim = qk_rope_head_dim for the rotary embedding's width only.
  r.Ignore({"head_dim"});
  m.moe.experts = r.Int("n_routed_experts", 1 << 16);
  m.moe.experts_per_token = r.Int("num_experts_per_tok", 1 << 16);
  m.moe.expert_ffn = r.Int("moe_intermediate_size");
  m.ffn = r.Int("intermediate_size");
  m.moe.shared_experts = r.IntOrNone("n_shared_experts", 1, 1 << 16);
  m.moe.shared_expert_ffn = m.moe.shared_experts > 0 ? m.moe.expert_ffn : 0;
  m.moe.router_bias = family == "deepseek_v3";
  const int64_t first_dense = r.o().Has("first_k_dense_replace")
                                  ? r.o().Int("first_k_dense_replace", 0, kMaxLayers)
                                  : 0;
  for (int64_t i = 0; i < std::min(first_dense, m.layers); ++i) m.moe.dense_layers.push_back(i);
  // DeepSeek's own modeling_deepseek.py also needs layer_idx % moe_layer_freq == 0; HF
  // transformers' DeepseekV3DecoderLayer ignores the key. Both agree only at 1.
  if (r.o().Has("moe_layer_freq") && r.o().Int("moe_layer_freq", 1, kMaxLayers) != 1) {
    r.o().Fail("moe_layer_freq", "only 1 is supported (HF transformers ignores it, DeepSeek's "
                                 "own modeling code does not: the two build different models)");
  }
  m.mtp_layers = r.o().Has("num_nextn_predict_layers")
                     ? r.o().Int("num_nextn_predict_layers", 0, kMaxLayers)
                     : 0;
  // Routing rules (group-limited top-k, scores, scaling, aux losses), expert placement hints,
  // RoPE layout and the checkpoint's storage format: no parameters.
  r.Ignore({"n_group", "topk_group", "topk_method", "scoring_func", "routed_scaling_factor",
            "norm_topk_prob", "aux_loss_alpha", "seq_aux", "ep_size", "rope_interleave",
            "quantization_config"});
}

/// gpt-oss (modular_gpt_oss.py, commit 0261a467116de4a9103b58200f9d82f8fb5a0e86): GptOssAttention
/// with attention_bias on q, k, v, o and one sink logit per head; GptOssExperts of
/// intermediate_size with gate_up_proj_bias (2 x intermediate_size) and down_proj_bias (hidden);
/// GptOssTopKRouter with a bias. The experts' gate is a clamped SwiGLU (swiglu_limit, alpha
/// 1.702): the same three matrices as SwiGLU.
void ReadGptOss(HfReader& r, Model& m) {
  m.moe.experts = r.Int("num_local_experts", 1 << 16);
  m.moe.experts_per_token = r.Int("num_experts_per_tok", 1 << 16);
  if (r.Has("experts_per_token") && r.Int("experts_per_token", 1 << 16) != m.moe.experts_per_token) {
    r.o().Fail("experts_per_token", "must equal num_experts_per_tok (" +
                                        std::to_string(m.moe.experts_per_token) + ")");
  }
  m.moe.expert_ffn = r.Int("intermediate_size");
  m.ffn = m.moe.expert_ffn;
  m.moe.router_bias = true;
  m.biases.mlp = true;
  m.attention_sinks = true;
  // The gate's clamp, the RoPE (YaRN) base length and the checkpoint's MXFP4 storage: no parameters.
  r.Ignore({"swiglu_limit", "initial_context_length", "quantization_config"});
}

/// llama, mistral, qwen2, phi3 and the MoE families: gated (SwiGLU) MLP, RMSNorm, RoPE.
void ReadSwigluFamily(HfReader& r, const std::string& family, Model& m) {
  const bool deepseek = family == "deepseek_v2" || family == "deepseek_v3";
  m.hidden = r.Int("hidden_size");
  m.layers = r.Int("num_hidden_layers", kMaxLayers);
  m.heads = r.Int("num_attention_heads");
  m.kv_heads = r.IntOr("num_key_value_heads", m.heads);
  if (!deepseek) m.head_dim = r.IntOr("head_dim", m.hidden / m.heads);
  m.vocab = r.Int("vocab_size", kMaxVocab);
  m.max_seq = r.Int("max_position_embeddings", kMaxSeq);
  RequireActivation(r, "hidden_act", {"silu", "swish"});
  m.activation = Activation::kSwiglu;
  m.norm = Norm::kRmsNorm;
  m.norm_bias = false;
  m.position = Position::kRope;
  m.tied_embeddings = r.BoolOr("tie_word_embeddings", false);
  const bool attn_bias = r.BoolOr("attention_bias", false);
  const bool mlp_bias = family == "llama" || family == "deepseek_v2" ? r.BoolOr("mlp_bias", false) : false;
  // Qwen2 hard-codes bias=True on q/k/v and no other bias (modeling_qwen2.py); Qwen2-MoE takes it
  // from qkv_bias (default true); Qwen3-MoE puts attention_bias on q, k, v and o.
  const bool qkv_bias = family == "qwen2" || (family == "qwen2_moe" && r.BoolOr("qkv_bias", true));
  m.biases = {qkv_bias || attn_bias, family == "qwen2_moe" ? false : attn_bias, mlp_bias};
  const double attn_p = r.DropoutOr("attention_dropout");
  const double resid_p = family == "phi3" ? r.DropoutOr("resid_pdrop") : 0.0;
  m.dropout = attn_p > 0 || resid_p > 0;
  if (family == "gpt_oss") {
    ReadGptOss(r, m);
  } else if (family == "mixtral") {
    m.moe.experts = r.Int("num_local_experts", 1 << 16);
    m.moe.experts_per_token = r.Int("num_experts_per_tok", 1 << 16);
    m.moe.expert_ffn = r.Int("intermediate_size");
    m.ffn = m.moe.expert_ffn;
  } else if (family == "qwen2_moe" || family == "qwen3_moe") {
    ReadQwenMoe(r, family, m);
    m.qk_norm = family == "qwen3_moe";  // Qwen3Attention q_norm / k_norm, RMSNorm(head_dim)
  } else if (deepseek) {
    m.kv_heads = m.heads;  // MLA: every head has its own key and value (from the latent)
    ReadDeepseek(r, family, m);
  } else {
    m.ffn = r.Int("intermediate_size");
  }
  m.sliding_window = ReadSlidingWindow(r, family, m.layers);
}

}  // namespace

Model ParseHfConfig(std::string_view text, std::string_view origin_view) {
  std::string origin(origin_view);
  nlohmann::json j = ParseJsonText(text, origin);
  if (!j.is_object()) throw Error(origin, "must be a JSON object, got " + Describe(j));
  auto mt = j.find("model_type");
  if (mt == j.end() || !mt->is_string()) {
    throw Error(origin + ": model_type", "missing: not a HuggingFace transformers config.json");
  }
  const std::string family = mt->get<std::string>();
  static const std::array<std::string_view, 12> kFamilies = {
      "llama", "mistral", "qwen2", "phi3", "gpt2", "gpt_neox", "mixtral", "qwen2_moe", "qwen3_moe",
      "deepseek_v2", "deepseek_v3", "gpt_oss"};
  if (std::find(kFamilies.begin(), kFamilies.end(), family) == kFamilies.end()) {
    throw Error(origin + ": model_type",
                "unsupported family '" + family +
                    "' (supported: llama, mistral, qwen2, phi3, gpt2, gpt_neox, mixtral, qwen2_moe, "
                    "qwen3_moe, deepseek_v2, deepseek_v3, gpt_oss)");
  }
  HfReader r(j, origin, family);
  Model m;
  m.family = family;
  auto slash = origin.find_last_of('/');
  m.name = origin.substr(slash == std::string::npos ? 0 : slash + 1);
  if (m.name.size() > 5 && m.name.substr(m.name.size() - 5) == ".json") {
    m.name = m.name.substr(0, m.name.size() - 5);
  }
  if (const std::string problem = NameProblem(m.name); !problem.empty()) {
    throw Error(origin, "the model's name (its file name without .json) " + problem);
  }
  m.sources.push_back("HuggingFace config.json: " + origin);
  if (family == "gpt2") {
    m.hidden = r.Int("n_embd");
    m.layers = r.Int("n_layer", kMaxLayers);
    m.heads = r.Int("n_head");
    m.kv_heads = m.heads;
    m.head_dim = m.hidden / m.heads;
    m.ffn = r.IntOr("n_inner", 4 * m.hidden);
    m.vocab = r.Int("vocab_size", kMaxVocab);
    m.max_seq = r.Int("n_positions", kMaxSeq);
    RequireActivation(r, "activation_function", {"gelu_new", "gelu", "gelu_pytorch_tanh"});
    m.activation = Activation::kGelu;
    m.norm = Norm::kLayerNorm;
    m.norm_bias = true;
    m.biases = {true, true, true};
    m.position = Position::kLearned;
    m.tied_embeddings = r.BoolOr("tie_word_embeddings", true);
    const double resid = r.DropoutOr("resid_pdrop"), attn = r.DropoutOr("attn_pdrop");
    m.dropout = resid > 0 || attn > 0;
  } else if (family == "gpt_neox") {
    m.hidden = r.Int("hidden_size");
    m.layers = r.Int("num_hidden_layers", kMaxLayers);
    m.heads = r.Int("num_attention_heads");
    m.kv_heads = m.heads;
    m.head_dim = m.hidden / m.heads;
    m.ffn = r.Int("intermediate_size");
    m.vocab = r.Int("vocab_size", kMaxVocab);
    m.max_seq = r.Int("max_position_embeddings", kMaxSeq);
    RequireActivation(r, "hidden_act", {"gelu", "gelu_new", "gelu_fast"});
    m.activation = Activation::kGelu;
    m.norm = Norm::kLayerNorm;
    m.norm_bias = true;
    bool bias = r.BoolOr("attention_bias", true);
    m.biases = {bias, bias, true};
    m.position = Position::kRope;
    m.tied_embeddings = r.BoolOr("tie_word_embeddings", false);
    const double hidden_p = r.DropoutOr("hidden_dropout"), attn_p = r.DropoutOr("attention_dropout");
    m.dropout = hidden_p > 0 || attn_p > 0;
  } else {
    // llama, mistral, qwen2, phi3 and the MoE families: gated (SwiGLU) MLP, RMSNorm, RoPE.
    ReadSwigluFamily(r, family, m);
  }
  // RoPE settings change no shape, but one HF would refuse or misbuild is bad input: the share
  // of each head that rotates is in (0, 1] (Phi3RotaryEmbedding: int(head_dim x
  // partial_rotary_factor) dims; GPT-NeoX rotary_pct), and a RoPE scaling factor stretches the
  // context, >= 1 (transformers modeling_rope_utils.py validates factor >= 1).
  for (const char* share : {"partial_rotary_factor", "rotary_pct"}) {
    if (r.Has(share)) r.o().Number(share, 1e-6, 1.0);
  }
  if (r.Has("rope_scaling")) {
    JsonObject scaling = r.o().Object("rope_scaling");
    if (scaling.Has("factor") && !scaling.Raw("factor").is_null()) scaling.Number("factor", 1.0, 1e6);
  }
  if (family == "gpt2" || family == "gpt_neox") {
    // GPT2Attention / GPTNeoXAttention never read these (full causal attention).
    r.Ignore({"sliding_window", "use_sliding_window", "max_window_layers"});
  }
  r.Finish();
  try {
    CheckModelConsistency(m, origin);
  } catch (const Error& e) {
    // The user wrote HF keys: say num_key_value_heads, not meshplan's kv_heads.
    const std::string prefix = origin + ": ";
    const bool has_field = e.place().rfind(prefix, 0) == 0;
    throw Error(has_field ? prefix + HfWords(e.place().substr(prefix.size()), family) : e.place(),
                HfWords(e.reason(), family));
  }
  return m;
}

Model ParseAnyModelJson(std::string_view text, std::string_view origin) {
  nlohmann::json j = ParseJsonText(text, origin);
  if (j.is_object() && j.contains("model_type")) return ParseHfConfig(text, origin);
  // A HuggingFace config.json that lost its model_type would otherwise be blamed for lacking
  // meshplan's schema_version.
  if (j.is_object() && !j.contains("schema_version") &&
      (j.contains("hidden_size") || j.contains("num_attention_heads") || j.contains("architectures"))) {
    throw Error(std::string(origin) + ": model_type",
                "missing: the file reads as a HuggingFace config.json (hidden_size, num_attention_heads or "
                "architectures), which meshplan recognises by its model_type");
  }
  return ParseModelJson(text, origin);
}

// ---------------------------------------------------------------------------------------------
// Layout text form
void ReadWorkloadSwitches(JsonObject& in, WorkloadSwitches& s) {
  for (const WorkloadSwitch& sw : kWorkloadSwitches) {
    const std::string key(sw.key);
    if (in.Has(key)) s.*sw.field = in.Enum(key, {sw.off, sw.on}) == sw.on;
  }
}

void WriteWorkloadSwitches(const WorkloadSwitches& s, nlohmann::json& out) {
  for (const WorkloadSwitch& sw : kWorkloadSwitches) {
    if (s.*sw.field) out[std::string(sw.key)] = sw.on;
  }
}

Recipe ParseRecipe(std::string_view text, std::string_view origin) {
  if (text == "megatron") return Recipe::kMegatron;
  if (text == "fsdp2") return Recipe::kFsdp2;
  throw Error(std::string(origin),
              "must be megatron or fsdp2, got '" + std::string(text) + "'");
}

std::string_view RecomputeModuleName(int i) {
  static constexpr std::string_view kNames[kNumRecomputeModules] = {"core_attn", "layernorm", "mlp",
                                                                   "moe_act",   "moe",       "shared_experts"};
  return i >= 0 && i < kNumRecomputeModules ? kNames[i] : std::string_view("?");
}

uint8_t ParseRecomputeModules(const std::vector<std::string_view>& names, std::string_view origin) {
  if (names.empty()) throw Error(std::string(origin), "names no module (Megatron-LM's default is core_attn)");
  uint8_t bits = 0;
  for (std::string_view name : names) {
    int found = -1;
    for (int i = 0; i < kNumRecomputeModules; ++i) {
      if (RecomputeModuleName(i) == name) found = i;
    }
    if (found < 0) {
      const bool megatron = name == "mla_up_proj" || name == "mhc" || name == "gdn" || name == "gdn_norm_out" ||
                            name == "experts" || name == "router";
      throw Error(std::string(origin),
                  megatron ? "Megatron-LM's '" + std::string(name) +
                                 "' recompute is not modelled (modelled: core_attn, layernorm, mlp, moe_act, moe, "
                                 "shared_experts)"
                           : "unknown module '" + std::string(name) +
                                 "' (Megatron-LM's: core_attn, layernorm, mlp, moe_act, moe, shared_experts)");
    }
    const uint8_t bit = static_cast<uint8_t>(1u << found);
    if (bits & bit) throw Error(std::string(origin), "'" + std::string(name) + "' given twice");
    bits = static_cast<uint8_t>(bits | bit);
  }
  return bits;
}

std::string RecomputeModulesText(uint8_t modules, std::string_view sep) {
  std::string out;
  for (int i = 0; i < kNumRecomputeModules; ++i) {
    if (!(modules & (1u << i))) continue;
    if (!out.empty()) out += sep;
    out += RecomputeModuleName(i);
  }
  return out;
}

Dtype ParseDtype(std::string_view text, std::string_view origin) {
  if (text == "fp32") return Dtype::kFp32;
  if (text == "bf16") return Dtype::kBf16;
  throw Error(std::string(origin), "dtype must be fp32 or bf16, got '" + std::string(text) + "'");
}

Precision ParsePrecision(std::string_view text, std::string_view origin) {
  if (text == "bf16") return Precision::kBf16;
  if (text == "fp8") return Precision::kFp8;
  throw Error(std::string(origin), "precision must be bf16 or fp8, got '" + std::string(text) + "'");
}

Fp8Recipe ParseFp8Recipe(std::string_view text, std::string_view origin) {
  if (text == "te-delayed") return Fp8Recipe::kTeDelayed;
  if (text == "te-tensorwise") return Fp8Recipe::kTeTensorwise;
  if (text == "torchao-tensorwise") return Fp8Recipe::kTorchaoTensorwise;
  if (text == "torchao-rowwise") return Fp8Recipe::kTorchaoRowwise;
  if (text == "torchao-rowwise-gw-hp") return Fp8Recipe::kTorchaoRowwiseGwHp;
  throw Error(std::string(origin),
              "must be te-delayed, te-tensorwise (TransformerEngine's delayed and per-tensor current scaling), "
              "torchao-tensorwise, torchao-rowwise or torchao-rowwise-gw-hp (torchtitan's float8 recipes), got '" +
                  std::string(text) + "'" +
                  (text == "mxfp8" || text == "blockwise" || text == "te-mxfp8" || text == "te-blockwise"
                       ? ": the block-scaled recipes are not modelled"
                   : text == "rowwise" || text == "rowwise_with_gw_hp" || text == "torchao-rowwise_with_gw_hp"
                       ? ": torchao's rowwise recipes are torchao-rowwise and torchao-rowwise-gw-hp"
                       : ""));
}

bool Fp8Priceable(const Cluster& c) {
  return c.gpu.peak_tflops.fp8 > 0 && c.efficiency.gemm_fp8_peak_fraction > 0;
}

void CheckFp8Runs(const Cluster& c, std::string_view origin) {
  if (!(c.gpu.peak_tflops.fp8 > 0)) {
    throw Error(std::string(origin), "fp8: cluster " + c.name + "'s " + c.gpu.name +
                                         " has no FP8 tensor cores (gpu.peak_tflops.fp8 is 0)");
  }
  if (!(c.efficiency.gemm_fp8_peak_fraction > 0)) {
    throw Error(std::string(origin),
                "fp8: cluster " + c.name +
                    " gives no measured FP8 GEMM efficiency (efficiency.gemm_fp8_peak_fraction); "
                    "FP8 GEMMs are not priced at the BF16 fraction");
  }
}

namespace {

int64_t ParsePositive(std::string_view key, std::string_view value, const std::string& origin,
                      int64_t max = kMaxDegree) {
  int64_t out = 0;
  auto res = std::from_chars(value.data(), value.data() + value.size(), out);
  if (res.ec == std::errc::result_out_of_range || (res.ec == std::errc() && out > max)) {
    throw Error(origin + ": " + std::string(key), "must be at most " + std::to_string(max) +
                                                      ", got '" + std::string(value) + "'");
  }
  if (res.ec != std::errc() || res.ptr != value.data() + value.size() || out < 1) {
    throw Error(origin + ": " + std::string(key),
                "must be a positive integer, got '" + std::string(value) + "'");
  }
  return out;
}

/// a * b, or nullopt when it would overflow int64.
std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

}  // namespace

Schedule ParseSchedule(std::string_view text, std::string_view origin) {
  if (text == "1f1b") return Schedule::k1F1B;
  if (text == "interleaved") return Schedule::kInterleaved;
  if (text == "zb-h1" || text == "zbh1") return Schedule::kZeroBubble;
  throw Error(std::string(origin), "must be 1f1b, interleaved or zb-h1, got '" + std::string(text) + "'");
}

CpComm ParseCpComm(std::string_view text, std::string_view origin) {
  if (text == "p2p") return CpComm::kP2p;
  if (text == "all_gather") return CpComm::kAllGather;
  if (text == "a2a") return CpComm::kA2a;
  throw Error(std::string(origin), "must be p2p, all_gather or a2a, got '" + std::string(text) + "'");
}

namespace {
/// Context-parallel keys given without context parallelism: an error naming the key.
void CheckContextKeys(const Layout& l, bool comm_given, bool balance_given, const std::string& origin) {
  if (l.cp > 1) return;
  if (comm_given) throw Error(origin + ": cp_comm", "needs cp > 1");
  if (balance_given) throw Error(origin + ": cp_balance", "needs cp > 1");
}

/// Partial full recompute: one way of choosing the layers, with recompute=full; Megatron's
/// modules only with recompute=selective.
void CheckRecomputeKeys(const Layout& l, bool modules_given, const std::string& origin) {
  if (modules_given && l.recompute != Recompute::kSelective) {
    throw Error(origin + ": recompute_modules", "needs recompute=selective (Megatron-LM's --recompute-modules "
                                                "apply with --recompute-granularity selective)");
  }
  if (l.ac_freq > 0 && l.recompute_num_layers > 0) {
    throw Error(origin + ": recompute_num_layers", "give ac_freq (torchtitan) or recompute_num_layers (Megatron-LM), not both");
  }
  if ((l.ac_freq > 0 || l.recompute_num_layers > 0) && l.recompute != Recompute::kFull) {
    throw Error(origin + ": " + (l.ac_freq > 0 ? "ac_freq" : "recompute_num_layers"),
                "needs recompute=full (it chooses which layers are fully recomputed)");
  }
  if (l.partial_ckpt_mbs > 0) {
    if (l.pp == 1) {
      throw Error(origin + ": partial_ckpt_mbs", "needs pp > 1 (it chooses among a pipeline rank's in-flight micro-batches)");
    }
    if (l.recompute != Recompute::kSelective && l.recompute != Recompute::kFull) {
      throw Error(origin + ": partial_ckpt_mbs", "needs recompute=selective or full (the other micro-batches recompute "
                                                 "that way), got recompute=" + std::string(ToString(l.recompute)));
    }
    if (l.ac_freq > 0 || l.recompute_num_layers > 0) {
      throw Error(origin + ": partial_ckpt_mbs", std::string("with ") + (l.ac_freq > 0 ? "ac_freq" : "recompute_num_layers") +
                                                     ": Megatron-Core then recomputes some layers of the partial "
                                                     "micro-batches; not modelled (give recompute=full alone)");
    }
  }
}

/// Pipeline keys that contradict each other whatever the model: an error naming the key.
/// A schedule left out with vpp > 1 is interleaved; one given as 1f1b contradicts it.
void CheckPipelineKeys(Layout& l, bool schedule_given, const std::string& origin) {
  if (l.vpp > 1 && l.schedule == Schedule::k1F1B) {
    if (schedule_given) {
      throw Error(origin + ": schedule", "1f1b runs one stage per rank; vpp " + std::to_string(l.vpp) +
                                             " needs schedule=interleaved (or leave schedule out)");
    }
    l.schedule = Schedule::kInterleaved;
  }
  if (l.pp == 1 && (l.vpp > 1 || l.schedule != Schedule::k1F1B)) {
    throw Error(origin + ": " + (l.vpp > 1 ? "vpp" : "schedule"), "needs pp > 1");
  }
  if (l.pp == 1 && (l.pp_first_layers > 0 || l.pp_last_layers > 0)) {
    throw Error(origin + ": " + (l.pp_first_layers > 0 ? "pp_first_layers" : "pp_last_layers"),
                "needs pp > 1");
  }
  if (l.schedule == Schedule::kInterleaved && l.vpp < 2) {
    throw Error(origin + ": schedule", "interleaved needs vpp >= 2");
  }
  if (l.schedule != Schedule::kInterleaved && l.vpp > 1) {
    throw Error(origin + ": vpp", "vpp > 1 needs schedule=interleaved, got schedule=" +
                                      std::string(ToString(l.schedule)));
  }
}
}  // namespace

Layout ParseLayoutText(std::string_view text, std::string_view origin_view, Recipe default_recipe,
                       int64_t* given_grad_accum) {
  if (given_grad_accum) *given_grad_accum = 0;
  std::string origin(origin_view);
  Layout l;
  l.recipe = default_recipe;
  if (text.empty()) throw Error(origin, "empty layout (expected e.g. tp=8,sp=on,fsdp=32)");
  std::set<std::string> seen;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    // "tp=8, sp=on" reads as the user meant it: blanks around an item, a key or a value go.
    auto trim = [](std::string_view v) {
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    };
    item = trim(item);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      // recompute_modules=core_attn,mlp: the comma ended the list.
      const bool module_list = seen.count("recompute_modules") > 0 && eq == std::string_view::npos;
      throw Error(origin, "expected key=value, got '" + std::string(item) + "'" +
                              (module_list ? " (recompute_modules joins its modules with +: core_attn+mlp)" : ""));
    }
    std::string key(trim(item.substr(0, eq)));
    std::string_view value = trim(item.substr(eq + 1));
    if (!seen.insert(key).second) throw Error(origin + ": " + key, "given twice");
    if (key == "tp") {
      l.tp = ParsePositive(key, value, origin);
    } else if (key == "sp") {
      if (value == "on" || value == "true" || value == "1") {
        l.sp = true;
      } else if (value == "off" || value == "false" || value == "0") {
        l.sp = false;
      } else {
        throw Error(origin + ": sp", "must be on or off, got '" + std::string(value) + "'");
      }
    } else if (key == "fsdp") {
      l.fsdp = ParsePositive(key, value, origin);
    } else if (key == "replicate") {
      l.replicate = ParsePositive(key, value, origin);
    } else if (key == "zero") {
      int64_t z = ParsePositive(key, value, origin);
      if (z > 3) throw Error(origin + ": zero", "must be 1, 2 or 3, got '" + std::string(value) + "'");
      l.zero = static_cast<int>(z);
    } else if (key == "mbs") {
      l.mbs = ParsePositive(key, value, origin, kMaxMicroBatch);
    } else if (key == "recompute") {
      if (value == "none") l.recompute = Recompute::kNone;
      else if (value == "selective") l.recompute = Recompute::kSelective;
      else if (value == "full") l.recompute = Recompute::kFull;
      else if (value == "op") l.recompute = Recompute::kOp;
      else throw Error(origin + ": recompute",
                       "must be none, selective, full or op, got '" + std::string(value) + "'");
    } else if (key == "recipe") {
      l.recipe = ParseRecipe(value, origin + ": recipe");
    } else if (key == "pp") {
      l.pp = ParsePositive(key, value, origin);
    } else if (key == "vpp") {
      l.vpp = ParsePositive(key, value, origin);
    } else if (key == "schedule") {
      l.schedule = ParseSchedule(value, origin + ": schedule");
    } else if (key == "pp_first_layers") {
      l.pp_first_layers = ParsePositive(key, value, origin);
    } else if (key == "pp_last_layers") {
      l.pp_last_layers = ParsePositive(key, value, origin);
    } else if (key == "cp") {
      l.cp = ParsePositive(key, value, origin);
    } else if (key == "cp_comm") {
      l.cp_comm = ParseCpComm(value, origin + ": cp_comm");
    } else if (key == "cp_balance") {
      if (value == "on" || value == "true" || value == "1") {
        l.cp_balance = true;
      } else if (value == "off" || value == "false" || value == "0") {
        l.cp_balance = false;
      } else {
        throw Error(origin + ": cp_balance", "must be on or off, got '" + std::string(value) + "'");
      }
    } else if (key == "ac_freq") {
      l.ac_freq = ParsePositive(key, value, origin);
    } else if (key == "recompute_num_layers") {
      l.recompute_num_layers = ParsePositive(key, value, origin);
    } else if (key == "cpu_offload_layers") {
      l.cpu_offload_layers = ParsePositive(key, value, origin);
    } else if (key == "partial_ckpt_mbs") {
      l.partial_ckpt_mbs = ParsePositive(key, value, origin);
    } else if (key == "recompute_modules") {
      std::vector<std::string_view> names;
      for (size_t at = 0;;) {
        const size_t plus = value.find('+', at);
        names.push_back(value.substr(at, plus == std::string_view::npos ? std::string_view::npos : plus - at));
        if (plus == std::string_view::npos) break;
        at = plus + 1;
      }
      if (value.empty()) names.clear();
      l.recompute_modules = ParseRecomputeModules(names, origin + ": recompute_modules");
    } else if (key == "ep") {
      l.ep = ParsePositive(key, value, origin);
    } else if (key == "grad_accum") {
      const int64_t given = ParsePositive(key, value, origin, kMaxMicroBatch);  // CheckGivenGradAccum
      if (given_grad_accum) *given_grad_accum = given;
    } else {
      throw Error(origin + ": " + key,
                  "unknown layout key (known: tp, sp, fsdp, replicate, zero, mbs, recompute, "
                  "recipe, pp, vpp, schedule, pp_first_layers, pp_last_layers, cp, cp_comm, "
                  "cp_balance, ep, ac_freq, recompute_num_layers, recompute_modules, cpu_offload_layers, "
                  "partial_ckpt_mbs)");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (l.sp && l.tp == 1) throw Error(origin + ": sp", "sequence parallelism needs tp > 1");
  CheckRecomputeKeys(l, seen.count("recompute_modules") > 0, origin);
  CheckPipelineKeys(l, seen.count("schedule") > 0, origin);
  CheckContextKeys(l, seen.count("cp_comm") > 0, seen.count("cp_balance") > 0, origin);
  return l;
}

void ResolveLayout(Layout& l, const Workload& w, std::string_view origin_view) {
  std::string origin(origin_view);
  // Each degree is <= 2^24 but their product may not fit in int64: multiply checked.
  std::optional<int64_t> other = CheckedMul(l.tp, l.replicate);
  if (other) other = CheckedMul(*other, l.pp);
  if (other) other = CheckedMul(*other, l.cp);
  if (!other || *other > w.gpus) {
    throw Error(origin, "tp*replicate*pp*cp = " +
                            (other ? std::to_string(*other) : std::string("more than 2^63")) +
                            " exceeds --gpus " + std::to_string(w.gpus));
  }
  if (l.fsdp == 0) {
    if (w.gpus % *other != 0) {
      throw Error(origin, "tp*replicate*pp*cp = " + std::to_string(*other) + " does not divide --gpus " +
                              std::to_string(w.gpus));
    }
    l.fsdp = w.gpus / *other;
  }
  const std::optional<int64_t> all = CheckedMul(*other, l.fsdp);
  if (!all || *all != w.gpus) {
    throw Error(origin, "tp*fsdp*replicate*pp*cp = " +
                            (all ? std::to_string(*all) : std::string("more than 2^63")) +
                            " does not equal --gpus " + std::to_string(w.gpus));
  }
}

void CheckGivenGradAccum(int64_t given, const Layout& l, const Workload& w, std::string_view origin) {
  // The text form accepts grad_accum (reports print it beside the layout) but it is derived
  // from the batch: a value that disagrees would be silently ignored, so it is an error.
  if (given == 0) return;
  const int64_t dp = l.dp();
  const bool divides = l.mbs > 0 && dp > 0 && w.global_batch % (l.mbs * dp) == 0;
  const int64_t derived = divides ? w.global_batch / (l.mbs * dp) : 0;
  if (given == derived) return;
  throw Error(std::string(origin) + ": grad_accum",
              "is " + std::to_string(given) + ", but it is derived, not set: global batch " +
                  std::to_string(w.global_batch) + " / (mbs " + std::to_string(l.mbs) + " x data-parallel " +
                  std::to_string(dp) + ") " + (divides ? "= " + std::to_string(derived) : std::string("does not divide")) +
                  " (change --global-batch or mbs instead)");
}

std::string LayoutToText(const Layout& l) {
  std::ostringstream os;
  os << "tp=" << l.tp << ",sp=" << (l.sp ? "on" : "off") << ",fsdp=" << l.fsdp
     << ",replicate=" << l.replicate << ",zero=" << l.zero << ",mbs=" << l.mbs
     << ",recompute=" << ToString(l.recompute);
  if (l.ac_freq > 0) os << ",ac_freq=" << l.ac_freq;
  if (l.recompute_num_layers > 0) os << ",recompute_num_layers=" << l.recompute_num_layers;
  if (l.recompute == Recompute::kSelective && l.recompute_modules != kDefaultRecomputeModules) {
    os << ",recompute_modules=" << RecomputeModulesText(l.recompute_modules, "+");
  }
  if (l.cpu_offload_layers > 0) os << ",cpu_offload_layers=" << l.cpu_offload_layers;
  if (l.partial_ckpt_mbs > 0) os << ",partial_ckpt_mbs=" << l.partial_ckpt_mbs;
  os << ",recipe=" << ToString(l.recipe);
  if (l.pp > 1) {
    os << ",pp=" << l.pp;
    if (l.vpp > 1) os << ",vpp=" << l.vpp;
    os << ",schedule=" << ToString(l.schedule);
    if (l.pp_first_layers > 0) os << ",pp_first_layers=" << l.pp_first_layers;
    if (l.pp_last_layers > 0) os << ",pp_last_layers=" << l.pp_last_layers;
  }
  if (l.cp > 1) {
    os << ",cp=" << l.cp << ",cp_comm=" << ToString(l.cp_comm);
    if (!l.cp_balance) os << ",cp_balance=off";
  }
  if (l.ep > 1) os << ",ep=" << l.ep;
  return os.str();
}

// ---------------------------------------------------------------------------------------------
// Serialisation
nlohmann::json ToJson(const Model& m) {
  nlohmann::json j;
  j["name"] = m.name;
  j["family"] = m.family;
  j["layers"] = m.layers;
  j["hidden"] = m.hidden;
  j["heads"] = m.heads;
  j["kv_heads"] = m.kv_heads;
  j["head_dim"] = m.head_dim;
  j["ffn"] = m.ffn;
  j["vocab"] = m.vocab;
  j["max_seq"] = m.max_seq;
  j["activation"] = ToString(m.activation);
  j["norm"] = ToString(m.norm);
  j["norm_bias"] = m.norm_bias;
  j["tied_embeddings"] = m.tied_embeddings;
  j["biases"] = {{"qkv", m.biases.qkv}, {"attn_out", m.biases.attn_out}, {"mlp", m.biases.mlp}};
  j["position"] = ToString(m.position);
  j["dropout"] = m.dropout;
  j["moe"] = {{"experts", m.moe.experts},
              {"experts_per_token", m.moe.experts_per_token},
              {"expert_ffn", m.moe.expert_ffn}};
  // Written only when set, so a dense model's JSON (and every report of one) stays as it was.
  if (m.moe.shared_experts > 0) {
    j["moe"]["shared_experts"] = m.moe.shared_experts;
    j["moe"]["shared_expert_ffn"] = m.moe.shared_expert_ffn;
  }
  if (m.moe.shared_expert_gate) j["moe"]["shared_expert_gate"] = true;
  if (m.moe.router_bias) j["moe"]["router_bias"] = true;
  if (!m.moe.dense_layers.empty()) j["moe"]["dense_layers"] = m.moe.dense_layers;
  if (m.mla.enabled()) {
    j["mla"] = {{"q_lora_rank", m.mla.q_lora_rank},
                {"kv_lora_rank", m.mla.kv_lora_rank},
                {"qk_nope_head_dim", m.mla.qk_nope_head_dim},
                {"qk_rope_head_dim", m.mla.qk_rope_head_dim},
                {"v_head_dim", m.mla.v_head_dim}};
  }
  if (m.qk_norm) j["qk_norm"] = true;
  if (m.attention_sinks) j["attention_sinks"] = true;
  if (m.sliding_window > 0) j["sliding_window"] = m.sliding_window;
  if (m.mtp_layers > 0) j["mtp_layers"] = m.mtp_layers;
  j["params_published"] =
      m.params_published ? nlohmann::json(*m.params_published) : nlohmann::json(nullptr);
  j["sources"] = m.sources;
  return j;
}

nlohmann::json ToJson(const Cluster& c) {
  nlohmann::json j;
  j["name"] = c.name;
  j["gpu"] = {{"name", c.gpu.name},
              {"peak_tflops",
               {{"fp32", c.gpu.peak_tflops.fp32},
                {"tf32", c.gpu.peak_tflops.tf32},
                {"bf16", c.gpu.peak_tflops.bf16},
                {"fp16", c.gpu.peak_tflops.fp16},
                {"fp8", c.gpu.peak_tflops.fp8}}},
              {"hbm_gib", c.gpu.hbm_gib},
              {"hbm_GBps", c.gpu.hbm_GBps},
              {"sms", c.gpu.sms}};
  j["node"] = {{"gpus_per_node", c.node.gpus_per_node},
               {"intra",
                {{"name", c.node.intra.name},
                 {"GBps_per_gpu", c.node.intra.GBps_per_gpu},
                 {"latency_us", c.node.intra.latency_us},
                 {"bulk_latency_us", c.node.intra.bulk_latency_us},
                 {"bulk_saturation_mib", c.node.intra.bulk_saturation_mib},
                 {"nvls", c.node.intra.nvls},
                 {"topology", ToString(c.node.intra.topology)}}}};
  if (c.node.host_GBps_per_gpu > 0) j["node"]["host_GBps_per_gpu"] = c.node.host_GBps_per_gpu;
  if (c.node.host_gib_per_gpu > 0) j["node"]["host_gib_per_gpu"] = c.node.host_gib_per_gpu;
  if (c.node.intra.topology == IntraTopology::kNvlinkBridge) j["node"]["intra"]["bridge_gpus"] = c.node.intra.bridge_gpus;
  if (c.node.intra.topology != IntraTopology::kNvSwitch) {
    j["node"]["intra"]["pcie_busbw_GBps"] = c.node.intra.pcie_busbw_GBps;
  }
  j["fabric"] = {{"name", c.fabric.name},
                 {"transport", ToString(c.fabric.transport)},
                 {"nics_per_node", c.fabric.nics_per_node},
                 {"nic_Gbps", c.fabric.nic_Gbps},
                 {"latency_us", c.fabric.latency_us},
                 {"bulk_latency_us", c.fabric.bulk_latency_us},
                 {"bulk_saturation_mib", c.fabric.bulk_saturation_mib},
                 {"oversubscription", c.fabric.oversubscription}};
  const auto& e = c.efficiency;
  j["efficiency"] = {{"gemm_peak_fraction", e.gemm_peak_fraction},
                     {"attention_peak_fraction", e.attention_peak_fraction},
                     {"hbm_fraction", e.hbm_fraction},
                     {"nvlink_fraction", e.nvlink_fraction},
                     {"network_fraction", e.network_fraction},
                     {"kernel_launch_us", e.kernel_launch_us},
                     {"overlap_slowdown", e.overlap_slowdown},
                     {"gemm_fp8_peak_fraction", e.gemm_fp8_peak_fraction},
                     {"collective_launch_us", e.collective_launch_us},
                     {"group_launch_us", e.group_launch_us},
                     {"torch_call_us", e.torch_call_us},
                     {"nvls_fraction", e.nvls_fraction},
                     {"nvls_tree_fraction", e.nvls_tree_fraction},
                     {"reduce_scatter_fraction", e.reduce_scatter_fraction},
                     {"all_reduce_fraction", e.all_reduce_fraction},
                     {"gemm_sustained_fraction", e.gemm_sustained_fraction},
                     {"gemm_gpu_spread", e.gemm_gpu_spread},
                     {"step_sync_us", e.step_sync_us},
                     {"p2p_channel_GBps", e.p2p_channel_GBps},
                     {"p2p_part_mib", e.p2p_part_mib},
                     {"alltoall_fraction", e.alltoall_fraction}};
  const auto& ov = c.overhead;
  j["overhead"] = {{"cuda_context_gib", ov.cuda_context_gib},
                   {"nccl_gib", ov.nccl_gib},
                   {"allocator_fraction", ov.allocator_fraction},
                   {"reserve_gib", ov.reserve_gib}};
  if (!c.defaulted.empty()) j["defaulted"] = c.defaulted;
  return j;
}

nlohmann::json ToJson(const Layout& l) {
  nlohmann::json j = {{"tp", l.tp},     {"sp", l.sp},           {"fsdp", l.fsdp},
                      {"replicate", l.replicate}, {"zero", l.zero}, {"mbs", l.mbs},
                      {"recompute", ToString(l.recompute)},     {"recipe", ToString(l.recipe)},
                      {"pp", l.pp},     {"vpp", l.vpp}, {"schedule", ToString(l.schedule)},
                      {"cp", l.cp},     {"ep", l.ep}};
  if (l.ac_freq > 0) j["ac_freq"] = l.ac_freq;
  if (l.recompute_num_layers > 0) j["recompute_num_layers"] = l.recompute_num_layers;
  if (l.recompute == Recompute::kSelective && l.recompute_modules != kDefaultRecomputeModules) {
    nlohmann::json mods = nlohmann::json::array();
    for (int i = 0; i < kNumRecomputeModules; ++i) {
      if (l.recompute_modules & (1u << i)) mods.push_back(RecomputeModuleName(i));
    }
    j["recompute_modules"] = mods;
  }
  if (l.cpu_offload_layers > 0) j["cpu_offload_layers"] = l.cpu_offload_layers;
  if (l.partial_ckpt_mbs > 0) j["partial_ckpt_mbs"] = l.partial_ckpt_mbs;
  if (l.pp_first_layers > 0) j["pp_first_layers"] = l.pp_first_layers;
  if (l.pp_last_layers > 0) j["pp_last_layers"] = l.pp_last_layers;
  if (l.cp > 1) {
    j["cp_comm"] = ToString(l.cp_comm);
    j["cp_balance"] = l.cp_balance;
  }
  return j;
}

Layout LayoutFromJson(const nlohmann::json& j, std::string_view origin) {
  JsonObject o(j, std::string(origin), "layout");
  Layout l;
  l.tp = o.Int("tp", 1, kMaxDegree);
  l.sp = o.Bool("sp");
  l.fsdp = o.Int("fsdp", 1, kMaxDegree);
  l.replicate = o.Int("replicate", 1, kMaxDegree);
  l.zero = static_cast<int>(o.Int("zero", 1, 3));
  l.mbs = o.Int("mbs", 1, kMaxMicroBatch);
  std::string rc = o.Enum("recompute", {"none", "selective", "full", "op"});
  l.recompute = rc == "none" ? Recompute::kNone
                : rc == "selective" ? Recompute::kSelective
                : rc == "op"        ? Recompute::kOp
                                    : Recompute::kFull;
  if (o.Has("ac_freq")) l.ac_freq = o.Int("ac_freq", 1, kMaxDegree);
  if (o.Has("recompute_num_layers")) l.recompute_num_layers = o.Int("recompute_num_layers", 1, kMaxDegree);
  const bool modules_given = o.Has("recompute_modules");
  if (modules_given) {
    const nlohmann::json& mods = o.Array("recompute_modules");
    std::vector<std::string> names;
    for (const auto& v : mods) {
      if (!v.is_string()) o.Fail("recompute_modules", "must be an array of module names, got " + Describe(v));
      names.push_back(v.get<std::string>());
    }
    l.recompute_modules = ParseRecomputeModules(std::vector<std::string_view>(names.begin(), names.end()),
                                                o.origin() + ": " + o.PathOf("recompute_modules"));
  }
  if (o.Has("cpu_offload_layers")) l.cpu_offload_layers = o.Int("cpu_offload_layers", 1, kMaxDegree);
  if (o.Has("partial_ckpt_mbs")) l.partial_ckpt_mbs = o.Int("partial_ckpt_mbs", 1, kMaxMicroBatch);
  l.recipe = o.Enum("recipe", {"megatron", "fsdp2"}) == "megatron" ? Recipe::kMegatron
                                                                     : Recipe::kFsdp2;
  l.pp = o.Int("pp", 1, kMaxDegree);
  if (o.Has("vpp")) l.vpp = o.Int("vpp", 1, kMaxDegree);
  if (o.Has("schedule")) {
    const std::string sch = o.Enum("schedule", {"1f1b", "interleaved", "zb-h1"});
    l.schedule = ParseSchedule(sch, std::string(origin) + ": layout.schedule");
  }
  if (o.Has("pp_first_layers")) l.pp_first_layers = o.Int("pp_first_layers", 1, kMaxDegree);
  if (o.Has("pp_last_layers")) l.pp_last_layers = o.Int("pp_last_layers", 1, kMaxDegree);
  l.cp = o.Int("cp", 1, kMaxDegree);
  const bool comm_given = o.Has("cp_comm"), balance_given = o.Has("cp_balance");
  if (comm_given) {
    l.cp_comm = ParseCpComm(o.Enum("cp_comm", {"p2p", "all_gather", "a2a"}),
                            std::string(origin) + ": layout.cp_comm");
  }
  if (balance_given) l.cp_balance = o.Bool("cp_balance");
  if (o.Has("ep")) l.ep = o.Int("ep", 1, kMaxDegree);
  if (o.Has("grad_accum")) o.Int("grad_accum", 0, kMaxMicroBatch);
  o.Finish();
  if (!CheckedMul(l.tp, l.fsdp) || !CheckedMul(l.tp * l.fsdp, l.replicate) ||
      !CheckedMul(l.tp * l.fsdp * l.replicate, l.pp) ||
      !CheckedMul(l.tp * l.fsdp * l.replicate * l.pp, l.cp) || l.gpus() > kMaxDegree) {
    o.Fail("fsdp", "tp*fsdp*replicate*pp*cp is more than " + std::to_string(kMaxDegree) + " GPUs");
  }
  if (l.sp && l.tp == 1) o.Fail("sp", "sequence parallelism needs tp > 1");
  CheckRecomputeKeys(l, modules_given, std::string(origin) + ": layout");
  CheckPipelineKeys(l, o.Has("schedule"), std::string(origin) + ": layout");
  CheckContextKeys(l, comm_given, balance_given, std::string(origin) + ": layout");
  return l;
}

}  // namespace meshplan::costmodel
