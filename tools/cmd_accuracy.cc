// meshplan accuracy --nccl-tests LOG...: predict every row of published nccl-tests logs with
// the collective model and score it (time per row, MAPE per log and overall).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "costmodel/calibration.h"
#include "costmodel/collectives.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/nccl_tests.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/report.h"
#include "tools/cli_common.h"
#include "tools/inputs.h"

namespace meshplan::tools {
namespace {
using nlohmann::json;

struct AccuracyOptions {
  std::vector<std::string> logs;
  std::string cluster;
  std::string json_path;
  std::string calibration;
};

void RunAccuracy(const AccuracyOptions& o) {
  if (o.logs.empty()) throw Error("--nccl-tests", "give at least one nccl-tests log");
  costmodel::Cluster cluster = costmodel::ResolveCluster(o.cluster, "--cluster");
  if (!o.calibration.empty()) {
    costmodel::ApplyCalibration(costmodel::ResolveCalibration(o.calibration, "--calibration"), cluster,
                                "--calibration");
  }
  json records = json::array();
  double sum_all = 0, max_all = 0;
  int64_t n_all = 0;
  std::printf("%-52s %-14s %5s %5s %5s %9s %9s\n", "log", "op", "ranks", "nodes", "rows", "MAPE_%", "max_%");
  for (const auto& path : o.logs) {
    const NcclLogSamples log = LoadNcclTestsLog(path, cluster);
    json rec = {{"id", log.name}, {"op", costmodel::ToString(log.op)}};
    if (!log.skip_reason.empty()) {
      rec["status"] = "skipped";
      rec["reason"] = log.skip_reason;
      records.push_back(rec);
      std::printf("%-52s %-14s skipped: %s\n", log.name.c_str(),
                  std::string(costmodel::ToString(log.op)).c_str(), log.skip_reason.c_str());
      continue;
    }
    json rows = json::array();
    double sum = 0, worst = 0;
    for (const auto& s : log.samples) {
      const costmodel::CollectiveCost c = costmodel::PredictCollectiveCost(cluster, s);
      const double err = 100.0 * (c.time_s - s.time_s) / s.time_s;
      sum += std::fabs(err);
      worst = std::max(worst, std::fabs(err));
      rows.push_back({{"bytes", s.bytes},
                      {"quantities", {{"collective_time_s", {{"measured", s.time_s}, {"predicted", c.time_s}, {"error_pct", err}}}}},
                      {"algorithm", costmodel::ToString(c.algo)},
                      {"protocol", costmodel::ToString(c.proto)}});
    }
    const double mape = log.samples.empty() ? 0.0 : sum / static_cast<double>(log.samples.size());
    rec["status"] = "scored";
    rec["reason"] = "";
    rec["ranks"] = log.ranks;
    rec["nodes"] = log.nodes;
    rec["rows"] = rows;
    rec["mape_pct"] = mape;
    rec["max_pct"] = worst;
    records.push_back(rec);
    sum_all += sum;
    n_all += static_cast<int64_t>(log.samples.size());
    max_all = std::max(max_all, worst);
    std::printf("%-52s %-14s %5lld %5lld %5zu %9.1f %9.1f\n", log.name.c_str(),
                std::string(costmodel::ToString(log.op)).c_str(), static_cast<long long>(log.ranks),
                static_cast<long long>(log.nodes), log.samples.size(), mape, worst);
  }
  const double mape_all = n_all > 0 ? sum_all / static_cast<double>(n_all) : 0.0;
  const std::string model_desc = cluster.calibration.empty()
                                     ? "uncalibrated " + cluster.name + " model"
                                     : cluster.name + " model, calibration '" + cluster.calibration + "'";
  std::printf("collective_time_s: %lld rows, MAPE %.1f%%, worst %.1f%% (%s)\n",
              static_cast<long long>(n_all), mape_all, max_all, model_desc.c_str());
  json report;
  report["schema_version"] = plans::kReportSchemaVersion;
  report["tool"] = plans::ToolVersion();
  report["command"] = "accuracy";
  report["inputs"] = {{"cluster", cluster.name},
                      {"nccl_tests", o.logs},
                      {"calibration", cluster.calibration.empty() ? json(nullptr) : json(cluster.calibration)}};
  report["records"] = records;
  report["summary"] = {{"scored", n_all},
                       {"per_quantity", {{"collective_time_s", {{"n", n_all}, {"mape_pct", mape_all}, {"max_pct", max_all}}}}}};
  const std::string text = plans::DumpReport(report);
  if (!o.json_path.empty()) WriteFileAtomic(o.json_path, text, "--json");
}

}  // namespace

void SetupAccuracy(CLI::App& app) {
  auto opt = std::make_shared<AccuracyOptions>();
  CLI::App* sub = app.add_subcommand("accuracy", "score the collective model on nccl-tests logs");
  sub->add_option("--nccl-tests", opt->logs, "nccl-tests output files (a sidecar X.meta.json is read when present)")
      ->required();
  sub->add_option("--cluster", opt->cluster, "the cluster the logs were taken on")->required();
  sub->add_option("--json", opt->json_path, "write the JSON report to this file");
  sub->add_option("--calibration", opt->calibration, "score with this calibration profile (name or path)");
  sub->callback([opt] { RunAccuracy(*opt); });
}

}  // namespace meshplan::tools
