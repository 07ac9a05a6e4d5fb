// File: sim/pipeline.h
// Executes a pipeline schedule's action lists (costmodel/pipeline.h ScheduleActions) exactly:
// one track per pipeline rank running its list in order, each action starting when its rank is
// free and its input has arrived. A forward chunk of virtual stage vs needs the same micro-batch's
// forward on vs-1 plus one send; a backward needs the backward of vs+1 plus one send (the last
// virtual stage: its own forward); a weight-gradient action (ZB-H1) follows its backward on the
// same rank. Sends run on their own stream (torch.distributed.pipelining isend/irecv), so a
// sender never waits for them; concurrent sends do not share bandwidth (PipelineInput::blocking:
// Megatron-LM 2022's exchanges, which hold both ranks instead). Times in seconds.
#ifndef MESHPLAN_SIM_PIPELINE_H_
#define MESHPLAN_SIM_PIPELINE_H_

#include <cstdint>
#include <vector>

#include "costmodel/pipeline.h"
#include "costmodel/specs.h"

namespace meshplan::sim {

/// One model chunk (virtual stage) per micro-batch. bwd_s excludes wgrad_s: 1F1B and interleaved
/// run both in their backward action, ZB-H1 runs wgrad_s as its own W action.
struct ChunkCost {
  double fwd_s = 0;
  double bwd_s = 0;
  double wgrad_s = 0;
};

struct PipelineInput {
  costmodel::Schedule schedule = costmodel::Schedule::k1F1B;
  int64_t p = 1, v = 1, m = 1;
  std::vector<ChunkCost> chunks;  // p * v, indexed by virtual stage vs = chunk * p + rank
  double p2p_s = 0;               // one send between neighbouring virtual stages ...
  // ... or, when not empty, per hop (p of them): hop r < p - 1 from rank r to rank r + 1, hop
  // p - 1 from rank p - 1 to rank 0 (costmodel/pipeline.h PipelineHopCrossesNode).
  std::vector<double> hop_s;
  // Megatron-LM 2022's blocking exchanges (costmodel/pipeline.h BlockingProgram) instead of
  // sends on their own stream: each exchange holds its rank until every send and receive in it
  // is done, a send done p2p_s after both its rank and its receiver have posted it; then each
  // tensor received is gathered over TP for gather_s more (scatter-gather; 0 without).
  bool blocking = false;
  double gather_s = 0;
  bool record = true;             // fill actions_run
};

struct ActionRecord {
  costmodel::Action action;
  int32_t rank = 0;
  double start_s = 0;
  double end_s = 0;
};

struct StageRun {
  int64_t stage = 0;
  double busy_s = 0;   // compute actions' total time
  double end_s = 0;    // its last action's end
  double idle_s = 0;   // makespan - busy: the bubble this rank sees, waits for sends included
  double peak_in_flight = 0;  // micro-batches of one full stage's activations (pipeline.h)
};

struct PipelineRun {
  double makespan_s = 0;
  std::vector<StageRun> stages;
  std::vector<ActionRecord> actions_run;  // in execution order
};

/// REQUIRES: chunks.size() == p * v and ScheduleProblem allows (p, v, m).
PipelineRun RunPipeline(const PipelineInput& in);

}  // namespace meshplan::sim

#endif  // MESHPLAN_SIM_PIPELINE_H_
