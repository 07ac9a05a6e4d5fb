// meshplan simulate: one layout, full breakdown.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/memory.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "sim/simulate.h"
#include "sim/trace.h"
#include "plans/answer.h"
#include "plans/report.h"
#include "tools/cli_common.h"
#include "tools/framework_flag.h"
#include "tools/launch_config.h"

namespace meshplan::tools {

/// Puts the simulated step into a layout entry: `time` becomes the simulated breakdown, the
/// analytical one moves to `analytical`, throughput follows the simulated step.
void ApplySimulation(nlohmann::json& entry, const sim::SimResult& r, double tokens, double gpus) {
  nlohmann::json analytical = entry["time"];
  nlohmann::json& t = entry["time"];
  t["step_s"] = r.step_s;
  t["compute_s"] = r.compute_s;
  t["exposed_tp_comm_s"] = r.exposed_tp_comm_s;
  t["exposed_fsdp_comm_s"] = r.exposed_fsdp_comm_s;
  t["exposed_dp_comm_s"] = r.exposed_dp_comm_s;
  t["exposed_cp_comm_s"] = r.exposed_cp_comm_s;
  t["exposed_ep_comm_s"] = r.exposed_ep_comm_s;
  t["optimizer_s"] = r.optimizer_s;
  t["bubble_s"] = r.bubble_s;
  if (!r.stages.empty()) t["exposed_pp_comm_s"] = 0.0;  // the simulated bubble includes send waits
  t["analytical"] = analytical;
  const double scale = analytical["step_s"].get<double>() / r.step_s;
  nlohmann::json& th = entry["throughput"];
  th["tokens_per_s_per_gpu"] = tokens / (r.step_s * gpus);
  th["mfu"] = th["mfu"].get<double>() * scale;
  th["hfu"] = th["hfu"].get<double>() * scale;
  entry["simulation"] = {{"peak_bytes", r.peak_bytes},
                         {"peak_time_s", r.peak_time_s},
                         {"tasks", r.tasks},
                         {"events", r.events}};
  if (!r.stages.empty()) {
    nlohmann::json stages = nlohmann::json::array();
    for (const sim::StageResult& s : r.stages) {
      stages.push_back({{"stage", s.stage},
                        {"layers", s.layers},
                        {"busy_s", s.busy_s},
                        {"bubble_s", s.bubble_s},
                        {"micro_batches_in_flight", s.peak_in_flight},
                        {"peak_bytes", s.peak_bytes}});
      if (s.kept_whole > 0) stages.back()["micro_batches_kept_whole"] = s.kept_whole;
    }
    entry["simulation"]["stages"] = stages;
  } else if (!r.tasks_run.empty()) {
    entry["simulation"].update(sim::TimelineJson(r));  // for HTML reports
  }
}

namespace {

struct SimulateOptions {
  WorkloadOptions w;
  std::string layout;
  std::string json_path;
  std::string trace_path;
  std::string html_path;
  bool analytical = false;
  int prefetch = 1;
  bool prefetch_given = false;  // --prefetch on the command line (the simulator's alone)
  std::string emit_torchtitan, emit_megatron;  // launch configs to write for the layout
  std::string from_torchtitan, from_megatron;  // launch config to read the layout from
};

/// Reads --from-torchtitan / --from-megatron: the layout, and --global-batch / --seq where the
/// file has them (a command-line value that disagrees is an error naming both).
ImportedLaunch ImportLaunch(const SimulateOptions& o, WorkloadOptions& w) {
  const bool titan = !o.from_torchtitan.empty();
  const std::string flag = titan ? "--from-torchtitan" : "--from-megatron";
  const std::string path = titan ? o.from_torchtitan : o.from_megatron;
  const std::string text = costmodel::ReadFileText(path, flag);
  const costmodel::Model m = costmodel::ResolveModel(w.model, "--model");
  ImportedLaunch in = titan ? ParseTorchtitanToml(text, path, m, w.gpus) : ParseMegatronArgs(text, path, m, w.gpus);
  if (!w.recipe.empty() && costmodel::ParseRecipe(w.recipe, "--recipe") != in.layout.recipe) {
    throw Error(w.recipe_from, w.recipe + " disagrees with " + path + " (" + (titan ? "torchtitan" : "Megatron-LM") +
                                " runs the " + std::string(costmodel::ToString(in.layout.recipe)) + " recipe)");
  }
  if (in.reduce_dtype && costmodel::ParseDtype(w.reduce_dtype, "--reduce-dtype") != *in.reduce_dtype) {
    throw Error("--reduce-dtype", w.reduce_dtype + " disagrees with " + path + " (gradients reduce in " +
                                      std::string(costmodel::ToString(*in.reduce_dtype)) + ")");
  }
  // Precision: the file's FP8 settings set the workload's; a command line that says otherwise
  // (--precision fp8 against a bf16 file, another --fp8-recipe) is an error naming both.
  const bool file_fp8 = in.precision == costmodel::Precision::kFp8;
  if (w.precision == "fp8" && !file_fp8) {
    throw Error("--precision", "fp8 disagrees with " + path +
                                   (titan ? " (no model.converters = [\"float8\"]: torchtitan trains in bf16)"
                                          : " (no --fp8-format: Megatron-LM trains in bf16)"));
  }
  if (file_fp8) {
    const std::string recipe(costmodel::ToString(*in.fp8_recipe));
    if (!w.fp8_recipe.empty() && w.fp8_recipe != recipe) {
      throw Error("--fp8-recipe", w.fp8_recipe + " disagrees with " + path + " (" + recipe + ")");
    }
    w.precision = "fp8";
    w.fp8_recipe = recipe;
    w.fp8_param_gather = w.fp8_param_gather || in.fp8_param_gather;
    if (!in.fp8_param_gather && w.fp8_param_gather) {
      throw Error("--fp8-param-gather", "disagrees with " + path + " (no --fp8-param-gather)");
    }
  }
  if (in.compiled) w.eager_elementwise = !*in.compiled;  // torch.compile fuses the elementwise ops
  if (!titan) {  // Megatron-LM's overlap flags, read or defaulted off
    w.dp_reduce_after_backward = in.reduce_after_backward;
    w.dp_gather_after_step = in.gather_before_forward;
    w.dp_buckets_megatron_core = true;  // Megatron-LM's DDP buckets (costmodel/data_parallel.h)
  }
  if (in.global_batch) {
    if (w.global_batch != 0 && w.global_batch != *in.global_batch) {
      throw Error("--global-batch", std::to_string(w.global_batch) + " disagrees with " + in.global_batch_from);
    }
    w.global_batch = *in.global_batch;
  }
  if (in.seq) {
    if (w.seq != 0 && w.seq != *in.seq) throw Error("--seq", std::to_string(w.seq) + " disagrees with " + in.seq_from);
    w.seq = *in.seq;
  }
  if (w.seq == 0) throw Error("--seq", "required (" + path + " does not give the sequence length)");
  for (const std::string& n : in.notes) NoteLine("meshplan: note: " + path + ": " + n);
  if (!in.ignored.empty()) {
    std::string keys;
    for (const std::string& k : in.ignored) keys += (keys.empty() ? "" : ", ") + k;
    NoteLine("meshplan: note: " + path + ": not modelled, ignored: " + keys);
  }
  return in;
}

void RunSimulate(const SimulateOptions& o) {
  WorkloadOptions wo = o.w;
  std::optional<ImportedLaunch> imported;
  if (!o.from_torchtitan.empty() || !o.from_megatron.empty()) {
    imported = ImportLaunch(o, wo);
  } else if (o.layout.empty()) {
    throw Error("--layout", "required (or --from-torchtitan / --from-megatron)");
  }
  if (wo.seq == 0) throw Error("--seq", "required");
  ResolveGlobalBatchTokens(wo);
  Resolved r = Resolve(wo);
  costmodel::Layout l;
  if (imported) {
    l = imported->layout;
    costmodel::ResolveLayout(l, r.workload, o.from_torchtitan.empty() ? o.from_megatron : o.from_torchtitan);
  } else {
    const auto recipe = wo.recipe.empty() ? costmodel::Recipe::kFsdp2 : costmodel::ParseRecipe(wo.recipe, "--recipe");
    int64_t given_accum = 0;
    l = costmodel::ParseLayoutText(o.layout, "--layout", recipe, &given_accum);
    if (!wo.recipe.empty() && l.recipe != recipe) {
      throw Error(wo.recipe_from, wo.recipe + " disagrees with --layout's recipe=" +
                                      std::string(costmodel::ToString(l.recipe)) + " (give one)");
    }
    costmodel::ResolveLayout(l, r.workload, "--layout");
    costmodel::CheckGivenGradAccum(given_accum, l, r.workload, "--layout");
  }
  CheckFsdp1(wo, l, imported ? "the imported launch" : "--layout");
  // Launch configs: built before anything is simulated or written, so a layout a framework
  // cannot run fails at once and leaves no file behind.
  std::vector<OutputFile> launch;
  const LaunchTarget target{r.model, r.cluster, r.workload};
  if (!o.emit_torchtitan.empty()) {
    launch.push_back({o.emit_torchtitan, TorchtitanToml(target, l, "--emit-torchtitan", o.emit_torchtitan),
                      "--emit-torchtitan"});
  }
  if (!o.emit_megatron.empty()) {
    launch.push_back({o.emit_megatron, MegatronArgs(target, l, "--emit-megatron", o.emit_megatron), "--emit-megatron"});
  }
  const costmodel::Evaluator ev(r.model, r.cluster, r.workload);
  const costmodel::Evaluation e = ev.Evaluate(l);
  if (o.prefetch < 0 || o.prefetch > 64) {
    throw Error("--prefetch", "must be in [0, 64], got " + std::to_string(o.prefetch));
  }
  if (o.analytical && o.prefetch_given) {
    throw Error("--prefetch", "sets the simulator's prefetch depth; the analytical model (--analytical) has none");
  }
  if (o.analytical && !o.trace_path.empty()) {
    throw Error("--trace", "needs the simulator; drop --analytical");
  }
  // The depth only orders per-layer FSDP all-gathers (sim/step_graph.cc); without them the flag
  // would change nothing and say nothing.
  const bool per_layer_gathers = l.pp == 1 && !e.parts.per_step_zero1 && e.parts.fsdp_ag_layer_s > 0;
  if (o.prefetch_given && !per_layer_gathers) {
    throw Error("--prefetch", "sets how many FSDP units are all-gathered ahead of the layer computing; " +
                                  costmodel::LayoutToText(l) + " gathers none per layer (" +
                                  (l.pp > 1                    ? "a pipeline stage gathers its units once per step"
                                   : e.parts.per_step_zero1    ? "ZeRO-1 gathers the parameters once per step"
                                                               : "nothing is sharded") +
                                  ")");
  }
  nlohmann::json report = plans::ReportSkeleton("simulate", ev, std::nullopt);
  report["inputs"]["calibration_why"] = CalibrationWhy(wo, r.cluster);
  nlohmann::json entry = plans::LayoutEntryJson(ev, l, e);
  std::string sim_text, trace;
  if (!o.analytical) {
    const int64_t tasks = SimulatedTasksBound(ev, l, e);
    const std::string size = std::to_string(static_cast<int64_t>(std::ceil(e.parts.micro_batches - 1e-9))) +
                             " micro-batches x " + std::to_string(ev.model().layers) + " layers make up to " +
                             std::to_string(tasks) + " simulator tasks";
    if (!o.trace_path.empty() && tasks > kMaxTraceTasks) {
      throw Error("--trace", size + "; a trace is written for at most " + std::to_string(kMaxTraceTasks) +
                                 " (about 1 GB of memory while built): drop --trace, or raise mbs in --layout");
    }
    if (tasks > kMaxSimulatedTasks) {
      throw Error("--layout", size + ", more than the " + std::to_string(kMaxSimulatedTasks) +
                                  " one simulation may take (about 5 s, 1.7 GB): raise mbs, lower "
                                  "--global-batch, or give --analytical");
    }
    sim::SimOptions so;
    so.prefetch_depth = o.prefetch;
    so.record_timeline = true;  // the JSON carries a bounded timeline and memory curve
    const sim::SimResult r = sim::SimulateStep(ev, l, e, so);
    const double tokens = static_cast<double>(ev.workload().global_batch) * static_cast<double>(ev.workload().seq);
    ApplySimulation(entry, r, tokens, static_cast<double>(ev.workload().gpus));
    if (!o.trace_path.empty()) trace = sim::ChromeTrace(r);
    char buf[512];
    const std::string depth = per_layer_gathers ? ", prefetch depth " + std::to_string(o.prefetch) : "";
    std::snprintf(buf, sizeof buf,
                  "\nsimulated step (discrete-event%s): %.1f ms (analytical %.1f ms)\n"
                  "  compute %.1f ms, exposed TP %.1f ms, FSDP %.1f ms, DP %.1f ms, optimizer %.1f ms,"
                  " bubble %.1f ms\n"
                  "  peak memory %.2f GiB at %.1f ms; %lld tasks\n",
                  depth.c_str(), r.step_s * 1e3, e.time.step_s * 1e3, r.compute_s * 1e3,
                  r.exposed_tp_comm_s * 1e3, r.exposed_fsdp_comm_s * 1e3, r.exposed_dp_comm_s * 1e3,
                  r.optimizer_s * 1e3, r.bubble_s * 1e3, r.peak_bytes / costmodel::kGiB, r.peak_time_s * 1e3,
                  static_cast<long long>(r.tasks));
    sim_text = buf;
    if (l.cp > 1) {
      std::snprintf(buf, sizeof buf, "  exposed CP (KV exchange on the comm_cp stream) %.1f ms\n",
                    r.exposed_cp_comm_s * 1e3);
      sim_text += buf;
    }
    if (r.exposed_ep_comm_s > 0) {
      std::snprintf(buf, sizeof buf, "  exposed EP (MoE dispatch and combine on the compute stream) %.1f ms\n",
                    r.exposed_ep_comm_s * 1e3);
      sim_text += buf;
    }
    for (const sim::StageResult& s : r.stages) {
      char kept[48] = "";
      if (s.kept_whole > 0) std::snprintf(kept, sizeof kept, " (%.2f kept whole)", s.kept_whole);
      std::snprintf(buf, sizeof buf,
                    "  stage %2lld: %3lld layers, busy %.1f ms, bubble %.1f ms, %.2f micro-batches in flight%s, peak %.2f GiB\n",
                    static_cast<long long>(s.stage), static_cast<long long>(s.layers), s.busy_s * 1e3,
                    s.bubble_s * 1e3, s.peak_in_flight, kept, s.peak_bytes / costmodel::kGiB);
      sim_text += buf;
    }
  }
  // The model's out-of-sample error for layouts like this one: its GPU generation's published
  // runs in the same work regime (step per layer pass), where enough of them stand behind it.
  const double step_s = entry["time"]["step_s"].get<double>();
  const double passes = plans::LayerPasses(l, r.model.layers, e.parts.micro_batches);
  const std::optional<plans::ErrorBand> band =
      plans::ReadErrorBand(plans::DefaultErrorBandsPath(), r.cluster.gpu.name, passes > 0 ? step_s / passes : 0);
  report["error_band"] = plans::ErrorBandJson(band);
  std::string band_text;
  if (band) {
    char buf[640];
    const double per_pass_ms = passes > 0 ? 1e3 * step_s / passes : 0;
    if (band->regime) {
      const std::string where =
          band->regime_below_s <= 0 ? "at " + std::to_string(std::lround(band->regime_from_s * 1e3)) + " ms or more"
          : band->regime_from_s <= 0 ? "under " + std::to_string(std::lround(band->regime_below_s * 1e3)) + " ms"
                                     : "at " + std::to_string(std::lround(band->regime_from_s * 1e3)) + "-" +
                                           std::to_string(std::lround(band->regime_below_s * 1e3)) + " ms";
      std::snprintf(buf, sizeof buf,
                    "\nerror band: %lld %s runs predicted out of sample %s per layer pass (this layout: %s ms): "
                    "%.1f%% off on average, bias %+.1f%% (negative: predicted faster than measured), worst %+.1f%%; "
                    "all %lld %s runs %.1f%%, bias %+.1f%% (data/accuracy/error_bands.json)\n",
                    static_cast<long long>(band->n), band->generation.c_str(), where.c_str(),
                    plans::LayerPassMsText(per_pass_ms / 1e3).c_str(),
                    band->mape_pct, band->bias_pct, band->worst_pct, static_cast<long long>(band->generation_n),
                    band->generation.c_str(), band->generation_mape_pct, band->generation_bias_pct);
    } else {
      std::snprintf(buf, sizeof buf,
                    "\nerror band: %lld %s runs predicted out of sample: %.1f%% off on average, bias %+.1f%% "
                    "(negative: predicted faster than measured), worst %+.1f%% (data/accuracy/error_bands.json)\n",
                    static_cast<long long>(band->n), band->generation.c_str(), band->mape_pct, band->bias_pct,
                    band->worst_pct);
    }
    band_text = buf;
    const std::string beyond = plans::BeyondScoredScaleText(*band, l.gpus());
    if (!beyond.empty()) band_text += "  (this layout runs on " + beyond + ")\n";
    if (band->regime_too_thin) {
      std::snprintf(buf, sizeof buf,
                    "  (only %lld of them near this layout's %s ms per layer pass: too few for a band of their own)\n",
                    static_cast<long long>(band->regime_n), plans::LayerPassMsText(per_pass_ms / 1e3).c_str());
      band_text += buf;
    }
  }
  report["layouts"] = nlohmann::json::array({entry});
  const std::string text = plans::DumpReport(report);  // checks every number before printing
  NoteIfFrameworkCannotRun(wo, l, "this layout");
  std::printf("calibration %s (%s)\n", r.cluster.calibration.empty() ? "none" : r.cluster.calibration.c_str(),
              CalibrationWhy(wo, r.cluster).c_str());
  std::fputs(plans::FormatBreakdown(ev, l, e).c_str(), stdout);
  std::fputs(sim_text.c_str(), stdout);
  std::fputs(band_text.c_str(), stdout);
  std::vector<OutputFile> outputs;
  if (!o.json_path.empty()) outputs.push_back({o.json_path, text, "--json"});
  if (!o.html_path.empty()) {
    outputs.push_back({o.html_path, HtmlReportFor(text, o.json_path.empty() ? "(not saved)" : o.json_path), "--html"});
  }
  if (!o.trace_path.empty()) outputs.push_back({o.trace_path, trace, "--trace"});
  outputs.insert(outputs.end(), launch.begin(), launch.end());
  WriteFilesAtomic(outputs);
}

}  // namespace

void SetupSimulate(CLI::App& app) {
  auto opt = std::make_shared<SimulateOptions>();
  CLI::App* sub = app.add_subcommand("simulate", "cost one layout: memory, step time, collectives");
  AddWorkloadFlags(sub, opt->w, /*gpus_required=*/true, /*batch_required=*/false);
  AddFrameworkFlag(sub, opt->w);
  // Required unless a --from-* file gives them (checked in RunSimulate).
  sub->add_option("--global-batch", opt->w.global_batch, "sequences per optimizer step")
      ->check(IntegerIn(1, kMaxGlobalBatch));
  sub->add_option("--seq", opt->w.seq, "tokens per sequence")->check(IntegerIn(1, kMaxSeq));
  sub->add_option("--global-batch-tokens", opt->w.global_batch_tokens,
                  "tokens per optimizer step instead of --global-batch, e.g. 4M (= 4194304); a multiple of --seq")
      ->excludes("--global-batch");
  CLI::Option* layout = sub->add_option("--layout", opt->layout,
                                        "e.g. tp=8,sp=on,fsdp=32,replicate=1,zero=3,mbs=1,recompute=selective");
  CLI::Option* from_titan = sub->add_option("--from-torchtitan", opt->from_torchtitan,
                                            "read the layout (and batch, sequence) from a torchtitan TOML")
                                ->excludes(layout);
  sub->add_option("--from-megatron", opt->from_megatron,
                  "read the layout (and batch, sequence) from a Megatron-LM arguments file")
      ->excludes(layout)
      ->excludes(from_titan);
  sub->add_option("--emit-torchtitan", opt->emit_torchtitan, "write a torchtitan TOML for the layout");
  sub->add_option("--emit-megatron", opt->emit_megatron, "write Megatron-LM arguments for the layout");
  sub->add_option("--json", opt->json_path, "write the JSON report to this file");
  sub->add_option("--html", opt->html_path, "write the HTML report (charts) to this file");
  sub->add_option("--trace", opt->trace_path, "write a Chrome/Perfetto trace of the simulated step");
  sub->add_flag("--analytical", opt->analytical, "the fast analytical model only (no simulation)");
  sub->add_option("--prefetch", opt->prefetch, "FSDP all-gather prefetch depth (default 1)")
      ->check(IntegerIn(0, 64));
  sub->callback([opt, sub] {
    opt->prefetch_given = sub->count("--prefetch") > 0;
    RunSimulate(*opt);
  });
}

}  // namespace meshplan::tools
