#include "tools/inputs.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/measurements.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/reference.h"

namespace meshplan::tools {
using nlohmann::json;

NcclLogSamples LoadNcclTestsLog(const std::string& path, const costmodel::Cluster& c) {
  NcclLogSamples out;
  out.path = path;
  out.name = std::filesystem::path(path).filename().string();
  const costmodel::NcclTestLog log =
      costmodel::ParseNcclTestLog(costmodel::ReadFileText(path, "--nccl-tests"), path);
  static int64_t rows_so_far = 0;  // one command's logs together
  rows_so_far += static_cast<int64_t>(log.rows.size());
  if (rows_so_far > costmodel::kMaxNcclTestRows) {
    throw Error("--nccl-tests", "'" + path + "' takes the command's nccl-tests data rows past " +
                                    std::to_string(costmodel::kMaxNcclTestRows) + " in all: give fewer logs");
  }
  out.op = log.op;
  out.ranks = log.ranks;
  // The sidecar (optional) says how many nodes ran and which algorithm NCCL_ALGO forced.
  int64_t nodes = 0;
  int algo = -1;
  const std::string side = path + ".meta.json";
  if (std::filesystem::exists(side)) {
    const json j = costmodel::ParseJsonText(costmodel::ReadFileText(side, "--nccl-tests"), side);
    if (!j.is_object()) throw Error(side, "expected a JSON object (an nccl-tests sidecar)");
    if (j.contains("nodes")) {
      if (!j["nodes"].is_number_integer() || j["nodes"].get<int64_t>() < 1) {
        throw Error(side, "nodes: must be an integer >= 1");
      }
      nodes = j["nodes"].get<int64_t>();
    }
    if (j.contains("env") && j["env"].is_object() && j["env"].contains("NCCL_ALGO") &&
        j["env"]["NCCL_ALGO"].is_string()) {
      std::string a = j["env"]["NCCL_ALGO"].get<std::string>();
      std::transform(a.begin(), a.end(), a.begin(), ::tolower);
      if (a == "ring") algo = static_cast<int>(costmodel::Algo::kRing);
      if (a == "tree") algo = static_cast<int>(costmodel::Algo::kTree);
      if (a == "nvls") algo = static_cast<int>(costmodel::Algo::kNvls);
      if (a == "nvlstree") algo = static_cast<int>(costmodel::Algo::kNvlsTree);
    }
  }
  std::optional<costmodel::Coll> coll;
  if (log.op == costmodel::NcclTestOp::kAllReduce) coll = costmodel::Coll::kAllReduce;
  if (log.op == costmodel::NcclTestOp::kAllGather) coll = costmodel::Coll::kAllGather;
  if (log.op == costmodel::NcclTestOp::kReduceScatter) coll = costmodel::Coll::kReduceScatter;
  if (!coll) {
    out.skip_reason = std::string(costmodel::ToString(log.op)) + " is not modelled yet";
    return out;
  }
  if (log.ranks < 2) {
    out.skip_reason = "rank count could not be inferred from busbw / algbw";
    return out;
  }
  const int64_t gpn = c.node.gpus_per_node;
  out.nodes = nodes > 0 ? nodes : std::max<int64_t>(1, (log.ranks + gpn - 1) / gpn);
  if (log.ranks % out.nodes != 0) {
    throw Error(side, "nodes: " + std::to_string(out.nodes) + " does not divide the log's " +
                          std::to_string(log.ranks) + " ranks");
  }
  for (const auto& r : log.rows) {
    costmodel::CollectiveSample s;
    s.op = *coll;
    s.group = {log.ranks, out.nodes};
    s.bytes = static_cast<double>(r.size_bytes);
    s.time_s = std::min(r.time_us, r.ip_time_us) * 1e-6;  // nccl-tests prints both; the faster
    s.algo = algo;
    s.gpus_per_thread = log.gpus_per_thread;
    s.source = out.name + ":" + std::to_string(r.line);
    if (s.time_s > 0) out.samples.push_back(s);
  }
  return out;
}

void AddMeasurementFile(const std::string& path, const costmodel::Cluster& c,
                        costmodel::CalibrationInputs& in) {
  costmodel::AddMeasurements(costmodel::ReadFileText(path, "--measurements"), path, c, in);
}

std::vector<std::string> AddReferenceKernelRecords(const std::string& path,
                                                   const std::vector<std::string>& clusters,
                                                   costmodel::CalibrationInputs& in,
                                                   std::string_view leave_out) {
  const std::string file = std::filesystem::path(path).filename().string();
  std::vector<std::string> used;
  for (const plans::ReferenceRecord& r :
       plans::MapReferenceFile(costmodel::ReadFileText(path, "--reference"), path)) {
    if (!r.skip_reason.empty() || r.kind == "end_to_end") continue;
    if (std::find(clusters.begin(), clusters.end(), r.cluster_name) == clusters.end()) continue;
    if (!leave_out.empty() && r.source == leave_out) continue;
    auto value = [&](std::string_view q) {
      for (const auto& m : r.measured) {
        if (m.quantity == q) return m.value;
      }
      return 0.0;
    };
    const std::string src = file + ":" + r.id;
    if (r.kind == "per_layer") {
      in.layers.push_back({r.model, r.workload, r.layout, value("layer_forward_s"), value("layer_backward_s"), src});
    } else if (r.kind == "gemm" && value("gemm_tflops") > 0) {
      const double flops = 2.0 * static_cast<double>(r.gemm_m) * static_cast<double>(r.gemm_n) *
                           static_cast<double>(r.gemm_k);
      in.gemms.push_back({r.gemm_m, r.gemm_n, r.gemm_k, 1, flops / (value("gemm_tflops") * 1e12), src});
    } else if (r.kind == "collective" && value("collective_time_s") > 0) {
      costmodel::CollectiveSample s = r.collective;
      s.time_s = value("collective_time_s");
      s.source = src;
      in.collectives.push_back(s);
    } else {
      continue;
    }
    used.push_back(r.source);
  }
  return used;
}

}  // namespace meshplan::tools
