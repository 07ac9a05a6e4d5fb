// File: tests/fuzz/fuzz_launch.h
// What the two launch-file targets (torchtitan_toml, megatron_args) share: the model and GPU
// count the seed files under tests/data/launch were written for, and the costing of what a
// launch file gives, as `simulate --from-torchtitan/--from-megatron` uses it.
#ifndef MESHPLAN_TESTS_FUZZ_FUZZ_LAUNCH_H_
#define MESHPLAN_TESTS_FUZZ_FUZZ_LAUNCH_H_

#include <cstdint>
#include <string>

#include "costmodel/error.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "tests/fuzz/fuzz_common.h"
#include "tools/launch_config.h"

namespace meshplan::fuzz {

inline constexpr int64_t kLaunchGpus = 64;

inline const costmodel::Model& LaunchModel() {
  static const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  return m;
}

/// The CLI's bounds on --global-batch and --seq (tools/cli_common.h kMaxGlobalBatch, kMaxSeq),
/// which MakeWorkload checks a launch file's batch and sequence against before anything is
/// costed; that header pulls in CLI11 and the simulator, so the two numbers are repeated here.
inline constexpr int64_t kCliMaxGlobalBatch = int64_t{1} << 30;
inline constexpr int64_t kCliMaxSeq = int64_t{1} << 24;

/// Costs the imported layout on kLaunchGpus GPUs with the file's batch and sequence where it
/// gives them (the seeds' 128 x 8192 otherwise) and the reduce dtype it names, as simulate does:
/// the CLI's range checks, ResolveLayout against the workload, then the analytical evaluator.
inline void CostImportedLaunch(const tools::ImportedLaunch& in) {
  costmodel::Workload w;
  w.gpus = kLaunchGpus;
  w.global_batch = in.global_batch.value_or(128);
  w.seq = in.seq.value_or(8192);
  if (w.global_batch < 1 || w.global_batch > kCliMaxGlobalBatch) {
    throw Error("--global-batch", "must be in [1, 2^30], got " + std::to_string(w.global_batch));
  }
  if (w.seq < 1 || w.seq > kCliMaxSeq) {
    throw Error("--seq", "must be in [1, 2^24], got " + std::to_string(w.seq));
  }
  if (in.reduce_dtype) w.reduce_dtype = *in.reduce_dtype;
  CostLayoutOn(LaunchModel(), FixedCluster(), w, in.layout);
}

}  // namespace meshplan::fuzz

#endif  // MESHPLAN_TESTS_FUZZ_FUZZ_LAUNCH_H_
