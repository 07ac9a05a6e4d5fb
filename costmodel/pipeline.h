// File: costmodel/pipeline.h
// Pipeline parallelism as data: how the layers split over stages, the per-rank action list of
// each schedule (forward / backward / weight-gradient chunks of a micro-batch, in the order the
// framework issues them, as torch.distributed.pipelining's schedules.py keeps them), and the
// closed forms the analytical evaluator uses, which the list and the simulator's execution of it
// pin in tests (tests/costmodel/pipeline_test.cc, tests/sim/sim_test.cc).
//
// Notation: p stages (pipeline ranks), v virtual stages (model chunks) per rank, m micro-batches
// per step. Virtual stage vs = chunk * p + rank holds layers [vs * L/(p v), (vs+1) * L/(p v)) of
// an even split (Megatron-LM's interleaved layout, megatron/core/transformer/transformer_block.py
// get_num_layers_to_build / pipeline_parallel/schedules.py at 0c6f5c7).
//
// Schedules:
// - 1F1B (PipeDream-Flush; Narayanan et al. SC21, Sec. 2.2): rank r runs min(p-r-1, m) warm-up
//   forwards, then one forward and one backward in turn, then the remaining backwards. Bubble
//   (p-1)(t_f + t_b); rank r holds at most min(m, p-r) micro-batches of activations.
// - Interleaved 1F1B (Narayanan et al. SC21, Sec. 2.2.2; Megatron-LM
//   forward_backward_pipelining_with_interleaving): virtual micro-batch k runs on chunk
//   (k / p) % v (backward: v-1 minus that), micro-batch (k / (p v)) p + k % p; warm-up
//   2(p-r-1) + (v-1)p chunk-forwards (all of them when m == p). Bubble (p-1)(t_f + t_b)/v.
//   REQUIRES m % p == 0 (Megatron's original interleaved schedule).
// - ZB-H1 (Qi et al. 2023, arXiv 2401.10241, Sec. 3; the order of sail-sg/zero-bubble's
//   DeepSpeed ZeroBubbleH1Pipeline.steps): backward split into B (input gradient) and W (weight
//   gradient); rank r runs p-r-1 forwards, then r pairs F, B with their W deferred, then F, B, W
//   triples, then B, W pairs, then the deferred Ws. Rank 0 is plain 1F1B. At most min(m, p)
//   micro-batches in flight (forward to W) on every rank: 1F1B's peak; the paper's bubble
//   (p-1)(t_f + t_b - t_w) where t_b is the input-gradient part alone.
#ifndef MESHPLAN_COSTMODEL_PIPELINE_H_
#define MESHPLAN_COSTMODEL_PIPELINE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// Transformer layers of each kind of stage. p == 1: first holds all of them.
struct StageSplit {
  int64_t first = 0;   // stage 0 (also holds the embedding)
  int64_t middle = 0;  // every stage strictly between (0 when p <= 2)
  int64_t last = 0;    // stage p-1 (also holds the final norm, output head and loss)
  int64_t LayersOf(int64_t stage, int64_t p) const {
    return stage == 0 ? first : stage == p - 1 ? last : middle;
  }
  /// The index of the stage's first layer (stages hold contiguous layers; with vpp > 1 a rank's
  /// chunks are spread, and this is the first chunk's).
  int64_t FirstLayerOf(int64_t stage, int64_t p) const {
    return stage == 0 ? 0 : stage == p - 1 ? first + (p - 2) * middle : first + (stage - 1) * middle;
  }
};

/// The split of `layers` over l.pp stages; false with a sentence in `why` when
/// the layout cannot split them (layers not divisible and no split given; a split that does not
/// add up; a stage whose layers do not divide into l.vpp chunks, where an explicitly given first
/// or last stage counts its embedding or head as one more layer slot).
/// `why` may be null (no sentence built: the evaluator's allocation-free path).
bool SplitLayers(const Layout& l, int64_t layers, StageSplit& out, std::string* why);

/// Megatron-Core's split with the embedding and / or the loss counted as one layer each
/// (--account-for-embedding-in-pipeline-split, --account-for-loss-in-pipeline-split;
/// transformer_block.py get_num_layers_to_build): `layers` plus the counted slots split evenly
/// over `pp` stages, the first (last) stage one layer short. Sets `first` / `last` to those
/// stages' layers where counted (0 where not) and returns the slots per stage; 0 when pp does
/// not divide the slots (nothing set).
int64_t AccountedSplit(int64_t layers, int64_t pp, bool embedding, bool loss, int64_t& first, int64_t& last);

/// Schedule constraints other than the split: vpp > 1 only with the interleaved schedule (and
/// interleaved needs vpp > 1); interleaved needs m % p == 0; pp == 1 with schedule options.
/// Returns "" when fine.
std::string ScheduleProblem(const Layout& l, int64_t micro_batches);
/// ScheduleProblem(l, m).empty(), without building the sentence.
bool ScheduleFits(const Layout& l, int64_t micro_batches);

/// Micro-batches of one full stage's activations rank `rank` holds at its peak, read off the
/// schedule (interleaved: chunk activations / v, so the unit stays one stage's worth).
double InFlightMicroBatches(Schedule s, int64_t p, int64_t v, int64_t m, int64_t rank);

/// Micro-batch-level recompute (Layout::partial_ckpt_mbs): Megatron-Core's window on `rank`, its
/// warm-up forwards + 1 (max_outstanding_backprops, pipeline_parallel/schedules.py @002526d), in
/// chunk-micro-batches (one per model chunk and micro-batch; 1F1B: micro-batches). Forward k
/// (0 .. m v - 1, issue order) keeps all its activations when k % window < n.
int64_t PartialCheckpointWindow(Schedule s, int64_t p, int64_t v, int64_t m, int64_t rank);
/// The share of rank `rank`'s chunk-micro-batches that keep all activations (skip recompute)
/// with n = l.partial_ckpt_mbs, m micro-batches; 0 without a pipeline or a recompute mode.
double PartialCheckpointShare(const Layout& l, int64_t m, int64_t rank);
/// The most chunk-micro-batches that keep all activations alive at once on the rank, in units
/// of one full stage (chunks / v). 1F1B's live micro-batches are consecutive forwards, so
/// min(n, InFlightMicroBatches); interleaved runs backwards in reverse chunk order, so the
/// schedule is replayed (O(m v); past 2^20 chunk-forwards every in-flight chunk counts, an upper
/// bound). With InFlightMicroBatches it bounds the stage's activations
/// from above (the two peaks need not coincide).
double PartialCheckpointInFlight(const Layout& l, int64_t m, int64_t rank);

/// Idle time of the busiest stage, in units of one micro-batch's stage time split as
/// t_f + t_b + t_w (t_b the input gradient, t_w the weight gradient; 1F1B and interleaved run
/// them together), with equal stages and no communication.
double BubbleTime(Schedule s, int64_t p, int64_t v, double t_f, double t_b, double t_w);

enum class ActionKind : uint8_t { kForward = 0, kBackward = 1, kWeight = 2 };

/// One unit of work of a pipeline rank. kBackward includes the weight gradient except in ZB-H1,
/// where kWeight carries it.
struct Action {
  ActionKind kind = ActionKind::kForward;
  int32_t micro_batch = 0;
  int32_t chunk = 0;  // model chunk on this rank, 0..v-1 (virtual stage chunk * p + rank)
};

/// The action list of every rank, in issue order. REQUIRES: ScheduleProblem(...) == "".
std::vector<std::vector<Action>> ScheduleActions(Schedule s, int64_t p, int64_t v, int64_t m);

/// Peak micro-batches of activations held by each rank when its list runs in order (a
/// micro-batch's chunk is held from its forward to its backward, or to its W in ZB-H1), in
/// units of one full stage (chunks / v).
std::vector<double> PeakInFlight(const std::vector<std::vector<Action>>& actions, int64_t v);

/// Megatron-LM 2022's blocking point-to-point (Workload::pp_p2p_blocking): every exchange a
/// rank issues is one call of megatron/p2p_communication.py _communicate (NVIDIA/Megatron-LM
/// @46c74b4): its sends and receives posted together (torch.distributed.batch_isend_irecv),
/// waited on, then torch.cuda.synchronize(), so the rank computes nothing until the whole
/// exchange is done and a send completes only once its receiver has posted the matching receive.
/// The exchanges come where megatron/schedules.py (same commit) issues them:
/// - 1F1B (forward_backward_pipelining_without_interleaving): each warm-up forward between
///   recv_forward and send_forward; recv_forward before the steady state; there each forward
///   followed by send_forward_recv_backward and each backward by send_backward_recv_forward
///   (send_backward after the last); each cool-down backward between recv_backward and
///   send_backward. The first stage receives no activations, the last no gradients.
/// - Interleaved (forward_backward_pipelining_with_interleaving): recv_forward first, then after
///   each warm-up chunk-forward send_forward_recv_forward (the last one also receives a
///   gradient unless every chunk-forward is warm-up), after each steady forward-backward pair
///   one send_forward_backward_recv_forward_backward, after each cool-down chunk-backward
///   send_backward_recv_backward; the ring wraps (rank p-1's chunk c feeds rank 0's chunk c+1),
///   and a rank neither sends nor receives past the model's ends or the last micro-batch.
/// Not ZB-H1 (Megatron-LM 2022 had no zero-bubble schedule).
inline constexpr uint8_t kSendNext = 1, kSendPrev = 2, kRecvPrev = 4, kRecvNext = 8;
struct BlockingStep {
  bool compute = false;  // true: `action`; false: one exchange of the `ops` bits
  uint8_t ops = 0;
  Action action;
};
/// Every rank's compute actions (`lists`, ScheduleActions(s, p, v, m), in their order) with the
/// exchanges Megatron-LM 2022 puts between them (empty exchanges left out); p = lists.size().
/// REQUIRES: s != kZeroBubble and ScheduleProblem(...) == "".
std::vector<std::vector<BlockingStep>> BlockingProgram(Schedule s, int64_t v, int64_t m,
                                                       const std::vector<std::vector<Action>>& lists);

/// Exchanges on the critical path of BlockingProgram with equal stages, as the simulator's run of
/// it gives them (tests/sim/pipeline_sim_test.cc pins both against runs for p 2-8, v 2-4): with
/// every send taking c and every received tensor then gathered over TP in g (scatter-gather),
/// the step is the compute-only schedule + exchanges * c + gathers * g. 1F1B: 2m + 2p - 5 of
/// each for p >= 3 (2(p-1) when m == 1), m + 1 for p == 2. Interleaved: m v + p v + p - 3
/// exchanges (p - 1 more when m == p, every chunk-forward warm-up) and 2 m v + 2p - 5 gathers
/// (one more when m == p; p == 2: (4v - 1) m / 2, or 2 v m when m == p).
struct BlockingCounts {
  double exchanges = 0, gathers = 0;
};
BlockingCounts BlockingCriticalPath(Schedule s, int64_t p, int64_t v, int64_t m);

/// Whether the framework's exchanges block under schedule `s` (Workload::pp_p2p_blocking for
/// 1F1B, pp_interleaved_blocking for interleaved; never for ZB-H1).
inline bool ExchangesBlock(const WorkloadSwitches& w, Schedule s) {
  return s == Schedule::k1F1B ? w.pp_p2p_blocking : s == Schedule::kInterleaved && w.pp_interleaved_blocking;
}

/// Whether hop `hop` of a pipeline of `p` stages crosses a node boundary. Hop r < p - 1 joins
/// stage r to stage r + 1; hop p - 1 joins stage p - 1 back to stage 0 (the interleaved
/// schedule's step from a rank's chunk c to chunk c + 1 on rank 0). With pp outermost in the
/// mesh (mesh.h), stage s of a pipeline is rank s x stride + o, o in [0, stride), and a node holds
/// `gpus_per_node` consecutive ranks. A hop crosses when it does for any o, since the pipelines
/// of the other ranks run in lockstep with it (their TP and data-parallel collectives): a
/// multiple of gpus_per_node in (r stride, (r + 2) stride - 1] for r < p - 1, and
/// p x stride > gpus_per_node for the wrap. Stage neighbours a node or more apart
/// (stride >= gpus_per_node) cross at every hop; a whole pipeline inside one node at none; in
/// between some do (tp 4 x pp 4 on two nodes of 8: hops 1-2 and 3-0, not 0-1 and 2-3).
bool PipelineHopCrossesNode(int64_t hop, int64_t p, int64_t stride, int64_t gpus_per_node);

/// The send times of a pipeline's hops: `intra_s` over a hop inside a node, `inter_s` over one
/// between nodes (PipelineHopCrossesNode with `stride` and `gpus_per_node`).
struct PipelineHops {
  int64_t p = 2, stride = 1, gpus_per_node = 1;
  double intra_s = 0, inter_s = 0;
  double operator()(int64_t hop) const {
    return PipelineHopCrossesNode(hop, p, stride, gpus_per_node) ? inter_s : intra_s;
  }
};

/// Send time on the critical path of a step of `m` micro-batches over the hops `h` (the TP
/// gathers of scatter-gather apart: BlockingCriticalPath's gathers), as the schedule's lists run
/// with those send times give it (sim/pipeline.h; tests/sim/pipeline_sim_test.cc holds the two
/// together, exactly where every hop is alike). With `path` the sum of the p - 1 hops from
/// stage 0 to stage p - 1 and `wrap` hop p - 1:
/// - interleaved, sends on their own stream: the fill and the drain, 2 (v path + (v - 1) wrap);
///   2 (p v - 1) sends where the hops are alike.
/// - ZB-H1: 4 path (4 (p - 1) sends where alike; a slow hop near the last stage costs the
///   run up to one more send of it, not priced).
/// - 1F1B: the fill and the drain, 2 (p - 2) / (p - 1) path, and in the steady state, per
///   micro-batch, the slowest round trip: the largest 2 (sum of the hops i..j) / (j - i + 2)
///   over runs of consecutive hops, 2 (p - 1) t / p where alike (a rank's backward waits on the
///   round trip through the stages after it, spread over the micro-batches in flight), less
///   `slack` (the bottleneck stage's time beyond the next busiest, which hides it). The run
///   differs in the fill and drain by under one slow send per stage where hops differ.
/// - blocking exchanges (Megatron-LM): BlockingCriticalPath's exchanges, t each where alike.
///   With both kinds, the steady state's (2 per micro-batch in 1F1B, v in interleaved) at the
///   slowest rank's exchange (1F1B: the mean of its two hops, over the ranks between the ends;
///   interleaved: its slower hop, the wrap included, as each exchange posts to both neighbours
///   at once), the rest, the fill and the drain, at the mean hop: within 35% of the run's send
///   time (PipelineSim.SendsOverHopsOfTwoKindsAsTheEvaluatorPricesThem).
double ExposedSendTime(Schedule s, bool blocking, int64_t v, int64_t m, const PipelineHops& h, double slack);

/// Bounds on what the schedule lists may hold (actions = 2 or 3 x p x v x m).
inline constexpr int64_t kMaxPipelineActions = 20'000'000;

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_PIPELINE_H_
