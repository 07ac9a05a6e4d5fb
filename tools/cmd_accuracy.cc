// meshplan accuracy --nccl-tests LOG...: predict every row of published nccl-tests logs with
// the collective model and score it (time per row, MAPE per log and overall).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "costmodel/collectives.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/nccl_tests.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/report.h"
#include "tools/cli_common.h"

namespace meshplan::tools {
namespace {
using nlohmann::json;

struct AccuracyOptions {
  std::vector<std::string> logs;
  std::string cluster;
  std::string json_path;
};

/// What the sidecar X.meta.json (when present) says about the run: nodes and NCCL_ALGO.
struct Sidecar {
  int64_t nodes = 0;
  std::string algo;  // "", "ring", "tree", "nvls"
};

Sidecar ReadSidecar(const std::string& log_path) {
  Sidecar s;
  const std::string path = log_path + ".meta.json";
  if (!std::filesystem::exists(path)) return s;
  const json j = costmodel::ParseJsonText(costmodel::ReadFileText(path, "--nccl-tests"), path);
  if (j.contains("nodes") && j["nodes"].is_number_integer()) s.nodes = j["nodes"].get<int64_t>();
  if (j.contains("env") && j["env"].is_object() && j["env"].contains("NCCL_ALGO") &&
      j["env"]["NCCL_ALGO"].is_string()) {
    s.algo = j["env"]["NCCL_ALGO"].get<std::string>();
    std::transform(s.algo.begin(), s.algo.end(), s.algo.begin(), ::tolower);
  }
  return s;
}

void RunAccuracy(const AccuracyOptions& o) {
  if (o.logs.empty()) throw Error("--nccl-tests", "give at least one nccl-tests log");
  const costmodel::Cluster cluster = costmodel::ResolveCluster(o.cluster, "--cluster");
  const costmodel::LinkParams links = costmodel::LinkParamsFor(cluster);
  json records = json::array();
  double sum_all = 0, max_all = 0;
  int64_t n_all = 0;
  std::printf("%-52s %-14s %5s %5s %5s %9s %9s\n", "log", "op", "ranks", "nodes", "rows", "MAPE_%", "max_%");
  for (const auto& path : o.logs) {
    const std::string name = std::filesystem::path(path).filename().string();
    const costmodel::NcclTestLog log =
        costmodel::ParseNcclTestLog(costmodel::ReadFileText(path, "--nccl-tests"), path);
    const Sidecar side = ReadSidecar(path);
    json rec = {{"id", name}, {"op", costmodel::ToString(log.op)}};
    std::optional<costmodel::Coll> coll;
    if (log.op == costmodel::NcclTestOp::kAllReduce) coll = costmodel::Coll::kAllReduce;
    if (log.op == costmodel::NcclTestOp::kAllGather) coll = costmodel::Coll::kAllGather;
    if (log.op == costmodel::NcclTestOp::kReduceScatter) coll = costmodel::Coll::kReduceScatter;
    if (!coll || log.ranks < 2) {
      rec["status"] = "skipped";
      rec["reason"] = !coll ? std::string(costmodel::ToString(log.op)) + " is not modelled yet"
                            : "rank count could not be inferred from busbw / algbw";
      records.push_back(rec);
      std::printf("%-52s %-14s skipped: %s\n", name.c_str(), std::string(costmodel::ToString(log.op)).c_str(),
                  rec["reason"].get<std::string>().c_str());
      continue;
    }
    const int64_t gpn = cluster.node.gpus_per_node;
    const int64_t nodes = side.nodes > 0 ? side.nodes : std::max<int64_t>(1, (log.ranks + gpn - 1) / gpn);
    const costmodel::CollectiveTable table = costmodel::BuildTable(links, {log.ranks, nodes});
    json rows = json::array();
    double sum = 0, worst = 0;
    for (const auto& r : log.rows) {
      const double bytes = static_cast<double>(r.size_bytes);
      costmodel::CollectiveCost c;
      if (side.algo == "ring") {
        c.time_s = -1;
        for (int p = 0; p < costmodel::kNumProto; ++p) {
          auto cand = costmodel::TimeOf(table, *coll, costmodel::Algo::kRing, static_cast<costmodel::Proto>(p), bytes);
          if (cand.time_s >= 0 && (c.time_s < 0 || cand.time_s < c.time_s)) c = cand;
        }
      } else {
        c = costmodel::Time(table, *coll, bytes);
      }
      const double measured = std::min(r.time_us, r.ip_time_us) * 1e-6;
      const double err = 100.0 * (c.time_s - measured) / measured;
      sum += std::fabs(err);
      worst = std::max(worst, std::fabs(err));
      rows.push_back({{"bytes", r.size_bytes},
                      {"quantities", {{"collective_time_s", {{"measured", measured}, {"predicted", c.time_s}, {"error_pct", err}}}}},
                      {"algorithm", costmodel::ToString(c.algo)},
                      {"protocol", costmodel::ToString(c.proto)}});
    }
    const double mape = sum / static_cast<double>(log.rows.size());
    rec["status"] = "scored";
    rec["reason"] = "";
    rec["ranks"] = log.ranks;
    rec["nodes"] = nodes;
    rec["rows"] = rows;
    rec["mape_pct"] = mape;
    rec["max_pct"] = worst;
    records.push_back(rec);
    sum_all += sum;
    n_all += static_cast<int64_t>(log.rows.size());
    max_all = std::max(max_all, worst);
    std::printf("%-52s %-14s %5lld %5lld %5zu %9.1f %9.1f\n", name.c_str(),
                std::string(costmodel::ToString(log.op)).c_str(), static_cast<long long>(log.ranks),
                static_cast<long long>(nodes), log.rows.size(), mape, worst);
  }
  const double mape_all = n_all > 0 ? sum_all / static_cast<double>(n_all) : 0.0;
  std::printf("collective_time_s: %lld rows, MAPE %.1f%%, worst %.1f%% (uncalibrated %s model)\n",
              static_cast<long long>(n_all), mape_all, max_all, cluster.name.c_str());
  json report;
  report["schema_version"] = plans::kReportSchemaVersion;
  report["tool"] = plans::ToolVersion();
  report["command"] = "accuracy";
  report["inputs"] = {{"cluster", cluster.name}, {"nccl_tests", o.logs}, {"calibration", nullptr}};
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
  sub->callback([opt] { RunAccuracy(*opt); });
}

}  // namespace meshplan::tools
