// Pipeline schedules: the action lists against the closed forms and the papers they come from.
#include "costmodel/pipeline.h"

#include "costmodel/mesh.h"

#include <gtest/gtest.h>

#include <algorithm>

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

TEST(PipelineSchedule, BubbleClosedForms) {
  // Narayanan et al. SC21: (p-1)(t_f + t_b), interleaved / v; ZB-H1 (Qi et al.): (p-1)(t_f + t_b - t_w).
  EXPECT_DOUBLE_EQ(BubbleTime(Schedule::k1F1B, 4, 1, 1.0, 1.0, 1.0), 9.0);
  EXPECT_DOUBLE_EQ(BubbleTime(Schedule::kInterleaved, 4, 3, 1.0, 1.0, 1.0), 3.0);
  EXPECT_DOUBLE_EQ(BubbleTime(Schedule::kZeroBubble, 4, 1, 1.0, 1.0, 1.0), 3.0);
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
