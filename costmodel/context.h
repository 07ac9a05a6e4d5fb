// File: costmodel/context.h
// Context parallelism (cp): the sequence of every micro-batch is split over the cp ranks of a
// group (mesh.h: stride tp, inside the node while tp*cp fits). Every tensor outside attention
// holds s/cp tokens per rank (activations, GEMM rows, the loss); attention needs every key and
// value of the sequence, which the layout's cp_comm brings in one of three ways, as
// TransformerEngine implements them for Megatron-Core's --cp-comm-type
// (transformer_engine/pytorch/attention/dot_product_attention/context_parallel.py, commit
// 9c61cd7e5e0c93217ad38d4682568ff5dde4f08b):
// - p2p (AttnFuncWithCPAndKVP2P, ring attention): cp steps of blockwise attention; in each of
//   the first cp-1 the rank sends its current K,V block to the next rank and receives the
//   previous rank's, overlapped with the step's block; backward passes K,V round again and dK,dV
//   back with them (twice the bytes per step).
// - all_gather (AttnFuncWithCPAndKVAllGather, "KV all-gather between CP ranks is exposed", Llama
//   3 paper sec. 3.3.2): forward all-gathers K and V; forward saves only the local K, V, so
//   backward all-gathers them again and reduce-scatters dK, dV.
// - a2a (AttnFuncWithCPAndQKVOA2A, DeepSpeed Ulysses): all-to-all of q, k, v (sequence-sharded
//   to head-sharded) before attention and of the output after it; backward the output and dO
//   before (the output is saved sequence-sharded), dQ/dK/dV after. Each rank then attends over
//   the whole sequence for heads/cp.
// torchtitan runs PyTorch's context_parallel instead (Workload::cp_torch; pytorch/pytorch
// torch/distributed/tensor/experimental/_attention.py @0123248a484ffe531edb5098b986c1bac08cd296,
// _templated_ring_attention and its backward): cp ring steps of blockwise attention whichever
// way K and V arrive (its "allgather" rotate method, torchtitan's default, gathers them once and
// still walks the ring's steps), the partial outputs merged in fp32 (_SDPAMerger), and in
// backward dK, dV passed round the ring in fp32 (ALL_TO_ALL rotater, cp exchanges, the last one
// waited for after the last block) beside K, V coming round again (p2p) or gathered again.
// Causal load balancing (default): each rank holds chunks i and 2cp-1-i of 2cp (TE's
// get_seq_chunk_ids_for_reordering, torchtitan's head-tail balancer), so every rank does 1/cp of
// the causal work and each ring step the same half block. Without it (contiguous chunks) the
// last rank does (2cp-1)/cp^2 of the work, 2 - 1/cp times the average, and sets the pace.
// Units: bytes, seconds. All sizes in double: at 1M tokens a K,V block is tens of GB.
#ifndef MESHPLAN_COSTMODEL_CONTEXT_H_
#define MESHPLAN_COSTMODEL_CONTEXT_H_

#include <cstdint>
#include <string>

#include "costmodel/collectives.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// Causal attention work of the busiest CP rank over the average (1/cp of the whole):
/// 1 with load balancing (and for a2a, where every rank attends the whole sequence for its
/// heads); 2 - 1/cp for p2p and all_gather with contiguous chunks.
double CpAttentionImbalance(const Layout& l);

/// The busiest rank's FlashAttention tiling efficiency for causal attention over `seq` tokens
/// under the layout's CP (compute.h FlashTileEfficiency), in 128-blocks with n = seq / 128 and
/// c = cp: one pass (cp 1, or a2a: whole sequences of heads / cp) n^2/2 useful, n/2 diagonal,
/// n visits (all divided by c under a2a, the same ratio). Balanced chunks (2c of n / 2c blocks
/// each): useful n^2 / 2c and diagonal n / 2c either way; all_gather visits each query block
/// once (n / c), p2p ring attention once per step: the local step all 2 chunks, then c - 1
/// steps of both chunks against one remote chunk or one chunk against both (Megatron-Core's
/// attn_with_cp: 1.5 chunks on average), n / 2c (2 + 1.5 (c - 1)). Contiguous chunks (no
/// balancing), the last rank: useful n^2 (2c - 1) / 2c^2, diagonal n / 2c, visits n / c
/// (all_gather) or n (p2p: all c steps).
/// Under PyTorch's context_parallel (Workload::cp_torch) all_gather walks the ring's steps too.
double CpFlashTileEfficiency(const Workload& w, const Layout& l);

/// Whether the layout's CP is priced as PyTorch's context_parallel (Workload::cp_torch; its p2p
/// and all_gather: Ulysses all-to-all is TransformerEngine's either way).
inline bool CpRunsPyTorch(const Workload& w, const Layout& l) {
  return l.cp > 1 && w.cp_torch && l.cp_comm != CpComm::kA2a;
}

/// Whether the layout's attention runs cp ring steps with partial outputs merged: p2p, and
/// all_gather under PyTorch's context_parallel.
inline bool CpRingSteps(const Workload& w, const Layout& l) {
  return l.cp > 1 && (l.cp_comm == CpComm::kP2p || (w.cp_torch && l.cp_comm == CpComm::kAllGather));
}

/// Ring attention: the part of a pass's KV exchange not hidden behind its blockwise attention.
/// cp steps of block compute `step_compute_s`, cp-1 of them overlapped with a transfer of
/// `step_transfer_s`: exposed = (cp - 1) max(0, transfer - compute).
double RingExposedTime(int64_t cp, double step_transfer_s, double step_compute_s);

/// What one layer's CP exchange moves for one micro-batch on one rank, bf16 (2 B/element).
struct CpVolumes {
  double kv_block_bytes = 0;  // p2p: this rank's K and V (s/cp tokens), one ring step's send
  double kv_gather_bytes = 0; // all_gather: nccl-tests' S, the gathered K and V (s tokens)
  double a2a_qkv_bytes = 0;   // a2a: nccl-tests' S of the q,k,v all-to-all (this rank's send)
  double a2a_out_bytes = 0;   // a2a: S of the attention output's all-to-all
  double dkv_fp32_bytes = 0;  // PyTorch's CP: one ring step's dK and dV, fp32 (s/cp tokens)
  double transient_bytes = 0; // buffers alive during one layer's attention backward
  bool torch = false;         // priced as PyTorch's context_parallel (CpRunsPyTorch)
};
/// REQUIRES a resolved layout; all zero when cp == 1.
CpVolumes CpVolumesFor(const Model& m, const Workload& w, const Layout& l);

/// One pass (forward or backward) of one layer's CP exchange as the simulator runs it
/// (sim/step_graph.cc), on the CP stream: `before_s` blocks the attention (all-gather of K,V;
/// the q,k,v all-to-all; in backward also the recomputed forward's exchange), `during_s` runs
/// beside the first attn_s - last_block_s of it (the ring's cp-1 transfers; the last block
/// waits for them), `after_s` follows it (the output all-to-all; the dK,dV reduce-scatter).
struct CpPass {
  double attn_s = 0;        // the rank's attention core in this pass (inside the layer's compute)
  double last_block_s = 0;  // ring: the final block, computed after the last transfer
  double before_s = 0, during_s = 0, after_s = 0;
};

/// One layer's CP exchange for one micro-batch: the time it adds to the critical path in
/// forward and in backward (full recompute runs the forward exchange again in backward), and
/// the collectives it issues (count per layer per micro-batch).
struct CpLayerCost {
  double fwd_s = 0;
  double bwd_s = 0;
  double hidden_s = 0;  // ring transfers hidden behind attention (both passes)
  CpPass fwd, bwd;
  struct Use {
    Coll op = Coll::kSendRecv;
    double bytes = 0;  // nccl-tests' S
    CollectiveCost cost;
    double count = 0;
  };
  Use uses[2];
  int num_uses = 0;
};
/// Prices the exchange over the CP group `g` (placed by its stride in the mesh). attn_fwd_s is
/// the forward time of this rank's attention core for the micro-batch (flash kernel, with the
/// imbalance already in it); backward attention is 2.5x (FlashAttention-2 accounting).
/// p2p: each ring step moves one K,V block (SendRecvTime over the farthest link of the ring)
/// while the step's block, attn/cp, computes: RingExposedTime per pass; backward moves K,V and
/// dK,dV (2 blocks) per step against 2.5x the block. all_gather: exposed all-gather forward;
/// all-gather + reduce-scatter backward. a2a: the q,k,v and output all-to-alls forward; the
/// output and its gradient, then dq, dk, dv backward.
/// PyTorch's context_parallel (v.torch): p2p forward as above; backward each of the cp - 1
/// steps moves K,V (bf16) and dK,dV (fp32) against 2.5x the block, and the last dK,dV exchange
/// follows the last block exposed. all_gather: the forward gather hides behind the local step's
/// block, the rest waiting for it; backward the gather again and cp - 1 dK,dV steps behind all
/// but the last block, then the last exchange exposed.
CpLayerCost PriceCpLayer(const LinkParams& links, const Group& g, const Layout& l,
                         const CpVolumes& v, double attn_fwd_s);

/// Tokens of one sequence on a CP rank: seq / cp (at least 1, so that a layout with cp > seq,
/// infeasible, is still costed with finite numbers).
inline int64_t CpLocalSeq(const Workload& w, const Layout& l) {
  return w.seq / l.cp > 0 ? w.seq / l.cp : 1;
}

/// Local KV heads per TP rank (Megatron: split while there are enough, else one copy each).
int64_t KvHeadsPerTpRank(const Model& m, int64_t tp);

/// Context-parallel feasibility, for StaticProblems (evaluate.cc): report(code, sentence) per
/// problem. `divisibility` and `context` are the reason bits to use.
template <typename Code, typename Report>
void CpProblems(const Model& m, const Workload& w, const Layout& l, Code divisibility, Code context,
                Report&& report) {
  if (l.cp <= 1) return;
  const std::string c = "cp " + std::to_string(l.cp);
  if (m.mla.enabled()) {
    report(context, [&] {
      return c + ": context parallelism of multi-head latent attention (MLA: keys and values of "
                 "different widths, one shared RoPE key) is not modelled";
    });
    return;
  }
  if (!w.flash_attention) {
    report(context, [&] {
      return std::string(
          "context parallelism needs a fused (flash) attention kernel; --no-flash-attention "
          "materialises the s x s scores");
    });
  }
  if (l.cp > w.seq) {
    report(divisibility, [&] { return c + " > seq " + std::to_string(w.seq); });
  } else if (l.cp_balance && l.cp_comm != CpComm::kA2a && w.seq % (2 * l.cp) != 0) {
    report(divisibility, [&] {
      return "causal load balancing splits seq " + std::to_string(w.seq) + " into 2 x " + c +
             " = " + std::to_string(2 * l.cp) + " chunks: it does not divide";
    });
  } else if (w.seq % l.cp != 0) {
    report(divisibility, [&] { return c + " does not divide seq " + std::to_string(w.seq); });
  } else if (l.sp && (w.seq / l.cp) % l.tp != 0) {
    report(divisibility, [&] {
      return "sequence parallelism: tp " + std::to_string(l.tp) + " does not divide the " +
             std::to_string(w.seq / l.cp) + " tokens of each CP rank (seq / " + c + ")";
    });
  }
  if (l.cp_comm == CpComm::kA2a) {
    const int64_t heads = m.heads / l.tp, kv = KvHeadsPerTpRank(m, l.tp);
    if (m.heads % l.tp != 0 || heads % l.cp != 0) {
      report(divisibility, [&] {
        return "cp_comm=a2a splits attention heads over tp x cp: " + c + " does not divide the " +
               std::to_string(heads) + " heads of a TP rank";
      });
    } else if (kv % l.cp != 0) {
      report(divisibility, [&] {
        return "cp_comm=a2a splits KV heads over tp x cp: " + c + " does not divide the " +
               std::to_string(kv) + " KV heads of a TP rank (use cp_comm=p2p or all_gather)";
      });
    }
  }
}

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_CONTEXT_H_
