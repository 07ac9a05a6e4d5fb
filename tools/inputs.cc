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

namespace {
// mamf-finder.py v4's MSMF: the fastest steady shape re-measured over a 4 s window ("Lock-in",
// stas00/ml-engineering compute/accelerator/benchmarks/README.md at 0359db89).
constexpr double kSustainedWindowS = 4.0;
}  // namespace

NcclLogSamples LoadNcclTestsLog(const std::string& path, const costmodel::Cluster& c,
                                std::optional<costmodel::NcclTestOp> collective) {
  NcclLogSamples out;
  out.path = path;
  out.name = std::filesystem::path(path).filename().string();
  const std::string text = costmodel::ReadFileText(path, "--nccl-tests");
  // Which collective: the log's own header line, else --collective, else the file name.
  const std::optional<costmodel::NcclTestOp> header = costmodel::NcclTestOpFromHeader(text);
  if (header && collective && *header != *collective) {
    throw Error("--collective", "'" + std::string(costmodel::ToString(*collective)) + "' but " + path +
                                    " says 'Collective test starting: " + std::string(costmodel::ToString(*header)) +
                                    "_perf'");
  }
  const costmodel::NcclTestLog log =
      costmodel::ParseNcclTestLog(text, path, header ? header : collective);
  static int64_t rows_so_far = 0;  // one command's logs together
  rows_so_far += static_cast<int64_t>(log.rows.size());
  if (rows_so_far > costmodel::kMaxNcclTestRows) {
    throw Error("--nccl-tests", "'" + path + "' takes the command's nccl-tests data rows past " +
                                    std::to_string(costmodel::kMaxNcclTestRows) + " in all: give fewer logs");
  }
  out.op = log.op;
  out.ranks = log.ranks;
  // The sidecar (optional) says how many nodes and ranks ran (its rank count wins over the one
  // busbw / algbw imply: print rounding can turn 128 into 126) and the NCCL_* environment.
  int64_t nodes = 0;
  costmodel::NcclEnv env;
  const std::string side = path + ".meta.json";
  if (std::filesystem::exists(side)) {
    const json j = costmodel::ParseJsonText(costmodel::ReadFileText(side, "--nccl-tests"), side);
    if (!j.is_object()) throw Error(side, "expected a JSON object (an nccl-tests sidecar)");
    auto count = [&](const char* key) -> int64_t {
      if (!j.contains(key)) return 0;
      if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1 || j[key].get<int64_t>() > (int64_t{1} << 24)) {
        throw Error(side, std::string(key) + ": must be an integer in [1, 2^24]");
      }
      return j[key].get<int64_t>();
    };
    nodes = count("nodes");
    // What the sidecar says of the run must agree with the log it describes.
    if (j.contains("collective")) {
      const std::optional<costmodel::NcclTestOp> said =
          j["collective"].is_string() ? costmodel::NcclTestOpFromName(j["collective"].get<std::string>()) : std::nullopt;
      if (!said) {
        throw Error(side, "collective: must name one of all_reduce, all_gather, reduce_scatter, alltoall, sendrecv, got " +
                              j["collective"].dump().substr(0, 40));
      }
      if (*said != log.op) {
        throw Error(side, "collective: '" + std::string(costmodel::ToString(*said)) + "', but " + path + " is " +
                              std::string(costmodel::ToString(log.op)));
      }
    }
    const int64_t side_gpn = count("gpus_per_node");
    if (const int64_t r = count("ranks"); side_gpn > 0 && r > 0 && nodes > 0 && side_gpn * nodes != r) {
      throw Error(side, "ranks: " + std::to_string(r) + ", but nodes x gpus_per_node = " + std::to_string(nodes) + " x " +
                            std::to_string(side_gpn));
    }
    // Where the log's Rank lines say the ranks ran (logs elide ranks, so these bound from below).
    if (nodes > 0 && log.listed_hosts > nodes) {
      throw Error(side, "nodes: " + std::to_string(nodes) + ", but the log lists ranks on " +
                            std::to_string(log.listed_hosts) + " hosts (" + path + ")");
    }
    if (side_gpn > 0 && log.most_ranks_on_a_host > side_gpn) {
      throw Error(side, "gpus_per_node: " + std::to_string(side_gpn) + ", but the log lists " +
                            std::to_string(log.most_ranks_on_a_host) + " ranks on host " + log.busiest_host + " (" +
                            path + ")");
    }
    if (j.contains("gpu")) {
      if (!j["gpu"].is_string() || j["gpu"].get<std::string>().empty()) {
        throw Error(side, "gpu: must name the GPU (\"H100\", \"A100\", ...)");
      }
      const std::string gpu = costmodel::AsciiLower(j["gpu"].get<std::string>());
      for (const std::string& device : log.device_names) {
        if (costmodel::AsciiLower(device).find(gpu) == std::string::npos) {
          throw Error(side, "gpu: '" + j["gpu"].get<std::string>() + "', but the log's ranks ran on '" + device +
                                "' (" + path + ")");
        }
      }
    }
    if (const int64_t ranks = count("ranks"); ranks > 0) {
      if (ranks < log.listed_ranks) {
        throw Error(side, "ranks: " + std::to_string(ranks) + ", but the log lists rank " +
                              std::to_string(log.listed_ranks - 1) + " (" + path + ")");
      }
      out.ranks = ranks;
    }
    if (j.contains("env")) {
      if (!j["env"].is_object()) throw Error(side, "env: must be an object of NCCL_* variables and their values");
      std::vector<std::pair<std::string, std::string>> vars;
      for (auto it = j["env"].begin(); it != j["env"].end(); ++it) {
        if (it.value().is_string()) {
          vars.emplace_back(it.key(), it.value().get<std::string>());
        } else if (it.value().is_number_integer()) {
          vars.emplace_back(it.key(), std::to_string(it.value().get<int64_t>()));
        } else {
          throw Error(side, "env." + it.key() + ": must be a string or an integer");
        }
      }
      env = costmodel::ParseNcclEnv(vars, side);
    }
  }
  out.env = env;
  std::optional<costmodel::Coll> coll;
  switch (log.op) {
    case costmodel::NcclTestOp::kAllReduce: coll = costmodel::Coll::kAllReduce; break;
    case costmodel::NcclTestOp::kAllGather: coll = costmodel::Coll::kAllGather; break;
    case costmodel::NcclTestOp::kReduceScatter: coll = costmodel::Coll::kReduceScatter; break;
    case costmodel::NcclTestOp::kAllToAll: coll = costmodel::Coll::kAllToAll; break;
    case costmodel::NcclTestOp::kSendRecv: coll = costmodel::Coll::kSendRecv; break;
  }
  if (out.ranks < 2) {
    out.skip_reason = log.op == costmodel::NcclTestOp::kSendRecv
                          ? "sendrecv: the rank count cannot be inferred (busbw = algbw); give it as the sidecar's \"ranks\""
                          : "rank count could not be inferred from busbw / algbw (give the sidecar's \"ranks\")";
    return out;
  }
  const int64_t gpn = c.node.gpus_per_node;
  out.nodes = nodes > 0 ? nodes : std::max<int64_t>(1, (out.ranks + gpn - 1) / gpn);
  if (out.ranks % out.nodes != 0) {
    throw Error(side, "nodes: " + std::to_string(out.nodes) + " does not divide the log's " +
                          std::to_string(out.ranks) + " ranks");
  }
  // nccl-tests' sendrecv: every rank sends to the next and receives from the previous; the
  // slowest pair decides, one across nodes when the ranks span nodes.
  const costmodel::Group group = *coll == costmodel::Coll::kSendRecv
                                     ? costmodel::Group{2, out.nodes > 1 ? 2 : 1}
                                     : costmodel::Group{out.ranks, out.nodes};
  for (const auto& r : log.rows) {
    costmodel::CollectiveSample s;
    s.op = *coll;
    s.group = group;
    s.bytes = static_cast<double>(r.size_bytes);
    s.time_s = std::min(r.time_us, r.ip_time_us) * 1e-6;  // nccl-tests prints both; the faster
    s.gpus_per_thread = log.gpus_per_thread;
    s.env = env;
    s.source = out.name + ":" + std::to_string(r.line);
    if (s.time_s > 0) out.samples.push_back(s);
  }
  return out;
}

void AddMeasurementFile(const std::string& path, const costmodel::Cluster& c,
                        costmodel::CalibrationInputs& in) {
  const std::string text = costmodel::ReadFileText(path, "--measurements");
  // A tools/gpu_check.sh bundle: {"command": "gpu_check", "provenance", "measurements": [the
  // meshplan-validate files of its runs]}. Each is read as if given on its own.
  const json j = costmodel::ParseJsonText(text, path);
  if (j.is_object() && j.contains("command") && j["command"] == "gpu_check") {
    if (!j.contains("measurements") || !j["measurements"].is_array() || j["measurements"].empty()) {
      throw Error(path, "measurements: a gpu_check bundle must list its measurement files");
    }
    const json& ms = j["measurements"];
    for (size_t i = 0; i < ms.size(); ++i) {
      costmodel::AddMeasurements(ms[i].dump(), path + ": measurements[" + std::to_string(i) + "]", c, in);
    }
    return;
  }
  costmodel::AddMeasurements(text, path, c, in);
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
    } else if (r.kind == "gemm" && r.gemm_sustained && value("gemm_sustained_fraction") > 0) {
      // Another part of the same die: its ratio only (mapping.json sustained_ratio_parts).
      in.sustained_gemms.push_back({value("gemm_sustained_fraction"), kSustainedWindowS, {}, src});
    } else if (r.kind == "gemm" && r.gemm_sustained && value("gemm_tflops") > 0) {
      // mamf-finder's MSMF over the same run's MAMF: the chain at the power limit over its bursts.
      in.sustained_gemms.push_back({value("gemm_tflops") / r.gemm_burst_tflops, kSustainedWindowS, {}, src});
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
