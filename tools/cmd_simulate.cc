// meshplan simulate: one layout, full breakdown.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "costmodel/spec_io.h"
#include "plans/report.h"
#include "tools/cli_common.h"

namespace meshplan::tools {
namespace {

struct SimulateOptions {
  WorkloadOptions w;
  std::string layout;
  std::string json_path;
};

void RunSimulate(const SimulateOptions& o) {
  Resolved r = Resolve(o.w);
  const auto recipe = o.w.recipe.empty() ? costmodel::Recipe::kFsdp2
                                         : costmodel::ParseRecipe(o.w.recipe, "--recipe");
  costmodel::Layout l = costmodel::ParseLayoutText(o.layout, "--layout", recipe);
  costmodel::ResolveLayout(l, r.workload, "--layout");
  const costmodel::Evaluator ev(r.model, r.cluster, r.workload);
  const costmodel::Evaluation e = ev.Evaluate(l);
  nlohmann::json report = plans::ReportSkeleton("simulate", ev, std::nullopt);
  report["layouts"] = nlohmann::json::array({plans::LayoutEntryJson(ev, l, e)});
  const std::string text = plans::DumpReport(report);  // checks every number before printing
  std::fputs(plans::FormatBreakdown(ev, l, e).c_str(), stdout);
  if (!o.json_path.empty()) WriteFileAtomic(o.json_path, text, "--json");
}

}  // namespace

void SetupSimulate(CLI::App& app) {
  auto opt = std::make_shared<SimulateOptions>();
  CLI::App* sub = app.add_subcommand("simulate", "cost one layout: memory, step time, collectives");
  AddWorkloadFlags(sub, opt->w);
  sub->add_option("--layout", opt->layout,
                  "e.g. tp=8,sp=on,fsdp=32,replicate=1,zero=3,mbs=1,recompute=selective")
      ->required();
  sub->add_option("--json", opt->json_path, "write the JSON report to this file");
  sub->callback([opt] { RunSimulate(*opt); });
}

}  // namespace meshplan::tools
