// File: costmodel/plan_file.h
// Reads back a plan: the JSON report `meshplan plan --json` or `meshplan simulate --json`
// writes (plans/report.cc), as the specs it was computed from plus one chosen layout. This is
// what `meshplan validate` and the meshplan-validate MPI program execute.
//
// The embedded model and cluster are the ToJson() forms from spec_io.h: the model carries the
// derived `params` (checked against the parameter count, never trusted), neither carries a
// schema_version (the report's own applies), and the cluster may omit `sources` (reports leave
// them out; the spec then cites the plan file). Everything else is read as strictly as the
// spec files themselves: unknown keys, missing fields and bad values are Errors whose place
// names the file and the JSON path, e.g. "plan.json: inputs.model: layers: missing (required)".
#ifndef MESHPLAN_COSTMODEL_PLAN_FILE_H_
#define MESHPLAN_COSTMODEL_PLAN_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

struct PlanSpec {
  Model model;
  Cluster cluster;
  Workload workload;
  Layout layout;
  std::string layout_text;  // LayoutToText(layout)
  std::string command;      // "plan" or "simulate" (the report's command)
  int64_t layout_index = 0;
};

/// Parses a plan/simulate report and picks layouts[layout_index] (0: the best).
/// REQUIRES nothing of `text`: every problem is an Error of kind kUserInput.
PlanSpec ReadPlanFile(std::string_view text, std::string_view origin, int64_t layout_index = 0);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_PLAN_FILE_H_
