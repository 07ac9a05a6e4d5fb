// File: costmodel/context.cc
#include "costmodel/context.h"

#include <algorithm>

#include "costmodel/compute.h"

namespace meshplan::costmodel {

std::string_view ToString(CpComm c) {
  switch (c) {
    case CpComm::kP2p: return "p2p";
    case CpComm::kAllGather: return "all_gather";
    case CpComm::kA2a: return "a2a";
  }
  return "?";
}

int64_t KvHeadsPerTpRank(const Model& m, int64_t tp) {
  return m.kv_heads >= tp ? std::max<int64_t>(1, m.kv_heads / tp) : 1;
}

double CpAttentionImbalance(const Layout& l) {
  if (l.cp <= 1 || l.cp_balance || l.cp_comm == CpComm::kA2a) return 1.0;
  // Contiguous chunks: rank r's queries [r s/c, (r+1) s/c) see r s/c + (half of its own) keys;
  // the last rank's (s/c)(s - s/(2c)) = s^2 (2c-1)/(2c^2) over the average s^2/(2c).
  const double c = static_cast<double>(l.cp);
  return 2.0 - 1.0 / c;
}

double CpFlashTileEfficiency(const Workload& w, const Layout& l) {
  const double n = std::max(1.0, static_cast<double>(w.seq) / kFlashBlock);
  if (l.cp <= 1 || l.cp_comm == CpComm::kA2a) return FlashPassEfficiency(static_cast<double>(w.seq), true);
  const bool ring = CpRingSteps(w, l);
  const double c = static_cast<double>(l.cp);
  const double diagonal = n / (2.0 * c);
  if (l.cp_balance) {
    const double useful = n * n / (2.0 * c);
    const double visits = ring ? n / (2.0 * c) * (2.0 + 1.5 * (c - 1.0)) : n / c;
    return FlashTileEfficiency(useful, diagonal, visits);
  }
  const double useful = n * n * (2.0 * c - 1.0) / (2.0 * c * c);
  return FlashTileEfficiency(useful, diagonal, ring ? n : n / c);
}

double RingExposedTime(int64_t cp, double step_transfer_s, double step_compute_s) {
  if (cp <= 1) return 0.0;
  return static_cast<double>(cp - 1) * std::max(0.0, step_transfer_s - step_compute_s);
}

CpVolumes CpVolumesFor(const Model& m, const Workload& w, const Layout& l) {
  CpVolumes v;
  if (l.cp <= 1) return v;
  const double b = static_cast<double>(l.mbs), s = static_cast<double>(w.seq);
  const double c = static_cast<double>(l.cp), d = static_cast<double>(m.head_dim);
  const double heads = static_cast<double>(std::max<int64_t>(1, m.heads / l.tp));
  const double kv = static_cast<double>(KvHeadsPerTpRank(m, l.tp));
  const double local = b * s / c;  // tokens of one micro-batch on this rank
  const double act = PrecisionOf(w).activation;
  // K and V of this rank's tokens: one ring step's send.
  v.kv_block_bytes = 2.0 * act * local * kv * d;
  // All-gather output: K and V of the whole sequence.
  v.kv_gather_bytes = 2.0 * act * b * s * kv * d;
  // Ulysses: this rank's q, k, v (its tokens, all its heads) go out in cp slices of heads.
  v.a2a_qkv_bytes = act * local * (heads + 2.0 * kv) * d;
  v.a2a_out_bytes = act * local * heads * d;
  v.torch = CpRunsPyTorch(w, l);
  if (v.torch) {
    // PyTorch's context_parallel: dK, dV round the ring in fp32.
    v.dkv_fp32_bytes = 4.0 * 2.0 * local * kv * d;
    // Backward: the fp32 dq, dK, dV accumulators (zeros_like(..., dtype=float32)), the dK, dV
    // concatenated to send (torch.cat) and the one received, the K, V buffer of the next step
    // (p2p) or the gathered K, V (all_gather).
    v.transient_bytes = 4.0 * local * heads * d + 3.0 * v.dkv_fp32_bytes +
                        (l.cp_comm == CpComm::kP2p ? v.kv_block_bytes : v.kv_gather_bytes);
    return v;
  }
  switch (l.cp_comm) {
    case CpComm::kP2p:
      // TE double-buffers the received K,V block, and in backward the dK,dV block too.
      v.transient_bytes = 4.0 * v.kv_block_bytes;
      break;
    case CpComm::kAllGather:
      // Backward (TE AttnFuncWithCPAndKVAllGather, kernels.cc cp_gather): the re-gathered K and
      // V, held in sequence order to the end, the full-length dK, dV, and the reordered copy of
      // one of them (dK, then dV) made for the reduce-scatter before the old one is freed.
      v.transient_bytes = 2.5 * v.kv_gather_bytes;
      break;
    case CpComm::kA2a:
      // The head-sharded q, k, v and the output before its all-to-all back.
      v.transient_bytes = v.a2a_qkv_bytes + v.a2a_out_bytes;
      break;
  }
  return v;
}

CpLayerCost PriceCpLayer(const LinkParams& links, const Group& g, const Layout& l,
                         const CpVolumes& v, double attn_fwd_s) {
  CpLayerCost out;
  if (l.cp <= 1) return out;
  // Full recompute and Megatron's core_attn module re-run the attention with its exchange.
  const bool full = l.recompute == Recompute::kFull || Recomputes(l, kRecomputeCoreAttn);
  auto use = [&](Coll op, double bytes, const CollectiveCost& cost, double count) {
    out.uses[out.num_uses++] = CpLayerCost::Use{op, bytes, cost, count};
  };
  const double c = static_cast<double>(l.cp);
  // Attention core per pass: backward 2.5x forward, plus the recomputed forward under full.
  out.fwd.attn_s = attn_fwd_s;
  out.bwd.attn_s = 2.5 * attn_fwd_s + (full ? attn_fwd_s : 0.0);
  if (v.torch) {
    const bool inter = g.nodes > 1;
    const double block = attn_fwd_s / c;
    const CollectiveCost dkv = SendRecvTime(links, inter, v.dkv_fp32_bytes);
    // Backward: every step's dK, dV exchange but the last behind the blocks after it; the last
    // one waited for after the last block.
    out.bwd.last_block_s = 2.5 * block;
    out.bwd.after_s = dkv.time_s;
    if (l.cp_comm == CpComm::kP2p) {
      const CollectiveCost kv = SendRecvTime(links, inter, v.kv_block_bytes);
      out.fwd.during_s = (c - 1.0) * kv.time_s;
      out.fwd.last_block_s = block;
      out.bwd.during_s = (c - 1.0) * (kv.time_s + dkv.time_s);
      // K,V come round in forward and again in backward (its own rotater), and in the recompute.
      use(Coll::kSendRecv, v.kv_block_bytes, kv, (c - 1.0) * (full ? 3.0 : 2.0));
    } else {
      // all_gather: one gather per pass, issued before the local step, waited for at the next.
      const CollectiveTable t = BuildTable(links, g);
      const CollectiveCost ag = Time(t, Coll::kAllGather, v.kv_gather_bytes);
      out.fwd.during_s = ag.time_s;
      out.fwd.last_block_s = attn_fwd_s - block;
      out.bwd.during_s = ag.time_s + (c - 1.0) * dkv.time_s;
      use(Coll::kAllGather, v.kv_gather_bytes, ag, full ? 3.0 : 2.0);
    }
    use(Coll::kSendRecv, v.dkv_fp32_bytes, dkv, c);
    // Exposed: what runs beside the compute before the last block and does not fit in it.
    out.fwd_s = std::max(0.0, out.fwd.during_s - (out.fwd.attn_s - out.fwd.last_block_s));
    const double bwd_attn = 2.5 * attn_fwd_s;
    const double bwd_ring = std::max(0.0, out.bwd.during_s - (bwd_attn - out.bwd.last_block_s));
    out.bwd_s = bwd_ring + out.bwd.after_s + (full ? out.fwd_s : 0.0);
    out.hidden_s = out.fwd.during_s - out.fwd_s + out.bwd.during_s - bwd_ring + (full ? out.fwd.during_s - out.fwd_s : 0.0);
    out.bwd.before_s = full ? out.fwd_s : 0.0;  // the recomputed forward's exposed exchange
    out.bwd.attn_s -= full ? attn_fwd_s : 0.0;  // ... whose attention that time stands for
    return out;
  }
  switch (l.cp_comm) {
    case CpComm::kP2p: {
      // The ring crosses nodes as soon as the group does: its slowest hop sets every step.
      const bool inter = g.nodes > 1;
      const CollectiveCost kv = SendRecvTime(links, inter, v.kv_block_bytes);
      const CollectiveCost kv2 = SendRecvTime(links, inter, 2.0 * v.kv_block_bytes);
      const double block = attn_fwd_s / c;
      out.fwd_s = RingExposedTime(l.cp, kv.time_s, block);
      out.bwd_s = RingExposedTime(l.cp, kv2.time_s, 2.5 * block) + (full ? out.fwd_s : 0.0);
      out.hidden_s = (c - 1.0) * (std::min(kv.time_s, block) + std::min(kv2.time_s, 2.5 * block) +
                                  (full ? std::min(kv.time_s, block) : 0.0));
      out.fwd.during_s = (c - 1.0) * kv.time_s;
      out.fwd.last_block_s = block;
      out.bwd.during_s = (c - 1.0) * kv2.time_s;
      out.bwd.last_block_s = 2.5 * block;
      out.bwd.before_s = full ? out.fwd_s : 0.0;  // the recomputed forward's exposed ring
      out.bwd.attn_s -= full ? attn_fwd_s : 0.0;  // ... whose attention that time stands for
      use(Coll::kSendRecv, v.kv_block_bytes, kv, (c - 1.0) * (full ? 2.0 : 1.0));
      use(Coll::kSendRecv, 2.0 * v.kv_block_bytes, kv2, c - 1.0);
      break;
    }
    case CpComm::kAllGather: {
      const CollectiveTable t = BuildTable(links, g);
      const CollectiveCost ag = Time(t, Coll::kAllGather, v.kv_gather_bytes);
      const CollectiveCost rs = Time(t, Coll::kReduceScatter, v.kv_gather_bytes);
      out.fwd_s = ag.time_s;
      out.bwd_s = ag.time_s + rs.time_s + (full ? ag.time_s : 0.0);
      out.fwd.before_s = ag.time_s;
      out.bwd.before_s = ag.time_s + (full ? ag.time_s : 0.0);
      out.bwd.after_s = rs.time_s;
      use(Coll::kAllGather, v.kv_gather_bytes, ag, full ? 3.0 : 2.0);
      use(Coll::kReduceScatter, v.kv_gather_bytes, rs, 1.0);
      break;
    }
    case CpComm::kA2a: {
      const CollectiveCost qkv = AllToAllTime(links, g, v.a2a_qkv_bytes);
      const CollectiveCost o = AllToAllTime(links, g, v.a2a_out_bytes);
      // Backward exchanges the output and its gradient before the core (TE
      // AttnFuncWithCPAndQKVOA2A.backward: flash_attn_a2a_communicate([out, dout]), the output
      // saved sequence-sharded), then dq, dk, dv after it.
      out.fwd_s = qkv.time_s + o.time_s;
      out.bwd_s = 2.0 * o.time_s + qkv.time_s + (full ? out.fwd_s : 0.0);
      out.fwd.before_s = qkv.time_s;
      out.fwd.after_s = o.time_s;
      out.bwd.before_s = 2.0 * o.time_s + (full ? out.fwd_s : 0.0);
      out.bwd.after_s = qkv.time_s;
      use(Coll::kAllToAll, v.a2a_qkv_bytes, qkv, full ? 3.0 : 2.0);
      use(Coll::kAllToAll, v.a2a_out_bytes, o, full ? 4.0 : 3.0);
      break;
    }
  }
  return out;
}

}  // namespace meshplan::costmodel
