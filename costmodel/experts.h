// File: costmodel/experts.h
// Expert parallelism (ep) of a mixture-of-experts model, as Megatron-Core's all-to-all token
// dispatcher runs it (megatron/core/transformer/moe/token_dispatcher.py,
// MoEAlltoAllTokenDispatcher; moe_layer.py; experts.py GroupedMLP / TEGroupedMLP):
// - ep is carved out of fsdp x cp (mesh.h): an ep group is ep ranks at stride tp, each holding
//   experts / ep of every MoE layer's routed experts; the experts' parameters, gradients and
//   optimizer states shard over the other fsdp x cp / ep ranks (the expert-data-parallel group).
// - Per MoE layer and micro-batch, each rank routes its tokens (the SP shard under TP: Megatron
//   requires sequence parallelism with ep > 1 and tp > 1, arguments.py validate_args), permutes
//   the top-k copies by expert, sends them to the ranks holding those experts (the dispatch
//   all-to-all), and with tp > 1 all-gathers the received copies over the TP group, whose ranks
//   each hold a TP shard of every local expert (expert tensor parallelism = tp, Megatron-Core's
//   default). The local experts run as one grouped GEMM; the combine reverses it
//   (reduce-scatter over TP, all-to-all back, unpermute, weighted sum). Backward runs both
//   exchanges again in reverse; full recompute runs the forward's again.
// - The all-to-alls are blocking on the compute stream (the dispatcher's default; overlapping
//   them with another micro-batch's compute, DeepEP / --overlap-moe-expert-parallel-comm, is
//   not modelled and is said in the report's assumptions).
// - Tokens per expert: top-k spreads T x k copies over E experts; dropless routing lets the
//   busiest rank take `imbalance` times its share (Workload::moe_imbalance, default 1: the even
//   split the load-balancing loss aims at; no per-rank measurement ships); a capacity factor
//   caps it, and with padding every expert computes exactly its capacity.
// Units: bytes, seconds; token counts in double (large micro-batches overflow int64 products).
#ifndef MESHPLAN_COSTMODEL_EXPERTS_H_
#define MESHPLAN_COSTMODEL_EXPERTS_H_

#include <cstdint>
#include <string>

#include "costmodel/collectives.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// The dropless imbalance used when Workload::moe_imbalance is 0: the busiest rank gets its
/// even share (an assumption, named in every report that prices an MoE model).
inline constexpr double kDefaultMoeImbalance = 1.0;

/// The busiest rank's routed tokens over its even share, as the workload sets it: padded to
/// capacity, exactly the capacity factor; capped by it; otherwise the imbalance.
double MoeLoadFactor(const Workload& w);

/// One MoE layer's routing on one rank for one micro-batch.
struct MoeRouting {
  int64_t local_experts = 0;    // experts / ep
  double tokens_in = 0;         // tokens entering the dispatcher on this rank (the SP shard)
  double sent_copies = 0;       // token copies this rank sends in the dispatch all-to-all
  double expert_rows = 0;       // token copies its experts compute (after the TP all-gather)
  int64_t rows_per_expert = 0;  // rows of each local expert's GEMM (at least 1)
  double activation_bytes = 2;  // bytes per element of a token's hidden vector (PrecisionOf)
};
/// REQUIRES an MoE model and a resolved layout.
MoeRouting RouteTokens(const Model& m, const Workload& w, const Layout& l);

/// One MoE layer's expert-parallel exchange for one micro-batch: the time it adds to the
/// critical path forward and backward, and what it issues (per MoE layer per micro-batch).
struct EpLayerCost {
  double fwd_s = 0;
  double bwd_s = 0;
  struct Use {
    Coll op = Coll::kAllToAll;
    bool dispatch = true;  // dispatch (ep_dispatch) or combine (ep_combine)
    bool over_tp = false;  // the TP all-gather / reduce-scatter of the received copies
    double bytes = 0;      // nccl-tests' S
    CollectiveCost cost;
    double count = 0;
  };
  Use uses[4];
  int num_uses = 0;
};
/// Prices the exchange: the all-to-alls over the EP group `ep_group` (AllToAllTime, hidden
/// vectors of r.activation_bytes per element), and with tp > 1 the all-gather / reduce-scatter
/// over `tp_table`'s group.
EpLayerCost PriceEpLayer(const LinkParams& links, const Group& ep_group, const CollectiveTable* tp_table,
                         const Model& m, const Layout& l, const MoeRouting& r);

/// Expert-parallel feasibility, for StaticProblems (evaluate.cc): report(code, sentence) per
/// problem, `divisibility` and `expert` the reason bits to use.
template <typename Code, typename Report>
void ExpertProblems(const Model& m, const Workload& w, const Layout& l, Code divisibility, Code expert,
                    Report&& report) {
  const std::string e = "ep " + std::to_string(l.ep);
  if (m.moe.dense()) {
    if (l.ep > 1) report(expert, [&] { return e + " needs a mixture-of-experts model; " + m.name + " is dense"; });
    return;
  }
  if (l.ep > 1 && l.shard() % l.ep != 0) {
    report(divisibility, [&] {
      return e + " does not divide fsdp x cp = " + std::to_string(l.shard()) +
             " (expert parallelism is carved out of the data x context group)";
    });
  }
  if (m.moe.experts % l.ep != 0) {
    report(divisibility, [&] {
      return e + " does not divide the model's " + std::to_string(m.moe.experts) + " experts";
    });
  }
  if (l.ep > 1 && l.tp > 1 && !l.sp) {
    report(expert, [&] {
      return e + " with tp " + std::to_string(l.tp) +
             " needs sp=on (Megatron-LM requires sequence parallelism with expert and tensor parallelism)";
    });
  }
  if (m.moe.experts % l.ep == 0 && RouteTokens(m, w, l).expert_rows < static_cast<double>(m.moe.experts / l.ep)) {
    report(expert, [&] {
      return "fewer than one routed token per expert: the " + std::to_string(m.moe.experts / l.ep) +
             " experts of an ep rank share " + std::to_string(RouteTokens(m, w, l).expert_rows) +
             " token copies per micro-batch (raise mbs or ep)";
    });
  }
  if (m.moe.expert_ffn % l.tp != 0) {
    report(divisibility, [&] {
      return "tp " + std::to_string(l.tp) + " does not divide expert ffn " + std::to_string(m.moe.expert_ffn);
    });
  }
}

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_EXPERTS_H_
