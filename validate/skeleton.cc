#include "validate/skeleton.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "costmodel/memory.h"
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
  return gemm == "qkv" || gemm == "scores" || gemm == "context" || gemm == "attn_out";
}

/// Launches of a bandwidth kernel in one block: the activation runs in the MLP; kernels that run
/// more than once per layer (the two norms, the two residual adds) split between the blocks.
int LaunchesIn(const MemoryKernel& k, int count, Block b) {
  if (k.name == "activation") return b == Block::kMlp ? count : 0;
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
      if (per_layer_fsdp) {
        Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.outer_ag_bytes, Dtype::kBf16,
                   "embedding+head params");
        const int outer_ready = b_.RecordEvent(kCommStream);
        gathered[0] = Alloc(p_.unit_param_bytes);
        Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.unit_ag_bytes, Dtype::kBf16,
                   "layer 0 params");
        ready[0] = b_.RecordEvent(kCommStream);
        Wait(kComputeStream, outer_ready, "embedding+head params");
      }
      Tp(/*in=*/false, "embedding forward");  // the embedding's output: RS under SP, else AR
      for (int64_t i = 0; i < L; ++i) {
        const std::string where = "layer " + std::to_string(i) + " forward";
        if (per_layer_fsdp) {
          Wait(kComputeStream, ready[static_cast<size_t>(i)], where + " params");
          if (i + 1 < L) {  // prefetch the next layer one ahead
            gathered[static_cast<size_t>(i + 1)] = Alloc(p_.unit_param_bytes);
            Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.unit_ag_bytes,
                       Dtype::kBf16, "layer " + std::to_string(i + 1) + " params (prefetch)");
            ready[static_cast<size_t>(i + 1)] = b_.RecordEvent(kCommStream);
          }
        }
        LayerForward(where, /*recompute_only=*/false);
        acts[static_cast<size_t>(i)] = Alloc(p_.layer_activation_bytes);
        if (per_layer_fsdp && p_.zero >= 3) Free(gathered[static_cast<size_t>(i)]);
      }
      HeadForward();
      HeadBackward();
      for (int64_t i = L - 1; i >= 0; --i) {
        const std::string where = "layer " + std::to_string(i) + " backward";
        const size_t ui = static_cast<size_t>(i);
        if (per_layer_fsdp && p_.zero >= 3) {  // ZeRO-3 gathers again, one layer ahead
          if (i == L - 1) {
            gathered[ui] = Alloc(p_.unit_param_bytes);
            Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.unit_ag_bytes,
                       Dtype::kBf16, where + " params");
            ready[ui] = b_.RecordEvent(kCommStream);
          }
          Wait(kComputeStream, ready[ui], where + " params");
          if (i > 0) {
            gathered[ui - 1] = Alloc(p_.unit_param_bytes);
            Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.unit_ag_bytes,
                       Dtype::kBf16, "layer " + std::to_string(i - 1) + " backward params (prefetch)");
            ready[ui - 1] = b_.RecordEvent(kCommStream);
          }
        }
        const int grads = per_layer_fsdp ? Alloc(p_.unit_grad_bytes) : -1;
        LayerBackward(where);
        Free(acts[ui]);
        if (per_layer_fsdp) {
          Wait(kCommStream, b_.RecordEvent(kComputeStream), where + " grads");
          Collective(kCommStream, Coll::kReduceScatter, GroupKind::kFsdp, p_.unit_rs_bytes,
                     p_.reduce_dtype, where + " grads");
          Free(grads);
          Free(gathered[ui]);
        }
      }
      if (per_layer_fsdp) {
        Wait(kCommStream, b_.RecordEvent(kComputeStream), "embedding+head grads");
        Collective(kCommStream, Coll::kReduceScatter, GroupKind::kFsdp, p_.outer_rs_bytes,
                   p_.reduce_dtype, "embedding+head grads");
      }
      Free(outer_act);
    }
    where_mb_.clear();
    StepTail();
  }

  /// One pipeline stage: its rank's action list in order. A forward receives its input from the
  /// previous virtual stage (the first: the embedding), runs the chunk's layers and sends the
  /// output on (the last: the head and loss); a backward receives the output gradient (the last:
  /// the loss's), runs the layers in reverse and sends the input gradient back. ZB-H1's
  /// backward leaves the weight-gradient GEMMs to its W action.
  void RunPipeline() {
    b_.ResetEvents();
    const int64_t p = p_.pp, V = p_.pp * p_.vpp, n = p_.chunk_layers;
    const auto lists = costmodel::ScheduleActions(p_.schedule, p, p_.vpp, p_.micro_batches);
    const auto& mine = lists[static_cast<size_t>(p_.stage)];
    const bool split_w = p_.schedule == costmodel::Schedule::kZeroBubble;
    // Activations held per (micro-batch, chunk): each layer's, plus the head's on the last.
    std::vector<std::vector<int>> held(static_cast<size_t>(p_.micro_batches * p_.vpp));
    auto fwd_tag = [&](int64_t vs) { return static_cast<int>(2 * vs); };
    auto bwd_tag = [&](int64_t vs) { return static_cast<int>(2 * vs + 1); };
    for (const costmodel::Action& a : mine) {
      const int64_t vs = static_cast<int64_t>(a.chunk) * p + p_.stage;
      auto& acts = held[static_cast<size_t>(a.micro_batch * p_.vpp + a.chunk)];
      where_mb_ = "micro-batch " + std::to_string(a.micro_batch) + " chunk " + std::to_string(a.chunk) + " ";
      if (a.kind == costmodel::ActionKind::kForward) {
        if (vs > 0) {
          obs_.OnOp("recv", where_mb_ + "activations from rank " + std::to_string(p_.prev_rank));
          b_.Recv(p_.prev_rank, p_.p2p_bytes, fwd_tag(vs));
        } else {
          Tp(/*in=*/false, "embedding forward");
        }
        for (int64_t i = 0; i < n; ++i) {
          LayerForward("chunk layer " + std::to_string(i) + " forward", /*recompute_only=*/false);
          acts.push_back(Alloc(p_.layer_activation_bytes));
        }
        if (vs == V - 1) {
          acts.push_back(Alloc(p_.outer_activation_bytes));
          HeadForward();
        } else {
          Wait(kCommStream, b_.RecordEvent(kComputeStream), "activations");
          obs_.OnOp("send", where_mb_ + "activations to rank " + std::to_string(p_.next_rank));
          b_.Send(p_.next_rank, p_.p2p_bytes, fwd_tag(vs + 1));
        }
      } else if (a.kind == costmodel::ActionKind::kBackward) {
        if (vs == V - 1) {
          HeadBackward();
        } else {
          obs_.OnOp("recv", where_mb_ + "gradients from rank " + std::to_string(p_.next_rank));
          b_.Recv(p_.next_rank, p_.p2p_bytes, bwd_tag(vs));
        }
        weights_ = split_w ? Weights::kSkip : Weights::kWith;
        for (int64_t i = n - 1; i >= 0; --i) LayerBackward("chunk layer " + std::to_string(i) + " backward");
        weights_ = Weights::kWith;
        if (!split_w) {
          for (int id : acts) Free(id);
          acts.clear();
        }
        if (vs > 0) {
          obs_.OnOp("send", where_mb_ + "gradients to rank " + std::to_string(p_.prev_rank));
          b_.Send(p_.prev_rank, p_.p2p_bytes, bwd_tag(vs - 1));
        }
      } else {
        for (int64_t i = n - 1; i >= 0; --i) LayerWeightGradients("chunk layer " + std::to_string(i) + " weights");
        for (int id : acts) Free(id);
        acts.clear();
      }
    }
    where_mb_.clear();
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
    }
    if (p_.dp_ar_bytes > 0) {
      Wait(kCommStream, b_.RecordEvent(kComputeStream), "step grads");
      Collective(kCommStream, Coll::kAllReduce, GroupKind::kReplicate, p_.dp_ar_bytes,
                 p_.reduce_dtype, "grads across replicas");
    }
    Wait(kComputeStream, b_.RecordEvent(kCommStream), "gradient reduction");
    Memory(kComputeStream, p_.optimizer_bytes, 1, "optimizer step");
    if (zero1) {
      Wait(kCommStream, b_.RecordEvent(kComputeStream), "optimizer");
      Collective(kCommStream, Coll::kAllGather, GroupKind::kFsdp, p_.zero1_ag_bytes, Dtype::kBf16,
                 "all params (ZeRO-1)");
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
  void GemmOp(const GemmShape& g, std::string_view pass, int64_t m, int64_t n, int64_t k,
              const std::string& where) {
    obs_.OnOp("gemm", where_mb_ + where + " " + std::string(g.name) + " " + std::string(pass));
    b_.Gemm(kComputeStream, m, n, k, g.batch);
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
  void LayerWeightGradients(const std::string& where) {
    const auto& k = p_.layer;
    for (int i = k.num_gemms - 1; i >= 0; --i) {
      const GemmShape& g = k.gemms[static_cast<size_t>(i)];
      GemmOp(g, "wgrad", g.k, g.n, g.m, where);
    }
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

  void LayerForward(const std::string& where, bool recompute_only) {
    const auto& k = p_.layer;
    const bool tp = !recompute_only || p_.full_recompute;  // full recompute re-runs TP too
    for (Block blk : {Block::kAttention, Block::kMlp}) {
      const std::string w = where + (recompute_only ? " recompute" : "") +
                            (blk == Block::kAttention ? " attention" : " mlp");
      if (tp) Tp(true, w);
      for (int i = 0; i < k.num_memory; ++i) {
        const MemoryKernel& mk = k.memory[static_cast<size_t>(i)];
        if (recompute_only && !mk.recomputed) continue;
        Memory(kComputeStream, mk.bytes, LaunchesIn(mk, mk.count, blk), w + " " + std::string(mk.name));
      }
      for (int i = 0; i < k.num_gemms; ++i) {
        const GemmShape& g = k.gemms[static_cast<size_t>(i)];
        if (InAttention(g.name) != (blk == Block::kAttention)) continue;
        if (!recompute_only || g.recomputed) Forward(g, w);
        if (g.name == "qkv" && k.flash_fwd_flops > 0 && (!recompute_only || k.flash_recomputed)) {
          for (const GemmShape& a : AttentionShapes()) Forward(a, w + " flash");
        }
      }
      if (tp) Tp(false, w);
    }
  }

  void LayerBackward(const std::string& where) {
    const auto& k = p_.layer;
    bool any_recompute = k.flash_recomputed;
    for (int i = 0; i < k.num_gemms; ++i) any_recompute |= k.gemms[static_cast<size_t>(i)].recomputed;
    for (int i = 0; i < k.num_memory; ++i) any_recompute |= k.memory[static_cast<size_t>(i)].recomputed;
    const int working = any_recompute ? Alloc(p_.recompute_working_bytes) : -1;
    if (any_recompute) LayerForward(where, /*recompute_only=*/true);
    for (Block blk : {Block::kMlp, Block::kAttention}) {
      const std::string w = where + (blk == Block::kAttention ? " attention" : " mlp");
      Tp(true, w);
      for (int i = 0; i < k.num_memory; ++i) {
        const MemoryKernel& mk = k.memory[static_cast<size_t>(i)];
        Memory(kComputeStream, mk.backward_bytes, LaunchesIn(mk, mk.backward_count, blk),
               w + " " + std::string(mk.name) + " backward");
      }
      for (int i = k.num_gemms - 1; i >= 0; --i) {
        const GemmShape& g = k.gemms[static_cast<size_t>(i)];
        if (InAttention(g.name) != (blk == Block::kAttention)) continue;
        if (g.name == "qkv" && k.flash_fwd_flops > 0) {
          // FlashAttention-2 backward: 2.5x forward FLOPs = the scores again + dgrad and wgrad
          // of both causal GEMMs.
          const auto shapes = AttentionShapes();
          Forward(shapes[0], w + " flash backward");
          for (auto it = shapes.rbegin(); it != shapes.rend(); ++it) Backward(*it, w + " flash");
        }
        WeightBackward(g, w);
      }
      Tp(false, w);
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
  p.micro_batches = std::max<int64_t>(1, e.grad_accum);
  p.seq = w.seq;
  p.mbs = l.mbs;
  p.heads_local = std::max<int64_t>(1, m.heads / l.tp);
  p.head_dim = m.head_dim;
  p.full_recompute = l.recompute == costmodel::Recompute::kFull;
  const double T = static_cast<double>(l.mbs * w.seq);
  // Sizes as Evaluator::Evaluate prices them (evaluate.cc).
  if (l.tp > 1) {
    p.sp = l.sp;
    p.tp_bytes = 2.0 * T * static_cast<double>(m.hidden);
    p.ce_bytes = 3.0 * 4.0 * T;
  }
  const costmodel::TpShardParams tpp = costmodel::ParamsPerTpRank(m, l.tp);
  p.reduce_dtype = w.reduce_dtype;
  const double reduce_bytes = w.reduce_dtype == costmodel::Dtype::kFp32 ? 4.0 : 2.0;
  double all = tpp.total(m.layers);
  if (l.pp > 1) {
    costmodel::StageSplit split;
    std::string why;
    MESHPLAN_CHECK(costmodel::SplitLayers(l, m.layers, split, &why));
    MESHPLAN_CHECK(stage >= 0 && stage < l.pp);
    const bool first = stage == 0, last = stage == l.pp - 1;
    p.pp = l.pp;
    p.vpp = l.vpp;
    p.stage = stage;
    p.schedule = l.schedule;
    p.layers = split.LayersOf(stage, l.pp);
    p.chunk_layers = p.layers / l.vpp;
    p.p2p_bytes = e.pipe.p2p_bytes;
    p.micro_batches = static_cast<int64_t>(std::ceil(e.parts.micro_batches));
    // The stage's parameters, as the evaluator sizes its per-step traffic (evaluate.cc).
    const double tied = m.tied_embeddings && last
                            ? static_cast<double>(costmodel::PaddedVocab(m.vocab, l.tp)) /
                                  static_cast<double>(l.tp) * static_cast<double>(m.hidden)
                            : 0.0;
    all = tpp.layer * static_cast<double>(p.layers) + (first ? tpp.embedding : 0.0) +
          (last ? tpp.head + tied : 0.0);
  }
  if (l.fsdp > 1) {
    p.fsdp = true;
    p.zero = l.zero;
    p.unit_ag_bytes = 2.0 * tpp.layer;
    p.unit_rs_bytes = reduce_bytes * tpp.layer;
    p.outer_ag_bytes = 2.0 * (tpp.embedding + tpp.head);
    p.outer_rs_bytes = reduce_bytes * (tpp.embedding + tpp.head);
    p.zero1_rs_bytes = reduce_bytes * all;
    p.zero1_ag_bytes = 2.0 * all;
  }
  if (l.replicate > 1) p.dp_ar_bytes = reduce_bytes * all / static_cast<double>(l.fsdp);
  p.optimizer_bytes = all / static_cast<double>(l.fsdp) *
                      (l.recipe == costmodel::Recipe::kMegatron ? 34.0 : 32.0);
  const auto& mem = e.memory;
  p.static_bytes = mem.params_bytes + mem.grads_bytes + mem.optimizer_bytes;
  p.layer_activation_bytes = e.parts.layer_activation_bytes;
  p.outer_activation_bytes = std::max(0.0, e.parts.outer_activation_bytes);
  if (l.pp > 1) {
    MESHPLAN_CHECK(!(l.fsdp > 1 && l.zero >= 2));
    const costmodel::MemoryBreakdown sm = costmodel::EstimateStageMemory(
        m, ev.cluster(), w, l, costmodel::StageShape{p.layers, stage == 0, stage == l.pp - 1, 1.0});
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
  p.unit_grad_bytes = e.parts.unit_grad_bytes;
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
  return {GemmCase{"scores", "forward", s, half, p.head_dim, batch},
          GemmCase{"context", "forward", s, p.head_dim, half, batch}};
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
    add(g.name, "forward", g.m, g.n, g.k, g.batch);
    add(g.name, "dgrad", g.m, g.k, g.n, g.batch);
    add(g.name, "wgrad", g.k, g.n, g.m, g.batch);
  };
  for (int i = 0; i < p.layer.num_gemms; ++i) all(p.layer.gemms[static_cast<size_t>(i)]);
  all(p.head.gemm);
  return out;
}

std::vector<MemoryCase> MemoryCases(const StepPlan& p) {
  std::vector<MemoryCase> out;
  auto add = [&](std::string_view name, std::string_view pass, double bytes) {
    if (bytes <= 0) return;
    for (const MemoryCase& c : out) {
      if (c.name == name && c.pass == pass) return;
    }
    out.push_back({name, pass, bytes});
  };
  for (int i = 0; i < p.layer.num_memory; ++i) {
    const MemoryKernel& k = p.layer.memory[static_cast<size_t>(i)];
    add(k.name, "forward", k.bytes);
    add(k.name, "backward", k.backward_bytes);
  }
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
  for (const MemoryCase& c : MemoryCases(p)) w.memory_kernel_bytes = std::max(w.memory_kernel_bytes, c.bytes);
  for (double b : {p.tp_bytes, p.ce_bytes, p.unit_ag_bytes, p.unit_rs_bytes, p.outer_ag_bytes,
                   p.outer_rs_bytes, p.zero1_rs_bytes, p.zero1_ag_bytes, p.dp_ar_bytes}) {
    w.collective_bytes = std::max(w.collective_bytes, b);
  }
  w.p2p_bytes = p.p2p_bytes;
  return w;
}

}  // namespace meshplan::validate
