// A plan file as meshplan-validate and `meshplan validate` read it (costmodel/plan_file.h), then
// costed: the specs it yields must be as safe as the zoo's.
#include "costmodel/evaluate.h"
#include "costmodel/plan_file.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(PlanFile) {
  const costmodel::PlanSpec p = costmodel::ReadPlanFile(input, "fuzz/plan.json");
  costmodel::Evaluator(p.model, p.cluster, p.workload).Evaluate(p.layout);
}
