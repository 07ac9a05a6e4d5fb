// File: tools/framework_flag.h
// --framework NAME for the workload commands (plan, simulate, compare, sweep): the traits the
// framework implies (data/frameworks/<name>.json: FlashAttention generation, eager or fused
// elementwise ops, gradient-reduction dtype, model-state recipe) fill every workload flag the
// user did not give; a flag given explicitly always wins.
#ifndef MESHPLAN_TOOLS_FRAMEWORK_FLAG_H_
#define MESHPLAN_TOOLS_FRAMEWORK_FLAG_H_

#include <CLI/CLI.hpp>

#include "tools/cli_common.h"

namespace meshplan::tools {

/// Adds --framework to `sub`, whose workload flags bind `o` (which must outlive the app).
void AddFrameworkFlag(CLI::App* sub, WorkloadOptions& o);

}  // namespace meshplan::tools

#endif  // MESHPLAN_TOOLS_FRAMEWORK_FLAG_H_
