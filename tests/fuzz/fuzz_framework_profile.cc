// A framework profile (data/frameworks/<name>.json, or the file --framework names), its workload
// traits applied to a workload and a layout of the framework's recipe costed with them, and its
// layout limits asked about that layout.
#include "costmodel/spec_io.h"
#include "plans/framework.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(FrameworkProfile) {
  const plans::Framework f = plans::ParseFramework(input, "fuzz/framework.json");
  costmodel::Workload w = FixedWorkload(FixedModel());
  plans::ApplyFramework(f, w);
  const costmodel::Layout l = costmodel::ParseLayoutText("tp=2,sp=on,mbs=1,recompute=selective", "fuzz layout", f.recipe);
  // The layout limits the search keeps to (and simulate's note) read every field.
  (void)plans::FrameworkLayoutProblem(f.layouts, f.name, l);
  CostLayoutOn(FixedModel(), FixedCluster(), w, l);
}
