// meshplan plan | compare | sweep: search the layout space, put layouts side by side, and sweep
// GPU count, batch and sequence length to show where TP + FSDP overtakes FSDP alone.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/memory.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/answer.h"
#include "plans/html_report.h"
#include "plans/planner.h"
#include "plans/report.h"
#include "plans/search.h"
#include "sim/simulate.h"
#include "tools/cli_common.h"
#include "tools/framework_flag.h"
#include "tools/launch_config.h"

namespace meshplan::tools {
namespace {
using nlohmann::json;

plans::SearchOptions MakeSearchOptions(const WorkloadOptions& w, int top, const std::string& objective,
                                       int64_t max_tp, int64_t max_pp, int64_t max_cp, int64_t max_ep) {
  plans::SearchOptions so;
  if (top < 1 || top > 10000) throw Error("--top", "must be in [1, 10000], got " + std::to_string(top));
  so.top_k = top;
  if (objective == "step-time") {
    so.objective = plans::Objective::kStepTime;
  } else if (objective == "memory") {
    so.objective = plans::Objective::kMemory;
  } else {
    throw Error("--objective", "must be step-time or memory, got '" + objective + "'");
  }
  if (max_tp < 0) throw Error("--max-tp", "must be >= 1, got " + std::to_string(max_tp));
  so.max_tp = max_tp;
  so.max_pp = max_pp;
  so.max_cp = max_cp;
  so.max_ep = max_ep;
  if (!w.recipe.empty()) so.recipe = costmodel::ParseRecipe(w.recipe, "--recipe");
  so.runs = w.framework_layouts;
  so.runs_framework = w.framework;
  return so;
}

std::function<void(int64_t, int64_t)> ProgressLine() {
  if (!::isatty(STDERR_FILENO)) return {};
  return [](int64_t done, int64_t total) {
    std::fprintf(stderr, "\rsearching: %lld / %lld layouts", static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done == total) std::fprintf(stderr, "\r\033[K");
  };
}

/// `c`'s evaluation with the time and throughput it was ranked by (the simulator's when `sim`).
costmodel::Evaluation AsShown(const plans::Candidate& c, const sim::SimResult* sim, const costmodel::Workload& w) {
  costmodel::Evaluation e = c.eval;
  if (sim == nullptr || sim->step_s <= 0) return e;
  const plans::ShownRow row = plans::MakeShownRow(c, sim, w);
  e.time.step_s = sim->step_s;
  e.time.compute_s = sim->compute_s;
  e.time.exposed_tp_comm_s = sim->exposed_tp_comm_s;
  e.time.exposed_fsdp_comm_s = sim->exposed_fsdp_comm_s;
  e.time.exposed_dp_comm_s = sim->exposed_dp_comm_s;
  e.time.optimizer_s = sim->optimizer_s;
  e.time.bubble_s = sim->bubble_s;
  e.time.exposed_pp_comm_s = 0;
  e.throughput.tokens_per_s_per_gpu = row.tokens_per_s_per_gpu;
  e.throughput.mfu = row.mfu;
  return e;
}

/// The best FSDP-only layout's headroom in GiB when it runs with less than --min-headroom-gib
/// asks (the verdict says it, the JSON leaves the layout out); nullopt otherwise.
std::optional<double> FsdpOnlyShortOfHeadroomGib(const plans::SearchResult& r, double min_headroom_gib) {
  if (!r.best_fsdp_only || !r.best_fsdp_only->eval.feasible() || min_headroom_gib <= 0) return std::nullopt;
  const auto& m = r.best_fsdp_only->eval.memory;
  const double room = (m.capacity_bytes - m.peak_bytes) / costmodel::kGiB;
  return room < min_headroom_gib ? std::optional<double>(room) : std::nullopt;
}

/// One line on the best FSDP-only layout: why it could not run, or how it compares with row 1,
/// on the same kind of numbers (simulated against simulated).
std::string FsdpOnlyVerdict(const costmodel::Evaluator& ev, const plans::SearchResult& r,
                            const std::vector<sim::SimResult>& sims, size_t refined, const plans::TopList& list,
                            const std::optional<plans::ErrorBand>& band, double min_headroom_gib) {
  if (!r.best_fsdp_only) return "no FSDP-only layout in the search space";
  const auto& f = *r.best_fsdp_only;
  const std::string text = costmodel::LayoutToText(f.layout);
  if (!f.eval.feasible()) {
    std::string reasons;
    for (const auto& s : ev.Reasons(f.layout, f.eval)) reasons += (reasons.empty() ? "" : "; ") + s;
    return "no FSDP-only layout can run; the best one (" + text + ") fails: " + reasons;
  }
  // --min-headroom-gib rules it out as it rules out the ranked rows (with none ranked too).
  if (const std::optional<double> headroom_gib = FsdpOnlyShortOfHeadroomGib(r, min_headroom_gib)) {
    char room[64];
    std::snprintf(room, sizeof room, "%.1f GiB of headroom, less than --min-headroom-gib %g", *headroom_gib,
                  min_headroom_gib);
    return "best FSDP-only layout (" + text + ") is left out: " + room;
  }
  if (list.rows.empty()) return "best FSDP-only layout: " + text;
  const plans::ShownRow& best = list.rows.front();
  auto same = [&](const costmodel::Layout& l) {
    if (l == best.layout) return true;
    for (const auto& v : best.variants) if (v.layout == l) return true;
    return false;
  };
  if (same(f.layout)) return "the best layout is FSDP-only (" + text + ")";
  // Its numbers as ranked: simulated when it was among the refined layouts, or simulated now
  // when row 1 was (a plan never compares a simulated step with an analytical one).
  std::optional<sim::SimResult> own;
  const sim::SimResult* fsim = nullptr;
  for (size_t i = 0; i < refined; ++i) {
    if (r.top[i].layout == f.layout) fsim = &sims[i];
  }
  if (fsim == nullptr && best.simulated && SimulatedTasksBound(ev, f.layout, f.eval) <= kMaxSimulatedTasks) {
    sim::SimOptions so;
    so.record_timeline = false;
    own = sim::SimulateStep(ev, f.layout, f.eval, so);
    fsim = &*own;
  }
  const plans::Candidate& b = r.top[best.rank];
  const costmodel::Evaluation be = AsShown(b, best.simulated ? &sims[best.rank] : nullptr, ev.workload());
  const costmodel::Evaluation fe = AsShown(f, fsim, ev.workload());
  // Past the simulator's budget the FSDP-only step stays analytical: say so.
  const std::string mixed = best.simulated && fsim == nullptr
                                ? " (its step analytical: the simulator's budget is spent; row 1's simulated)"
                                : "";
  const double d = fe.time.step_s - be.time.step_s;
  const double pct = be.time.step_s > 0 ? 100.0 * d / be.time.step_s : 0.0;
  char buf[96];
  if (d < 0) {
    std::snprintf(buf, sizeof buf, "%.1f ms (%.1f%%)", -d * 1e3, -pct);
    return "best FSDP-only layout (" + text + ") steps " + buf + " faster than row 1 but was not among the " +
           std::to_string(refined) + " layouts the simulator ranked (--refine)" + mixed;
  }
  if (band && pct <= band->spread_pct) {
    std::snprintf(buf, sizeof buf, "%+.1f%%, inside the %.1f%% band", pct, band->spread_pct);
    return "best FSDP-only layout (" + text + ") ties with row 1 (" + buf + ")" + mixed + ": " +
           plans::FormatDelta(be, fe);
  }
  return "best FSDP-only layout (" + text + ") is slower than row 1" + mixed + ": " + plans::FormatDelta(be, fe);
}

// ----------------------------------------------------------------------------- plan
struct PlanOptions {
  WorkloadOptions w;
  int top = 10;
  std::string objective = "step-time";
  int64_t max_tp = 0;
  int64_t max_pp = 0;
  int64_t max_cp = 0;
  int64_t max_ep = 0;
  std::string json_path;
  std::string html_path;
  bool timing = false;
  int refine = 32;
  bool show_variants = false;
  double min_headroom_gib = 0;
  std::string emit_torchtitan, emit_megatron;  // launch configs for the best layout
};

void RunPlan(const PlanOptions& o) {
  Resolved r = Resolve(o.w);
  if (o.refine < 0 || o.refine > 1000) throw Error("--refine", "must be in [0, 1000], got " + std::to_string(o.refine));
  plans::SearchOptions so = MakeSearchOptions(o.w, o.top, o.objective, o.max_tp, o.max_pp, o.max_cp, o.max_ep);
  // Folded twins and the headroom rule take rows out: keep enough candidates to fill the list.
  if (!o.show_variants || o.min_headroom_gib > 0) so.top_k = std::min(10000, std::max(4 * o.top, o.top + 40));
  const costmodel::Evaluator ev(r.model, r.cluster, r.workload);
  // The refined layouts share one simulator budget (kMaxSimulatedTasks, checked before each
  // simulation): --refine 1000 of a 100k-layer model once took minutes. Refinement stops at the
  // first layout that does not fit what is left; the rest keep their analytical rank.
  plans::PlanResult planned =
      plans::Plan(ev, so, o.refine, ProgressLine(), kMaxSimulatedTasks,
                  [&](const plans::Candidate& c) { return SimulatedTasksBound(ev, c.layout, c.eval); });
  const plans::SearchResult& res = planned.search;
  const std::vector<sim::SimResult>& sims = planned.sims;
  const size_t refined = planned.refined;
  const size_t asked_refined = std::min(res.top.size(), static_cast<size_t>(o.refine));
  const bool budget_cut = refined < asked_refined && so.objective == plans::Objective::kStepTime;

  // One answer: every row carries the numbers it was ranked by, in the table and the JSON alike.
  std::vector<plans::ShownRow> ranked;
  for (size_t i = 0; i < res.top.size(); ++i) {
    ranked.push_back(plans::MakeShownRow(res.top[i], i < refined ? &sims[i] : nullptr, r.workload));
    ranked.back().rank = i;
  }
  plans::TopListOptions to;
  to.top = static_cast<size_t>(o.top);
  to.show_variants = o.show_variants;
  to.min_headroom_gib = o.min_headroom_gib;
  // The band is row 1's: its GPU generation's out-of-sample errors, those of the runs in its work
  // regime (step per layer pass) where enough of them stand behind it. Row 1 is known once the
  // list is built; the band then marks the ties around it.
  std::optional<plans::ErrorBand> band;
  if (so.objective == plans::Objective::kStepTime) {
    const plans::TopList first = plans::BuildTopList(ranked, to, std::nullopt);
    double per_pass_s = 0;
    if (!first.rows.empty()) {
      const plans::ShownRow& b = first.rows.front();
      const double passes = plans::LayerPasses(b.layout, r.model.layers, res.top[b.rank].eval.parts.micro_batches);
      if (passes > 0) per_pass_s = b.step_s / passes;
    }
    band = plans::ReadErrorBand(plans::DefaultErrorBandsPath(), r.cluster.gpu.name, per_pass_s);
  }
  const plans::TopList list = plans::BuildTopList(ranked, to, band);

  json report = plans::ReportSkeleton("plan", ev, std::nullopt);
  report["inputs"]["calibration_why"] = CalibrationWhy(o.w, r.cluster);
  json layouts = json::array();
  const double tokens = static_cast<double>(r.workload.global_batch) * static_cast<double>(r.workload.seq);
  for (size_t i = 0; i < list.rows.size(); ++i) {
    const plans::ShownRow& row = list.rows[i];
    const auto& c = res.top[row.rank];
    json entry = plans::LayoutEntryJson(ev, c.layout, c.eval);
    if (row.simulated) ApplySimulation(entry, sims[row.rank], tokens, static_cast<double>(r.workload.gpus));
    entry["ranked_by"] = row.simulated ? "simulator" : "analytical";
    entry["vs_best_pct"] = row.vs_best_pct;
    entry["tie"] = row.tie;
    entry["tight_memory"] = row.tight;
    entry["headroom_bytes"] = row.headroom_bytes();
    json variants = json::array();
    for (const plans::ShownRow& v : row.variants) {
      variants.push_back({{"layout_text", costmodel::LayoutToText(v.layout)},
                          {"ranked_by", v.simulated ? "simulator" : "analytical"},
                          {"step_s", v.step_s},
                          {"peak_bytes", v.peak_bytes}});
    }
    entry["variants"] = variants;
    layouts.push_back(entry);
  }
  auto listed = [&](const costmodel::Layout& l) {
    for (const auto& row : list.rows) if (row.layout == l) return true;
    for (const auto& c : res.best_infeasible) if (c.layout == l) return true;
    return false;
  };
  for (const auto& c : res.best_infeasible) layouts.push_back(plans::LayoutEntryJson(ev, c.layout, c.eval));
  if (res.best_fsdp_only && !listed(res.best_fsdp_only->layout) && !FsdpOnlyShortOfHeadroomGib(res, o.min_headroom_gib)) {
    layouts.push_back(plans::LayoutEntryJson(ev, res.best_fsdp_only->layout, res.best_fsdp_only->eval));
  }
  plans::SummaryInputs si;
  si.calibration = r.cluster.calibration;
  si.calibration_why = CalibrationWhy(o.w, r.cluster);
  si.band = band;
  si.caveats = plans::SearchCaveats(ev, so);
  if (!list.rows.empty()) {
    const plans::ShownRow& b = list.rows.front();
    report["summary"] = {{"recommended", costmodel::LayoutToText(b.layout)},
                         {"ranked_by", b.simulated ? "simulator" : "analytical"},
                         {"step_s", b.step_s},
                         {"tokens_per_s_per_gpu", b.tokens_per_s_per_gpu},
                         {"mfu", b.mfu},
                         {"mfu_convention", plans::MfuConvention(r.cluster, b.mfu_causal)},
                         {"peak_bytes", b.peak_bytes},
                         {"capacity_bytes", b.capacity_bytes},
                         {"headroom_bytes", b.headroom_bytes()},
                         {"tight_memory", b.tight},
                         {"calibration", r.cluster.calibration.empty() ? json(nullptr) : json(r.cluster.calibration)},
                         {"error_band", plans::ErrorBandJson(band)},
                         {"caveats", si.caveats}};
  } else {
    report["summary"] = nullptr;
  }
  report["layouts"] = layouts;
  report["search"] = plans::SearchJson(res, o.timing);
  report["search"]["refined_with_simulator"] = static_cast<int64_t>(refined);
  report["search"]["folded_variants"] = list.folded;
  // The caveats also when nothing is feasible (summary null): a --framework's limits may be why.
  report["search"]["caveats"] = si.caveats;
  report["search"]["below_min_headroom"] = list.below_headroom;
  if (budget_cut) {
    report["search"]["refine_stopped"] =
        "simulated " + std::to_string(refined) + " of the " + std::to_string(asked_refined) +
        " layouts --refine asked for: the next one would take the simulator past its budget of " +
        std::to_string(kMaxSimulatedTasks) + " tasks per command";
  }
  report["best_fsdp_only"] =
      res.best_fsdp_only ? json(costmodel::LayoutToText(res.best_fsdp_only->layout)) : json(nullptr);
  const std::string verdict = FsdpOnlyVerdict(ev, res, sims, refined, list, band, o.min_headroom_gib);
  report["verdict"] = verdict;
  const std::string text = plans::DumpReport(report);
  // Launch files are built before anything is printed: a layout no framework can run is an error
  // with nothing on stdout before it. With nothing feasible at all the report is printed first
  // (its reasons and caveats say why) and the error follows it.
  std::vector<OutputFile> launch;
  const bool emitting = !o.emit_torchtitan.empty() || !o.emit_megatron.empty();
  // Launch configs: each framework gets the best ranked layout it can run (row 1 when it can;
  // a user of Megatron-LM asking for its arguments wants Megatron's best, not an error because
  // row 1 is an FSDP2 layout). A substitute is said on stderr and in the file's first line.
  if (emitting && !list.rows.empty()) {
    const LaunchTarget target{r.model, r.cluster, r.workload};
    const auto emit = [&](const std::string& path, const char* flag, const char* framework, auto writer) {
      const plans::ShownRow& first = list.rows.front();
      std::string first_why;
      for (const plans::ShownRow& row : ranked) {
        if (o.min_headroom_gib > 0 && row.headroom_bytes() < o.min_headroom_gib * costmodel::kGiB) continue;
        try {
          std::string text = writer(target, row.layout, flag, path);
          if (row.layout == first.layout) return OutputFile{path, std::move(text), flag};
          const double vs = first.step_s > 0 ? 100.0 * (row.step_s - first.step_s) / first.step_s : 0.0;
          char numbers[96];
          std::snprintf(numbers, sizeof numbers, "step %.1f ms (%+.1f%% against row 1)", row.step_s * 1e3, vs);
          const std::string why = "row 1 (" + costmodel::LayoutToText(first.layout) + ") cannot run in " +
                                  framework + " (" + first_why + "); this is the best ranked layout it can run, " +
                                  costmodel::LayoutToText(row.layout) + ", " + numbers;
          NoteLine(std::string(flag) + ": " + why);
          return OutputFile{path, "# meshplan plan: " + why + "\n" + text, flag};
        } catch (const Error& e) {
          if (first_why.empty()) first_why = e.reason();
        }
      }
      throw Error(flag, "none of the " + std::to_string(ranked.size()) + " ranked layouts can run in " + framework +
                            "; row 1: " + first_why +
                            (so.runs ? " (--framework " + so.runs_framework + " ranked only the layouts " +
                                           so.runs_framework + " runs)"
                                     : std::string()));
    };
    if (!o.emit_torchtitan.empty()) {
      launch.push_back(emit(o.emit_torchtitan, "--emit-torchtitan", "torchtitan", TorchtitanToml));
    }
    if (!o.emit_megatron.empty()) {
      launch.push_back(emit(o.emit_megatron, "--emit-megatron", "Megatron-LM", MegatronArgs));
    }
  }

  const auto& w = r.workload;
  std::printf("meshplan plan: %s on %lld x %s (%s), global batch %lld x %lld tokens\n",
              r.model.name.c_str(), static_cast<long long>(w.gpus), r.cluster.name.c_str(),
              r.cluster.gpu.name.c_str(), static_cast<long long>(w.global_batch),
              static_cast<long long>(w.seq));
  std::printf("evaluated %lld layouts: %lld feasible\n\n", static_cast<long long>(res.evaluated),
              static_cast<long long>(res.feasible));
  std::fputs(plans::FormatSummary(ev, list, si).c_str(), stdout);
  std::printf("\n");
  if (list.rows.empty()) {
    std::printf("no feasible layout%s.\n", list.below_headroom > 0 ? " with the headroom --min-headroom-gib asks" : "");
  } else {
    bool any_sim = false, any_variants = false;
    for (const auto& row : list.rows) {
      any_sim = any_sim || row.simulated;
      any_variants = any_variants || !row.variants.empty();
    }
    std::fputs(plans::FormatShownTable(list.rows).c_str(), stdout);
    std::fputs(plans::TableLegend(any_sim, any_variants, band).c_str(), stdout);
    if (refined > 0 && so.objective == plans::Objective::kStepTime) {
      std::printf("(ranked by the discrete-event simulator over the analytical top %zu; the rest by the analytical model)\n",
                  refined);
    }
    if (budget_cut) std::printf("(%s)\n", report["search"]["refine_stopped"].get<std::string>().c_str());
    if (list.folded > 0) {
      std::printf("(%lld variant rows folded: --show-variants lists them)\n", static_cast<long long>(list.folded));
    }
  }
  if (list.below_headroom > 0) {
    std::printf("(%lld ranked layouts left out: less than %g GiB of headroom, --min-headroom-gib)\n",
                static_cast<long long>(list.below_headroom), o.min_headroom_gib);
  }
  std::printf("\ninfeasible layouts by reason:");
  bool any = false;
  for (int b = 0; b < costmodel::kNumReasonCodes; ++b) {
    const auto n = res.infeasible_by_reason[static_cast<size_t>(b)];
    if (n > 0) {
      std::printf(" %s %lld", std::string(costmodel::ReasonCodeName(b)).c_str(),
                  static_cast<long long>(n));
      any = true;
    }
  }
  std::printf("%s\n", any ? "" : " none");
  for (const auto& c : res.best_infeasible) {
    std::string reasons;
    for (const auto& s : ev.Reasons(c.layout, c.eval)) reasons += (reasons.empty() ? "" : "; ") + s;
    std::printf("  best blocked by %s: %s (%s)\n",
                c.eval.reasons & costmodel::kReasonGlobalBatch ? "batch"
                : c.eval.reasons & costmodel::kReasonMemory    ? "memory"
                                                               : "shape",
                costmodel::LayoutToText(c.layout).c_str(), reasons.c_str());
  }
  std::printf("%s\n", verdict.c_str());
  char line[160];
  std::snprintf(line, sizeof line, "search: %lld layouts in %.3f s (%.0f layouts/s)",
                static_cast<long long>(res.evaluated), res.seconds,
                res.seconds > 0 ? static_cast<double>(res.evaluated) / res.seconds : 0.0);
  NoteLine(line);
  std::vector<OutputFile> outputs;
  if (!o.json_path.empty()) outputs.push_back({o.json_path, text, "--json"});
  if (!o.html_path.empty()) {
    outputs.push_back({o.html_path, HtmlReportFor(text, o.json_path.empty() ? "(not saved)" : o.json_path), "--html"});
  }
  if (emitting && list.rows.empty()) {
    throw Error(!o.emit_torchtitan.empty() ? "--emit-torchtitan" : "--emit-megatron", "no feasible layout to write");
  }
  outputs.insert(outputs.end(), launch.begin(), launch.end());
  WriteFilesAtomic(outputs);
}

// ----------------------------------------------------------------------------- compare
struct CompareOptions {
  WorkloadOptions w;
  std::vector<std::string> layouts;
  std::vector<std::string> reports;
  std::string json_path;
  std::string html_path;
};

/// What a report priced, field by field (model, cluster, GPUs, batch, sequence, precision):
/// "?" where the report does not say.
std::vector<std::pair<std::string, std::string>> JobOf(const json& j) {
  const json* in = j.contains("inputs") && j["inputs"].is_object() ? &j["inputs"] : nullptr;
  auto text = [&](const char* key, const char* sub) -> std::string {
    if (!in || !in->contains(key)) return "?";
    const json& v = (*in)[key];
    if (sub && v.is_object() && v.contains(sub) && v[sub].is_string()) return v[sub].get<std::string>();
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number()) return v.dump();
    return "?";
  };
  return {{"model", text("model", "name")},     {"cluster", text("cluster", "name")},
          {"GPUs", text("gpus", nullptr)},       {"global batch", text("global_batch", nullptr)},
          {"sequence", text("seq", nullptr)},    {"precision", text("precision", nullptr)}};
}

void RunCompare(const CompareOptions& o) {
  std::vector<std::string> names;
  std::vector<std::vector<std::pair<std::string, std::string>>> jobs;
  std::vector<costmodel::Evaluation> evals;
  json report;
  json entries = json::array();
  if (!o.reports.empty()) {
    if (!o.layouts.empty()) throw Error("--layout", "give either --layout values or report files, not both");
    for (const auto& path : o.reports) {
      const json j = costmodel::ParseJsonText(costmodel::ReadFileText(path, "compare"), path);
      plans::CheckReportQuantities(j, path);
      std::string lt;
      evals.push_back(plans::ReadReportFirstLayout(j, path, lt));
      // The numbers each report ranked its first layout by, and the profile behind them.
      std::string how;
      if (j.contains("inputs") && j["inputs"].is_object() && j["inputs"].contains("calibration")) {
        const json& c = j["inputs"]["calibration"];
        how = c.is_string() ? "calibration " + c.get<std::string>() : "uncalibrated";
      }
      const json& first = j["layouts"][0];
      if (first.contains("time") && first["time"].is_object() && first["time"].contains("analytical")) {
        how += std::string(how.empty() ? "" : ", ") + "simulated";
      }
      names.push_back(path + " (" + lt + (how.empty() ? "" : "; " + how) + ")");
      entries.push_back(j["layouts"][0]);
      jobs.push_back(JobOf(j));
    }
    // Reports of different jobs compare fine row by row, but the deltas are not a layout's:
    // said once, in the text and the JSON.
    json notes = json::array();
    for (size_t i = 1; i < jobs.size(); ++i) {
      std::string differ;
      for (size_t k = 0; k < jobs[0].size(); ++k) {
        if (jobs[i][k].second == jobs[0][k].second) continue;
        differ += (differ.empty() ? "" : ", ") + jobs[i][k].first + " " + jobs[i][k].second + " against " +
                  jobs[0][k].second;
      }
      if (differ.empty()) continue;
      const std::string note = "[" + std::to_string(i + 1) + "] is another job than [1]: " + differ +
                               " (the differences below are not the layouts' alone)";
      std::printf("note: %s\n", OneLineMessage(note).c_str());
      notes.push_back(note);
    }
    if (!notes.empty()) std::printf("\n");
    report["notes"] = notes;
    report["schema_version"] = plans::kReportSchemaVersion;
    report["tool"] = plans::ToolVersion();
    report["command"] = "compare";
    report["inputs"] = {{"reports", o.reports}};
  } else {
    if (o.layouts.size() < 2) throw Error("--layout", "give at least two layouts (or report files) to compare");
    if (o.w.model.empty() || o.w.cluster.empty() || o.w.gpus == 0 || o.w.global_batch == 0 || o.w.seq == 0) {
      throw Error("compare", "--model, --cluster, --gpus, --global-batch and --seq are required with --layout");
    }
    Resolved r = Resolve(o.w);
    const auto recipe = o.w.recipe.empty() ? costmodel::Recipe::kFsdp2
                                           : costmodel::ParseRecipe(o.w.recipe, "--recipe");
    const costmodel::Evaluator ev(r.model, r.cluster, r.workload);
    report = plans::ReportSkeleton("compare", ev, std::nullopt);
    report["inputs"]["calibration_why"] = CalibrationWhy(o.w, r.cluster);
    std::printf("calibration %s (%s)\n\n", r.cluster.calibration.empty() ? "none" : r.cluster.calibration.c_str(),
                CalibrationWhy(o.w, r.cluster).c_str());
    for (const auto& text : o.layouts) {
      int64_t given_accum = 0;
      costmodel::Layout l = costmodel::ParseLayoutText(text, "--layout " + text, recipe, &given_accum);
      costmodel::ResolveLayout(l, r.workload, "--layout " + text);
      costmodel::CheckGivenGradAccum(given_accum, l, r.workload, "--layout " + text);
      CheckFsdp1(o.w, l, "--layout " + text);
      NoteIfFrameworkCannotRun(o.w, l, costmodel::LayoutToText(l));
      evals.push_back(ev.Evaluate(l));
      names.push_back(costmodel::LayoutToText(l));
      entries.push_back(plans::LayoutEntryJson(ev, l, evals.back()));
    }
  }
  json diffs = json::array();
  for (size_t i = 1; i < evals.size(); ++i) {
    const auto& a = evals[0].time;
    const auto& b = evals[i].time;
    diffs.push_back({{"against", 0},
                     {"layout", i},
                     {"step_s", b.step_s - a.step_s},
                     {"compute_s", b.compute_s - a.compute_s},
                     {"exposed_tp_comm_s", b.exposed_tp_comm_s - a.exposed_tp_comm_s},
                     {"exposed_fsdp_comm_s", b.exposed_fsdp_comm_s - a.exposed_fsdp_comm_s},
                     {"exposed_dp_comm_s", b.exposed_dp_comm_s - a.exposed_dp_comm_s},
                     {"exposed_cp_comm_s", b.exposed_cp_comm_s - a.exposed_cp_comm_s},
                     {"exposed_ep_comm_s", b.exposed_ep_comm_s - a.exposed_ep_comm_s},
                     {"optimizer_s", b.optimizer_s - a.optimizer_s},
                     {"peak_bytes", evals[i].memory.peak_bytes - evals[0].memory.peak_bytes},
                     {"summary", plans::FormatDelta(evals[0], evals[i])}});
  }
  report["layouts"] = entries;
  report["differences"] = diffs;
  const std::string text = plans::DumpReport(report);

  std::printf("%-22s", "");
  for (size_t i = 0; i < names.size(); ++i) std::printf(" %14s", ("[" + std::to_string(i + 1) + "]").c_str());
  std::printf("\n");
  auto row = [&](const char* label, auto get, const char* fmt) {
    std::printf("%-22s", label);
    for (const auto& e : evals) std::printf(fmt, get(e));
    std::printf("\n");
  };
  row("step ms", [](const auto& e) { return e.time.step_s * 1e3; }, " %14.1f");
  row("compute ms", [](const auto& e) { return e.time.compute_s * 1e3; }, " %14.1f");
  row("exposed TP comm ms", [](const auto& e) { return e.time.exposed_tp_comm_s * 1e3; }, " %14.1f");
  row("exposed FSDP comm ms", [](const auto& e) { return e.time.exposed_fsdp_comm_s * 1e3; }, " %14.1f");
  row("exposed DP comm ms", [](const auto& e) { return e.time.exposed_dp_comm_s * 1e3; }, " %14.1f");
  row("exposed CP comm ms", [](const auto& e) { return e.time.exposed_cp_comm_s * 1e3; }, " %14.1f");
  row("exposed EP comm ms", [](const auto& e) { return e.time.exposed_ep_comm_s * 1e3; }, " %14.1f");
  row("optimizer ms", [](const auto& e) { return e.time.optimizer_s * 1e3; }, " %14.1f");
  // A pipeline's bubble and its stage-to-stage sends are part of the step too (the rows sum to it).
  row("pipeline bubble ms", [](const auto& e) { return e.time.bubble_s * 1e3; }, " %14.1f");
  row("exposed PP send ms", [](const auto& e) { return e.time.exposed_pp_comm_s * 1e3; }, " %14.1f");
  row("GEMM efficiency %", [](const auto& e) { return e.time.gemm_efficiency * 100; }, " %14.1f");
  row("tokens/s/GPU", [](const auto& e) { return e.throughput.tokens_per_s_per_gpu; }, " %14.0f");
  {
    // The MFU row names its convention; reports written under different ones are flagged.
    const bool causal = evals.front().throughput.mfu_causal;
    bool mixed = false;
    for (const auto& e : evals) mixed = mixed || e.throughput.mfu_causal != causal;
    const std::string label = mixed ? "MFU % (mixed conv.!)" : causal ? "MFU % (causal)" : "MFU % (noncausal)";
    row(label.c_str(), [](const auto& e) { return e.throughput.mfu * 100; }, " %14.1f");
  }
  row("peak GiB", [](const auto& e) { return e.memory.peak_bytes / costmodel::kGiB; }, " %14.2f");
  std::printf("\n");
  for (size_t i = 0; i < names.size(); ++i) {
    std::printf("[%zu] %s%s\n", i + 1, names[i].c_str(),
                evals[i].feasible() ? "" : " [cannot run: its numbers are what it would take]");
  }
  for (size_t i = 1; i < evals.size(); ++i) {
    std::printf("[%zu] vs [1]: %s\n", i + 1, plans::FormatDelta(evals[0], evals[i]).c_str());
  }
  std::vector<OutputFile> outputs;
  if (!o.json_path.empty()) outputs.push_back({o.json_path, text, "--json"});
  if (!o.html_path.empty()) {
    outputs.push_back({o.html_path, HtmlReportFor(text, o.json_path.empty() ? "(not saved)" : o.json_path), "--html"});
  }
  WriteFilesAtomic(outputs);
}

// ----------------------------------------------------------------------------- sweep
struct SweepOptions {
  WorkloadOptions w;
  std::vector<int64_t> gpus;
  std::vector<int64_t> global_batch;
  std::vector<int64_t> seq;
  int64_t max_tp = 0;
  int64_t max_pp = 0;
  int64_t max_cp = 0;
  int64_t max_ep = 0;
  std::string json_path;
  std::string html_path;
};

/// Latency of one FSDP all-gather of `bytes` over tp=1 vs tp=8 at the same GPU count: the
/// ring/Simple (n-1)-hop latency terms, their ratio, and the ratio if every hop cost the same.
json LatencyCut(const costmodel::Evaluator& ev, int64_t gpus) {
  const int64_t gpn = ev.cluster().node.gpus_per_node;
  if (gpus < 2 * gpn || gpus % gpn != 0) return nullptr;
  const auto links = costmodel::LinkParamsFor(ev.cluster());
  const auto g1 = ev.PlaceGroup(gpus, 1);
  const auto g8 = ev.PlaceGroup(gpus / gpn, gpn);
  const auto t1 = costmodel::BuildTable(links, g1);
  const auto t8 = costmodel::BuildTable(links, g8);
  using costmodel::Algo;
  using costmodel::Coll;
  using costmodel::Proto;
  const double l1 = costmodel::TimeOf(t1, Coll::kAllGather, Algo::kRing, Proto::kSimple, 0).latency_s;
  const double l8 = costmodel::TimeOf(t8, Coll::kAllGather, Algo::kRing, Proto::kSimple, 0).latency_s;
  const double n = static_cast<double>(gpus), m = static_cast<double>(gpus / gpn);
  return {{"tp", gpn},
          {"fsdp_ranks_before", gpus},
          {"fsdp_ranks_after", gpus / gpn},
          {"ring_latency_before_s", l1},
          {"ring_latency_after_s", l8},
          {"actual_cut", l1 / l8},
          {"uniform_hop_cut", (n - 1) / (m - 1)}};
}

constexpr size_t kMaxSweepPoints = 1000;

void RunSweep(const SweepOptions& o) {
  const costmodel::Model model = costmodel::ResolveModel(o.w.model, "--model");
  const costmodel::Cluster cluster = ResolveCalibratedCluster(o.w);
  const plans::SearchOptions so = MakeSearchOptions(o.w, 1, "step-time", o.max_tp, o.max_pp, o.max_cp, o.max_ep);
  // A value given twice would only repeat its points.
  auto no_repeats = [](const std::vector<int64_t>& v, const char* flag) {
    std::vector<int64_t> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    if (const auto d = std::adjacent_find(sorted.begin(), sorted.end()); d != sorted.end()) {
      throw Error(flag, std::to_string(*d) + " is given twice");
    }
  };
  no_repeats(o.gpus, "--gpus");
  no_repeats(o.global_batch, "--global-batch");
  no_repeats(o.seq, "--seq");
  if (o.gpus.size() * o.global_batch.size() * o.seq.size() > kMaxSweepPoints) {
    throw Error("sweep", "more than " + std::to_string(kMaxSweepPoints) +
                             " points; give shorter lists");
  }
  // Check every point and size the whole sweep before printing anything.
  int64_t total_layouts = 0;
  for (int64_t seq : o.seq) {
    for (int64_t gb : o.global_batch) {
      for (int64_t gpus : o.gpus) {
        const costmodel::Workload w = MakeWorkload(o.w, model, cluster, gpus, gb, seq);
        total_layouts += plans::CountLayouts(costmodel::Evaluator(model, cluster, w), so);
        if (total_layouts > so.max_layouts) {
          throw Error("sweep", "more than " + std::to_string(so.max_layouts) +
                                   " layouts over all points; give shorter lists or --max-tp");
        }
      }
    }
  }
  json points = json::array();
  json inputs;
  std::vector<std::string> caveats;
  std::printf("calibration %s (%s)\n", cluster.calibration.empty() ? "none" : cluster.calibration.c_str(),
              CalibrationWhy(o.w, cluster).c_str());
  std::printf("%7s %7s %7s  %-58s %9s %9s  %-40s %9s %8s %9s\n", "gpus", "batch", "seq", "best layout",
              "step_ms", "tok/s/gpu", "best FSDP-only", "step_ms", "lat_share", "tp8_cut");
  for (int64_t seq : o.seq) {
    for (int64_t gb : o.global_batch) {
      for (int64_t gpus : o.gpus) {
        const costmodel::Workload w = MakeWorkload(o.w, model, cluster, gpus, gb, seq);
        const costmodel::Evaluator ev(model, cluster, w);
        if (inputs.is_null()) inputs = plans::InputsJson(ev, std::nullopt);
        const plans::SearchResult r = plans::Search(ev, so);
        // What the search kept to (a --framework's limits, dimensions not searched), each once.
        for (std::string& c : plans::SearchCaveats(ev, so)) {
          if (std::find(caveats.begin(), caveats.end(), c) == caveats.end()) caveats.push_back(std::move(c));
        }
        json p = {{"gpus", gpus}, {"global_batch", gb}, {"seq", seq}};
        p["best"] = r.top.empty() ? json(nullptr)
                                  : plans::LayoutEntryJson(ev, r.top[0].layout, r.top[0].eval);
        p["best_fsdp_only"] =
            r.best_fsdp_only ? plans::LayoutEntryJson(ev, r.best_fsdp_only->layout, r.best_fsdp_only->eval)
                             : json(nullptr);
        const double share = r.best_fsdp_only ? plans::FsdpLatencyShare(r.best_fsdp_only->eval) : 0.0;
        p["fsdp_latency_share"] = share;
        p["best_fsdp_latency_share"] = r.top.empty() ? 0.0 : plans::FsdpLatencyShare(r.top[0].eval);
        p["tp8_fsdp_latency_cut"] = LatencyCut(ev, gpus);
        p["evaluated"] = r.evaluated;
        p["feasible"] = r.feasible;
        points.push_back(p);
        std::string best = r.top.empty() ? "(none feasible)" : costmodel::LayoutToText(r.top[0].layout);
        std::string fsdp = "(none)";
        double fsdp_ms = 0;
        if (r.best_fsdp_only) {
          const auto& f = *r.best_fsdp_only;
          if (f.eval.feasible()) {
            fsdp = "fsdp=" + std::to_string(f.layout.fsdp) + ",replicate=" +
                   std::to_string(f.layout.replicate) + ",mbs=" + std::to_string(f.layout.mbs);
            fsdp_ms = f.eval.time.step_s * 1e3;
          } else {
            fsdp = "infeasible: " + ev.Reasons(f.layout, f.eval).front();
          }
        }
        const json& cut = p["tp8_fsdp_latency_cut"];
        std::printf("%7lld %7lld %7lld  %-58s %9.1f %9.0f  %-40s %9.1f %7.0f%% %9s\n",
                    static_cast<long long>(gpus), static_cast<long long>(gb),
                    static_cast<long long>(seq), best.c_str(),
                    r.top.empty() ? 0.0 : r.top[0].eval.time.step_s * 1e3,
                    r.top.empty() ? 0.0 : r.top[0].eval.throughput.tokens_per_s_per_gpu,
                    fsdp.substr(0, 40).c_str(), fsdp_ms, 100 * share,
                    cut.is_null() ? "-"
                                  : (std::to_string(cut["actual_cut"].get<double>()).substr(0, 4) + "x/" +
                                     std::to_string(cut["uniform_hop_cut"].get<double>()).substr(0, 4) + "x").c_str());
      }
    }
  }
  std::printf("tp8_cut: the FSDP all-gather's ring latency term with tp=8 against tp=1 at the same GPU "
              "count, actual / if every hop cost the same\n");
  for (size_t i = 0; i < caveats.size(); ++i) std::printf("%s%s\n", i == 0 ? "caveats: " : "         ", caveats[i].c_str());
  json report;
  report["schema_version"] = plans::kReportSchemaVersion;
  report["tool"] = plans::ToolVersion();
  report["command"] = "sweep";
  report["inputs"] = inputs;
  report["inputs"]["calibration_why"] = CalibrationWhy(o.w, cluster);
  // The model's error band for this GPU: the HTML report claims no crossover inside it.
  report["error_band"] = plans::ErrorBandJson(plans::ReadErrorBand(plans::DefaultErrorBandsPath(), cluster.gpu.name));
  report["points"] = points;
  report["caveats"] = caveats;
  const std::string text = plans::DumpReport(report);
  std::vector<OutputFile> outputs;
  if (!o.json_path.empty()) outputs.push_back({o.json_path, text, "--json"});
  if (!o.html_path.empty()) {
    outputs.push_back({o.html_path, HtmlReportFor(text, o.json_path.empty() ? "(not saved)" : o.json_path), "--html"});
  }
  WriteFilesAtomic(outputs);
}

}  // namespace

void SetupPlan(CLI::App& app) {
  {
    auto opt = std::make_shared<PlanOptions>();
    CLI::App* sub = app.add_subcommand("plan", "search every layout and rank the feasible ones");
    AddWorkloadFlags(sub, opt->w);
    AddFrameworkFlag(sub, opt->w);
    sub->add_option("--top", opt->top, "how many layouts to print (default 10)")->check(IntegerIn(1, 10000));
    sub->add_option("--objective", opt->objective, "step-time | memory");
    sub->add_option("--max-tp", opt->max_tp, "largest tensor-parallel degree to try")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--max-pp", opt->max_pp, "largest pipeline-parallel degree to try (1: none)")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--max-cp", opt->max_cp,
                    "largest context-parallel degree to try (1: none; default: any leaving each "
                    "rank >= 4096 tokens of a sequence)")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--max-ep", opt->max_ep,
                    "largest expert-parallel degree to try for an MoE model (1: none; default: any)")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--json", opt->json_path, "write the JSON report to this file");
    sub->add_option("--html", opt->html_path, "write the HTML report (charts) to this file");
    sub->add_flag("--timing", opt->timing, "put the search time in the JSON (not byte-reproducible)");
    sub->add_option("--emit-torchtitan", opt->emit_torchtitan, "write a torchtitan TOML for the best layout");
    sub->add_option("--emit-megatron", opt->emit_megatron, "write Megatron-LM arguments for the best layout");
    sub->add_flag("--show-variants", opt->show_variants,
                  "list rows that differ only in recipe (or in a ZeRO stage without effect) instead of folding them");
    sub->add_option("--min-headroom-gib", opt->min_headroom_gib,
                    "leave out layouts with less free memory per GPU than this (default 0; rows above 90% of "
                    "usable memory are marked either way)")
        ->check(NumberIn(0, 1e6));
    sub->add_option("--refine", opt->refine, "re-rank this many of the best layouts with the simulator (default 32, 0: off)")
        ->check(IntegerIn(0, 1000));
    sub->callback([opt] { RunPlan(*opt); });
  }
  {
    auto opt = std::make_shared<CompareOptions>();
    CLI::App* sub = app.add_subcommand("compare", "layouts (or report files) side by side");
    sub->add_option("--model", opt->w.model, "model (with --layout)");
    sub->add_option("--cluster", opt->w.cluster, "cluster (with --layout)");
    sub->add_option("--gpus", opt->w.gpus, "GPUs (with --layout)")->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--global-batch", opt->w.global_batch, "sequences per step (with --layout)")
        ->check(IntegerIn(1, kMaxGlobalBatch));
    sub->add_option("--seq", opt->w.seq, "tokens per sequence (with --layout)")
        ->check(IntegerIn(1, kMaxSeq));
    sub->add_option("--recipe", opt->w.recipe, "megatron | fsdp2");
    sub->add_option("--reduce-dtype", opt->w.reduce_dtype, "fp32 | bf16");
    sub->add_flag("--no-flash-attention", opt->w.no_flash_attention, "unfused attention");
    AddKernelFlags(sub, opt->w);
    sub->add_flag("--allow-cross-node-tp", opt->w.allow_cross_node_tp, "TP may span nodes");
    AddCalibrationFlags(sub, opt->w);
    AddFrameworkFlag(sub, opt->w);
    sub->add_option("--layout", opt->layouts, "a layout (repeat)");
    sub->add_option("reports", opt->reports, "report JSON files written by plan/simulate");
    sub->add_option("--json", opt->json_path, "write the JSON report to this file");
    sub->add_option("--html", opt->html_path, "write the HTML report (charts) to this file");
    sub->callback([opt] { RunCompare(*opt); });
  }
  {
    auto opt = std::make_shared<SweepOptions>();
    CLI::App* sub = app.add_subcommand("sweep", "best layout and best FSDP-only layout per point");
    AddWorkloadFlags(sub, opt->w, /*gpus_required=*/false, /*batch_required=*/false);
    AddFrameworkFlag(sub, opt->w);
    sub->add_option("--gpus", opt->gpus, "GPU counts, e.g. 64,128,256")
        ->delimiter(',')
        ->required()
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--global-batch", opt->global_batch, "global batch sizes")
        ->delimiter(',')
        ->required()
        ->check(IntegerIn(1, kMaxGlobalBatch));
    sub->add_option("--seq", opt->seq, "sequence lengths")->delimiter(',')->required()->check(IntegerIn(1, kMaxSeq));
    sub->add_option("--max-tp", opt->max_tp, "largest tensor-parallel degree to try")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--max-pp", opt->max_pp, "largest pipeline-parallel degree to try (1: none)")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--max-cp", opt->max_cp,
                    "largest context-parallel degree to try (1: none; default: any leaving each "
                    "rank >= 4096 tokens of a sequence)")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--max-ep", opt->max_ep,
                    "largest expert-parallel degree to try for an MoE model (1: none; default: any)")
        ->check(IntegerIn(1, kMaxGpus));
    sub->add_option("--json", opt->json_path, "write the JSON report to this file");
    sub->add_option("--html", opt->html_path, "write the HTML report (charts) to this file");
    sub->callback([opt] { RunSweep(*opt); });
  }
}

}  // namespace meshplan::tools
