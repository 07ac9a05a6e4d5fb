#include "tools/cli_common.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <vector>
#include <utility>

#include "costmodel/compute.h"
#include "costmodel/costable.h"
#include "costmodel/error.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::tools {
namespace {
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

CLI::Validator NumberIn(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        double v = 0;
        const char* end = text.data() + text.size();
        const auto res = std::from_chars(text.data(), end, v, std::chars_format::general);
        // 1e999 and 1e-400 are decimal numbers out of range (from_chars: result_out_of_range),
        // not malformed ones.
        const bool out_of_range = res.ec == std::errc::result_out_of_range;
        if (text.empty() || res.ptr != end || (res.ec != std::errc() && !out_of_range) || !std::isfinite(v)) {
          return "must be a decimal number, got '" + text + "'";
        }
        if (out_of_range) {
          return "must be in [" + Num(min) + ", " + Num(max) + "], got " + text + " (beyond a double's range)";
        }
        if (v < min || v > max) {
          return "must be in [" + Num(min) + ", " + Num(max) + "], got " + text;
        }
        return "";
      },
      "NUMBER in [" + Num(min) + ", " + Num(max) + "]");
}

CLI::Validator IntegerIn(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        int64_t v = 0;
        const char* end = text.data() + text.size();
        const auto res = std::from_chars(text.data(), end, v);
        if (res.ptr != end || (res.ec != std::errc() && res.ec != std::errc::result_out_of_range) ||
            text.empty()) {
          return "must be an integer, got '" + text + "'";
        }
        // CLI11 converts integers with base auto-detection: 010 would be 8 and 09 an error.
        const size_t digits = text.find_first_not_of("+-");
        if (text.size() - digits > 1 && text[digits] == '0') {
          return "must be a decimal integer without leading zeros, got '" + text + "'";
        }
        if (res.ec == std::errc::result_out_of_range || v < min || v > max) {
          return "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + text;
        }
        return "";
      },
      "INT in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
}

void AddWorkloadFlags(CLI::App* app, WorkloadOptions& o, bool gpus_required, bool batch_required) {
  app->add_option("--model", o.model, "built-in model name, meshplan model JSON or HF config.json")
      ->required();
  app->add_option("--cluster", o.cluster, "built-in cluster name or cluster JSON")->required();
  if (gpus_required) {
    app->add_option("--gpus", o.gpus, "number of GPUs")->required()->check(IntegerIn(1, kMaxGpus));
  }
  if (batch_required) {
    // Required unless --global-batch-tokens gives it (ResolveGlobalBatchTokens).
    app->add_option("--global-batch", o.global_batch, "sequences per optimizer step")
        ->check(IntegerIn(1, kMaxGlobalBatch));
    app->add_option("--seq", o.seq, "tokens per sequence")->required()->check(IntegerIn(1, kMaxSeq));
  }
  app->add_option("--recipe", o.recipe, "megatron | fsdp2");
  app->add_option("--reduce-dtype", o.reduce_dtype, "gradient reduction dtype: fp32 | bf16");
  app->add_flag("--no-flash-attention", o.no_flash_attention,
                "unfused attention (keeps the s^2 scores, as Megatron did in 2022)");
  AddKernelFlags(app, o);
  app->add_flag("--allow-cross-node-tp", o.allow_cross_node_tp,
                "let tensor parallelism span nodes");
  AddCalibrationFlags(app, o);
  if (batch_required) {
    app->add_option("--global-batch-tokens", o.global_batch_tokens,
                    "tokens per optimizer step instead of --global-batch, e.g. 4M (= 4194304) or 4194304; "
                    "a multiple of --seq")
        ->excludes("--global-batch");
  }
}

void AddCalibrationFlags(CLI::App* app, WorkloadOptions& o) {
  CLI::Option* calib = app->add_option(
      "--calibration", o.calibration,
      "calibration profile (a data/calibration name or a profile JSON from 'meshplan calibrate'); default: the "
      "cluster's shipped profile");
  app->add_flag("--no-calibration", o.no_calibration, "the uncalibrated model (no shipped profile)")->excludes(calib);
}

int64_t ParseTokenCount(const std::string& text, const std::string& flag) {
  const std::string bad = "must be a token count: decimal digits with an optional K, M or G suffix "
                          "(x 2^10, 2^20, 2^30), got '" + text + "'";
  if (text.empty()) throw Error(flag, bad);
  int shift = 0;
  std::string digits = text;
  switch (text.back()) {
    case 'K': case 'k': shift = 10; break;
    case 'M': case 'm': shift = 20; break;
    case 'G': case 'g': shift = 30; break;
    default: break;
  }
  if (shift > 0) digits.pop_back();
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) throw Error(flag, bad);
  if (digits.size() > 1 && digits[0] == '0') {
    throw Error(flag, "must be a decimal integer without leading zeros, got '" + text + "'");
  }
  const int64_t max_tokens = kMaxGlobalBatch * kMaxSeq;  // 2^54
  uint64_t v = 0;
  const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (res.ec != std::errc() || v > (static_cast<uint64_t>(max_tokens) >> shift)) {
    throw Error(flag, "must be at most 2^54 tokens (global batch 2^30 x seq 2^24), got '" + text + "'");
  }
  const int64_t tokens = static_cast<int64_t>(v << shift);
  if (tokens < 1) throw Error(flag, "must be at least 1 token, got '" + text + "'");
  return tokens;
}

void ResolveGlobalBatchTokens(WorkloadOptions& o, bool required) {
  if (o.global_batch_tokens.empty()) {
    if (required && o.global_batch == 0) throw Error("--global-batch", "required (or --global-batch-tokens)");
    return;
  }
  if (o.global_batch != 0) throw Error("--global-batch-tokens", "give it or --global-batch, not both");
  const int64_t tokens = ParseTokenCount(o.global_batch_tokens, "--global-batch-tokens");
  if (o.seq < 1) throw Error("--global-batch-tokens", "needs --seq to turn tokens into sequences");
  if (tokens % o.seq != 0) {
    throw Error("--global-batch-tokens", std::to_string(tokens) + " tokens is not a multiple of --seq " +
                                             std::to_string(o.seq) + " (" + std::to_string(tokens / o.seq) +
                                             " or " + std::to_string(tokens / o.seq + 1) + " sequences?)");
  }
  if (tokens / o.seq > kMaxGlobalBatch) {
    throw Error("--global-batch-tokens", std::to_string(tokens / o.seq) + " sequences of " + std::to_string(o.seq) +
                                             " tokens: more than the largest global batch, " +
                                             std::to_string(kMaxGlobalBatch));
  }
  o.global_batch = tokens / o.seq;
  o.global_batch_tokens.clear();
}

std::string CalibrationWhy(const WorkloadOptions& o, const costmodel::Cluster& calibrated) {
  if (o.no_calibration) return "--no-calibration: the uncalibrated model";
  if (!o.calibration.empty()) return "--calibration " + o.calibration;
  if (calibrated.calibration.empty() && o.cluster != calibrated.name) {
    return "a cluster file gets no shipped profile; --calibration NAME applies one";
  }
  if (calibrated.calibration.empty()) {
    return "no shipped profile for cluster " + calibrated.name + " in data/calibration: the uncalibrated model";
  }
  return "the shipped profile of cluster " + calibrated.name + ", data/calibration/" + calibrated.calibration +
         ".json; --no-calibration for the uncalibrated model";
}

void AddKernelFlags(CLI::App* app, WorkloadOptions& o) {
  CLI::Option* version =
      app->add_option("--flash-version", o.flash_version,
                      "FlashAttention generation: 1 (or its Triton port), 2 (default), 3 (Hopper)")
          ->check(IntegerIn(1, 3));
  if (CLI::Option* unfused = app->get_option_no_throw("--no-flash-attention")) version->excludes(unfused);
  app->add_flag("--eager-elementwise", o.eager_elementwise,
                "PyTorch eager RMSNorm, SwiGLU and RoPE (no torch.compile, no fused kernels)");
  app->add_flag_callback("--fsdp1", [&o] { o.fsdp1 = o.fsdp1_given = true; },
                "the fsdp2 recipe sharded by FSDP1 (FullyShardedDataParallel's flat parameters, as Composer / "
                "llm-foundry run it): no copies around the all-gathers and reduce-scatters, which FSDP2 "
                "(fully_shard) runs on the compute stream");
  app->add_option("--precision", o.precision,
                  "bf16 (default) | fp8: the linear layers' GEMMs in FP8 with TransformerEngine "
                  "(--fp8-recipe; attention and the output head stay BF16)");
  app->add_option("--fp8-recipe", o.fp8_recipe,
                  "with --precision fp8: te-delayed (default: TransformerEngine delayed scaling, Megatron-LM "
                  "--fp8-recipe delayed) | te-tensorwise (per-tensor current scaling, --fp8-recipe tensorwise) | "
                  "torchao-tensorwise | torchao-rowwise | torchao-rowwise-gw-hp (torchao's Float8Linear, torchtitan "
                  "[float8] recipe_name tensorwise, rowwise, rowwise_with_gw_hp)");
  app->add_flag("--fp8-param-gather", o.fp8_param_gather,
                "parameters kept in FP8 (Megatron-LM --fp8-param-gather, NeMo fp8_params): "
                "1-byte parameter all-gather, no separate FP8 weight copy");
  app->add_option("--mfu-convention", o.mfu_convention,
                  "attention FLOPs in MFU: noncausal (default: PaLM, torchtitan, Megatron-LM "
                  "logs) | causal (halved, as NVIDIA's performance tables count)");
  app->add_option("--moe-capacity-factor", o.moe_capacity_factor,
                  "MoE: tokens an expert takes, over its even share (Megatron-LM "
                  "--moe-expert-capacity-factor; default: dropless)")
      ->check(NumberIn(0.01, 64));
  app->add_flag("--moe-pad-to-capacity", o.moe_pad_to_capacity,
                "MoE: every expert computes its full capacity (--moe-pad-expert-input-to-capacity)");
  app->add_option("--moe-imbalance", o.moe_imbalance,
                  "MoE, dropless: the busiest expert-parallel rank's routed tokens over its even "
                  "share (default 1: even routing, an assumption)")
      ->check(NumberIn(1, 64));
}

costmodel::Cluster ResolveCalibratedCluster(const std::string& cluster, const std::string& calibration) {
  costmodel::Cluster c = costmodel::ResolveCluster(cluster, "--cluster");
  if (!calibration.empty()) {
    costmodel::ApplyCalibration(costmodel::ResolveCalibration(calibration, "--calibration"), c,
                                "--calibration");
  }
  return c;
}

costmodel::Cluster ResolveCalibratedCluster(const WorkloadOptions& o) {
  if (!o.calibration.empty() || o.no_calibration) {
    return ResolveCalibratedCluster(o.cluster, o.no_calibration ? std::string() : o.calibration);
  }
  costmodel::Cluster c = costmodel::ResolveCluster(o.cluster, "--cluster");
  // Only a built-in cluster named as such: a cluster file is the user's own system, even when it
  // kept the name of the file it was copied from.
  const std::string shipped = o.cluster == c.name ? costmodel::ShippedCalibrationFor(c.name) : "";
  if (!shipped.empty()) {
    costmodel::ApplyCalibration(costmodel::ResolveCalibration(shipped, "data/calibration"), c, "data/calibration");
  }
  return c;
}

costmodel::Workload MakeWorkload(const WorkloadOptions& o, const costmodel::Model& m,
                                 const costmodel::Cluster& c, int64_t gpus, int64_t global_batch,
                                 int64_t seq) {
  costmodel::RequireCostable(m, 0);  // an MLA model: refused before any flag is judged
  if (gpus < 1 || gpus > kMaxGpus) {
    throw Error("--gpus", "must be in [1, " + std::to_string(kMaxGpus) + "], got " +
                              std::to_string(gpus));
  }
  const int64_t gpn = c.node.gpus_per_node;
  if (gpus > gpn && gpus % gpn != 0) {
    throw Error("--gpus", "must be a multiple of the cluster's " + std::to_string(gpn) +
                              " GPUs per node when it spans nodes, got " + std::to_string(gpus));
  }
  if (global_batch < 1 || global_batch > kMaxGlobalBatch) {
    throw Error("--global-batch", "must be in [1, " + std::to_string(kMaxGlobalBatch) + "], got " +
                                      std::to_string(global_batch));
  }
  if (seq < 1 || seq > kMaxSeq) {
    throw Error("--seq", "must be in [1, " + std::to_string(kMaxSeq) + "], got " + std::to_string(seq));
  }
  costmodel::RequireCostable(m, seq);  // a sliding window shorter than --seq
  if (m.position == costmodel::Position::kLearned && seq > m.max_seq) {
    throw Error("--seq", "model " + m.name + " has learned positions for at most " +
                             std::to_string(m.max_seq) + " tokens, got " + std::to_string(seq));
  }
  costmodel::Workload w;
  w.gpus = gpus;
  w.global_batch = global_batch;
  w.seq = seq;
  w.flash_attention = !o.no_flash_attention;
  w.flash_version = o.flash_version;
  w.eager_elementwise = o.eager_elementwise;
  w.fsdp2_copies = !o.fsdp1;
  static_cast<costmodel::WorkloadSwitches&>(w) = o;
  w.te_attention = o.te_attention && w.flash_attention;
  if (!costmodel::AttentionRunsOn(w, c.gpu.name)) {
    throw Error("--flash-version", "FlashAttention-3 runs only on Hopper GPUs (H100/H200), cluster " +
                                       c.name + " has " + c.gpu.name);
  }
  w.reduce_dtype = costmodel::ParseDtype(o.reduce_dtype, "--reduce-dtype");
  w.allow_cross_node_tp = o.allow_cross_node_tp;
  w.precision = costmodel::ParsePrecision(o.precision, "--precision");
  if (w.precision == costmodel::Precision::kFp8) costmodel::CheckFp8Runs(c, "--precision");
  if (o.fp8_param_gather && w.precision != costmodel::Precision::kFp8) {
    throw Error("--fp8-param-gather", "needs --precision fp8");
  }
  w.fp8_param_gather = o.fp8_param_gather;
  if (!o.fp8_recipe.empty()) {
    if (w.precision != costmodel::Precision::kFp8) throw Error("--fp8-recipe", "needs --precision fp8");
    w.fp8_recipe = costmodel::ParseFp8Recipe(o.fp8_recipe, "--fp8-recipe");
  }
  if (w.fp8_param_gather && costmodel::RowwiseFp8(w.fp8_recipe)) {
    // torchao/float8/config.py __post_init__: "enable_fsdp_float8_all_gather only supports
    // tensorwise scaling granularity".
    throw Error("--fp8-param-gather", "with --fp8-recipe " + std::string(costmodel::ToString(w.fp8_recipe)) +
                                          ": FSDP's float8 all-gather only supports tensorwise scaling (torchao)");
  }
  const bool moe_flags = o.moe_capacity_factor > 0 || o.moe_pad_to_capacity || o.moe_imbalance > 0;
  if (moe_flags && m.moe.dense()) {
    throw Error(o.moe_capacity_factor > 0 ? "--moe-capacity-factor"
                : o.moe_pad_to_capacity   ? "--moe-pad-to-capacity"
                                          : "--moe-imbalance",
                "needs a mixture-of-experts model; " + m.name + " is dense");
  }
  if (o.moe_pad_to_capacity && o.moe_capacity_factor <= 0) {
    throw Error("--moe-pad-to-capacity", "needs --moe-capacity-factor (padding is to a capacity)");
  }
  if (o.moe_imbalance > 0 && o.moe_capacity_factor > 0 && o.moe_pad_to_capacity) {
    throw Error("--moe-imbalance", "has no effect with --moe-pad-to-capacity (every expert computes its capacity)");
  }
  w.moe_capacity_factor = o.moe_capacity_factor;
  w.moe_pad_to_capacity = o.moe_pad_to_capacity;
  w.moe_imbalance = o.moe_imbalance;
  if (o.mfu_convention == "causal") {
    w.mfu_causal = true;
  } else if (o.mfu_convention != "noncausal") {
    throw Error("--mfu-convention", "must be causal or noncausal, got '" + o.mfu_convention + "'");
  }
  // FP8 GEMMs take the best-shape FP8 fraction; where a calibration profile put BF16 GEMMs below
  // it (fitted to measured shapes: dgx-b200's 0.504 against 0.744), FP8's speedup over BF16 is
  // larger than the two best shapes give, and no measurement says by how much (README, FP8).
  if (w.precision == costmodel::Precision::kFp8 && !c.calibration.empty() &&
      c.efficiency.gemm_peak_fraction < c.efficiency.gemm_fp8_peak_fraction) {
    static std::set<std::string> said;
    if (said.insert(c.name).second) {
      const auto fraction = [](double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.3f", v);
        return std::string(b);
      };
      NoteLine("meshplan: note: --precision fp8 on " + c.name + ": BF16 GEMMs are priced at calibration " +
               c.calibration + "'s fraction " + fraction(c.efficiency.gemm_peak_fraction) +
               " (fitted to measured shapes), FP8 GEMMs at the best-shape FP8 fraction " +
               fraction(c.efficiency.gemm_fp8_peak_fraction) +
               ": FP8's speedup over BF16 is likely optimistic (no FP8 GEMM of real shapes is measured here)");
    }
  }
  if (m.max_seq > 0 && seq > m.max_seq) {
    // Rotary positions extrapolate, so this prices; the model was trained to max_seq, though.
    // Said once per model and length (a sweep resolves each point).
    static std::set<std::pair<std::string, int64_t>> said;
    if (said.insert({m.name, seq}).second) {
      NoteLine("meshplan: note: --seq " + std::to_string(seq) + " is past the " + std::to_string(m.max_seq) +
               " positions " + m.name + " was trained to: priced as given (running it needs RoPE scaling or "
               "long-context training)");
    }
  }
  return w;
}

namespace {
/// --fsdp1 given where the recipe is not fsdp2: `whose` says where that recipe came from.
[[noreturn]] void Fsdp1WithoutFsdp2(const std::string& whose) {
  throw Error("--fsdp1", "runs the fsdp2 recipe with FSDP1; " + whose + ", which has no FSDP1 variant");
}
}  // namespace

void NoteIfFrameworkCannotRun(const WorkloadOptions& o, const costmodel::Layout& l, const std::string& what) {
  if (!o.framework_layouts) return;
  const std::string why = plans::FrameworkLayoutProblem(*o.framework_layouts, o.framework, l);
  if (!why.empty()) NoteLine("meshplan: note: --framework " + o.framework + " cannot run " + what + " (" + why + "): priced as given");
}

void CheckFsdp1(const WorkloadOptions& o, const costmodel::Layout& l, const std::string& where) {
  if (!o.fsdp1_given || l.recipe == costmodel::Recipe::kFsdp2) return;
  Fsdp1WithoutFsdp2(where + " has recipe=" + std::string(costmodel::ToString(l.recipe)));
}

Resolved Resolve(const WorkloadOptions& in) {
  WorkloadOptions o = in;
  ResolveGlobalBatchTokens(o);
  Resolved r;
  r.model = costmodel::ResolveModel(o.model, "--model");
  r.cluster = ResolveCalibratedCluster(o);
  if (!o.recipe.empty() && costmodel::ParseRecipe(o.recipe, "--recipe") != costmodel::Recipe::kFsdp2 && o.fsdp1_given) {
    Fsdp1WithoutFsdp2(o.recipe_from + " gives recipe " + o.recipe);
  }
  r.workload = MakeWorkload(o, r.model, r.cluster, o.gpus, o.global_batch, o.seq);
  return r;
}

int64_t SimulatedTasksBound(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                            const costmodel::Evaluation& e) {
  const double layers = static_cast<double>(std::max<int64_t>(1, ev.model().layers));
  const double mb = std::max(1.0, std::ceil(e.parts.micro_batches - 1e-9));
  const double bound = l.pp > 1 ? static_cast<double>(l.pp) * static_cast<double>(l.vpp) * mb * 3 + 1
                                : mb * (6 + (l.cp > 1 ? 19 : 7) * layers) + 3 * layers + 1;  // CP: 12 more per layer
  return bound > 9e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(bound);
}

void WriteFilesAtomic(const std::vector<OutputFile>& files) { costmodel::WriteOutputFiles(files); }

void WriteFileAtomic(const std::string& path, const std::string& content, const std::string& flag) {
  WriteFilesAtomic({{path, content, flag}});
}

namespace {
/// The options whose values are files meshplan writes. A new output flag must be listed here:
/// unlisted, its value would be checked as an input.
bool IsOutputOption(const CLI::Option& opt) {
  for (const char* name : {"json", "trace", "html", "out", "output", "emit-torchtitan", "emit-megatron", "error-bands", "template"}) {
    if (opt.check_lname(name)) return true;
  }
  return false;
}
}  // namespace

namespace {
int g_stdout_errno = 0;

/// The data file a built-in name given to `flag` is read from (costmodel::Resolve*,
/// plans::ResolveFramework), or "" for a path or a flag that takes no built-in names.
std::string BuiltinFile(const std::string& flag, const std::string& value) {
  if (value.find('/') != std::string::npos || value.ends_with(".json")) return "";
  const char* kind = flag == "--model"         ? "models"
                     : flag == "--cluster"     ? "clusters"
                     : flag == "--calibration" ? "calibration"
                     : flag == "--framework"   ? "frameworks"
                                               : nullptr;
  if (kind == nullptr) return "";
  return (std::filesystem::path(costmodel::DataDir()) / kind / (value + ".json")).string();
}
}  // namespace

void FlushStdout() {
  errno = 0;
  if (std::fflush(stdout) != 0 && g_stdout_errno == 0) g_stdout_errno = errno;
}

int StdoutErrno() { return g_stdout_errno; }

namespace {
std::vector<std::string>& PendingNotes() {
  static std::vector<std::string> notes;
  return notes;
}
}  // namespace

void NoteLine(const std::string& line) { PendingNotes().push_back(line); }

void FlushNotes() {
  if (PendingNotes().empty()) return;
  FlushStdout();
  std::string text;
  for (const std::string& n : PendingNotes()) text += n + "\n";
  PendingNotes().clear();
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

void DiscardNotes() { PendingNotes().clear(); }

void CheckListSyntax(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* sub = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      if (sub == &app) {
        for (const CLI::App* s : app.get_subcommands({})) {
          if (s->check_name(arg)) sub = s;
        }
      }
      continue;
    }
    const size_t eq = arg.find('=');
    const CLI::Option* opt = sub->get_option_no_throw(arg.substr(0, eq));
    if (opt == nullptr || opt->get_delimiter() == '\0') continue;
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    const std::string sep(1, opt->get_delimiter());
    if (value.empty()) continue;  // PreflightFiles says it
    if (value.find(sep + sep) != std::string::npos || value.rfind(sep, 0) == 0 ||
        value.compare(value.size() - 1, 1, sep) == 0) {
      throw Error(opt->get_name(), "has an empty element in the list '" + value + "'");
    }
  }
}

void PreflightFiles(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    std::vector<costmodel::OutputTarget> outputs;
    std::vector<std::pair<std::string, std::string>> inputs;  // (flag, value)
    // Files read without a flag of their own: (file, what it is, for the error).
    std::vector<std::pair<std::string, std::string>> shipped;
    for (const CLI::Option* opt : sub->get_options()) {
      if (opt->get_expected_max() == 0 || opt->count() == 0) continue;  // flags, options not given
      const std::string flag = opt->get_name();
      for (const std::string& v : opt->results()) {
        if (v.empty()) throw Error(flag, "must not be empty");
        if (IsOutputOption(*opt)) {
          outputs.push_back(costmodel::CheckOutputTarget(v, flag));
          for (size_t i = 0; i + 1 < outputs.size(); ++i) {
            if (costmodel::SameOutput(outputs[i], outputs.back())) {
              throw Error(flag, "names the same file as " + outputs[i].flag + " ('" + v + "')");
            }
          }
        } else {
          inputs.emplace_back(flag, v);
          // A log's sidecar is read with it (accuracy, calibrate: X.meta.json beside X).
          if (flag == "--nccl-tests") {
            shipped.emplace_back(v + ".meta.json",
                                 "the sidecar of a log given to --nccl-tests: refusing to overwrite an input");
          }
        }
      }
    }
    // Shipped data read without a flag: a cluster's calibration profile (every command that
    // prices a cluster looks through data/calibration/) and the accuracy bands (plan's ties).
    // Only the commands that regenerate them write there: calibrate (-o) and accuracy
    // (--error-bands), as tools/calibrate_shipped.sh and data/accuracy/README.md run them.
    // Listed once per command, and only when it writes something.
    if (!outputs.empty()) {
      const std::filesystem::path data(costmodel::DataDir());
      std::error_code ec;
      if (sub->get_name() != "calibrate") {
        for (const auto& entry : std::filesystem::directory_iterator(data / "calibration", ec)) {
          if (entry.path().extension() != ".json") continue;
          shipped.emplace_back(entry.path().string(),
                               "the shipped calibration profile " + entry.path().string() +
                                   ", read by every command that prices its cluster: refusing to overwrite an "
                                   "input (calibrate -o regenerates it)");
        }
      }
      // The data directory's inputs, read by name or behind a flag (built-in models, clusters
      // and frameworks; the reference files, the mapping's phrase tables and the shipped
      // profiles' inputs that accuracy --leave-source-out refits from).
      for (const char* folder : {"models", "clusters", "frameworks", "reference", "calibration/inputs"}) {
        for (auto it = std::filesystem::recursive_directory_iterator(data / folder, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
          if (!it->is_regular_file(ec)) continue;
          shipped.emplace_back(it->path().string(), "a file of the data directory's " + std::string(folder) +
                                                        "/, which meshplan reads: refusing to overwrite an input");
        }
        ec.clear();
      }
      if (sub->get_name() != "accuracy") {
        const std::string bands = (data / "accuracy" / "error_bands.json").string();
        shipped.emplace_back(bands, "the accuracy bands file " + bands +
                                        " that plan reads: refusing to overwrite an input (accuracy --error-bands "
                                        "regenerates it)");
      }
    }
    // Every other value that names an existing file is (or may be) read: a built-in name that
    // happens to be a file here too is compared as well, which only ever refuses more.
    for (const auto& out : outputs) {
      for (const auto& [flag, value] : inputs) {
        if (costmodel::OutputIsInput(out, value)) {
          throw Error(out.flag, "'" + out.path + "' is the file given to " + flag +
                                    ": refusing to overwrite an input");
        }
        // A built-in name is read from the data directory (costmodel/zoo.cc): --json
        // data/models/tiny-llama.json with --model tiny-llama replaced the built-in model.
        const std::string builtin = BuiltinFile(flag, value);
        if (!builtin.empty() && costmodel::OutputIsInput(out, builtin)) {
          throw Error(out.flag, "'" + out.path + "' is the built-in file " + flag + " " + value + " reads (" +
                                    builtin + "): refusing to overwrite an input");
        }
      }
      for (const auto& [file, what] : shipped) {
        if (costmodel::OutputIsInput(out, file)) throw Error(out.flag, "'" + out.path + "' is " + what);
      }
    }
    PreflightFiles(*sub);
  }
}

}  // namespace meshplan::tools
