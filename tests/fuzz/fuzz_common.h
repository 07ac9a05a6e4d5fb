// File: tests/fuzz/fuzz_common.h
// Fixed specs the fuzz targets cost a fuzzed spec against, parsed once from the zoo.
#ifndef MESHPLAN_TESTS_FUZZ_FUZZ_COMMON_H_
#define MESHPLAN_TESTS_FUZZ_FUZZ_COMMON_H_

#include "costmodel/specs.h"

namespace meshplan::fuzz {

const costmodel::Model& FixedModel();      // llama2-7b
const costmodel::Cluster& FixedCluster();  // dgx-h100
/// A workload on `cluster` the fuzzed spec fits: 16 GPUs, global batch 32, seq min(2048, max_seq).
costmodel::Workload FixedWorkload(const costmodel::Model& m);
/// Costs `l` (resolved against FixedWorkload) with the analytical evaluator (not the simulator:
/// too slow per input), so the arithmetic downstream of a parser sees what the parser let through.
void CostLayout(const costmodel::Model& m, const costmodel::Cluster& c, costmodel::Layout l);
/// The same against a given workload (a framework's traits applied, a launch file's GPU count).
void CostLayoutOn(const costmodel::Model& m, const costmodel::Cluster& c, const costmodel::Workload& w,
                  costmodel::Layout l);

}  // namespace meshplan::fuzz

#endif  // MESHPLAN_TESTS_FUZZ_FUZZ_COMMON_H_
