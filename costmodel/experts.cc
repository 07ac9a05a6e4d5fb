#include "costmodel/experts.h"

#include <algorithm>
#include <cmath>

#include "costmodel/context.h"

namespace meshplan::costmodel {

double MoeLoadFactor(const Workload& w) {
  const double imbalance = w.moe_imbalance > 0 ? w.moe_imbalance : kDefaultMoeImbalance;
  if (w.moe_capacity_factor > 0) {
    return w.moe_pad_to_capacity ? w.moe_capacity_factor : std::min(imbalance, w.moe_capacity_factor);
  }
  return imbalance;
}

MoeRouting RouteTokens(const Model& m, const Workload& w, const Layout& l) {
  MoeRouting r;
  r.activation_bytes = PrecisionOf(w).activation;
  const double t = static_cast<double>(l.tp), ep = static_cast<double>(l.ep);
  const double E = static_cast<double>(m.moe.experts), k = static_cast<double>(m.moe.experts_per_token);
  // This rank's tokens of a micro-batch (CP splits the sequence); SP shards them over TP.
  const double T = static_cast<double>(l.mbs) * static_cast<double>(CpLocalSeq(w, l));
  const double load = MoeLoadFactor(w);
  r.local_experts = std::max<int64_t>(1, m.moe.experts / std::max<int64_t>(1, l.ep));
  r.tokens_in = l.sp ? T / t : T;
  r.sent_copies = r.tokens_in * k * load;
  // Each TP rank computes a TP shard of its experts for every copy its TP group received.
  r.expert_rows = (l.sp ? t : 1.0) * r.sent_copies;
  // The busiest expert's rows: the rank's copies over its local experts, E / ep of them (with
  // padding each expert's capacity is ceil(cf x tokens x k / E) per source rank).
  const double per_expert = w.moe_capacity_factor > 0 && w.moe_pad_to_capacity
                                ? (l.sp ? t : 1.0) * ep * std::ceil(r.tokens_in * k * w.moe_capacity_factor / E)
                                : std::ceil(r.expert_rows / static_cast<double>(r.local_experts));
  r.rows_per_expert = static_cast<int64_t>(std::clamp(per_expert, 1.0, 9.0e15));
  return r;
}

EpLayerCost PriceEpLayer(const LinkParams& links, const Group& ep_group, const CollectiveTable* tp_table,
                         const Model& m, const Layout& l, const MoeRouting& r) {
  EpLayerCost c;
  const double h = static_cast<double>(m.hidden);
  // Full recompute and Megatron's moe module re-run the exchange with the layer's forward.
  const bool full = l.recompute == Recompute::kFull || Recomputes(l, kRecomputeMoe);
  const double fwd_count = 1.0, bwd_count = full ? 2.0 : 1.0;
  double a2a = 0, tp = 0;
  if (l.ep > 1) {
    // The dispatch sends this rank's copies; the combine sends the same number back.
    const double bytes = r.activation_bytes * r.sent_copies * h;
    const CollectiveCost cost = AllToAllTime(links, ep_group, bytes);
    c.uses[c.num_uses++] = {Coll::kAllToAll, true, false, bytes, cost, fwd_count + bwd_count};
    c.uses[c.num_uses++] = {Coll::kAllToAll, false, false, bytes, cost, fwd_count + bwd_count};
    a2a = cost.time_s;
  }
  if (l.tp > 1 && l.sp && tp_table != nullptr) {
    // The TP group's received copies gathered to every TP rank, and reduce-scattered back.
    const double bytes = r.activation_bytes * r.expert_rows * h;
    const CollectiveCost ag = Time(*tp_table, Coll::kAllGather, bytes);
    const CollectiveCost rs = Time(*tp_table, Coll::kReduceScatter, bytes);
    c.uses[c.num_uses++] = {Coll::kAllGather, true, true, bytes, ag, fwd_count + bwd_count};
    c.uses[c.num_uses++] = {Coll::kReduceScatter, false, true, bytes, rs, fwd_count + bwd_count};
    tp = ag.time_s + rs.time_s;
  }
  // Forward: dispatch + combine. Backward: their gradients in reverse (an all-to-all each, and
  // with TP a reduce-scatter and an all-gather), and full recompute's forward again.
  c.fwd_s = 2.0 * a2a + tp;
  c.bwd_s = (full ? 2.0 : 1.0) * (2.0 * a2a + tp);
  return c;
}

}  // namespace meshplan::costmodel
