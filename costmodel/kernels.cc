#include "costmodel/kernels.h"

#include <algorithm>

#include "costmodel/compute.h"
#include "costmodel/context.h"
#include "costmodel/error.h"
#include "costmodel/experts.h"
#include "costmodel/params.h"

namespace meshplan::costmodel {

namespace {
/// `copies` tensors of `elements` each, every one through an eager op's whole chain: the op's
/// bytes spread evenly over its launches.
MemoryKernel EagerKernel(std::string_view name, const EagerOp& op, double elements, int copies,
                         bool recomputed) {
  return MemoryKernel{name, op.fwd_bytes * elements / op.fwd_launches, copies * op.fwd_launches,
                      op.bwd_bytes * elements / op.bwd_launches, copies * op.bwd_launches, recomputed};
}
}  // namespace

Fp8CastBytes Fp8CastBytesOf(const PrecisionPolicy& p) {
  Fp8CastBytes b;
  b.cast_transpose = p.activation + 2.0 * p.fp8;
  b.amax_cast_transpose = p.activation + b.cast_transpose;
  b.torchao = 2.0 * p.activation + p.fp8;
  return b;
}

double TeFusedAttentionSpeed(const Workload& w, const Layout& l) {
  if (!w.te_attention || !w.flash_attention) return 1.0;
  // cuDNN's advantage depends on the keys one call walks: the whole sequence without context
  // parallelism (or with all-to-all, which splits heads), a rank's s/cp block per ring step or
  // all-gathered call otherwise.
  const bool whole = l.cp <= 1 || l.cp_comm == CpComm::kA2a;
  const double keys = static_cast<double>(w.seq) / (whole ? 1.0 : static_cast<double>(l.cp));
  return CudnnAttentionSpeedOverFa2(keys, true);
}

double FlashHeadDimShare(const Model& m, const Workload& w) {
  if (w.te_attention) return 1.0;
  const Mla& mla = m.mla;
  const int64_t dqk = mla.enabled() ? mla.qk_nope_head_dim + mla.qk_rope_head_dim : m.head_dim;
  const int64_t dv = mla.enabled() ? mla.v_head_dim : m.head_dim;
  return dqk == dv ? FlashHeadDimEfficiency(dqk) : 1.0;
}

LayerKernels LayerKernelsFor(const Model& m, const Workload& w, const Layout& l, bool moe_layer) {
  LayerKernels k;
  const int64_t t = l.tp;
  const bool moe = !m.moe.dense() && moe_layer;
  const int64_t ffn = moe ? m.moe.expert_ffn : m.ffn;
  // Context parallelism: every kernel outside the attention core sees this rank's s/cp tokens.
  const int64_t T = l.mbs * CpLocalSeq(w, l);
  const int64_t h = m.hidden, d = m.head_dim;
  const int64_t heads_local = std::max<int64_t>(1, m.heads / t);
  // GQA under TP: KV heads are split while there are enough, else each rank keeps one copy.
  const int64_t kv_local = m.kv_heads >= t ? std::max<int64_t>(1, m.kv_heads / t) : 1;
  const int64_t ffn_local = std::max<int64_t>(1, ffn / t);
  const bool gated = m.activation == Activation::kSwiglu;
  // Full recompute (of some layers: the evaluator mixes the two, evaluate.cc) re-runs every
  // kernel in backward; op-level AC re-runs the elementwise kernels and half the matmuls.
  const bool full = l.recompute == Recompute::kFull;
  const bool op = l.recompute == Recompute::kOp;
  // Megatron's selective modules (specs.h RecomputeModule): which parts of this layer re-run.
  const bool core_rc = full || Recomputes(l, kRecomputeCoreAttn);
  const bool mlp_rc = full || (!moe && Recomputes(l, kRecomputeMlp));
  const bool moe_rc = full || (moe && Recomputes(l, kRecomputeMoe));
  const bool shared_rc = moe_rc || (moe && Recomputes(l, kRecomputeSharedExperts));
  const bool act_rc = mlp_rc || moe_rc || (moe && Recomputes(l, kRecomputeMoeAct));
  // The MoE layer's pre-MLP norm is a module of its own (TE fuses the dense layers' norms).
  const bool norm_rc = moe && Recomputes(l, kRecomputeLayernorm);
  auto gemm = [&](std::string_view name, int64_t gm, int64_t gn, int64_t gk, int64_t batch,
                  bool recomputed) {
    k.gemms[static_cast<size_t>(k.num_gemms++)] = GemmShape{name, gm, gn, gk, batch, recomputed};
  };
  // Column-parallel QKV and MLP-in, row-parallel attention-out and MLP-out (Megatron-LM).
  const Mla& mla = m.mla;
  const bool latent = mla.enabled();
  // A head's query/key width and value width (MLA: nope + rope and v_head_dim).
  const int64_t dqk = latent ? mla.qk_nope_head_dim + mla.qk_rope_head_dim : d;
  const int64_t dv = latent ? mla.v_head_dim : d;
  if (latent) {
    // Multi-head latent attention as Megatron-Core's MLASelfAttention runs it
    // (megatron/core/transformer/multi_latent_attention.py): the down projections to the query
    // and key/value latents are duplicated on every TP rank (parallel_mode "duplicated"), the
    // up projections column-parallel over the heads, the output projection row-parallel.
    if (mla.q_lora_rank > 0) {
      gemm("q_down", T, mla.q_lora_rank, h, 1, full);
      gemm("q_up", T, heads_local * dqk, mla.q_lora_rank, 1, full);
    } else {
      gemm("q_proj", T, heads_local * dqk, h, 1, full);
    }
    gemm("kv_down", T, mla.kv_lora_rank + mla.qk_rope_head_dim, h, 1, full);
    gemm("kv_up", T, heads_local * (mla.qk_nope_head_dim + dv), mla.kv_lora_rank, 1, full);
  } else if (op) {
    // torchtitan's op-level AC (specs.h Recompute::kOp): its separate projections, the even
    // matmuls of the layer (wk, wo, w3) recomputed in backward, the odd ones saved.
    gemm("wq", T, heads_local * d, h, 1, false);
    gemm("wk", T, kv_local * d, h, 1, true);
    gemm("wv", T, kv_local * d, h, 1, false);
  } else {
    gemm("qkv", T, (heads_local + 2 * kv_local) * d, h, 1, full);
  }
  gemm("attn_out", T, h, heads_local * dv, 1, full || op);
  MoeRouting route;
  bool sequential_experts = false;  // Workload::moe_sequential with more than one local expert
  int64_t shared_local = 0;  // the shared experts' FFN on this TP rank, all of them together
  if (!moe && op) {
    gemm("w1", T, ffn_local, h, 1, false);
    if (gated) gemm("w3", T, ffn_local, h, 1, true);
    gemm("w2", T, h, ffn_local, 1, gated ? false : true);  // the 7th matmul (6th without w3)
  } else if (!moe) {
    gemm("mlp_in", T, (gated ? 2 : 1) * ffn_local, h, 1, mlp_rc);
    gemm("mlp_out", T, h, ffn_local, 1, mlp_rc);
  } else {
    // The router scores this rank's tokens (the SP shard) against every expert; the local
    // experts run as one grouped GEMM over their routed rows (experts.h).
    route = RouteTokens(m, w, l);
    // SequentialMLP: one expert after another (with one local expert it calls it directly).
    sequential_experts = w.moe_sequential && route.local_experts > 1;
    gemm("router", std::max<int64_t>(1, static_cast<int64_t>(route.tokens_in)), m.moe.experts, h, 1, moe_rc);
    gemm("mlp_in", route.rows_per_expert, (gated ? 2 : 1) * ffn_local, h, route.local_experts, moe_rc);
    gemm("mlp_out", route.rows_per_expert, h, ffn_local, route.local_experts, moe_rc);
    if (sequential_experts) {
      k.gemms[static_cast<size_t>(k.num_gemms - 2)].sequential = true;
      k.gemms[static_cast<size_t>(k.num_gemms - 1)].sequential = true;
    }
    if (m.moe.shared_experts > 0) {
      // Shared experts: a dense MLP of shared_experts x shared_expert_ffn, TP-sharded, on every token.
      shared_local = std::max<int64_t>(1, m.moe.shared_experts * m.moe.shared_expert_ffn / t);
      gemm("shared_in", T, (gated ? 2 : 1) * shared_local, h, 1, shared_rc);
      gemm("shared_out", T, h, shared_local, 1, shared_rc);
    }
  }
  const double s = static_cast<double>(w.seq), Td = static_cast<double>(T);
  const double hl = static_cast<double>(heads_local), dd = static_cast<double>(d);
  // Bytes per element moved by the fused kernels (specs.h PrecisionPolicy): a kernel that reads
  // and writes one activation tensor moves rw; one that also reads a second (a residual, the
  // saved output in a backward) 3 x act; a dropout adds its 1-byte mask.
  const PrecisionPolicy bytes = PrecisionOf(w);
  const double act_b = bytes.activation, rw = 2.0 * act_b, mask_b = bytes.mask;
  // Every memory kernel goes in through here: kernels.h lists what a layer can hold.
  auto push = [&](const MemoryKernel& mk) {
    MESHPLAN_CHECK(k.num_memory < kMaxLayerMemoryKernels);
    k.memory[static_cast<size_t>(k.num_memory++)] = mk;
  };
  auto mem = [&](std::string_view name, double bytes, int count, double bwd_bytes, int bwd_count,
                 bool recomputed) {
    push(MemoryKernel{name, bytes, count, bwd_bytes, bwd_count, recomputed || op});
  };
  if (w.flash_attention) {
    // FlashAttention-2 convention: forward 4 s^2 d per head, halved when causal. Under context
    // parallelism each rank's T/cp queries meet all s keys (ring, all-gather) or its heads/cp
    // meet the whole sequence (a2a): 1/cp of the work either way, times the busiest rank's
    // share without causal load balancing (context.h CpAttentionImbalance).
    // (2 s^2 (d_qk + d_v) per head: QK^T over the query/key width, AV over the value width.)
    k.flash_fwd_flops = 2.0 * Td * s * hl * static_cast<double>(dqk + dv) * 0.5 * CpAttentionImbalance(l);
    k.flash_recomputed = core_rc;
    // ... at this sequence length and CP scheme: FlashAttention's tiling (compute.h, context.h).
    // ... and at the width its kernel runs a head (FlashHeadDimShare).
    k.flash_speed = FlashSpeedRelativeToFa2(w.flash_version) * CpFlashTileEfficiency(w, l) * FlashHeadDimShare(m, w);
    k.te_fused_speed = TeFusedAttentionSpeed(w, l);
    if (CpRunsPyTorch(w, l)) {
      // PyTorch's context_parallel (torchtitan; context.h), pytorch/pytorch
      // torch/distributed/tensor/experimental/_attention.py @0123248, counted for the last CP rank,
      // whose every step takes its whole query (never _partial_update's half). Forward: K and V
      // made contiguous (torchtitan hands SDPA transposed views) and concatenated to send at each
      // of the cp - 1 steps that pass them on (torch.cat, with the all-gather rotater too); each
      // step's output cast to fp32 (_SDPAMerger.step), each later one merged eagerly as
      // out - sigmoid(lse' - lse) * (out - out'): 12 + 8 + 12 = 32 B per output element, 8
      // launches with the log-sum-exp's own; the result cast back. Backward: fp32 dq, dK, dV
      // zero-filled; K, V made contiguous and concatenated again; each step's bf16 gradients
      // added into the fp32 ones (dq whole; dK, dV whole at the first step, then into their
      // first chunk, the causal half the step saw, and rebuilt by torch.cat); dK, dV concatenated
      // to send at every step (fp32); dq and the received dK, dV cast back at the end.
      const double out_elements = Td * hl * static_cast<double>(dv);
      const double dq_elements = Td * hl * static_cast<double>(dqk);
      const double kv_elements = Td * static_cast<double>(kv_local) * static_cast<double>(dqk + dv);
      const double c = static_cast<double>(l.cp), f32 = 4.0, add = 2.0 * f32 + act_b;
      const double fwd = rw * c * kv_elements +
                         (c * (act_b + f32) + 32.0 * (c - 1.0) + (f32 + act_b)) * out_elements;
      const double bwd = (f32 + add * c + (f32 + act_b)) * dq_elements +
                         (f32 + rw * c + add + (c - 1.0) * (add / 2.0 + 2.0 * f32) + 2.0 * f32 * c + (f32 + act_b)) *
                             kv_elements;
      const int fwd_launches = static_cast<int>(10 * l.cp - 6), bwd_launches = static_cast<int>(7 * l.cp + 4);
      mem("cp_merge", fwd / fwd_launches, fwd_launches, bwd / bwd_launches, bwd_launches, core_rc);
    } else if (l.cp > 1 && l.cp_comm == CpComm::kP2p) {
      // Ring attention computes each rank's output in cp partial steps and merges them
      // (TransformerEngine AttnFuncWithCPAndKVP2P, pytorch/attention/dot_product_attention/
      // context_parallel.py @015d225). Forward: K and V packed into the first send buffer
      // (torch.cat, a read and a write of each element); flash_attn_fwd_out_correction_init
      // scales the first step's output into the running bf16 output (read and write), and each
      // later step's flash_attn_fwd_out_correction reads its output and the running one and writes
      // the running one (3 activation bytes per element), one compiled kernel each (jit_fuser).
      // Backward: K and V copied into the ring buffer again; dq copied at the first step and
      // added (dq.add_) at each later one, and dK, dV accumulated into the received ones, which
      // the causal split halves on all but one step (dk[0].copy_ / add_). Counted for the last
      // CP rank, which runs every query step at full size (the busiest for GQA, where the output
      // outweighs K and V): per output element act_b (3 cp - 1) forward and per dq element
      // backward, per K/V element 2 act_b forward and act_b (1.5 cp + 1) + 2 act_b backward;
      // cp + 1 launches forward, 3 cp + 1 backward (dq, dk, dv, and the copy). All-to-all and
      // all-gather price their own copies (below).
      const double out_elements = Td * hl * static_cast<double>(dv);
      const double kv_elements = 2.0 * Td * static_cast<double>(kv_local) * static_cast<double>(dqk);
      const double steps = static_cast<double>(l.cp);
      const double fwd = act_b * ((3.0 * steps - 1.0) * out_elements + 2.0 * kv_elements);
      const double bwd = act_b * ((3.0 * steps - 1.0) * out_elements + (1.5 * steps + 3.0) * kv_elements);
      mem("cp_merge", fwd / (steps + 1.0), static_cast<int>(l.cp + 1), bwd / (3.0 * steps + 1.0),
          static_cast<int>(3 * l.cp + 1), core_rc);
    } else if (l.cp > 1 && l.cp_comm == CpComm::kA2a) {
      // All-to-all (Ulysses) reorders around each exchange (context_parallel.py @015d225
      // flash_attn_a2a_communicate): a tensor is made contiguous by destination rank before it
      // and its received chunks put back in sequence order after it (movedim and index_select,
      // one compiled copy: TE's jit_fuser), two copies of a read and a write (2 x rw) per element.
      // Forward exchanges q, k, v before the core and the output after it; backward the output
      // and its gradient (AttnFuncWithCPAndQKVOA2A.backward: [out, dout]) before, dq, dk, dv
      // after: two launches per tensor, 8 forward and 10 backward.
      const double qkv_out = Td * (hl * static_cast<double>(dqk + dv) + 2.0 * static_cast<double>(kv_local * dqk));
      const double bwd_elements = qkv_out + Td * hl * static_cast<double>(dv);
      mem("cp_reorder", 2.0 * rw * qkv_out / 8.0, 8, 2.0 * rw * bwd_elements / 10.0, 10, core_rc);
    } else if (l.cp > 1 && l.cp_comm == CpComm::kAllGather) {
      // All-gather (AttnFuncWithCPAndKVAllGather, context_parallel.py @015d225, Megatron's sbhd
      // layout, where the per-step slices of q, K, V and dout are views): the gathered K and V are
      // put in sequence order (torch.index_select over the 2 cp chunks, a read and a write of the
      // whole sequence's K and V), and the core runs once per local chunk, each writing its half
      // of the output (out[i].copy_): forward 2 + 2 launches. Backward gathers and reorders K, V
      // again, zero-fills the full-length dK, dV (a write), adds each chunk's dK, dV into the
      // keys it saw (dk[range].add_: a read of both, a write; causal, balanced chunks r and
      // 2cp-1-r see (r + 1) + (2cp - r) = 2cp + 1 of the 2cp key chunks), reorders dK, dV back
      // for their reduce-scatter and copies each chunk's dq into place: 2 + 2 + 4 + 2 + 2
      // launches.
      const double kv_full = static_cast<double>(l.mbs) * s * static_cast<double>(kv_local) *
                             static_cast<double>(dqk + dv);
      const double out_elements = Td * hl * static_cast<double>(dv);
      const double dq_elements = Td * hl * static_cast<double>(dqk);
      const double c = static_cast<double>(l.cp);
      const double seen = (2.0 * c + 1.0) / (2.0 * c);  // of the sequence's keys, both chunks
      const double fwd = rw * (kv_full + out_elements);
      const double bwd = rw * kv_full + act_b * kv_full + 3.0 * act_b * seen * kv_full +
                         rw * kv_full + rw * dq_elements;
      mem("cp_gather", fwd / 4.0, 4, bwd / 12.0, 12, core_rc);
    }
  } else {
    // Unfused: QK^T and AV as batched GEMMs over (micro-batch x local heads), masked softmax
    // and dropout over the full s x s scores (Megatron at the time of Korthikanti et al.);
    // selective recompute re-runs exactly this core.
    // (cp > 1 needs flash attention, context.h; the rows are this rank's s/cp queries.)
    const int64_t batch = l.mbs * heads_local;
    const bool sel = core_rc;
    gemm("scores", CpLocalSeq(w, l), w.seq, dqk, batch, sel);
    gemm("context", CpLocalSeq(w, l), dv, w.seq, batch, sel);
    const double scores = static_cast<double>(batch) * static_cast<double>(CpLocalSeq(w, l)) * s;
    // Softmax: read and write the scores; backward reads its output and the gradient, writes
    // one. Dropout: read, write and the mask, either way.
    const double dropout = m.dropout ? (rw + mask_b) * scores : 0.0;
    mem("softmax", rw * scores + dropout, 1, 3.0 * act_b * scores + dropout, 1, sel);
  }
  // Norms, residual adds (+dropout), activation, rotary embedding; SP shards the first two by t.
  const double rep = l.sp ? static_cast<double>(t) : 1.0;
  const double Th = Td * static_cast<double>(h);
  // Rows the MLP's elementwise work runs over: the tokens, or the routed copies of an MoE layer.
  const double mlp_rows = moe ? static_cast<double>(route.rows_per_expert) * static_cast<double>(route.local_experts) : Td;
  // Eager PyTorch runs RMSNorm, SwiGLU and RoPE as chains of separate ops (kernels.h EagerOp);
  // LayerNorm and GeLU are one native kernel each either way.
  const bool eager = w.eager_elementwise;
  auto eager_mem = [&](std::string_view name, const EagerOp& op_kind, double elements, int copies) {
    push(EagerKernel(name, op_kind, elements, copies, full || op));
  };
  // (With the layernorm module an MoE layer's pre-MLP norm re-runs: priced as its own kernel.)
  if (eager && m.norm == Norm::kRmsNorm) {
    eager_mem("norm", kEagerRmsNorm, Th / rep, 2);
  } else if (norm_rc) {
    mem("norm", rw * Th / rep, 1, rw * Th / rep, 2, full);
    mem("pre_mlp_norm", rw * Th / rep, 1, rw * Th / rep, 2, true);
  } else {
    mem("norm", rw * Th / rep, 2, rw * Th / rep, 4, full);
  }
  if (latent) {
    // The query and key/value latents' RMSNorms (q_layernorm, kv_layernorm), on every TP rank.
    const double lat = Td * static_cast<double>(mla.q_lora_rank + mla.kv_lora_rank);
    mem("latent_norm", rw * lat, 2, rw * lat, 4, full);
  } else if (m.qk_norm) {
    // Qwen3 q_norm / k_norm: an RMSNorm over each local query and key head.
    const double qk = Td * static_cast<double>((heads_local + kv_local) * d);
    mem("qk_norm", rw * qk, 2, rw * qk, 4, full);
  }
  // Residual add: read both, write one (and a dropout's mask).
  const double residual = 3.0 * act_b + (m.dropout ? mask_b : 0.0);
  mem("residual", residual * Th / rep, 2, residual * Th / rep, 4, full);
  // The activation function: read its input (a gated one: two) and write its output.
  const double act_io = (gated ? 3.0 : 2.0) * act_b;
  const double act = act_io * mlp_rows * static_cast<double>(ffn_local);
  if (eager && gated) {
    eager_mem("activation", kEagerSwiglu, mlp_rows * static_cast<double>(ffn_local), 1);
  } else if (sequential_experts) {
    const int e = static_cast<int>(route.local_experts);  // SequentialMLP: one per expert
    mem("activation", act / e, e, act / e, 2 * e, act_rc);
  } else {
    mem("activation", act, 1, act, 2, act_rc);
  }
  if (shared_local > 0) {
    const double shared_act = act_io * Td * static_cast<double>(shared_local);
    mem("shared_activation", shared_act, 1, shared_act, 2, shared_rc);
  }
  // (FP8 with TransformerEngine runs its own Linear, which forms the bias gradient in its cast.)
  const bool te_linears = w.precision == Precision::kFp8 && !TorchaoFp8(w.fp8_recipe);
  if (w.bias_grad_reduce && !te_linears && (m.biases.qkv || m.biases.attn_out || m.biases.mlp)) {
    // Each biased linear's bias gradient, a kernel of its own in backward (specs.h
    // bias_grad_reduce): its output gradient read once ([rows, out] at the activation dtype)
    // and the bias's gradient written. Column-parallel layers (qkv, mlp_in, shared_in) see the
    // gathered tokens and their share of the outputs; row-parallel ones (attn_out, mlp_out,
    // shared_out) add their whole bias to the output after its reduction, the SP shard of the
    // tokens; an MoE layer's experts to their routed rows. (MLA's duplicated down projections
    // carry its query/key biases: not counted, nor its up projections'.)
    double read = 0, written = 0;
    int launches = 0;
    auto bias = [&](double rows, double out, int calls) {
      read += rows * out;
      written += out;
      launches += calls;
    };
    const double out_rows = Td / rep;
    if (m.biases.qkv && !latent) {
      bias(Td, static_cast<double>((heads_local + 2 * kv_local) * d), op ? 3 : 1);
    }
    if (m.biases.attn_out) bias(out_rows, static_cast<double>(h), 1);
    if (m.biases.mlp) {
      const double in_out = static_cast<double>((gated ? 2 : 1) * ffn_local);
      bias(mlp_rows, in_out, op && gated ? 2 : 1);
      bias(moe ? mlp_rows : out_rows, static_cast<double>(h), 1);
      if (shared_local > 0) {
        bias(Td, static_cast<double>((gated ? 2 : 1) * shared_local), 1);
        bias(out_rows, static_cast<double>(h), 1);
      }
    }
    if (launches > 0) {
      mem("bias_grad", 0.0, 0, act_b * (read + written) / launches, launches, false);
    }
  }
  if (moe) {
    // Permute the routed copies by expert before the dispatch and unpermute (with the routing
    // weights) after the combine: each reads and writes one bf16 hidden vector per copy
    // (Megatron-Core moe_utils.py permute / unpermute; fused or not, the same bytes). Backward
    // runs the pair again on the gradients.
    const double copies = route.sent_copies * static_cast<double>(h);
    mem("moe_permute", rw * copies, 2, rw * copies, 2, moe_rc);
    if (route.local_experts > 1) {
      // Permutation 2: a rank holding more than one expert sorts the received copies (after
      // the TP all-gather) by local expert before its experts and restores their order after
      // them (Megatron-Core token_dispatcher.py MoEAlltoAllTokenDispatcher dispatch_postprocess
      // and combine_preprocess @0014f13: a transpose made contiguous with padding to capacity,
      // sort_chunks_by_idxs without). Each copies every row's hidden vector, read and write;
      // backward copies the gradients back the same way. One expert per rank skips both.
      // (The rows the experts compute: with padding to capacity, the padded buffer.)
      const double rows = mlp_rows * static_cast<double>(h);
      mem("moe_sort", rw * rows, 2, rw * rows, 2, moe_rc);
      if (sequential_experts) {
        // SequentialMLP (Megatron-Core megatron/core/transformer/moe/experts.py @329baac
        // SequentialMLP.forward: each expert takes a slice of the sorted rows, a view, and its
        // output is copied into place, output_local[start:end] = output; later versions join
        // them with torch.cat, the same bytes): forward a read and a write of every output row;
        // backward the slices' gradients gathered into the input's the same way.
        mem("moe_sequential", rw * rows, 1, rw * rows, 1, moe_rc);
      }
    }
  }
  if (m.position == Position::kRope && latent) {
    // MLA: RoPE on each local query head's rope dims and on the one shared rope key.
    const double rope = rw * Td * static_cast<double>((heads_local + 1) * mla.qk_rope_head_dim);
    mem("rope", rope, 1, rope, 2, full);
  } else if (m.position == Position::kRope) {
    const double rope = rw * Td * static_cast<double>(heads_local + kv_local) * dd;
    if (eager) {
      // q and k each run the chain (2 x the launches); bytes over their elements together.
      eager_mem("rope", kEagerRope, 0.5 * Td * static_cast<double>(heads_local + kv_local) * dd, 2);
    } else {
      mem("rope", rope, 1, rope, 2, full);
    }
  }
  if (w.precision == Precision::kFp8) {
    // The four linear layers run in FP8; the attention core and the head stay BF16.
    // Current scaling (Fp8Recipe::kTeTensorwise) reads each tensor once more for its amax (a
    // kernel of its own) before the cast-transpose, and the norm before a linear writes bf16:
    // 2 + 4 B per element and two launches for every cast, inputs after a norm included.
    // torchao (Fp8Recipe::kTorchaoTensorwise, its casts fused by torch.compile) saves the bf16
    // input and weight and casts both again in backward: forward input 5 B (amax read 2, cast
    // read 2 write 1), backward input 5 B again, the output gradient 6 B (one amax, a row- and
    // a column-major copy), the weight 5 B in forward and 5 B in backward every micro-batch
    // (cast once per step, on the shard, when FSDP gathers it in FP8: evaluate.cc).
    // torchao's rowwise recipes (specs.h) scale each operand along the axis its GEMM reduces,
    // so each operand is cast (5 B per element, two launches: the axiswise amax, then the cast)
    // once per GEMM it feeds. rowwise: forward the input and the weight, backward the output
    // gradient twice (along its rows for the data gradient, its columns for the weight
    // gradient), the weight along its other axis and the input along its columns; the two
    // backward GEMMs' outputs are then rescaled (read and write bf16, 4 B per element, one
    // launch each: float8_python_api.py addmm_float8_unwrapped). rowwise_with_gw_hp: forward
    // the same; backward the output gradient once and the weight (tensorwise) once, the weight
    // gradient in bf16 from the saved bf16 tensors, no rescale.
    const bool torchao = TorchaoFp8(w.fp8_recipe);
    const bool rowwise = w.fp8_recipe == Fp8Recipe::kTorchaoRowwise;
    const bool gw_hp = w.fp8_recipe == Fp8Recipe::kTorchaoRowwiseGwHp;
    const bool current = w.fp8_recipe == Fp8Recipe::kTeTensorwise || torchao;
    for (int i = 0; i < k.num_gemms; ++i) {
      GemmShape& g = k.gemms[static_cast<size_t>(i)];
      // The router stays in higher precision (Megatron-Core router.py runs the gate in fp32).
      if (g.name == "scores" || g.name == "context" || g.name == "router") continue;
      // SequentialMLP: each local expert is its own TE Linear and casts its own operands, so
      // every cast launches once per expert (the bytes are the same: rows counts them all).
      const int launches = (current ? 2 : 1) * static_cast<int>(g.calls());
      g.fp8 = true;
      g.wgrad_bf16 = gw_hp;
      const double rows = static_cast<double>(g.m) * static_cast<double>(g.batch);
      // Inputs: qkv and mlp_in follow a norm that writes FP8 itself (+1 B per element), the
      // other two are cast and transposed (4 B). Output gradients: 4 B per element.
      // (An MoE layer's expert inputs are the permuted copies, cast like any other input.)
      // (MLA's down projections follow the layer's norm, its up projections the latents' norms.)
      const bool after_norm = g.name == "qkv" || g.name == "wq" || g.name == "wk" || g.name == "wv" ||
                              g.name == "w1" || g.name == "w3" || g.name == "q_down" || g.name == "q_proj" || g.name == "kv_down" ||
                              g.name == "q_up" || g.name == "kv_up" || g.name == "shared_in" ||
                              (g.name == "mlp_in" && !moe);
      const double weight = static_cast<double>(g.n) * static_cast<double>(g.k) * static_cast<double>(g.batch);
      // Per element (Fp8CastBytesOf); a norm that writes FP8 itself adds one FP8 copy (1 B).
      const Fp8CastBytes fc = Fp8CastBytesOf(bytes);
      const double cast_t = fc.cast_transpose, amax_cast_t = fc.amax_cast_transpose, torchao_cast = fc.torchao;
      // torchao: the weight cast every micro-batch, in forward and again in backward.
      const double weight_bytes = torchao && !w.fp8_param_gather ? torchao_cast * weight : 0.0;
      const int weight_launches = torchao && !w.fp8_param_gather ? launches : 0;
      const double in_elements = rows * static_cast<double>(g.k), out_elements = rows * static_cast<double>(g.n);
      const double in_bytes =
          (torchao ? torchao_cast : current ? amax_cast_t : after_norm ? bytes.fp8 : cast_t) * in_elements +
          weight_bytes;
      k.fp8_cast_fwd_bytes += in_bytes;
      if (rowwise || gw_hp) {
        // The output gradient (twice for rowwise), the weight along its other axis, and for
        // rowwise the input along its columns and the two rescales.
        const double go_casts = rowwise ? 2.0 : 1.0;
        k.fp8_cast_bwd_bytes += go_casts * torchao_cast * out_elements + weight_bytes +
                                (rowwise ? torchao_cast * in_elements + 2.0 * bytes.activation * (in_elements + weight) : 0.0);
        k.fp8_cast_bwd_launches += static_cast<int>(go_casts) * launches + weight_launches + (rowwise ? launches + 2 : 0);
      } else {
        k.fp8_cast_bwd_bytes += (current ? amax_cast_t : cast_t) * out_elements +
                                (torchao ? torchao_cast * in_elements + weight_bytes : 0.0);
        k.fp8_cast_bwd_launches += launches + (torchao ? launches + weight_launches : 0);
      }
      k.fp8_weight_elements += weight;
      if (g.recomputed) {
        k.fp8_cast_recomputed_bytes += in_bytes;
        k.fp8_cast_recomputed_launches += launches + weight_launches;
      }
      k.fp8_cast_fwd_launches += launches + weight_launches;
      // Per-step weight casts (TE's first micro-batch; torchao's pre-gather cast of the shard).
      if (!torchao || w.fp8_param_gather) k.fp8_weight_launches += launches;
      // Under SP the column-parallel inputs (gathered after the cast) and the row-parallel
      // output gradients reduce their amax over the TP group: one 4-byte all-reduce each.
      // (torchao's rowwise recipes gather bf16 and cast after the gather: not these reductions;
      // their amaxes over TP-sharded dimensions, DTensor reductions of one float per row, are
      // not priced.)
      if (current && !RowwiseFp8(w.fp8_recipe) && l.sp && l.tp > 1) {
        const bool column = after_norm || g.name == "kv_up" || g.name == "q_up";
        const bool row = g.name == "attn_out" || (g.name == "mlp_out" && !moe) || g.name == "shared_out";
        if (column) {
          ++k.fp8_amax_reductions_fwd;
          if (g.recomputed) ++k.fp8_amax_reductions_recomputed;
        }
        if (row) ++k.fp8_amax_reductions_bwd;
      }
    }
  }
  return k;
}

HeadKernels HeadKernelsFor(const Model& m, const Workload& w, const Layout& l) {
  HeadKernels k;
  const int64_t t = l.tp;
  const int64_t T = l.mbs * CpLocalSeq(w, l);  // the loss of this CP rank's tokens
  const int64_t vocab_local = PaddedVocab(m.vocab, t) / t;
  k.gemm = GemmShape{"head", T, vocab_local, m.hidden, 1, false};
  const double Td = static_cast<double>(T);
  const double rep = l.sp ? static_cast<double>(t) : 1.0;
  const double logits = Td * static_cast<double>(vocab_local);
  const double Th = Td * static_cast<double>(m.hidden);
  // Cross-entropy over the bf16 logits as PyTorch (and Megatron's vocab-parallel loss) runs it,
  // in fp32. Forward: upcast (read 2 B, write 4 B per logit), log-softmax (read 4, write 4):
  // 14 B. Backward: softmax gradient (read the saved 4 B output and the 4 B incoming gradient,
  // write 4 B), downcast for the head's GEMMs (read 4, write 2): 18 B.
  const PrecisionPolicy b = PrecisionOf(w);
  const double ce_fwd = (b.activation + b.fp32) + 2.0 * b.fp32;
  const double ce_bwd = 3.0 * b.fp32 + (b.fp32 + b.activation);
  k.memory[0] = MemoryKernel{"cross_entropy", ce_fwd * logits, 1, ce_bwd * logits, 1, false};
  if (w.eager_elementwise && m.norm == Norm::kRmsNorm) {
    k.memory[1] = EagerKernel("final_norm", kEagerRmsNorm, Th / rep, 1, false);
  } else {
    // Fused norm: read and write forward; backward reads the input and the gradient, writes the
    // input's gradient and accumulates the weight's (4 x act).
    k.memory[1] = MemoryKernel{"final_norm", 2.0 * b.activation * Th / rep, 1, 4.0 * b.activation * Th / rep, 1, false};
  }
  return k;
}

}  // namespace meshplan::costmodel
