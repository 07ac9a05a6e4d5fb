// meshplan accuracy: score meshplan's predictions against measurements.
//   --nccl-tests LOG... --cluster C: every row of published nccl-tests logs with the collective
//     model (time per row, MAPE per log and overall); uncalibrated unless --calibration.
//   --reference FILE: every record of a published-measurements file (data/reference/ format),
//     mapped by the rules of plans/reference.h, each predicted with the shipped calibration
//     profile of its cluster (or --calibration P, or none with --no-calibration) by the
//     analytical evaluator; prints each record's errors, then n, MAPE, signed mean error (bias)
//     and worst case per quantity, per source, per GPU generation and per calibration profile,
//     counts skips by reason and the assumptions made for what records leave out. Records whose
//     source's kernel-level records went into the profile are labelled in-sample; with
//     --leave-source-out they are scored with the profile refitted without that source
//     (tools/shipped_fits.h) instead: accuracy out of sample.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <memory>

#include <nlohmann/json.hpp>

#include "costmodel/calibration.h"
#include "costmodel/collectives.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/nccl_tests.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/answer.h"
#include "plans/framework.h"
#include "plans/reference.h"
#include "plans/report.h"
#include "tools/cli_common.h"
#include "tools/inputs.h"
#include "tools/shipped_fits.h"

namespace meshplan::tools {
namespace {
using nlohmann::json;

struct AccuracyOptions {
  std::vector<std::string> logs;
  std::vector<std::string> references;  // --reference, repeatable
  std::string cluster;
  std::string json_path;
  std::string calibration;
  bool no_calibration = false;
  bool leave_source_out = false;
  std::string framework;
  std::string error_bands_path;  // --error-bands: the per-GPU step-time bands plan reads
};

/// Percentage errors per key, summarised as {n, mape_pct, max_pct, bias_pct, worst_pct}: the
/// mean absolute error, the largest absolute one, the signed mean (bias: negative means
/// predictions are optimistic, faster than measured) and the signed error of the worst case.
class ErrorTable {
 public:
  void Add(const std::string& key, double error_pct) {
    Acc& a = acc_[key];
    a.n += 1;
    a.sum += std::fabs(error_pct);
    a.signed_sum += error_pct;
    a.values.push_back(error_pct);
    if (std::fabs(error_pct) > a.max) {
      a.max = std::fabs(error_pct);
      a.worst = error_pct;
    }
  }
  json ToJson() const {
    json out = json::object();
    for (const auto& [k, a] : acc_) {
      const double n = static_cast<double>(a.n);
      out[k] = {{"n", a.n}, {"mape_pct", a.sum / n}, {"max_pct", a.max}, {"bias_pct", a.signed_sum / n},
                {"worst_pct", a.worst}, {"spread_pct", a.Spread()}};
    }
    return out;
  }
  void Print(const std::string& indent) const {
    for (const auto& [k, a] : acc_) {
      const double n = static_cast<double>(a.n);
      std::printf("%s%-22s n=%-4lld MAPE %6.1f%%  bias %+7.1f%%  worst %+7.1f%%\n", indent.c_str(), k.c_str(),
                  static_cast<long long>(a.n), a.sum / n, a.signed_sum / n, a.worst);
    }
  }
  bool empty() const { return acc_.empty(); }
  /// The summary of one key (n = 0 when it has none).
  json Of(const std::string& key) const {
    const json all = ToJson();
    return all.contains(key) ? all[key] : json(nullptr);
  }

 private:
  struct Acc {
    int64_t n = 0;
    double sum = 0, signed_sum = 0, max = 0, worst = 0;
    std::vector<double> values;
    /// Mean absolute deviation of the signed errors around their mean (the bias): how far two
    /// predictions that share the bias can still be off against each other.
    double Spread() const {
      const double mean = signed_sum / static_cast<double>(n);
      double dev = 0;
      for (double v : values) dev += std::fabs(v - mean);
      return dev / static_cast<double>(n);
    }
  };
  std::map<std::string, Acc> acc_;
};

struct Group {
  int64_t scored = 0, skipped = 0, in_sample = 0;
  // Measured runs whose layout the evaluator calls infeasible (a run that was timed fitted), by
  // reason code: errors of the model, the memory model's most often.
  int64_t ran_but_rejected = 0;
  std::map<std::string, int64_t> rejected_by_code;
  ErrorTable quantities;
  std::map<std::string, int64_t> skipped_by_reason;
  json ToJson() const {
    return {{"scored", scored},
            {"skipped", skipped},
            {"in_sample", in_sample},
            {"skipped_by_reason", skipped_by_reason},
            {"ran_but_rejected", ran_but_rejected},
            {"ran_but_rejected_by_code", rejected_by_code},
            {"per_quantity", quantities.ToJson()}};
  }
  void RanButRejected(const std::vector<std::string>& codes) {
    ++ran_but_rejected;
    for (const std::string& c : codes) ++rejected_by_code[c];
  }
  void Skip(const std::string& reason) {
    ++skipped;
    ++skipped_by_reason[reason];
  }
};

// A source's step times are split into a rate and a fixed cost only from this many records on.
constexpr size_t kMinResidualRows = 10;

struct Summary {
  int64_t scored = 0, skipped = 0, in_sample = 0;
  int64_t ran_but_rejected = 0;  // measured runs whose layout the model rejects, all sources
  ErrorTable per_quantity;
  std::map<std::string, Group> per_source, per_gpu, per_calibration;
  std::map<std::string, int64_t> skipped_by_reason, assumptions;
  // --leave-source-out: each GPU generation's errors with the shipped profiles themselves (a
  // refit record's in-sample error, any other record's error), and how many step times were refit.
  std::map<std::string, Group> shipped_per_gpu;
  // The same two, step times only, per GPU generation and work regime (plans::LayerPassRegime of
  // the predicted step per layer pass): the bands plan reads for a layout in that regime.
  std::map<std::string, std::map<int, Group>> per_gpu_regime, shipped_per_gpu_regime;
  // Step times per source and GPU generation, for the residual split (a diagnostic).
  std::map<std::string, std::vector<plans::StepResidual>> residuals;
  // Step times per source and GPU generation, keyed by the run's layout features
  // (LayoutFeatures): where in a source the error lives (its FP8 runs, its context-parallel ones).
  std::map<std::string, ErrorTable> step_by_source_features;
  // End-to-end step times per (source, GPU generation) with their work per GPU, for the scale
  // trend (a diagnostic: plans::FitScaleTrend).
  std::map<std::pair<std::string, std::string>, std::vector<plans::ScaledStep>> scaled_steps;
  std::map<std::string, int64_t> max_gpus_per_gpu;  // the largest scored end-to-end run per generation
  // Each GPU generation's sources with a scale trend (source, median slope), for the bands.
  std::map<std::string, std::vector<std::pair<std::string, plans::ScaleTrend>>> trends_per_gpu;
};

/// A run's layout features: its precision, then each parallel dimension beyond TP, FSDP and data
/// parallelism it uses: "BF16", "FP8+CP", "BF16+PP+CP+EP".
std::string LayoutFeatures(const costmodel::Workload& w, const costmodel::Layout& l) {
  std::string s = w.precision == costmodel::Precision::kFp8 ? "FP8" : "BF16";
  if (l.pp > 1) s += "+PP";
  if (l.cp > 1) s += "+CP";
  if (l.ep > 1) s += "+EP";
  return s;
}

/// What two runs share when they differ only in how many data-parallel ranks run the same work
/// per GPU (plans::ScaledStep::work): the cluster, the model, the sequence, the precision, the
/// layout but for its FSDP and replication degrees, and the micro-batches per step.
std::string WorkPerGpu(const plans::ReferenceRecord& r) {
  costmodel::Layout per_gpu = r.layout;
  per_gpu.fsdp = 1;
  per_gpu.replicate = 1;
  const int64_t per_rank = r.layout.mbs * r.layout.dp();
  const int64_t micro = per_rank > 0 && r.workload.global_batch % per_rank == 0 ? r.workload.global_batch / per_rank : -1;
  std::string w = r.cluster_name + "|" + r.model.name + "|seq " + std::to_string(r.workload.seq) + "|" +
                  std::string(costmodel::ToString(r.workload.precision));
  if (r.workload.precision == costmodel::Precision::kFp8) w += " " + std::string(costmodel::ToString(r.workload.fp8_recipe));
  return w + "|" + costmodel::LayoutToText(per_gpu) + "|micro-batches " + std::to_string(micro);
}

void ScoreNcclLogs(const AccuracyOptions& o, json& records, Summary& sum, json& inputs) {
  const costmodel::Cluster cluster = ResolveCalibratedCluster(o.cluster, o.calibration);
  double sum_all = 0, max_all = 0;
  int64_t n_all = 0;
  std::printf("%-52s %-14s %5s %5s %5s %9s %9s\n", "log", "op", "ranks", "nodes", "rows", "MAPE_%", "max_%");
  const std::string calib = cluster.calibration.empty() ? "none" : cluster.calibration;
  for (const auto& path : o.logs) {
    const NcclLogSamples log = LoadNcclTestsLog(path, cluster);
    json rec = {{"id", log.name}, {"op", costmodel::ToString(log.op)}, {"source", log.name},
                {"calibration", cluster.calibration.empty() ? json(nullptr) : json(cluster.calibration)}};
    if (!log.skip_reason.empty()) {
      rec["status"] = "skipped";
      rec["reason"] = log.skip_reason;
      records.push_back(rec);
      ++sum.skipped;
      ++sum.skipped_by_reason[log.skip_reason];
      sum.per_source[log.name].Skip(log.skip_reason);
      std::printf("%-52s %-14s skipped: %s\n", OneLineMessage(log.name).c_str(),
                  std::string(costmodel::ToString(log.op)).c_str(), OneLineMessage(log.skip_reason).c_str());
      continue;
    }
    json rows = json::array();
    double total = 0, worst = 0;
    for (const auto& s : log.samples) {
      const costmodel::CollectiveCost c = costmodel::PredictCollectiveCost(cluster, s);
      const double err = 100.0 * (c.time_s - s.time_s) / s.time_s;
      total += std::fabs(err);
      worst = std::max(worst, std::fabs(err));
      sum.per_quantity.Add("collective_time_s", err);
      sum.per_source[log.name].quantities.Add("collective_time_s", err);
      sum.per_calibration[calib].quantities.Add("collective_time_s", err);
      rows.push_back({{"bytes", s.bytes},
                      {"quantities", {{"collective_time_s", {{"measured", s.time_s}, {"predicted", c.time_s}, {"error_pct", err}}}}},
                      {"algorithm", costmodel::ToString(c.algo)},
                      {"protocol", costmodel::ToString(c.proto)}});
    }
    const double mape = log.samples.empty() ? 0.0 : total / static_cast<double>(log.samples.size());
    rec["status"] = "scored";
    rec["reason"] = "";
    rec["ranks"] = log.ranks;
    rec["nodes"] = log.nodes;
    rec["rows"] = rows;
    rec["mape_pct"] = mape;
    rec["max_pct"] = worst;
    records.push_back(rec);
    ++sum.scored;
    ++sum.per_source[log.name].scored;
    ++sum.per_calibration[calib].scored;
    sum_all += total;
    n_all += static_cast<int64_t>(log.samples.size());
    max_all = std::max(max_all, worst);
    std::printf("%-52s %-14s %5lld %5lld %5zu %9.1f %9.1f\n", OneLineMessage(log.name).c_str(),
                std::string(costmodel::ToString(log.op)).c_str(), static_cast<long long>(log.ranks),
                static_cast<long long>(log.nodes), log.samples.size(), mape, worst);
  }
  const double mape_all = n_all > 0 ? sum_all / static_cast<double>(n_all) : 0.0;
  const std::string model_desc = cluster.calibration.empty()
                                     ? "uncalibrated " + cluster.name + " model"
                                     : cluster.name + " model, calibration '" + cluster.calibration + "'";
  std::printf("collective_time_s: %lld rows, MAPE %.1f%%, worst %.1f%% (%s)\n",
              static_cast<long long>(n_all), mape_all, max_all, model_desc.c_str());
  inputs["cluster"] = cluster.name;
  inputs["nccl_tests"] = o.logs;
  inputs["calibration"] = cluster.calibration.empty() ? json(nullptr) : json(cluster.calibration);
}

/// Profiles read once per run: the shipped profile of each cluster, and each profile by name.
struct ProfileCache {
  std::map<std::string, std::string> shipped_for;  // cluster name -> profile name ("" for none)
  std::map<std::string, costmodel::CalibrationProfile> by_name;
};

/// The cluster a reference record is predicted on: its own, calibrated by rule.
/// Returns "" and sets `reason` when a forced profile does not apply to it.
costmodel::Cluster CalibratedFor(const plans::ReferenceRecord& r, const AccuracyOptions& o,
                                 ProfileCache& cache, std::string& reason) {
  costmodel::Cluster c = r.cluster;
  if (o.no_calibration) return c;
  std::string name = o.calibration;
  if (name.empty()) {
    auto s = cache.shipped_for.find(r.cluster_name);
    if (s == cache.shipped_for.end()) {
      s = cache.shipped_for.emplace(r.cluster_name, costmodel::ShippedCalibrationFor(r.cluster_name)).first;
    }
    name = s->second;
  }
  if (name.empty()) return c;
  auto it = cache.by_name.find(name);
  if (it == cache.by_name.end()) {
    it = cache.by_name.emplace(name, costmodel::ResolveCalibration(name, "--calibration")).first;
  }
  const auto& clusters = it->second.clusters;
  if (std::find(clusters.begin(), clusters.end(), c.name) == clusters.end()) {
    reason = "calibration '" + it->second.name + "' does not apply to cluster " + c.name;
    return c;
  }
  costmodel::ApplyCalibration(it->second, c, "--calibration");
  return c;
}

/// The shipped fits by profile name, built once: which sources' kernel-level records shaped
/// each profile, and the refits without one of them.
class Provenance {
 public:
  explicit Provenance(bool needed) {
    if (!needed) return;
    for (ShippedFit& f : ReadShippedFits()) {
      const std::string name = f.name;
      fitters_.emplace(name, std::make_unique<ShippedFitter>(std::move(f)));
    }
  }
  bool empty() const { return fitters_.empty(); }
  /// The fitter of the profile a cluster was calibrated with, or null (none, or not shipped).
  ShippedFitter* For(const costmodel::Cluster& c) {
    const auto it = fitters_.find(c.calibration);
    return it == fitters_.end() ? nullptr : it->second.get();
  }

 private:
  std::map<std::string, std::unique_ptr<ShippedFitter>> fitters_;
};

void ScoreReference(const AccuracyOptions& o, json& records, Summary& sum, json& inputs) {
  if (!o.framework.empty()) plans::ResolveFramework(o.framework, "--framework");  // must exist
  std::vector<plans::ReferenceRecord> mapped;
  for (const std::string& path : o.references) {
    const std::string text = costmodel::ReadFileText(path, "--reference");
    std::vector<plans::ReferenceRecord> one = plans::MapReferenceFile(text, path, o.framework);
    mapped.insert(mapped.end(), std::make_move_iterator(one.begin()), std::make_move_iterator(one.end()));
  }
  ProfileCache cache;
  Provenance provenance(!o.no_calibration);
  if (o.leave_source_out && provenance.empty()) {
    throw Error("--leave-source-out", "no shipped fit inputs to refit from (data/calibration/inputs/shipped.json)");
  }
  std::printf("%-62s %-8s %-22s %12s %12s %8s\n", "record", "status", "quantity", "measured", "predicted", "error_%");
  for (const plans::ReferenceRecord& r : mapped) {
    json rec = {{"id", r.id}, {"kind", r.kind}, {"source", r.source}};
    std::string reason = r.skip_reason;
    costmodel::Cluster cluster;
    if (reason.empty()) cluster = CalibratedFor(r, o, cache, reason);
    if (!reason.empty()) {
      rec["status"] = "skipped";
      rec["reason"] = reason;
      rec["calibration"] = nullptr;
      records.push_back(rec);
      ++sum.skipped;
      ++sum.skipped_by_reason[reason];
      sum.per_source[r.source].Skip(reason);
      if (!r.gpu_generation.empty()) sum.per_gpu[r.gpu_generation].Skip(reason);
      std::printf("%-62s %-8s %s\n", OneLineMessage(r.id).c_str(), "skipped", OneLineMessage(reason).c_str());
      continue;
    }
    // In sample: the profile was fitted on this source's kernel-level records. Out of sample
    // with --leave-source-out: refit without them.
    json in_sample = nullptr;
    std::optional<costmodel::Cluster> shipped;  // the shipped profile, where a refit replaced it
    if (ShippedFitter* fitter = provenance.For(cluster)) {
      const bool shaped = fitter->sources().count(r.source) > 0;
      if (shaped && o.leave_source_out) {
        shipped = cluster;
        cluster = r.cluster;
        costmodel::ApplyCalibration(fitter->FitWithout(r.source), cluster, "--leave-source-out");
        in_sample = false;
      } else {
        in_sample = shaped;
      }
    } else if (cluster.calibration.empty()) {
      in_sample = false;  // the uncalibrated model
    }
    const std::string calib = cluster.calibration.empty() ? "none" : cluster.calibration;
    const bool is_in_sample = in_sample.is_boolean() && in_sample.get<bool>();
    json quantities = json::object();
    Group& with_shipped = sum.shipped_per_gpu[r.gpu_generation];
    const std::vector<plans::ScoredQuantity> scored = plans::PredictRecord(r, cluster);
    const std::string source_on_gpu = r.source + " on " + r.gpu_generation;  // residuals, features
    // A step time's work regime: its predicted step per layer pass (the regime a layout planned
    // with the same prediction reads its band from). The shipped profile's figures for the same
    // runs are grouped by the same regime.
    int regime = -1;
    for (const plans::ScoredQuantity& q : scored) {
      if (q.quantity == "step_time_s" && q.layer_passes > 0) regime = plans::LayerPassRegime(q.predicted / q.layer_passes);
    }
    const auto regime_group = [&](std::map<std::string, std::map<int, Group>>& by,
                                  const plans::ScoredQuantity& q) -> Group* {
      if (q.quantity != "step_time_s" || regime < 0) return nullptr;
      return &by[r.gpu_generation][regime];
    };
    if (shipped) {
      for (const plans::ScoredQuantity& q : plans::PredictRecord(r, *shipped)) {
        with_shipped.quantities.Add(q.quantity, q.error_pct);
        if (q.quantity == "step_time_s") ++with_shipped.in_sample;  // the bands' quantity
        if (Group* g = regime_group(sum.shipped_per_gpu_regime, q)) {
          g->quantities.Add(q.quantity, q.error_pct);
          ++g->in_sample;
        }
      }
    }
    for (const plans::ScoredQuantity& q : scored) {
      if (!shipped) {
        with_shipped.quantities.Add(q.quantity, q.error_pct);
        if (Group* g = regime_group(sum.shipped_per_gpu_regime, q)) g->quantities.Add(q.quantity, q.error_pct);
      }
      if (Group* g = regime_group(sum.per_gpu_regime, q)) g->quantities.Add(q.quantity, q.error_pct);
      quantities[q.quantity] = {{"measured", q.measured}, {"predicted", q.predicted}, {"error_pct", q.error_pct}};
      if (q.layer_passes > 0) quantities[q.quantity]["layer_passes"] = q.layer_passes;
      if (q.memory.capacity_bytes > 0) {
        // The layout's memory as the evaluator sees it: allocated, reserved (with the caching
        // allocator's gap, what a roomy GPU shows), the peak that has to fit, the usable capacity.
        quantities[q.quantity]["predicted_memory_gib"] = {
            {"allocated", q.memory.allocated_bytes / costmodel::kGiB},
            {"reserved", q.memory.reserved_bytes / costmodel::kGiB},
            {"peak", q.memory.peak_bytes / costmodel::kGiB},
            {"capacity", q.memory.capacity_bytes / costmodel::kGiB}};
      }
      if (q.time.step_s > 0) {
        // Where the predicted step goes, to read the error against (a diagnostic: the same
        // names as simulate's time; collectives_s: each purpose's calls, hidden or not).
        json pt = plans::TimeBreakdownJson(q.time);
        pt["fsdp_copies_s"] = q.time.fsdp_copies_s;
        pt["collectives_s"] = q.collective_s.empty() ? json::object() : json(q.collective_s);
        quantities[q.quantity]["predicted_time"] = std::move(pt);
      }
      if (!q.infeasible.empty()) {
        // The sentences carry the record's own figures; the summary counts their codes.
        quantities[q.quantity]["predicted_rejections"] = q.infeasible;
        quantities[q.quantity]["predicted_rejection_codes"] = q.rejection_codes;
        sum.per_source[r.source].RanButRejected(q.rejection_codes);
        sum.per_gpu[r.gpu_generation].RanButRejected(q.rejection_codes);
        sum.per_calibration[calib].RanButRejected(q.rejection_codes);
        ++sum.ran_but_rejected;
        std::printf("%-62s %-8s %s\n", OneLineMessage(r.id).c_str(), "ran", "but the model rejects its layout:");
        for (const std::string& why : q.infeasible) std::printf("%-62s %-8s   %s\n", "", "", OneLineMessage(why).c_str());
      }
      sum.per_quantity.Add(q.quantity, q.error_pct);
      sum.per_source[r.source].quantities.Add(q.quantity, q.error_pct);
      sum.per_gpu[r.gpu_generation].quantities.Add(q.quantity, q.error_pct);
      sum.per_calibration[calib].quantities.Add(q.quantity, q.error_pct);
      if (q.layer_passes > 0) sum.residuals[source_on_gpu].push_back({q.predicted, q.measured, q.layer_passes});
      if (q.quantity == "step_time_s" && r.kind == "end_to_end") {
        sum.step_by_source_features[source_on_gpu].Add(LayoutFeatures(r.workload, r.layout), q.error_pct);
        sum.scaled_steps[{r.source, r.gpu_generation}].push_back({WorkPerGpu(r), r.layout.gpus(), q.error_pct});
        int64_t& most = sum.max_gpus_per_gpu[r.gpu_generation];
        most = std::max(most, r.layout.gpus());
      }
      std::printf("%-62s %-8s %-22s %12.5g %12.5g %+8.1f\n", OneLineMessage(r.id).c_str(), "scored", q.quantity.c_str(),
                  q.measured, q.predicted, q.error_pct);
    }
    rec["status"] = "scored";
    rec["reason"] = "";
    rec["cluster"] = r.cluster_name;
    rec["gpu"] = r.gpu_generation;
    rec["calibration"] = cluster.calibration.empty() ? json(nullptr) : json(cluster.calibration);
    rec["in_sample"] = in_sample;
    rec["framework"] = r.framework.empty() ? json(nullptr) : json(r.framework);
    rec["assumptions"] = r.assumptions;
    rec["notes"] = r.notes;
    rec["quantities"] = quantities;
    if (r.kind == "end_to_end" || r.kind == "per_layer") {
      rec["layout_text"] = costmodel::LayoutToText(r.layout);
      rec["flop_convention"] = plans::ToString(r.convention);
    }
    records.push_back(rec);
    for (const std::string& a : r.assumptions) ++sum.assumptions[a];
    ++sum.scored;
    ++sum.per_source[r.source].scored;
    ++sum.per_gpu[r.gpu_generation].scored;
    ++sum.per_calibration[calib].scored;
    if (is_in_sample) {
      ++sum.in_sample;
      ++sum.per_source[r.source].in_sample;
      ++sum.per_gpu[r.gpu_generation].in_sample;
      ++sum.per_calibration[calib].in_sample;
    }
  }
  inputs["reference"] = o.references.size() == 1 ? json(o.references.front()) : json(o.references);
  inputs["calibration"] = o.no_calibration ? json("none") : o.calibration.empty() ? json("shipped profile per cluster") : json(o.calibration);
  inputs["leave_source_out"] = o.leave_source_out;
  inputs["framework"] = o.framework.empty() ? json("as each record names or its source implies") : json(o.framework);
  inputs["predictor"] = "analytical evaluator (costmodel/evaluate.h)";
}

/// "name: 12 scored (3 in-sample), 4 skipped" and its table, skips by reason under it.
void PrintGroup(const std::string& name, const Group& g) {
  std::printf("  %s: %lld scored", OneLineMessage(name).c_str(), static_cast<long long>(g.scored));
  if (g.in_sample > 0) std::printf(" (%lld in-sample)", static_cast<long long>(g.in_sample));
  std::printf(", %lld skipped\n", static_cast<long long>(g.skipped));
  g.quantities.Print("    ");
  if (g.ran_but_rejected > 0) {
    std::printf("    %lld measured runs whose layout the model rejects (an error of the model):\n",
                static_cast<long long>(g.ran_but_rejected));
    for (const auto& [reason, n] : g.rejected_by_code) {
      std::printf("      %4lld  %s\n", static_cast<long long>(n), OneLineMessage(reason).c_str());
    }
  }
  for (const auto& [reason, n] : g.skipped_by_reason) {
    std::printf("    skipped %4lld  %s\n", static_cast<long long>(n), OneLineMessage(reason).c_str());
  }
}

/// "under 4 ms", "4-16 ms", "16+ ms": a work regime of plans::kLayerPassRegimeEdgesS.
std::string RegimeName(int i) {
  const auto ms = [](double s) { return std::to_string(static_cast<int>(std::lround(s * 1e3))); };
  if (i == 0) return "under " + ms(plans::kLayerPassRegimeEdgesS[0]) + " ms";
  if (i + 1 == plans::kLayerPassRegimes) return ms(plans::kLayerPassRegimeEdgesS[i - 1]) + "+ ms";
  return ms(plans::kLayerPassRegimeEdgesS[i - 1]) + "-" + ms(plans::kLayerPassRegimeEdgesS[i]) + " ms";
}

void RunAccuracy(const AccuracyOptions& o) {
  if (o.logs.empty() && o.references.empty()) {
    throw Error("accuracy", "give --nccl-tests LOG... (with --cluster) or --reference FILE");
  }
  if (!o.logs.empty() && o.cluster.empty()) throw Error("--cluster", "required with --nccl-tests");
  if (o.no_calibration && !o.calibration.empty()) {
    throw Error("--no-calibration", "cannot be combined with --calibration");
  }
  if (!o.error_bands_path.empty() && !o.leave_source_out) {
    throw Error("--error-bands", "needs --leave-source-out: the bands plan prints must be out of sample");
  }
  if (o.leave_source_out && (o.no_calibration || !o.calibration.empty() || o.references.empty())) {
    throw Error("--leave-source-out", "refits the shipped profiles: use it with --reference alone, not with "
                                      "--calibration or --no-calibration");
  }
  json records = json::array();
  json inputs = json::object();
  Summary sum;
  if (!o.logs.empty()) ScoreNcclLogs(o, records, sum, inputs);
  if (!o.references.empty()) ScoreReference(o, records, sum, inputs);

  std::printf("\nscored %lld (%lld in-sample: their source's kernel-level records shaped the profile), skipped %lld\n",
              static_cast<long long>(sum.scored), static_cast<long long>(sum.in_sample),
              static_cast<long long>(sum.skipped));
  if (sum.ran_but_rejected > 0) {
    std::printf("%lld measured runs whose layout the model rejects (an error of the model; per source below)\n",
                static_cast<long long>(sum.ran_but_rejected));
  }
  std::printf("per quantity:\n");
  sum.per_quantity.Print("  ");
  std::printf("per source:\n");
  for (const auto& [name, g] : sum.per_source) PrintGroup(name, g);
  if (!sum.per_gpu.empty()) std::printf("per GPU generation:\n");
  for (const auto& [name, g] : sum.per_gpu) PrintGroup(name, g);
  if (!sum.per_gpu_regime.empty()) {
    std::printf("step times per GPU generation and work regime (predicted step per layer pass):\n");
  }
  for (const auto& [name, by] : sum.per_gpu_regime) {
    for (const auto& [i, g] : by) {
      char label[64];
      std::snprintf(label, sizeof label, "  %-18s ", (name + " " + RegimeName(i)).c_str());
      g.quantities.Print(label);
    }
  }
  if (!sum.step_by_source_features.empty()) {
    std::printf("step times per source, GPU and layout features (precision; PP, CP, EP where > 1):\n");
  }
  for (const auto& [name, table] : sum.step_by_source_features) {
    std::printf("  %s:\n", OneLineMessage(name).c_str());
    table.Print("    ");
  }
  std::printf("per calibration profile:\n");
  for (const auto& [name, g] : sum.per_calibration) {
    std::printf("  %s: %lld records\n", OneLineMessage(name).c_str(), static_cast<long long>(g.scored));
    g.quantities.Print("    ");
  }
  // The residual split: a diagnostic of what kind of error each source's step times carry,
  // never applied to a prediction (plans::SplitStepResiduals).
  json residual_split = json::object();
  bool split_header = false;
  for (const auto& [name, rows] : sum.residuals) {
    if (rows.size() < kMinResidualRows) continue;
    const plans::ResidualSplit rs = plans::SplitStepResiduals(rows);
    if (!split_header) {
      std::printf("residual split of step times (a diagnostic, never applied): measured ~ rate x predicted + fixed x "
                  "layer passes (a stage's layers x micro-batches), least squares on the relative error\n");
      std::printf("  %-50s %6s %8s %14s %8s %12s\n", "source on GPU", "n", "rate", "fixed_ms/pass", "MAPE_%",
                  "after_MAPE_%");
      split_header = true;
    }
    if (rs.separable) {
      std::printf("  %-50s %6lld %8.3f %14.3f %8.1f %12.1f\n", OneLineMessage(name).c_str(), static_cast<long long>(rs.n), rs.rate,
                  rs.fixed_s * 1e3, rs.mape_pct, rs.mape_after_pct);
      residual_split[name] = {{"n", rs.n}, {"separable", true}, {"rate", rs.rate}, {"fixed_ms_per_layer_pass", rs.fixed_s * 1e3},
                              {"mape_pct", rs.mape_pct}, {"mape_after_pct", rs.mape_after_pct}};
    } else {
      std::printf("  %-50s %6lld  rate and fixed cost not separable on these records\n", OneLineMessage(name).c_str(),
                  static_cast<long long>(rs.n));
      residual_split[name] = {{"n", rs.n}, {"separable", false}, {"mape_pct", rs.mape_pct}};
    }
  }
  // The scale trend: a diagnostic of how each source's error moves with the job's size at the
  // same work per GPU, never applied to a prediction (plans::FitScaleTrend).
  json scale_trend = json::object();
  bool trend_header = false;
  for (const auto& [key, rows] : sum.scaled_steps) {
    const plans::ScaleTrend t = plans::FitScaleTrend(rows);
    if (!t.defined) continue;
    const auto& [source, generation] = key;
    const std::string name = source + " on " + generation;
    sum.trends_per_gpu[generation].push_back({source, t});
    if (!trend_header) {
      std::printf("scale trend of step times (a diagnostic, never applied): runs of the same work per GPU at two or "
                  "more GPU counts, error regressed on log2(GPUs) within each such group: the median of the groups' "
                  "slopes, and the groups pooled\n");
      std::printf("  %-50s %6s %6s %12s %22s %22s\n", "source on GPU", "groups", "runs", "GPUs",
                  "median points/doubling", "pooled points/doubling");
      trend_header = true;
    }
    const std::string range = std::to_string(t.min_gpus) + "-" + std::to_string(t.max_gpus);
    std::printf("  %-50s %6lld %6lld %12s %+22.2f %+22.2f\n", OneLineMessage(name).c_str(), static_cast<long long>(t.groups),
                static_cast<long long>(t.rows), range.c_str(), t.median_slope_pct_per_doubling,
                t.pooled_slope_pct_per_doubling);
    scale_trend[name] = {{"groups", t.groups},
                         {"runs", t.rows},
                         {"min_gpus", t.min_gpus},
                         {"max_gpus", t.max_gpus},
                         {"median_slope_pct_per_doubling", t.median_slope_pct_per_doubling},
                         {"pooled_slope_pct_per_doubling", t.pooled_slope_pct_per_doubling}};
  }
  if (!sum.assumptions.empty()) std::printf("assumed (scored records):\n");
  for (const auto& [text, n] : sum.assumptions) {
    std::printf("  %4lld  %s\n", static_cast<long long>(n), text.c_str());
  }
  if (!sum.skipped_by_reason.empty()) std::printf("skipped by reason:\n");
  for (const auto& [reason, n] : sum.skipped_by_reason) {
    std::printf("  %4lld  %s\n", static_cast<long long>(n), OneLineMessage(reason).c_str());
  }

  json report;
  report["schema_version"] = plans::kReportSchemaVersion;
  report["tool"] = plans::ToolVersion();
  report["command"] = "accuracy";
  report["inputs"] = inputs;
  report["records"] = records;
  json per_source = json::object(), per_gpu = json::object(), per_calibration = json::object();
  for (const auto& [name, g] : sum.per_source) per_source[name] = g.ToJson();
  for (const auto& [name, g] : sum.per_gpu) per_gpu[name] = g.ToJson();
  // Step times per GPU generation and work regime, keyed "A100 under 4 ms" and so on.
  json per_gpu_regime = json::object();
  for (const auto& [name, by] : sum.per_gpu_regime) {
    for (const auto& [i, g] : by) per_gpu_regime[name + " " + RegimeName(i)] = g.quantities.ToJson();
  }
  for (const auto& [name, g] : sum.per_calibration) per_calibration[name] = g.ToJson();
  // Step times per source and layout features, keyed "source on GPU", then "BF16+CP" and so on.
  json per_source_features = json::object();
  for (const auto& [name, table] : sum.step_by_source_features) per_source_features[name] = table.ToJson();
  report["summary"] = {{"scored", sum.scored},
                       {"skipped", sum.skipped},
                       {"in_sample", sum.in_sample},
                       {"skipped_by_reason", sum.skipped_by_reason},
                       {"ran_but_rejected", sum.ran_but_rejected},
                       {"assumptions", sum.assumptions},
                       {"per_quantity", sum.per_quantity.ToJson()},
                       {"per_source", per_source},
                       {"per_gpu", per_gpu},
                       {"per_gpu_regime", per_gpu_regime},
                       {"per_source_features", per_source_features},
                       {"per_calibration", per_calibration},
                       {"residual_split", residual_split},
                       {"scale_trend", scale_trend}};
  const std::string text = plans::DumpReport(report);
  std::vector<OutputFile> outputs;
  if (!o.json_path.empty()) outputs.push_back({o.json_path, text, "--json"});
  if (!o.error_bands_path.empty()) {
    // The band plan marks ties with and prints in its summary (plans/answer.h): the out-of-sample
    // end-to-end step-time errors of each GPU generation.
    std::string refs;
    for (const std::string& path : o.references) refs += " --reference " + path;
    // Where the shipped profile was fitted on some of these runs' sources (refit here), the same
    // runs scored with it: in-sample for those, so never the band, but what it predicts.
    const auto with_shipped_block = [](json& q, const Group& shipped) {
      const json with = shipped.quantities.Of("step_time_s");
      if (shipped.in_sample > 0 && !with.is_null()) {
        q["shipped_profile"] = {{"n", with["n"]},
                                {"in_sample", shipped.in_sample},
                                {"mape_pct", with["mape_pct"]},
                                {"bias_pct", with["bias_pct"]},
                                {"worst_pct", with["worst_pct"]}};
      }
    };
    json bands = json::object();
    for (const auto& [name, g] : sum.per_gpu) {
      json q = g.quantities.Of("step_time_s");
      if (q.is_null()) continue;
      with_shipped_block(q, sum.shipped_per_gpu[name]);
      json regimes = json::array();
      for (const auto& [i, rg] : sum.per_gpu_regime[name]) {
        json rq = rg.quantities.Of("step_time_s");
        if (rq.is_null()) continue;
        rq["from_ms"] = i == 0 ? 0.0 : 1e3 * plans::kLayerPassRegimeEdgesS[i - 1];
        rq["below_ms"] = i + 1 == plans::kLayerPassRegimes ? json(nullptr) : json(1e3 * plans::kLayerPassRegimeEdgesS[i]);
        with_shipped_block(rq, sum.shipped_per_gpu_regime[name][i]);
        regimes.push_back(rq);
      }
      if (!regimes.empty()) q["regimes"] = regimes;
      // How far the runs reach, and how each source's error moved with the job's size at the
      // same work per GPU (the scale trend): plan says so of a layout past them.
      if (sum.max_gpus_per_gpu.count(name) > 0) q["max_gpus"] = sum.max_gpus_per_gpu.at(name);
      json trends = json::array();
      for (const auto& [source, t] : sum.trends_per_gpu[name]) {
        trends.push_back({{"source", source},
                          {"groups", t.groups},
                          {"max_gpus", t.max_gpus},
                          {"median_slope_pct_per_doubling", t.median_slope_pct_per_doubling}});
      }
      if (!trends.empty()) q["scale_trends"] = trends;
      bands[name] = q;
    }
    json file = {{"schema_version", 1},
                 {"tool", plans::ToolVersion()},
                 {"quantity", "step_time_s"},
                 {"source", "meshplan accuracy" + refs + " --leave-source-out"},
                 {"meaning", "per GPU generation, the end-to-end step-time errors of the published runs, each "
                             "predicted with the shipped profile refitted without its source (out of sample): "
                             "n, MAPE, bias (signed mean; negative: predicted faster than measured), worst, and "
                             "spread (mean absolute deviation around the bias); shipped_profile, where the shipped "
                             "profile was fitted on kernels of some of these runs' sources: the same runs "
                             "predicted with it (in_sample of them in-sample); regimes, the same per work regime: the "
                             "runs whose predicted step per layer pass (the busiest stage's layers x micro-batches) "
                             "is in [from_ms, below_ms), read by plan for a layout in that regime; max_gpus, the largest run "
                             "scored; scale_trends, per source, how its error moved per doubling of the GPUs at the "
                             "same work per GPU (accuracy's scale trend: the median of its groups' slopes), which "
                             "plan quotes for a layout on more GPUs than max_gpus"},
                 {"bands", bands}};
    outputs.push_back({o.error_bands_path, plans::DumpReport(file), "--error-bands"});
  }
  WriteFilesAtomic(outputs);
}

}  // namespace

void SetupAccuracy(CLI::App& app) {
  auto opt = std::make_shared<AccuracyOptions>();
  CLI::App* sub = app.add_subcommand("accuracy", "score meshplan against nccl-tests logs or published measurements");
  sub->add_option("--nccl-tests", opt->logs, "nccl-tests output files (a sidecar X.meta.json is read when present)");
  sub->add_option("--reference", opt->references,
                  "published measurements (data/reference/published.json format); repeat for several files");
  sub->add_option("--cluster", opt->cluster, "the cluster the nccl-tests logs were taken on");
  sub->add_option("--json", opt->json_path, "write the JSON report to this file");
  sub->add_option("--calibration", opt->calibration,
                  "score with this calibration profile (name or path); reference records default to "
                  "the shipped profile of their cluster");
  sub->add_flag("--no-calibration", opt->no_calibration, "score reference records with the uncalibrated model");
  sub->add_flag("--leave-source-out", opt->leave_source_out,
                "score each source with the shipped profiles refitted without its kernel-level records "
                "(data/calibration/inputs/shipped.json): accuracy out of sample");
  sub->add_option("--error-bands", opt->error_bands_path,
                  "write the per-GPU step-time error bands (with --leave-source-out) that plan reads "
                  "(data/accuracy/error_bands.json)");
  sub->add_option("--framework", opt->framework,
                  "score every reference record as run with this framework (data/frameworks name or JSON)");
  sub->callback([opt] { RunAccuracy(*opt); });
}

}  // namespace meshplan::tools
