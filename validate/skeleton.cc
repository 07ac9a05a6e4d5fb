#include "validate/skeleton.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "costmodel/memory.h"
#include "costmodel/data_parallel.h"
#include "costmodel/error.h"
#include "costmodel/params.h"
#include "costmodel/pipeline.h"

namespace meshplan::validate {
namespace {

using costmodel::Coll;
using costmodel::Dtype;
using costmodel::GemmShape;
using costmodel::MemoryKernel;

enum class Block { kAttention, kMlp };

bool InAttention(std::string_view gemm) {
  return gemm == "qkv" || gemm == "scores" || gemm == "context" || gemm == "attn_out" ||
         gemm == "q_down" || gemm == "q_proj" || gemm == "q_up" || gemm == "kv_down" || gemm == "kv_up" ||
         gemm == "wq" || gemm == "wk" || gemm == "wv";  // torchtitan's projections under recompute=op
}

/// Whether gemm `i` is the attention's last input projection (qkv; MLA's kv_up), after which
/// the fused attention core runs: the one right before attn_out (kernels.h order).
bool FeedsAttentionCore(const costmodel::LayerKernels& k, int i) {
  return i + 1 < k.num_gemms && k.gemms[static_cast<size_t>(i + 1)].name == "attn_out";
}

/// Launches of a bandwidth kernel in one block: the activations and an MoE layer's sort by local
/// expert run in the MLP, CP's merges, reorders and gathered copies in attention; kernels that run more than once
/// per layer (the two norms, the two residual adds) split between the blocks. (An MoE layer's
/// moe_permute runs inside its token exchange: StepRunner::Dispatch / Combine.)
int LaunchesIn(const MemoryKernel& k, int count, Block b) {
  if (k.name == "activation" || k.name == "shared_activation" || k.name == "pre_mlp_norm" || k.name == "moe_sort" ||
      k.name == "moe_sequential") {
    return b == Block::kMlp ? count : 0;
  }
  if (k.name == "latent_norm" || k.name == "qk_norm" || k.name == "cp_merge" || k.name == "cp_reorder" ||
      k.name == "cp_gather") {
    return b == Block::kAttention ? count : 0;
  }
  const int attention = count >= 2 ? (count + 1) / 2 : count;
  return b == Block::kAttention ? attention : count - attention;
}

class StepRunner {
 public:
  StepRunner(Backend& b, const StepPlan& p, OpObserver& obs) : b_(b), p_(p), obs_(obs) {}

  void Run() {
    if (p_.pp > 1) {
      RunPipeline();
      return;
    }
    b_.ResetEvents();
    const int64_t L = p_.layers;
    const bool per_layer_fsdp = p_.fsdp && p_.zero >= 2;
    for (int64_t mb = 0; mb < p_.micro_batches; ++mb) {
      where_mb_ = "micro-batch " + std::to_string(mb) + " ";
      const int outer_act = Alloc(p_.outer_activation_bytes);
      std::vector<int> gathered(static_cast<size_t>(L), -1), acts(static_cast<size_t>(L), -1);
      std::vector<int> ready(static_cast<size_t>(L), -1);
      // FSDP2's embedding and head are units of their own: the head is gathered as the unit after
      // the last layer, reduced after its backward; under ZeRO-3 the embedding is gathered again
      // as the unit after layer 0 in backward order. FSDP1's root holds both.
      const bool split = per_layer_fsdp && p_.split_outer;
      const std::string outer = split ? "embedding" : "embedding+head";
      int head_ready = -1, emb_ready = -1;
      if (per_layer_fsdp) {
        Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.outer_ag_bytes, Dtype::kBf16,
                   outer + " params");
        const int outer_ready = b_.RecordEvent(kCommStream);
        gathered[0] = Alloc(p_.unit_param_bytes);
        GatherUnit("layer 0 params");
        ready[0] = b_.RecordEvent(kCommStream);
        Wait(kComputeStream, outer_ready, outer + " params");
        CopyOut(p_.outer_copy_out_bytes, outer + " params");
      }
      Tp(/*in=*/false, "embedding forward");  // the embedding's output: RS under SP, else AR (tensor.h)
      for (int64_t i = 0; i < L; ++i) {
        const std::string where = "layer " + std::to_string(i) + " forward";
        if (per_layer_fsdp) {
          Wait(kComputeStream, ready[static_cast<size_t>(i)], where + " params");
          CopyOut(p_.copy_out_bytes, where + " params");
          if (i + 1 < L) {  // prefetch the next layer one ahead
            gathered[static_cast<size_t>(i + 1)] = Alloc(p_.unit_param_bytes);
            GatherUnit("layer " + std::to_string(i + 1) + " params (prefetch)");
            ready[static_cast<size_t>(i + 1)] = b_.RecordEvent(kCommStream);
          } else if (split) {  // ... and after the last layer, the head
            Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.head_ag_bytes, Dtype::kBf16,
                       "head params (prefetch)");
            head_ready = b_.RecordEvent(kCommStream);
          }
        }
        LayerForward(i, where, /*recompute_only=*/false);
        acts[static_cast<size_t>(i)] = Alloc(p_.layer_activation_bytes);
        if (per_layer_fsdp && p_.zero >= 3) Free(gathered[static_cast<size_t>(i)]);
      }
      if (split) {
        Wait(kComputeStream, head_ready, "head params");
        CopyOut(p_.head_copy_out_bytes, "head params");
      }
      HeadForward();
      if (per_layer_fsdp && p_.zero >= 3) {
        // ZeRO-3 gathers the last layer again while the head's backward runs: FSDP2's
        // pre-backward of the head unit prefetches the next unit in backward order
        // (_fsdp_param_group.py pre_backward, _backward_prefetch), as the simulator has it.
        const size_t last = static_cast<size_t>(L - 1);
        gathered[last] = Alloc(p_.unit_param_bytes);
        GatherUnit("layer " + std::to_string(L - 1) + " backward params (prefetch)");
        ready[last] = b_.RecordEvent(kCommStream);
      }
      HeadBackward();
      if (split) {
        CopyIn(p_.head_copy_in_bytes, "head grads");
        Wait(kCommStream, b_.RecordEvent(kComputeStream), "head grads");
        Collective(kCommStream, Coll::kReduceScatter, GroupKind::kFsdp, p_.head_rs_bytes, p_.reduce_dtype, "head grads");
      }
      // The logits and the loss's saved tensors go as their backward nodes finish (autograd's
      // release_variables), before the layers' backward: memory.cc's phases.
      Free(outer_act);
      for (int64_t i = L - 1; i >= 0; --i) {
        const std::string where = "layer " + std::to_string(i) + " backward";
        const size_t ui = static_cast<size_t>(i);
        if (per_layer_fsdp && p_.zero >= 3) {  // ZeRO-3 gathers again, one layer ahead
          Wait(kComputeStream, ready[ui], where + " params");
          CopyOut(p_.copy_out_bytes, where + " params");
          if (i > 0) {
            gathered[ui - 1] = Alloc(p_.unit_param_bytes);
            GatherUnit("layer " + std::to_string(i - 1) + " backward params (prefetch)");
            ready[ui - 1] = b_.RecordEvent(kCommStream);
          } else if (split) {  // ... and after layer 0, the embedding
            Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.outer_ag_bytes, Dtype::kBf16,
                       "embedding backward params (prefetch)");
            emb_ready = b_.RecordEvent(kCommStream);
          }
        }
        const int grads = per_layer_fsdp ? Alloc(p_.unit_grad_bytes) : -1;
        LayerBackward(i, where);
        Free(acts[ui]);
        if (per_layer_fsdp) {
          CopyIn(p_.copy_in_bytes, where + " grads");
          Wait(kCommStream, b_.RecordEvent(kComputeStream), where + " grads");
          Collective(kCommStream, Coll::kReduceScatter, GroupKind::kFsdp, p_.unit_rs_bytes,
                     p_.reduce_dtype, where + " grads");
          if (p_.expert_rs_bytes > 0) {
            Collective(kCommStream, Coll::kReduceScatter, p_.expert_group, p_.expert_rs_bytes,
                       p_.reduce_dtype, where + " expert grads");
          }
          Free(grads);
          Free(gathered[ui]);
        }
      }
      Tp(/*in=*/true, "embedding backward");  // SP: the backward of the embedding's reduce-scatter
      if (emb_ready >= 0) {
        Wait(kComputeStream, emb_ready, "embedding backward params");
        CopyOut(p_.outer_copy_out_bytes, "embedding backward params");
      }
      if (per_layer_fsdp) {
        CopyIn(p_.outer_copy_in_bytes, outer + " grads");
        Wait(kCommStream, b_.RecordEvent(kComputeStream), outer + " grads");
        Collective(kCommStream, Coll::kReduceScatter, GroupKind::kFsdp, p_.outer_rs_bytes,
                   p_.reduce_dtype, outer + " grads");
      }
    }
    where_mb_.clear();
    StepTail();
  }

  /// This rank's pipeline sends and receives as the groups that go out before each action
  /// (groups[i]; groups[n] after the last), in Megatron-LM's pattern
  /// (megatron/core/pipeline_parallel/schedules.py with p2p_communication.py, batched):
  /// - 1F1B and ZB-H1: a send waits for the receive that follows it with no work between and
  ///   goes out with it (send_forward_recv_backward, send_backward_recv_forward);
  /// - interleaved: each warm-up forward sends its output with the next forward's input
  ///   receive (the last warm-up one with the first backward's too); each steady-state forward
  ///   and backward pair sends both outputs at once with the receives of the next forward and
  ///   the next backward (send_forward_backward_recv_forward_backward); each cool-down backward
  ///   sends with the next backward's receive. Receives are posted before the action needs them.
  /// NCCL pairs a pair of ranks' messages in issue order and a send waits for its receive:
  /// SkeletonPipeline.P2pGroupsNeitherDeadlockNorReorderUnderRendezvous replays every rank's
  /// groups under those rules.
  std::vector<std::vector<P2pOp>> P2pGroups(const std::vector<costmodel::Action>& mine) const {
    const int64_t p = p_.pp, V = p_.pp * p_.vpp;
    const size_t n = mine.size();
    struct Io {
      bool has_recv = false, has_send = false;
      P2pOp recv, send;
    };
    std::vector<Io> io(n);
    for (size_t i = 0; i < n; ++i) {
      const costmodel::Action& a = mine[i];
      const int64_t vs = static_cast<int64_t>(a.chunk) * p + p_.stage;
      const double b = p_.p2p_bytes;
      if (a.kind == costmodel::ActionKind::kForward) {
        io[i].has_recv = vs > 0;
        io[i].recv = P2pOp{false, p_.prev_rank, b, static_cast<int>(2 * vs)};
        io[i].has_send = vs < V - 1;
        io[i].send = P2pOp{true, p_.next_rank, b, static_cast<int>(2 * (vs + 1))};
      } else if (a.kind == costmodel::ActionKind::kBackward) {
        io[i].has_recv = vs < V - 1;
        io[i].recv = P2pOp{false, p_.next_rank, b, static_cast<int>(2 * vs + 1)};
        io[i].has_send = vs > 0;
        io[i].send = P2pOp{true, p_.prev_rank, b, static_cast<int>(2 * (vs - 1) + 1)};
      }
    }
    std::vector<std::vector<P2pOp>> groups(n + 1);
    if (p_.schedule != costmodel::Schedule::kInterleaved) {
      std::vector<P2pOp> pending;
      for (size_t i = 0; i < n; ++i) {
        groups[i] = std::move(pending);
        pending.clear();
        if (io[i].has_recv) groups[i].push_back(io[i].recv);
        if (io[i].has_send) pending.push_back(io[i].send);
      }
      groups[n] = std::move(pending);
      return groups;
    }
    auto is = [&](size_t i, costmodel::ActionKind k) { return i < n && mine[i].kind == k; };
    std::vector<char> posted(n, 0);
    // The receive of the first action of `kind` after i, if not posted yet.
    auto prefetch = [&](size_t i, costmodel::ActionKind kind, std::vector<P2pOp>& g) {
      for (size_t j = i + 1; j < n; ++j) {
        if (!is(j, kind)) continue;
        if (io[j].has_recv && !posted[j]) {
          g.push_back(io[j].recv);
          posted[j] = 1;
        }
        return;
      }
    };
    size_t warmup = 0;
    while (is(warmup, costmodel::ActionKind::kForward)) ++warmup;
    if (n > 0 && io[0].has_recv) {
      groups[0].push_back(io[0].recv);
      posted[0] = 1;
    }
    for (size_t i = 0; i < n;) {
      const bool pair = i >= warmup && is(i, costmodel::ActionKind::kForward) && is(i + 1, costmodel::ActionKind::kBackward);
      const size_t last = pair ? i + 1 : i;  // the group goes out after this action
      std::vector<P2pOp>& g = groups[last + 1];
      for (size_t j = i; j <= last; ++j) {
        if (io[j].has_send) g.push_back(io[j].send);
      }
      if (is(last, costmodel::ActionKind::kForward) || pair) prefetch(last, costmodel::ActionKind::kForward, g);
      if (last >= warmup || last + 1 == warmup) prefetch(last, costmodel::ActionKind::kBackward, g);
      i = last + 1;
    }
    // Every receive is prefetched by the pattern above (the replay test checks the schedules);
    // one that were not would go out just before its action rather than never.
    for (size_t i = 0; i < n; ++i) {
      if (io[i].has_recv && !posted[i]) groups[i].push_back(io[i].recv);
    }
    return groups;
  }

  /// One pipeline stage: its rank's action list in order. A forward receives its input from the
  /// previous virtual stage (the first: the embedding), runs the chunk's layers and sends the
  /// output on (the last: the head and loss); a backward receives the output gradient (the last:
  /// the loss's), runs the layers in reverse and sends the input gradient back. ZB-H1's
  /// backward leaves the weight-gradient GEMMs to its W action.
  void RunPipeline() {
    b_.ResetEvents();
    const int64_t p = p_.pp, V = p_.pp * p_.vpp;
    const auto lists = costmodel::ScheduleActions(p_.schedule, p, p_.vpp, p_.micro_batches);
    const auto& mine = lists[static_cast<size_t>(p_.stage)];
    const bool split_w = p_.schedule == costmodel::Schedule::kZeroBubble;
    // Activations held per (micro-batch, chunk): each layer's, plus the head's on the last.
    std::vector<std::vector<int>> held(static_cast<size_t>(p_.micro_batches * p_.vpp));
    std::vector<char> whole(held.size(), 0);  // kept all activations (micro-batch-level recompute)
    std::vector<int> head_held(held.size(), -1);  // the last virtual stage's logits and loss
    int64_t forwards = 0;
    const std::vector<std::vector<P2pOp>> groups = P2pGroups(mine);
    auto issue = [&](size_t i) {
      if (groups[i].empty()) return;
      for (const P2pOp& op : groups[i]) {
        obs_.OnOp(op.send ? "send" : "recv", (op.send ? "to rank " : "from rank ") + std::to_string(op.peer) +
                                                 (op.tag % 2 == 0 ? " (activations)" : " (gradients)"));
      }
      b_.P2p(groups[i], p_.p2p_blocking);
      for (const P2pOp& op : groups[i]) {
        if (!op.send && p_.p2p_gather_bytes > 0) {
          Collective(kComputeStream, Coll::kAllGather, GroupKind::kTp, p_.p2p_gather_bytes, Dtype::kBf16,
                     "gather of the received " + std::string(op.tag % 2 == 0 ? "activations" : "gradients"));
        }
      }
    };
    for (size_t ai = 0; ai < mine.size(); ++ai) {
      const costmodel::Action& a = mine[ai];
      const int64_t vs = static_cast<int64_t>(a.chunk) * p + p_.stage;
      issue(ai);  // this action's input, with what the schedule sends and prefetches beside it
      // The chunk's layers: the stage's spread evenly, whole layers (a stage whose embedding or
      // head takes a chunk slot has one chunk with a layer fewer).
      const int64_t first = a.chunk * p_.layers / p_.vpp;  // of the stage's layers
      const int64_t n = (a.chunk + 1) * p_.layers / p_.vpp - first;
      auto& acts = held[static_cast<size_t>(a.micro_batch * p_.vpp + a.chunk)];
      where_mb_ = "micro-batch " + std::to_string(a.micro_batch) + " chunk " + std::to_string(a.chunk) + " ";
      if (a.kind == costmodel::ActionKind::kForward) {
        if (vs == 0) Tp(/*in=*/false, "embedding forward");
        const bool keep = p_.partial_window > 0 && forwards++ % p_.partial_window < p_.partial_ckpt_mbs;
        whole[static_cast<size_t>(a.micro_batch * p_.vpp + a.chunk)] = keep;
        for (int64_t i = 0; i < n; ++i) {
          LayerForward(first + i, "chunk layer " + std::to_string(i) + " forward", /*recompute_only=*/false);
          acts.push_back(Alloc(keep ? p_.layer_whole_activation_bytes : p_.layer_activation_bytes));
        }
        if (vs == V - 1) {
          head_held[static_cast<size_t>(a.micro_batch * p_.vpp + a.chunk)] = Alloc(p_.outer_activation_bytes);
          HeadForward();
        }
      } else if (a.kind == costmodel::ActionKind::kBackward) {
        if (vs == V - 1) {
          HeadBackward();
          Free(head_held[static_cast<size_t>(a.micro_batch * p_.vpp + a.chunk)]);  // as in Run()
        }
        weights_ = split_w ? Weights::kSkip : Weights::kWith;
        skip_recompute_ = whole[static_cast<size_t>(a.micro_batch * p_.vpp + a.chunk)] != 0;
        for (int64_t i = n - 1; i >= 0; --i) {
          LayerBackward(first + i, "chunk layer " + std::to_string(i) + " backward");
        }
        skip_recompute_ = false;
        weights_ = Weights::kWith;
        if (!split_w) {
          for (int id : acts) Free(id);
          acts.clear();
        }
        if (vs == 0) Tp(/*in=*/true, "embedding backward");  // SP: the backward of the embedding's reduce-scatter
      } else {
        for (int64_t i = n - 1; i >= 0; --i) {
          LayerWeightGradients(first + i, "chunk layer " + std::to_string(i) + " weights");
        }
        for (int id : acts) Free(id);
        acts.clear();
      }
    }
    where_mb_.clear();
    issue(mine.size());
    StepTail();
  }

  /// Once per step: ZeRO-1's gradient reduce-scatter, the HSDP replica all-reduce, the
  /// optimizer, then ZeRO-1's parameter all-gather.
  void StepTail() {
    const bool zero1 = p_.fsdp && p_.zero == 1;
    if (zero1) {
      Wait(kCommStream, b_.RecordEvent(kComputeStream), "step grads");
      Collective(kCommStream, Coll::kReduceScatter, GroupKind::kFsdp, p_.zero1_rs_bytes,
                 p_.reduce_dtype, "all grads (ZeRO-1)");
      if (p_.expert_zero1_rs_bytes > 0) {
        Collective(kCommStream, Coll::kReduceScatter, p_.expert_group, p_.expert_zero1_rs_bytes,
                   p_.reduce_dtype, "all expert grads (ZeRO-1)");
      }
    }
    if (p_.dp_ar_bytes > 0) {
      Wait(kCommStream, b_.RecordEvent(kComputeStream), "step grads");
      Collective(kCommStream, Coll::kAllReduce, GroupKind::kReplicate, p_.dp_ar_bytes,
                 p_.reduce_dtype, "grads across replicas");
    }
    if (p_.tied_ar_bytes > 0) {  // after the data-parallel reduction, on the same stream
      Wait(kCommStream, b_.RecordEvent(kComputeStream), "step grads");
      Collective(kCommStream, Coll::kAllReduce, GroupKind::kEmbedding, p_.tied_ar_bytes, p_.reduce_dtype,
                 "tied embedding grads (first and last stage)");
    }
    Wait(kComputeStream, b_.RecordEvent(kCommStream), "gradient reduction");
    Memory(kComputeStream, p_.optimizer_bytes, 1, "optimizer step");
    if (zero1) {
      Wait(kCommStream, b_.RecordEvent(kComputeStream), "optimizer");
      Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.zero1_ag_bytes, Dtype::kBf16,
                 "all params (ZeRO-1)");
      if (p_.expert_zero1_ag_bytes > 0) {
        Collective(kCommStream, Coll::kAllGather, p_.expert_group, p_.expert_zero1_ag_bytes,
                   Dtype::kBf16, "all expert params (ZeRO-1)");
      }
      Wait(kComputeStream, b_.RecordEvent(kCommStream), "params");
    }
    obs_.OnOp("wait", "end of step");
    b_.Synchronize();
  }

 private:
  int Alloc(double bytes) { return bytes > 0 ? b_.Alloc(bytes) : -1; }
  void Free(int id) {
    if (id >= 0) b_.Free(id);
  }
  void Wait(int stream, int event, const std::string& what) {
    obs_.OnOp("wait", where_mb_ + what);
    b_.WaitEvent(stream, event);
  }
  void Collective(int stream, Coll op, GroupKind g, double bytes, Dtype dt, const std::string& what) {
    obs_.OnOp(costmodel::ToString(op), where_mb_ + std::string(ToString(g)) + " " + what);
    b_.Collective(stream, op, g, bytes, dt);
  }
  /// One layer's parameters gathered over FSDP, then the routed experts' share over theirs.
  void GatherUnit(const std::string& what) {
    Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.unit_ag_bytes, Dtype::kBf16, what);
    if (p_.expert_ag_bytes > 0) {
      Collective(kCommStream, Coll::kAllGather, p_.expert_group, p_.expert_ag_bytes, Dtype::kBf16,
                 what + " (experts)");
    }
  }
  /// Layer `i`'s kernels and whether it routes tokens (under a pipeline: the stage's i-th layer,
  /// its chunks' layers in order).
  bool Routed(int64_t i) const { return !p_.moe_layer.empty() && p_.moe_layer[static_cast<size_t>(i)]; }
  const costmodel::LayerKernels& KernelsOf(int64_t i) const {
    return p_.moe_layer.empty() || Routed(i) ? p_.layer : p_.dense_layer;
  }
  /// An expert-parallel collective: blocking, on the compute stream (experts.h); none at 0 bytes.
  void Ep(Coll op, GroupKind g, double bytes, const std::string& what) {
    if (bytes > 0) Collective(kComputeStream, op, g, bytes, Dtype::kBf16, what);
  }
  /// An MoE layer's forward exchange before its experts: permute the copies by expert, dispatch
  /// them over EP, gather the TP group's received copies. `exchange`: the collectives run (a
  /// selective recompute re-runs no communication).
  void Dispatch(const costmodel::LayerKernels& k, const std::string& w, bool recompute_only, bool exchange) {
    const MemoryKernel* perm = k.MemoryNamed("moe_permute");
    if (perm != nullptr && (!recompute_only || perm->recomputed)) {
      Memory(kComputeStream, perm->bytes, (perm->count + 1) / 2, w + " moe_permute");
    }
    if (!exchange) return;
    Ep(Coll::kAllToAll, GroupKind::kEp, p_.ep_dispatch_bytes, w + " dispatch");
    Ep(Coll::kAllGather, GroupKind::kTp, p_.ep_tp_ag_bytes, w + " routed copies");
  }
  /// ... and after them: reduce-scatter over TP, combine over EP, unpermute.
  void Combine(const costmodel::LayerKernels& k, const std::string& w, bool recompute_only, bool exchange) {
    if (exchange) {
      Ep(Coll::kReduceScatter, GroupKind::kTp, p_.ep_tp_rs_bytes, w + " routed copies");
      Ep(Coll::kAllToAll, GroupKind::kEp, p_.ep_combine_bytes, w + " combine");
    }
    const MemoryKernel* perm = k.MemoryNamed("moe_permute");
    if (perm != nullptr && (!recompute_only || perm->recomputed)) {
      Memory(kComputeStream, perm->bytes, perm->count / 2, w + " moe_unpermute");
    }
  }
  /// Backward, in reverse: the combine's gradient before the experts' (unpermute, all-to-all,
  /// TP all-gather), the dispatch's after them (TP reduce-scatter, all-to-all, permute).
  void CombineBackward(const costmodel::LayerKernels& k, const std::string& w) {
    const MemoryKernel* perm = k.MemoryNamed("moe_permute");
    if (perm != nullptr) {
      Memory(kComputeStream, perm->backward_bytes, perm->backward_count / 2, w + " moe_unpermute backward");
    }
    Ep(Coll::kAllToAll, GroupKind::kEp, p_.ep_combine_bytes, w + " combine backward");
    Ep(Coll::kAllGather, GroupKind::kTp, p_.ep_tp_ag_bytes, w + " routed copies backward");
  }
  void DispatchBackward(const costmodel::LayerKernels& k, const std::string& w) {
    Ep(Coll::kReduceScatter, GroupKind::kTp, p_.ep_tp_rs_bytes, w + " routed copies backward");
    Ep(Coll::kAllToAll, GroupKind::kEp, p_.ep_dispatch_bytes, w + " dispatch backward");
    const MemoryKernel* perm = k.MemoryNamed("moe_permute");
    if (perm != nullptr) {
      Memory(kComputeStream, perm->backward_bytes, (perm->backward_count + 1) / 2,
             w + " moe_permute backward");
    }
  }
  void GemmOp(const GemmShape& g, std::string_view pass, int64_t m, int64_t n, int64_t k,
              const std::string& where) {
    // SequentialMLP (GemmShape::calls): one GEMM per local expert, as the model prices it.
    for (int64_t i = 0; i < g.calls(); ++i) {
      obs_.OnOp("gemm", where_mb_ + where + " " + std::string(g.name) + " " + std::string(pass));
      b_.Gemm(kComputeStream, m, n, k, g.call_batch());
    }
  }
  void Forward(const GemmShape& g, const std::string& where) { GemmOp(g, "forward", g.m, g.n, g.k, where); }
  void Backward(const GemmShape& g, const std::string& where) {
    GemmOp(g, "dgrad", g.m, g.k, g.n, where);
    GemmOp(g, "wgrad", g.k, g.n, g.m, where);
  }
  /// A weight GEMM's backward: without its wgrad when ZB-H1 defers it to the W action.
  void WeightBackward(const GemmShape& g, const std::string& where) {
    GemmOp(g, "dgrad", g.m, g.k, g.n, where);
    if (weights_ == Weights::kWith) GemmOp(g, "wgrad", g.k, g.n, g.m, where);
  }
  void LayerWeightGradients(int64_t li, const std::string& where) {
    const auto& k = KernelsOf(li);
    for (int i = k.num_gemms - 1; i >= 0; --i) {
      const GemmShape& g = k.gemms[static_cast<size_t>(i)];
      GemmOp(g, "wgrad", g.k, g.n, g.m, where);
    }
  }
  /// FSDP2's copies on the compute stream (0 bytes: none): a gather's output into the
  /// parameters, the gradients into a reduce-scatter's input.
  void CopyOut(double bytes, const std::string& what) {
    if (bytes > 0) Memory(kComputeStream, bytes, 1, what + " copy-out");
  }
  void CopyIn(double bytes, const std::string& what) {
    if (bytes > 0) Memory(kComputeStream, bytes, 1, what + " copy-in");
  }
  void Memory(int stream, double bytes, int launches, const std::string& what) {
    for (int i = 0; i < launches; ++i) {
      obs_.OnOp("memory", where_mb_ + what);
      b_.MemoryKernel(stream, bytes);
    }
  }
  /// TP collective at a block boundary: `in` = the block's input (SP all-gather), else its
  /// output (SP reduce-scatter, or the all-reduce without SP).
  void Tp(bool in, const std::string& where) {
    if (p_.tp_bytes <= 0) return;
    if (p_.sp) {
      Collective(kComputeStream, in ? Coll::kAllGather : Coll::kReduceScatter, GroupKind::kTp,
                 p_.tp_bytes, Dtype::kBf16, where);
    } else if (!in) {
      Collective(kComputeStream, Coll::kAllReduce, GroupKind::kTp, p_.tp_bytes, Dtype::kBf16, where);
    }
  }
  std::vector<GemmShape> AttentionShapes() const {
    std::vector<GemmShape> out;
    for (const GemmCase& c : AttentionForwardGemms(p_)) out.push_back(GemmShape{c.name, c.m, c.n, c.k, c.batch, false});
    return out;
  }

  /// Layer `li` forward, or in backward its recomputed part.
  void LayerForward(int64_t li, const std::string& where, bool recompute_only) {
    const auto& k = KernelsOf(li);
    const bool routed = Routed(li);
    // Full recompute re-runs TP (and EP) too; Megatron's mlp / moe / shared_experts modules
    // re-run their block's (evaluate.cc), the attention core none.
    auto recomputed = [&](std::string_view name) {
      for (int i = 0; i < k.num_gemms; ++i) {
        if (k.gemms[static_cast<size_t>(i)].name == name && k.gemms[static_cast<size_t>(i)].recomputed) return true;
      }
      return false;
    };
    const bool attn_tp = !recompute_only || p_.full_recompute;
    const bool mlp_tp = !recompute_only || p_.full_recompute || recomputed(routed ? "shared_in" : "mlp_in");
    const bool exchange = !recompute_only || p_.full_recompute || (routed && recomputed("mlp_in"));
    for (Block blk : {Block::kAttention, Block::kMlp}) {
      const std::string w = where + (recompute_only ? " recompute" : "") +
                            (blk == Block::kAttention ? " attention" : " mlp");
      const bool moe_mlp = routed && blk == Block::kMlp;
      const bool tp = blk == Block::kAttention ? attn_tp : mlp_tp;
      const bool hidden_tp = tp && !(moe_mlp && p_.ep_replaces_mlp_tp);
      if (hidden_tp) Tp(true, w);
      for (int i = 0; i < k.num_memory; ++i) {
        const MemoryKernel& mk = k.memory[static_cast<size_t>(i)];
        if ((recompute_only && !mk.recomputed) || mk.name == "moe_permute") continue;
        Memory(kComputeStream, mk.bytes, LaunchesIn(mk, mk.count, blk), w + " " + std::string(mk.name));
      }
      for (int i = 0; i < k.num_gemms; ++i) {
        const GemmShape& g = k.gemms[static_cast<size_t>(i)];
        if (InAttention(g.name) != (blk == Block::kAttention)) continue;
        if (moe_mlp && g.name == "mlp_in") Dispatch(k, w, recompute_only, exchange);
        if (!recompute_only || g.recomputed) Forward(g, w);
        if (moe_mlp && g.name == "mlp_out") Combine(k, w, recompute_only, exchange);
        if (FeedsAttentionCore(k, i) && k.flash_fwd_flops > 0 && (!recompute_only || k.flash_recomputed)) {
          for (const GemmShape& a : AttentionShapes()) Forward(a, w + " flash");
        }
      }
      if (hidden_tp) Tp(false, w);
    }
  }

  void LayerBackward(int64_t li, const std::string& where) {
    const auto& k = KernelsOf(li);
    const bool routed = Routed(li);
    bool any_recompute = k.flash_recomputed;
    for (int i = 0; i < k.num_gemms; ++i) any_recompute |= k.gemms[static_cast<size_t>(i)].recomputed;
    for (int i = 0; i < k.num_memory; ++i) any_recompute |= k.memory[static_cast<size_t>(i)].recomputed;
    any_recompute = any_recompute && !skip_recompute_;
    const int working = any_recompute ? Alloc(p_.recompute_working_bytes) : -1;
    if (any_recompute) LayerForward(li, where, /*recompute_only=*/true);
    for (Block blk : {Block::kMlp, Block::kAttention}) {
      const std::string w = where + (blk == Block::kAttention ? " attention" : " mlp");
      const bool moe_mlp = routed && blk == Block::kMlp;
      const bool hidden_tp = !(moe_mlp && p_.ep_replaces_mlp_tp);
      if (hidden_tp) Tp(true, w);
      for (int i = 0; i < k.num_memory; ++i) {
        const MemoryKernel& mk = k.memory[static_cast<size_t>(i)];
        if (mk.name == "moe_permute") continue;
        Memory(kComputeStream, mk.backward_bytes, LaunchesIn(mk, mk.backward_count, blk),
               w + " " + std::string(mk.name) + " backward");
      }
      int first = -1;  // the block's first GEMM: the column-parallel one reading its gathered input
      for (int i = 0; i < k.num_gemms && first < 0; ++i) {
        if (InAttention(k.gemms[static_cast<size_t>(i)].name) == (blk == Block::kAttention)) first = i;
      }
      for (int i = k.num_gemms - 1; i >= 0; --i) {
        const GemmShape& g = k.gemms[static_cast<size_t>(i)];
        if (InAttention(g.name) != (blk == Block::kAttention)) continue;
        // Megatron's column-parallel backward gathers its saved input shard again (tensor.h).
        if (i == first && hidden_tp && p_.sp_regather) Tp(true, w + " input again");
        if (moe_mlp && g.name == "mlp_out") CombineBackward(k, w);
        if (FeedsAttentionCore(k, i) && k.flash_fwd_flops > 0) {
          // FlashAttention-2 backward: 2.5x forward FLOPs = the scores again
          // (AttentionRecomputeGemm) + dgrad and wgrad of both causal GEMMs.
          const auto shapes = AttentionShapes();
          const GemmCase again = AttentionRecomputeGemm(p_);
          Forward(GemmShape{again.name, again.m, again.n, again.k, again.batch, false}, w + " flash backward");
          for (auto it = shapes.rbegin(); it != shapes.rend(); ++it) Backward(*it, w + " flash");
        }
        WeightBackward(g, w);
        if (moe_mlp && g.name == "mlp_in") DispatchBackward(k, w);
      }
      if (hidden_tp) Tp(false, w);
    }
    Free(working);
  }

  void HeadForward() {
    const auto& h = p_.head;
    Memory(kComputeStream, h.memory[1].bytes, h.memory[1].count, "head final_norm");
    Tp(true, "head forward");
    Forward(h.gemm, "head");
    Memory(kComputeStream, h.memory[0].bytes, h.memory[0].count, "head cross_entropy");
    if (p_.ce_bytes > 0) {
      Collective(kComputeStream, Coll::kAllReduce, GroupKind::kTp, p_.ce_bytes, Dtype::kFp32,
                 "vocab-parallel cross-entropy");
    }
  }
  void HeadBackward() {
    const auto& h = p_.head;
    Memory(kComputeStream, h.memory[0].backward_bytes, h.memory[0].backward_count,
           "head cross_entropy backward");
    Backward(h.gemm, "head");
    Tp(false, "head backward");
    Memory(kComputeStream, h.memory[1].backward_bytes, h.memory[1].backward_count,
           "head final_norm backward");
  }

  enum class Weights { kWith, kSkip };
  Backend& b_;
  const StepPlan& p_;
  OpObserver& obs_;
  std::string where_mb_;
  Weights weights_ = Weights::kWith;
  bool skip_recompute_ = false;  // this backward's micro-batch kept all its activations
};

}  // namespace

StepPlan MakeStepPlan(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                      const costmodel::Evaluation& e, int64_t stage) {
  const costmodel::Model& m = ev.model();
  const costmodel::Workload& w = ev.workload();
  StepPlan p;
  p.layer = costmodel::LayerKernelsFor(m, w, l);
  p.head = costmodel::HeadKernelsFor(m, w, l);
  p.layers = m.layers;
  MESHPLAN_CHECK(l.cp == 1);
  if (!m.moe.dense()) {
    p.dense_layer = costmodel::LayerKernelsFor(m, w, l, /*moe_layer=*/false);
    p.moe_layer.assign(static_cast<size_t>(m.layers), true);
    for (int64_t d : m.moe.dense_layers) {
      if (d >= 0 && d < m.layers) p.moe_layer[static_cast<size_t>(d)] = false;
    }
    p.has_dense_layers = std::find(p.moe_layer.begin(), p.moe_layer.end(), false) != p.moe_layer.end();
    // The exchange's sizes as the evaluator recorded them (experts.h PriceEpLayer).
    for (int i = 0; i < e.num_collectives; ++i) {
      const costmodel::CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
      const bool dispatch = u.purpose == costmodel::Purpose::kEpDispatch;
      if (!dispatch && u.purpose != costmodel::Purpose::kEpCombine) continue;
      if (u.op == Coll::kAllToAll) {
        (dispatch ? p.ep_dispatch_bytes : p.ep_combine_bytes) = u.bytes;
      } else {
        MESHPLAN_CHECK(u.op == (dispatch ? Coll::kAllGather : Coll::kReduceScatter));
        (dispatch ? p.ep_tp_ag_bytes : p.ep_tp_rs_bytes) = u.bytes;
      }
    }
    // Evaluate's TP count: with SP, an MoE layer's MLP gathers and scatters the routed copies
    // instead of the hidden states, unless shared experts still need them.
    p.ep_replaces_mlp_tp = l.tp > 1 && l.sp && m.moe.shared_experts == 0;
    p.expert_group = l.ep > 1 ? GroupKind::kEdp : GroupKind::kFsdp;
  }
  p.micro_batches = std::max<int64_t>(1, e.grad_accum);
  p.seq = w.seq;
  p.mbs = l.mbs;
  p.heads_local = std::max<int64_t>(1, m.heads / l.tp);
  p.qk_dim = m.mla.enabled() ? m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim : m.head_dim;
  p.v_dim = m.mla.enabled() ? m.mla.v_head_dim : m.head_dim;
  p.full_recompute = l.recompute == costmodel::Recompute::kFull;
  const double T = static_cast<double>(l.mbs * w.seq);
  // Sizes as Evaluator::Evaluate prices them (evaluate.cc), from the same precision policy.
  const costmodel::PrecisionPolicy bytes = costmodel::PrecisionOf(w);
  if (l.tp > 1) {
    p.sp = l.sp;
    p.sp_regather = costmodel::SpGathersInputAgain(l);
    p.tp_bytes = bytes.activation * T * static_cast<double>(m.hidden);
    p.ce_bytes = 3.0 * bytes.fp32 * T;
  }
  const costmodel::TpShardParams tpp = costmodel::ParamsPerTpRank(m, l.tp);
  p.reduce_dtype = w.reduce_dtype;
  // The routed experts (tpp.expert per layer, 0 for a dense model) shard apart from the rest:
  // expert / ep per layer on a rank, over the expert-data-parallel group (data_parallel.h).
  const double xunit = costmodel::ExpertUnitParams(l, tpp);
  // The rank's layers and parameters outside them: the whole model, or its stage's below.
  double layers_here = static_cast<double>(m.layers);
  double outer_here = tpp.embedding + tpp.head;
  costmodel::StageSplit split;
  if (l.pp > 1) {
    std::string why;
    MESHPLAN_CHECK(costmodel::SplitLayers(l, m.layers, split, &why));
    MESHPLAN_CHECK(stage >= 0 && stage < l.pp);
    const bool first = stage == 0, last = stage == l.pp - 1;
    p.pp = l.pp;
    p.vpp = l.vpp;
    p.stage = stage;
    p.schedule = l.schedule;
    p.layers = split.LayersOf(stage, l.pp);
    p.p2p_bytes = e.pipe.p2p_bytes;
    p.p2p_blocking = e.pipe.blocking;
    p.p2p_gather_bytes = e.pipe.gather_s > 0 ? e.pipe.p2p_bytes * static_cast<double>(l.tp) : 0.0;
    p.micro_batches = static_cast<int64_t>(std::ceil(e.parts.micro_batches));
    if (costmodel::PartialCheckpointShare(l, p.micro_batches, stage) > 0) {
      p.partial_ckpt_mbs = l.partial_ckpt_mbs;
      p.partial_window = costmodel::PartialCheckpointWindow(l.schedule, l.pp, l.vpp, p.micro_batches, stage);
      costmodel::Layout none = l;
      none.recompute = costmodel::Recompute::kNone;
      none.partial_ckpt_mbs = 0;
      p.layer_whole_activation_bytes =
          costmodel::EstimateStageMemory(m, ev.cluster(), w, none,
                                         costmodel::StageShape{p.layers, first, last, 1.0, split.FirstLayerOf(stage, l.pp)})
              .activations_per_layer_bytes;
    }
    // The stage's parameters, as the evaluator sizes its per-step traffic (evaluate.cc).
    layers_here = static_cast<double>(p.layers);
    outer_here = tpp.OuterOnStage(first, last);
    if (!p.moe_layer.empty()) {
      // The stage's layers, contiguous from its first as the memory model counts them
      // (pipeline.h StageSplit::FirstLayerOf; with vpp > 1 its chunks in order).
      const int64_t from = split.FirstLayerOf(stage, l.pp);
      std::vector<bool> mine(static_cast<size_t>(p.layers));
      for (int64_t j = 0; j < p.layers; ++j) mine[static_cast<size_t>(j)] = p.moe_layer[static_cast<size_t>(from + j)];
      p.moe_layer = std::move(mine);
    }
  }
  // Sizes as the evaluator prices them (data_parallel.h).
  const costmodel::DpVolumes dv = costmodel::DataParallelVolumesFor(w, l, tpp, layers_here, outer_here);
  if (l.fsdp > 1) {
    p.fsdp = true;
    p.zero = l.zero;
    p.unit_ag_bytes = dv.unit_gather;
    p.unit_rs_bytes = dv.unit_reduce;
    // FSDP2's embedding and head units apart, FSDP1's root as one (data_parallel.h).
    p.split_outer = w.fsdp2_copies;
    const costmodel::OuterUnitVolumes ov = costmodel::OuterUnitVolumesFor(w, tpp);
    p.outer_ag_bytes = ov.emb_gather;
    p.outer_rs_bytes = ov.emb_reduce;
    p.head_ag_bytes = ov.head_gather;
    p.head_rs_bytes = ov.head_reduce;
    p.zero1_rs_bytes = dv.step_reduce;
    p.zero1_ag_bytes = dv.step_gather;
    p.expert_ag_bytes = dv.expert_unit_gather;
    p.expert_rs_bytes = dv.expert_unit_reduce;
    p.expert_zero1_rs_bytes = dv.expert_step_reduce;
    p.expert_zero1_ag_bytes = dv.expert_step_gather;
    // FSDP's compute-stream copies (evaluate.cc, memory.h FsdpCopyBytesPerParam): FSDP2's
    // gathers copied out into the parameters and reduce-scatter inputs packed from the
    // gradients; FSDP1's flat gradient concatenated from the parameters' (no copy-out).
    const costmodel::FsdpCopyBytes cb = costmodel::FsdpCopyBytesPerParam(w, l);
    p.copy_out_bytes = cb.gather * (tpp.layer + xunit);
    p.copy_in_bytes = cb.reduce * (tpp.layer + xunit);
    // (The embedding and the head apart, as FSDP2 wraps them; FSDP1's root unit copies their sum.)
    p.outer_copy_out_bytes = cb.gather * tpp.embedding;
    p.outer_copy_in_bytes = cb.reduce * tpp.embedding;
    p.head_copy_out_bytes = cb.gather * tpp.head;
    p.head_copy_in_bytes = cb.reduce * tpp.head;
  }
  if (l.replicate > 1) p.dp_ar_bytes = dv.replica_reduce;
  if (l.pp > 1 && (stage == 0 || stage == l.pp - 1)) {
    for (int i = 0; i < e.num_collectives; ++i) {
      const auto& u = e.collectives[static_cast<size_t>(i)];
      if (u.purpose == costmodel::Purpose::kTiedGradReduce) p.tied_ar_bytes = u.bytes;
    }
  }
  const double all = layers_here * tpp.layer + outer_here + layers_here * tpp.expert;  // every parameter held
  p.optimizer_bytes = all / static_cast<double>(l.fsdp) * costmodel::OptimizerStepBytesPerParam(l.recipe, bytes, w.optimizer_per_op) +
                      costmodel::GradBufferZeroBytes(w, layers_here * tpp.LayerOnRank(l.ep) + outer_here);
  const auto& mem = e.memory;
  p.static_bytes = mem.params_bytes + mem.grads_bytes + mem.optimizer_bytes;
  p.layer_activation_bytes = e.parts.layer_activation_bytes;
  p.outer_activation_bytes = std::max(0.0, e.parts.outer_activation_bytes);
  if (l.pp > 1) {
    MESHPLAN_CHECK(!(l.fsdp > 1 && l.zero >= 2));
    const costmodel::MemoryBreakdown sm = costmodel::EstimateStageMemory(
        m, ev.cluster(), w, l,
        costmodel::StageShape{p.layers, stage == 0, stage == l.pp - 1, 1.0, split.FirstLayerOf(stage, l.pp)});
    p.static_bytes = sm.params_bytes + sm.grads_bytes + sm.optimizer_bytes;
    p.layer_activation_bytes = sm.activations_per_layer_bytes;
    p.outer_activation_bytes = stage == l.pp - 1
                                   ? sm.activations_bytes - sm.activations_per_layer_bytes * static_cast<double>(p.layers)
                                   : 0.0;
    p.unit_param_bytes = p.unit_grad_bytes = 0;
    p.recompute_working_bytes = sm.recompute_working_bytes;
    p.fsdp = l.fsdp > 1;  // ZeRO-1 only: its per-step collectives run in StepTail
    return p;
  }
  p.unit_param_bytes = e.parts.unit_param_bytes;
  p.unit_grad_bytes = e.parts.unit_grad_bytes + e.parts.unit_reduce_copy_bytes;  // one buffer per unit
  p.recompute_working_bytes = e.parts.recompute_working_bytes;
  return p;
}

int AllocateStatic(Backend& b, const StepPlan& p) {
  return p.static_bytes > 0 ? b.Alloc(p.static_bytes) : -1;
}

void RunStep(Backend& b, const StepPlan& p, OpObserver& obs) { StepRunner(b, p, obs).Run(); }

std::vector<GemmCase> AttentionForwardGemms(const StepPlan& p) {
  if (p.layer.flash_fwd_flops <= 0) return {};
  const int64_t s = p.seq, half = std::max<int64_t>(1, p.seq / 2), batch = p.mbs * p.heads_local;
  return {GemmCase{"scores", "forward", s, half, p.qk_dim, batch},
          GemmCase{"context", "forward", s, p.v_dim, half, batch}};
}

GemmCase AttentionRecomputeGemm(const StepPlan& p) {
  GemmCase c = AttentionForwardGemms(p).front();
  c.k = (p.qk_dim + p.v_dim) / 2;  // = d_qk = d_v without MLA: the scores again
  return c;
}

std::vector<GemmCase> GemmCases(const StepPlan& p) {
  std::vector<GemmCase> out;
  auto add = [&](std::string_view name, std::string_view pass, int64_t m, int64_t n, int64_t k,
                 int64_t batch) {
    for (const GemmCase& c : out) {
      if (c.m == m && c.n == n && c.k == k && c.batch == batch) return;
    }
    out.push_back({name, pass, m, n, k, batch});
  };
  auto all = [&](const GemmShape& g) {
    const int64_t batch = g.call_batch();  // the shape each call runs (GemmOp)
    add(g.name, "forward", g.m, g.n, g.k, batch);
    add(g.name, "dgrad", g.m, g.k, g.n, batch);
    add(g.name, "wgrad", g.k, g.n, g.m, batch);
  };
  for (int i = 0; i < p.layer.num_gemms; ++i) all(p.layer.gemms[static_cast<size_t>(i)]);
  if (p.has_dense_layers) {
    for (int i = 0; i < p.dense_layer.num_gemms; ++i) all(p.dense_layer.gemms[static_cast<size_t>(i)]);
  }
  all(p.head.gemm);
  return out;
}

std::vector<MemoryCase> MemoryCases(const StepPlan& p) {
  std::vector<MemoryCase> out;
  auto add = [&](std::string_view name, std::string_view pass, double bytes) {
    if (bytes <= 0) return;
    for (const MemoryCase& c : out) {
      if (c.name == name && c.pass == pass && c.bytes == bytes) return;
    }
    out.push_back({name, pass, bytes});
  };
  auto layer = [&](const costmodel::LayerKernels& lk) {
    for (int i = 0; i < lk.num_memory; ++i) {
      const MemoryKernel& k = lk.memory[static_cast<size_t>(i)];
      add(k.name, "forward", k.bytes);
      add(k.name, "backward", k.backward_bytes);
    }
  };
  layer(p.layer);
  if (p.has_dense_layers) layer(p.dense_layer);
  for (const MemoryKernel& k : p.head.memory) {
    add(k.name, "forward", k.bytes);
    add(k.name, "backward", k.backward_bytes);
  }
  add("optimizer", "step", p.optimizer_bytes);
  return out;
}

Workspace WorkspaceFor(const StepPlan& p) {
  Workspace w;
  auto gemm = [&](int64_t m, int64_t n, int64_t k, int64_t batch) {
    w.gemm_a_elems = std::max(w.gemm_a_elems, m * k * batch);
    w.gemm_b_elems = std::max(w.gemm_b_elems, k * n * batch);
    w.gemm_c_elems = std::max(w.gemm_c_elems, m * n * batch);
  };
  for (const GemmCase& c : GemmCases(p)) gemm(c.m, c.n, c.k, c.batch);
  for (const GemmCase& c : AttentionForwardGemms(p)) {
    gemm(c.m, c.n, c.k, c.batch);
    gemm(c.m, c.k, c.n, c.batch);
    gemm(c.k, c.n, c.m, c.batch);
  }
  if (p.layer.flash_fwd_flops > 0) {
    const GemmCase again = AttentionRecomputeGemm(p);
    gemm(again.m, again.n, again.k, again.batch);
  }
  for (const MemoryCase& c : MemoryCases(p)) w.memory_kernel_bytes = std::max(w.memory_kernel_bytes, c.bytes);
  for (double b : {p.tp_bytes, p.ce_bytes, p.unit_ag_bytes, p.unit_rs_bytes, p.outer_ag_bytes,
                   p.outer_rs_bytes, p.zero1_rs_bytes, p.zero1_ag_bytes, p.dp_ar_bytes, p.tied_ar_bytes,
                   p.ep_dispatch_bytes, p.ep_combine_bytes, p.ep_tp_ag_bytes, p.ep_tp_rs_bytes,
                   p.expert_ag_bytes, p.expert_rs_bytes, p.expert_zero1_rs_bytes, p.expert_zero1_ag_bytes}) {
    w.collective_bytes = std::max(w.collective_bytes, b);
  }
  w.p2p_bytes = p.p2p_bytes;
  return w;
}

}  // namespace meshplan::validate
