// File: tools/launch_config.cc
// torchtitan TOML and Megatron-LM arguments, out of and into a meshplan Layout.
//
// Sources (read with the project's code search; a later release may rename a key):
// - torchtitan job config keys, defaults and meanings: pytorch/torchtitan
//   torchtitan/config/job_config.py at 6404b932421f5ce382e7dac5ad381b2c17b1373c
//   ([parallelism] data_parallel_replicate_degree, data_parallel_shard_degree (-1: the rest),
//   fsdp_reshard_after_forward default|always|never, tensor_parallel_degree,
//   pipeline_parallel_degree, pipeline_parallel_schedule "1F1B",
//   pipeline_parallel_layers_per_stage, pipeline_parallel_first/last_stage_less_layers (default 1),
//   pipeline_parallel_microbatch_size (default 1), context_parallel_degree,
//   context_parallel_rotate_method allgather (default) | alltoall; [training]
//   local_batch_size (default 8), global_batch_size (-1: local x dp), seq_len (default 2048),
//   mixed_precision_param bfloat16, mixed_precision_reduce float32 only; [activation_checkpoint]
//   mode selective|full|none, default selective, with selective_ac_option "2" (every 2nd block)
//   or "op" (per-op policy)).
// - Virtual stages and the layer split: torchtitan/models/llama3/infra/pipeline.py at
//   d10b9debf2d4507d3ec7e63c3f209529b5cb616c (num_virtual_stages = ceil((layers + first_less +
//   last_less) / layers_per_stage), single-stage schedules need 1 stage per rank, multi-stage
//   ones >= 2, default 1 or 2) and torchtitan/distributed/pipeline_parallel.py at
//   fb3b230e2a050885057a1a02f167658b0cb6c5ac (generate_llm_fqn_per_model_part; looped stage
//   placement: rank r holds stages r, r + pp, ...; n_microbatches = local_batch_size /
//   pipeline_parallel_microbatch_size).
// - fsdp_reshard_after_forward: torchtitan/models/llama3/infra/parallelize.py at
//   81c1243395b46ce693a0681cfe1bb20e9b9433fb, apply_fsdp: always -> True, never -> False,
//   default -> not pp_enabled; its DDP path (shard degree 1) raises "DDP has not supported > 1D
//   parallelism" next to TP or PP.
// - Schedule names: torch.distributed.pipelining.schedules.get_schedule_class (1F1B and GPipe
//   run one stage per rank; Interleaved1F1B, LoopedBFS, InterleavedZeroBubble, ZBVZeroBubble and
//   DualPipeV run several). Entry point: torchrun ... -m torchtitan.train --job.config_file F
//   (torchtitan/train.py, Job.config_file).
// - Megatron-LM flags: NVIDIA/Megatron-LM megatron/training/arguments.py at
//   307dcf37f03d44da131ba21999278abe4112d2ad (--tensor-model-parallel-size,
//   --pipeline-model-parallel-size, --num-layers-per-virtual-pipeline-stage,
//   --context-parallel-size, --micro-batch-size, --global-batch-size (default micro x dp),
//   --seq-length, --sequence-parallel, --recompute-granularity full|selective ("selective: core
//   attention part of the transformer layer is recomputed"), --recompute-modules (selective's
//   submodules, megatron/core/transformer/transformer_config.py recompute_modules @002526d:
//   core_attn by default, layernorm, mlp, moe_act, moe, shared_experts), --recompute-method uniform|block,
//   --recompute-num-layers, --use-distributed-optimizer, --overlap-grad-reduce,
//   --overlap-param-gather (needs the distributed optimizer and --overlap-grad-reduce), --bf16
//   (forces fp32 gradient accumulation and all-reduce)), and
//   megatron/training/argument_utils.py at 003579558fa320cbedaab8b5d1ee7b976bb3f38c
//   (args.decoder_first_pipeline_num_layers / args.decoder_last_pipeline_num_layers, i.e.
//   --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers);
//   --num-virtual-stages-per-pipeline-rank, --account-for-embedding-in-pipeline-split and
//   --account-for-loss-in-pipeline-split (Megatron-Core transformer_block.py
//   get_num_layers_to_build: (layers + 1 + 1) / pp slots per stage, (that) / vpp per virtual
//   stage, the first virtual stage of rank 0 and the last of rank pp-1 one layer short; NeMo 2.0's
//   llama31_405b recipe sets both, as the DGX Cloud records say).
//   Megatron's distributed optimizer shards the optimizer states over the whole data-parallel
//   group and keeps full fp32 main gradients (6 + 12/d bytes per parameter): ZeRO-1.
//   Interleaving with pp = 2: arguments.py at 307dcf37 asserts pp > 2, Megatron-Core's
//   megatron/core/parallel_state.py at 934c8260ada361db9b155d504c5b20600731d773 (the releases
//   with --decoder-first-pipeline-num-layers) needs only pp > 1; these files follow the latter.
//   --cp-comm-type is not in arguments.py at 307dcf37 (it has --context-parallel-size alone);
//   later versions add it (nargs '+', default ["p2p"]) and pass it to Megatron-Core's
//   TransformerConfig.cp_comm_type, whose values Transformer Engine's attention takes: p2p,
//   all_gather, a2a, a2a+p2p (meshplan writes and reads the first three; the help text spells
//   it "allgather", but Transformer Engine's attn_forward_func_with_cp branches on "all_gather").
//   Not emitted, because the upstream file read above does not have them: --use-torch-fsdp2,
//   --num-distributed-optimizer-instances, Megatron-FSDP.
#include "tools/launch_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/pipeline.h"
#include "costmodel/spec_io.h"

namespace meshplan::tools {
namespace {
using costmodel::Layout;
using costmodel::Recipe;
using costmodel::Recompute;
using costmodel::Schedule;

std::string Str(int64_t v) { return std::to_string(v); }


/// The torchrun line's node count and processes per node.
std::string TorchrunHead(const LaunchTarget& t) {
  const int64_t gpn = t.cluster.node.gpus_per_node, g = t.workload.gpus;
  const int64_t nodes = g <= gpn ? 1 : g / gpn;
  const int64_t per_node = g <= gpn ? g : gpn;
  return "torchrun --nnodes " + Str(nodes) + " --nproc-per-node " + Str(per_node);
}

/// Transformer layers of stages 0, 1, ..., p*v-1 (virtual stage c*p + r on rank r) for `l`.
/// With vpp > 1 an explicitly lighter first (last) stage holds its embedding (loss) in one layer
/// slot of its first (last) chunk (pipeline.h SplitLayers), as Megatron-Core's
/// get_num_layers_to_build does with --account-for-embedding-in-pipeline-split
/// (--account-for-loss-in-pipeline-split): that chunk builds one layer fewer.
std::vector<int64_t> MeshplanStageLayers(const Layout& l, const costmodel::StageSplit& s) {
  std::vector<int64_t> out;
  for (int64_t c = 0; c < l.vpp; ++c) {
    for (int64_t r = 0; r < l.pp; ++r) {
      const bool embedding = l.vpp > 1 && r == 0 && l.pp_first_layers > 0;
      const bool loss = l.vpp > 1 && r == l.pp - 1 && l.pp_last_layers > 0;
      const int64_t per_chunk = (s.LayersOf(r, l.pp) + (embedding ? 1 : 0) + (loss ? 1 : 0)) / l.vpp;
      out.push_back(per_chunk - (embedding && c == 0 ? 1 : 0) - (loss && c == l.vpp - 1 ? 1 : 0));
    }
  }
  return out;
}

/// Whether `l`'s uneven split is Megatron-LM's form with vpp > 1: the embedding (a lighter first
/// stage) and / or the loss (a lighter last stage) counted as layers of the split
/// (costmodel::AccountedSplit).
bool IsMegatronAccountedSplit(const Layout& l, const costmodel::StageSplit& s, int64_t layers) {
  const bool embedding = l.pp_first_layers > 0, loss = l.pp_last_layers > 0;
  int64_t first = 0, last = 0;
  const int64_t each = l.pp < 2 ? 0 : costmodel::AccountedSplit(layers, l.pp, embedding, loss, first, last);
  if (each == 0) return false;
  return s.first == (embedding ? first : each) && s.last == (loss ? last : each) && (l.pp <= 2 || s.middle == each);
}

/// Checks shared by both emitters; `fail` throws.
template <typename Fail>
costmodel::StageSplit CommonChecks(const LaunchTarget& t, const Layout& l, Fail fail) {
  const costmodel::Workload& w = t.workload;
  if (l.cp > 1 && !l.cp_balance) {
    fail("cp_balance=off", "both frameworks balance the causal load over the CP ranks (Megatron-LM "
                           "get_batch_on_this_cp_rank, PyTorch context_parallel's load balancer)");
  }
  if (!w.flash_attention) {
    fail("--no-flash-attention", "both frameworks run fused (flash) attention; meshplan would cost unfused attention");
  }
  if (w.reduce_dtype == costmodel::Dtype::kBf16) {
    fail("--reduce-dtype bf16", "both frameworks reduce bf16 gradients in fp32 (torchtitan's "
                                "training.mixed_precision_reduce accepts float32 only; Megatron-LM's --bf16 "
                                "forces fp32 gradient accumulation and all-reduce)");
  }
  if (l.gpus() != w.gpus) fail("layout", "degrees multiply to " + Str(l.gpus()) + ", not --gpus " + Str(w.gpus));
  const int64_t dp = l.dp();
  if (w.global_batch % (dp * l.mbs) != 0) {
    fail("mbs=" + Str(l.mbs), "the global batch " + Str(w.global_batch) + " is not a multiple of dp " + Str(dp) +
                                  " x mbs " + Str(l.mbs));
  }
  costmodel::StageSplit split;
  std::string why;
  if (!costmodel::SplitLayers(l, t.model.layers, split, &why)) fail("pp=" + Str(l.pp), why);
  return split;
}

/// Length of the valid UTF-8 sequence (RFC 3629: no overlongs, surrogates or code points past
/// U+10FFFF) at the start of `s`, or 0.
size_t Utf8Length(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (b(i) < 0x80 || b(i) > 0xbf) return 0;
  }
  return n;
}

/// Text that stays inside one comment line of a TOML (which must be UTF-8) or an arguments file:
/// control characters and bytes that are not UTF-8 become \n, \xHH. A model named
/// "x\n--tensor-model-parallel-size 8" must not add a flag.
std::string CommentText(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = Utf8Length(s.substr(i));
    if (n == 0 || c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += c == '\n' ? "\\n" : buf;
      i += 1;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

/// `path` as one shell word for the launch line of a comment: bare when it has only safe
/// characters, in single quotes when it is printable UTF-8, else in bash's $'...' with \xHH
/// escapes (a newline or a byte that is not UTF-8 in the file name).
std::string ShellWord(std::string_view path) {
  if (!path.empty() && path.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789-_./=:,+@%") == std::string_view::npos) {
    return std::string(path);
  }
  if (CommentText(path) == path) {
    std::string q = "'";
    for (char c : path) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  }
  std::string q = "$'";
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\'' || c == '\\') {
      q += '\\';
      q += ch;
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      q += buf;
    } else {
      q += ch;
    }
  }
  return q + "'";
}

std::string ScheduleComment(const Layout& l) {
  return "# meshplan layout: " + costmodel::LayoutToText(l) + "\n";
}

// ------------------------------------------------------------------------- reading helpers
/// Integers in launch files are decimal, as the CLI's (IntegerIn): TOML's 0x10 and Python's
/// int("010") would read as 16 and 10 where a user may mean something else.
int64_t ParseInt(const std::string& text, const std::string& place, int64_t min) {
  constexpr int64_t kMax = int64_t{1} << 30;
  int64_t v = 0;
  const char* end = text.data() + text.size();
  const auto res = std::from_chars(text.data(), end, v);
  if (text.empty() || res.ptr != end || (res.ec != std::errc() && res.ec != std::errc::result_out_of_range)) {
    throw Error(place, "must be a decimal integer, got '" + text + "'");
  }
  const size_t digits = text[0] == '-' ? 1 : 0;
  if (text.size() - digits > 1 && text[digits] == '0') {
    throw Error(place, "must be a decimal integer without leading zeros, got '" + text + "'");
  }
  if (res.ec == std::errc::result_out_of_range || v < min || v > kMax) {
    throw Error(place, "must be in [" + Str(min) + ", " + Str(kMax) + "], got " + text);
  }
  return v;
}

/// The product of parallel degrees (each <= 2^30) when it is at most `gpus` (<= 2^24), else
/// nullopt: never multiplied past int64 (2^30 x 2^30 x 16 wrapped to 0 and divided by it).
std::optional<int64_t> DegreeProduct(std::initializer_list<int64_t> degrees, int64_t gpus) {
  int64_t p = 1;
  for (const int64_t d : degrees) {
    p *= d;  // p <= gpus <= 2^24 before, d <= 2^30: no overflow
    if (p > gpus) return std::nullopt;
  }
  return p;
}

/// Launch files meshplan reads are short: Megatron-LM's arguments.py has under 1000 flags and
/// torchtitan's JobConfig a few hundred keys. More is not a launch file, and would be held in
/// memory and listed in one note (7 million flags: 1.8 GB and a 68 MB line).
constexpr size_t kMaxLaunchEntries = 4096;
/// The largest global batch meshplan costs (tools/cli_common.h kMaxGlobalBatch), for the one a
/// file implies (micro-batch x data-parallel degree) before it reaches --global-batch's check.
constexpr int64_t kMaxGlobalBatch = int64_t{1} << 30;

/// Checks the layout read from a file the way --layout is checked (schedule vs vpp, sp vs tp).
/// An error about a layout key is re-placed at the file's own key or flag that set it
/// (`file_keys`: layout key -> "m.txt:5: --sequence-parallel"), so it never names meshplan's
/// `sp` or `pp_first_layers` to a user who wrote neither.
Layout Canonical(const Layout& l, const std::string& path, const std::map<std::string, std::string>& file_keys) {
  try {
    return costmodel::ParseLayoutText(costmodel::LayoutToText(l), path, l.recipe);
  } catch (const Error& e) {
    const std::string prefix = path + ": ";
    if (e.place().rfind(prefix, 0) == 0) {
      const auto it = file_keys.find(e.place().substr(prefix.size()));
      if (it != file_keys.end()) throw Error(it->second, e.reason());
    }
    throw;
  }
}

/// meshplan's first / last stage layers for torchtitan's or Megatron's per-stage counts (one
/// stage per rank): 0 where the stage matches the middle ones.
void SetUnevenSplit(Layout& l, int64_t first, int64_t middle, int64_t last) {
  if (l.pp == 2) {
    if (first != last) {
      l.pp_first_layers = first;
      l.pp_last_layers = last;
    }
    return;
  }
  if (first != middle) l.pp_first_layers = first;
  if (last != middle) l.pp_last_layers = last;
}

}  // namespace

std::vector<int64_t> TorchtitanStageLayers(int64_t stages, int64_t layers, int64_t input_weight,
                                           int64_t output_weight, const std::string& place) {
  if (stages < 1) throw Error(place, "number of stages must be at least 1");
  if (stages == 1) return {layers};
  const int64_t effective = layers + input_weight + output_weight;
  if (stages > effective) {
    throw Error(place, "number of stages (" + Str(stages) + ") cannot be greater than effective layers (" +
                           Str(effective) + ")");
  }
  const int64_t per = effective / stages, extra = effective % stages;
  if (input_weight > per || output_weight > per) {
    throw Error(place, "first/last stage less-layers (" + Str(input_weight) + ", " + Str(output_weight) +
                           ") exceed the minimum layers per stage (" + Str(per) + ")");
  }
  std::vector<int64_t> out;
  int64_t current = 0;
  for (int64_t i = 0; i < stages; ++i) {
    int64_t n = per + (i < extra ? 1 : 0);
    if (i == 0) n -= input_weight;
    if (i == stages - 1) n -= output_weight;
    n = std::max<int64_t>(0, std::min(n, layers - current));
    out.push_back(n);
    current += n;
  }
  return out;
}

// =============================================================================== torchtitan
std::string TorchtitanToml(const LaunchTarget& t, const Layout& l, std::string_view flag_view,
                           std::string_view file_name) {
  const std::string flag(flag_view);
  auto fail = [&](const std::string& setting, const std::string& why) { throw Error(flag, setting + ": " + why); };
  if (l.recipe != Recipe::kFsdp2) {
    fail("recipe=megatron", "torchtitan trains with FSDP2 (fp32 sharded parameters, bf16 compute); meshplan's "
                            "megatron recipe (bf16 parameters, fp32 main gradients) is not what it runs");
  }
  if (l.tp > 1 && !l.sp) {
    fail("sp=off", "torchtitan's tensor parallelism always shards the sequence between blocks (sequence "
                   "parallelism); it has no TP without SP");
  }
  if (t.workload.precision == costmodel::Precision::kFp8 &&
      !costmodel::TorchaoFp8(t.workload.fp8_recipe)) {
    fail("--fp8-recipe " + std::string(costmodel::ToString(t.workload.fp8_recipe)),
         "TransformerEngine's FP8; torchtitan's float8 is torchao's Float8Linear (--fp8-recipe torchao-tensorwise, "
         "torchao-rowwise or torchao-rowwise-gw-hp)");
  }
  // torchtitan applies FSDP over dp_shard x cp (parallel_dims.py dp_shard_cp): l.shard().
  if (l.shard() > 1 && l.zero == 1) {
    fail("zero=1", "FSDP2 has no optimizer-only sharding; torchtitan shards parameters and gradients "
                   "(fsdp_reshard_after_forward chooses ZeRO-2 or ZeRO-3)");
  }
  if (l.shard() == 1 && l.replicate > 1 && (l.tp > 1 || l.pp > 1)) {
    fail("fsdp=1,replicate=" + Str(l.replicate), "torchtitan's DDP path (data_parallel_shard_degree = 1) does "
                                                 "not combine with TP or PP ('DDP has not supported > 1D parallelism')");
  }
  if (l.partial_ckpt_mbs > 0) {
    fail("partial_ckpt_mbs=" + Str(l.partial_ckpt_mbs),
         "torchtitan's pipeline schedules checkpoint every micro-batch alike (micro-batch-level recompute is "
         "Megatron-Core's num_microbatches_with_partial_activation_checkpoints)");
  }
  if (l.cpu_offload_layers > 0) {
    fail("cpu_offload_layers=" + Str(l.cpu_offload_layers),
         "torchtitan has no activation offload (training.enable_cpu_offload moves FSDP's parameters, gradients and "
         "optimizer states to the host)");
  }
  if (l.recompute == Recompute::kSelective) {
    fail("recompute=selective", "torchtitan's selective activation checkpointing (every n-th block, or a per-op "
                                "policy that saves matmul outputs) is not Megatron-LM's module "
                                "recompute meshplan costs as selective; use recompute=none, full, full with ac_freq, or op");
  }
  if (l.recompute_num_layers > 0) {
    fail("recompute_num_layers=" + Str(l.recompute_num_layers),
         "Megatron-LM's block method; torchtitan checkpoints every n-th layer (ac_freq)");
  }
  if (l.cp > 1 && l.cp_comm == costmodel::CpComm::kA2a) {
    fail("cp_comm=a2a", "torchtitan's context parallelism rotates K,V shards (context_parallel_rotate_method "
                        "allgather or alltoall); it has no Ulysses all-to-all of q, k, v");
  }
  if (l.schedule == Schedule::kZeroBubble) {
    fail("schedule=zb-h1", "torchtitan's zero-bubble schedules (InterleavedZeroBubble, ZBVZeroBubble) run two "
                           "or more stages per rank; meshplan's ZB-H1 runs one");
  }
  const costmodel::StageSplit split = CommonChecks(t, l, fail);
  const costmodel::Workload& w = t.workload;
  const int64_t dp = l.dp();

  // Pipeline: layers per (virtual) stage, and the first/last stage's shortfall from it.
  int64_t lps = 0, first_less = 0, last_less = 0;
  if (l.pp > 1) {
    const bool uneven = l.pp_first_layers > 0 || l.pp_last_layers > 0;
    if (!uneven) {
      lps = t.model.layers / (l.pp * l.vpp);
    } else if (l.vpp > 1) {
      // Every virtual stage holds lps layers but the first (last), which is first_less
      // (last_less) short: the chunk holding the embedding (loss).
      const std::vector<int64_t> stages = MeshplanStageLayers(l, split);
      lps = *std::max_element(stages.begin(), stages.end());
      first_less = lps - stages.front();
      last_less = lps - stages.back();
      const int64_t n = static_cast<int64_t>(stages.size());
      if ((t.model.layers + first_less + last_less + lps - 1) / lps != n ||
          TorchtitanStageLayers(n, t.model.layers, first_less, last_less, flag) != stages) {
        fail(l.pp_first_layers > 0 ? "pp_first_layers=" + Str(l.pp_first_layers) : "pp_last_layers=" + Str(l.pp_last_layers),
             "torchtitan's interleaved split gives every virtual stage pipeline_parallel_layers_per_stage layers "
             "but the first and the last (less_layers short); this split's chunks are not of that form");
      }
    } else {
      lps = l.pp > 2 ? split.middle : std::max(split.first, split.last);
      if (split.first > lps) {
        fail("pp_first_layers=" + Str(split.first), "torchtitan can only take layers off the first stage "
                                                    "(pipeline_parallel_first_stage_less_layers), not add them beyond the "
                                                    "middle stages' " + Str(lps));
      }
      if (split.last > lps) {
        fail("pp_last_layers=" + Str(split.last), "torchtitan can only take layers off the last stage "
                                                  "(pipeline_parallel_last_stage_less_layers), not add them beyond the "
                                                  "middle stages' " + Str(lps));
      }
      first_less = lps - split.first;
      last_less = lps - split.last;
    }
    // torchtitan's own arithmetic must give back meshplan's split.
    const int64_t stages = (t.model.layers + first_less + last_less + lps - 1) / lps;
    MESHPLAN_CHECK(stages == l.pp * l.vpp);
    MESHPLAN_CHECK(TorchtitanStageLayers(stages, t.model.layers, first_less, last_less, flag) ==
                   MeshplanStageLayers(l, split));
  }

  std::ostringstream os;
  os << "# torchtitan job config written by meshplan for " << CommentText(t.model.name) << " on " << w.gpus
     << " x " << CommentText(t.cluster.name) << ", global batch " << w.global_batch << " x " << w.seq << " tokens\n"
     << ScheduleComment(l)
     << "# launch: " << TorchrunHead(t) << " -m torchtitan.train --job.config_file " << ShellWord(file_name) << "\n"
     << "# keys as torchtitan's JobConfig names them (torchtitan/config/job_config.py at 6404b93);\n"
     << "# add [model] name / flavor (torchtitan's names for " << CommentText(t.model.name)
     << "), tokenizer, dataset and optimizer.\n"
     << "\n[parallelism]\n"
     << "data_parallel_replicate_degree = " << l.replicate << "\n"
     << "data_parallel_shard_degree = " << l.fsdp << "\n";
  if (l.shard() > 1) {
    // Under pipeline parallelism meshplan costs ZeRO-2 and ZeRO-3 alike: parameters gathered
    // once per step and kept across the micro-batches (torchtitan's default with PP).
    const char* policy = l.pp > 1 || l.zero == 2 ? "never" : "always";
    os << "fsdp_reshard_after_forward = \"" << policy << "\"\n";
  }
  os << "tensor_parallel_degree = " << l.tp << "\n"
     << "pipeline_parallel_degree = " << l.pp << "\n";
  if (l.pp > 1) {
    os << "pipeline_parallel_schedule = \"" << (l.vpp > 1 ? "Interleaved1F1B" : "1F1B") << "\"\n"
       << "pipeline_parallel_layers_per_stage = " << lps << "\n"
       << "pipeline_parallel_first_stage_less_layers = " << first_less << "\n"
       << "pipeline_parallel_last_stage_less_layers = " << last_less << "\n"
       << "pipeline_parallel_microbatch_size = " << l.mbs << "\n";
  }
  os << "context_parallel_degree = " << l.cp << "\n";
  if (!t.model.moe.dense()) {
    // meshplan prices expert tensor parallelism = tp (experts.h); torchtitan's default is 1.
    os << "expert_parallel_degree = " << l.ep << "\n";
    if (l.ep > 1) os << "expert_tensor_parallel_degree = " << l.tp << "\n";
  }
  if (l.cp > 1) {
    // "alltoall" shuffles the K,V shards round the ring step by step (meshplan's p2p);
    // "allgather" gathers them all (all_gather).
    os << "context_parallel_rotate_method = \""
       << (l.cp_comm == costmodel::CpComm::kAllGather ? "allgather" : "alltoall") << "\"\n";
  }
  const bool float8 = w.precision == costmodel::Precision::kFp8;
  if (float8) {
    // torchao's Float8Linear with the plan's recipe, the output head left in bf16 as meshplan
    // prices it; --fp8-param-gather is FSDP's float8 all-gather with its precomputed scales.
    const char* recipe = w.fp8_recipe == costmodel::Fp8Recipe::kTorchaoRowwise       ? "rowwise"
                         : w.fp8_recipe == costmodel::Fp8Recipe::kTorchaoRowwiseGwHp ? "rowwise_with_gw_hp"
                                                                                     : "tensorwise";
    os << "\n[model]\nconverters = [\"float8\"]\n"
       << "\n[float8]\nrecipe_name = \"" << recipe << "\"\nfilter_fqns = [\"output\"]\n"
       << "enable_fsdp_float8_all_gather = " << (w.fp8_param_gather ? "true" : "false") << "\n"
       << "precompute_float8_dynamic_scale_for_fsdp = " << (w.fp8_param_gather ? "true" : "false") << "\n";
  }
  os << "\n[training]\n"
     // With PP the whole per-rank batch goes through one pipeline step in micro-batches of mbs;
     // without, local_batch_size is the micro-batch and torchtitan accumulates gradients.
     << "local_batch_size = " << (l.pp > 1 ? w.global_batch / dp : l.mbs) << "\n"
     << "global_batch_size = " << w.global_batch << "\n"
     << "seq_len = " << w.seq << "\n"
     << "mixed_precision_param = \"bfloat16\"\n"
     << "mixed_precision_reduce = \"float32\"\n";
  // torch.compile fuses the elementwise ops (meshplan's fused kernels) and torchao's float8
  // casts, which meshplan prices fused; eager elementwise ops are torchtitan's default, false.
  if (float8 && w.eager_elementwise) {
    fail("--eager-elementwise", "torchtitan's float8 runs under torch.compile (training.compile = true), which fuses "
                                "the elementwise ops");
  }
  os << "compile = " << (w.eager_elementwise ? "false" : "true") << "\n";
  os << "\n[activation_checkpoint]\n";
  if (l.recompute == Recompute::kOp) {
    os << "mode = \"selective\"\nselective_ac_option = \"op\"\n";
  } else if (l.recompute == Recompute::kFull && l.ac_freq > 0) {
    os << "mode = \"selective\"\nselective_ac_option = \"" << l.ac_freq << "\"\n";
  } else {
    os << "mode = \"" << (l.recompute == Recompute::kFull ? "full" : "none") << "\"\n";
  }
  return os.str();
}

namespace {

/// A TOML table or key name as TOML reads it: each dotted part without the spaces around it and
/// without its quotes ([ parallelism ], ["parallelism"] and [parallelism] are one table). CLI11's
/// reader keeps both, so a table written so was ignored.
std::string TomlName(std::string_view written) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t dot = written.find('.', start);
    std::string part(written.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    CLI::detail::trim(part);
    if (part.size() >= 2 && (part.front() == '"' || part.front() == '\'') && part.back() == part.front()) {
      part = part.substr(1, part.size() - 2);
    }
    out += (out.empty() && start == 0 ? "" : ".") + part;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

/// Where `section`.`key` is assigned in a TOML text.
struct KeyPlaces {
  std::vector<int> lines;  // 1-based, in order
  std::string raw;         // the first one's value as written ("2", "\"2\"", "selective")
};

/// Where each key is assigned in a TOML text ("section.key" -> its lines, in order): under its
/// [section] header (reopened or not), quoted or bare, or as a dotted key. CLI11's reader merges
/// a key repeated on consecutive lines into one list, so repeats are found here, in the text.
/// One pass over the text (a file of 4096 keys and one 60 MB comment line is read once, not once
/// per key); at most kMaxLaunchEntries keys and tables, before CLI11 builds an item for each
/// line (7M two-key lines took 2.6 GB there).
/// The torchtitan tables ParseTorchtitanToml reads keys of (model: its converters); keys of any
/// other table are listed as ignored.
const std::set<std::string> kTorchtitanTablesRead = {"parallelism", "training", "activation_checkpoint", "float8",
                                                     "model"};

std::map<std::string, KeyPlaces> KeyIndex(std::string_view text, const std::string& path) {
  std::map<std::string, KeyPlaces> index;
  size_t entries = 0;
  std::string current;
  bool array_of_tables = false;
  std::map<std::string, int> opened;  // table -> the line of its header
  int line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string line(text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    ++line_no;
    CLI::detail::trim(line);
    // Every line CLI11 makes an item of: a key, a table header, a bare word.
    if (!line.empty() && line[0] != '#' && line[0] != ';' && ++entries > kMaxLaunchEntries) {
      throw Error(path + ":" + std::to_string(line_no),
                  "more than " + Str(kMaxLaunchEntries) + " keys and tables: not a torchtitan job config");
    }
    if (line.size() >= 2 && line.front() == '[' && line.back() == ']') {
      current = line.substr(1, line.size() - 2);
      // [[x]]: an array of tables, whose elements repeat their keys; none is a setting meshplan
      // reads, so their keys are not indexed.
      array_of_tables = current.size() >= 2 && current.front() == '[' && current.back() == ']';
      if (array_of_tables) current = current.substr(1, current.size() - 2);
      current = TomlName(current);
      // TOML defines a table once (tomllib, which torchtitan reads with, refuses a second
      // header); the tables meshplan reads are single tables, never arrays of them.
      if (array_of_tables && kTorchtitanTablesRead.count(current)) {
        throw Error(path + ":" + std::to_string(line_no),
                    "[[" + current + "]] is an array of tables; torchtitan's [" + current + "] is one table");
      }
      if (!array_of_tables) {
        if (const auto [it, fresh] = opened.emplace(current, line_no); !fresh) {
          throw Error(path + ":" + std::to_string(line_no),
                      "[" + current + "] opened again (first at line " + std::to_string(it->second) +
                          "): a TOML table is defined once");
        }
      }
    } else if (const size_t eq = line.find('='); eq != std::string::npos && line[0] != '#' && !array_of_tables) {
      const std::string name = TomlName(line.substr(0, eq));
      KeyPlaces& k = index[current.empty() ? name : current + "." + name];
      if (k.lines.empty()) k.raw = CLI::detail::trim_copy(line.substr(eq + 1));
      k.lines.push_back(line_no);
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return index;
}

struct TomlValue {
  std::string value;  // as CLI11's reader gives it: quotes removed
  std::string place;  // "t.toml:7: parallelism.tensor_parallel_degree"
  std::string raw;    // as written; empty where the line was not found
};

/// CLI11's reader is lenient where TOML is not: it unquotes "2" and "false" and takes a bare
/// word. A TOML reader (torchtitan's is tomllib) gives the string "2" to an integer setting and
/// the string "false" to a boolean one, and refuses a bare word. So the kind is checked as
/// written: `kind` is 'i' (integer), 's' (string: quoted, or a bare number as
/// selective_ac_option = 2), or 'b' (boolean).
void CheckTomlKind(const TomlValue& v, char kind) {
  if (v.raw.empty()) return;
  if (v.raw[0] == '[' || v.raw[0] == '{') {
    throw Error(v.place, std::string("must be one ") + (kind == 'i' ? "integer" : kind == 'b' ? "boolean" : "string") +
                             ", got " + (v.raw[0] == '[' ? "an array" : "an inline table") + " (" + v.raw.substr(0, 40) + ")");
  }
  const bool quoted = v.raw[0] == '"' || v.raw[0] == '\'';
  if (kind == 'i' && quoted) {
    throw Error(v.place, "must be a TOML integer, got the string \"" + v.value + "\"");
  }
  if (kind == 'b' && v.value != "true" && v.value != "false") {
    throw Error(v.place, "must be true or false, got '" + v.value + "'");
  }
  if (kind == 'b' && quoted) {
    throw Error(v.place, "must be a TOML boolean (true or false, no quotes), got the string \"" + v.value + "\"");
  }
  if (kind == 's' && !quoted && v.value.find_first_not_of("0123456789") != std::string::npos) {
    throw Error(v.place, "must be a TOML string in quotes, got '" + v.value + "' (not valid TOML)");
  }
}

}  // namespace

ImportedLaunch ParseTorchtitanToml(std::string_view text, const std::string& path, const costmodel::Model& m,
                                   int64_t gpus) {
  const std::map<std::string, KeyPlaces> key_index = KeyIndex(text, path);
  std::vector<CLI::ConfigItem> items;
  try {
    CLI::ConfigTOML reader;
    std::istringstream in{std::string(text)};
    items = reader.from_config(in);
  } catch (const CLI::Error& e) {
    throw Error(path, std::string("not a TOML file CLI11 can read: ") + e.what());
  }
  static const std::set<std::string> kParallelism = {
      "data_parallel_replicate_degree", "data_parallel_shard_degree", "fsdp_reshard_after_forward",
      "tensor_parallel_degree", "pipeline_parallel_degree", "pipeline_parallel_schedule",
      "pipeline_parallel_layers_per_stage", "pipeline_parallel_first_stage_less_layers",
      "pipeline_parallel_last_stage_less_layers", "pipeline_parallel_microbatch_size", "context_parallel_degree",
      "context_parallel_rotate_method", "expert_parallel_degree", "expert_tensor_parallel_degree", "pipeline_parallel_split_points", "module_fqns_per_model_part",
      "pipeline_parallel_schedule_csv"};
  // Keys that do not change what meshplan costs.
  static const std::set<std::string> kParallelismIgnored = {"enable_compiled_autograd", "disable_loss_parallel",
                                                            "enable_async_tensor_parallel"};
  static const std::set<std::string> kTraining = {"local_batch_size", "global_batch_size", "seq_len",
                                                  "mixed_precision_param", "mixed_precision_reduce",
                                                  "enable_cpu_offload", "compile"};
  static const std::set<std::string> kChangesCompute = {"model.converters"};
  static const std::set<std::string> kFloat8 = {"recipe_name", "filter_fqns", "enable_fsdp_float8_all_gather",
                                                "precompute_float8_dynamic_scale_for_fsdp", "emulate",
                                                "moe_fqns_prototype"};
  std::map<std::string, std::pair<std::vector<std::string>, std::string>> lists;  // list keys: values, place
  ImportedLaunch out;
  std::map<std::string, TomlValue> values;  // "section.key"
  for (const CLI::ConfigItem& it : items) {
    if (it.name == "--" || it.name == "++") continue;  // CLI11's section end / start markers
    const std::string section = TomlName(CLI::detail::join(it.parents, "."));
    const std::string full = section.empty() ? it.name : section + "." + it.name;
    const auto found = key_index.find(full);
    const KeyPlaces key_places = found == key_index.end() ? KeyPlaces{} : found->second;
    const std::vector<int>& lines = key_places.lines;
    const int line = lines.empty() ? 0 : lines[0];
    const std::string place = path + (line > 0 ? ":" + std::to_string(line) : "") + ": " + full;
    if (lines.size() > 1) {
      throw Error(place, "given twice, at lines " + std::to_string(lines[0]) + " and " + std::to_string(lines[1]) +
                             ": each key may appear once");
    }
    if (section.empty()) {
      throw Error(place, "key outside a section (torchtitan's keys live under [parallelism], [training], ...)");
    }
    if (!kTorchtitanTablesRead.count(section) && !kChangesCompute.count(full)) {
      out.ignored.push_back(full);
      continue;
    }
    if (section == "parallelism") {
      if (kParallelismIgnored.count(it.name)) {
        out.ignored.push_back(full);
        continue;
      }
      if (!kParallelism.count(it.name)) {
        throw Error(place, "unknown [parallelism] key: meshplan cannot tell how it changes the layout");
      }
    } else if (section == "training") {
      if (!kTraining.count(it.name)) {
        out.ignored.push_back(full);
        continue;
      }
    } else if (section == "activation_checkpoint") {
      if (it.name != "mode" && it.name != "selective_ac_option") {
        out.ignored.push_back(full);
        continue;
      }
    } else if (kChangesCompute.count(full) || full == "float8.filter_fqns" || full == "float8.moe_fqns_prototype") {
      // Lists: torchao's float8 converter is read (the [float8] section says how), others refused.
      std::vector<std::string> v;
      for (const std::string& x : it.inputs) {
        if (!x.empty()) v.push_back(x);
      }
      if (lists.count(full)) throw Error(place, "given twice");
      lists[full] = {v, place};
      continue;
    } else if (section == "float8") {
      if (!kFloat8.count(it.name)) throw Error(place, "unknown [float8] key: meshplan cannot tell how it changes FP8");
    } else {
      out.ignored.push_back(full);
      continue;
    }
    if (values.count(full)) throw Error(place, "given twice");
    if (it.name == "pipeline_parallel_split_points" || it.name == "module_fqns_per_model_part") {
      const bool empty = it.inputs.empty() || (it.inputs.size() == 1 && it.inputs[0].empty());
      if (!empty) throw Error(place, "a hand-written stage split is not read; give pipeline_parallel_layers_per_stage");
      continue;
    }
    if (it.inputs.size() != 1) throw Error(place, "expected one value, got " + Str(static_cast<int64_t>(it.inputs.size())));
    // "compile = " with nothing after it is no TOML (tomllib: "Invalid value"); CLI11 reads "".
    if (!lines.empty() && key_places.raw.empty()) throw Error(place, "has no value (not valid TOML)");
    values[full] = {it.inputs[0], place, key_places.raw};
  }
  auto has = [&](const std::string& k) { return values.count(k) > 0; };
  auto place_of = [&](const std::string& k) { return has(k) ? values[k].place : path + ": " + k; };
  auto int_of = [&](const std::string& k, int64_t dflt, int64_t min) {
    if (!has(k)) return dflt;
    CheckTomlKind(values[k], 'i');
    return ParseInt(values[k].value, values[k].place, min);
  };
  auto str_of = [&](const std::string& k, const std::string& dflt, char kind = 's') {
    if (!has(k)) return dflt;
    CheckTomlKind(values[k], kind);
    return values[k].value;
  };

  const int64_t replicate = int_of("parallelism.data_parallel_replicate_degree", 1, 1);
  int64_t shard = int_of("parallelism.data_parallel_shard_degree", -1, -1);
  const int64_t tp = int_of("parallelism.tensor_parallel_degree", 1, 1);
  const int64_t pp = int_of("parallelism.pipeline_parallel_degree", 1, 1);
  const int64_t cp = int_of("parallelism.context_parallel_degree", 1, 1);
  const int64_t ep = int_of("parallelism.expert_parallel_degree", 1, 1);
  const int64_t etp = int_of("parallelism.expert_tensor_parallel_degree", 1, 1);
  // torchtitan's default rotate method is allgather (job_config.py Parallelism).
  const std::string rotate = str_of("parallelism.context_parallel_rotate_method", "allgather");
  if (rotate != "allgather" && rotate != "alltoall") {
    throw Error(place_of("parallelism.context_parallel_rotate_method"),
                "must be allgather or alltoall, got '" + rotate + "'");
  }
  if (ep > 1 && m.moe.dense()) {
    throw Error(place_of("parallelism.expert_parallel_degree"), "needs a mixture-of-experts model, got " + Str(ep));
  }
  if (ep > 1 && tp > 1 && etp != tp) {
    throw Error(place_of("parallelism.expert_tensor_parallel_degree"),
                "meshplan models expert tensor parallelism equal to tensor_parallel_degree (" + Str(tp) + "), got " +
                    Str(etp));
  }
  if (shard == 0) throw Error(place_of("parallelism.data_parallel_shard_degree"), "must be -1 or >= 1, got 0");
  const std::optional<int64_t> product = DegreeProduct({replicate, tp, pp, cp}, gpus);
  if (!product) {
    throw Error(path, "[parallelism] replicate x tp x pp x cp degrees multiply to more than --gpus " + Str(gpus));
  }
  const int64_t others = *product;
  if (shard == -1) {
    if (gpus % others != 0) {
      throw Error(place_of("parallelism.data_parallel_shard_degree"),
                  "-1 takes the GPUs left over, but replicate x tp x pp x cp = " + Str(others) + " does not divide --gpus " +
                      Str(gpus));
    }
    shard = gpus / others;
  }
  if (others * shard != gpus) {  // others <= 2^24, shard <= 2^30: no overflow
    throw Error(path, "[parallelism] degrees multiply to " + Str(others * shard) + ", not --gpus " + Str(gpus));
  }
  if (!str_of("parallelism.pipeline_parallel_schedule_csv", "").empty()) {
    throw Error(place_of("parallelism.pipeline_parallel_schedule_csv"), "a schedule from a CSV file is not modelled");
  }
  Layout l;
  l.recipe = Recipe::kFsdp2;
  l.tp = tp;
  l.sp = tp > 1;  // torchtitan's TP always shards the sequence between blocks
  l.fsdp = shard;
  l.replicate = replicate;
  l.pp = pp;
  l.cp = cp;
  l.ep = ep;
  l.cp_comm = rotate == "alltoall" ? costmodel::CpComm::kP2p : costmodel::CpComm::kAllGather;

  // ZeRO stage from the reshard policy (apply_fsdp: default -> not pp_enabled).
  const std::string policy = str_of("parallelism.fsdp_reshard_after_forward", "default");
  if (policy != "default" && policy != "always" && policy != "never") {
    throw Error(place_of("parallelism.fsdp_reshard_after_forward"),
                "must be default, always or never, got '" + policy + "'");
  }
  if (shard * cp == 1) {
    l.zero = 1;  // nothing is sharded (FSDP runs over dp_shard x cp)
  } else if (pp > 1) {
    if (policy == "always") {
      throw Error(place_of("parallelism.fsdp_reshard_after_forward"),
                  "always with pipeline_parallel_degree > 1 re-gathers parameters every micro-batch; meshplan costs "
                  "FSDP under PP as gathered once per step (default or never)");
    }
    l.zero = 2;
  } else {
    l.zero = policy == "never" ? 2 : 3;
  }

  // Batch: local_batch_size per data-parallel rank, global_batch_size (-1: local x dp).
  const int64_t dp = replicate * shard;
  const int64_t local = int_of("training.local_batch_size", 8, 1);
  if (!has("training.local_batch_size")) out.notes.push_back("training.local_batch_size not set: torchtitan's default 8");
  int64_t global = int_of("training.global_batch_size", -1, -1);
  if (global == 0) throw Error(place_of("training.global_batch_size"), "must be -1 or >= 1, got 0");
  if (global == -1 && local * dp > kMaxGlobalBatch) {  // local <= 2^30, dp <= 2^24
    throw Error(place_of("training.local_batch_size"),
                Str(local) + " x data-parallel degree " + Str(dp) + " (global_batch_size -1) is more than the " +
                    "largest global batch, " + Str(kMaxGlobalBatch));
  }
  if (global == -1) global = local * dp;
  if (global % (local * dp) != 0) {
    throw Error(place_of("training.global_batch_size"), "global batch " + Str(global) + " is not a multiple of local_batch_size " +
                                                            Str(local) + " x data-parallel degree " + Str(dp));
  }
  const int64_t accumulation = global / (local * dp);
  out.global_batch = global;
  out.global_batch_from = has("training.global_batch_size")
                              ? values["training.global_batch_size"].place + " = " + Str(global)
                              : path + ": training.local_batch_size x data-parallel degree = " + Str(global);
  out.seq = int_of("training.seq_len", 2048, 1);
  out.seq_from = has("training.seq_len") ? values["training.seq_len"].place + " = " + Str(*out.seq)
                                         : path + ": training.seq_len not set (torchtitan's default " + Str(*out.seq) + ")";
  if (!has("training.seq_len")) out.notes.push_back("training.seq_len not set: torchtitan's default 2048");
  if (str_of("training.mixed_precision_param", "bfloat16") != "bfloat16") {
    throw Error(place_of("training.mixed_precision_param"), "meshplan costs bf16 compute, got '" +
                                                                 values["training.mixed_precision_param"].value + "'");
  }
  if (str_of("training.mixed_precision_reduce", "float32") != "float32") {
    throw Error(place_of("training.mixed_precision_reduce"),
                "must be float32, got '" + values["training.mixed_precision_reduce"].value + "'");
  }
  out.reduce_dtype = costmodel::Dtype::kFp32;
  // torch.compile: the elementwise ops fused (torchtitan's default, false: eager).
  out.compiled = str_of("training.compile", "false", 'b') == "true";
  if (!has("training.compile")) out.notes.push_back("training.compile not set: torchtitan's default false (eager elementwise ops)");
  // FP8: torchao's Float8Linear (model.converters ["float8"]) with tensorwise scaling.
  auto list_of = [&](const std::string& k) {
    return lists.count(k) ? lists[k].first : std::vector<std::string>{};
  };
  auto bool_of = [&](const std::string& k) { return str_of(k, "false", 'b') == "true"; };
  const std::vector<std::string> converters = list_of("model.converters");
  if (!converters.empty()) {
    if (converters.size() != 1 || converters[0] != "float8") {
      throw Error(lists["model.converters"].second, "meshplan reads the float8 converter alone (torchao's "
                                                     "Float8Linear); other converters (mx, ...) are not modelled");
    }
    // recipe_name: tensorwise (the TOML config's default), rowwise, rowwise_with_gw_hp
    // (torchao Float8LinearConfig.from_recipe_name).
    const std::string recipe = str_of("float8.recipe_name", "tensorwise");
    if (recipe != "tensorwise" && recipe != "rowwise" && recipe != "rowwise_with_gw_hp") {
      throw Error(place_of("float8.recipe_name"),
                  "must be tensorwise, rowwise or rowwise_with_gw_hp (torchao's float8 recipes), got '" + recipe + "'");
    }
    const std::vector<std::string> filtered = list_of("float8.filter_fqns");
    if (std::find(filtered.begin(), filtered.end(), "output") == filtered.end()) {
      throw Error(lists.count("float8.filter_fqns") ? lists["float8.filter_fqns"].second : path + ": float8.filter_fqns",
                  "must list \"output\": meshplan prices the output head in bf16");
    }
    if (bool_of("float8.emulate")) throw Error(place_of("float8.emulate"), "emulated float8 is not modelled");
    if (!list_of("float8.moe_fqns_prototype").empty()) {
      throw Error(lists["float8.moe_fqns_prototype"].second, "float8 MoE experts (prototype) are not modelled");
    }
    if (!*out.compiled) {
      throw Error(place_of("training.compile"), "torchtitan's float8 needs torch.compile (true): meshplan prices "
                                                "its casts fused");
    }
    out.precision = costmodel::Precision::kFp8;
    out.fp8_recipe = recipe == "rowwise"              ? costmodel::Fp8Recipe::kTorchaoRowwise
                     : recipe == "rowwise_with_gw_hp" ? costmodel::Fp8Recipe::kTorchaoRowwiseGwHp
                                                      : costmodel::Fp8Recipe::kTorchaoTensorwise;
    out.fp8_param_gather = bool_of("float8.enable_fsdp_float8_all_gather");
    if (out.fp8_param_gather && costmodel::RowwiseFp8(*out.fp8_recipe)) {
      // torchao/float8/config.py __post_init__ asserts the same.
      throw Error(place_of("float8.enable_fsdp_float8_all_gather"),
                  "true with recipe_name \"" + recipe + "\": FSDP's float8 all-gather only supports tensorwise scaling");
    }
    bool_of("float8.precompute_float8_dynamic_scale_for_fsdp");  // checked; it does not change the price
  } else {
    for (const char* k : {"float8.recipe_name", "float8.enable_fsdp_float8_all_gather",
                          "float8.precompute_float8_dynamic_scale_for_fsdp", "float8.emulate"}) {
      if (has(k)) throw Error(place_of(k), "needs model.converters = [\"float8\"]");
    }
  }
  const std::string offload = str_of("training.enable_cpu_offload", "false", 'b');
  if (offload != "false") {
    throw Error(place_of("training.enable_cpu_offload"), "CPU offload is not modelled, got '" + offload + "'");
  }

  // Pipeline schedule, virtual stages and the split.
  if (pp > 1) {
    const std::string sched = str_of("parallelism.pipeline_parallel_schedule", "1F1B");
    const std::string s = costmodel::AsciiLower(sched);
    bool single = false;
    if (s == "1f1b") {
      single = true;
    } else if (s == "interleaved1f1b") {
      single = false;
    } else if (s == "gpipe" || s == "loopedbfs" || s == "interleavedzerobubble" || s == "zbvzerobubble" ||
               s == "dualpipev" || s == "pipelineschedulesingle" || s == "pipelineschedulemulti") {
      throw Error(place_of("parallelism.pipeline_parallel_schedule"),
                  "'" + sched + "' is not modelled (meshplan models 1F1B and Interleaved1F1B)");
    } else {
      throw Error(place_of("parallelism.pipeline_parallel_schedule"), "unknown schedule '" + sched + "'");
    }
    const int64_t first_less = int_of("parallelism.pipeline_parallel_first_stage_less_layers", 1, 0);
    const int64_t last_less = int_of("parallelism.pipeline_parallel_last_stage_less_layers", 1, 0);
    const std::string lps_key = "parallelism.pipeline_parallel_layers_per_stage";
    int64_t per_rank = single ? 1 : 2;
    if (has(lps_key)) {
      CheckTomlKind(values[lps_key], 'i');  // one integer: [1] is an array, as tomllib reads it
      const int64_t lps = ParseInt(values[lps_key].value, values[lps_key].place, 1);
      const int64_t stages = (m.layers + first_less + last_less + lps - 1) / lps;
      if (stages % pp != 0) {
        throw Error(values[lps_key].place, "gives " + Str(stages) + " virtual stages, not a multiple of pipeline_parallel_degree " +
                                               Str(pp));
      }
      per_rank = stages / pp;
      if (single && per_rank != 1) {
        throw Error(values[lps_key].place, "gives " + Str(per_rank) + " stages per rank; 1F1B runs exactly 1");
      }
      if (!single && per_rank < 2) {
        throw Error(values[lps_key].place, "gives 1 stage per rank; Interleaved1F1B needs at least 2");
      }
    }
    const std::vector<int64_t> per_stage =
        TorchtitanStageLayers(pp * per_rank, m.layers, first_less, last_less, place_of(lps_key));
    l.vpp = per_rank;
    l.schedule = single ? Schedule::k1F1B : Schedule::kInterleaved;
    const int64_t middle = pp > 2 ? per_stage[1] : 0;
    if (per_rank > 1) {
      // Equal virtual stages, where the first (last) may be one layer short: meshplan's lighter
      // first (last) stage, its embedding (loss) in a layer slot (pipeline.h SplitLayers).
      const int64_t n = *std::max_element(per_stage.begin(), per_stage.end());
      const size_t end = per_stage.size() - 1;
      for (size_t i = 0; i <= end; ++i) {
        const bool short_end = (i == 0 || i == end) && per_stage[i] == n - 1;
        if (per_stage[i] != n && !short_end) {
          throw Error(place_of(lps_key), "torchtitan's split gives virtual stages of " + Str(n) + " and " +
                                             Str(per_stage[i]) + " layers; meshplan models interleaved stages of "
                                             "equal size (the first and the last may be one layer short)");
        }
      }
      if (per_stage.front() == n - 1) l.pp_first_layers = n * per_rank - 1;
      if (per_stage.back() == n - 1) l.pp_last_layers = n * per_rank - 1;
    } else {
      for (int64_t i = 1; i + 1 < pp; ++i) {
        if (per_stage[static_cast<size_t>(i)] != middle) {
          throw Error(place_of(lps_key), "torchtitan's split gives middle stages of " + Str(middle) + " and " +
                                             Str(per_stage[static_cast<size_t>(i)]) +
                                             " layers; meshplan models equal middle stages");
        }
      }
      SetUnevenSplit(l, per_stage.front(), middle, per_stage.back());
    }
    const int64_t micro = int_of("parallelism.pipeline_parallel_microbatch_size", 1, 1);
    if (local % micro != 0) {
      throw Error(place_of("parallelism.pipeline_parallel_microbatch_size"),
                  "does not divide training.local_batch_size " + Str(local));
    }
    if (accumulation > 1) {
      throw Error(place_of("training.global_batch_size"),
                  Str(global) + " is " + Str(accumulation) + " x local_batch_size x dp: with pipeline parallelism torchtitan "
                  "then runs " + Str(accumulation) + " pipeline steps per optimizer step, each with its own bubble; meshplan "
                  "models one pipeline of all micro-batches (set local_batch_size = " + Str(global / dp) + ")");
    }
    l.mbs = micro;
  } else {
    l.mbs = local;
  }

  const std::string mode = str_of("activation_checkpoint.mode", "selective");
  if (mode == "none") {
    l.recompute = Recompute::kNone;
  } else if (mode == "full") {
    l.recompute = Recompute::kFull;
  } else if (mode == "selective") {
    // torchtitan's selective AC: "op" (the per-op policy, meshplan's recompute=op) or an
    // integer N, every N-th block fully checkpointed (recompute=full,ac_freq=N); default "2".
    const std::string option = str_of("activation_checkpoint.selective_ac_option", "2");
    if (!has("activation_checkpoint.mode")) out.notes.push_back("activation_checkpoint.mode not set: torchtitan's default selective");
    if (option == "op") {
      l.recompute = Recompute::kOp;
    } else {
      int64_t n = 0;
      const auto res = std::from_chars(option.data(), option.data() + option.size(), n);
      if (res.ec != std::errc() || res.ptr != option.data() + option.size() || n < 1 || option[0] == '0') {
        throw Error(place_of("activation_checkpoint.selective_ac_option"),
                    "must be \"op\" or a positive decimal integer (every n-th layer), got '" + option + "'");
      }
      l.recompute = Recompute::kFull;
      if (n > 1) l.ac_freq = n;  // every layer (n = 1) is plain full recompute
    }
  } else {
    throw Error(place_of("activation_checkpoint.mode"), "must be none, selective or full, got '" + mode + "'");
  }
  std::map<std::string, std::string> file_keys;
  for (const auto& [layout_key, key] : std::initializer_list<std::pair<const char*, const char*>>{
           {"tp", "parallelism.tensor_parallel_degree"},
           {"sp", "parallelism.tensor_parallel_degree"},
           {"pp", "parallelism.pipeline_parallel_degree"},
           {"vpp", "parallelism.pipeline_parallel_layers_per_stage"},
           {"schedule", "parallelism.pipeline_parallel_schedule"},
           {"pp_first_layers", "parallelism.pipeline_parallel_first_stage_less_layers"},
           {"pp_last_layers", "parallelism.pipeline_parallel_last_stage_less_layers"},
           {"mbs", "parallelism.pipeline_parallel_microbatch_size"},
           {"cp", "parallelism.context_parallel_degree"},
           {"cp_comm", "parallelism.context_parallel_rotate_method"},
           {"ep", "parallelism.expert_parallel_degree"},
           {"recompute", "activation_checkpoint.mode"},
           {"ac_freq", "activation_checkpoint.selective_ac_option"}}) {
    file_keys[layout_key] = place_of(key);
  }
  out.layout = Canonical(l, path, file_keys);
  return out;
}

// ================================================================================== Megatron
std::string MegatronArgs(const LaunchTarget& t, const Layout& l, std::string_view flag_view,
                         std::string_view file_name) {
  const std::string flag(flag_view);
  auto fail = [&](const std::string& setting, const std::string& why) { throw Error(flag, setting + ": " + why); };
  if (l.recipe != Recipe::kMegatron) {
    fail("recipe=fsdp2", "Megatron-LM keeps bf16 parameters with fp32 main gradients (meshplan's megatron recipe); "
                         "the fsdp2 recipe's fp32 sharded parameters are torchtitan's");
  }
  if (l.shard() > 1 && l.zero >= 2) {
    fail("zero=" + Str(l.zero), "Megatron-LM's distributed optimizer shards optimizer states only (ZeRO-1); "
                                "gradients and parameters stay whole on every data-parallel rank");
  }
  if (l.shard() > 1 && l.replicate > 1) {
    fail("replicate=" + Str(l.replicate), "Megatron-LM's distributed optimizer shards over the whole data-parallel "
                                          "group (fsdp x replicate = " + Str(l.dp()) + " ranks), not over fsdp=" +
                                          Str(l.fsdp) + " alone");
  }
  if (l.schedule == Schedule::kZeroBubble) {
    fail("schedule=zb-h1", "Megatron-LM runs 1F1B and interleaved 1F1B; its arguments have no zero-bubble schedule");
  }
  if (l.partial_ckpt_mbs > 0) {
    fail("partial_ckpt_mbs=" + Str(l.partial_ckpt_mbs),
         "Megatron-LM's arguments have no flag for TransformerConfig.num_microbatches_with_partial_activation_"
         "checkpoints, and the schedules hand the per-micro-batch choice to forward_step_func, which pretrain_gpt's "
         "forward_step does not take; set it in your own training script (NeMo 1.x: model."
         "num_micro_batches_with_partial_activation_checkpoints)");
  }
  if (l.recompute == Recompute::kOp) {
    fail("recompute=op", "torchtitan's op-level checkpointing; Megatron-LM recomputes the attention core "
                         "(recompute=selective) or whole layers (full, with recompute_num_layers for some)");
  }
  if (l.ac_freq > 0) {
    fail("ac_freq=" + Str(l.ac_freq), "torchtitan's every-n-th-layer checkpointing; Megatron-LM's block method "
                                      "recomputes the first n layers of each stage (recompute_num_layers)");
  }
  const costmodel::StageSplit split = CommonChecks(t, l, fail);
  if (l.vpp > 1 && (l.pp_first_layers > 0 || l.pp_last_layers > 0) && !IsMegatronAccountedSplit(l, split, t.model.layers)) {
    fail(l.pp_first_layers > 0 ? "pp_first_layers=" + Str(l.pp_first_layers) : "pp_last_layers=" + Str(l.pp_last_layers),
         "Megatron-LM interleaves an uneven split only as --account-for-embedding-in-pipeline-split / "
         "--account-for-loss-in-pipeline-split: (layers + embedding + loss) / pp slots per stage, the first (last) "
         "stage one layer short for its embedding (loss); here first " + Str(split.first) + ", last " +
             Str(split.last) + " of " + Str(t.model.layers) + " layers over pp " + Str(l.pp));
  }
  const costmodel::Workload& w = t.workload;
  std::ostringstream os;
  os << "# Megatron-LM arguments written by meshplan for " << CommentText(t.model.name) << " on " << w.gpus
     << " x " << CommentText(t.cluster.name) << ", global batch " << w.global_batch << " x " << w.seq << " tokens\n"
     << ScheduleComment(l)
     << "# launch: " << TorchrunHead(t) << " pretrain_gpt.py $(grep -v '^#' " << ShellWord(file_name)
     << ") <model, data and optimizer flags>\n"
     << "# flags as megatron/training/arguments.py names them (NVIDIA/Megatron-LM at 307dcf37)\n"
     << "--num-layers " << t.model.layers << "\n"
     << "--hidden-size " << t.model.hidden << "\n"
     << "--num-attention-heads " << t.model.heads << "\n";
  // The rest of the shape the importer checks against --model (ParseMegatronArgs): without them
  // Megatron-LM would build its defaults, a 4h MLP and one key/value head per query head.
  if (t.model.moe.dense()) os << "--ffn-hidden-size " << t.model.ffn << "\n";
  if (t.model.kv_heads != t.model.heads && !t.model.mla.enabled()) {
    os << "--group-query-attention\n--num-query-groups " << t.model.kv_heads << "\n";
  }
  os << "--tensor-model-parallel-size " << l.tp << "\n";
  if (l.sp) os << "--sequence-parallel\n";
  os << "--pipeline-model-parallel-size " << l.pp << "\n";
  const bool uneven = l.pp > 1 && (l.pp_first_layers > 0 || l.pp_last_layers > 0);
  if (uneven && l.vpp > 1) {
    // Interleaving with a lighter first / last stage: Megatron-LM counts the embedding and the
    // loss as layers of the split (IsMegatronAccountedSplit), the virtual stages given by their number.
    os << "--num-virtual-stages-per-pipeline-rank " << l.vpp << "\n";
    if (l.pp_first_layers > 0) os << "--account-for-embedding-in-pipeline-split\n";
    if (l.pp_last_layers > 0) os << "--account-for-loss-in-pipeline-split\n";
  } else if (l.vpp > 1) {
    os << "--num-layers-per-virtual-pipeline-stage " << t.model.layers / (l.pp * l.vpp) << "\n";
  } else if (uneven) {
    os << "--decoder-first-pipeline-num-layers " << split.first << "\n"
       << "--decoder-last-pipeline-num-layers " << split.last << "\n";
  }
  os << "--context-parallel-size " << l.cp << "\n";
  if (l.cp > 1) os << "--cp-comm-type " << costmodel::ToString(l.cp_comm) << "\n";
  // (Megatron-LM's --expert-tensor-parallel-size defaults to the TP size, as meshplan prices.)
  if (!t.model.moe.dense()) os << "--expert-model-parallel-size " << l.ep << "\n";
  os << "--micro-batch-size " << l.mbs << "\n"
     << "--global-batch-size " << w.global_batch << "\n"
     << "--seq-length " << w.seq << "\n"
     << "--bf16\n";
  if (w.precision == costmodel::Precision::kFp8) {
    // TransformerEngine FP8 (transformer_config.py fp8 / fp8_recipe / fp8_param @002526d).
    os << "--fp8-format hybrid\n--fp8-recipe "
       << (w.fp8_recipe == costmodel::Fp8Recipe::kTeTensorwise ? "tensorwise" : "delayed") << "\n";
    if (w.fp8_param_gather) os << "--fp8-param-gather\n";
  }
  if (l.cpu_offload_layers > 0) {
    // transformer_config.py cpu_offloading / cpu_offloading_num_layers (activations only).
    os << "--cpu-offloading\n--cpu-offloading-num-layers " << l.cpu_offload_layers << "\n";
  }
  if (l.recompute == Recompute::kSelective) {
    os << "--recompute-granularity selective\n";
    if (l.recompute_modules != costmodel::kDefaultRecomputeModules) {
      os << "--recompute-modules " << costmodel::RecomputeModulesText(l.recompute_modules, " ") << "\n";
    }
  }
  if (l.recompute == Recompute::kFull) {
    if (l.recompute_num_layers > 0) {
      os << "--recompute-granularity full\n--recompute-method block\n--recompute-num-layers " << l.recompute_num_layers
         << "\n";
    } else {
      os << "--recompute-granularity full\n--recompute-method uniform\n--recompute-num-layers 1\n";
    }
  }
  // Gradients are reduced, and the distributed optimizer shards, over dp x cp.
  if (l.dp() * l.cp > 1) {
    if (l.shard() > 1) os << "--use-distributed-optimizer\n";
    os << "--overlap-grad-reduce\n";
    if (l.shard() > 1) os << "--overlap-param-gather\n";
  }
  return os.str();
}

ImportedLaunch ParseMegatronArgs(std::string_view text, const std::string& path, const costmodel::Model& m,
                                 int64_t gpus) {
  // Tokens with their line, comments dropped.
  struct Token {
    std::string text;
    int line;
  };
  std::vector<Token> tokens;
  {
    int line_no = 0;
    size_t start = 0;
    while (start <= text.size()) {
      const size_t nl = text.find('\n', start);
      std::string line(text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
      ++line_no;
      const size_t hash = line.find('#');
      if (hash != std::string::npos) line.erase(hash);
      std::istringstream words(line);
      for (std::string w; words >> w;) {
        if (w == "\\") continue;  // shell line continuation
        if (tokens.size() >= kMaxLaunchEntries * 16) {
          throw Error(path + ":" + std::to_string(line_no),
                      "more than " + Str(kMaxLaunchEntries * 16) + " words: not a Megatron-LM arguments file");
        }
        tokens.push_back({w, line_no});
      }
      if (nl == std::string_view::npos) break;
      start = nl + 1;
    }
  }
  struct FlagValue {
    std::vector<std::string> values;
    std::string place;
    int line = 0;
  };
  std::map<std::string, FlagValue> flags;
  std::vector<std::string> order;
  for (size_t i = 0; i < tokens.size();) {
    const Token& tok = tokens[i];
    const std::string place = path + ":" + std::to_string(tok.line);
    if (tok.text.rfind("--", 0) != 0 || tok.text.size() == 2) {
      throw Error(place, "expected a --flag, got '" + tok.text + "'");
    }
    std::string name = tok.text;
    FlagValue fv;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      fv.values.push_back(name.substr(eq + 1));
      name.erase(eq);
    }
    fv.place = place + ": " + name;
    fv.line = tok.line;
    ++i;
    // Values follow their flag on the same line (one flag a line, or several on one).
    while (eq == std::string::npos && i < tokens.size() && tokens[i].line == tok.line &&
           tokens[i].text.rfind("--", 0) != 0) {
      fv.values.push_back(tokens[i].text);
      ++i;
    }
    if (flags.count(name)) {
      throw Error(fv.place, "given twice, at lines " + std::to_string(flags[name].line) + " and " +
                                std::to_string(tok.line) + ": each flag may appear once");
    }
    if (flags.size() >= kMaxLaunchEntries) {
      throw Error(place, "more than " + Str(kMaxLaunchEntries) + " flags: not a Megatron-LM arguments file");
    }
    flags[name] = fv;
    order.push_back(name);
  }
  static const std::set<std::string> kRead = {
      "--num-layers", "--hidden-size", "--num-attention-heads", "--ffn-hidden-size", "--group-query-attention",
      "--num-query-groups", "--tensor-model-parallel-size", "--sequence-parallel",
      "--pipeline-model-parallel-size", "--num-layers-per-virtual-pipeline-stage",
      "--num-virtual-stages-per-pipeline-rank", "--account-for-embedding-in-pipeline-split",
      "--account-for-loss-in-pipeline-split",
      "--decoder-first-pipeline-num-layers", "--decoder-last-pipeline-num-layers", "--context-parallel-size",
      "--cp-comm-type", "--expert-model-parallel-size", "--expert-tensor-parallel-size", "--micro-batch-size", "--global-batch-size", "--seq-length", "--bf16",
      "--fp16", "--recompute-granularity", "--recompute-method", "--recompute-num-layers",
      "--recompute-modules", "--recompute-activations", "--fp8-format", "--fp8-recipe", "--fp8-param-gather", "--cpu-offloading", "--cpu-offloading-num-layers", "--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"};
  // Words in a flag's name that mean it may change the layout, the batch or the precision.
  static const std::vector<std::string> kLayoutWords = {"parallel", "pipeline", "recompute", "fsdp", "zero",
                                                        "batch-size", "seq-length", "virtual", "expert",
                                                        "distributed-optimizer", "fp8", "fp4"};
  ImportedLaunch out;
  for (const std::string& name : order) {
    if (kRead.count(name)) continue;
    for (const std::string& word : kLayoutWords) {
      if (name.find(word) != std::string::npos) {
        throw Error(flags[name].place, "not read by meshplan, and it may change the layout, batch or precision");
      }
    }
    out.ignored.push_back(name);
  }
  auto has = [&](const std::string& f) { return flags.count(f) > 0; };
  auto switch_of = [&](const std::string& f) {
    if (!has(f)) return false;
    if (!flags[f].values.empty()) throw Error(flags[f].place, "takes no value, got '" + flags[f].values[0] + "'");
    return true;
  };
  auto int_of = [&](const std::string& f, int64_t dflt) -> int64_t {
    if (!has(f)) return dflt;
    const FlagValue& fv = flags[f];
    if (fv.values.size() != 1) throw Error(fv.place, "expects one value, got " + Str(static_cast<int64_t>(fv.values.size())));
    return ParseInt(fv.values[0], fv.place, 1);
  };
  auto str_of = [&](const std::string& f) -> std::string {
    const FlagValue& fv = flags[f];
    if (fv.values.size() != 1) throw Error(fv.place, "expects one value, got " + Str(static_cast<int64_t>(fv.values.size())));
    return fv.values[0];
  };
  // The model's shape, where the file gives it, must be --model's.
  const std::pair<const char*, int64_t> shape[] = {
      {"--num-layers", m.layers}, {"--hidden-size", m.hidden}, {"--num-attention-heads", m.heads}};
  for (const auto& [f, v] : shape) {
    if (has(f) && int_of(f, 0) != v) {
      throw Error(flags[f].place, Str(int_of(f, 0)) + " disagrees with --model " + m.name + " (" + Str(v) + ")");
    }
  }
  // The dense MLP's width (an MoE model's experts take --moe-ffn-hidden-size) and the key/value
  // heads of grouped-query attention (--num-query-groups counts only with --group-query-attention).
  if (has("--ffn-hidden-size") && m.moe.dense() && int_of("--ffn-hidden-size", 0) != m.ffn) {
    throw Error(flags["--ffn-hidden-size"].place,
                Str(int_of("--ffn-hidden-size", 0)) + " disagrees with --model " + m.name + " (" + Str(m.ffn) + ")");
  }
  if (switch_of("--group-query-attention") && has("--num-query-groups") &&
      int_of("--num-query-groups", 0) != m.kv_heads) {
    throw Error(flags["--num-query-groups"].place, Str(int_of("--num-query-groups", 0)) + " disagrees with --model " +
                                                       m.name + " (" + Str(m.kv_heads) + " key/value heads)");
  }
  if (switch_of("--fp16")) throw Error(flags["--fp16"].place, "meshplan costs bf16 training");
  if (!switch_of("--bf16")) {
    throw Error(path, "--bf16: missing (without it Megatron-LM trains in fp32; meshplan costs bf16)");
  }
  out.reduce_dtype = costmodel::Dtype::kFp32;  // --bf16 forces fp32 gradient all-reduce
  // FP8 through TransformerEngine: --fp8-format turns it on; the recipe defaults to delayed.
  if (has("--fp8-format")) {
    const std::string format = str_of("--fp8-format");
    if (format != "hybrid" && format != "e4m3") {
      throw Error(flags["--fp8-format"].place, "must be hybrid or e4m3, got '" + format + "'");
    }
    out.precision = costmodel::Precision::kFp8;
    out.fp8_recipe = costmodel::Fp8Recipe::kTeDelayed;
    if (has("--fp8-recipe")) {
      const std::string r = str_of("--fp8-recipe");
      if (r != "delayed" && r != "tensorwise") {
        throw Error(flags["--fp8-recipe"].place, "meshplan models delayed and tensorwise (current) scaling, got '" +
                                                     r + "'" +
                                                     (r == "mxfp8" || r == "blockwise" ? ": block scaling is not modelled"
                                                                                       : ""));
      }
      out.fp8_recipe = r == "tensorwise" ? costmodel::Fp8Recipe::kTeTensorwise : costmodel::Fp8Recipe::kTeDelayed;
    }
    out.fp8_param_gather = switch_of("--fp8-param-gather");
  } else {
    for (const char* f : {"--fp8-recipe", "--fp8-param-gather"}) {
      if (has(f)) throw Error(flags[f].place, "needs --fp8-format (without it Megatron-LM trains in bf16)");
    }
  }
  const int64_t tp = int_of("--tensor-model-parallel-size", 1);
  const int64_t pp = int_of("--pipeline-model-parallel-size", 1);
  const int64_t cp = int_of("--context-parallel-size", 1);
  const int64_t ep = int_of("--expert-model-parallel-size", 1);
  if (ep > 1 && m.moe.dense()) {
    throw Error(flags["--expert-model-parallel-size"].place, "needs a mixture-of-experts model, got " + Str(ep));
  }
  if (has("--expert-tensor-parallel-size") && int_of("--expert-tensor-parallel-size", 1) != tp) {
    throw Error(flags["--expert-tensor-parallel-size"].place,
                "meshplan models expert tensor parallelism equal to --tensor-model-parallel-size (" + Str(tp) + ")");
  }
  const std::optional<int64_t> model_parallel = DegreeProduct({tp, pp, cp}, gpus);
  if (!model_parallel) {
    throw Error(path, "tensor x pipeline x context parallel sizes multiply to more than --gpus " + Str(gpus));
  }
  if (gpus % *model_parallel != 0) {
    throw Error(path, "tensor x pipeline x context parallel sizes = " + Str(*model_parallel) +
                          " do not divide --gpus " + Str(gpus));
  }
  const int64_t dp = gpus / *model_parallel;
  Layout l;
  l.recipe = Recipe::kMegatron;
  l.tp = tp;
  l.sp = switch_of("--sequence-parallel");
  l.pp = pp;
  l.cp = cp;
  l.ep = ep;
  if (has("--cp-comm-type")) {
    // One type for every layer; Megatron also takes a per-layer list and "a2a+p2p" (hierarchical).
    const std::string c = str_of("--cp-comm-type");
    if (c != "p2p" && c != "all_gather" && c != "a2a") {
      throw Error(flags["--cp-comm-type"].place, "meshplan models p2p, all_gather or a2a, got '" + c + "'");
    }
    l.cp_comm = costmodel::ParseCpComm(c, flags["--cp-comm-type"].place);
  }
  l.zero = 1;
  if (switch_of("--use-distributed-optimizer")) {
    l.fsdp = dp;  // the optimizer states shard over the whole data-parallel group (x cp)
    l.replicate = 1;
  } else if (cp > 1) {
    throw Error(flags["--context-parallel-size"].place,
                "without --use-distributed-optimizer Megatron-LM keeps the optimizer states whole on every "
                "CP rank; meshplan shards them over fsdp x cp");
  } else {
    l.fsdp = 1;
    l.replicate = dp;
  }
  // Megatron-LM's defaults: both overlaps off (megatron/training/arguments.py @000c4ac
  // _add_distributed_args: store_true, default False), so the
  // data-parallel traffic runs outside the passes, and is priced so.
  out.reduce_after_backward = !switch_of("--overlap-grad-reduce");
  out.gather_before_forward = !switch_of("--overlap-param-gather");
  if (dp > 1 && out.reduce_after_backward) {
    out.notes.push_back("--overlap-grad-reduce not given: the gradient reduction runs after the backward "
                        "(Megatron-LM's default), none of it hidden");
  }
  if (l.fsdp > 1 && out.gather_before_forward) {
    out.notes.push_back("--overlap-param-gather not given: the parameter all-gather runs before the forward "
                        "(Megatron-LM's default), none of it hidden");
  }
  if (!has("--micro-batch-size")) throw Error(path, "--micro-batch-size: missing (Megatron-LM requires it)");
  l.mbs = int_of("--micro-batch-size", 1);
  if (!has("--global-batch-size") && l.mbs * dp > kMaxGlobalBatch) {  // mbs <= 2^30, dp <= 2^24
    throw Error(flags["--micro-batch-size"].place,
                Str(l.mbs) + " x data-parallel degree " + Str(dp) + " (Megatron-LM's default --global-batch-size) is " +
                    "more than the largest global batch, " + Str(kMaxGlobalBatch));
  }
  out.global_batch = int_of("--global-batch-size", l.mbs * dp);
  out.global_batch_from = has("--global-batch-size")
                              ? flags["--global-batch-size"].place + " " + Str(*out.global_batch)
                              : path + ": --global-batch-size not set (Megatron-LM's default micro-batch x dp = " +
                                    Str(*out.global_batch) + ")";
  if (has("--seq-length")) {
    out.seq = int_of("--seq-length", 0);
    out.seq_from = flags["--seq-length"].place + " " + Str(*out.seq);
  }

  // Pipeline: interleaving from layers per virtual stage (or their number), an uneven split from
  // first / last or from the embedding and loss counted as layers of the split.
  const int64_t first = int_of("--decoder-first-pipeline-num-layers", 0);
  const int64_t last = int_of("--decoder-last-pipeline-num-layers", 0);
  const std::string kEmbeddingSlot = "--account-for-embedding-in-pipeline-split";
  const std::string kLossSlot = "--account-for-loss-in-pipeline-split";
  const std::string kVirtualStages = "--num-virtual-stages-per-pipeline-rank";
  const bool embedding_slot = switch_of(kEmbeddingSlot), loss_slot = switch_of(kLossSlot);
  if (has(kVirtualStages) && has("--num-layers-per-virtual-pipeline-stage")) {
    throw Error(flags[kVirtualStages].place, "Megatron-LM takes either it or --num-layers-per-virtual-pipeline-stage");
  }
  if ((embedding_slot || loss_slot) && (first > 0 || last > 0)) {
    throw Error(flags[embedding_slot ? kEmbeddingSlot : kLossSlot].place,
                "Megatron-LM does not combine it with --decoder-first/last-pipeline-num-layers");
  }
  if (pp == 1) {
    for (const std::string f : {"--num-layers-per-virtual-pipeline-stage", "--decoder-first-pipeline-num-layers",
                                "--decoder-last-pipeline-num-layers", kVirtualStages.c_str(), kEmbeddingSlot.c_str(),
                                kLossSlot.c_str()}) {
      if (has(f)) throw Error(flags[f].place, "needs --pipeline-model-parallel-size > 1");
    }
  } else if (embedding_slot || loss_slot) {
    const std::string f = embedding_slot ? kEmbeddingSlot : kLossSlot;
    if (has("--num-layers-per-virtual-pipeline-stage")) {
      throw Error(flags["--num-layers-per-virtual-pipeline-stage"].place,
                  "with " + f + " meshplan reads the virtual stages from " + kVirtualStages);
    }
    const int64_t slots = m.layers + (embedding_slot ? 1 : 0) + (loss_slot ? 1 : 0);
    if (costmodel::AccountedSplit(m.layers, pp, embedding_slot, loss_slot, l.pp_first_layers, l.pp_last_layers) == 0) {
      throw Error(flags[f].place, Str(m.layers) + " layers and " + (embedding_slot && loss_slot ? "2 slots" : "1 slot") +
                                      " = " + Str(slots) + " do not divide over " + Str(pp) + " pipeline stages");
    }
    l.vpp = int_of(kVirtualStages, 1);
    l.schedule = l.vpp > 1 ? Schedule::kInterleaved : Schedule::k1F1B;
  } else if (has(kVirtualStages)) {
    if (first > 0 || last > 0) {
      throw Error(flags[kVirtualStages].place, "with --decoder-first/last-pipeline-num-layers has no exact meshplan layout");
    }
    l.vpp = int_of(kVirtualStages, 1);
    l.schedule = l.vpp > 1 ? Schedule::kInterleaved : Schedule::k1F1B;
  } else if (has("--num-layers-per-virtual-pipeline-stage")) {
    const std::string f = "--num-layers-per-virtual-pipeline-stage";
    if (first > 0 || last > 0) {
      throw Error(flags[f].place, "with --decoder-first/last-pipeline-num-layers has no exact meshplan layout");
    }
    const int64_t per_chunk = int_of(f, 1);
    if (m.layers % pp != 0 || (m.layers / pp) % per_chunk != 0) {
      throw Error(flags[f].place, Str(per_chunk) + " does not divide the " + Str(m.layers) + " layers over " + Str(pp) +
                                      " stages into whole chunks");
    }
    l.vpp = m.layers / pp / per_chunk;
    l.schedule = l.vpp > 1 ? Schedule::kInterleaved : Schedule::k1F1B;
  } else {
    l.pp_first_layers = first;
    l.pp_last_layers = last;
  }

  // Recompute.
  bool selective = switch_of("--recompute-activations");
  if (has("--recompute-granularity")) {
    const std::string g = str_of("--recompute-granularity");
    if (g == "selective") {
      selective = true;
    } else if (g == "full") {
      if (selective) throw Error(flags["--recompute-granularity"].place, "full contradicts --recompute-activations (selective)");
      const std::string method = has("--recompute-method") ? str_of("--recompute-method") : "";
      const int64_t n = int_of("--recompute-num-layers", 0);
      if (method == "block" && n >= 1) {
        l.recompute_num_layers = n;  // the first n layers of each stage (recompute=full,recompute_num_layers=n)
      } else if (method != "uniform" || n != 1) {
        throw Error(flags["--recompute-granularity"].place,
                    "full is modelled as every layer recomputed (--recompute-method uniform --recompute-num-layers 1) "
                    "or as the first n layers of each stage (--recompute-method block --recompute-num-layers n)");
      }
      l.recompute = Recompute::kFull;
    } else {
      throw Error(flags["--recompute-granularity"].place, "must be full or selective, got '" + g + "'");
    }
  }
  if (selective) l.recompute = Recompute::kSelective;
  if (switch_of("--cpu-offloading")) {
    if (!has("--cpu-offloading-num-layers")) {
      throw Error(flags["--cpu-offloading"].place, "needs --cpu-offloading-num-layers (Megatron-LM's default 0 "
                                                    "offloads nothing)");
    }
    l.cpu_offload_layers = int_of("--cpu-offloading-num-layers", 0);
  } else if (has("--cpu-offloading-num-layers")) {
    throw Error(flags["--cpu-offloading-num-layers"].place, "needs --cpu-offloading");
  }
  if (has("--recompute-modules")) {
    // Megatron-Core's submodules (TransformerConfig.recompute_modules), with selective only.
    if (!selective) throw Error(flags["--recompute-modules"].place, "needs --recompute-granularity selective");
    const std::vector<std::string>& v = flags["--recompute-modules"].values;
    l.recompute_modules = costmodel::ParseRecomputeModules(std::vector<std::string_view>(v.begin(), v.end()),
                                                           flags["--recompute-modules"].place);
  }
  if (l.recompute != Recompute::kFull) {
    for (const char* f : {"--recompute-method", "--recompute-num-layers"}) {
      if (has(f)) throw Error(flags[f].place, "needs --recompute-granularity full");
    }
  }
  std::map<std::string, std::string> file_keys;
  for (const auto& [layout_key, flag] : std::initializer_list<std::pair<const char*, const char*>>{
           {"tp", "--tensor-model-parallel-size"},
           {"sp", "--sequence-parallel"},
           {"pp", "--pipeline-model-parallel-size"},
           {"vpp", has(kVirtualStages) ? kVirtualStages.c_str() : "--num-layers-per-virtual-pipeline-stage"},
           {"pp_first_layers", embedding_slot ? kEmbeddingSlot.c_str() : "--decoder-first-pipeline-num-layers"},
           {"pp_last_layers", loss_slot ? kLossSlot.c_str() : "--decoder-last-pipeline-num-layers"},
           {"mbs", "--micro-batch-size"},
           {"cp", "--context-parallel-size"},
           {"cp_comm", "--cp-comm-type"},
           {"ep", "--expert-model-parallel-size"},
           {"recompute", "--recompute-granularity"},
           {"recompute_num_layers", "--recompute-num-layers"}}) {
    file_keys[layout_key] = has(flag) ? flags[flag].place : path + ": " + flag;
  }
  out.layout = Canonical(l, path, file_keys);
  return out;
}

}  // namespace meshplan::tools
