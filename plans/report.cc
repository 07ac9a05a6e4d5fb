#include "plans/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "costmodel/compute.h"
#include "costmodel/context.h"
#include "costmodel/error.h"
#include "costmodel/experts.h"
#include "costmodel/json_reader.h"
#include "costmodel/kernels.h"
#include "costmodel/memory.h"
#include "costmodel/params.h"
#include "costmodel/pipeline.h"
#include "costmodel/spec_io.h"

#ifndef MESHPLAN_VERSION
#error "MESHPLAN_VERSION must be defined by the build"
#endif

namespace meshplan::plans {
using costmodel::kGiB;
using nlohmann::json;

std::string ToolVersion() { return std::string("meshplan ") + MESHPLAN_VERSION; }

json InputsJson(const costmodel::Evaluator& ev, const std::optional<std::string>& calibration) {
  const auto& m = ev.model();
  const auto& w = ev.workload();
  json model = costmodel::ToJson(m);
  model["params"] = costmodel::CountParams(m).total;
  json cluster = costmodel::ToJson(ev.cluster());
  json in;
  in["model"] = model;
  in["cluster"] = cluster;
  in["gpus"] = w.gpus;
  in["global_batch"] = w.global_batch;
  in["seq"] = w.seq;
  in["flash_attention"] = w.flash_attention;
  in["flash_version"] = w.flash_version;
  in["eager_elementwise"] = w.eager_elementwise;
  if (!w.fsdp2_copies) in["fsdp2_copies"] = false;  // FSDP1 (--fsdp1)
  // The framework's switches that are on (specs.h kWorkloadSwitches).
  costmodel::WriteWorkloadSwitches(w, in);
  in["reduce_dtype"] = costmodel::ToString(w.reduce_dtype);
  in["precision"] = costmodel::ToString(w.precision);
  if (w.precision == costmodel::Precision::kFp8) {
    in["fp8_recipe"] = costmodel::ToString(w.fp8_recipe);
    in["fp8_param_gather"] = w.fp8_param_gather;
  }
  in["mfu_convention"] = costmodel::MfuConventionName(w.mfu_causal);
  if (!m.moe.dense()) {
    // How the experts' tokens were routed (experts.h): capacity factor 0 is dropless.
    in["moe_capacity_factor"] = w.moe_capacity_factor;
    in["moe_pad_to_capacity"] = w.moe_pad_to_capacity;
    in["moe_imbalance"] = w.moe_imbalance > 0 ? w.moe_imbalance : costmodel::kDefaultMoeImbalance;
  }
  const std::string& applied = ev.cluster().calibration;
  in["calibration"] = calibration ? json(*calibration) : applied.empty() ? json(nullptr) : json(applied);
  return in;
}

double FsdpLatencyShare(const costmodel::Evaluation& e) {
  return e.fsdp_comm_s > 0 ? e.fsdp_latency_s / e.fsdp_comm_s : 0.0;
}

json StagesJson(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                const costmodel::Evaluation& e) {
  json out = json::array();
  costmodel::StageSplit split;
  std::string why;
  if (!costmodel::SplitLayers(l, ev.model().layers, split, &why)) return out;
  const double micro = e.parts.micro_batches;
  const int64_t mi = static_cast<int64_t>(std::ceil(micro));
  const costmodel::PipelineParts& pp = e.pipe;
  for (int64_t r = 0; r < l.pp; ++r) {
    const costmodel::StageCost& k = r == 0 ? pp.first : r == l.pp - 1 ? pp.last : pp.middle;
    const double in_flight = costmodel::InFlightMicroBatches(l.schedule, l.pp, l.vpp, mi, r);
    const double kept_whole = costmodel::PartialCheckpointInFlight(l, mi, r);  // replays interleaved
    const costmodel::MemoryBreakdown mem = costmodel::EstimateStageMemory(
        ev.model(), ev.cluster(), ev.workload(), l,
        costmodel::StageShape{split.LayersOf(r, l.pp), r == 0, r == l.pp - 1, in_flight, split.FirstLayerOf(r, l.pp),
                              nullptr, kept_whole});
    const double busy = micro * k.total_s();
    out.push_back({{"stage", r},
                   {"layers", split.LayersOf(r, l.pp)},
                   {"embedding", r == 0},
                   {"head", r == l.pp - 1},
                   {"micro_batches_in_flight", in_flight},
                   {"peak_bytes", mem.peak_bytes},
                   {"allocated_bytes", mem.allocated_bytes},
                   {"reserved_bytes", mem.reserved_bytes},
                   {"activations_bytes", mem.activations_bytes},
                   {"compute_s", micro * k.compute_s},
                   {"busy_s", busy},
                   {"bubble_s", std::max(0.0, pp.makespan_s - busy)},
                   {"dp_tail_s", k.tail_s}});
    if (l.partial_ckpt_mbs > 0) {
      // Micro-batch-level recompute: of those in flight, the most kept whole at once.
      out.back()["micro_batches_kept_whole"] = kept_whole;
      out.back()["recompute_skipped_share"] = costmodel::PartialCheckpointShare(l, mi, r);
    }
  }
  return out;
}

json TimeBreakdownJson(const costmodel::TimeBreakdown& t) {
  return {{"step_s", t.step_s},
          {"compute_s", t.compute_s},
          {"exposed_tp_comm_s", t.exposed_tp_comm_s},
          {"exposed_fsdp_comm_s", t.exposed_fsdp_comm_s},
          {"exposed_dp_comm_s", t.exposed_dp_comm_s},
          {"exposed_pp_comm_s", t.exposed_pp_comm_s},
          {"exposed_cp_comm_s", t.exposed_cp_comm_s},
          {"exposed_ep_comm_s", t.exposed_ep_comm_s},
          {"optimizer_s", t.optimizer_s},
          {"bubble_s", t.bubble_s},
          {"gemm_efficiency", t.gemm_efficiency}};
}

json LayoutEntryJson(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                     const costmodel::Evaluation& e) {
  json j;
  json lj = costmodel::ToJson(l);
  lj["grad_accum"] = e.grad_accum;
  j["layout"] = lj;
  j["layout_text"] = costmodel::LayoutToText(l);
  j["feasible"] = e.feasible();
  j["reasons"] = ev.Reasons(l, e);
  json codes = json::array();
  for (int b = 0; b < costmodel::kNumReasonCodes; ++b) {
    if (e.reasons & (1u << b)) codes.push_back(costmodel::ReasonCodeName(b));
  }
  j["reason_codes"] = codes;
  const auto& mem = e.memory;
  j["memory"] = {{"params_bytes", mem.params_bytes},
                 {"grads_bytes", mem.grads_bytes},
                 {"optimizer_bytes", mem.optimizer_bytes},
                 {"activations_bytes", mem.activations_bytes},
                 {"activations_per_layer_bytes", mem.activations_per_layer_bytes},
                 {"transient_bytes", mem.transient_bytes},
                 {"overhead_bytes", mem.overhead_bytes},
                 {"allocated_bytes", mem.allocated_bytes},
                 {"reserved_bytes", mem.reserved_bytes},
                 {"peak_bytes", mem.peak_bytes},
                 {"capacity_bytes", mem.capacity_bytes}};
  if (mem.host_bytes > 0) {
    // Activation offload: the offloaded layers' saved tensors in host memory, and the node's
    // system memory per GPU (0: the cluster does not say, not checked).
    j["memory"]["host_bytes"] = mem.host_bytes;
    j["memory"]["host_capacity_bytes"] = mem.host_capacity_bytes;
  }
  const auto& t = e.time;
  j["time"] = TimeBreakdownJson(t);
  // Activation offload's copies not hidden (inside compute_s): only where the layout offloads.
  if (l.cpu_offload_layers > 0) j["time"]["exposed_offload_s"] = t.exposed_offload_s;
  // FSDP2's copies (inside compute_s): only where the layout runs them.
  if (t.fsdp_copies_s > 0) j["time"]["fsdp_copies_s"] = t.fsdp_copies_s;
  j["throughput"] = {{"tokens_per_s_per_gpu", e.throughput.tokens_per_s_per_gpu},
                     {"mfu", e.throughput.mfu},
                     {"hfu", e.throughput.hfu},
                     {"mfu_convention", costmodel::MfuConventionName(e.throughput.mfu_causal)}};
  if (e.throughput.fp8_peak_utilization > 0) {
    j["throughput"]["fp8_peak_utilization"] = e.throughput.fp8_peak_utilization;
  }
  j["per_layer"] = {{"forward_s", e.layer_forward_s}, {"backward_s", e.layer_backward_s}};
  j["fsdp_comm"] = {{"total_s", e.fsdp_comm_s},
                    {"latency_s", e.fsdp_latency_s},
                    {"latency_share", FsdpLatencyShare(e)}};
  json colls = json::array();
  for (int i = 0; i < e.num_collectives; ++i) {
    const auto& u = e.collectives[static_cast<size_t>(i)];
    colls.push_back({{"op", costmodel::ToString(u.op)},
                     {"purpose", costmodel::ToString(u.purpose)},
                     {"ranks", u.group.ranks},
                     {"nodes", u.group.nodes},
                     {"bytes", u.bytes},
                     {"algorithm", costmodel::ToString(u.cost.algo)},
                     {"protocol", costmodel::ToString(u.cost.proto)},
                     {"latency_s", u.cost.latency_s},
                     {"bandwidth_s", u.cost.bandwidth_s},
                     {"time_s", u.cost.time_s},
                     {"intra_node_hops", u.cost.intra_steps},
                     {"inter_node_hops", u.cost.inter_steps},
                     {"count_per_step", u.count_per_step}});
  }
  j["collectives"] = colls;
  if (l.pp > 1) j["stages"] = StagesJson(ev, l, e);
  return j;
}

json ReportSkeleton(const std::string& command, const costmodel::Evaluator& ev,
                    const std::optional<std::string>& calibration) {
  json r;
  r["schema_version"] = kReportSchemaVersion;
  r["tool"] = ToolVersion();
  r["command"] = command;
  r["inputs"] = InputsJson(ev, calibration);
  return r;
}

json SearchJson(const SearchResult& r, bool with_timing) {
  json by_reason = json::object();
  for (int b = 0; b < costmodel::kNumReasonCodes; ++b) {
    if (r.infeasible_by_reason[static_cast<size_t>(b)] > 0) {
      by_reason[std::string(costmodel::ReasonCodeName(b))] =
          r.infeasible_by_reason[static_cast<size_t>(b)];
    }
  }
  json j = {{"evaluated", r.evaluated}, {"feasible", r.feasible}, {"infeasible_by_reason", by_reason}};
  if (with_timing) j["seconds"] = r.seconds;
  return j;
}

namespace {

void CheckFinite(const json& j, const std::string& path) {
  if (j.is_number_float()) {
    if (!std::isfinite(j.get<double>())) {
      throw Error(path, "is not a finite number (internal error; nothing was written)",
                  ErrorKind::kRuntime);
    }
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) CheckFinite(*it, path + "." + it.key());
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) CheckFinite(j[i], path + "[" + std::to_string(i) + "]");
  }
}

std::string Printf(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Ms(double s) { return Printf("%.1f", s * 1e3); }

}  // namespace

costmodel::Evaluation ReadReportFirstLayout(const json& report, const std::string& origin,
                                            std::string& layout_text) {
  costmodel::JsonObject top(report, origin, "");
  const int64_t v = top.Int("schema_version", 1);
  if (v > kReportSchemaVersion) {
    top.Fail("schema_version", "is " + std::to_string(v) + " but this meshplan reads reports up to " +
                                   std::to_string(kReportSchemaVersion) + "; upgrade meshplan");
  }
  const json& layouts = top.Array("layouts");
  if (layouts.empty()) top.Fail("layouts", "is empty");
  costmodel::JsonObject o(layouts[0], origin, "layouts[0]");
  layout_text = o.String("layout_text");
  costmodel::Evaluation e;
  costmodel::JsonObject t = o.Object("time");
  e.time.step_s = t.Number("step_s", 0, 1e12);
  e.time.compute_s = t.Number("compute_s", 0, 1e12);
  e.time.exposed_tp_comm_s = t.Number("exposed_tp_comm_s", 0, 1e12);
  e.time.exposed_fsdp_comm_s = t.Number("exposed_fsdp_comm_s", 0, 1e12);
  e.time.exposed_dp_comm_s = t.Number("exposed_dp_comm_s", 0, 1e12);
  e.time.optimizer_s = t.Number("optimizer_s", 0, 1e12);
  if (t.Has("exposed_cp_comm_s")) e.time.exposed_cp_comm_s = t.Number("exposed_cp_comm_s", 0, 1e12);
  if (t.Has("exposed_ep_comm_s")) e.time.exposed_ep_comm_s = t.Number("exposed_ep_comm_s", 0, 1e12);
  if (t.Has("exposed_offload_s")) e.time.exposed_offload_s = t.Number("exposed_offload_s", 0, 1e12);
  if (t.Has("fsdp_copies_s")) e.time.fsdp_copies_s = t.Number("fsdp_copies_s", 0, 1e12);
  if (t.Has("bubble_s")) e.time.bubble_s = t.Number("bubble_s", 0, 1e12);
  if (t.Has("exposed_pp_comm_s")) e.time.exposed_pp_comm_s = t.Number("exposed_pp_comm_s", 0, 1e12);
  e.time.gemm_efficiency = t.Number("gemm_efficiency", 0, 1);
  costmodel::JsonObject m = o.Object("memory");
  e.memory.peak_bytes = m.Number("peak_bytes", 0, 1e18);
  // Report files written before the allocated / reserved split do not carry them.
  if (m.Has("allocated_bytes")) e.memory.allocated_bytes = m.Number("allocated_bytes", 0, 1e18);
  if (m.Has("reserved_bytes")) e.memory.reserved_bytes = m.Number("reserved_bytes", 0, 1e18);
  costmodel::JsonObject th = o.Object("throughput");
  e.throughput.tokens_per_s_per_gpu = th.Number("tokens_per_s_per_gpu", 0, 1e15);
  e.throughput.mfu = th.Number("mfu", 0, 10);
  // Reports before the convention was written counted attention non-causally.
  if (th.Has("mfu_convention")) {
    e.throughput.mfu_causal = th.Enum("mfu_convention", {"causal", "noncausal"}) == "causal";
  }
  return e;
}

std::string DumpReport(const json& report) {
  CheckFinite(report, "report");
  // Names taken from file paths may be invalid UTF-8: replace those bytes (U+FFFD), never throw.
  return report.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string FormatBreakdown(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                            const costmodel::Evaluation& e) {
  std::ostringstream os;
  const auto& w = ev.workload();
  if (e.grad_accum > 0) {
    os << "layout   " << costmodel::LayoutToText(l) << "  (grad_accum " << e.grad_accum << ")\n";
  } else {
    // The batch does not divide over the data-parallel ranks (reasons below): the step is still
    // priced, at the batch's share of micro-batches rounded as it runs (evaluate.cc).
    os << "layout   " << costmodel::LayoutToText(l)
       << "  (no grad_accum: the global batch does not divide into its micro-batches; the step below prices "
       << "the batch's share of micro-batches per rank, a what-if)\n";
  }
  if (l.pp > 1 && l.zero == 3 && l.shard() > 1 && l.recipe == costmodel::Recipe::kFsdp2) {
    // evaluate.cc prices FSDP under a pipeline as torchtitan's default (reshard_after_forward
    // "never" when pp is enabled): parameters gathered once per step and kept across the stage's
    // micro-batches, which is zero=2's cost; say so rather than print zero=3 beside it.
    os << "note     under pipeline parallelism zero=3 is priced as torchtitan's default (fsdp_reshard_after_forward "
          "\"never\" with pp): a stage's parameters stay gathered across its micro-batches, as zero=2\n";
  }
  os << "model    " << ev.model().name << ", cluster " << ev.cluster().name << ", " << w.gpus
     << " GPUs, global batch " << w.global_batch << " x " << w.seq << " tokens\n";
  if (e.feasible()) {
    os << "feasible yes\n";
  } else {
    os << "feasible NO\n";
    for (const auto& r : ev.Reasons(l, e)) os << "  - " << r << "\n";
  }
  const auto& t = e.time;
  os << "\nstep time               " << Ms(t.step_s) << " ms\n";
  os << "  compute               " << Ms(t.compute_s) << " ms  (GEMM efficiency "
     << Printf("%.1f%%", 100 * t.gemm_efficiency);
  // The GEMMs are priced held at the power limit where the cluster or its profile says how much
  // of their burst rate a long chain keeps (efficiency.gemm_sustained_fraction): say so.
  if (const double f = ev.cluster().efficiency.gemm_sustained_fraction; f < 1.0) {
    os << Printf(", held at the power limit: %.3f of the burst rate", f);
  }
  // ... and at the pace of the job's slowest GPU where the GPUs' spread is measured (compute.h
  // SlowestGpuFraction, as the evaluator priced it).
  if (const double s = ev.compute().slowest_gpu; s < 1.0) {
    os << "; the slowest of " << w.gpus << " GPUs: " << Printf("%.3f", s) << " of the median GPU's rate";
  }
  os << ")\n";
  // FlashAttention is priced at its tiling's share of the long-sequence rate (compute.h): say
  // how much at this sequence and CP scheme.
  if (w.flash_attention) {
    os << "  attention             FlashAttention-" << w.flash_version
       << Printf(" at %.3f of its long-sequence rate", costmodel::CpFlashTileEfficiency(w, l)) << " (" << w.seq
       << " causal tokens in 128-token tiles"
       << (l.cp > 1 ? ", " + std::string(costmodel::ToString(l.cp_comm)) + " over cp " + std::to_string(l.cp) +
                          (costmodel::CpRunsPyTorch(w, l)
                               ? " as PyTorch's context_parallel runs it (ring steps, fp32 merges and dK,dV)"
                               : " as TransformerEngine runs it")
                    : std::string())
       << ")";
    const double head_share = costmodel::FlashHeadDimShare(ev.model(), w);
    if (head_share < 1.0) {
      const int64_t d = ev.model().head_dim;
      os << "; head dim " << d << " runs its " << costmodel::FlashKernelHeadDim(d) << " kernel ("
         << Printf("%.3f", head_share) << " of its work counted)";
    }
    if (w.te_attention) {
      if (costmodel::IsHopperGpu(ev.cluster().gpu.name)) {
        os << "; TransformerEngine's fused attention: cuDNN's kernel at " << Printf("%.2f", costmodel::TeFusedAttentionSpeed(w, l))
           << "x that (NVIDIA's cudnn-frontend benchmark on GH100)";
      } else {
        os << "; TransformerEngine's fused attention (cuDNN's kernel) is not measured on this GPU: priced as FlashAttention";
      }
    }
    os << "\n";
  }
  os << "  exposed TP comm       " << Ms(t.exposed_tp_comm_s) << " ms\n";
  os << "  exposed FSDP comm     " << Ms(t.exposed_fsdp_comm_s) << " ms\n";
  os << "  exposed DP comm       " << Ms(t.exposed_dp_comm_s) << " ms";
  if (l.pp > 1 && e.pipe.tied_grad_s > 0) {
    os << "  (" << Ms(e.pipe.tied_grad_s) << " ms the tied embedding's gradient all-reduce between the "
       << "first and last stage, after the data-parallel reduction)";
  }
  os << "\n";
  if (t.fsdp_copies_s > 0 && w.fsdp2_copies) {
    os << "  FSDP2 copies          " << Ms(t.fsdp_copies_s) << " ms  (in compute: each all-gather copied out into "
       << "the parameters, each reduce-scatter's input packed from the gradients)\n";
  } else if (t.fsdp_copies_s > 0) {
    os << "  FSDP1 gradient cat    " << Ms(t.fsdp_copies_s) << " ms  (in compute: autograd concatenates each unit's "
       << "parameter gradients into its flat gradient)\n";
  }
  if (w.bias_grad_reduce) {
    // The biased linears' bias-gradient reductions (kernels.cc bias_grad), inside each layer's
    // backward above: one layer and micro-batch's worth.
    const costmodel::LayerKernels lk = costmodel::LayerKernelsFor(ev.model(), w, l);
    if (const costmodel::MemoryKernel* b = lk.MemoryNamed("bias_grad")) {
      os << "  bias gradients        "
         << Printf("%.3f", b->backward_count * costmodel::MemoryBoundTime(ev.compute(), b->backward_bytes) * 1e3)
         << " ms per layer per micro-batch  (in the backward: " << b->backward_count
         << " biased linears each sum their output gradient over the tokens in a kernel of its own, the "
            "framework's workload.bias_grad reduce)\n";
    }
  }
  if (l.cp > 1) {
    os << "  exposed CP comm       " << Ms(t.exposed_cp_comm_s) << " ms  (cp " << l.cp << ", "
       << costmodel::ToString(l.cp_comm) << (l.cp_balance ? ", causal load balancing" : ", no load balancing")
       << ")\n";
  }
  if (!ev.model().moe.dense()) {
    const costmodel::MoeRouting route = costmodel::RouteTokens(ev.model(), ev.workload(), l);
    os << "  exposed EP comm       " << Ms(t.exposed_ep_comm_s) << " ms  (ep " << l.ep << ": "
       << route.local_experts << (route.local_experts == 1 ? " expert" : " experts") << " per rank, "
       << route.rows_per_expert << " rows per expert GEMM, dispatch and combine blocking)\n";
  }
  if (l.cpu_offload_layers > 0) {
    os << "  exposed offload       " << Ms(t.exposed_offload_s) << " ms  (in compute: activations of "
       << l.cpu_offload_layers << " layers to the host and back at " << ev.cluster().node.host_GBps_per_gpu
       << " GB/s, hidden behind the neighbouring layers)\n";
  }
  os << "  optimizer             " << Ms(t.optimizer_s) << " ms";
  if (w.optimizer_per_op) {
    const costmodel::PrecisionPolicy bytes = costmodel::PrecisionOf(w);
    os << "  (Adam one op at a time, the framework's workload.optimizer per_op: "
       << Printf("%.0f", costmodel::OptimizerStepBytesPerParam(l.recipe, bytes, true))
       << " B per local parameter through HBM, a fused Adam's "
       << Printf("%.0f", costmodel::OptimizerStepBytesPerParam(l.recipe, bytes, false)) << ")";
  }
  os << "\n";
  os << "  pipeline bubble       " << Ms(t.bubble_s) << " ms\n";
  if (l.pp > 1) {
    const auto& pp = e.pipe;
    os << "  exposed PP send/recv  " << Ms(t.exposed_pp_comm_s) << " ms  ("
       << Printf("%.3f", pp.p2p_s * 1e3) << " ms per send of "
       << Printf("%.1f", pp.p2p_bytes / 1048576.0) << " MiB, "
       << (!pp.inter_node ? "inside a node" : !pp.intra_node ? "between nodes" : "inside a node; ");
    if (pp.inter_node && pp.intra_node) {
      int64_t crossing = 0;
      for (int64_t hop = 0; hop + 1 < l.pp; ++hop) {
        crossing += costmodel::PipelineHopCrossesNode(hop, l.pp, pp.stage_stride, pp.gpus_per_node) ? 1 : 0;
      }
      os << Printf("%.3f", pp.p2p_inter_s * 1e3) << " ms between nodes, at " << crossing << " of the "
         << l.pp - 1 << " stage boundaries";
    }
    if (pp.gather_s > 0) {
      os << ", then " << Printf("%.3f", pp.gather_s * 1e3) << " ms to all-gather it over TP (the framework's "
         << "workload.pp_scatter_gather on: 1/" << l.tp << " of the activation sent without sequence parallelism)";
    }
    if (pp.blocking) {
      os << "; blocking: each exchange holds both ranks until its sends and receives are done, then "
            "synchronizes the device (the framework's workload."
         << (l.schedule == costmodel::Schedule::k1F1B ? "pp_p2p" : "pp_p2p_interleaved") << " blocking)";
    }
    os << ")\n";
    os << "pipeline " << l.pp << " stages x " << l.vpp << " chunks, " << costmodel::ToString(l.schedule)
       << ", " << Printf("%.0f", e.parts.micro_batches) << " micro-batches: per micro-batch first stage "
       << Printf("%.1f", pp.first.total_s() * 1e3) << " ms (" << pp.first.layers << " layers, "
       << Printf("%.1f", pp.first.peak_bytes / costmodel::kGiB) << " GiB), last "
       << Printf("%.1f", pp.last.total_s() * 1e3) << " ms (" << pp.last.layers << " layers + head, "
       << Printf("%.1f", pp.last.peak_bytes / costmodel::kGiB) << " GiB)\n";
    if (l.partial_ckpt_mbs > 0) {
      const int64_t mi = static_cast<int64_t>(std::ceil(e.parts.micro_batches));
      os << "micro-batch-level recompute: " << l.partial_ckpt_mbs
         << " per window keep all activations; stage 0 skips recompute on "
         << Printf("%.0f%%", 100 * costmodel::PartialCheckpointShare(l, mi, 0)) << " of its micro-batches (every stage "
         << "is priced at that share), the last stage on "
         << Printf("%.0f%%", 100 * costmodel::PartialCheckpointShare(l, mi, l.pp - 1)) << "\n";
    }
  }
  os << "per layer, per micro-batch: forward " << Printf("%.3f", e.layer_forward_s * 1e3)
     << " ms, backward " << Printf("%.3f", e.layer_backward_s * 1e3) << " ms\n";
  os << "throughput " << Printf("%.0f", e.throughput.tokens_per_s_per_gpu)
     << " tokens/s/GPU, MFU " << Printf("%.1f%%", 100 * e.throughput.mfu) << " ("
     << costmodel::MfuConventionName(e.throughput.mfu_causal) << " attention FLOPs";
  if (e.throughput.fp8_peak_utilization > 0) {
    os << "; of the BF16 dense peak; of the FP8 peak "
       << Printf("%.1f%%", 100 * e.throughput.fp8_peak_utilization);
  }
  os << "), HFU " << Printf("%.1f%%", 100 * e.throughput.hfu) << " (FLOPs executed, recompute included)\n";
  const auto& m = e.memory;
  os << "\nmemory per GPU          GiB\n";
  os << "  params                " << Printf("%7.2f", m.params_bytes / kGiB) << "\n";
  os << "  grads                 " << Printf("%7.2f", m.grads_bytes / kGiB) << "\n";
  os << "  optimizer             " << Printf("%7.2f", m.optimizer_bytes / kGiB) << "\n";
  os << "  activations           " << Printf("%7.2f", m.activations_bytes / kGiB) << "  ("
     << Printf("%.3f", m.activations_per_layer_bytes / kGiB) << " per layer)\n";
  os << "  transient             " << Printf("%7.2f", m.transient_bytes / kGiB) << "\n";
  os << "  overhead              " << Printf("%7.2f", m.overhead_bytes / kGiB)
     << "  (CUDA context, NCCL)\n";
  os << "  peak                  " << Printf("%7.2f", m.peak_bytes / kGiB) << "  of "
     << Printf("%.2f", m.capacity_bytes / kGiB) << " usable\n";
  if (m.host_bytes > 0) {
    os << "  host (offloaded)      " << Printf("%7.2f", m.host_bytes / kGiB) << "  of "
       << (m.host_capacity_bytes > 0 ? Printf("%.2f", m.host_capacity_bytes / kGiB) + " per GPU (node.host_gib_per_gpu)"
                                     : std::string("? (the cluster gives no node.host_gib_per_gpu, not checked)"))
       << "\n";
  }
  os << "  as PyTorch reports it: allocated " << Printf("%.2f", m.allocated_bytes / kGiB)
     << ", reserved " << Printf("%.2f", m.reserved_bytes / kGiB)
     << " (its cache, released before an out-of-memory, does not count against the peak)\n";
  if (e.num_collectives > 0) {
    os << "\ncollectives (per call)\n";
    os << "  op              purpose            ranks nodes        bytes  algo/proto    "
          "latency_us   bw_us   count/step\n";
    for (int i = 0; i < e.num_collectives; ++i) {
      const auto& u = e.collectives[static_cast<size_t>(i)];
      char buf[256];
      std::snprintf(buf, sizeof buf, "  %-15s %-18s %5lld %5lld %12.4g  %-5s/%-7s %10.1f %8.1f %10.0f\n",
                    std::string(costmodel::ToString(u.op)).c_str(),
                    std::string(costmodel::ToString(u.purpose)).c_str(),
                    static_cast<long long>(u.group.ranks), static_cast<long long>(u.group.nodes),
                    u.bytes, std::string(costmodel::ToString(u.cost.algo)).c_str(),
                    std::string(costmodel::ToString(u.cost.proto)).c_str(), u.cost.latency_s * 1e6,
                    u.cost.bandwidth_s * 1e6, u.count_per_step);
      os << buf;
    }
  }
  if (e.fsdp_comm_s > 0) {
    os << "FSDP communication per step " << Ms(e.fsdp_comm_s) << " ms, of which latency "
       << Printf("%.0f%%", 100 * FsdpLatencyShare(e)) << "\n";
  }
  return os.str();
}

std::string FormatDelta(const costmodel::Evaluation& a, const costmodel::Evaluation& b) {
  struct Term {
    const char* name;
    double delta;
  };
  const auto& ta = a.time;
  const auto& tb = b.time;
  std::vector<Term> terms = {{"compute", tb.compute_s - ta.compute_s},
                             {"exposed TP comm", tb.exposed_tp_comm_s - ta.exposed_tp_comm_s},
                             {"exposed FSDP comm", tb.exposed_fsdp_comm_s - ta.exposed_fsdp_comm_s},
                             {"exposed DP comm", tb.exposed_dp_comm_s - ta.exposed_dp_comm_s},
                             {"exposed CP comm", tb.exposed_cp_comm_s - ta.exposed_cp_comm_s},
                             {"exposed EP comm", tb.exposed_ep_comm_s - ta.exposed_ep_comm_s},
                             {"optimizer", tb.optimizer_s - ta.optimizer_s}};
  std::stable_sort(terms.begin(), terms.end(), [](const Term& x, const Term& y) {
    return std::fabs(x.delta) > std::fabs(y.delta);
  });
  const double d = tb.step_s - ta.step_s;
  std::string out = "step " + Printf("%+.1f", d * 1e3) + " ms (" +
                    Printf("%+.1f%%", ta.step_s > 0 ? 100 * d / ta.step_s : 0.0) + ")";
  int shown = 0;
  for (const auto& t : terms) {
    if (std::fabs(t.delta) < 0.05e-3 || shown == 3) continue;
    out += (shown == 0 ? ": " : ", ") + std::string(t.name) + " " + Printf("%+.1f", t.delta * 1e3) + " ms";
    ++shown;
  }
  const double dm = b.memory.peak_bytes - a.memory.peak_bytes;
  if (std::fabs(dm) >= 0.05 * kGiB) out += "; peak memory " + Printf("%+.1f", dm / kGiB) + " GiB";
  return out;
}

std::string FormatTable(const std::vector<Candidate>& rows) {
  std::ostringstream os;
  char buf[512];
  // The MFU column names its convention (causal or not): every row shares the workload's.
  const bool causal = !rows.empty() && rows.front().eval.throughput.mfu_causal;
  // The layout column is 80 wide, wider when a layout's text is (context-parallel keys).
  int width = 80;
  for (const auto& c : rows) width = std::max(width, static_cast<int>(costmodel::LayoutToText(c.layout).size()));
  std::snprintf(buf, sizeof buf, "%-4s %-*s %9s %9s %6s %8s %8s %8s %8s %8s %8s\n", "#", width, "layout",
                "step_ms", "tok/s/gpu", causal ? "MFU_c" : "MFU_nc", "peak_GiB", "tp_ms", "fsdp_ms",
                "dp_ms", "pp_ms", "cp_ms");
  os << buf;
  int i = 0;
  for (const auto& c : rows) {
    const auto& t = c.eval.time;
    // pp_ms: the pipeline's bubble and its exposed stage-to-stage sends.
    std::snprintf(buf, sizeof buf, "%-4d %-*s %9.1f %9.0f %5.1f%% %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f\n", ++i,
                  width, costmodel::LayoutToText(c.layout).c_str(), t.step_s * 1e3,
                  c.eval.throughput.tokens_per_s_per_gpu, 100 * c.eval.throughput.mfu,
                  c.eval.memory.peak_bytes / kGiB, t.exposed_tp_comm_s * 1e3,
                  t.exposed_fsdp_comm_s * 1e3, t.exposed_dp_comm_s * 1e3,
                  (t.bubble_s + t.exposed_pp_comm_s) * 1e3, t.exposed_cp_comm_s * 1e3);
    os << buf;
  }
  return os.str();
}

}  // namespace meshplan::plans
