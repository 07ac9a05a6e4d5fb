// File: sim/step_graph.cc
// Builds the step's task graph (see step_graph.h for the order and the dependencies) from the
// analytical per-call times in costmodel::StepComponents.
#include "sim/step_graph.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <string>

#include "costmodel/error.h"
#include "costmodel/memory.h"
#include "sim/graph_impl.h"

namespace meshplan::sim {

StepGraph::StepGraph() : impl_(std::make_unique<GraphImpl>()) {}
StepGraph::StepGraph(StepGraph&&) noexcept = default;
StepGraph& StepGraph::operator=(StepGraph&&) noexcept = default;
StepGraph::~StepGraph() = default;

int64_t StepGraph::num_edges() const {
  return static_cast<int64_t>(boost::num_edges(impl_->graph));
}

std::vector<std::pair<int32_t, int32_t>> StepGraph::Edges() const {
  std::vector<std::pair<int32_t, int32_t>> out;
  out.reserve(static_cast<size_t>(num_edges()));
  auto [it, last] = boost::edges(impl_->graph);
  for (; it != last; ++it) {
    out.emplace_back(static_cast<int32_t>(boost::source(*it, impl_->graph)),
                     static_cast<int32_t>(boost::target(*it, impl_->graph)));
  }
  return out;
}

namespace {

/// Tasks one layer's CP exchange adds per pass at most: pre, ring, two attention parts, post,
/// join (StepGraph's cp_pass).
constexpr int64_t kCpTasksPerPass = 6;

/// Collects tasks in issue order and their dependencies (predecessor, successor).
class Builder {
 public:
  Builder(size_t tasks, size_t edges) {
    tasks_.reserve(tasks);
    edges_.reserve(edges);
    last_on_stream_.fill(-1);
  }
  /// Appends a task; preds < 0 are ignored. Returns its index.
  int32_t Add(Op op, Stream s, int64_t mb, int64_t layer, double duration_s, double alloc_bytes,
              std::initializer_list<int32_t> preds) {
    const auto id = static_cast<int32_t>(tasks_.size());
    tasks_.push_back(Task{op, KindOf(op), s, static_cast<int32_t>(mb), static_cast<int32_t>(layer),
                          duration_s, alloc_bytes, 0.0});
    for (int32_t p : preds) {
      if (p >= 0) edges_.emplace_back(static_cast<uint32_t>(p), static_cast<uint32_t>(id));
    }
    last_on_stream_[static_cast<size_t>(s)] = id;
    return id;
  }
  void Free(int32_t task, double bytes) { tasks_[static_cast<size_t>(task)].free_bytes += bytes; }
  int32_t last_on(Stream s) const { return last_on_stream_[static_cast<size_t>(s)]; }

  std::vector<Task> tasks_;
  std::vector<std::pair<uint32_t, uint32_t>> edges_;

 private:
  std::array<int32_t, kNumStreams> last_on_stream_{};
};

/// The TP collectives of the head (embedding, output head, loss) per micro-batch, split into
/// forward and backward. StepComponents folds them into head_fwd_s/head_bwd_s; the analytical
/// TP total less the layers' share is their sum, and the head's backward issues one activation
/// collective (the TP reduce-scatter with SP, else the activation all-reduce, the larger one).
struct HeadTp {
  double fwd_s = 0, bwd_s = 0;
};
HeadTp SplitHeadTp(const costmodel::Layout& l, const costmodel::Evaluation& e, double layers) {
  const costmodel::StepComponents& p = e.parts;
  HeadTp h;
  if (l.tp <= 1 || p.micro_batches <= 0) return h;
  const double total = std::max(0.0, e.time.exposed_tp_comm_s / p.micro_batches -
                                         layers * (p.layer_fwd_tp_s + p.layer_bwd_tp_s));
  double bwd = 0, best_bytes = -1;
  for (int i = 0; i < e.num_collectives; ++i) {
    const costmodel::CollectiveUse& c = e.collectives[static_cast<size_t>(i)];
    if (c.purpose != costmodel::Purpose::kTp) continue;
    const costmodel::Coll want = l.sp ? costmodel::Coll::kReduceScatter : costmodel::Coll::kAllReduce;
    if (c.op == want && c.bytes > best_bytes) {
      best_bytes = c.bytes;
      bwd = c.cost.time_s;
    }
  }
  h.bwd_s = std::min({bwd, total, p.head_bwd_s});
  h.fwd_s = std::min(total - h.bwd_s, p.head_fwd_s);
  return h;
}

Stream StreamFor(const costmodel::Group& g) {
  return g.nodes > 1 ? Stream::kCommInter : Stream::kCommIntra;
}

/// The pieces a per-step collective runs in over `layers` layers (0: one per layer).
int64_t TasksOf(double tasks, int64_t layers) {
  if (tasks <= 0) return layers;
  return std::clamp<int64_t>(static_cast<int64_t>(std::llround(tasks)), 1, layers);
}
/// Piece g of T holds layers [g L / T, (g + 1) L / T).
int64_t FirstLayerOfPiece(int64_t g, int64_t T, int64_t layers) { return g * layers / T; }
int64_t PieceOfLayer(int64_t i, int64_t T, int64_t layers) { return ((i + 1) * T - 1) / layers; }
/// Whether layer i is the first of its piece: its backward is the piece's last, so the piece's
/// reduction is issued there.
bool StartsPiece(int64_t i, int64_t T, int64_t layers) {
  return FirstLayerOfPiece(PieceOfLayer(i, T, layers), T, layers) == i;
}

}  // namespace

StepGraph BuildStepGraph(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                         const costmodel::Evaluation& e, int prefetch_depth) {
  MESHPLAN_CHECK(prefetch_depth >= 0);
  const costmodel::StepComponents& p = e.parts;
  const int64_t L = std::max<int64_t>(1, ev.model().layers);
  const double Ld = static_cast<double>(L);
  // A batch that does not divide is simulated with whole micro-batches (rounded up).
  const int64_t M = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(p.micro_batches - 1e-9)));
  const int64_t d = prefetch_depth;

  const bool fsdp_layer = !p.per_step_zero1 && (p.fsdp_ag_layer_s > 0 || p.fsdp_rs_layer_s > 0);
  const bool split = fsdp_layer && p.split_outer;  // FSDP2's embedding and head units
  const bool gather_bwd = fsdp_layer && p.gather_in_backward;
  // FSDP1's root unit under ZeRO-3: held from the first gather to the end of the backward, its
  // unsharded gradient from the head's backward on (memory.cc).
  const bool root = fsdp_layer && costmodel::Fsdp1RootHeld(ev.workload(), l);
  const bool zero1 = p.per_step_zero1;
  const bool dp = p.dp_allreduce_s > 0;
  // Groups placed by their mesh strides (costmodel/mesh.h): FSDP shards over fsdp x cp.
  const Stream fsdp_stream = StreamFor(ev.PlaceGroup(l.shard(), l.tp));
  const Stream dp_stream = StreamFor(ev.PlaceGroup(l.replicate, l.tp * l.shard()));

  const bool cp = l.cp > 1;
  const bool ep = p.layer_fwd_ep_s > 0 || p.layer_bwd_ep_s > 0;
  const int64_t per_mb =
      9 + L * (4 + (fsdp_layer ? 2 : 0) + (gather_bwd ? 1 : 0) + (cp ? 2 * kCpTasksPerPass : 0) + (ep ? 2 : 0));
  const int64_t total = M * per_mb + (zero1 ? 2 * L : 0) + (dp ? L : 0) + 1;
  if (total > kMaxTasks) {
    throw Error("simulate", std::to_string(M) + " micro-batches x " + std::to_string(L) +
                                " layers make " + std::to_string(total) +
                                " tasks, more than the simulator's limit of " +
                                std::to_string(kMaxTasks));
  }
  Builder b(static_cast<size_t>(total), static_cast<size_t>(2 * total));

  // Memory of the outer units scales like a layer's. They are two, as FSDP2 wraps them
  // (torchtitan/models/llama3/infra/parallelize.py @018740b apply_fsdp, and memory.cc): the
  // embedding, resharded after its forward (ZeRO-3) and gathered again for its backward, the
  // last; and the final norm with the output head, kept from its forward to the end of its
  // backward. Their collectives (StepComponents::split_outer): the embedding's gather before the
  // first layer and again, under ZeRO-3, as the unit after layer 0 in backward order, its
  // reduce-scatter after the last backward; the head's gather as the unit after the last layer in
  // forward order, its reduce-scatter once its backward is done. FSDP1's root unit: one gather
  // before the first layer and one reduce-scatter after the last backward.
  const costmodel::TpShardParams tpp = costmodel::ParamsPerTpRank(ev.model(), l.tp);
  // (A unit's parameters: the layer's own, plus its experts when they are sharded further over
  // the expert-data-parallel group, as Evaluate sizes unit_param_bytes.)
  const double unit_params = tpp.layer + (l.shard() / l.ep > 1 ? tpp.expert / static_cast<double>(l.ep) : 0.0);
  const double emb_ratio = unit_params > 0 && fsdp_layer ? tpp.embedding / unit_params : 0.0;
  const double head_ratio = unit_params > 0 && fsdp_layer ? tpp.head / unit_params : 0.0;
  const double unit_param_bytes = fsdp_layer ? p.unit_param_bytes : 0.0;
  // A unit's gradients live from its backward to the end of it (FSDP2 then copies them into the
  // reduce-scatter's input and frees them); that copy in the reduce dtype lives until the next
  // unit's post-backward (torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py foreach_reduce).
  const double unit_grad_bytes = fsdp_layer ? p.unit_grad_bytes : 0.0;
  const double unit_reduce_bytes = fsdp_layer ? p.unit_reduce_copy_bytes : 0.0;
  const double emb_param_bytes = p.unit_param_bytes * emb_ratio, head_param_bytes = p.unit_param_bytes * head_ratio;
  const double emb_grad_bytes = (p.unit_grad_bytes + p.unit_reduce_copy_bytes) * emb_ratio;
  const double head_grad_bytes = (p.unit_grad_bytes + p.unit_reduce_copy_bytes) * head_ratio;
  const double root_grad_bytes = p.unit_grad_bytes * (emb_ratio + head_ratio);
  const double root_reduce_bytes = p.unit_reduce_copy_bytes * (emb_ratio + head_ratio);
  // A layer's activations held on the GPU from its forward to its backward: none for an
  // offloaded one (p.offload_layers, in effect), and layer 0 also holds the offload's one-layer
  // staging buffer (TransformerEngine's double buffer), as memory.cc counts them.
  auto kept_on_gpu = [&p](int64_t i) {
    const double own = i < p.offload_layers ? 0.0 : p.layer_activation_bytes;
    return own + (i == 0 && p.offload_layers > 0 ? p.layer_activation_bytes : 0.0);
  };

  const HeadTp head_tp = SplitHeadTp(l, e, Ld);
  // Under CP the attention core leaves the layer's compute task: CpPassTasks runs it.
  const double F = p.layer_fwd_compute_s - (cp ? p.cp_fwd.attn_s : 0.0);
  const double B = p.layer_bwd_compute_s - (cp ? p.cp_bwd.attn_s : 0.0);
  // One pass of a layer's CP exchange after its compute task `prev` (costmodel::CpPass): the
  // blocking part before the attention, the ring beside all but its last block, the output
  // exchange after it, and a zero-length join so that the compute stream waits for that.
  auto cp_pass = [&](const costmodel::CpPass& c, bool fwd, int64_t mb, int64_t layer, int32_t prev) {
    const Op pre = fwd ? Op::kCpFwdPre : Op::kCpBwdPre, ring = fwd ? Op::kCpFwdRing : Op::kCpBwdRing;
    const Op post = fwd ? Op::kCpFwdPost : Op::kCpBwdPost, attn = fwd ? Op::kLayerFwdAttn : Op::kLayerBwdAttn;
    const int32_t pre_t = c.before_s > 0 ? b.Add(pre, Stream::kCommCp, mb, layer, c.before_s, 0.0, {prev}) : -1;
    const int32_t ring_t = c.during_s > 0 ? b.Add(ring, Stream::kCommCp, mb, layer, c.during_s, 0.0, {prev}) : -1;
    int32_t t = b.Add(attn, Stream::kCompute, mb, layer, c.attn_s - c.last_block_s, 0.0, {pre_t});
    if (c.last_block_s > 0) t = b.Add(attn, Stream::kCompute, mb, layer, c.last_block_s, 0.0, {ring_t});
    if (c.after_s > 0) {
      const int32_t post_t = b.Add(post, Stream::kCommCp, mb, layer, c.after_s, 0.0, {t});
      t = b.Add(attn, Stream::kCompute, mb, layer, 0.0, 0.0, {post_t});
    }
    return t;
  };

  // ZeRO-1's and the replicas' per-step collectives run in pieces over the layers
  // (StepComponents::zero1_tasks, dp_tasks; costmodel/data_parallel.h DpBuckets): piece g holds
  // layers [g L / T, (g + 1) L / T), gathered before the first of them runs forward and reduced
  // once the first of them (the last to finish) has run backward. T = L: one per layer.
  const int64_t zero1_T = TasksOf(p.zero1_tasks, L), dp_T = TasksOf(p.dp_tasks, L);
  std::vector<int32_t> zero1_ag(static_cast<size_t>(zero1 ? zero1_T : 0), -1);
  for (int64_t g = 0; zero1 && g < zero1_T; ++g) {
    zero1_ag[static_cast<size_t>(g)] = b.Add(Op::kZero1Ag, fsdp_stream, -1, FirstLayerOfPiece(g, zero1_T, L),
                                             p.zero1_ag_s / static_cast<double>(zero1_T), 0.0, {});
  }

  const auto Ls = static_cast<size_t>(L);
  std::vector<int32_t> ag_fwd(Ls, -1), ag_bwd(Ls, -1), fwd_last(Ls, -1), bwd_last(Ls, -1);
  std::vector<int32_t> dp_ready(Ls, -1);  // what each replica all-reduce bucket waits for
  int32_t dp_outer_ready = -1;             // ... and bucket 0 besides (the outer unit's reduce-scatter)
  for (int64_t m = 0; m < M; ++m) {
    const bool last_mb = m == M - 1;
    // ---- Forward.
    const int32_t ag_outer =
        fsdp_layer ? b.Add(Op::kAgOuter, fsdp_stream, m, -1, p.fsdp_ag_outer_s,
                           emb_param_bytes + (split ? 0.0 : head_param_bytes), {})
                   : -1;
    int64_t issued = 0;      // forward all-gathers issued so far this micro-batch (L: the head's)
    int32_t ag_head = -1;
    auto issue_fwd = [&] {
      const int64_t j = issued++;
      const int32_t after = j - d - 1 >= 0 ? fwd_last[static_cast<size_t>(j - d - 1)] : -1;
      if (j == L) {
        ag_head = b.Add(Op::kAgOuter, fsdp_stream, m, -1, p.fsdp_ag_head_s, head_param_bytes, {after});
      } else {
        ag_fwd[static_cast<size_t>(j)] =
            b.Add(Op::kAgLayerFwd, fsdp_stream, m, j, p.fsdp_ag_layer_s, unit_param_bytes, {after});
      }
    };
    const int64_t fwd_units = L + (split ? 1 : 0);
    for (int64_t i = 0; i < L; ++i) {
      const auto ui = static_cast<size_t>(i);
      while (fsdp_layer && issued < fwd_units && issued <= i + d) issue_fwd();
      const double kept = kept_on_gpu(i);
      int32_t last = b.Add(Op::kLayerFwd, Stream::kCompute, m, i, F, kept,
                           {ag_fwd[ui], i == 0 ? ag_outer : -1,
                            m == 0 && zero1 ? zero1_ag[static_cast<size_t>(
                                                  p.zero1_gather_blocking ? zero1_T - 1 : PieceOfLayer(i, zero1_T, L))]
                                            : -1});
      if (cp) last = cp_pass(p.cp_fwd, true, m, i, last);
      if (p.layer_fwd_tp_s > 0) {
        last = b.Add(Op::kLayerFwdTp, Stream::kCompute, m, i, p.layer_fwd_tp_s, 0.0, {});
      }
      if (ep) last = b.Add(Op::kLayerFwdEp, Stream::kCompute, m, i, p.layer_fwd_ep_s, 0.0, {});
      if (gather_bwd) b.Free(last, unit_param_bytes + (i == 0 && !root ? emb_param_bytes : 0.0));  // reshard_after_forward
      fwd_last[ui] = last;
    }
    while (fsdp_layer && issued < fwd_units) issue_fwd();  // prefetch depth 0: the head's, now
    int32_t head_fwd_last = b.Add(Op::kHeadFwd, Stream::kCompute, m, -1, p.head_fwd_s - head_tp.fwd_s,
                                  p.outer_activation_bytes, {ag_head});
    if (head_tp.fwd_s > 0) head_fwd_last = b.Add(Op::kHeadFwdTp, Stream::kCompute, m, -1, head_tp.fwd_s, 0.0, {});
    // ---- Backward.
    int32_t head_last = b.Add(Op::kHeadBwd, Stream::kCompute, m, -1, p.head_bwd_s - head_tp.bwd_s,
                              root ? root_grad_bytes : head_grad_bytes, {});
    if (head_tp.bwd_s > 0) {
      head_last = b.Add(Op::kHeadBwdTp, Stream::kCompute, m, -1, head_tp.bwd_s, 0.0, {});
    }
    // The head unit reshards after its backward; its gradients leave with their reduce-scatter
    // (its own below under FSDP2, the root's at the end under FSDP1).
    b.Free(head_last, p.outer_activation_bytes + (root ? 0.0 : head_param_bytes + head_grad_bytes));
    int64_t next_bwd_ag = L - 1;  // next backward re-gather to issue, going down (-1: the embedding's)
    const int64_t lowest_bwd_ag = split && gather_bwd ? -1 : 0;
    int32_t rs_outer = -1, ag_emb = -1;
    auto issue_bwd = [&] {
      const int64_t j = next_bwd_ag--;
      const int64_t freed = j + d + 1;  // the unit whose release admits this gather (L: the head)
      const int32_t after =
          freed < L ? bwd_last[static_cast<size_t>(freed)] : (freed == L ? head_last : head_fwd_last);
      if (j < 0) {
        ag_emb = b.Add(Op::kAgOuter, fsdp_stream, m, -1, p.fsdp_ag_outer_s, emb_param_bytes, {after});
      } else {
        ag_bwd[static_cast<size_t>(j)] =
            b.Add(Op::kAgLayerBwd, fsdp_stream, m, j, p.fsdp_ag_layer_s, unit_param_bytes, {after});
      }
    };
    for (int64_t i = L - 1; i >= 0; --i) {
      const auto ui = static_cast<size_t>(i);
      // The head is the first unit in backward order (position L): FSDP2's pre-backward of a
      // unit prefetches the next d (_fsdp_state.py _pre_backward, FSDPParamGroup
      // _backward_prefetch), so the last layers are gathered while the head's backward runs,
      // each once the unit d + 1 places above it in that order has been released.
      while (gather_bwd && next_bwd_ag >= lowest_bwd_ag && next_bwd_ag >= i - d) issue_bwd();
      // The head's reduce-scatter, once its backward is done, on the stream after the gathers
      // its backward admitted.
      if (i == L - 1 && split && p.fsdp_rs_head_s > 0) {
        b.Add(Op::kRsOuter, fsdp_stream, m, -1, p.fsdp_rs_head_s, 0.0, {head_last});
      }
      const int32_t bwd = b.Add(Op::kLayerBwd, Stream::kCompute, m, i, B, p.recompute_working_bytes + unit_grad_bytes,
                                {gather_bwd ? ag_bwd[ui] : -1});
      int32_t last = bwd;
      if (cp) last = cp_pass(p.cp_bwd, false, m, i, last);
      if (p.layer_bwd_tp_s > 0) {
        last = b.Add(Op::kLayerBwdTp, Stream::kCompute, m, i, p.layer_bwd_tp_s, 0.0, {});
      }
      if (ep) last = b.Add(Op::kLayerBwdEp, Stream::kCompute, m, i, p.layer_bwd_ep_s, 0.0, {});
      b.Free(last, p.recompute_working_bytes + kept_on_gpu(i) + unit_param_bytes + unit_grad_bytes);
      bwd_last[ui] = last;
      int32_t grads_ready = last;  // what the replica all-reduce of this bucket waits for
      if (fsdp_layer) {
        // One unit's reduce-dtype copy at a time: FSDP2 keeps the reduce-scatter's input until the
        // next unit's post-backward, which drops it as it makes its own (_fsdp_param_group.py
        // post_backward, comm_ctx.reduce_scatter_state), and the root's final callback drops the
        // last. So the first reduce-scatter of the backward allocates it, each later one
        // replaces it in place (on the same stream, in order), and the last frees it.
        grads_ready = b.Add(Op::kRsLayer, fsdp_stream, m, i, p.fsdp_rs_layer_s, i == L - 1 ? unit_reduce_bytes : 0.0,
                            {last});
        if (i == 0) {
          b.Free(grads_ready, unit_reduce_bytes);
          // The embedding's backward: its parameters (gathered again under ZeRO-3, by its own
          // task under FSDP2, else kept since the forward) and gradients, with nothing gathered
          // after it.
          while (gather_bwd && next_bwd_ag >= lowest_bwd_ag) issue_bwd();  // depth 0: the embedding's, now
          if (root) {
            rs_outer = b.Add(Op::kRsOuter, fsdp_stream, m, -1, p.fsdp_rs_outer_s, root_reduce_bytes, {last});
            b.Free(rs_outer, emb_param_bytes + head_param_bytes + root_grad_bytes + root_reduce_bytes);
          } else {
            rs_outer = b.Add(Op::kRsOuter, fsdp_stream, m, -1, p.fsdp_rs_outer_s,
                             (gather_bwd && !split ? emb_param_bytes : 0.0) + emb_grad_bytes, {last, ag_emb});
            b.Free(rs_outer, emb_param_bytes + emb_grad_bytes);
          }
        }
      }
      if (last_mb && zero1) {
        if (p.dp_after_backward) {
          grads_ready = -1;  // the reduce-scatter buckets are issued below, after the backward
        } else if (StartsPiece(i, zero1_T, L)) {
          grads_ready = b.Add(Op::kZero1Rs, fsdp_stream, -1, i, p.zero1_rs_s / static_cast<double>(zero1_T), 0.0,
                              {last});
        }
      }
      if (last_mb && dp) {
        if (p.dp_after_backward) {
          dp_ready[ui] = grads_ready;  // issued below, once the whole backward is done
          if (i == 0) dp_outer_ready = rs_outer;
        } else if (StartsPiece(i, dp_T, L)) {
          b.Add(Op::kDpAllReduce, dp_stream, -1, i, p.dp_allreduce_s / static_cast<double>(dp_T), 0.0,
                {grads_ready, i == 0 ? rs_outer : -1});
        }
      }
    }
  }
  // A framework that reduces after the backward (DeepSpeed's engine, Megatron-LM without
  // --overlap-grad-reduce) issues every bucket once the last micro-batch's backward has
  // finished (ZeRO-1's reduce-scatter first, then the replicas' all-reduce): none of it hides.
  if ((dp || zero1) && p.dp_after_backward) {
    const int32_t backward_done = bwd_last[0];
    for (int64_t i = L - 1; i >= 0; --i) {
      const auto ui = static_cast<size_t>(i);
      if (zero1 && StartsPiece(i, zero1_T, L)) {
        dp_ready[ui] = b.Add(Op::kZero1Rs, fsdp_stream, -1, i, p.zero1_rs_s / static_cast<double>(zero1_T), 0.0,
                             {backward_done});
      }
      if (dp && StartsPiece(i, dp_T, L)) {
        b.Add(Op::kDpAllReduce, dp_stream, -1, i, p.dp_allreduce_s / static_cast<double>(dp_T), 0.0,
              {dp_ready[ui], backward_done, i == 0 ? dp_outer_ready : -1});
      }
    }
  }
  b.Add(Op::kOptimizer, Stream::kCompute, -1, -1, p.optimizer_s, 0.0,
        {b.last_on(Stream::kCommIntra), b.last_on(Stream::kCommInter), b.last_on(Stream::kCommCp)});

  StepGraph g;
  const auto n = static_cast<uint32_t>(b.tasks_.size());
  g.impl_->in_degree.assign(n, 0);
  for (const auto& [from, to] : b.edges_) ++g.impl_->in_degree[to];
  g.impl_->graph = Csr(boost::edges_are_unsorted_multi_pass, b.edges_.begin(), b.edges_.end(), n);
  g.tasks_ = std::move(b.tasks_);
  g.static_bytes_ = p.static_bytes;
  g.micro_batches_ = M;
  g.layers_ = L;
  return g;
}

}  // namespace meshplan::sim
