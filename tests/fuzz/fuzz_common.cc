#include "tests/fuzz/fuzz_common.h"

#include <algorithm>
#include <utility>

#include "costmodel/evaluate.h"
#include "costmodel/params.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::fuzz {

const costmodel::Model& FixedModel() {
  static const costmodel::Model m = costmodel::ResolveModel("llama2-7b");
  return m;
}

const costmodel::Cluster& FixedCluster() {
  static const costmodel::Cluster c = costmodel::ResolveCluster("dgx-h100");
  return c;
}

costmodel::Workload FixedWorkload(const costmodel::Model& m) {
  costmodel::Workload w;
  w.gpus = 16;
  w.global_batch = 32;
  w.seq = std::min<int64_t>(2048, m.max_seq);
  return w;
}

void CostLayout(const costmodel::Model& m, const costmodel::Cluster& c, costmodel::Layout l) {
  CostLayoutOn(m, c, FixedWorkload(m), std::move(l));
}

void CostLayoutOn(const costmodel::Model& m, const costmodel::Cluster& c, const costmodel::Workload& w,
                  costmodel::Layout l) {
  costmodel::CountParams(m);
  costmodel::ModelFlopsPerToken(m, w.seq);
  costmodel::ResolveLayout(l, w, "fuzz layout");
  const costmodel::Evaluator ev(m, c, w);
  const costmodel::Evaluation e = ev.Evaluate(l);
  ev.Reasons(l, e);
}

}  // namespace meshplan::fuzz
