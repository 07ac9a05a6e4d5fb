// File: plans/answer.cc
#include "plans/answer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "costmodel/compute.h"
#include "costmodel/error.h"
#include "costmodel/experts.h"
#include "costmodel/json_reader.h"
#include "costmodel/memory.h"
#include "costmodel/pipeline.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::plans {
using costmodel::kGiB;

namespace {
std::string Printf(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

/// Layouts equal but for recipe (and, when `ignore_zero`, the ZeRO stage).
bool Twins(costmodel::Layout a, costmodel::Layout b, bool ignore_zero) {
  a.recipe = b.recipe;
  if (ignore_zero) a.zero = b.zero;
  return a == b;
}

bool SameNumbers(const ShownRow& a, const ShownRow& b) {
  const auto close = [](double x, double y) { return std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), 1.0); };
  return close(a.step_s, b.step_s) && close(a.peak_bytes, b.peak_bytes);
}
}  // namespace

std::string DefaultErrorBandsPath() {
  return (std::filesystem::path(costmodel::DataDir()) / "accuracy" / "error_bands.json").string();
}

int LayerPassRegime(double step_s_per_layer_pass) {
  int i = 0;
  while (i < kLayerPassRegimes - 1 && step_s_per_layer_pass >= kLayerPassRegimeEdgesS[i]) ++i;
  return i;
}

std::string LayerPassMsText(double step_s_per_layer_pass) {
  const double ms = step_s_per_layer_pass * 1e3;
  return Printf(ms < 10 ? "%.2g" : "%.0f", ms);
}

double LayerPasses(const costmodel::Layout& layout, int64_t layers, double micro_batches) {
  costmodel::StageSplit split;
  if (!costmodel::SplitLayers(layout, layers, split, nullptr)) return 0;
  return static_cast<double>(std::max({split.first, split.middle, split.last})) * micro_batches;
}

namespace {
/// A band's figures (a generation's or one regime's): n, MAPE, bias, worst, spread and the
/// shipped-profile block.
void ReadBandFigures(costmodel::JsonObject& b, ErrorBand& out) {
  out.n = b.Int("n", 1);
  out.mape_pct = b.Number("mape_pct", 0, 1e6);
  out.bias_pct = b.Number("bias_pct", -1e6, 1e6);
  out.worst_pct = b.Number("worst_pct", -1e6, 1e6);
  out.spread_pct = b.Number("spread_pct", 0, 1e6);
  b.Ignore("max_pct");
  out.shipped_n = out.shipped_in_sample = 0;
  out.shipped_mape_pct = out.shipped_bias_pct = out.shipped_worst_pct = 0;
  if (b.Has("shipped_profile")) {
    costmodel::JsonObject sp = b.Object("shipped_profile");
    out.shipped_n = sp.Int("n", 1);
    out.shipped_in_sample = sp.Int("in_sample", 1, out.shipped_n);
    out.shipped_mape_pct = sp.Number("mape_pct", 0, 1e6);
    out.shipped_bias_pct = sp.Number("bias_pct", -1e6, 1e6);
    out.shipped_worst_pct = sp.Number("worst_pct", -1e6, 1e6);
    sp.Finish();
  }
}
}  // namespace

std::optional<ErrorBand> ReadErrorBand(const std::string& path, const std::string& gpu_name,
                                       double step_s_per_layer_pass) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  const nlohmann::json j = costmodel::ParseJsonText(costmodel::ReadFileText(path, "error bands"), path);
  costmodel::JsonObject top(j, path, "");
  costmodel::CheckSchemaVersion(top, 1);
  top.Ignore("tool");
  top.Ignore("meaning");
  if (top.String("quantity") != "step_time_s") top.Fail("quantity", "must be \"step_time_s\"");
  const std::string source = top.String("source");
  costmodel::JsonObject bands = top.Object("bands");
  // H200 is the GH100 die of H100 at the same clocks with 141 GB of faster HBM (NVIDIA H200
  // datasheet): its runs share H100's kernels, so H100's band stands for it, and says so.
  std::string key, why;
  for (const std::string& k : bands.Keys()) {
    if (gpu_name.rfind(k, 0) == 0) {
      key = k;
      why = gpu_name + " is " + k;
    } else if (gpu_name.rfind("G" + k, 0) == 0) {
      key = k;
      why = gpu_name + " is a " + k + " beside a Grace CPU";
    }
  }
  if (key.empty() && gpu_name.rfind("H200", 0) == 0 && bands.Has("H100")) {
    key = "H100";
    why = "H200 runs H100's GH100 die and clocks (more, faster HBM): H100's records stand for it";
  }
  for (const std::string& k : bands.Keys()) bands.Ignore(k);
  bands.Finish();
  top.Finish();
  if (key.empty()) return std::nullopt;
  costmodel::JsonObject b = bands.Object(key);
  ErrorBand out;
  out.generation = key;
  out.why = why;
  out.source = source;
  ReadBandFigures(b, out);
  // How far the generation's runs reach, and their sources' scale trends: a regime's band (a
  // copy of this one) carries them too.
  if (b.Has("max_gpus")) out.max_gpus = b.Int("max_gpus", 1);
  if (b.Has("scale_trends")) {
    const nlohmann::json& trends = b.Array("scale_trends");
    for (size_t i = 0; i < trends.size(); ++i) {
      costmodel::JsonObject t(trends[i], path, b.PathOf("scale_trends") + "[" + std::to_string(i) + "]");
      ErrorBand::Trend tr;
      tr.source = t.String("source");
      tr.median_slope_pct_per_doubling = t.Number("median_slope_pct_per_doubling", -1e3, 1e3);
      t.Ignore("groups");
      t.Ignore("max_gpus");
      t.Finish();
      out.scale_trends.push_back(tr);
    }
  }
  // The work regimes, each [from_ms, below_ms) (below_ms null: unbounded), in increasing order.
  std::optional<ErrorBand> in_regime;
  if (b.Has("regimes")) {
    const nlohmann::json& regimes = b.Array("regimes");
    double last_below_ms = 0;
    for (size_t i = 0; i < regimes.size(); ++i) {
      const std::string where = b.PathOf("regimes") + "[" + std::to_string(i) + "]";
      costmodel::JsonObject r(regimes[i], path, where);
      const double from_ms = r.Number("from_ms", 0, 1e9);
      const bool unbounded = r.Raw("below_ms").is_null();
      const double below_ms = unbounded ? 0 : r.Number("below_ms", from_ms, 1e9);
      if (!unbounded && below_ms <= from_ms) r.Fail("below_ms", "must be above from_ms");
      if (from_ms < last_below_ms) r.Fail("from_ms", "regimes must not overlap and must be in increasing order");
      if (unbounded && i + 1 != regimes.size()) r.Fail("below_ms", "only the last regime may be unbounded (null)");
      last_below_ms = unbounded ? 1e9 : below_ms;
      ErrorBand e = out;
      ReadBandFigures(r, e);
      r.Finish();
      const double x_ms = step_s_per_layer_pass * 1e3;
      if (step_s_per_layer_pass > 0 && x_ms >= from_ms && (unbounded || x_ms < below_ms)) {
        e.regime = true;
        e.regime_from_s = from_ms / 1e3;
        e.regime_below_s = unbounded ? 0 : below_ms / 1e3;
        in_regime = e;
      }
    }
  }
  b.Finish();
  if (!in_regime) return out;
  in_regime->layer_pass_s = step_s_per_layer_pass;
  if (in_regime->n < kMinRegimeRuns) {
    out.regime_too_thin = true;
    out.regime_n = in_regime->n;
    out.regime_from_s = in_regime->regime_from_s;
    out.regime_below_s = in_regime->regime_below_s;
    out.layer_pass_s = step_s_per_layer_pass;
    return out;
  }
  in_regime->generation_n = out.n;
  in_regime->generation_mape_pct = out.mape_pct;
  in_regime->generation_bias_pct = out.bias_pct;
  return in_regime;
}

std::string BeyondScoredScaleText(const ErrorBand& band, int64_t gpus) {
  if (band.max_gpus <= 0 || gpus <= band.max_gpus) return "";
  std::string text = std::to_string(gpus) + " GPUs, " +
                     Printf("%.1f", std::log2(static_cast<double>(gpus) / static_cast<double>(band.max_gpus))) +
                     " doublings past the largest scored " + band.generation + " run (" +
                     std::to_string(band.max_gpus) + " GPUs)";
  // The sources whose error grew with the job, least to most.
  std::vector<const ErrorBand::Trend*> losing;
  for (const ErrorBand::Trend& t : band.scale_trends) {
    if (t.median_slope_pct_per_doubling < 0) losing.push_back(&t);
  }
  std::sort(losing.begin(), losing.end(), [](const ErrorBand::Trend* a, const ErrorBand::Trend* b) {
    return a->median_slope_pct_per_doubling > b->median_slope_pct_per_doubling;
  });
  const auto points = [](const ErrorBand::Trend* t) { return Printf("%.1f", -t->median_slope_pct_per_doubling); };
  if (losing.empty()) {
    text += ": the band has not been measured this far";
  } else {
    text += ": at the same work per GPU, ";
    text += losing.size() == 1 ? losing.front()->source + "'s runs lost " + points(losing.front())
                               : "the scored runs lost " + points(losing.front()) + " (" + losing.front()->source +
                                     ") to " + points(losing.back()) + " (" + losing.back()->source + ")";
    text += " points of error per doubling of the GPUs beyond the model (accuracy's scale trend), so the band may be "
            "optimistic here";
  }
  return text;
}

nlohmann::json ErrorBandJson(const std::optional<ErrorBand>& band) {
  if (!band) return nullptr;
  nlohmann::json j = {{"generation", band->generation}, {"matched", band->why},       {"n", band->n},
                      {"mape_pct", band->mape_pct},     {"bias_pct", band->bias_pct}, {"worst_pct", band->worst_pct},
                      {"spread_pct", band->spread_pct}, {"source", band->source}};
  // One work regime's runs (the step per layer pass of the layout the band is for), the
  // generation's beside.
  if (band->regime) {
    j["regime"] = {{"from_ms", band->regime_from_s * 1e3},
                   {"below_ms", band->regime_below_s > 0 ? nlohmann::json(band->regime_below_s * 1e3) : nlohmann::json()},
                   {"ms_per_layer_pass", band->layer_pass_s * 1e3},
                   {"generation_n", band->generation_n},
                   {"generation_mape_pct", band->generation_mape_pct},
                   {"generation_bias_pct", band->generation_bias_pct}};
  } else if (band->regime_too_thin) {
    j["regime"] = {{"from_ms", band->regime_from_s * 1e3},
                   {"below_ms", band->regime_below_s > 0 ? nlohmann::json(band->regime_below_s * 1e3) : nlohmann::json()},
                   {"ms_per_layer_pass", band->layer_pass_s * 1e3},
                   {"n", band->regime_n},
                   {"too_few_runs", true}};
  }
  if (band->max_gpus > 0) j["max_gpus"] = band->max_gpus;
  if (!band->scale_trends.empty()) {
    nlohmann::json trends = nlohmann::json::array();
    for (const ErrorBand::Trend& t : band->scale_trends) {
      trends.push_back({{"source", t.source}, {"median_slope_pct_per_doubling", t.median_slope_pct_per_doubling}});
    }
    j["scale_trends"] = trends;
  }
  // The same runs with the shipped profile, where it was fitted on some of their sources.
  if (band->shipped_in_sample > 0) {
    j["shipped_profile"] = {{"n", band->shipped_n},
                            {"in_sample", band->shipped_in_sample},
                            {"mape_pct", band->shipped_mape_pct},
                            {"bias_pct", band->shipped_bias_pct},
                            {"worst_pct", band->shipped_worst_pct}};
  }
  return j;
}

ShownRow MakeShownRow(const Candidate& c, const sim::SimResult* sim, const costmodel::Workload& w) {
  const costmodel::Evaluation& e = c.eval;
  ShownRow r;
  r.layout = c.layout;
  r.grad_accum = e.grad_accum;
  r.peak_bytes = e.memory.peak_bytes;
  r.capacity_bytes = e.memory.capacity_bytes;
  r.reserved_total_bytes = e.memory.reserved_bytes + e.memory.overhead_bytes;
  r.mfu_causal = e.throughput.mfu_causal;
  if (sim != nullptr && sim->step_s > 0) {
    // As tools' ApplySimulation writes the JSON entry: the simulated step and its parts, tokens
    // over the simulated step, MFU scaled by analytical / simulated step.
    r.simulated = true;
    r.sim_peak_bytes = sim->peak_bytes;
    r.step_s = sim->step_s;
    r.exposed_tp_s = sim->exposed_tp_comm_s;
    r.exposed_fsdp_s = sim->exposed_fsdp_comm_s;
    r.exposed_dp_s = sim->exposed_dp_comm_s;
    r.exposed_cp_s = sim->exposed_cp_comm_s;
    r.exposed_ep_s = sim->exposed_ep_comm_s;
    r.pp_s = sim->bubble_s;  // the simulated bubble includes the send waits
    const double tokens = static_cast<double>(w.global_batch) * static_cast<double>(w.seq);
    r.tokens_per_s_per_gpu = tokens / (sim->step_s * static_cast<double>(w.gpus));
    r.mfu = e.throughput.mfu * (e.time.step_s / sim->step_s);
  } else {
    const auto& t = e.time;
    r.step_s = t.step_s;
    r.exposed_tp_s = t.exposed_tp_comm_s;
    r.exposed_fsdp_s = t.exposed_fsdp_comm_s;
    r.exposed_dp_s = t.exposed_dp_comm_s;
    r.exposed_cp_s = t.exposed_cp_comm_s;
    r.exposed_ep_s = t.exposed_ep_comm_s;
    r.pp_s = t.bubble_s + t.exposed_pp_comm_s;
    r.tokens_per_s_per_gpu = e.throughput.tokens_per_s_per_gpu;
    r.mfu = e.throughput.mfu;
  }
  return r;
}

TopList BuildTopList(const std::vector<ShownRow>& ranked, const TopListOptions& opt,
                     const std::optional<ErrorBand>& band) {
  TopList out;
  const double min_headroom = opt.min_headroom_gib * kGiB;
  for (const ShownRow& r : ranked) {
    if (opt.min_headroom_gib > 0 && r.headroom_bytes() < min_headroom) {
      ++out.below_headroom;
      continue;
    }
    if (!opt.show_variants) {
      auto twin = std::find_if(out.rows.begin(), out.rows.end(), [&](const ShownRow& k) {
        return Twins(k.layout, r.layout, false) || (Twins(k.layout, r.layout, true) && SameNumbers(k, r));
      });
      if (twin != out.rows.end()) {
        ShownRow v = r;
        v.variants.clear();
        twin->variants.push_back(std::move(v));
        ++out.folded;
        continue;
      }
    }
    if (out.rows.size() < opt.top) out.rows.push_back(r);
  }
  if (out.rows.empty()) return out;
  const double best = out.rows.front().step_s;
  for (ShownRow& r : out.rows) {
    r.tight = r.peak_bytes > kTightFraction * r.capacity_bytes;
    r.flushes = r.reserved_total_bytes > r.capacity_bytes;
    r.vs_best_pct = best > 0 ? 100.0 * (r.step_s - best) / best : 0.0;
    r.tie = band && &r != &out.rows.front() && r.vs_best_pct <= band->spread_pct;
  }
  if (out.rows.front().tight) {
    for (size_t i = 1; i < out.rows.size(); ++i) {
      if (!out.rows[i].tight) {
        out.roomy_alternative = i;
        break;
      }
    }
  }
  return out;
}

std::string VsBestText(const ShownRow& r) {
  return Printf("%+.1f%%", r.vs_best_pct) + (r.tie ? " tie" : "");
}

std::string FormatShownTable(const std::vector<ShownRow>& rows) {
  std::ostringstream os;
  char buf[640];
  // MFU's attention convention in its header: MFU_nc (non-causal, the default) or MFU_c.
  const bool causal = !rows.empty() && rows.front().mfu_causal;
  std::snprintf(buf, sizeof buf, "%-4s %-80s %9s %-3s %10s %9s %6s %8s %8s %5s %8s %8s %8s %8s %8s %s\n", "#",
                "layout", "step_ms", "by", "vs_best", "tok/s/gpu", causal ? "MFU_c" : "MFU_nc", "peak_GiB",
                "room_GiB", "accum", "tp_ms", "cp_ms", "fsdp_ms", "dp_ms", "pp_ms", "notes");
  os << buf;
  int i = 0;
  for (const ShownRow& r : rows) {
    ++i;
    std::string notes;
    // An MoE model's dispatch and combine: in the notes, so that a dense table keeps its columns.
    if (r.exposed_ep_s > 0) notes += "ep_ms " + Printf("%.1f", r.exposed_ep_s * 1e3);
    if (r.tight) notes += std::string(notes.empty() ? "" : "; ") + "tight memory";
    if (r.flushes) notes += std::string(notes.empty() ? "" : "; ") + "allocator cache flushes";
    // The two models' memory peaks disagree: say so rather than pick one silently.
    if (r.sim_peak_bytes > 0 && std::fabs(r.sim_peak_bytes - r.peak_bytes) > kGiB) {
      notes += std::string(notes.empty() ? "" : "; ") + "simulator peak " + Printf("%.1f", r.sim_peak_bytes / kGiB) +
               " GiB";
    }
    if (!r.variants.empty()) {
      notes += std::string(notes.empty() ? "" : "; ") + "+" + std::to_string(r.variants.size()) + " variant" +
               (r.variants.size() == 1 ? "" : "s");
    }
    std::snprintf(buf, sizeof buf,
                  "%-4d %-80s %9.1f %-3s %10s %9.0f %5.1f%% %8.1f %8.1f %5lld %8.1f %8.1f %8.1f %8.1f %8.1f %s\n", i,
                  costmodel::LayoutToText(r.layout).c_str(), r.step_s * 1e3, r.simulated ? "sim" : "ana",
                  i == 1 ? "best" : VsBestText(r).c_str(), r.tokens_per_s_per_gpu, 100 * r.mfu, r.peak_bytes / kGiB,
                  r.headroom_bytes() / kGiB, static_cast<long long>(r.grad_accum), r.exposed_tp_s * 1e3,
                  r.exposed_cp_s * 1e3, r.exposed_fsdp_s * 1e3, r.exposed_dp_s * 1e3, r.pp_s * 1e3, notes.c_str());
    std::string line = buf;
    while (line.size() > 1 && line[line.size() - 2] == ' ') line.erase(line.size() - 2, 1);  // no trailing blanks
    os << line;
  }
  return os.str();
}

std::string TableLegend(bool any_simulated, bool any_variants, const std::optional<ErrorBand>& band) {
  std::ostringstream os;
  os << "columns: step_ms is the step time the rows are ranked by; by: sim = discrete-event simulator, "
        "ana = analytical model";
  os << (any_simulated ? "" : " (none simulated)") << "; vs_best: step time against row 1";
  if (band) {
    os << ", \"tie\" within the " << Printf("%.1f", band->spread_pct) << "% spread of " << band->generation
       << " predictions" << (band->regime ? " in row 1's work regime" : "")
       << " around their bias (data/accuracy/error_bands.json)";
  }
  os << ";\n  peak_GiB / room_GiB: analytical peak memory per GPU and what is left of the usable memory"
        " (\"tight memory\" above " << Printf("%.0f", 100 * kTightFraction) << "% of it); accum: gradient"
        " accumulation steps (micro-batches per step per data-parallel rank);\n  tp_ms / fsdp_ms / dp_ms: exposed"
        " (not overlapped) tensor-parallel, FSDP/ZeRO gather+reduce-scatter and data-parallel (replicate)"
        " all-reduce time per step; cp_ms: context parallelism's key/value exchange not hidden behind"
        " attention; pp_ms: pipeline bubble and exposed stage-to-stage sends; MFU_nc / MFU_c: MFU with"
        " non-causal / causal attention FLOPs (--mfu-convention)\n";
  os << "  notes: \"simulator peak\" where the simulator's memory peak differs from the analytical one by more than"
        " 1 GiB (feasibility and room_GiB use the analytical peak); \"allocator cache flushes\" where PyTorch's"
        " caching allocator, with room, would reserve more than the usable memory: the layout fits because it"
        " returns its cache to the driver and retries, synchronising the device (not priced)\n";
  if (any_variants) {
    os << "  variants: rows differing only in recipe (or in a ZeRO stage that changes nothing) folded into the"
          " faster; --show-variants lists them\n";
  }
  return os.str();
}

std::string MfuConvention(const costmodel::Cluster& c, bool causal) {
  return std::string("model FLOPs (6 x params + ") + (causal ? "causal" : "non-causal") +
         " attention per token, recompute not counted) over the BF16 dense peak (" +
         Printf("%g", c.gpu.peak_tflops.bf16) + " TFLOPS per " + c.gpu.name + ")";
}

std::vector<std::string> SearchCaveats(const costmodel::Evaluator& ev, const SearchOptions& so) {
  std::vector<std::string> out;
  out.push_back("not searched: context parallelism below 4096 tokens per rank and its "
                "all_gather exchange, checkpointing of some layers, by op, by Megatron module or by micro-batch "
                "(ac_freq, recompute_num_layers, recompute=op, recompute_modules, partial_ckpt_mbs) (--layout prices "
                "them), activation offload "
                "other than the fewest layers that fit a layout short of memory without recompute, rank order other than pp-replicate-fsdp-cp-tp, "
                "NCCL settings");
  const costmodel::Model& m = ev.model();
  if (!m.moe.dense()) {
    const costmodel::Workload& w = ev.workload();
    std::string routing =
        w.moe_capacity_factor > 0
            ? "capacity factor " + Printf("%g", w.moe_capacity_factor) + (w.moe_pad_to_capacity ? ", padded" : "")
            : "dropless, busiest rank at " +
                  Printf("%g", w.moe_imbalance > 0 ? w.moe_imbalance : costmodel::kDefaultMoeImbalance) +
                  "x its even share" + (w.moe_imbalance > 0 ? "" : " (assumed: --moe-imbalance)");
    out.push_back("experts: " + routing + "; all-to-all dispatch and combine not overlapped with compute; "
                  "expert tensor parallelism = tp; a rank's experts " +
                  (w.moe_sequential ? std::string("one after another (SequentialMLP: no --moe-grouped-gemm)")
                                    : std::string("as one grouped GEMM")));
    if (so.max_ep == 1) out.push_back("expert parallelism left out (--max-ep 1)");
  }
  if (so.recipe) {
    out.push_back("recipe fixed to " + std::string(costmodel::ToString(*so.recipe)) +
                  (so.runs ? " (" + so.runs_framework + "'s)" : std::string(" by --recipe")));
  }
  if (so.runs) {
    const FrameworkLayouts& r = *so.runs;
    std::vector<std::string> left;
    if (!r.tp) left.push_back("tensor parallelism");
    if (r.tp && r.tp_needs_sp) left.push_back("TP without SP");
    if (r.tp && r.tp_without_sp) left.push_back("sequence parallelism");
    if (r.schedules.empty()) left.push_back("pipelines");
    for (auto s : {costmodel::Schedule::k1F1B, costmodel::Schedule::kInterleaved, costmodel::Schedule::kZeroBubble}) {
      if (!r.schedules.empty() && std::find(r.schedules.begin(), r.schedules.end(), s) == r.schedules.end()) {
        left.push_back("schedule=" + std::string(costmodel::ToString(s)));
      }
    }
    if (r.cp_comms.empty()) left.push_back("context parallelism");
    for (auto c : {costmodel::CpComm::kP2p, costmodel::CpComm::kAllGather, costmodel::CpComm::kA2a}) {
      if (!r.cp_comms.empty() && std::find(r.cp_comms.begin(), r.cp_comms.end(), c) == r.cp_comms.end()) {
        left.push_back("cp_comm=" + std::string(costmodel::ToString(c)));
      }
    }
    if (!r.ep && !ev.model().moe.dense()) left.push_back("expert parallelism");
    // Only what the search would otherwise have tried: the megatron recipe shards at ZeRO-1 only,
    // and with flash attention selective recompute is the same layout as none.
    const bool megatron = so.recipe == costmodel::Recipe::kMegatron;
    for (int z = 1; z <= (megatron ? 1 : 3); ++z) {
      if (std::find(r.zero.begin(), r.zero.end(), z) == r.zero.end()) left.push_back("zero=" + std::to_string(z));
    }
    if (r.hsdp_zero.empty()) {
      left.push_back("hybrid sharding (replicate beside fsdp)");
    } else {
      for (int z = 1; z <= (megatron ? 1 : 3); ++z) {
        const bool shards = std::find(r.zero.begin(), r.zero.end(), z) != r.zero.end();
        if (shards && std::find(r.hsdp_zero.begin(), r.hsdp_zero.end(), z) == r.hsdp_zero.end()) {
          left.push_back("hybrid sharding at zero=" + std::to_string(z));
        }
      }
    }
    if (!r.ddp_with_tp_or_pp) left.push_back("replication without sharding beside TP or PP");
    if (!r.tp_or_pp_unsharded) left.push_back("TP or PP with nothing sharded (fp32 there)");
    if (!r.ddp_or_one_device) left.push_back("DDP or one device (torch.autocast there)");
    if (!r.selective && !ev.workload().flash_attention) left.push_back("recompute=selective");
    if (!r.activation_offload && megatron && ev.cluster().node.host_GBps_per_gpu > 0) {
      left.push_back("activation offload");
    }
    std::string text;
    for (const auto& s : left) text += (text.empty() ? "" : ", ") + s;
    out.push_back("framework " + so.runs_framework + ": only the layouts it runs" +
                  (text.empty() ? std::string() : " (left out: " + text + ")") +
                  (r.listed ? "" : "; its file lists no layout limits (\"layouts\")"));
  }
  if (so.runs && !so.runs->unpriced.empty()) {
    std::string text;
    for (const auto& s : so.runs->unpriced) text += (text.empty() ? "" : "; ") + s;
    out.push_back("framework " + so.runs_framework + ", not priced as it runs: " + text);
  }
  if (!so.runs && !so.runs_framework.empty()) {
    out.push_back("framework " + so.runs_framework + ": layouts not limited to what it runs (--recipe " +
                  (so.recipe ? std::string(costmodel::ToString(*so.recipe)) : std::string("?")) + " is not its recipe)");
  }
  if (so.max_pp == 1) out.push_back("pipelines left out (--max-pp 1)");
  if (so.max_cp == 1) out.push_back("context parallelism left out (--max-cp 1)");
  if (so.max_tp > 0) out.push_back("tensor parallelism at most " + std::to_string(so.max_tp) + " (--max-tp)");
  const costmodel::Workload& w = ev.workload();
  if (w.precision == costmodel::Precision::kFp8) {
    const bool torchao = costmodel::TorchaoFp8(w.fp8_recipe);
    out.push_back(std::string("precision: fp8 linear layers (") +
                  (torchao ? std::string("torchao's Float8Linear, ") +
                                 (w.fp8_recipe == costmodel::Fp8Recipe::kTorchaoTensorwise ? "tensorwise"
                                  : w.fp8_recipe == costmodel::Fp8Recipe::kTorchaoRowwise
                                      ? "rowwise: gathers in bf16, the forward GEMM at the tensorwise kernel's rate"
                                      : "rowwise_with_gw_hp: gathers in bf16, the weight gradient in bf16") +
                                 " scaling"
                           : std::string("TransformerEngine ") +
                                 (w.fp8_recipe == costmodel::Fp8Recipe::kTeTensorwise ? "per-tensor current" : "delayed") +
                                 " scaling") +
                  (w.fp8_param_gather ? ", fp8 parameter gather" : "") + "); attention and the head in bf16");
  }
  const bool cudnn = w.te_attention && costmodel::IsHopperGpu(ev.cluster().gpu.name);
  out.push_back(std::string("attention: ") +
                (cudnn ? "TransformerEngine's fused attention (cuDNN's kernel, priced at 1.58-1.81x FlashAttention-2: "
                         "NVIDIA's cudnn-frontend benchmark on GH100)"
                 : w.flash_attention ? "FlashAttention-" + std::to_string(w.flash_version)
                                     : std::string("unfused")) +
                (w.te_attention && !cudnn ? " (TransformerEngine's fused attention: cuDNN's kernel, not measured on "
                                            "this GPU: priced as FlashAttention-" + std::to_string(w.flash_version) + ")"
                                          : "") +
                "; elementwise ops " + (w.eager_elementwise ? "eager" : "fused") + "; gradients reduced in " +
                std::string(costmodel::ToString(w.reduce_dtype)));
  if (w.dp_reduce_after_backward || w.dp_gather_after_step) {
    // DeepSpeed's engine; Megatron-LM without its overlap flags (Workload::dp_reduce_after_backward).
    std::string outside = w.dp_reduce_after_backward ? "the gradient reduction after the backward" : "";
    if (w.dp_gather_after_step) {
      outside += std::string(outside.empty() ? "" : ", ") + "ZeRO-1's parameter all-gather before the forward";
    }
    out.push_back("data-parallel traffic outside the passes, none of it hidden: " + outside);
  }
  const costmodel::Cluster& c = ev.cluster();
  if (!c.defaulted.empty()) {
    std::string fields;
    for (const std::string& f : c.defaulted) fields += (fields.empty() ? "" : ", ") + f;
    out.push_back("cluster " + c.name + " leaves out " + fields + ": DGX H100 defaults used (data/clusters/README.md)");
  }
  if (c.node.intra.topology != costmodel::IntraTopology::kNvSwitch) {
    out.push_back("no NVSwitch (" + std::string(costmodel::ToString(c.node.intra.topology)) +
                  "): groups wider than the NVLink domain ring over PCIe");
  }
  if (!w.allow_cross_node_tp) {
    out.push_back("tensor parallelism inside one NVLink domain of " + std::to_string(ev.cluster().node.gpus_per_node) +
                  " GPUs");
  }
  return out;
}

namespace {
void WriteCaveats(std::ostringstream& os, const std::vector<std::string>& caveats) {
  for (size_t i = 0; i < caveats.size(); ++i) {
    os << (i == 0 ? "  caveats          " : "                   ") << caveats[i] << "\n";
  }
}
}  // namespace

std::string FormatSummary(const costmodel::Evaluator& ev, const TopList& list, const SummaryInputs& in) {
  std::ostringstream os;
  os << "summary\n";
  if (list.rows.empty()) {
    os << "  no feasible layout (see the reasons below)\n";
    // What the search left out may be why (a --framework's limits, --max-pp 1, ...).
    WriteCaveats(os, in.caveats);
    return os.str();
  }
  const ShownRow& b = list.rows.front();
  os << "  recommended      " << costmodel::LayoutToText(b.layout) << "\n";
  os << "  step time        " << Printf("%.1f", b.step_s * 1e3) << " ms ("
     << (b.simulated ? "discrete-event simulator" : "analytical model") << "), grad accumulation " << b.grad_accum
     << "\n";
  os << "  throughput       " << Printf("%.0f", b.tokens_per_s_per_gpu) << " tokens/s/GPU, MFU "
     << Printf("%.1f%%", 100 * b.mfu) << " (" << MfuConvention(ev.cluster(), b.mfu_causal) << ")\n";
  os << "  memory           peak " << Printf("%.1f", b.peak_bytes / kGiB) << " of "
     << Printf("%.1f", b.capacity_bytes / kGiB) << " GiB usable, " << Printf("%.1f", b.headroom_bytes() / kGiB)
     << " GiB headroom";
  if (b.tight) {
    os << " - tight: above " << Printf("%.0f", 100 * kTightFraction) << "% of usable memory";
    if (list.roomy_alternative) {
      const ShownRow& a = list.rows[*list.roomy_alternative];
      os << "; row " << *list.roomy_alternative + 1 << " (" << costmodel::LayoutToText(a.layout) << ") leaves "
         << Printf("%.1f", a.headroom_bytes() / kGiB) << " GiB at " << Printf("%+.1f%%", a.vs_best_pct);
    }
  }
  os << "\n";
  os << "  calibration      " << (in.calibration.empty() ? "none" : in.calibration) << " (" << in.calibration_why
     << ")\n";
  if (in.band) {
    const ErrorBand& e = *in.band;
    const auto regime_words = [](double from_s, double below_s) {
      if (below_s <= 0) return Printf("%.0f ms or more", from_s * 1e3);
      if (from_s <= 0) return Printf("under %.0f ms", below_s * 1e3);
      return Printf("%.0f", from_s * 1e3) + Printf("-%.0f ms", below_s * 1e3);
    };
    os << "  error band       " << e.generation << ", " << e.n << " published runs predicted out of sample";
    if (e.regime) {
      os << " at " << regime_words(e.regime_from_s, e.regime_below_s) << " per layer pass (row 1: "
         << LayerPassMsText(e.layer_pass_s) << " ms, its step over its busiest stage's layers x micro-batches)";
    }
    os << ": " << Printf("%.1f%%", e.mape_pct) << " off on average, bias " << Printf("%+.1f%%", e.bias_pct)
       << " (negative: predicted faster than measured), worst " << Printf("%+.1f%%", e.worst_pct) << "\n";
    if (e.regime) {
      os << "                   all " << e.generation_n << " " << e.generation << " runs: "
         << Printf("%.1f%%", e.generation_mape_pct) << " off, bias " << Printf("%+.1f%%", e.generation_bias_pct)
         << " (the error depends on the work per layer pass: data/accuracy/README.md)\n";
    } else if (e.regime_too_thin) {
      os << "                   only " << e.regime_n << " of them at " << regime_words(e.regime_from_s, e.regime_below_s)
         << " per layer pass like row 1 (" << LayerPassMsText(e.layer_pass_s)
         << " ms): too few for a band of their own, the generation's stands\n";
    }
    if (e.shipped_in_sample > 0) {
      os << "                   with the shipped profile, fitted on kernel measurements of the source of "
         << e.shipped_in_sample << " of these runs (in-sample for them): " << Printf("%.1f%%", e.shipped_mape_pct)
         << " off, bias " << Printf("%+.1f%%", e.shipped_bias_pct) << ", worst "
         << Printf("%+.1f%%", e.shipped_worst_pct) << "\n";
    }
    if (!list.rows.empty()) {
      const std::string beyond = BeyondScoredScaleText(e, list.rows.front().layout.gpus());
      if (!beyond.empty()) os << "                   row 1 runs on " << beyond << "\n";
    }
    os << "                   rows within " << Printf("%.1f%%", e.spread_pct)
       << " of row 1 (the spread of those errors around their bias) are ties (data/accuracy/error_bands.json)";
    if (e.why.find(" is " + e.generation) == std::string::npos) os << "; " << e.why;
    os << "\n";
  } else {
    os << "  error band       none for " << ev.cluster().gpu.name
       << ": no out-of-sample accuracy records for this GPU (data/accuracy/error_bands.json); ties not marked\n";
  }
  int ties = 0;
  for (const ShownRow& r : list.rows) ties += r.tie ? 1 : 0;
  if (ties > 0) {
    os << "  ties             " << ties << " of the other rows are within the band of row 1: the model cannot rank "
       << "them against it\n";
  }
  WriteCaveats(os, in.caveats);
  return os.str();
}

}  // namespace meshplan::plans
