// meshplan calibrate --cluster C [--measurements M.json ...] [--nccl-tests LOG ...] -o PROFILE.json
// Fits the cost model's cluster parameters to measurements (costmodel/calibration.h), prints each
// fitted value and the error before and after on the inputs, and with --leave-one-out scores
// every input file with a profile fitted without it: the honest figure for unseen systems.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "costmodel/calibration.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/evaluate.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/reference.h"
#include "plans/report.h"
#include "tools/cli_common.h"
#include "tools/inputs.h"

namespace meshplan::tools {
namespace {

/// Samples x fits one calibrate command may do (about 0.3 ms each).
constexpr size_t kMaxSampleFits = 25'000;

struct CalibrateOptions {
  std::string cluster;
  std::vector<std::string> measurements;
  std::vector<std::string> logs;
  std::vector<std::string> references;
  std::string out;
  std::string name;
  bool leave_one_out = false;
  std::vector<std::string> also_for;
  std::string collective;  // for logs whose header does not say
};

/// The inputs of one file, kept apart so leave-one-out can drop it.
struct FileInputs {
  std::string name;
  costmodel::CalibrationInputs in;
};

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

/// MAPE of the collective rows and the step of `in` under cluster `c`.
std::pair<double, double> Score(const costmodel::Cluster& c, const costmodel::CalibrationInputs& in) {
  std::vector<double> p, m;
  for (const auto& s : in.collectives) {
    p.push_back(costmodel::PredictCollective(c, s));
    m.push_back(s.time_s);
  }
  std::vector<double> sp, sm;
  for (const auto& s : in.steps) {
    sp.push_back(costmodel::Evaluator(s.model, c, s.workload).Evaluate(s.layout).time.step_s);
    sm.push_back(s.time_s);
  }
  return {costmodel::Mape(p, m), costmodel::Mape(sp, sm)};
}

void RunCalibrate(const CalibrateOptions& o) {
  // The name goes into the profile, which every reader checks as a name: refused here, not by
  // the next command that loads what this one wrote.
  if (!o.name.empty()) {
    if (const std::string problem = costmodel::NameProblem(o.name); !problem.empty()) throw Error("--name", problem);
  }
  if (o.measurements.empty() && o.logs.empty()) {
    if (o.references.empty()) {
      throw Error("calibrate", "give --measurements, --nccl-tests and/or --reference files to fit");
    }
  }
  const costmodel::Cluster base = costmodel::ResolveCluster(o.cluster, "--cluster");
  std::optional<costmodel::NcclTestOp> collective;
  if (!o.collective.empty()) {
    collective = costmodel::NcclTestOpFromName(o.collective);
    if (!collective) {
      throw Error("--collective", "must be one of all_reduce, all_gather, reduce_scatter, alltoall, sendrecv, got '" +
                                      o.collective + "'");
    }
  }
  std::vector<FileInputs> files;
  for (const auto& path : o.logs) {
    const NcclLogSamples log = LoadNcclTestsLog(path, base, collective);
    if (!log.skip_reason.empty()) {
      std::printf("skipped %s: %s\n", log.name.c_str(), log.skip_reason.c_str());
      continue;
    }
    FileInputs f;
    f.name = log.name;
    f.in.collectives = log.samples;
    f.in.provenance.push_back(log.name + " (nccl-tests " + std::string(costmodel::ToString(log.op)) +
                              ", " + std::to_string(log.ranks) + " ranks on " +
                              std::to_string(log.nodes) + " nodes, " +
                              std::to_string(log.samples.size()) + " rows" +
                              (log.env.Neutral() ? std::string() : ", " + log.env.Describe()) +
                              (log.env.not_modelled.empty() ? std::string() : ", not modelled: " + Join(log.env.not_modelled)) +
                              ")");
    files.push_back(std::move(f));
  }
  // Published kernel-level figures (the reference format of `accuracy --reference`): per-layer
  // timings, GEMM and collective records of this profile's clusters. Never end-to-end records:
  // those are what `accuracy --reference` scores.
  std::vector<std::string> clusters = {base.name};
  clusters.insert(clusters.end(), o.also_for.begin(), o.also_for.end());
  for (const auto& path : o.references) {
    FileInputs f;
    f.name = std::filesystem::path(path).filename().string();
    const int64_t used = static_cast<int64_t>(AddReferenceKernelRecords(path, clusters, f.in).size());
    if (used == 0) {
      std::printf("skipped %s: no per-layer, GEMM or collective record of %s\n", f.name.c_str(), base.name.c_str());
      continue;
    }
    f.in.provenance.push_back(f.name + " (" + std::to_string(used) +
                              " kernel-level records: per-layer timings, GEMMs, collectives)");
    files.push_back(std::move(f));
  }
  std::vector<std::string> standin_attention;  // measurement files with attention timings
  for (const auto& path : o.measurements) {
    FileInputs f;
    f.name = std::filesystem::path(path).filename().string();
    AddMeasurementFile(path, base, f.in);
    if (!f.in.attention.empty()) standin_attention.push_back(f.name);
    files.push_back(std::move(f));
  }
  if (files.empty()) throw Error("calibrate", "no input could be modelled (every log was skipped)");
  costmodel::CalibrationInputs all;
  for (const auto& f : files) all.Append(f.in);
  // The fit costs about 0.3 ms per sample on a 2-core builder, and --leave-one-out fits once
  // more per file (and once per node count for the extrapolation): bound the product before
  // any fit, so calibrate stays within seconds (40 logs of 50 rows with it took 25 s).
  const size_t samples = all.collectives.size() + all.gemms.size() + all.attention.size() +
                         all.layers.size() + all.memory_kernels.size() + all.steps.size() +
                         all.sustained_gemms.size();
  const size_t fits = 1 + (o.leave_one_out && files.size() > 1 ? 2 * files.size() : 0);
  if (samples * fits > kMaxSampleFits) {
    throw Error(o.leave_one_out ? "--leave-one-out" : "calibrate",
                "fitting " + std::to_string(samples) + " samples " + std::to_string(fits) +
                    " time(s) is more than " + std::to_string(kMaxSampleFits) +
                    " sample-fits (about 8 s): give fewer or shorter inputs" +
                    (o.leave_one_out ? " or drop --leave-one-out" : ""));
  }
  const std::string name = o.name.empty() ? base.name : o.name;
  costmodel::CalibrationProfile profile = costmodel::Fit(base, all, name);
  for (const auto& other : o.also_for) {
    costmodel::ResolveCluster(other, "--also-for");  // must exist
    profile.clusters.push_back(other);
  }

  std::printf("calibration profile '%s' for %s, from %zu input file(s)\n", name.c_str(), base.name.c_str(), files.size());
  std::printf("%-36s %14s %-9s\n", "fitted", "value", "unit");
  for (const auto& f : profile.fitted) {
    std::printf("%-36s %14.6g %-9s\n", f.path.c_str(), f.value, f.unit.c_str());
  }
  if (!profile.gemm_table.empty()) {
    std::printf("%-36s %14zu shapes\n", "gemm_table", profile.gemm_table.size());
  }
  std::printf("%-24s %6s %12s %12s\n", "error on the inputs", "n", "before_%", "after_%");
  for (const auto& e : profile.fit_error) {
    std::printf("%-24s %6lld %12.1f %12.1f\n", e.quantity.c_str(), static_cast<long long>(e.n),
                e.before_pct, e.after_pct);
  }

  nlohmann::json j = costmodel::ToJson(profile);
  j["tool"] = plans::ToolVersion();
  // A held-out or extrapolated score worse than the uncalibrated model's: the fit does not
  // carry to that file (stderr and warnings[]; the profile is still written).
  std::vector<std::string> warnings;
  // meshplan-validate times attention as the causal GEMM pair that stands in for FlashAttention
  // in its skeleton (validate/skeleton.cc AttentionForwardGemms: QK^T and PV over half the
  // keys, cuBLAS). A fraction fitted from it prices that stand-in: right for `validate --show`
  // against the skeleton's step, not for a framework's fused kernel (on an H100 the stand-in ran
  // at 0.21-0.39 of the BF16 peak where FlashAttention-2's published long-sequence rate is 0.34;
  // data/measurements/README.md).
  for (const auto& file : standin_attention) {
    warnings.push_back("efficiency.attention_peak_fraction is fitted from " + file +
                       ", whose attention is meshplan-validate's cuBLAS GEMM pair standing in for "
                       "FlashAttention: it prices the validation skeleton, not a framework's attention "
                       "kernel; for planning, drop that field from the profile");
  }
  if (o.leave_one_out && files.size() > 1) {
    std::printf("leave-one-out: fit without the file, score it (MAPE %%)\n");
    std::printf("%-52s %10s %10s %10s\n", "held-out file", "uncal", "fit_all", "held_out");
    nlohmann::json loo = nlohmann::json::array();
    for (size_t i = 0; i < files.size(); ++i) {
      // Only collectives and steps are scored here; a file of other kernel records (GEMMs,
      // sustained GEMMs, layers) would print a meaningless 0.
      if (files[i].in.collectives.empty() && files[i].in.steps.empty()) {
        std::printf("%-52s %s\n", files[i].name.c_str(), "(no collective or step rows to score)");
        continue;
      }
      costmodel::CalibrationInputs rest;
      for (size_t k = 0; k < files.size(); ++k) {
        if (k != i) rest.Append(files[k].in);
      }
      costmodel::Cluster held = base, fitted_all = base, uncal = base;
      costmodel::ApplyCalibration(costmodel::Fit(base, rest, name), held, "leave-one-out");
      costmodel::ApplyCalibration(profile, fitted_all, "leave-one-out");
      const auto [u, us] = Score(uncal, files[i].in);
      const auto [a, as] = Score(fitted_all, files[i].in);
      const auto [h, hs] = Score(held, files[i].in);
      const bool has_coll = !files[i].in.collectives.empty();
      const double uu = has_coll ? u : us, aa = has_coll ? a : as, hh = has_coll ? h : hs;
      std::printf("%-52s %10.1f %10.1f %10.1f\n", files[i].name.c_str(), uu, aa, hh);
      if (hh > uu) {
        char w[512];
        std::snprintf(w, sizeof w, "leave-one-out: %s scores %.1f%% with a profile fitted without it, worse than "
                      "the uncalibrated model's %.1f%%", files[i].name.c_str(), hh, uu);
        warnings.push_back(w);
      }
      loo.push_back({{"file", files[i].name},
                     {"quantity", has_coll ? "collective_time_s" : "step_time_s"},
                     {"uncalibrated_pct", uu},
                     {"fitted_on_all_pct", aa},
                     {"held_out_pct", hh}});
    }
    j["leave_one_out"] = loo;
    // Extrapolation in the node count, the way a profile is used on a bigger cluster than it
    // was measured on: for every node count N the inputs reach past the smallest, fit on the
    // collectives of fewer nodes (and every input that is not a collective) and score, file by
    // file, those of N or more. Row by row, not file by file: a reference file holds rows of
    // several node counts (a log holds one).
    std::set<int64_t> node_counts;
    for (const auto& f : files) {
      for (const auto& s : f.in.collectives) node_counts.insert(s.group.nodes);
    }
    nlohmann::json ex = nlohmann::json::array();
    for (auto it = node_counts.begin(); it != node_counts.end(); ++it) {
      if (it == node_counts.begin()) continue;
      const int64_t below = *it;
      costmodel::CalibrationInputs fewer;
      std::vector<costmodel::CalibrationInputs> larger(files.size());
      for (size_t k = 0; k < files.size(); ++k) {
        costmodel::CalibrationInputs part = files[k].in;
        part.collectives.clear();
        for (const auto& s : files[k].in.collectives) {
          (s.group.nodes < below ? part : larger[k]).collectives.push_back(s);
        }
        fewer.Append(part);
      }
      costmodel::Cluster small = base;
      costmodel::ApplyCalibration(costmodel::Fit(base, fewer, name), small, "extrapolation");
      if (ex.empty()) {
        std::printf("extrapolation in nodes: fit on collectives of fewer nodes, score the larger (MAPE %%)\n");
        std::printf("%-12s %-52s %6s %10s\n", "fit_below", "scored file", "nodes", "mape");
      }
      std::vector<double> pred, meas;  // every scored row, for the pooled figure
      for (size_t k = 0; k < files.size(); ++k) {
        if (larger[k].collectives.empty()) continue;
        std::vector<double> fp, fm;
        int64_t nodes = 0;
        for (const auto& s : larger[k].collectives) {
          fp.push_back(costmodel::PredictCollective(small, s));
          fm.push_back(s.time_s);
          nodes = std::max(nodes, s.group.nodes);
        }
        const double m = costmodel::Mape(fp, fm);
        const double um = Score(base, larger[k]).first;
        if (m > um) {
          char w[512];
          std::snprintf(w, sizeof w, "extrapolation: %s (%lld nodes) scores %.1f%% with a profile fitted on fewer "
                        "than %lld nodes, worse than the uncalibrated model's %.1f%%", files[k].name.c_str(),
                        static_cast<long long>(nodes), m, static_cast<long long>(below), um);
          warnings.push_back(w);
        }
        pred.insert(pred.end(), fp.begin(), fp.end());
        meas.insert(meas.end(), fm.begin(), fm.end());
        std::printf("%-12lld %-52s %6lld %10.1f\n", static_cast<long long>(below), files[k].name.c_str(),
                    static_cast<long long>(nodes), m);
        ex.push_back({{"fit_below_nodes", below}, {"file", files[k].name}, {"nodes", nodes},
                      {"rows", larger[k].collectives.size()}, {"mape_pct", m}});
      }
      const double pooled = costmodel::Mape(pred, meas);
      std::printf("%-12lld %-52s %6s %10.1f  (%zu rows)\n", static_cast<long long>(below), "all of them", "",
                  pooled, meas.size());
      ex.push_back({{"fit_below_nodes", below}, {"file", "*"}, {"rows", meas.size()}, {"mape_pct", pooled}});
    }
    if (!ex.empty()) j["extrapolation_in_nodes"] = ex;
  }
  for (const auto& w : warnings) std::fprintf(stderr, "meshplan: warning: %s\n", w.c_str());
  j["warnings"] = warnings;
  if (!o.out.empty()) WriteFileAtomic(o.out, plans::DumpReport(j), "--out");
}

}  // namespace

void SetupCalibrate(CLI::App& app) {
  auto opt = std::make_shared<CalibrateOptions>();
  CLI::App* sub = app.add_subcommand("calibrate", "fit the cost model to measurements into a calibration profile");
  sub->add_option("--cluster", opt->cluster, "the cluster the measurements were taken on")->required();
  sub->add_option("--measurements", opt->measurements, "meshplan-validate measurement JSON files");
  sub->add_option("--nccl-tests", opt->logs, "nccl-tests output files (a sidecar X.meta.json is read when present)");
  sub->add_option("--reference", opt->references,
                  "published measurements (accuracy --reference format): their per-layer, GEMM and "
                  "collective records of this cluster; never the end-to-end ones");
  sub->add_option("-o,--out", opt->out, "write the calibration profile (JSON) to this file");
  sub->add_option("--name", opt->name, "profile name (default: the cluster's name)");
  sub->add_option("--also-for", opt->also_for,
                  "other built-in clusters with the same links the profile may be applied to");
  sub->add_option("--collective", opt->collective,
                  "the collective of --nccl-tests logs whose header does not name it (all_reduce, all_gather, "
                  "reduce_scatter, alltoall, sendrecv); an error where a header names another");
  sub->add_flag("--leave-one-out", opt->leave_one_out,
                "also fit without each input file in turn and score the held-out file");
  sub->callback([opt] { RunCalibrate(*opt); });
}

}  // namespace meshplan::tools
