#include "costmodel/memory.h"

#include <algorithm>

#include "costmodel/context.h"
#include "costmodel/experts.h"
#include "costmodel/params.h"

namespace meshplan::costmodel {

PrecisionPolicy PrecisionOf(const Workload& w) {
  PrecisionPolicy p;
  p.reduce = w.reduce_dtype == Dtype::kFp32 ? p.fp32 : p.grad;
  return p;
}

namespace {

struct LayerActivations {
  double kept = 0;        // what the layer keeps under the requested recompute mode
  double full = 0;        // what it keeps when fully recomputed (its input)
  double no_recompute = 0;  // what it would keep with no recompute
  double attention_core = 0;  // the s^2 / softmax terms selective recompute drops
};

LayerActivations AccountLayer(const Model& m, const ActivationShape& a, bool moe_layer) {
  const double s = static_cast<double>(a.seq), b = static_cast<double>(a.mbs);
  const double t = static_cast<double>(a.tp);
  const double T = s * b;  // tokens in the micro-batch
  const double h = static_cast<double>(m.hidden), d = static_cast<double>(m.head_dim);
  const double heads_local = static_cast<double>(m.heads) / t;
  // KV heads: sharded when tp divides them, otherwise replicated to one per rank (Megatron).
  const double kv_local = m.kv_heads >= a.tp ? static_cast<double>(m.kv_heads) / t : 1.0;
  const bool moe = moe_layer && !m.moe.dense();
  const double ffn_local = static_cast<double>(moe ? m.moe.expert_ffn : m.ffn) / t;
  const double rep = a.sp ? t : 1.0;  // tensors outside the TP regions: sharded only with SP
  const double mask = m.dropout ? 1.0 : 0.0;
  // Bytes per element (specs.h PrecisionPolicy): bf16 activations, fp32 statistics, masks.
  const double act = a.bytes.activation, f32 = a.bytes.fp32, bit = a.bytes.mask;

  double outside = 0;  // replicated across TP ranks unless SP
  double inside = 0;   // always split by TP
  double core = 0;     // attention core
  // Attention block (Korthikanti 11sbh + 5as^2b, plus 2sbh for its LayerNorm).
  outside += act * T * h;                   // norm 1 input
  // The column-parallel inputs (QKV's here, FC1's and the head's below): sharded under SP unless
  // the framework keeps them gathered (ActivationShape::sp_keeps_gathered).
  double& gathered = a.sp_keeps_gathered ? inside : outside;
  gathered += act * T * h;                  // QKV matmul input
  double dv = d;                            // a head's value width (MLA: v_head_dim)
  if (m.mla.enabled()) {
    // MLA (kernels.cc): every TP rank keeps the latents it computed (duplicated down
    // projections): each latent's norm input and the up projection's input, then the local
    // heads' Q and K (nope + rope) and V.
    const Mla& x = m.mla;
    const double qk = static_cast<double>(x.qk_nope_head_dim + x.qk_rope_head_dim);
    dv = static_cast<double>(x.v_head_dim);
    inside += 2 * act * T * static_cast<double>(x.q_lora_rank);                      // q latent, normed
    inside += act * T * static_cast<double>(x.kv_lora_rank + x.qk_rope_head_dim);    // kv latent + rope key
    inside += act * T * static_cast<double>(x.kv_lora_rank);                         // normed kv latent
    inside += act * T * heads_local * (2 * qk + dv);                                 // Q, K, V
  } else {
    inside += act * T * heads_local * d;      // Q (for QK^T)
    inside += act * T * kv_local * d * 2;     // K (for QK^T) and V (for attention over V)
    if (m.qk_norm) inside += act * T * (heads_local + kv_local) * d;  // q/k norm inputs
  }
  if (a.flash_attention) {
    inside += f32 * T * heads_local;        // fp32 softmax log-sum-exp; output O is the proj input
  } else {
    const double s2 = heads_local * s * s * b;
    core += act * s2;                       // softmax output
    core += mask * bit * s2;                // attention dropout mask
    core += mask * act * s2;                // attention dropout output (input of AV)
  }
  inside += act * T * heads_local * dv;     // output projection input
  outside += mask * bit * T * h;            // attention output dropout mask
  // MLP block (Korthikanti 19sbh, plus 2sbh for its LayerNorm).
  outside += act * T * h;                   // norm 2 input
  gathered += act * T * h;                  // fc1 input (MoE: the router's and shared experts')
  const double act_in = m.activation == Activation::kSwiglu ? 2.0 : 1.0;  // gate and up
  // The MLP's rows: the tokens, or an MoE layer's routed copies; each TP rank holds every copy
  // its TP group received (expert tensor parallelism), k x the tokens x the load factor.
  const double rows = moe ? T * static_cast<double>(m.moe.experts_per_token) * a.moe_load : T;
  inside += act_in * act * rows * ffn_local;  // activation function input(s)
  inside += act * rows * ffn_local;           // fc2 input
  double shared = 0;  // an MoE layer's shared experts' activation and fc2 inputs
  if (moe) {
    inside += act * rows * h;                                        // the experts' fc1 input (permuted copies)
    outside += f32 * T * static_cast<double>(m.moe.experts);         // fp32 router probabilities
    const double shared_local =
        static_cast<double>(m.moe.shared_experts * m.moe.shared_expert_ffn) / t;
    shared = (act_in + 1.0) * act * T * shared_local;
    inside += shared;
  }
  outside += mask * bit * T * h;            // MLP dropout mask

  // Megatron's selective modules (specs.h RecomputeModule): what each one's checkpoint drops.
  // A normal checkpoint keeps its module's input and drops what is saved inside it; an
  // output-discarding one (layernorm, moe_act) drops its module's output.
  double dropped_outside = 0, dropped_inside = 0, dropped_core = 0;
  if (a.recompute == Recompute::kSelective) {
    const uint8_t mods = a.recompute_modules;
    if (mods & kRecomputeCoreAttn) {
      dropped_core = core;
      if (a.flash_attention) dropped_inside += f32 * T * heads_local;  // the kernel's log-sum-exp
    }
    if (!moe && (mods & kRecomputeMlp)) {
      // The MLP's input is the residual stream (TE fuses the norm into fc1): fc1's normed
      // input, the activation's input(s) and fc2's input are dropped.
      (a.sp_keeps_gathered ? dropped_inside : dropped_outside) += act * T * h;
      dropped_inside += (act_in + 1.0) * act * rows * ffn_local;
    }
    if (moe && (mods & kRecomputeMoe)) {
      // The MoE layer keeps its (normed) input: router probabilities, permuted copies, the
      // experts' and shared experts' activations are dropped.
      dropped_outside += f32 * T * static_cast<double>(m.moe.experts);
      dropped_inside += act * rows * h + (act_in + 1.0) * act * rows * ffn_local + shared;
    } else if (moe) {
      if (mods & kRecomputeMoeAct) dropped_inside += act * rows * ffn_local;  // the activation's output
      if (mods & kRecomputeSharedExperts) dropped_inside += shared;
    }
    if (moe && (mods & kRecomputeLayernorm)) dropped_outside += act * T * h;  // the pre-MLP norm's output
  }

  LayerActivations out;
  out.no_recompute = outside / rep + inside + core;
  out.attention_core = core;
  out.full = act * T * h / rep;  // the layer input only
  switch (a.recompute) {
    case Recompute::kNone: out.kept = out.no_recompute; break;
    case Recompute::kSelective:
      out.kept = out.no_recompute - dropped_outside / rep - dropped_inside - dropped_core;
      break;
    case Recompute::kFull:
      // Some layers only (ac_freq, recompute_num_layers): the mean over the stage's layers.
      out.kept = a.full_share * out.full + (1.0 - a.full_share) * out.no_recompute;
      break;
    case Recompute::kOp: {
      // torchtitan's op-level policy (specs.h Recompute::kOp; MLA and MoE refused in
      // evaluate.cc): the checkpoint's input, the attention kernel's output and log-sum-exp,
      // the reduce-scatter outputs under SP, and the outputs of every other matmul in forward
      // order (wq, wk, wv, wo, w1, w3, w2 for a gated MLP: wq, wv, w1, w2 saved; wq, wv, fc1
      // for a plain one). wo's and w2's outputs are the partial sums of every token.
      const double kv_d = kv_local * d, ffn_l = ffn_local;
      const double mm[] = {heads_local * d, kv_d, kv_d, h, ffn_l, m.activation == Activation::kSwiglu ? ffn_l : -1.0, h};
      double saved = 0;
      int count = 0;
      for (double width : mm) {
        if (width < 0) continue;  // no w3 in a plain MLP
        if (++count % 2 == 1) saved += act * T * width;
      }
      const double rs = a.sp && a.tp > 1 ? 2 * (act * T * h / t) : 0.0;
      out.kept = act * T * h / rep + saved + act * T * heads_local * d + f32 * T * heads_local + rs;
      break;
    }
  }
  return out;
}

}  // namespace

/// One layer's accounting for a dense model; for an MoE model the mean over its MoE and dense
/// layers (Moe::dense_layers), which is what a per-layer figure times the layers needs.
LayerActivations AccountMeanLayer(const Model& m, const ActivationShape& a) {
  if (m.moe.dense() || m.moe.dense_layers.empty()) return AccountLayer(m, a, true);
  const LayerActivations x = AccountLayer(m, a, true), y = AccountLayer(m, a, false);
  const double dense = static_cast<double>(m.moe.dense_layers.size()) / static_cast<double>(m.layers);
  auto mix = [&](double p, double q) { return (1.0 - dense) * p + dense * q; };
  // Recompute's working set is one layer's, the larger kind.
  return {mix(x.kept, y.kept), mix(x.full, y.full), std::max(x.no_recompute, y.no_recompute),
          std::max(x.attention_core, y.attention_core)};
}

double ActivationBytesPerLayer(const Model& m, const ActivationShape& a) {
  return AccountMeanLayer(m, a).kept;
}

double ActivationBytesOutsideLayers(const Model& m, const ActivationShape& a) {
  const double T = static_cast<double>(a.seq) * static_cast<double>(a.mbs);
  const double t = static_cast<double>(a.tp), h = static_cast<double>(m.hidden);
  const double rep = a.sp ? t : 1.0;
  const double vocab_local = static_cast<double>(PaddedVocab(m.vocab, a.tp)) / t;
  const PrecisionPolicy& b = a.bytes;
  double bytes = 0;
  bytes += (m.dropout ? b.mask : 0.0) * T * h / rep;  // embedding dropout mask
  bytes += b.activation * T * h / rep;                // final norm input
  bytes += b.activation * T * h / (a.sp_keeps_gathered ? 1.0 : rep);  // output head input
  bytes += b.fp32 * T * vocab_local;                  // fp32 logits kept by the cross-entropy
  return bytes;
}

double FullRecomputeShare(const Layout& l, int64_t layers) {
  if (l.recompute != Recompute::kFull || layers <= 0) return l.recompute == Recompute::kFull ? 1.0 : 0.0;
  const double n = static_cast<double>(layers);
  if (l.ac_freq > 0) return static_cast<double>(layers / l.ac_freq) / n;  // every ac_freq-th layer
  if (l.recompute_num_layers > 0) return static_cast<double>(std::min(l.recompute_num_layers, layers)) / n;
  return 1.0;
}

TpShardParams ParamsPerTpRank(const Model& m, int64_t tp) { return ParamsPerTpRank(m, tp, CountParams(m)); }

TpShardParams ParamsPerTpRank(const Model& m, int64_t tp, const ParamCounts& pc) {
  const double t = static_cast<double>(tp), h = static_cast<double>(m.hidden);
  const double a = static_cast<double>(m.heads), d = static_cast<double>(m.head_dim);
  const double kv_local = m.kv_heads >= tp ? static_cast<double>(m.kv_heads) / t : 1.0;
  const LayerParams& lp = pc.layer;
  TpShardParams p;
  // Column-parallel QKV and row-parallel output projection; KV heads replicated below tp.
  double attn = h * (a / t + 2.0 * kv_local) * d + (a / t) * d * h;
  if (m.mla.enabled()) {
    // MLA (kernels.cc): the down projections duplicated on every TP rank, the up projections
    // and the output projection split over the heads.
    const Mla& x = m.mla;
    const double qk = static_cast<double>(x.qk_nope_head_dim + x.qk_rope_head_dim);
    const double q = x.q_lora_rank > 0 ? h * static_cast<double>(x.q_lora_rank) + static_cast<double>(x.q_lora_rank) * (a / t) * qk
                                       : h * (a / t) * qk;
    attn = q + h * static_cast<double>(x.kv_lora_rank + x.qk_rope_head_dim) +
           static_cast<double>(x.kv_lora_rank) * (a / t) * static_cast<double>(x.qk_nope_head_dim + x.v_head_dim) +
           (a / t) * static_cast<double>(x.v_head_dim) * h;
  }
  const double qkv_bias = m.biases.qkv ? (a / t + 2.0 * kv_local) * d : 0.0;
  const double out_bias = m.biases.attn_out ? h : 0.0;
  // MLP biases: the column-parallel part splits, the row-parallel h stays whole.
  auto mlp_of = [&](const LayerParams& x, int64_t blocks) {
    const double row = m.biases.mlp ? h * static_cast<double>(blocks) : 0.0;
    return static_cast<double>(x.mlp_matmul) / t + (static_cast<double>(x.mlp_bias) - row) / t + row;
  };
  // Norms inside attention (Qwen3's q/k norms, MLA's latent norms) stay whole on every TP rank.
  // (MLA's biases sit on its duplicated down projections and the output: whole on every rank.)
  const double common = attn + (m.mla.enabled() ? static_cast<double>(lp.attn_bias) : qkv_bias + out_bias) +
                        static_cast<double>(lp.attn_norm + lp.attn_sinks);
  if (m.moe.dense()) {
    p.layer = common + mlp_of(lp, 1) + static_cast<double>(lp.router + lp.norm);
  } else {
    // An MoE layer's MLP is its routed experts (each a TP-sharded MLP: expert tensor
    // parallelism = tp) and its shared experts (one MLP of their summed FFN); the dense layers
    // carry a dense MLP instead. Averaged over the layers.
    const double moe_mlp = mlp_of(lp, m.moe.experts + (m.moe.shared_experts > 0 ? 1 : 0));
    const double routed_share =
        static_cast<double>(m.moe.experts * m.moe.expert_ffn) /
        static_cast<double>(m.moe.experts * m.moe.expert_ffn + m.moe.shared_experts * m.moe.shared_expert_ffn);
    const double routed = moe_mlp * routed_share;
    const double L = static_cast<double>(m.layers);
    const double moe_n = static_cast<double>(pc.moe_layers), dense_n = static_cast<double>(pc.dense_layers);
    const double moe_rest = common + (moe_mlp - routed) + static_cast<double>(lp.router + lp.norm);
    const double dense_layer = common + mlp_of(pc.dense_layer, 1) + static_cast<double>(pc.dense_layer.norm);
    p.layer = (moe_n * moe_rest + dense_n * dense_layer) / L;
    p.expert = moe_n * routed / L;
    p.moe_layer = moe_rest;
    p.moe_experts = routed;
    p.dense_layer = dense_layer;
  }
  const double vocab_local = static_cast<double>(PaddedVocab(m.vocab, tp)) / t;
  p.embedding = vocab_local * h +
                (m.position == Position::kLearned ? static_cast<double>(m.max_seq) * h : 0.0);
  p.head = (m.tied_embeddings ? 0.0 : vocab_local * h) + static_cast<double>(pc.final_norm);
  p.tied_copy = m.tied_embeddings ? vocab_local * h : 0.0;
  return p;
}

StateBytes StateBytesPerParam(Recipe recipe, int zero, int64_t shard, const PrecisionPolicy& p) {
  const double f = static_cast<double>(shard);
  StateBytes s;
  if (recipe == Recipe::kMegatron) {
    // bf16 params, main grads in the reduce dtype, fp32 master + Adam m + v (Megatron-LM
    // distributed optimizer guide: 18 bytes/param, or 6 + 12/d with the distributed optimizer,
    // its grads in fp32). The main-grad buffer takes the dtype the gradients are reduced in:
    // `grad_dtype = torch.float if self.ddp_config.grad_reduce_in_fp32 else param.dtype`
    // (Megatron-LM megatron/core/distributed/distributed_data_parallel.py @293e104), so
    // grad_reduce_in_fp32=False (NeMo's performance recipes) holds them in bf16, 4 + 12/d.
    s.params = zero >= 3 ? p.weight / f : p.weight;
    s.grads = zero >= 2 ? p.reduce / f : p.reduce;
    s.optimizer = 3.0 * p.fp32 / f;
  } else {
    // FSDP2: fp32 sharded params and grads, fp32 Adam m + v (16 bytes/param over the shard).
    s.params = zero >= 2 ? p.fp32 / f : p.fp32;
    s.grads = zero >= 2 ? p.fp32 / f : p.fp32;
    s.optimizer = 2.0 * p.fp32 / f;
  }
  return s;
}

FsdpCopyBytes FsdpCopyBytesPerParam(const Workload& w, const Layout& l) {
  if (l.recipe != Recipe::kFsdp2 || l.shard() <= 1 || l.zero < 2) return {};
  const PrecisionPolicy b = PrecisionOf(w);
  if (!w.fsdp2_copies) return {0.0, 2.0 * b.grad};  // FSDP1: the flat gradient's cat
  return {2.0 * b.weight, b.grad + b.reduce};
}

bool Fsdp1RootHeld(const Workload& w, const Layout& l) {
  return !w.fsdp2_copies && l.recipe == Recipe::kFsdp2 && l.zero >= 3 && l.shard() > 1;
}

double OptimizerStepBytesPerParam(Recipe recipe, const PrecisionPolicy& p, bool per_op) {
  // Fused: the parameter, m and v read and written, the gradient read. Per operation: the
  // moments' scale and update (2 + 3 and 2 + 3 operand passes), sqrt, divide and add eps (2
  // each) and the parameter's addcdiv (4).
  const double adam = per_op ? 20.0 * p.fp32 : 2.0 * p.fp32 + p.fp32 + 2.0 * 2.0 * p.fp32;
  const double norm = p.fp32;         // the global gradient norm reads every gradient once
  const double clip = 2.0 * p.fp32;   // ... and clipping scales each in place: read and write
  return adam + norm + clip + (recipe == Recipe::kMegatron ? p.weight : 0.0);
}

double GradBufferZeroBytes(const Workload& w, double params_held) {
  return w.grad_buffer_zeroed ? PrecisionOf(w).reduce * params_held : 0.0;
}

MemoryBreakdown EstimateMemory(const Model& m, const Cluster& c, const Workload& w,
                               const Layout& l, const ParamCounts* counts) {
  return EstimateStageMemory(m, c, w, l, StageShape{m.layers, true, true, 1.0, -1, counts});
}

MemoryBreakdown EstimateStageMemory(const Model& m, const Cluster& c, const Workload& w,
                                    const Layout& l, const StageShape& st) {
  MemoryBreakdown mb;
  const TpShardParams tpp = st.tp_params ? *st.tp_params
                            : st.counts  ? ParamsPerTpRank(m, l.tp, *st.counts)
                                         : ParamsPerTpRank(m, l.tp);
  const bool piped = l.pp > 1;
  // An MoE model's stage of known layers counts its dense and MoE layers; else mean layers.
  int64_t dense_here = -1;
  if (!m.moe.dense() && st.first_layer >= 0) {
    dense_here = 0;
    for (int64_t i : m.moe.dense_layers) dense_here += i >= st.first_layer && i < st.first_layer + st.layers;
  }
  const double n_layers = static_cast<double>(st.layers);
  const double n_dense = static_cast<double>(std::max<int64_t>(0, dense_here));
  double params_tp = dense_here < 0 ? tpp.layer * n_layers
                                    : n_dense * tpp.dense_layer + (n_layers - n_dense) * tpp.moe_layer;
  // The rank's routed experts (experts / ep of each MoE layer), sharded over the
  // expert-data-parallel group fsdp x cp / ep (experts.h).
  const double expert_tp = (dense_here < 0 ? tpp.expert * n_layers : (n_layers - n_dense) * tpp.moe_experts) /
                           static_cast<double>(l.ep);
  const double layer_params_tp = params_tp;  // the layers' own, before the embedding and head
  const int64_t edp = std::max<int64_t>(1, l.shard() / l.ep);
  if (st.first) params_tp += tpp.embedding;
  if (st.last) {
    params_tp += tpp.head;
    // Megatron-LM keeps the output layer's copy of tied word embeddings on the last stage.
    if (piped) params_tp += tpp.tied_copy;
  }
  // Parameters, gradients and optimizer states shard over fsdp x cp (torchtitan's dp_shard_cp).
  const PrecisionPolicy bytes = PrecisionOf(w);
  const StateBytes sb = StateBytesPerParam(l.recipe, l.zero, l.shard(), bytes);
  const StateBytes se = StateBytesPerParam(l.recipe, l.zero, edp, bytes);
  mb.params_bytes = params_tp * sb.params + expert_tp * se.params;
  mb.grads_bytes = params_tp * sb.grads + expert_tp * se.grads;
  mb.optimizer_bytes = params_tp * sb.optimizer + expert_tp * se.optimizer;

  // Context parallelism: every saved tensor holds this rank's s/cp tokens (context.h).
  ActivationShape as{CpLocalSeq(w, l), l.mbs,
                     l.tp,       l.sp,
                     w.flash_attention, l.recompute,
                     m.moe.dense() ? 1.0 : MoeLoadFactor(w), FullRecomputeShare(l, st.layers),
                     l.recompute_modules, bytes};
  as.sp_keeps_gathered = SpKeepsGatheredInput(l);
  LayerActivations la = AccountMeanLayer(m, as);
  // Micro-batch-level recompute: the stored micro-batches keep every layer's activations whole
  // (the mean layer's; la.no_recompute is the larger kind's, recompute's working set).
  const double stored = std::clamp(st.stored_in_flight, 0.0, st.in_flight);
  double kept_whole = 0;
  if (stored > 0) {
    ActivationShape whole = as;
    whole.recompute = Recompute::kNone;
    kept_whole = AccountMeanLayer(m, whole).kept;
  }
  if (dense_here >= 0 && st.layers > 0) {
    // The stage's own mix of MoE and dense layers (recompute's working set: the larger kind).
    const LayerActivations x = AccountLayer(m, as, true), y = AccountLayer(m, as, false);
    const double f = n_dense / n_layers;
    la.kept = (1.0 - f) * x.kept + f * y.kept;
    kept_whole = (1.0 - f) * x.no_recompute + f * y.no_recompute;
  }
  mb.activations_per_layer_bytes = la.kept;
  // Activation offload (pp 1): the offloaded layers' tensors live on the host; one layer's are on
  // the GPU in transit (the double buffer of TransformerEngine's offload handler).
  const double resident_layers = ResidentActivationLayers(st.layers, l.cpu_offload_layers);
  // The last stage's activations outside the layers (final norm and head inputs, the logits).
  const double outside = st.last ? ActivationBytesOutsideLayers(m, as) : 0.0;
  mb.activations_bytes = (la.kept * (st.in_flight - stored) + kept_whole * stored) * resident_layers + outside;
  // Every offloaded layer's copy is on the host by the end of the forward; the GPU's staging
  // buffer (counted in resident_layers above) is a second copy, not one of them.
  mb.host_bytes = la.kept * (st.in_flight - stored) *
                  static_cast<double>(OffloadedLayers(st.layers, l.cpu_offload_layers));
  mb.host_capacity_bytes = c.node.host_gib_per_gpu * kGiB;

  // Transient: the recompute working set of the layer in backward, and FSDP's unsharded units.
  double recompute = 0;
  if (l.recompute == Recompute::kFull) recompute += la.no_recompute;
  if (l.recompute == Recompute::kSelective) recompute += la.no_recompute - la.kept;
  if (l.recompute == Recompute::kOp) recompute += std::max(0.0, la.no_recompute - la.kept);
  mb.recompute_working_bytes = recompute;
  double transient = CpVolumesFor(m, w, l).transient_bytes;  // the KV exchange's buffers
  // FSDP's units in the three phases of the backward (below): a layer's, the head's, the embedding's.
  double layer_phase = 0, head_phase = 0, embedding_phase = 0;
  // The largest FSDP unit: a layer's parameters with its experts, those gathered over the
  // expert-data-parallel group (none to gather when ep covers fsdp x cp: they stay resident).
  const double layer_unit = tpp.layer + (edp > 1 ? tpp.expert / static_cast<double>(l.ep) : 0.0);
  const double unit = std::max(layer_unit, st.last ? tpp.head : 0.0);
  // A reduce dtype other than the gradient's adds a converted copy of the unit's gradients.
  const double reduce_copy = bytes.reduce != bytes.grad ? bytes.reduce : 0.0;
  const bool sharded_params = l.shard() > 1 && (l.zero >= 3 || (l.recipe == Recipe::kFsdp2 && l.zero == 2));
  if (piped && sharded_params) {
    transient += (params_tp + expert_tp) * (bytes.weight + bytes.grad);  // the stage's bf16 params and grads
    transient += unit * reduce_copy;                                     // one unit's reduce-dtype copy
  } else if (l.recipe == Recipe::kFsdp2 || sharded_params) {
    if (l.recipe == Recipe::kFsdp2 && l.zero == 2 && l.shard() > 1) {
      transient += (params_tp + expert_tp) * bytes.weight;  // SHARD_GRAD_OP keeps every unit's bf16 params to backward
      transient += unit * (bytes.grad + reduce_copy);       // a unit's unsharded grads and their reduce-dtype copy
    } else {
      // The unit in backward, gathered (bf16), with its unsharded grads and their reduce-dtype
      // copy, while the next unit in backward order is gathered ahead (FSDP2's backward prefetch
      // of one unit). Under a layer that next unit is a layer; under the head (the last stage's
      // final norm and output projection, one unit: torchtitan/models/llama3/infra/parallelize.py
      // @018740b apply_fsdp) it is the last layer, not a second head: a head larger than a layer
      // (Llama 3 8B's 525M parameters against 218M) is gathered once.
      layer_phase = layer_unit * (2.0 * bytes.weight + bytes.grad + reduce_copy);
      head_phase = st.last ? tpp.head * (bytes.weight + bytes.grad + reduce_copy) + layer_unit * bytes.weight : 0.0;
      // FSDP1 (fsdp2_copies false) wraps the embedding and head in its root unit, which it does
      // not reshard after the forward (_post_forward_reshard: "Do not free the root's parameters
      // in the post-forward"), and whose unsharded gradient, allocated at the head's backward, is
      // reduced at the root's post-backward, after the embedding's: both held through every phase.
      const bool fsdp1_root = Fsdp1RootHeld(w, l) && st.first && st.last;
      const double root = tpp.embedding + tpp.head;
      if (fsdp1_root) {
        layer_phase += root * (bytes.weight + bytes.grad);
        head_phase = root * (bytes.weight + bytes.grad) + layer_unit * bytes.weight;
      }
      // The embedding, its own unit, is the last in backward order: gathered with nothing after
      // it. Below the head's phase unless the head is smaller (tied embeddings: the head unit is
      // the final norm alone). Counted where parameters are sharded, as the simulator has it;
      // at fsdp 1 the phases above are kept as they were fitted to the H100 measurements
      // (data/measurements/README.md: the skeleton holds no units there, nor does torchtitan,
      // which applies no fully_shard at dp_shard 1).
      // Under FSDP1 that last unit is the root, whole.
      embedding_phase = fsdp1_root ? root * (bytes.weight + bytes.grad + reduce_copy)
                        : st.first && sharded_params ? tpp.embedding * (bytes.weight + bytes.grad + reduce_copy)
                                                     : 0.0;
    }
  }
  // The backward's phases do not overlap. The last stage runs the loss and the head's backward
  // first, with the activations outside the layers (logits, loss) still held; autograd frees a
  // node's saved tensors once it has run (torch/csrc/autograd/engine.cpp evaluate_function:
  // release_variables unless retain_graph), so they are gone before the layers' backward
  // recomputes, and the embedding's phase comes last. The peak is the largest phase, not their
  // sum: the outside activations (counted in activations_bytes) are taken back out of it.
  transient += std::max({recompute + layer_phase, outside + head_phase, embedding_phase}) - outside;
  // FP8 (TransformerEngine): each linear weight's FP8 copy and its FP8 transpose, made on the
  // first micro-batch and kept to the step's end (TE linear.py: weight_fp8, weight_t_fp8), 2 B
  // per layer parameter held unsharded. With --fp8-param-gather the parameter itself is FP8:
  // its 1-byte data and transpose take the place of the 2-byte bf16 copy counted above (net 0).
  // Under FSDP ZeRO-3 only the gathered unit (and the prefetched one) has copies. Activations
  // stay counted in bf16, though TE saves 1-byte FP8 copies of linear inputs for backward: an
  // over-count, not modelled.
  // torchao keeps no FP8 weight copy (it casts the bf16 weight when it needs it).
  if (w.precision == Precision::kFp8 && !w.fp8_param_gather && !TorchaoFp8(w.fp8_recipe)) {
    const double layer_params = layer_params_tp + expert_tp;
    if (l.fsdp > 1 && l.zero >= 3 && !piped) {
      transient += 2.0 * 2.0 * bytes.fp8 * tpp.LayerOnRank(l.ep);  // gathered + prefetched units
    } else {
      mb.params_bytes += 2.0 * bytes.fp8 * layer_params;  // the FP8 copy and its transpose
    }
  }
  mb.transient_bytes = transient;
  mb.allocated_bytes = mb.params_bytes + mb.grads_bytes + mb.optimizer_bytes +
                       mb.activations_bytes + mb.transient_bytes;
  const double allocator_gap = c.overhead.allocator_fraction * (mb.activations_bytes + transient);
  mb.reserved_bytes = mb.allocated_bytes + allocator_gap;
  const double outside_allocator = (c.overhead.cuda_context_gib + c.overhead.nccl_gib) * kGiB;
  mb.overhead_bytes = outside_allocator;
  mb.peak_bytes = mb.allocated_bytes + outside_allocator;  // the gap is released before an OOM
  mb.capacity_bytes = (c.gpu.hbm_gib - c.overhead.reserve_gib) * kGiB;
  return mb;
}

}  // namespace meshplan::costmodel
