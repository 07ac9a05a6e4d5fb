#include "costmodel/tensor.h"

namespace meshplan::costmodel {

TpUses TpUsesFor(const Model& m, const Layout& l, const PrecisionPolicy& bytes, const TpDemand& d) {
  TpUses out;
  if (l.tp <= 1) return out;
  auto add = [&](const TpUse& u) { out.use[static_cast<size_t>(out.n++)] = u; };
  const double S = bytes.activation * d.tokens * static_cast<double>(m.hidden);  // the micro-batch's activations
  const bool full = l.recompute == Recompute::kFull;
  // With SP an MoE layer's MLP gathers and scatters the routed copies instead of the hidden
  // states (experts.h, priced as ep_dispatch/ep_combine); its shared experts, if any, keep the
  // dense MLP's pair.
  const bool moe_sp = l.sp && !m.moe.dense() && m.moe.shared_experts == 0;
  const double moe_share = moe_sp ? 1.0 - 0.5 * d.moe_share : 1.0;
  // Full recompute runs the forward's collectives again; op-level AC (torchtitan) saves the
  // reduce-scatters' outputs but not the all-gathers' or all-reduces', which it re-runs.
  const bool op = l.recompute == Recompute::kOp;
  // Megatron's selective modules re-run their block's pair in backward (the attention core sits
  // between them and re-runs none): a dense layer's MLP (mlp), an MoE layer's shared experts
  // (moe, shared_experts) where that layer has a TP pair.
  const bool moe_pair = !m.moe.dense() && !moe_sp;
  const double module_pairs =
      (Recomputes(l, kRecomputeMlp) ? 1.0 - d.moe_share : 0.0) +
      (moe_pair && (Recomputes(l, kRecomputeMoe) || Recomputes(l, kRecomputeSharedExperts)) ? d.moe_share : 0.0);
  const double rs_per_layer = (full ? 6.0 : 4.0) * moe_share + module_pairs;
  // Megatron-LM's column-parallel linears (QKV, and FC1 wherever the MLP keeps its TP pair) save
  // their input shard under SP and all-gather it again in backward for the weight gradient
  // (tensor.h): one more all-gather per block in backward, on the critical path.
  const double regather = SpGathersInputAgain(l) ? 2.0 * moe_share : 0.0;
  const double ag_per_layer = (full || op ? 6.0 : 4.0) * moe_share + module_pairs + regather;
  if (l.sp) {
    const double fwd = 2.0 * moe_share;  // one of each kind per block in forward
    // Outside the layers: the head's input all-gather forward, the embedding's backward.
    if (d.fp8_gather) {
      // The layers' gathers move FP8 (tensor.h); the head and the embedding stay bf16.
      add({Coll::kAllGather, bytes.fp8 * d.tokens * static_cast<double>(m.hidden), fwd, ag_per_layer - fwd, 0.0, 0.0});
      add({Coll::kAllGather, S, 0.0, 0.0, 1.0, 1.0});
    } else {
      add({Coll::kAllGather, S, fwd, ag_per_layer - fwd, 1.0, 1.0});
    }
    // The embedding's output forward, the head's input gradient backward.
    add({Coll::kReduceScatter, S, fwd, rs_per_layer - fwd, 1.0, 1.0});
  } else {
    // The embedding's output forward, the head's input gradient backward.
    add({Coll::kAllReduce, S, 2.0, ag_per_layer - 2.0, 1.0, 1.0});
  }
  if (d.amax_fwd + d.amax_bwd > 0) {
    add({Coll::kAllReduce, bytes.fp32, d.amax_fwd, d.amax_bwd + d.amax_recomputed, 0.0, 0.0});
  }
  // Vocab-parallel cross-entropy: max, sum and target logit, fp32 per token.
  add({Coll::kAllReduce, 3.0 * bytes.fp32 * d.tokens, 0.0, 0.0, 1.0, 0.0});
  return out;
}

}  // namespace meshplan::costmodel
