// Pipeline schedules: the action lists against the closed forms and the papers they come from.
#include "costmodel/pipeline.h"

#include "costmodel/mesh.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace meshplan::costmodel {
namespace {

TEST(PipelineSplit, EvenSplitNeedsPpToDivideLayers) {
  Layout l;
  l.pp = 4;
  StageSplit s;
  std::string why;
  ASSERT_TRUE(SplitLayers(l, 32, s, &why));
  EXPECT_EQ(s.first, 8);
  EXPECT_EQ(s.middle, 8);
  EXPECT_EQ(s.last, 8);
  EXPECT_FALSE(SplitLayers(l, 30, s, &why));
  EXPECT_EQ(why, "pp 4 does not divide 30 layers (give pp_first_layers / pp_last_layers for an uneven split)");
}

TEST(PipelineSplit, UnevenSplitSharesTheRestEvenly) {
  // Llama 3 405B's 126 layers on 16 stages (torchtitan/Megatron style: lighter first and last).
  Layout l;
  l.pp = 16;
  l.pp_first_layers = 7;
  l.pp_last_layers = 7;
  StageSplit s;
  std::string why;
  ASSERT_TRUE(SplitLayers(l, 126, s, &why)) << why;
  EXPECT_EQ(s.first, 7);
  EXPECT_EQ(s.middle, 8);  // (126 - 14) / 14
  EXPECT_EQ(s.last, 7);
  l.pp_last_layers = 8;
  EXPECT_FALSE(SplitLayers(l, 126, s, &why));
  EXPECT_EQ(why, "uneven split: 126 layers minus first 7 and last 8 do not divide evenly over the other 14 stages");
}

TEST(PipelineSplit, AccountedSplitCountsTheEmbeddingAndLossAsLayers) {
  // Megatron-Core get_num_layers_to_build with both flags: Llama 3 405B, (126 + 2) / 8 = 16
  // slots per stage, the first and last stage 15 layers.
  int64_t first = -1, last = -1;
  EXPECT_EQ(AccountedSplit(126, 8, true, true, first, last), 16);
  EXPECT_EQ(first, 15);
  EXPECT_EQ(last, 15);
  // The embedding alone: (31 + 1) / 4 = 8, the first stage 7, the last not counted (0).
  EXPECT_EQ(AccountedSplit(31, 4, true, false, first, last), 8);
  EXPECT_EQ(first, 7);
  EXPECT_EQ(last, 0);
  // 127 slots do not split over 8 stages: 0, nothing set.
  first = last = -1;
  EXPECT_EQ(AccountedSplit(126, 8, true, false, first, last), 0);
  EXPECT_EQ(first, -1);
  EXPECT_EQ(last, -1);
}

TEST(PipelineSplit, VppMustDivideEachStage) {
  Layout l;
  l.pp = 8;
  l.vpp = 3;
  l.schedule = Schedule::kInterleaved;
  StageSplit s;
  std::string why;
  EXPECT_TRUE(SplitLayers(l, 96, s, &why));  // GPT-3 175B, Korthikanti Table 3: 12 layers, 3 chunks
  l.vpp = 5;
  EXPECT_FALSE(SplitLayers(l, 96, s, &why));
  EXPECT_EQ(why, "vpp 5 does not divide a stage's 12 layers");
}

TEST(PipelineSplit, ALighterFirstOrLastStageCountsItsEmbeddingOrHeadAsASlot) {
  // Llama 3 405B as Meta ran it (Llama 3 paper, Sec. 3.3.2): 16 stages, first and last one layer
  // lighter; 7 layers + embedding = 8 slots, so 8 chunks per rank fit every stage.
  Layout l;
  l.pp = 16;
  l.pp_first_layers = 7;
  l.pp_last_layers = 7;
  l.vpp = 8;
  l.schedule = Schedule::kInterleaved;
  StageSplit s;
  std::string why;
  EXPECT_TRUE(SplitLayers(l, 126, s, &why)) << why;
  l.vpp = 3;
  EXPECT_FALSE(SplitLayers(l, 126, s, &why));
  EXPECT_EQ(why, "vpp 3 does not divide a stage's 8 layer slots (layers + embedding or head)");
}

TEST(PipelineSchedule, InterleavedNeedsMicroBatchesMultipleOfPp) {
  Layout l;
  l.pp = 4;
  l.vpp = 2;
  l.schedule = Schedule::kInterleaved;
  EXPECT_EQ(ScheduleProblem(l, 8), "");
  EXPECT_EQ(ScheduleProblem(l, 6), "interleaved schedule: 6 micro-batches are not a multiple of pp 4");
}

TEST(PipelineSchedule, EveryMicroBatchRunsOnceForwardAndBackwardPerChunk) {
  for (Schedule s : {Schedule::k1F1B, Schedule::kInterleaved, Schedule::kZeroBubble}) {
    const int64_t p = 4, v = s == Schedule::kInterleaved ? 3 : 1, m = 8;
    const auto lists = ScheduleActions(s, p, v, m);
    ASSERT_EQ(lists.size(), 4u);
    for (const auto& list : lists) {
      const size_t per = s == Schedule::kZeroBubble ? 3 : 2;
      EXPECT_EQ(list.size(), per * static_cast<size_t>(m * v));
      for (int32_t mb = 0; mb < m; ++mb) {
        for (int32_t c = 0; c < v; ++c) {
          auto pos = [&](ActionKind k) {
            return std::find_if(list.begin(), list.end(), [&](const Action& a) {
                     return a.kind == k && a.micro_batch == mb && a.chunk == c;
                   }) - list.begin();
          };
          EXPECT_LT(pos(ActionKind::kForward), pos(ActionKind::kBackward));
          if (s == Schedule::kZeroBubble) {
            EXPECT_LT(pos(ActionKind::kBackward), pos(ActionKind::kWeight));
          }
        }
      }
    }
  }
}

// The closed forms the evaluator uses equal what the lists hold, for every rank.
TEST(PipelineSchedule, InFlightClosedFormMatchesTheActionLists) {
  for (Schedule s : {Schedule::k1F1B, Schedule::kInterleaved, Schedule::kZeroBubble}) {
    for (int64_t p : {2, 4, 8}) {
      for (int64_t v : {1, 2, 4}) {
        if ((s == Schedule::kInterleaved) != (v > 1)) continue;
        for (int64_t m : {1, 2, 4, 8, 16, 24}) {
          Layout l;
          l.pp = p;
          l.vpp = v;
          l.schedule = s;
          if (!ScheduleProblem(l, m).empty()) continue;
          const auto peak = PeakInFlight(ScheduleActions(s, p, v, m), v);
          for (int64_t r = 0; r < p; ++r) {
            EXPECT_DOUBLE_EQ(peak[static_cast<size_t>(r)], InFlightMicroBatches(s, p, v, m, r))
                << ToString(s) << " p=" << p << " v=" << v << " m=" << m << " rank " << r;
          }
        }
      }
    }
  }
}

TEST(PipelineSchedule, OneFOneBFirstStageKeepsPMicroBatches) {
  // Korthikanti et al. 2022 Sec. 4.2.3: with 1F1B the first stage stores the activations of p
  // micro-batches; the last stage one.
  EXPECT_EQ(InFlightMicroBatches(Schedule::k1F1B, 8, 1, 64, 0), 8.0);
  EXPECT_EQ(InFlightMicroBatches(Schedule::k1F1B, 8, 1, 64, 7), 1.0);
  // Interleaved (Narayanan SC21 Sec. 2.2.2; Korthikanti Sec. 4.2.3: "p (1 + (p-1)/(p v))"
  // micro-batches' worth on the first stage, to within one chunk): p=8, v=3: (2*7 + 2*8 + 1)/3.
  EXPECT_DOUBLE_EQ(InFlightMicroBatches(Schedule::kInterleaved, 8, 3, 64, 0), 31.0 / 3.0);
  EXPECT_NEAR(InFlightMicroBatches(Schedule::kInterleaved, 8, 3, 64, 0), 8 * (1 + 7.0 / 24.0), 0.35);
}

// Micro-batch-level recompute (Megatron-Core pipeline_parallel/schedules.py @002526d):
// max_outstanding_backprops = num_warmup_microbatches + 1, and the k-th forward (warm-up i, then
// steady i + num_warmup) keeps all activations when k % max_outstanding_backprops < N.
TEST(PipelineSchedule, PartialCheckpointWindowIsMegatronsWarmupPlusOne) {
  // 1F1B p = 4, m = 8: warm-up 3, 2, 1, 0 forwards.
  EXPECT_EQ(PartialCheckpointWindow(Schedule::k1F1B, 4, 1, 8, 0), 4);
  EXPECT_EQ(PartialCheckpointWindow(Schedule::k1F1B, 4, 1, 8, 3), 1);
  EXPECT_EQ(PartialCheckpointWindow(Schedule::k1F1B, 4, 1, 2, 0), 3);  // warm-up capped at m = 2
  // Interleaved p = 8, v = 3, m = 64 (Korthikanti's 175B): warm-up 2 x 7 + 2 x 8 = 30 on rank 0.
  EXPECT_EQ(PartialCheckpointWindow(Schedule::kInterleaved, 8, 3, 64, 0), 31);
  EXPECT_EQ(PartialCheckpointWindow(Schedule::kInterleaved, 8, 3, 64, 7), 17);
  EXPECT_EQ(PartialCheckpointWindow(Schedule::kInterleaved, 8, 3, 8, 5), 25);  // m == p: all 24 warm up
  EXPECT_EQ(PartialCheckpointWindow(Schedule::kZeroBubble, 4, 1, 8, 0), 0);   // not Megatron's
  Layout l;
  l.pp = 4;
  l.recompute = Recompute::kSelective;
  l.partial_ckpt_mbs = 1;
  // Rank 0: k = 0 and 4 of 8 keep all; rank 3 (window 1): every one.
  EXPECT_DOUBLE_EQ(PartialCheckpointShare(l, 8, 0), 2.0 / 8.0);
  EXPECT_DOUBLE_EQ(PartialCheckpointShare(l, 8, 3), 1.0);
  l.pp = 8;
  l.vpp = 3;
  l.schedule = Schedule::kInterleaved;
  l.partial_ckpt_mbs = 10;
  // 192 chunk-forwards in windows of 31: 6 whole windows x 10, and the 6 left over all < 10.
  EXPECT_DOUBLE_EQ(PartialCheckpointShare(l, 64, 0), 66.0 / 192.0);
  l.recompute = Recompute::kNone;  // nothing to skip
  EXPECT_EQ(PartialCheckpointShare(l, 64, 0), 0.0);
  EXPECT_EQ(PartialCheckpointInFlight(l, 64, 0), 0.0);
  // By hand, interleaved p = 2, v = 2, m = 4, rank 0, N = 1: warm-up 2 + 2 = 4, window 5.
  // Forwards k = 0..7 are (micro-batch, chunk) (0,0) (1,0) (0,1) (1,1) (2,0) (3,0) (2,1) (3,1);
  // k = 0 and 5 keep all. Backwards run (0,1) (1,1) (0,0) (1,0) (2,1) (3,1) (2,0) (3,0). After
  // forward k = 5, (0,0) and (3,0) are both alive: 2 chunks, one stage's worth, not min(N, 5) = 1.
  l.recompute = Recompute::kSelective;
  l.pp = 2;
  l.vpp = 2;
  l.partial_ckpt_mbs = 1;
  EXPECT_EQ(PartialCheckpointWindow(Schedule::kInterleaved, 2, 2, 4, 0), 5);
  EXPECT_DOUBLE_EQ(PartialCheckpointShare(l, 4, 0), 2.0 / 8.0);
  EXPECT_DOUBLE_EQ(PartialCheckpointInFlight(l, 4, 0), 1.0);
  // 1F1B: the live micro-batches are consecutive forwards, min(N, p - rank) of them.
  l.vpp = 1;
  l.schedule = Schedule::k1F1B;
  l.pp = 8;
  l.partial_ckpt_mbs = 3;
  EXPECT_DOUBLE_EQ(PartialCheckpointInFlight(l, 64, 0), 3.0);
  EXPECT_DOUBLE_EQ(PartialCheckpointInFlight(l, 64, 6), 2.0);
  // Past 2^20 chunk-forwards the interleaved replay gives way to the bound: all in flight.
  l.pp = 2;
  l.vpp = 2;
  l.schedule = Schedule::kInterleaved;
  l.partial_ckpt_mbs = 1;
  EXPECT_DOUBLE_EQ(PartialCheckpointInFlight(l, int64_t{1} << 20, 0),
                   InFlightMicroBatches(Schedule::kInterleaved, 2, 2, int64_t{1} << 20, 0));
  EXPECT_DOUBLE_EQ(PartialCheckpointInFlight(l, 4, 0), 1.0);  // the hand count above
}

// Megatron's rule replayed on the action lists: the share of forwards kept whole, and the most
// kept-whole chunks alive at once, equal the closed forms the evaluator and memory use.
TEST(PipelineSchedule, PartialCheckpointClosedFormsMatchTheActionLists) {
  for (Schedule s : {Schedule::k1F1B, Schedule::kInterleaved}) {
    for (int64_t p : {2, 4, 8}) {
      for (int64_t v : {1, 2, 3}) {
        if ((s == Schedule::kInterleaved) != (v > 1)) continue;
        for (int64_t m : {1, 3, 8, 16, 24}) {
          Layout l;
          l.pp = p;
          l.vpp = v;
          l.schedule = s;
          l.recompute = Recompute::kSelective;
          if (!ScheduleProblem(l, m).empty()) continue;
          const auto lists = ScheduleActions(s, p, v, m);
          for (int64_t n : {1, 2, 5, 40}) {
            l.partial_ckpt_mbs = n;
            for (int64_t r = 0; r < p; ++r) {
              const int64_t w = PartialCheckpointWindow(s, p, v, m, r);
              std::set<std::pair<int32_t, int32_t>> alive_whole;
              int64_t k = 0, whole = 0, most = 0;
              std::map<std::pair<int32_t, int32_t>, bool> kept;
              for (const Action& a : lists[static_cast<size_t>(r)]) {
                const std::pair<int32_t, int32_t> id{a.micro_batch, a.chunk};
                if (a.kind == ActionKind::kForward) {
                  kept[id] = k++ % w < n;
                  if (kept[id]) {
                    ++whole;
                    alive_whole.insert(id);
                  }
                  most = std::max<int64_t>(most, static_cast<int64_t>(alive_whole.size()));
                } else {
                  alive_whole.erase(id);
                }
              }
              const std::string at = std::string(ToString(s)) + " p=" + std::to_string(p) + " v=" +
                                     std::to_string(v) + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                                     " rank " + std::to_string(r);
              EXPECT_DOUBLE_EQ(PartialCheckpointShare(l, m, r), static_cast<double>(whole) / static_cast<double>(k)) << at;
              EXPECT_DOUBLE_EQ(PartialCheckpointInFlight(l, m, r), static_cast<double>(most) / static_cast<double>(v)) << at;
            }
          }
        }
      }
    }
  }
}

TEST(PipelineSchedule, BubbleClosedForms) {
  // Narayanan et al. SC21: (p-1)(t_f + t_b), interleaved / v; ZB-H1 (Qi et al.): (p-1)(t_f + t_b - t_w).
  EXPECT_DOUBLE_EQ(BubbleTime(Schedule::k1F1B, 4, 1, 1.0, 1.0, 1.0), 9.0);
  EXPECT_DOUBLE_EQ(BubbleTime(Schedule::kInterleaved, 4, 3, 1.0, 1.0, 1.0), 3.0);
  EXPECT_DOUBLE_EQ(BubbleTime(Schedule::kZeroBubble, 4, 1, 1.0, 1.0, 1.0), 3.0);
}

// Megatron-LM 2022's blocking exchanges (megatron/schedules.py, p2p_communication.py @46c74b4)
// around the same compute lists: each rank's compute steps are ScheduleActions' list in order,
// and every send from a to b has its receive at b from a (the k-th with the k-th). Hand count,
// 1F1B p = 4, m = 8, rank 0: 3 warm-up forwards each followed by send_forward, 5 steady pairs
// each with send_forward_recv_backward (the first stage sends no gradient), 3 cool-down
// backwards each after recv_backward: 11 exchanges. Rank 3 (last): recv_forward before the
// steady state, then after each backward send_backward_recv_forward (send_backward after the
// last): 9. Interleaved p = 4, v = 2, m = 8, rank 3: recv_forward, 2(p-r-1) + (v-1)p = 4
// warm-up chunk-forwards each followed by one exchange, 12 steady pairs each followed by one, 4
// cool-down chunk-backwards each followed by one: 21.
TEST(PipelineSchedule, BlockingExchangesPairUpAroundTheSameComputeLists) {
  for (Schedule s : {Schedule::k1F1B, Schedule::kInterleaved}) {
    for (int64_t p : {2, 3, 4, 8}) {
      for (int64_t v : {1, 2, 3}) {
        if ((s == Schedule::kInterleaved) != (v > 1)) continue;
        for (int64_t m : {1, 2, 3, 4, 8, 16, 24}) {
          Layout l;
          l.pp = p;
          l.vpp = v;
          l.schedule = s;
          if (!ScheduleProblem(l, m).empty()) continue;
          const auto lists = ScheduleActions(s, p, v, m);
          const auto prog = BlockingProgram(s, v, m, lists);
          ASSERT_EQ(prog.size(), lists.size());
          std::map<std::pair<int64_t, int64_t>, int> sends, recvs;
          for (int64_t r = 0; r < p; ++r) {
            std::vector<Action> compute;
            for (const BlockingStep& st : prog[static_cast<size_t>(r)]) {
              if (st.compute) {
                compute.push_back(st.action);
                continue;
              }
              ASSERT_NE(st.ops, 0);
              if (st.ops & kSendNext) ++sends[{r, (r + 1) % p}];
              if (st.ops & kSendPrev) ++sends[{r, (r + p - 1) % p}];
              if (st.ops & kRecvPrev) ++recvs[{(r + p - 1) % p, r}];
              if (st.ops & kRecvNext) ++recvs[{(r + 1) % p, r}];
            }
            const auto& want = lists[static_cast<size_t>(r)];
            ASSERT_EQ(compute.size(), want.size());
            for (size_t i = 0; i < want.size(); ++i) {
              EXPECT_EQ(compute[i].kind, want[i].kind);
              EXPECT_EQ(compute[i].micro_batch, want[i].micro_batch);
              EXPECT_EQ(compute[i].chunk, want[i].chunk);
            }
          }
          EXPECT_EQ(sends, recvs) << ToString(s) << " p=" << p << " v=" << v << " m=" << m;
          // Every virtual-stage boundary carries each micro-batch's activation and gradient once.
          int total = 0;
          for (const auto& [pair, n] : sends) total += n;
          EXPECT_EQ(total, 2 * m * (p * v - 1)) << ToString(s) << " p=" << p << " v=" << v << " m=" << m;
        }
      }
    }
  }
  auto exchanges = [](const std::vector<BlockingStep>& steps) {
    return std::count_if(steps.begin(), steps.end(), [](const BlockingStep& x) { return !x.compute; });
  };
  auto program = [](Schedule s, int64_t p, int64_t v, int64_t m) {
    return BlockingProgram(s, v, m, ScheduleActions(s, p, v, m));
  };
  const auto one = program(Schedule::k1F1B, 4, 1, 8);
  EXPECT_EQ(exchanges(one[0]), 11);
  EXPECT_EQ(exchanges(one[3]), 9);
  EXPECT_EQ(exchanges(program(Schedule::kInterleaved, 4, 2, 8)[3]), 21);
  // Which schedules block: the framework's switches, never ZB-H1.
  WorkloadSwitches w;
  w.pp_p2p_blocking = true;
  EXPECT_TRUE(ExchangesBlock(w, Schedule::k1F1B));
  EXPECT_FALSE(ExchangesBlock(w, Schedule::kInterleaved));
  w.pp_interleaved_blocking = true;
  EXPECT_TRUE(ExchangesBlock(w, Schedule::kInterleaved));
  EXPECT_FALSE(ExchangesBlock(w, Schedule::kZeroBubble));
}

// Which stage boundaries cross a node, by hand from the rank order (mesh.h: stage s of a
// pipeline is rank s x stride + o, o < stride; nodes of 8 consecutive ranks).
TEST(PipelineHops, PlacementDecidesWhichBoundariesCrossANode) {
  // tp 4 x pp 4 on 16 GPUs: stages at ranks 0-3, 4-7 | 8-11, 12-15. Boundaries 0-1 and 2-3 stay
  // inside a node, 1-2 crosses, and the interleaved wrap 3-0 crosses.
  EXPECT_FALSE(PipelineHopCrossesNode(0, 4, 4, 8));
  EXPECT_TRUE(PipelineHopCrossesNode(1, 4, 4, 8));
  EXPECT_FALSE(PipelineHopCrossesNode(2, 4, 4, 8));
  EXPECT_TRUE(PipelineHopCrossesNode(3, 4, 4, 8));
  // Stages a node apart (tp 8 x pp 4 on 32 GPUs): every hop; a pipeline inside one node (tp 2 x
  // pp 4 on 8): none, the wrap 6-7 to 0-1 included.
  for (int64_t hop = 0; hop < 4; ++hop) {
    EXPECT_TRUE(PipelineHopCrossesNode(hop, 4, 8, 8)) << hop;
    EXPECT_FALSE(PipelineHopCrossesNode(hop, 4, 2, 8)) << hop;
  }
  // pp 16 on 16 GPUs, one rank per stage: only 7-8 and the wrap 15-0.
  for (int64_t hop = 0; hop < 16; ++hop) {
    EXPECT_EQ(PipelineHopCrossesNode(hop, 16, 1, 8), hop == 7 || hop == 15) << hop;
  }
  // A stride that does not divide the node (tp 3): stage 0 is ranks 0-2, stage 1 3-5, stage 2
  // 6-8, stage 3 9-11. 0-1 stays in node 0; 1-2 crosses (rank 5 to rank 8); 2-3 crosses (rank 6
  // to rank 9) though its pipeline through rank 8 to 11 does not: the slowest pair counts.
  EXPECT_FALSE(PipelineHopCrossesNode(0, 4, 3, 8));
  EXPECT_TRUE(PipelineHopCrossesNode(1, 4, 3, 8));
  EXPECT_TRUE(PipelineHopCrossesNode(2, 4, 3, 8));
  // What the evaluator reads without walking the hops: some hop crosses exactly when the
  // pipeline spans more than a node (p x stride > gpus per node), and some stays inside exactly
  // when a node holds two neighbouring stages (2 x stride <= gpus per node).
  for (int64_t p = 2; p <= 24; ++p) {
    for (int64_t stride = 1; stride <= 12; ++stride) {
      for (int64_t gpn : {1, 2, 4, 6, 8, 16, 72}) {
        bool any = false, all = true;
        for (int64_t hop = 0; hop < p; ++hop) {
          const bool x = PipelineHopCrossesNode(hop, p, stride, gpn);
          any = any || x;
          all = all && x;
        }
        EXPECT_EQ(any, p * stride > gpn) << p << " " << stride << " " << gpn;
        EXPECT_EQ(!all, 2 * stride <= gpn) << p << " " << stride << " " << gpn;
      }
    }
  }
  // Two stages: the hop and the wrap are the same pair of ranks.
  for (int64_t stride : {1, 2, 3, 4, 5, 8}) {
    EXPECT_EQ(PipelineHopCrossesNode(0, 2, stride, 8), PipelineHopCrossesNode(1, 2, stride, 8)) << stride;
  }
}

TEST(MeshShape, RankOrderTpInnermostPipelineOutermost) {
  // tp 2 x fsdp 2 x replicate 2 x pp 2: rank = tp_i + 2 (fsdp_i + 2 (replicate_i + 2 pp_i)).
  MeshShape m;
  m.degree = {2, 1, 2, 2, 2};  // cp 1
  EXPECT_EQ(m.size(), 16);
  EXPECT_EQ(m.Stride(MeshDim::kTp), 1);
  EXPECT_EQ(m.Stride(MeshDim::kFsdp), 2);
  EXPECT_EQ(m.Stride(MeshDim::kReplicate), 4);
  EXPECT_EQ(m.Stride(MeshDim::kPp), 8);
  // Rank 13 = 1 + 2 (0 + 2 (1 + 2 * 1)): tp 1, fsdp 0, replicate 1, stage 1.
  EXPECT_EQ(m.Coord(MeshDim::kTp, 13), 1);
  EXPECT_EQ(m.Coord(MeshDim::kFsdp, 13), 0);
  EXPECT_EQ(m.Coord(MeshDim::kReplicate, 13), 1);
  EXPECT_EQ(m.Coord(MeshDim::kPp, 13), 1);
  EXPECT_EQ(m.GroupOf(MeshDim::kTp, 13), (std::vector<int>{12, 13}));
  EXPECT_EQ(m.GroupOf(MeshDim::kFsdp, 13), (std::vector<int>{13, 15}));
  EXPECT_EQ(m.GroupOf(MeshDim::kReplicate, 13), (std::vector<int>{9, 13}));
  EXPECT_EQ(m.GroupOf(MeshDim::kPp, 13), (std::vector<int>{5, 13}));
  EXPECT_EQ(m.Groups(MeshDim::kPp).size(), 8u);
  EXPECT_EQ(m.Groups(MeshDim::kPp).front(), (std::vector<int>{0, 8}));
}

}  // namespace
}  // namespace meshplan::costmodel
