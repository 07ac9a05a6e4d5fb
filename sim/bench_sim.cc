// Google Benchmark: the discrete-event simulation of one llama3-405b step (126 layers, 64
// micro-batches: ~57k tasks) on 256 H100s, tp=8 + SP inside a node, FSDP over 32 nodes,
// global batch 2048 x 4096 tokens. Aim: <= 10 ms per simulated step on one core.
// No main(): link with benchmark::benchmark_main or into a binary that has BENCHMARK_MAIN().
#include <benchmark/benchmark.h>

#include "costmodel/evaluate.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "sim/simulate.h"

namespace {

using namespace meshplan;

void SimulateLlama405b(benchmark::State& state, bool record_timeline) {
  costmodel::Workload w;
  w.gpus = 256;
  w.global_batch = 2048;
  w.seq = 4096;
  const costmodel::Evaluator ev(costmodel::ResolveModel("llama3-405b"),
                                costmodel::ResolveCluster("dgx-h100"), w);
  costmodel::Layout l = costmodel::ParseLayoutText("tp=8,sp=on,fsdp=32,zero=3,mbs=1", "bench");
  costmodel::ResolveLayout(l, w, "bench");
  const costmodel::Evaluation e = ev.Evaluate(l);
  sim::SimOptions o;
  o.record_timeline = record_timeline;
  int64_t events = 0, tasks = 0;
  for (auto _ : state) {
    sim::SimResult r = sim::SimulateStep(ev, l, e, o);
    events += r.events;
    tasks = r.tasks;
    benchmark::DoNotOptimize(r);
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["tasks"] = static_cast<double>(tasks);
}

void BM_SimulateStepLlama405b(benchmark::State& state) { SimulateLlama405b(state, true); }
BENCHMARK(BM_SimulateStepLlama405b)->Unit(benchmark::kMillisecond);

/// What `plan --refine` pays per layout: no per-task timeline kept.
void BM_SimulateStepLlama405bNoTimeline(benchmark::State& state) { SimulateLlama405b(state, false); }
BENCHMARK(BM_SimulateStepLlama405bNoTimeline)->Unit(benchmark::kMillisecond);

/// One simulated interleaved pipeline step of 16 stages x 8 chunks x 128 micro-batches (32k
/// actions; aim <= 20 ms): GPT-1T (128 layers: one layer per chunk) on 16,384 A100s, TP 8 x PP 16
/// x DP 128. llama3-405b's 126 layers cannot take vpp 8 on 16 stages.
void SimulateInterleaved(benchmark::State& state, bool blocking) {
  costmodel::Workload w;
  // Megatron-LM 2022's exchanges (pipeline.h BlockingProgram): every one a rendezvous.
  w.pp_interleaved_blocking = blocking;
  w.gpus = 16384;
  w.global_batch = 16384;
  w.seq = 2048;
  const costmodel::Evaluator ev(costmodel::ResolveModel("gpt-1t"), costmodel::ResolveCluster("dgx-a100-80g"), w);
  costmodel::Layout l = costmodel::ParseLayoutText(
      "tp=8,sp=on,pp=16,vpp=8,fsdp=128,zero=1,mbs=1,recipe=megatron,recompute=selective", "bench");
  costmodel::ResolveLayout(l, w, "bench");
  const costmodel::Evaluation e = ev.Evaluate(l);
  sim::SimOptions o;
  o.record_timeline = false;
  for (auto _ : state) {
    sim::SimResult r = sim::SimulateStep(ev, l, e, o);
    benchmark::DoNotOptimize(r);
  }
  state.counters["micro_batches"] = e.parts.micro_batches;
}
void BM_SimulateInterleavedPipeline(benchmark::State& state) { SimulateInterleaved(state, false); }
BENCHMARK(BM_SimulateInterleavedPipeline)->Unit(benchmark::kMillisecond);
/// The same step with blocking exchanges (~33k of them beside the 32k chunk actions).
void BM_SimulateBlockingInterleavedPipeline(benchmark::State& state) { SimulateInterleaved(state, true); }
BENCHMARK(BM_SimulateBlockingInterleavedPipeline)->Unit(benchmark::kMillisecond);

}  // namespace
