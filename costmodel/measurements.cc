#include "costmodel/measurements.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "costmodel/compute.h"
#include "costmodel/context.h"
#include "costmodel/costable.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/nccl_tests.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {
using nlohmann::json;

/// A collective row's op. all_to_all: an expert-parallel plan's sweep over its EP group, which
/// calibration fits as a point-to-point row (efficiency.alltoall_fraction and the p2p channel
/// parameters, calibration.cc Fit), never as a ring/tree table row.
Coll CollFromName(JsonObject& o, const std::string& key) {
  const std::string op = o.Enum(key, {"all_gather", "reduce_scatter", "all_reduce", "all_to_all"});
  if (op == "all_gather") return Coll::kAllGather;
  if (op == "reduce_scatter") return Coll::kReduceScatter;
  if (op == "all_to_all") return Coll::kAllToAll;
  return Coll::kAllReduce;
}

/// Runs `read(entry, where)` on each object of the array `key` (absent and not `required`: none),
/// then checks the entry has no unread key. `where` is "key[i]", for sample sources.
template <typename Read>
void ForEachEntry(JsonObject& o, const std::string& path, const std::string& key, bool required,
                  Read read) {
  if (!required && !o.Has(key)) return;
  const json& array = o.Array(key);
  // meshplan-validate writes a few hundred entries; the fit's cost grows with them.
  if (array.size() > static_cast<size_t>(kMaxNcclTestRows)) {
    o.Fail(key, "has " + std::to_string(array.size()) + " entries, more than " +
                    std::to_string(kMaxNcclTestRows) + " (meshplan-validate writes hundreds)");
  }
  for (size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_object()) o.Fail(key, "entries must be objects");
    const std::string where = key + "[" + std::to_string(i) + "]";
    JsonObject e(array[i], path, where);
    read(e, where);
    e.Finish();
  }
}

}  // namespace

void AddMeasurements(std::string_view text, const std::string& path, const Cluster& c,
                     CalibrationInputs& in) {
  const json root = ParseJsonText(text, path);
  if (!root.is_object()) throw Error(path, "expected a JSON object (a meshplan-validate measurement file)");
  JsonObject o(root, path, "");
  CheckSchemaVersion(o, kSchemaVersion);
  const std::string command = o.String("command");
  if (command != "validate") o.Fail("command", "expected \"validate\" (a meshplan-validate measurement file), got \"" + command + "\"");
  // p2p: pipeline send/recv sweeps; not fitted yet (the collective model's p2p price has no
  // calibrated parameter of its own).
  for (const char* k : {"tool", "environment", "mesh", "checks", "complete", "backend", "collectives_skipped", "error", "p2p", "p2p_skipped"}) o.Ignore(k);
  const std::string name = std::filesystem::path(path).filename().string();

  JsonObject plan = o.Object("plan");
  const std::string cluster_name = plan.String("cluster");
  if (cluster_name != c.name) {
    plan.Fail("cluster", "measured on '" + cluster_name + "', but calibrating cluster '" + c.name + "'");
  }
  const std::string model_name = plan.String("model");
  // The model the run measured: embedded since schema 1 files of meshplan-validate 0.x carry
  // `model_spec`; older files name it only, and the name is looked up as before.
  std::optional<json> model_spec;
  if (plan.Has("model_spec")) {
    const json& spec = plan.Raw("model_spec");
    if (!spec.is_object()) plan.Fail("model_spec", "must be an object, got " + Describe(spec));
    model_spec = spec;
    model_spec->erase("params");
    (*model_spec)["schema_version"] = kSchemaVersion;
  }
  plan.Ignore("cluster_spec");  // the fit is of --cluster; the name check above ties them
  Workload w;
  w.gpus = plan.Int("gpus", 1, int64_t{1} << 24);
  w.global_batch = plan.Int("global_batch", 1, int64_t{1} << 30);
  w.seq = plan.Int("seq", 1, int64_t{1} << 24);
  if (plan.Has("flash_attention")) w.flash_attention = plan.Bool("flash_attention");
  if (plan.Has("flash_version")) w.flash_version = static_cast<int>(plan.Int("flash_version", 1, 3));
  if (plan.Has("eager_elementwise")) w.eager_elementwise = plan.Bool("eager_elementwise");
  if (plan.Has("reduce_dtype")) {
    w.reduce_dtype = ParseDtype(plan.String("reduce_dtype"), path + ": plan.reduce_dtype");
  }
  // The framework behaviours the step ran with (files before they were written ran with none).
  if (plan.Has("workload_switches")) {
    JsonObject sw = plan.Object("workload_switches");
    ReadWorkloadSwitches(sw, w);
    sw.Finish();
  }
  Layout layout = LayoutFromJson(plan.Raw("layout"), path + ": plan.layout");
  for (const char* k : {"layout_text", "file", "layout_index"}) plan.Ignore(k);
  plan.Finish();
  w.allow_cross_node_tp = layout.tp > c.node.gpus_per_node;

  ForEachEntry(o, path, "collectives", true, [&](JsonObject& e, const std::string& where) {
    CollectiveSample s;
    s.op = CollFromName(e, "op");
    s.group.ranks = e.Int("ranks", 1, int64_t{1} << 24);
    s.group.nodes = e.Has("nodes") ? e.Int("nodes", 1, s.group.ranks) : 1;
    s.bytes = e.Number("bytes", 1, 1e15);
    s.time_s = e.Number("time_s", 1e-12, 1e6);
    s.source = name + ": " + where;
    for (const char* k : {"purpose", "algbw_GBps", "busbw_GBps", "iterations", "dtype", "from_plan", "requested_bytes"}) e.Ignore(k);
    if (s.group.ranks >= 2) in.collectives.push_back(s);
  });
  ForEachEntry(o, path, "gemms", true, [&](JsonObject& e, const std::string& where) {
    GemmSample g;
    g.m = e.Int("m", 1, int64_t{1} << 32);
    g.n = e.Int("n", 1, int64_t{1} << 32);
    g.k = e.Int("k", 1, int64_t{1} << 32);
    g.batch = e.Has("batch") ? e.Int("batch", 1, int64_t{1} << 32) : 1;
    g.time_s = e.Number("time_s", 1e-12, 1e6);
    g.source = name + ": " + where;
    for (const char* k : {"name", "pass", "dtype", "tflops"}) e.Ignore(k);
    in.gemms.push_back(g);
  });
  ForEachEntry(o, path, "attention", false, [&](JsonObject& e, const std::string& where) {
    AttentionSample a;
    a.flops = e.Number("flops", 1, 1e21);
    a.time_s = e.Number("time_s", 1e-12, 1e6);
    a.source = name + ": " + where;
    // Priced as the plan's kernel: its generation at its sequence's tiling (kernels.h).
    a.speed = FlashSpeedRelativeToFa2(w.flash_version) * CpFlashTileEfficiency(w, layout);
    for (const char* k : {"name", "pass", "tflops"}) e.Ignore(k);
    in.attention.push_back(a);
  });
  ForEachEntry(o, path, "memory_kernels", false, [&](JsonObject& e, const std::string& where) {
    MemoryKernelSample m;
    m.bytes = e.Number("bytes", 1, 1e15);
    m.time_s = e.Number("time_s", 1e-12, 1e6);
    m.source = name + ": " + where;
    for (const char* k : {"name", "pass", "GBps"}) e.Ignore(k);
    in.memory_kernels.push_back(m);
  });
  // meshplan-validate --sustain-s: the layer's GEMMs back to back (runner.cc SustainedGemms).
  if (o.Has("sustained_gemms") && o.Raw("sustained_gemms").is_null()) o.Ignore("sustained_gemms");
  if (o.Has("sustained_gemms") && !o.Raw("sustained_gemms").is_null()) {
    JsonObject sg = o.Object("sustained_gemms");
    SustainedGemmSample s;
    s.seconds = sg.Number("seconds", 1e-6, 1e6);
    const double burst = sg.Number("burst_pass_s", 1e-12, 1e6);
    double late = sg.Number("late_pass_s", 1e-12, 1e6);
    // Every rank's own late time (runner.cc SustainedGemms): the fraction is the median GPU's, as
    // the model prices it (compute.h SlowestGpuFraction adds the slowest); late_pass_s is the
    // slowest rank's.
    if (sg.Has("late_pass_s_per_rank")) {
      const json& a = sg.Array("late_pass_s_per_rank");
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_number() || !(a[i].get<double>() >= 1e-12 && a[i].get<double>() <= 1e6)) {
          sg.Fail("late_pass_s_per_rank", "entry " + std::to_string(i) + " must be a number in [1e-12, 1e6], got " +
                                              Describe(a[i]));
        }
        s.late_per_rank.push_back(a[i].get<double>());
      }
      if (s.late_per_rank.empty()) sg.Fail("late_pass_s_per_rank", "must list at least one rank");
      if (*std::max_element(s.late_per_rank.begin(), s.late_per_rank.end()) > late * (1 + 1e-9)) {
        sg.Fail("late_pass_s_per_rank", "a rank's late time exceeds late_pass_s, the slowest rank's");
      }
      late = MedianOf(s.late_per_rank);
      if (s.late_per_rank.size() < 2) s.late_per_rank.clear();
    }
    s.fraction = burst / late;
    if (!(s.fraction > 0 && s.fraction <= 10)) {
      sg.Fail("late_pass_s", "burst_pass_s / late_pass_s = " + std::to_string(s.fraction) +
                                 " is outside (0, 10]: not the same GEMMs timed twice");
    }
    for (const char* k : {"fraction", "first_pass_s", "flops_per_pass", "gemms", "window_passes", "windows_tflops"}) {
      sg.Ignore(k);
    }
    sg.Finish();
    s.source = name + ": sustained_gemms";
    in.sustained_gemms.push_back(s);
  }
  if (o.Has("step")) {
    JsonObject st = o.Object("step");
    StepSample s;
    s.model = model_spec ? ParseModelJson(model_spec->dump(-1, ' ', false, json::error_handler_t::replace),
                                          path + ": plan.model_spec")
                         : ResolveModel(model_name, path + ": plan.model");
    RequireCostable(s.model, w.seq, path + ": plan.model_spec", path + ": plan.seq");
    s.workload = w;
    s.layout = layout;
    s.time_s = st.Number("time_s", 1e-12, 1e9);
    s.peak_memory_bytes = st.Has("peak_memory_bytes") ? st.Number("peak_memory_bytes", 0, 1e18) : 0;
    for (const char* k : {"times_s", "peak_memory_bytes_per_rank", "peak_memory_source", "micro_batches", "layers", "warmup_steps"}) st.Ignore(k);
    st.Finish();
    s.source = name + ": step";
    in.steps.push_back(s);
  }
  o.Finish();
  in.provenance.push_back(name + " (meshplan-validate measurements, " + std::to_string(w.gpus) +
                          " ranks, " + LayoutToText(layout) + ")");
}

}  // namespace meshplan::costmodel
