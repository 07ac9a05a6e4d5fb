#include "costmodel/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "costmodel/context.h"
#include "costmodel/costable.h"
#include "costmodel/data_parallel.h"
#include "costmodel/experts.h"
#include "costmodel/kernels.h"
#include "costmodel/mesh.h"
#include "costmodel/params.h"
#include "costmodel/pipeline.h"
#include "costmodel/tensor.h"

namespace meshplan::costmodel {

std::string_view ToString(Purpose p) {
  switch (p) {
    case Purpose::kTp: return "tp";
    case Purpose::kFsdpParamGather: return "fsdp_param_gather";
    case Purpose::kFsdpGradReduce: return "fsdp_grad_reduce";
    case Purpose::kDpGradReduce: return "dp_grad_reduce";
    case Purpose::kPpP2p: return "pp_p2p";
    case Purpose::kTiedGradReduce: return "tied_grad_reduce";
    case Purpose::kCpKv: return "cp_kv";
    case Purpose::kEpDispatch: return "ep_dispatch";
    case Purpose::kEpCombine: return "ep_combine";
  }
  return "?";
}

std::string_view MfuConventionName(bool causal) { return causal ? "causal" : "noncausal"; }

std::string_view ReasonCodeName(int bit_index) {
  static constexpr std::array<std::string_view, kNumReasonCodes> kNames = {
      "global_batch", "memory", "divisibility", "topology", "pipeline", "context", "expert", "recompute"};
  return kNames[static_cast<size_t>(bit_index)];
}

Evaluator::Evaluator(const Model& m, const Cluster& c, const Workload& w)
    : model_(m), cluster_(c), workload_(w), links_(LinkParamsFor(c)),
      compute_(ComputeParamsFor(c, w.gpus)), model_flops_per_token_(ModelFlopsPerToken(m, w.seq) -
                             (w.mfu_causal ? 0.5 * AttentionFlopsPerToken(m, w.seq) : 0.0)),
      executed_attention_flops_per_token_((w.flash_attention ? 0.5 : 1.0) * AttentionFlopsPerToken(m, w.seq)),
      executed_flops_per_token_(ModelFlopsPerToken(m, w.seq) - AttentionFlopsPerToken(m, w.seq) +
                                executed_attention_flops_per_token_),
      counts_(CountParams(m)) {
  RequireCostable(m, w.seq);  // an MoE, MLA or windowed model is refused, never priced as dense
}

const CollectiveTable& Evaluator::TableOf(const Group& g) const {
  // A direct-mapped index over tables_ (a search places a few dozen distinct groups); a slot
  // holds the table's position, the group compared in full.
  constexpr size_t kSlots = 256;
  if (table_index_.empty()) table_index_.assign(kSlots, -1);
  uint64_t h = static_cast<uint64_t>(g.ranks) * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(g.nodes) * 0xC2B2AE3D27D4EB4Full;
  h ^= h >> 31;
  int32_t& slot = table_index_[static_cast<size_t>(h) & (kSlots - 1)];
  if (slot >= 0) {
    const CollectiveTable& t = tables_[static_cast<size_t>(slot)];
    if (t.group.ranks == g.ranks && t.group.nodes == g.nodes) return t;
  }
  for (size_t i = 0; i < tables_.size(); ++i) {
    if (tables_[i].group.ranks == g.ranks && tables_[i].group.nodes == g.nodes) {
      slot = static_cast<int32_t>(i);
      return tables_[i];
    }
  }
  tables_.push_back(BuildTable(links_, g));
  slot = static_cast<int32_t>(tables_.size() - 1);
  return tables_.back();
}

CollectiveCost Evaluator::TimeOn(const CollectiveTable& t, Coll c, double bytes) const {
  constexpr size_t kSlots = 4096;  // a power of two
  if (time_memo_.empty()) time_memo_.resize(kSlots);
  uint64_t bits = 0;
  std::memcpy(&bits, &bytes, sizeof bits);
  const Group& g = t.group;
  uint64_t h = static_cast<uint64_t>(g.ranks) * 0x9E3779B97F4A7C15ull ^
               static_cast<uint64_t>(g.nodes) * 0x165667B19E3779F9ull ^ bits * 0xC2B2AE3D27D4EB4Full ^
               static_cast<uint64_t>(c);
  h ^= h >> 29;
  TimeMemo& m = time_memo_[static_cast<size_t>(h ^ (h >> 17)) & (kSlots - 1)];
  if (m.ranks != g.ranks || m.nodes != g.nodes || m.bytes_bits != bits || m.coll != static_cast<int>(c)) {
    m.ranks = g.ranks;
    m.nodes = g.nodes;
    m.bytes_bits = bits;
    m.coll = static_cast<int>(c);
    m.cost = Time(t, c, bytes);
  }
  return m.cost;
}

OverlapCost OverlapSlowdownCost(double compute_s, double stream_comm_s, double hidden_s, double exposed_s,
                                double slowdown) {
  OverlapCost out;
  out.exposed_s = std::max(0.0, exposed_s);
  if (!(slowdown > 1.0) || !(compute_s > 0) || !(hidden_s > 0)) return out;
  const double full = compute_s * (slowdown - 1.0);  // every kernel beside a collective
  const double stream = compute_s + std::max(0.0, stream_comm_s);
  out.compute_extra_s = std::min(full, (hidden_s + out.exposed_s) * full / (stream + full));
  out.exposed_s = std::max(0.0, out.exposed_s - out.compute_extra_s);
  return out;
}

Group Evaluator::PlaceGroup(int64_t size, int64_t stride) const {
  const int64_t gpn = cluster_.node.gpus_per_node;
  if (size <= 1) return {1, 1};
  if (stride >= gpn) return {size, size};
  const int64_t per_node = std::max<int64_t>(1, std::min(size, gpn / stride));
  return {size, (size + per_node - 1) / per_node};
}

namespace {

/// One FSDP compute-stream copy of `params` parameters at `per_param` bytes each
/// (FsdpCopyBytesPerParam); a copy FSDP does not run (FSDP1's copy-out) is no launch either.
double FsdpCopyTime(const ComputeParams& p, double per_param, double params) {
  return per_param > 0 ? MemoryBoundTime(p, per_param * params) : 0.0;
}

/// The share of a per-step data-parallel collective that no compute hides: the last of
/// `layers` per-layer buckets where it runs bucketed behind the backward (a reduction) or the
/// first forward (ZeRO-1's gather) as layers finish (the rest hides unless it outlasts that
/// pass), all of it where the framework issues it whole outside the pass (`blocking`:
/// Workload::dp_reduce_after_backward, dp_gather_after_step). The simulator issues the same
/// buckets (sim/step_graph.cc).
double ExposedBucket(bool blocking, double layers) { return blocking ? 1.0 : 1.0 / layers; }

/// Feasibility that needs no costing, written once for Evaluate (which keeps the codes) and
/// Reasons (which asks for the sentences): report(code, sentence) per problem, in the order
/// global batch, divisibility, pipeline, topology; sentence() builds the text only when called,
/// so Evaluate allocates nothing.
template <typename Report>
void StaticProblems(const Model& m, const Cluster& c, const Workload& w, const Layout& l,
                    Report&& report) {
  const int64_t dp = l.dp();
  DataParallelProblems(w, l, kReasonGlobalBatch, report);
  TpProblems(m, w, l, kReasonDivisibility, report);
  CpProblems(m, w, l, kReasonDivisibility, kReasonContext, report);
  ExpertProblems(m, w, l, kReasonDivisibility, kReasonExpert, report);
  if (l.recompute == Recompute::kSelective) {
    const uint8_t moe_bits = kRecomputeMoeAct | kRecomputeMoe | kRecomputeSharedExperts;
    if (m.moe.dense() && (l.recompute_modules & (moe_bits | kRecomputeLayernorm))) {
      report(kReasonRecompute, [&] {
        return "recompute_modules=" + RecomputeModulesText(l.recompute_modules, "+") +
               ": a dense model has no MoE layers, and Megatron-Core's TransformerEngine layer spec fuses a dense "
               "layer's norms into its linear layers (input_layernorm and pre_mlp_layernorm are IdentityOp), so "
               "moe_act, moe, shared_experts and layernorm recompute nothing";
      });
    } else if (!m.moe.dense() && (l.recompute_modules & kRecomputeMlp) && m.moe.dense_layers.empty()) {
      report(kReasonRecompute, [&] {
        return std::string("recompute_modules=mlp: every layer is an MoE layer, and Megatron-Core's mlp module "
                           "recomputes dense MLPs only (moe or moe_act recompute the experts)");
      });
    } else if ((l.recompute_modules & kRecomputeSharedExperts) && m.moe.shared_experts == 0) {
      report(kReasonRecompute, [&] {
        return std::string("recompute_modules=shared_experts: the model has no shared experts");
      });
    }
  }
  if (l.ac_freq > 0 && l.ac_freq > m.layers / std::max<int64_t>(1, l.pp)) {
    // torchtitan checkpoints every ac_freq-th block of a stage (its _count % ac_freq == 0): a
    // stride past the stage's blocks checkpoints none, whatever recompute=full says.
    report(kReasonRecompute, [&] {
      return "ac_freq=" + std::to_string(l.ac_freq) + " exceeds the " + std::to_string(m.layers / std::max<int64_t>(1, l.pp)) +
             " layers of a stage: torchtitan would recompute none of them (write recompute=none)";
    });
  }
  if (l.cpu_offload_layers > 0) {
    // Megatron-Core's own checks (transformer_config.py __post_init__ @002526d), and a host link.
    if (l.cpu_offload_layers >= m.layers) {
      report(kReasonRecompute, [&] {
        return "cpu_offload_layers=" + std::to_string(l.cpu_offload_layers) +
               ": Megatron-Core offloads only layers less than num_layers (" + std::to_string(m.layers) + ")";
      });
    } else if (l.recipe != Recipe::kMegatron) {
      report(kReasonRecompute, [&] {
        return std::string("cpu_offload_layers: activation offload is Megatron-Core's (--cpu-offloading, the megatron "
                           "recipe); torchtitan (the fsdp2 recipe) has none");
      });
    } else if (l.pp > 1) {
      report(kReasonRecompute, [&] {
        return std::string("cpu_offload_layers: Megatron-Core has no activation offload with pipeline parallelism");
      });
    } else if (l.recompute != Recompute::kNone) {
      report(kReasonRecompute, [&] {
        return std::string("cpu_offload_layers: Megatron-Core's activation offload does not work with activation "
                           "recomputation (recompute=none)");
      });
    } else if (c.node.host_GBps_per_gpu <= 0) {
      report(kReasonRecompute, [&] {
        return "cpu_offload_layers: cluster " + c.name +
               " gives no host link bandwidth (node.host_GBps_per_gpu), so the copies cannot be priced";
      });
    }
  }
  if (l.partial_ckpt_mbs > 0) {
    // Megatron-Core's schedules carry it (pipeline_parallel/schedules.py @002526d); the layout
    // text checks pp > 1 and the recompute mode.
    if (l.recipe != Recipe::kMegatron) {
      report(kReasonRecompute, [&] {
        return std::string("partial_ckpt_mbs: micro-batch-level recompute is Megatron-Core's "
                           "(num_microbatches_with_partial_activation_checkpoints, the megatron recipe); "
                           "torchtitan (the fsdp2 recipe) has none");
      });
    } else if (l.schedule == Schedule::kZeroBubble) {
      report(kReasonRecompute, [&] {
        return std::string("partial_ckpt_mbs: Megatron-Core's 1F1B and interleaved schedules choose the "
                           "micro-batches; it has no ZB-H1 schedule");
      });
    }
  }
  if (l.recompute == Recompute::kOp && (!m.moe.dense() || m.mla.enabled())) {
    report(kReasonRecompute, [&] {
      return std::string("recompute=op is torchtitan's op-level policy for dense attention and MLP blocks: "
                         "not modelled for MoE or MLA layers");
    });
  } else if (l.recompute == Recompute::kOp && !w.flash_attention) {
    report(kReasonRecompute, [&] {
      return std::string("recompute=op saves the fused attention kernel's output: it needs flash attention");
    });
  }
  StageSplit split;
  if (!SplitLayers(l, m.layers, split, nullptr)) {
    report(kReasonPipeline, [&] {
      std::string why;
      SplitLayers(l, m.layers, split, &why);
      return why;
    });
  } else if (l.pp > 1 || l.vpp > 1 || l.schedule != Schedule::k1F1B) {
    const int64_t micro = std::max<int64_t>(1, (w.global_batch + l.mbs * dp - 1) / (l.mbs * dp));
    if (!ScheduleFits(l, micro)) report(kReasonPipeline, [&] { return ScheduleProblem(l, micro); });
    if (l.pp == 2 && l.schedule == Schedule::kInterleaved && ExchangesBlock(w, l.schedule)) {
      // Megatron-LM 2022's parallel_state.py, and Megatron-Core's arguments.py when
      // overlap_p2p_comm is off: one batch would hold two sends and receives between the same
      // two ranks.
      report(kReasonPipeline, [] {
        return std::string("the interleaved schedule with blocking exchanges (the framework's pp_p2p_interleaved "
                           "blocking) needs pp > 2: Megatron refuses pp 2");
      });
    }
  }
  TpTopologyProblems(w, l, c.node.gpus_per_node, kReasonTopology, report);
}

/// Records one collective the step issues (up to kMaxCollectives; none with a zero count).
void AddUse(Evaluation& e, Coll op, Purpose purpose, const Group& g, double bytes,
            const CollectiveCost& cost, double count) {
  if (e.num_collectives >= kMaxCollectives || count <= 0) return;
  CollectiveUse& u = e.collectives[static_cast<size_t>(e.num_collectives++)];
  u.op = op;
  u.purpose = purpose;
  u.group = g;
  u.bytes = bytes;
  u.cost = cost;
  u.count_per_step = count;
}

/// One data-parallel collective priced once: the dense part over the shard group (fsdp x cp)
/// and, where the routed experts shard further, theirs over the expert-data-parallel group
/// (data_parallel.h sizes both).
struct DpCall {
  Coll op = Coll::kAllGather;
  double bytes = 0, expert_bytes = 0;  // per call
  CollectiveCost dense, expert;        // one call each
  double calls = 1, expert_calls = 1;  // calls of each (DpBuckets)
  /// The calls summed: what the step waits for.
  CollectiveCost sum() const {
    CollectiveCost c = dense;
    c.time_s *= calls;
    c.latency_s *= calls;
    c.bandwidth_s *= calls;
    if (expert_bytes > 0) {
      c.time_s += expert_calls * expert.time_s;
      c.latency_s += expert_calls * expert.latency_s;
      c.bandwidth_s += expert_calls * expert.bandwidth_s;
    }
    return c;
  }
  /// Lists both uses in collectives[], `count` times each call.
  void Record(Evaluation& e, Purpose purpose, const Group& shard, const Group& expert_dp, double count) const {
    AddUse(e, op, purpose, shard, bytes, dense, count * calls);
    if (expert_bytes > 0) AddUse(e, op, purpose, expert_dp, expert_bytes, expert, count * expert_calls);
  }
};

void AddGemm(const ComputeParams& p, const GemmShape& g, double& fwd, double& bwd, double& flops,
             double& time, double& ideal, double* wgrad = nullptr) {
  // FP8 (TransformerEngine): forward, data-gradient and weight-gradient GEMMs all run in FP8
  // (E4M3 forward, E5M2 gradients with the hybrid format), unless a recipe overrides one.
  // torchao's rowwise_with_gw_hp runs the weight gradient in bf16 (GemmShape::wgrad_bf16).
  auto run = [&](int64_t m, int64_t n, int64_t k, bool fp8) {
    // SequentialMLP's experts: one GEMM per batch entry, one after another (GemmShape::calls).
    KernelTime t = fp8 ? Fp8GemmTime(p, m, n, k, g.call_batch()) : GemmTime(p, m, n, k, g.call_batch());
    if (g.calls() > 1) {
      const double calls = static_cast<double>(g.calls());
      t.flops *= calls;
      t.time_s *= calls;
    }
    return t;
  };
  const bool wg_fp8 = g.fp8 && !g.wgrad_bf16;
  const KernelTime f = run(g.m, g.n, g.k, g.fp8);
  const KernelTime dg = run(g.m, g.k, g.n, g.fp8);  // dX = dY W^T
  const KernelTime wg = run(g.k, g.n, g.m, wg_fp8);  // dW = X^T dY
  const bool rc = g.recomputed;
  fwd += f.time_s;
  bwd += dg.time_s + wg.time_s + (rc ? f.time_s : 0.0);
  const double executed = f.flops + dg.flops + wg.flops + (rc ? f.flops : 0.0);
  flops += executed;
  time += f.time_s + dg.time_s + wg.time_s + (rc ? f.time_s : 0.0);
  const double peak = g.fp8 ? p.fp8_peak_flops : p.peak_flops;
  ideal += (executed - wg.flops) / peak + wg.flops / (wg_fp8 ? p.fp8_peak_flops : p.peak_flops);
  if (wgrad) *wgrad += wg.time_s;
}

/// Prices a layer's kernels (kernels.h) on one GPU.
LayerCompute PriceLayer(const ComputeParams& cp, const LayerKernels& k) {
  LayerCompute lc;
  for (int i = 0; i < k.num_gemms; ++i) {
    AddGemm(cp, k.gemms[static_cast<size_t>(i)], lc.fwd_s, lc.bwd_s, lc.gemm_flops, lc.gemm_time_s,
            lc.gemm_ideal_s, &lc.wgrad_s);
  }
  if (k.fp8_cast_fwd_launches > 0) {
    // FP8 casts (kernels.h): bandwidth-bound, one launch each; recomputed with the layer.
    const double f = k.fp8_cast_fwd_bytes / cp.hbm_Bps + k.fp8_cast_fwd_launches * cp.launch_s;
    lc.fwd_s += f;
    lc.bwd_s += k.fp8_cast_bwd_bytes / cp.hbm_Bps + k.fp8_cast_bwd_launches * cp.launch_s +
                k.fp8_cast_recomputed_bytes / cp.hbm_Bps + k.fp8_cast_recomputed_launches * cp.launch_s;
  }
  if (k.flash_fwd_flops > 0) {
    // FlashAttention-2 accounting: backward 2.5x forward FLOPs. attention_fraction is FA2's on
    // this GPU; other generations scale it (compute.h FlashSpeedRelativeToFa2).
    const double f =
        k.flash_fwd_flops / (cp.peak_flops * cp.attention_fraction * k.AttentionSpeed(cp.cudnn_attention_measured)) +
        cp.launch_s;
    lc.fwd_s += f;
    lc.bwd_s += 2.5 * (f - cp.launch_s) + cp.launch_s + (k.flash_recomputed ? f : 0.0);
  }
  for (int i = 0; i < k.num_memory; ++i) {
    const MemoryKernel& mk = k.memory[static_cast<size_t>(i)];
    const double f = mk.count * MemoryBoundTime(cp, mk.bytes);
    lc.fwd_s += f;
    lc.bwd_s += mk.backward_count * MemoryBoundTime(cp, mk.backward_bytes) + (mk.recomputed ? f : 0.0);
  }
  return lc;
}

/// (1 - f) a + f b, field by field, for the scalar parts of an evaluation: x's fields become
/// the mix of a's and x's own.
double Mix(double a, double b, double f) { return (1.0 - f) * a + f * b; }
template <typename T>
void MixFields(T& x, const T& a, double f, std::initializer_list<double T::*> fields) {
  for (double T::*field : fields) x.*field = Mix(a.*field, x.*field, f);
}
}  // namespace

const Evaluator::PricedLayer& Evaluator::PricedLayerOf(const Layout& l, bool moe_layer) const {
  // Every layout field LayerKernelsFor reads (kernels.cc, experts.cc RouteTokens, context.h).
  const std::array<int64_t, 10> key = {l.tp, l.sp ? 1 : 0, l.mbs, static_cast<int64_t>(l.recompute),
                                       l.recompute_modules, l.cp, l.cp_balance ? 1 : 0,
                                       static_cast<int64_t>(l.cp_comm), l.ep, moe_layer ? 1 : 0};
  const auto it = layers_.find(key);
  if (it != layers_.end()) return it->second;
  PricedLayer p;
  p.kernels = LayerKernelsFor(model_, workload_, l, moe_layer);
  p.compute = PriceLayer(compute_, p.kernels);
  return layers_.emplace(key, p).first->second;
}

namespace {
// Some layers (ac_freq, recompute_num_layers) or some micro-batches (partial_ckpt_mbs)
// recomputed: Evaluate mixes two uniform evaluations.
bool LayerMix(const Layout& l) {
  return l.recompute == Recompute::kFull && (l.ac_freq > 0 || l.recompute_num_layers > 0);
}
bool MicroBatchMix(const Layout& l) {
  return l.partial_ckpt_mbs > 0 && l.pp > 1 && l.recompute != Recompute::kNone;
}
}  // namespace

double Evaluator::MicroBatchesOf(const Layout& l, uint32_t reasons) const {
  const int64_t per_step = l.mbs * l.dp();
  const int64_t accum = (reasons & kReasonGlobalBatch) ? 0 : workload_.global_batch / per_step;
  if (accum > 0) return static_cast<double>(accum);
  // A layout whose batch does not divide is still costed as if it ran whole micro-batches.
  return std::max(1.0, static_cast<double>(workload_.global_batch) / static_cast<double>(per_step));
}

StageSplit Evaluator::SplitOrEven(const Layout& l) const {
  StageSplit split;
  if (!SplitLayers(l, model_.layers, split, nullptr)) {
    split.first = split.middle = split.last = std::max<int64_t>(1, model_.layers / l.pp);
  }
  return split;
}

MemoryBreakdown Evaluator::StageMemoryOf(const Layout& l, const StageSplit& split, int64_t stage,
                                         double in_flight, const TpShardParams& tpp) const {
  return EstimateStageMemory(model_, cluster_, workload_, l,
                             StageShape{split.LayersOf(stage, l.pp), stage == 0, stage == l.pp - 1, in_flight,
                                        split.FirstLayerOf(stage, l.pp), &counts_, 0.0, &tpp});
}

Screening Evaluator::Screen(const Layout& l) const {
  if (LayerMix(l) || MicroBatchMix(l)) {
    const Evaluation e = Evaluate(l);
    return Screening{e.reasons, e.memory};
  }
  // What EvaluateUniform decides before it prices anything: its reasons and memory.
  Screening s;
  StaticProblems(model_, cluster_, workload_, l, [&](ReasonCode code, auto&&) { s.reasons |= code; });
  if (l.pp == 1) {
    s.memory = EstimateMemory(model_, cluster_, workload_, l, &counts_);
  } else {
    // PricePipeline's stages (first, one middle, last), the fullest kept.
    const StageSplit split = SplitOrEven(l);
    const int64_t mi = static_cast<int64_t>(std::ceil(MicroBatchesOf(l, s.reasons)));
    const TpShardParams tpp = ParamsPerTpRank(model_, l.tp, counts_);
    const int64_t middle = l.pp > 2 ? 1 : 0;  // none of its own at pp 2: stage 0 again
    for (const int64_t stage : {int64_t{0}, middle, l.pp - 1}) {
      const MemoryBreakdown sm =
          StageMemoryOf(l, split, stage, InFlightMicroBatches(l.schedule, l.pp, l.vpp, mi, stage), tpp);
      if (s.memory.peak_bytes < sm.peak_bytes) s.memory = sm;
    }
  }
  if (s.memory.exceeds()) s.reasons |= kReasonMemory;
  return s;
}

// Full recompute of some layers (ac_freq, recompute_num_layers): a share f of the busiest
// stage's layers (all of them without a pipeline) runs full recompute, the rest none. Every
// time is per layer, so the step is the mix (1 - f) x the step with none + f x the step with
// full, term by term, and each collective's count mixes the same way; memory is the stage's own
// (memory.h counts its recomputed layers).
//
// Micro-batch-level recompute (partial_ckpt_mbs) mixes the same way over micro-batches: a share
// of each rank's micro-batches keeps all activations and runs no recompute. The share is stage
// 0's, the smallest (its window is the widest, pipeline.h PartialCheckpointShare): every stage
// is priced at it, which bounds the step from above, as later stages' extra savings would only
// shorten their idle time; each stage's memory holds its own stored micro-batches.
Evaluation Evaluator::Evaluate(const Layout& l) const {
  const bool layer_mix = LayerMix(l);
  const bool mb_mix = MicroBatchMix(l);
  if (!layer_mix && !mb_mix) return EvaluateUniform(l);
  const StageSplit split = SplitOrEven(l);
  const int64_t busiest = std::max({split.first, split.middle, split.last});
  Layout none = l, full = l;
  none.recompute = Recompute::kNone;
  none.ac_freq = none.recompute_num_layers = none.partial_ckpt_mbs = 0;
  full.ac_freq = full.recompute_num_layers = full.partial_ckpt_mbs = 0;
  const Evaluation a = EvaluateUniform(none);
  Evaluation e = EvaluateUniform(full);
  const int64_t micro = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(e.parts.micro_batches)));
  const double f = layer_mix ? FullRecomputeShare(l, busiest)
                             : 1.0 - PartialCheckpointShare(l, micro, 0);
  // The layout's own problems (its ac_freq, its partial_ckpt_mbs) beside the uniform layout's.
  StaticProblems(model_, cluster_, workload_, l, [&](ReasonCode code, auto&&) { e.reasons |= code; });
  TimeBreakdown& t = e.time;
  const TimeBreakdown& ta = a.time;
  MixFields(t, ta, f,
            {&TimeBreakdown::step_s, &TimeBreakdown::compute_s, &TimeBreakdown::exposed_tp_comm_s,
             &TimeBreakdown::exposed_fsdp_comm_s, &TimeBreakdown::exposed_dp_comm_s, &TimeBreakdown::exposed_pp_comm_s,
             &TimeBreakdown::exposed_cp_comm_s, &TimeBreakdown::exposed_ep_comm_s, &TimeBreakdown::optimizer_s,
             &TimeBreakdown::bubble_s, &TimeBreakdown::gemm_efficiency, &TimeBreakdown::fsdp_copies_s});
  const double step_full = e.throughput.tokens_per_s_per_gpu > 0 ? 1.0 / e.throughput.tokens_per_s_per_gpu : 0.0;
  const double step_none = a.throughput.tokens_per_s_per_gpu > 0 ? 1.0 / a.throughput.tokens_per_s_per_gpu : 0.0;
  // Throughput over the mixed step: tokens and model FLOPs do not change; HFU's recomputed
  // FLOPs mix like the time.
  const double mixed = Mix(step_none, step_full, f);
  if (mixed > 0) {
    e.throughput.hfu = Mix(a.throughput.hfu * step_none, e.throughput.hfu * step_full, f) / mixed;
    e.throughput.mfu *= step_full / mixed;
    e.throughput.fp8_peak_utilization *= step_full / mixed;
    e.throughput.tokens_per_s_per_gpu = 1.0 / mixed;
  }
  e.layer_forward_s = Mix(a.layer_forward_s, e.layer_forward_s, f);
  e.layer_backward_s = Mix(a.layer_backward_s, e.layer_backward_s, f);
  e.fsdp_comm_s = Mix(a.fsdp_comm_s, e.fsdp_comm_s, f);
  e.fsdp_latency_s = Mix(a.fsdp_latency_s, e.fsdp_latency_s, f);
  StepComponents& p = e.parts;
  const StepComponents& pa = a.parts;
  MixFields(p, pa, f,
            {&StepComponents::layer_fwd_compute_s, &StepComponents::layer_bwd_compute_s, &StepComponents::layer_fwd_tp_s,
             &StepComponents::layer_bwd_tp_s, &StepComponents::layer_fwd_cp_s, &StepComponents::layer_bwd_cp_s,
             &StepComponents::layer_fwd_ep_s, &StepComponents::layer_bwd_ep_s, &StepComponents::head_fwd_s,
             &StepComponents::head_bwd_s, &StepComponents::fsdp_ag_layer_s, &StepComponents::fsdp_rs_layer_s,
             &StepComponents::fsdp_ag_outer_s, &StepComponents::fsdp_rs_outer_s, &StepComponents::fsdp_ag_head_s,
             &StepComponents::fsdp_rs_head_s, &StepComponents::fsdp_copy_out_s,
             &StepComponents::fsdp_copy_in_s, &StepComponents::zero1_rs_s,
             &StepComponents::zero1_ag_s, &StepComponents::dp_allreduce_s, &StepComponents::optimizer_s});
  for (auto [x, y] : {std::pair{&p.cp_fwd, &pa.cp_fwd}, std::pair{&p.cp_bwd, &pa.cp_bwd}}) {
    MixFields(*x, *y, f, {&CpPass::attn_s, &CpPass::last_block_s, &CpPass::before_s, &CpPass::during_s, &CpPass::after_s});
  }
  if (l.pp > 1) {
    for (auto [x, y] : {std::pair{&e.pipe.first, &a.pipe.first}, std::pair{&e.pipe.middle, &a.pipe.middle},
                        std::pair{&e.pipe.last, &a.pipe.last}}) {
      MixFields(*x, *y, f, {&StageCost::fwd_s, &StageCost::bwd_s, &StageCost::wgrad_s, &StageCost::compute_s, &StageCost::tail_s});
    }
    MixFields(e.pipe, a.pipe, f,
              {&PipelineParts::makespan_s, &PipelineParts::layer_fwd_s, &PipelineParts::layer_bwd_s,
               &PipelineParts::layer_wgrad_s, &PipelineParts::head_fwd_s, &PipelineParts::head_bwd_s});
  }
  // The same collectives in the same order with counts that differ (recompute repeats some).
  if (a.num_collectives == e.num_collectives) {
    for (int i = 0; i < e.num_collectives; ++i) {
      CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
      const CollectiveUse& v = a.collectives[static_cast<size_t>(i)];
      if (u.op == v.op && u.purpose == v.purpose && u.bytes == v.bytes) u.count_per_step = Mix(v.count_per_step, u.count_per_step, f);
    }
  }
  // Memory: the stage's own recomputed layers (memory.h), the fullest stage for a pipeline.
  MemoryBreakdown mem;
  if (l.pp == 1) {
    mem = EstimateMemory(model_, cluster_, workload_, l, &counts_);
  } else {
    StageCost* stages[] = {&e.pipe.first, &e.pipe.middle, &e.pipe.last};
    for (StageCost* sc : stages) {
      if (sc == &e.pipe.middle && l.pp <= 2) continue;
      const int64_t stage = sc->stage, n = split.LayersOf(stage, l.pp);
      const MemoryBreakdown sm = EstimateStageMemory(
          model_, cluster_, workload_, l,
          StageShape{n, stage == 0, stage == l.pp - 1, sc->in_flight, split.FirstLayerOf(stage, l.pp), &counts_,
                     PartialCheckpointInFlight(l, micro, stage)});
      sc->peak_bytes = sm.peak_bytes;
      if (mem.peak_bytes < sm.peak_bytes) mem = sm;
    }
  }
  e.memory = mem;
  e.parts.layer_activation_bytes = mem.activations_per_layer_bytes;
  e.parts.recompute_working_bytes = mem.recompute_working_bytes;
  e.reasons = (e.reasons & ~static_cast<uint32_t>(kReasonMemory)) |
              (mem.exceeds() ? static_cast<uint32_t>(kReasonMemory) : 0u);
  return e;
}

Evaluation Evaluator::EvaluateUniform(const Layout& l) const {
  Evaluation e;
  const Model& m = model_;
  const Workload& w = workload_;
  const PrecisionPolicy bytes = PrecisionOf(w);
  const ComputeParams& cp = compute_;
  const int64_t t = l.tp;
  const int64_t dp = l.dp();

  // --- Feasibility that does not need costing.
  StaticProblems(m, cluster_, w, l, [&](ReasonCode code, auto&&) { e.reasons |= code; });
  e.grad_accum = (e.reasons & kReasonGlobalBatch) ? 0 : w.global_batch / (l.mbs * dp);
  const double micro = MicroBatchesOf(l, e.reasons);

  // --- Pipeline: the split of the layers (checked above; an impossible one is costed as even).
  const StageSplit split = SplitOrEven(l);
  const bool piped = l.pp > 1;

  // --- Memory (pipeline: the fullest stage, PricePipeline).
  if (!piped) e.memory = EstimateMemory(m, cluster_, w, l, &counts_);

  // --- Compute of one layer, one micro-batch.
  const int64_t T = l.mbs * CpLocalSeq(w, l);  // this rank's tokens of a micro-batch (CP splits them)
  const int64_t h = m.hidden, d = m.head_dim;
  const double s = static_cast<double>(w.seq), Td = static_cast<double>(T);
  const LayerKernels& lk = PricedLayerOf(l, true).kernels;
  // An MoE model: the mean layer over its MoE and dense layers (Moe::dense_layers), since the
  // step counts layers x one layer's time; moe_frac of them route tokens.
  const double moe_frac = m.moe.dense() ? 0.0
                                        : static_cast<double>(m.moe.moe_layers(m.layers)) / static_cast<double>(m.layers);
  LayerCompute lc = PricedLayerOf(l, true).compute;
  // FP8 current scaling's amax all-reduces over TP per layer and micro-batch (kernels.h).
  double amax_fwd = lk.fp8_amax_reductions_fwd, amax_bwd = lk.fp8_amax_reductions_bwd,
         amax_rc = lk.fp8_amax_reductions_recomputed;
  if (!m.moe.dense() && moe_frac < 1.0) {
    const PricedLayer& dense = PricedLayerOf(l, false);
    const LayerKernels& dk = dense.kernels;
    const LayerCompute& dc = dense.compute;
    auto mix = [&](double x, double y) { return moe_frac * x + (1.0 - moe_frac) * y; };
    lc = {mix(lc.fwd_s, dc.fwd_s), mix(lc.bwd_s, dc.bwd_s), mix(lc.wgrad_s, dc.wgrad_s),
          mix(lc.gemm_flops, dc.gemm_flops), mix(lc.gemm_time_s, dc.gemm_time_s),
          mix(lc.gemm_ideal_s, dc.gemm_ideal_s)};
    amax_fwd = mix(amax_fwd, dk.fp8_amax_reductions_fwd);
    amax_bwd = mix(amax_bwd, dk.fp8_amax_reductions_bwd);
    amax_rc = mix(amax_rc, dk.fp8_amax_reductions_recomputed);
  }
  // FP8 weight casts run once per step (the first micro-batch, kernels.h); spread over the
  // micro-batches so that every layer time is a per-micro-batch mean. Current scaling reads
  // each weight once more for its amax.
  // torchao with FP8 FSDP gathers casts each rank's shard before the gather (5 B per element,
  // precompute_float8_dynamic_scale_for_fsdp: the amaxes of all weights in one pass).
  const bool torchao = TorchaoFp8(w.fp8_recipe);
  const Fp8CastBytes fc = Fp8CastBytesOf(bytes);
  const double weight_cast_bytes = torchao ? fc.torchao / static_cast<double>(l.shard())
                                   : w.fp8_recipe == Fp8Recipe::kTeTensorwise ? fc.amax_cast_transpose
                                                                               : fc.cast_transpose;
  const double weight_casts =
      lk.fp8_weight_launches > 0
          ? (weight_cast_bytes * lk.fp8_weight_elements / cp.hbm_Bps + lk.fp8_weight_launches * cp.launch_s) / micro
          : 0.0;
  double fwd = lc.fwd_s + weight_casts, bwd = lc.bwd_s;
  e.layer_forward_s = fwd;
  e.layer_backward_s = bwd;

  // Outside the layers, per micro-batch: output head GEMM and the vocab-parallel cross-entropy.
  double head_fwd = 0, head_bwd = 0, head_flops = 0, head_time = 0, head_ideal = 0;
  {
    const HeadKernels hk = HeadKernelsFor(m, w, l);
    AddGemm(cp, hk.gemm, head_fwd, head_bwd, head_flops, head_time, head_ideal);
    for (const MemoryKernel& k : hk.memory) {
      head_fwd += k.count * MemoryBoundTime(cp, k.bytes);
      head_bwd += k.backward_count * MemoryBoundTime(cp, k.backward_bytes);
    }
  }

  // FSDP2's copies around its collectives, on the compute stream (Workload::fsdp2_copies;
  // pytorch/pytorch torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py @8fc2039):
  // foreach_all_gather_copy_out waits for a unit's all-gather and copies its output into the
  // unit's parameters (split_with_sizes_copy: the gathered bytes read and written) before the
  // unit runs; foreach_reduce packs the unit's gradients into the reduce-scatter input
  // (foreach_reduce_scatter_copy_in, chunk_cat: the gradients read, written in the reduce dtype)
  // on the current stream before the reduce-scatter stream waits on it. Per gather (forward, and
  // backward under ZeRO-3) and per reduce-scatter of each micro-batch; the embedding and head
  // unit's with the head. Under pipeline parallelism a stage gathers once per step: PricePipeline
  // prices its copies once per step.
  // The rank's parameters under TP (the FSDP units below); a pipeline prices its own per stage.
  // An MoE model's routed experts: expert / ep per layer on a rank, sharded over the
  // expert-data-parallel group (fsdp x cp / ep ranks at stride tp x ep), whose collectives run
  // on the same stream right after the dense part's.
  const TpShardParams tpp = piped ? TpShardParams{} : ParamsPerTpRank(m, t, counts_);
  const int64_t edp = l.shard() / std::max<int64_t>(1, l.ep);
  const double xunit = ExpertUnitParams(l, tpp);
  const double outer = tpp.embedding + tpp.head;
  if (const FsdpCopyBytes cb = FsdpCopyBytesPerParam(w, l); cb.any() && !piped) {
    auto copy_out = [&](double params) { return FsdpCopyTime(cp, cb.gather, params); };
    auto copy_in = [&](double params) { return FsdpCopyTime(cp, cb.reduce, params); };
    e.parts.fsdp_copy_out_s = copy_out(tpp.layer + xunit);
    e.parts.fsdp_copy_in_s = copy_in(tpp.layer + xunit);
    fwd += e.parts.fsdp_copy_out_s;
    bwd += (l.zero >= 3 ? e.parts.fsdp_copy_out_s : 0.0) + e.parts.fsdp_copy_in_s;
    // The embedding, its own unit, is gathered again for its backward under ZeRO-3 (FSDP2:
    // the copies come with fsdp2_copies, as the units do).
    const double emb_copy_again = l.zero >= 3 ? copy_out(tpp.embedding) : 0.0;
    head_fwd += copy_out(outer);
    head_bwd += copy_in(outer) + emb_copy_again;
    e.layer_forward_s = fwd;
    e.layer_backward_s = bwd;
    const double gathers = l.zero >= 3 ? 2.0 : 1.0;
    e.time.fsdp_copies_s = micro * (static_cast<double>(m.layers) * (gathers * e.parts.fsdp_copy_out_s + e.parts.fsdp_copy_in_s) +
                                    copy_out(outer) + copy_in(outer) + emb_copy_again);
  }

  const double L = static_cast<double>(m.layers);
  // Layers this rank runs: all of them, or the largest stage's under pipeline parallelism.
  const double Lr = static_cast<double>(std::max({split.first, split.middle, split.last}));
  const double compute_mb = L * (fwd + bwd) + head_fwd + head_bwd;
  double compute = micro * compute_mb;
  const double gemm_time = micro * (L * lc.gemm_time_s + head_time);
  // Achieved over the dense peak of each GEMM's own precision (FP8 GEMMs against the FP8 peak).
  const double gemm_ideal = micro * (L * lc.gemm_ideal_s + head_ideal);
  e.time.gemm_efficiency = gemm_time > 0 ? gemm_ideal / gemm_time : 0.0;

  // --- Communication: each group placed by its stride in the mesh's rank order (mesh.h).
  // FSDP shards over fsdp x cp: cp*fsdp ranks at the CP stride (mesh.h).
  const MeshShape mesh = MeshShape::Of(l);
  const Group tp_group = PlaceGroup(t, mesh.Stride(MeshDim::kTp));
  const Group fsdp_group = PlaceGroup(l.shard(), mesh.Stride(MeshDim::kCp));
  const Group rep_group = PlaceGroup(l.replicate, mesh.Stride(MeshDim::kReplicate));
  auto add = [&](Coll op, Purpose purpose, const Group& g, const CollectiveTable& table,
                 double bytes, double count) -> double {
    const CollectiveCost cost = TimeOn(table, op, bytes);
    AddUse(e, op, purpose, g, bytes, cost, count);
    return cost.time_s;
  };

  // TP: per layer per micro-batch, on the critical path (tensor.h lists the calls; here each
  // is priced over the TP group and summed into its windows).
  double tp_exposed = 0;
  if (t > 1) {
    const CollectiveTable& tt = TableOf(tp_group);
    // A blocking collective inside the step also waits for the slowest rank of its group to
    // arrive (skew: stragglers, jitter, ranks sharing cores): a calibrated cost per call that a
    // barrier-synchronised nccl-tests sweep does not see. 0 uncalibrated.
    const double sync = cluster_.efficiency.step_sync_us * 1e-6;
    const TpUses uses = TpUsesFor(m, l, bytes, TpDemand{Td, moe_frac, amax_fwd, amax_bwd, amax_rc, w.precision == Precision::kFp8 && !RowwiseFp8(w.fp8_recipe)});
    for (int i = 0; i < uses.n; ++i) {
      const TpUse& u = uses.use[static_cast<size_t>(i)];
      const double calls = u.calls(Lr);
      const double c = add(u.op, Purpose::kTp, tp_group, tt, u.bytes, micro * calls) + sync;
      tp_exposed += micro * calls * c;
      e.parts.layer_fwd_tp_s += u.layer_fwd * c;
      e.parts.layer_bwd_tp_s += u.layer_bwd * c;
      e.parts.head_fwd_s += u.outer_fwd * c;
      e.parts.head_bwd_s += u.outer_bwd * c;
    }
  }

  // Context parallelism: one layer's KV exchange per micro-batch, on the critical path where the
  // attention cannot hide it (context.h).
  double cp_exposed = 0, cp_hidden = 0;
  if (l.cp > 1) {
    const Group cp_group = PlaceGroup(l.cp, mesh.Stride(MeshDim::kCp));
    const double attn_fwd_s =
        lk.flash_fwd_flops > 0
            ? lk.flash_fwd_flops / (cp.peak_flops * cp.attention_fraction * lk.AttentionSpeed(cp.cudnn_attention_measured))
            : 0.0;
    const CpLayerCost cc = PriceCpLayer(links_, cp_group, l, CpVolumesFor(m, w, l), attn_fwd_s);
    for (int i = 0; i < cc.num_uses; ++i) {
      const CpLayerCost::Use& u = cc.uses[i];
      AddUse(e, u.op, Purpose::kCpKv, cp_group, u.bytes, u.cost, micro * Lr * u.count);
    }
    e.parts.layer_fwd_cp_s = cc.fwd_s;
    e.parts.layer_bwd_cp_s = cc.bwd_s;
    e.parts.cp_fwd = cc.fwd;
    e.parts.cp_bwd = cc.bwd;
    cp_exposed = micro * Lr * (cc.fwd_s + cc.bwd_s);
    cp_hidden = micro * Lr * cc.hidden_s;
  }

  // Expert parallelism: each MoE layer's token dispatch and combine per micro-batch, blocking
  // on the compute stream (experts.h); the mean over the layers, like the compute.
  double ep_exposed = 0;
  if (!m.moe.dense() && (l.ep > 1 || (t > 1 && l.sp))) {
    const Group ep_group = PlaceGroup(l.ep, mesh.Stride(MeshDim::kCp));
    const CollectiveTable& tt = TableOf(tp_group);
    const EpLayerCost ec = PriceEpLayer(links_, ep_group, t > 1 ? &tt : nullptr, m, l, RouteTokens(m, w, l));
    for (int i = 0; i < ec.num_uses; ++i) {
      const EpLayerCost::Use& u = ec.uses[i];
      AddUse(e, u.op, u.dispatch ? Purpose::kEpDispatch : Purpose::kEpCombine, u.over_tp ? tp_group : ep_group,
             u.bytes, u.cost, micro * Lr * moe_frac * u.count);
    }
    e.parts.layer_fwd_ep_s = moe_frac * ec.fwd_s;
    e.parts.layer_bwd_ep_s = moe_frac * ec.bwd_s;
    ep_exposed = micro * Lr * (e.parts.layer_fwd_ep_s + e.parts.layer_bwd_ep_s);
  }

  // Activation offload (Layout::cpu_offload_layers; pp 1, no recompute: StaticProblems): an
  // offloaded layer's saved tensors go to the host while the next layer runs its forward, and
  // come back while the one after it runs backward (TransformerEngine's double-buffered offload
  // handler), each copy hidden behind that layer's compute-stream time (its TP, CP and EP
  // collectives included); what a copy takes beyond it is exposed. A mean over the layers.
  double offload_exposed_layer = 0;
  if (l.cpu_offload_layers > 0 && cluster_.node.host_GBps_per_gpu > 0 && l.cpu_offload_layers < m.layers) {
    const double copy = e.memory.activations_per_layer_bytes / (cluster_.node.host_GBps_per_gpu * 1e9);
    const double share = static_cast<double>(l.cpu_offload_layers) / static_cast<double>(m.layers);
    const double fwd_window = fwd + e.parts.layer_fwd_tp_s + e.parts.layer_fwd_cp_s + e.parts.layer_fwd_ep_s;
    const double bwd_window = bwd + e.parts.layer_bwd_tp_s + e.parts.layer_bwd_cp_s + e.parts.layer_bwd_ep_s;
    const double f = share * std::max(0.0, copy - fwd_window), b = share * std::max(0.0, copy - bwd_window);
    fwd += f;
    bwd += b;
    e.layer_forward_s = fwd;
    e.layer_backward_s = bwd;
    offload_exposed_layer = f + b;
    compute += micro * L * offload_exposed_layer;
  }

  if (piped) {
    PricePipeline(l, split, LayerTimes{fwd, bwd, lc.wgrad_s, head_fwd, head_bwd}, micro, e);
  } else {
    // FSDP / ZeRO over the shard group, and the replica all-reduce.
    const DpVolumes dv = DataParallelVolumesFor(w, l, tpp, L, outer);
    const double unit = tpp.layer;
    const Group edp_group = PlaceGroup(edp, mesh.Stride(MeshDim::kCp) * l.ep);
    double fsdp_exposed = 0, hidden_comm = cp_hidden;
    // ZeRO-2/3's per-layer collectives priced window by window: what the kernels beside them
    // lose (OverlapSlowdownCost's rule per window), and what stays exposed past them.
    double fsdp_stretch = 0;
    const bool fsdp_windows = l.shard() > 1 && l.zero >= 2;
    // The windows data-parallel traffic hides behind: everything the compute stream does for a
    // layer, its blocking TP collectives included (the simulator's streams; sim/simulate.h).
    const double F = fwd + e.parts.layer_fwd_tp_s + e.parts.layer_fwd_cp_s + e.parts.layer_fwd_ep_s;
    const double B = bwd + e.parts.layer_bwd_tp_s + e.parts.layer_bwd_cp_s + e.parts.layer_bwd_ep_s;
    if (l.shard() > 1) {
      const CollectiveTable& ft = TableOf(fsdp_group);
      const CollectiveTable& xt = TableOf(edp_group);
      auto dp = [&](Coll op, double bytes, double expert_bytes) {
        return DpCall{op, bytes, expert_bytes, TimeOn(ft, op, bytes),
                      expert_bytes > 0 ? TimeOn(xt, op, expert_bytes) : CollectiveCost{}};
      };
      const DpCall ag_call = dp(Coll::kAllGather, dv.unit_gather, dv.expert_unit_gather);
      const DpCall rs_call = dp(Coll::kReduceScatter, dv.unit_reduce, dv.expert_unit_reduce);
      const CollectiveCost ag_l = ag_call.sum(), rs_l = rs_call.sum();
      // FSDP2 (fsdp2_copies) gathers and reduces the embedding and the head as units of their
      // own (StepComponents::split_outer); FSDP1 as its root unit, both at once.
      const bool split = w.fsdp2_copies;
      const OuterUnitVolumes ov = OuterUnitVolumesFor(w, tpp);
      const CollectiveCost ag_o = TimeOn(ft, Coll::kAllGather, ov.emb_gather);
      const CollectiveCost rs_o = TimeOn(ft, Coll::kReduceScatter, ov.emb_reduce);
      const CollectiveCost ag_h = ov.head_gather > 0 ? TimeOn(ft, Coll::kAllGather, ov.head_gather) : CollectiveCost{};
      const CollectiveCost rs_h = ov.head_reduce > 0 ? TimeOn(ft, Coll::kReduceScatter, ov.head_reduce) : CollectiveCost{};
      double total = 0, latency = 0;
      auto account = [&](const CollectiveCost& c, double count) {
        total += c.time_s * count;
        latency += c.latency_s * count;
      };
      if (l.zero >= 2) {
        const bool gather_in_bwd = l.zero >= 3;
        const double ag_count = micro * ((gather_in_bwd ? 2.0 : 1.0) * L);
        // Under ZeRO-3 FSDP2's embedding is resharded after its forward and gathered again for
        // its backward (torchtitan apply_fsdp: reshard_after_forward on the embedding's unit).
        const bool emb_again = split && gather_in_bwd;
        const double emb_gathers = micro * (emb_again ? 2.0 : 1.0);
        ag_call.Record(e, Purpose::kFsdpParamGather, fsdp_group, edp_group, ag_count);
        AddUse(e, Coll::kAllGather, Purpose::kFsdpParamGather, fsdp_group, ov.emb_gather, ag_o, emb_gathers);
        if (ov.head_gather > 0) AddUse(e, Coll::kAllGather, Purpose::kFsdpParamGather, fsdp_group, ov.head_gather, ag_h, micro);
        rs_call.Record(e, Purpose::kFsdpGradReduce, fsdp_group, edp_group, micro * L);
        AddUse(e, Coll::kReduceScatter, Purpose::kFsdpGradReduce, fsdp_group, ov.emb_reduce, rs_o, micro);
        if (ov.head_reduce > 0) AddUse(e, Coll::kReduceScatter, Purpose::kFsdpGradReduce, fsdp_group, ov.head_reduce, rs_h, micro);
        account(ag_l, ag_count);
        account(ag_o, emb_gathers);
        account(ag_h, micro);
        account(rs_l, micro * L);
        account(rs_o, micro);
        account(rs_h, micro);
        // Forward: the first unit's gather (the embedding's, or the root's) and the first
        // layer's are exposed, the rest hide behind the previous layer; the head's runs behind the
        // last layer's forward, as the head is the next unit in forward order.
        // Each window: collectives c beside the compute stream's x seconds for a layer, k of them
        // its kernels; the kernels stretch while c runs, and c is exposed past the stretched window.
        const double slowdown = cluster_.efficiency.overlap_slowdown;
        double stretch = 0;
        auto window = [&](double c, double x, double k, double count) {
          const OverlapCost oc = OverlapSlowdownCost(k, x - k, std::min(c, x), std::max(0.0, c - x), slowdown);
          stretch += count * oc.compute_extra_s;
          return count * oc.exposed_s;
        };
        const double fwd_exp = ag_o.time_s + ag_l.time_s + window(ag_l.time_s, F, fwd, L - 1.0) +
                               window(ag_h.time_s, F, fwd, 1.0);
        // Backward: gathers and reduce-scatters share the stream behind each layer's backward.
        // The last layer's gather runs behind the head's backward (its TP collectives included):
        // FSDP2's pre-backward of the head unit prefetches the next unit in backward order
        // (torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py pre_backward,
        // _backward_prefetch), as the simulator has it. Behind layer i's backward the stream runs
        // the next gather and the previous unit's reduce-scatter: behind the last layer's the
        // head's (FSDP2), behind the first layer's the embedding's gather (ZeRO-3, FSDP2) and no
        // layer's; the first layer's and the first unit's reduce-scatters are exposed.
        const double a = gather_in_bwd ? ag_l.time_s : 0.0;
        const double head_b = head_bwd + e.parts.head_bwd_s;  // the TP part is in parts already
        double bwd_exp = window(a, head_b, head_bwd, 1.0) + rs_l.time_s + rs_o.time_s;
        if (split && L >= 2.0) {
          bwd_exp += window(a + rs_h.time_s, B, bwd, 1.0) + window(a + rs_l.time_s, B, bwd, L - 2.0) +
                     window(rs_l.time_s + (emb_again ? ag_o.time_s : 0.0), B, bwd, 1.0);
        } else {
          bwd_exp += window(a + rs_l.time_s, B, bwd, L - 1.0) + rs_h.time_s;
        }
        fsdp_exposed = micro * (fwd_exp + bwd_exp);
        fsdp_stretch = micro * stretch;
        e.parts.fsdp_ag_layer_s = ag_l.time_s;
        e.parts.fsdp_rs_layer_s = rs_l.time_s;
        e.parts.fsdp_ag_outer_s = ag_o.time_s;
        e.parts.fsdp_rs_outer_s = rs_o.time_s;
        e.parts.fsdp_ag_head_s = ag_h.time_s;
        e.parts.fsdp_rs_head_s = rs_h.time_s;
        e.parts.split_outer = split;
        e.parts.gather_in_backward = gather_in_bwd;
      } else {
        // ZeRO-1: reduce-scatter all gradients once per step behind the last micro-batch's
        // backward, gather the updated parameters behind the next step's first forward, in the
        // framework's buckets (DpBucketsFor; the gather runs in the reduction's buckets).
        const double reduce_b = PrecisionOf(w).reduce;
        const DpBuckets db = DpBucketsFor(w, dv.step_reduce / reduce_b, l.shard(), L, !w.dp_reduce_after_backward);
        const DpBuckets xb =
            DpBucketsFor(w, dv.expert_step_reduce / reduce_b, l.shard(), L, !w.dp_reduce_after_backward);
        auto bucketed = [&](Coll op, double bytes, double expert_bytes) {
          DpCall c = dp(op, bytes / db.calls, expert_bytes / xb.calls);
          c.calls = db.calls;
          c.expert_calls = xb.calls;
          return c;
        };
        const DpCall rs_step = bucketed(Coll::kReduceScatter, dv.step_reduce, dv.expert_step_reduce);
        const DpCall ag_step = bucketed(Coll::kAllGather, dv.step_gather, dv.expert_step_gather);
        rs_step.Record(e, Purpose::kFsdpGradReduce, fsdp_group, edp_group, 1.0);
        ag_step.Record(e, Purpose::kFsdpParamGather, fsdp_group, edp_group, 1.0);
        const CollectiveCost rs_all = rs_step.sum(), ag_all = ag_step.sum();
        account(rs_all, 1.0);
        account(ag_all, 1.0);
        const double tasks = dv.expert_step_reduce > 0 ? std::min(L, db.tasks + xb.tasks) : db.tasks;
        const double rb = ExposedBucket(w.dp_reduce_after_backward, tasks);
        const double gb = ExposedBucket(w.dp_gather_after_step, tasks);
        e.parts.zero1_tasks = tasks;
        e.parts.per_step_zero1 = true;
        e.parts.zero1_rs_s = rs_all.time_s;
        e.parts.zero1_ag_s = ag_all.time_s;
        e.parts.dp_after_backward = w.dp_reduce_after_backward;
        e.parts.zero1_gather_blocking = w.dp_gather_after_step;
        fsdp_exposed = rs_all.time_s * rb + std::max(0.0, rs_all.time_s * (1 - rb) - L * B) +
                       ag_all.time_s * gb + std::max(0.0, ag_all.time_s * (1 - gb) - L * F);
      }
      e.fsdp_comm_s = total;
      e.fsdp_latency_s = latency;
      // ZeRO-2/3's windows have priced their slowdown; ZeRO-1's per-step buckets join the rest.
      if (!fsdp_windows) hidden_comm += std::max(0.0, total - fsdp_exposed);
    }
    double dp_exposed = 0;
    if (l.replicate > 1) {
      const CollectiveTable& rt = TableOf(rep_group);
      // Every parameter's shard: the dense part over fsdp x cp, the experts over ep x edp.
      const DpBuckets rb = DpBucketsFor(w, dv.replica_reduce / PrecisionOf(w).reduce, l.replicate * l.shard(), L,
                                        !w.dp_reduce_after_backward);
      const double ar =
          rb.calls * add(Coll::kAllReduce, Purpose::kDpGradReduce, rep_group, rt, dv.replica_reduce / rb.calls, rb.calls);
      const double bucket = ExposedBucket(w.dp_reduce_after_backward, rb.tasks);
      dp_exposed = ar * bucket + std::max(0.0, ar * (1 - bucket) - L * B);
      e.parts.dp_allreduce_s = ar;
      e.parts.dp_tasks = rb.tasks;
      e.parts.dp_after_backward = w.dp_reduce_after_backward;
      hidden_comm += std::max(0.0, ar - dp_exposed);
    }

    // Compute slows while NCCL kernels share the SMs and HBM with it.
    {
      // The per-step collectives (ZeRO-1's buckets, the replicas' all-reduce, CP's exchange
      // hidden behind attention) over the whole step; ZeRO-2/3's per layer above.
      // What these expose runs after the pass (their last bucket) or past all of it: no kernel
      // beside it to stretch. The offload's waits are on the compute stream but no kernels.
      const double offload_wait = micro * L * offload_exposed_layer;
      const double kernels = compute - offload_wait;
      compute += fsdp_stretch;
      compute += OverlapSlowdownCost(kernels, tp_exposed + ep_exposed + offload_wait, hidden_comm, 0.0,
                                     cluster_.efficiency.overlap_slowdown)
                     .compute_extra_s;
    }

    // Optimizer: Adam over the local shard, bandwidth-bound (memory.h OptimizerStepBytesPerParam).
    // Before the first micro-batch, the gradient buffer zeroed where the framework keeps one.
    const double local_params = tpp.total(m.layers) / static_cast<double>(l.shard());
    const double opt_bytes = OptimizerStepBytesPerParam(l.recipe, bytes, w.optimizer_per_op);
    const double held = tpp.embedding + tpp.head + L * tpp.LayerOnRank(l.ep);
    e.time.optimizer_s = MemoryBoundTime(cp, local_params * opt_bytes + GradBufferZeroBytes(w, held));

    {
      StepComponents& p = e.parts;
      p.micro_batches = micro;
      p.layer_fwd_compute_s = fwd;
      p.layer_bwd_compute_s = bwd;
      p.head_fwd_s += head_fwd;
      p.head_bwd_s += head_bwd;
      p.optimizer_s = e.time.optimizer_s;
      p.overlap_slowdown = cluster_.efficiency.overlap_slowdown;
      const MemoryBreakdown& mb = e.memory;
      p.static_bytes = mb.params_bytes + mb.grads_bytes + mb.optimizer_bytes + mb.overhead_bytes;
      p.layer_activation_bytes = mb.activations_per_layer_bytes;
      // The simulator holds what memory.cc counts: the offloaded layers in effect, the rest and
      // the staging buffer on the GPU; what is left of the activations is outside the layers.
      p.offload_layers = OffloadedLayers(L, l.cpu_offload_layers);
      p.outer_activation_bytes =
          mb.activations_bytes - mb.activations_per_layer_bytes * ResidentActivationLayers(L, l.cpu_offload_layers);
      const bool gathered = l.shard() > 1 && (l.zero >= 3 || (l.recipe == Recipe::kFsdp2 && l.zero == 2));
      p.unit_param_bytes = gathered ? bytes.weight * (unit + xunit) : 0.0;
      // The unit's gradients as backward writes them, and their reduce-dtype copy if another.
      const double reduce_copy = bytes.reduce != bytes.grad ? bytes.reduce : 0.0;
      const bool unit_grads = l.shard() > 1 && l.zero >= 2;
      p.unit_grad_bytes = unit_grads ? bytes.grad * (unit + xunit) : 0.0;
      p.unit_reduce_copy_bytes = unit_grads ? reduce_copy * (unit + xunit) : 0.0;
      p.recompute_working_bytes = mb.recompute_working_bytes;
    }
    e.time.compute_s = compute;
    e.time.exposed_tp_comm_s = tp_exposed;
    e.time.exposed_fsdp_comm_s = fsdp_exposed;
    e.time.exposed_dp_comm_s = dp_exposed;
    e.time.exposed_cp_comm_s = cp_exposed;
    e.time.exposed_ep_comm_s = ep_exposed;
    e.time.exposed_offload_s = micro * L * offload_exposed_layer;
    e.time.bubble_s = 0.0;
    e.time.step_s = compute + tp_exposed + cp_exposed + ep_exposed + fsdp_exposed + dp_exposed + e.time.optimizer_s;
  }

  if (e.memory.exceeds()) e.reasons |= kReasonMemory;

  // --- Throughput. MFU: model FLOPs (6N + attention, no recompute); HFU adds the recompute.
  const double tokens = static_cast<double>(w.global_batch) * s;
  const double gpus = static_cast<double>(w.gpus);
  e.throughput.tokens_per_s_per_gpu = tokens / (e.time.step_s * gpus);
  const double peak_all = cp.peak_flops * gpus * e.time.step_s;
  e.throughput.mfu = model_flops_per_token_ * tokens / peak_all;
  if (w.precision == Precision::kFp8 && cp.fp8_peak_flops > 0) {
    e.throughput.fp8_peak_utilization =
        model_flops_per_token_ * tokens / (cp.fp8_peak_flops * gpus * e.time.step_s);
  }
  e.throughput.mfu_causal = w.mfu_causal;
  // HFU counts the FLOPs the GPUs execute, whatever MFU's convention: FlashAttention skips the
  // masked blocks of causal attention (half its s^2 work), the unfused kernels compute every
  // score and mask it afterwards. (Counting the noncausal convention's attention as executed put
  // HFU past 100% at long sequences.)
  const double executed_per_token = executed_flops_per_token_;
  double extra_per_token = 0;
  // Attention's forward FLOPs per token as executed (a third of forward + backward).
  const double attn_fwd = executed_attention_flops_per_token_ / 3.0;
  if (l.recompute == Recompute::kFull) {
    extra_per_token = (executed_per_token - executed_attention_flops_per_token_ -
                       6.0 * static_cast<double>(m.vocab * h)) / 3.0 + attn_fwd;
  } else if (l.recompute == Recompute::kSelective) {
    // Korthikanti Eq. 8 (s/(3h) in place of s/(6h)) for the attention core; Megatron's other
    // modules add their blocks' forward GEMM FLOPs per token over the layers that have them.
    if (Recomputes(l, kRecomputeCoreAttn)) extra_per_token = 3.0 * attn_fwd;
    const double gates = m.activation == Activation::kSwiglu ? 3.0 : 2.0;
    const double dense_layers = m.moe.dense() ? L : static_cast<double>(m.moe.dense_layers.size());
    const double moe_layers = L - dense_layers;
    if (Recomputes(l, kRecomputeMlp)) extra_per_token += 2.0 * gates * static_cast<double>(h * m.ffn) * dense_layers;
    if (!m.moe.dense()) {
      const double shared_ffn = static_cast<double>(m.moe.shared_experts * m.moe.shared_expert_ffn);
      const double routed = static_cast<double>(m.moe.experts_per_token * m.moe.expert_ffn);
      if (Recomputes(l, kRecomputeMoe)) {
        extra_per_token += moe_layers * 2.0 * static_cast<double>(h) *
                           (gates * (routed + shared_ffn) + static_cast<double>(m.moe.experts));
      } else if (Recomputes(l, kRecomputeSharedExperts)) {
        extra_per_token += moe_layers * 2.0 * gates * static_cast<double>(h) * shared_ffn;
      }
    }
  } else if (l.recompute == Recompute::kOp) {
    // The recomputed matmuls' forward FLOPs (kernels.cc: wk, wo and w3, or fc2 for a plain MLP).
    const double kvd = static_cast<double>(m.kv_heads * d), ad = static_cast<double>(m.heads * d);
    const double f = static_cast<double>(m.ffn);
    extra_per_token = 2.0 * L * static_cast<double>(h) * (kvd + ad + f);
  }
  e.throughput.hfu = (executed_per_token + extra_per_token) * tokens / peak_all;
  return e;
}

// Pipeline parallelism (pipeline.h). Each stage runs m micro-batches of its layers; the schedule
// sets the makespan: m x the slowest stage + the bubble the schedule leaves (1F1B: the other
// stages' time once, (sum_i T_i - T_max); interleaved: / vpp; ZB-H1: x (t_f + t_b - t_w) / T,
// Qi et al. 2023) + the stage-to-stage sends on the critical path. Then each stage's per-step
// data-parallel traffic after its last backward (the largest tail counts) and the optimizer.
void Evaluator::PricePipeline(const Layout& l, const StageSplit& split, const LayerTimes& lt,
                              double micro, Evaluation& e) const {
  const Model& m = model_;
  const Workload& w = workload_;
  const int64_t p = l.pp, v = l.vpp, t = l.tp;
  const int64_t mi = static_cast<int64_t>(std::ceil(micro));
  const TpShardParams tpp = ParamsPerTpRank(m, t, counts_);
  const PrecisionPolicy bytes = PrecisionOf(w);
  const StepComponents& pc = e.parts;  // TP per layer and the head's TP so far
  const double slowdown = cluster_.efficiency.overlap_slowdown;

  // Stage-to-stage activations: b x s x h, sequence-sharded over TP with SP
  // (Megatron-LM p2p_communication.py sends the SP shard) and over CP (s/cp tokens per rank).
  // Stage neighbours are gpus/p apart.
  // Megatron-LM 2022's scatter-gather (Workload::pp_scatter_gather) sends 1/t of the whole
  // tensor without SP, then all-gathers it over TP on the receiver.
  const double whole_bytes = bytes.activation * static_cast<double>(l.mbs * CpLocalSeq(w, l) * m.hidden);
  const bool scatter = w.pp_scatter_gather && !l.sp && t > 1;
  const double act_bytes = whole_bytes / (l.sp || scatter ? static_cast<double>(t) : 1.0);
  // Placement decides each hop's link (pipeline.h PipelineHopCrossesNode): stage neighbours are
  // gpus/p ranks apart, so a pipeline deeper than the nodes it spans has hops of both kinds.
  const MeshShape mesh = MeshShape::Of(l);
  const int64_t stride = mesh.Stride(MeshDim::kPp), gpn = cluster_.node.gpus_per_node;
  // Some hop crosses when the pipeline spans more than a node; some stays inside when a node
  // holds two neighbouring stages (PipelineHopCrossesNode: hop 0 then does not cross).
  const bool inter = p * stride > gpn, intra = 2 * stride <= gpn;
  const CollectiveCost p2p_in = intra ? SendRecvTime(links_, false, act_bytes) : CollectiveCost{};
  const CollectiveCost p2p_out = inter ? SendRecvTime(links_, true, act_bytes) : CollectiveCost{};
  const PipelineHops hops{p, stride, gpn, intra ? p2p_in.time_s : p2p_out.time_s,
                          inter ? p2p_out.time_s : p2p_in.time_s};
  const Group tp_group = PlaceGroup(t, mesh.Stride(MeshDim::kTp));
  const CollectiveCost gather = scatter ? TimeOn(TableOf(tp_group), Coll::kAllGather, whole_bytes) : CollectiveCost{};
  const bool blocking = ExchangesBlock(w, l.schedule);
  e.pipe.p2p_s = hops.intra_s;
  e.pipe.p2p_inter_s = hops.inter_s;
  e.pipe.stage_stride = stride;
  e.pipe.gpus_per_node = gpn;
  e.pipe.intra_node = intra;
  e.pipe.gather_s = gather.time_s;
  e.pipe.blocking = blocking;
  const double comm_fwd = pc.layer_fwd_tp_s + pc.layer_fwd_cp_s + pc.layer_fwd_ep_s;
  const double comm_bwd = pc.layer_bwd_tp_s + pc.layer_bwd_cp_s + pc.layer_bwd_ep_s;
  e.pipe.layer_fwd_s = lt.fwd_s + comm_fwd;
  e.pipe.layer_wgrad_s = lt.wgrad_s;
  e.pipe.layer_bwd_s = lt.bwd_s + comm_bwd - lt.wgrad_s;
  e.pipe.head_fwd_s = lt.head_fwd_s + pc.head_fwd_s;
  e.pipe.head_bwd_s = lt.head_bwd_s + pc.head_bwd_s;
  e.pipe.p2p_bytes = act_bytes;
  e.pipe.inter_node = inter;
  // A rank sends forward over one hop and backward over the other: each kind its share.
  const double sends = 2.0 * micro * static_cast<double>(v) / (inter && intra ? 2.0 : 1.0);
  if (intra) AddUse(e, Coll::kSendRecv, Purpose::kPpP2p, Group{2, 1}, act_bytes, p2p_in, sends);
  if (inter) AddUse(e, Coll::kSendRecv, Purpose::kPpP2p, Group{2, 2}, act_bytes, p2p_out, sends);
  if (scatter) AddUse(e, Coll::kAllGather, Purpose::kPpP2p, tp_group, whole_bytes, gather, 2.0 * micro * static_cast<double>(v));

  const Group fsdp_group = PlaceGroup(l.shard(), mesh.Stride(MeshDim::kCp));  // fsdp x cp
  const Group rep_group = PlaceGroup(l.replicate, mesh.Stride(MeshDim::kReplicate));
  // A tied model's output weight: the first stage's embedding and the last stage's copy of it
  // are one parameter, so once the data-parallel reduction is done their gradients are
  // all-reduced between the two stages (Megatron-LM megatron/core/distributed/
  // finalize_model_grads.py @00c2c0ad, _allreduce_word_embedding_grads after finish_grad_sync:
  // all_reduce of the weight's main_grad over the embedding group, the first and last rank of
  // each pipeline; DeepSpeed deepspeed/runtime/pipe/module.py @ed3de0c
  // allreduce_tied_weight_gradients, which the engine's ReduceTiedGrads runs before ReduceGrads:
  // all_reduce of the tied weight's grad over the tied stages). The whole vocab / tp x hidden
  // tensor at the gradient-reduction dtype (sharded with it under ZeRO-2/3), exposed after the
  // last backward on those two stages. The pair is the wrap hop's.
  const double tied_bytes = bytes.reduce * tpp.tied_copy / static_cast<double>(l.zero >= 2 ? l.shard() : 1);
  const Group tied_group{2, PipelineHopCrossesNode(p - 1, p, stride, gpn) ? 2 : 1};
  const CollectiveCost tied = tied_bytes > 0 ? TimeOn(TableOf(tied_group), Coll::kAllReduce, tied_bytes) : CollectiveCost{};
  e.pipe.tied_grad_s = tied.time_s;
  if (tied_bytes > 0) AddUse(e, Coll::kAllReduce, Purpose::kTiedGradReduce, tied_group, tied_bytes, tied, 1.0);
  const CollectiveTable& ft = TableOf(fsdp_group);
  const CollectiveTable& rt = TableOf(rep_group);
  // Routed experts: expert / ep per layer, over the expert-data-parallel group (as Evaluate).
  const int64_t edp = l.shard() / std::max<int64_t>(1, l.ep);
  const double xunit = ExpertUnitParams(l, tpp);
  const Group edp_group = PlaceGroup(edp, mesh.Stride(MeshDim::kCp) * l.ep);
  const CollectiveTable& xt = TableOf(edp_group);
  auto dp = [&](Coll op, double bytes, double expert_bytes) {
    return DpCall{op, bytes, expert_bytes, TimeOn(ft, op, bytes),
                  expert_bytes > 0 ? TimeOn(xt, op, expert_bytes) : CollectiveCost{}};
  };
  // Unsharded across micro-batches (zero >= 2): one gather and one reduce-scatter per layer per
  // step, the same for every stage, priced once.
  const bool per_layer_units = l.shard() > 1 && l.zero >= 2;
  const DpVolumes unit = DataParallelVolumesFor(w, l, tpp, 0.0, 0.0);  // the per-layer sizes
  const DpCall layer_ag = per_layer_units ? dp(Coll::kAllGather, unit.unit_gather, unit.expert_unit_gather) : DpCall{};
  const DpCall layer_rs = per_layer_units ? dp(Coll::kReduceScatter, unit.unit_reduce, unit.expert_unit_reduce) : DpCall{};

  // FSDP's compute-stream copies (FsdpCopyBytesPerParam): a stage gathers each unit once per
  // step and reduce-scatters it once (torchtitan keeps the stage unsharded between its
  // micro-batches), so each unit is copied out once and its gradients copied in once per step,
  // on the compute stream: per-step work of the stage, like its optimizer step.
  const FsdpCopyBytes cb = FsdpCopyBytesPerParam(w, l);
  const auto copies = [&](double params) {
    return FsdpCopyTime(compute_, cb.gather, params) + FsdpCopyTime(compute_, cb.reduce, params);
  };
  const double layer_copies_s = copies(tpp.layer + xunit);
  struct Tail {
    double fsdp_s = 0, dp_s = 0, hidden_s = 0, optimizer_s = 0, copies_s = 0;
    double total() const { return fsdp_s + dp_s + optimizer_s + copies_s; }
  };
  auto price_stage = [&](StageCost& sc, int64_t stage, Tail& tail, bool recording) {
    const bool first = stage == 0, last = stage == p - 1;
    const int64_t n = split.LayersOf(stage, p);
    const double nd = static_cast<double>(n);
    sc.stage = stage;
    sc.layers = n;
    const double head_f = last ? lt.head_fwd_s + pc.head_fwd_s : 0.0;
    const double head_b = last ? lt.head_bwd_s + pc.head_bwd_s : 0.0;
    sc.fwd_s = nd * (lt.fwd_s + comm_fwd) + head_f;
    sc.wgrad_s = nd * lt.wgrad_s;
    sc.bwd_s = nd * (lt.bwd_s + comm_bwd) + head_b - sc.wgrad_s;
    sc.compute_s = nd * (lt.fwd_s + lt.bwd_s) + (last ? lt.head_fwd_s + lt.head_bwd_s : 0.0);
    sc.in_flight = InFlightMicroBatches(l.schedule, p, v, mi, stage);
    const MemoryBreakdown mem = StageMemoryOf(l, split, stage, sc.in_flight, tpp);
    sc.peak_bytes = mem.peak_bytes;
    if (e.memory.peak_bytes < mem.peak_bytes) e.memory = mem;

    // Per-step data-parallel traffic of this stage's parameters.
    const double outer = tpp.OuterOnStage(first, last);
    const double params = nd * tpp.layer + outer;
    const DpVolumes dv = DataParallelVolumesFor(w, l, tpp, nd, outer);
    // Every parameter this rank holds a shard of: the experts' over ep x edp = fsdp x cp.
    const double all_params = params + nd * tpp.expert;
    const double bwd_all = micro * nd * lt.bwd_s, fwd_all = micro * nd * lt.fwd_s;
    if (per_layer_units) {
      // Unsharded across micro-batches: one gather and one reduce-scatter per unit per step.
      const CollectiveCost ag = layer_ag.sum(), rs = layer_rs.sum();
      CollectiveCost ago, rso;  // the embedding / head unit, on the first and last stages
      if (outer > 0) {
        ago = TimeOn(ft, Coll::kAllGather, dv.outer_gather);
        rso = TimeOn(ft, Coll::kReduceScatter, dv.outer_reduce);
      }
      if (recording) {
        layer_ag.Record(e, Purpose::kFsdpParamGather, fsdp_group, edp_group, nd);
        layer_rs.Record(e, Purpose::kFsdpGradReduce, fsdp_group, edp_group, nd);
        if (outer > 0) {
          AddUse(e, Coll::kAllGather, Purpose::kFsdpParamGather, fsdp_group, dv.outer_gather, ago, 1.0);
          AddUse(e, Coll::kReduceScatter, Purpose::kFsdpGradReduce, fsdp_group,
                 dv.outer_reduce, rso, 1.0);
        }
      }
      const double total = nd * (ag.time_s + rs.time_s) + (outer > 0 ? ago.time_s + rso.time_s : 0.0);
      // The first gather and the last reduce-scatter are exposed; the rest hide behind the
      // stage's compute over the step unless they outlast it.
      const double exposed = ag.time_s + rs.time_s + (outer > 0 ? rso.time_s : 0.0) +
                             std::max(0.0, total - micro * sc.compute_s);
      tail.fsdp_s = std::min(total, exposed);
      tail.hidden_s += total - tail.fsdp_s;
      if (cb.any()) tail.copies_s = nd * layer_copies_s + (outer > 0 ? copies(outer) : 0.0);
    } else if (l.shard() > 1) {
      // ZeRO-1 / Megatron's distributed optimizer: reduce-scatter behind the last backward,
      // all-gather behind the next first forward; one layer's bucket is never hidden (all of each
      // where the framework runs it outside the pass: ExposedBucket).
      const DpCall rsb = dp(Coll::kReduceScatter, dv.step_reduce, dv.expert_step_reduce);
      const DpCall agb = dp(Coll::kAllGather, dv.step_gather, dv.expert_step_gather);
      if (recording) {
        rsb.Record(e, Purpose::kFsdpGradReduce, fsdp_group, edp_group, 1.0);
        agb.Record(e, Purpose::kFsdpParamGather, fsdp_group, edp_group, 1.0);
      }
      const CollectiveCost rs = rsb.sum(), ag = agb.sum();
      const double rb = ExposedBucket(w.dp_reduce_after_backward, nd);
      const double gb = ExposedBucket(w.dp_gather_after_step, nd);
      tail.fsdp_s = rs.time_s * rb + std::max(0.0, rs.time_s * (1 - rb) - bwd_all / micro) +
                    ag.time_s * gb + std::max(0.0, ag.time_s * (1 - gb) - fwd_all / micro);
      tail.hidden_s += rs.time_s + ag.time_s - tail.fsdp_s;
    }
    if (l.replicate > 1) {
      const double bytes = dv.replica_reduce;
      const CollectiveCost ar = TimeOn(rt, Coll::kAllReduce, bytes);
      if (recording) AddUse(e, Coll::kAllReduce, Purpose::kDpGradReduce, rep_group, bytes, ar, 1.0);
      const double bucket = ExposedBucket(w.dp_reduce_after_backward, nd);
      tail.dp_s = ar.time_s * bucket + std::max(0.0, ar.time_s * (1 - bucket) - bwd_all / micro);
      tail.hidden_s += ar.time_s - tail.dp_s;
    }
    if (first || last) tail.dp_s += tied.time_s;
    const double opt_bytes = OptimizerStepBytesPerParam(l.recipe, bytes, w.optimizer_per_op);
    const double held = nd * tpp.LayerOnRank(l.ep) + outer;  // unsharded by data parallelism
    tail.optimizer_s = MemoryBoundTime(compute_, all_params / static_cast<double>(l.shard()) * opt_bytes +
                                                     GradBufferZeroBytes(w, held));
    sc.tail_s = tail.fsdp_s + tail.dp_s;
  };

  e.memory = MemoryBreakdown{};
  Tail tf, tm, tl;
  price_stage(e.pipe.first, 0, tf, false);
  if (p > 2) price_stage(e.pipe.middle, 1, tm, false);
  price_stage(e.pipe.last, p - 1, tl, true);
  const StageCost& f = e.pipe.first;
  const StageCost& mid = e.pipe.middle;
  const StageCost& la = e.pipe.last;
  const double mids = static_cast<double>(std::max<int64_t>(0, p - 2));
  const double sum_t = f.total_s() + mids * mid.total_s() + la.total_s();
  const StageCost* b = &f;
  if (p > 2 && mid.total_s() > b->total_s()) b = &mid;
  if (la.total_s() > b->total_s()) b = &la;
  const Tail& bt = b == &f ? tf : b == &mid ? tm : tl;
  double bubble = (sum_t - b->total_s()) / static_cast<double>(v);
  if (l.schedule == Schedule::kZeroBubble && b->total_s() > 0) {
    bubble *= std::max(0.0, b->fwd_s + b->bwd_s - b->wgrad_s) / b->total_s();
  }
  // Sends on the critical path, as the schedule's list run with each hop's send time gives them
  // (pipeline.h ExposedSendTime; tests/sim/pipeline_sim_test.cc pins it against the run): the
  // fill and the drain, and in 1F1B's steady state the round trip a rank's backward waits on,
  // which a stage with slack (the bottleneck stage busier than its neighbours by at least the
  // round trip) hides; only the excess shows.
  double second = 0;  // the busiest stage kind other than the bottleneck's
  for (const StageCost* x : {&f, &mid, &la}) {
    if (x == &mid && p <= 2) continue;
    if (x != b) second = std::max(second, x->total_s());
  }
  if (b == &mid && p > 3) second = b->total_s();  // several middle stages share the bottleneck
  const double slack = std::max(0.0, b->total_s() - second);
  const double p2p_exposed = ExposedSendTime(l.schedule, blocking, v, mi, hops, slack) +
                             (blocking ? BlockingCriticalPath(l.schedule, p, v, mi).gathers * gather.time_s : 0.0);

  // Compute slows while the stage's data-parallel traffic overlaps it.
  double compute = micro * b->compute_s;
  const double cp_exposed =
      micro * static_cast<double>(b->layers) * (pc.layer_fwd_cp_s + pc.layer_bwd_cp_s);
  const double ep_exposed =
      micro * static_cast<double>(b->layers) * (pc.layer_fwd_ep_s + pc.layer_bwd_ep_s);
  const double tp_exposed =
      std::max(0.0, micro * (b->total_s() - b->compute_s) - cp_exposed - ep_exposed);  // no -0
  compute += OverlapSlowdownCost(compute, tp_exposed + ep_exposed, bt.hidden_s, 0.0, slowdown).compute_extra_s;
  e.pipe.makespan_s = micro * b->total_s() + bubble + p2p_exposed;
  // The largest tail and optimizer of any stage close the step (stage 0 drains last).
  const Tail* worst = &tf;
  for (const Tail* x : {&tm, &tl}) {
    if (x->total() > worst->total()) worst = x;
  }
  // The copies run on the compute stream (in compute, as without a pipeline).
  compute += worst->copies_s;
  e.time.fsdp_copies_s = worst->copies_s;
  e.time.compute_s = compute;
  e.time.exposed_tp_comm_s = tp_exposed;
  e.time.exposed_pp_comm_s = p2p_exposed;
  e.time.exposed_cp_comm_s = cp_exposed;
  e.time.exposed_ep_comm_s = ep_exposed;
  e.time.exposed_fsdp_comm_s = worst->fsdp_s;
  e.time.exposed_dp_comm_s = worst->dp_s;
  e.time.optimizer_s = worst->optimizer_s;
  e.time.bubble_s = bubble;
  e.time.step_s = compute + tp_exposed + cp_exposed + ep_exposed + p2p_exposed + bubble + worst->fsdp_s +
                  worst->dp_s + worst->optimizer_s;
  e.parts.micro_batches = micro;
  e.parts.optimizer_s = worst->optimizer_s;
}

namespace {
std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}
}  // namespace

int64_t Evaluator::MostPartialCheckpointMicroBatches(const Layout& l) const {
  Layout t = l;
  t.partial_ckpt_mbs = 0;
  if (l.pp == 1 || l.recipe != Recipe::kMegatron || l.schedule == Schedule::kZeroBubble || l.ac_freq > 0 ||
      l.recompute_num_layers > 0 || (l.recompute != Recompute::kSelective && l.recompute != Recompute::kFull)) {
    return 0;
  }
  const Evaluation base = Evaluate(t);
  if (base.reasons & kReasonMemory) return 0;
  const int64_t micro = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(base.parts.micro_batches)));
  // Memory grows with n up to the window (any more stores nothing more): bisect [0, window].
  int64_t lo = 0, hi = PartialCheckpointWindow(l.schedule, l.pp, l.vpp, micro, 0);
  while (lo < hi) {
    t.partial_ckpt_mbs = (lo + hi + 1) / 2;
    if (Evaluate(t).reasons & kReasonMemory) {
      hi = t.partial_ckpt_mbs - 1;
    } else {
      lo = t.partial_ckpt_mbs;
    }
  }
  return lo;
}

std::vector<std::string> Evaluator::Reasons(const Layout& l, const Evaluation& e) const {
  std::vector<std::pair<ReasonCode, std::string>> found;
  StaticProblems(model_, cluster_, workload_, l,
                 [&](ReasonCode code, auto&& sentence) { found.emplace_back(code, sentence()); });
  std::vector<std::string> out;
  for (ReasonCode code : {kReasonGlobalBatch, kReasonMemory, kReasonDivisibility, kReasonContext,
                          kReasonExpert, kReasonRecompute, kReasonPipeline, kReasonTopology}) {
    if (!(e.reasons & code)) continue;
    if (code == kReasonMemory && e.memory.exceeds_host()) {
      out.push_back("offloaded activations need " + Fmt("%.1f", e.memory.host_bytes / kGiB) +
                    " GiB of host memory per GPU, the node has " +
                    Fmt("%.1f", e.memory.host_capacity_bytes / kGiB) + " GiB per GPU (node.host_gib_per_gpu)");
    }
    if (code == kReasonMemory && e.memory.exceeds_gpu()) {
      out.push_back("needs " + Fmt("%.1f", e.memory.peak_bytes / kGiB) + " GiB, GPU has " +
                    Fmt("%.1f", e.memory.capacity_bytes / kGiB) + " GiB usable (" +
                    Fmt("%g", cluster_.gpu.hbm_gib) + " GiB minus " +
                    Fmt("%g", cluster_.overhead.reserve_gib) + " GiB reserve)");
    }
    for (const auto& [c, sentence] : found) {
      if (c == code) out.push_back(sentence);
    }
  }
  return out;
}

}  // namespace meshplan::costmodel
