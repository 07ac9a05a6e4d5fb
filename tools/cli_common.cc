#include "tools/cli_common.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "costmodel/error.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::tools {

namespace {
constexpr int64_t kMaxGpus = int64_t{1} << 24;  // 16.7M GPUs: beyond any cluster
constexpr int64_t kMaxBatch = int64_t{1} << 30;
}  // namespace

void AddWorkloadFlags(CLI::App* app, WorkloadOptions& o, bool gpus_required, bool batch_required) {
  app->add_option("--model", o.model, "built-in model name, meshplan model JSON or HF config.json")
      ->required();
  app->add_option("--cluster", o.cluster, "built-in cluster name or cluster JSON")->required();
  if (gpus_required) app->add_option("--gpus", o.gpus, "number of GPUs")->required();
  if (batch_required) {
    app->add_option("--global-batch", o.global_batch, "sequences per optimizer step")->required();
    app->add_option("--seq", o.seq, "tokens per sequence")->required();
  }
  app->add_option("--recipe", o.recipe, "megatron | fsdp2");
  app->add_option("--reduce-dtype", o.reduce_dtype, "gradient reduction dtype: fp32 | bf16");
  app->add_flag("--no-flash-attention", o.no_flash_attention,
                "unfused attention (keeps the s^2 scores, as Megatron did in 2022)");
  app->add_flag("--allow-cross-node-tp", o.allow_cross_node_tp,
                "let tensor parallelism span nodes");
  app->add_option("--calibration", o.calibration,
                  "calibration profile (a data/calibration name or a profile JSON from 'meshplan calibrate')");
}

costmodel::Cluster ResolveCalibratedCluster(const WorkloadOptions& o) {
  costmodel::Cluster c = costmodel::ResolveCluster(o.cluster, "--cluster");
  if (!o.calibration.empty()) {
    costmodel::ApplyCalibration(costmodel::ResolveCalibration(o.calibration, "--calibration"), c,
                                "--calibration");
  }
  return c;
}

costmodel::Workload MakeWorkload(const WorkloadOptions& o, const costmodel::Model& m,
                                 const costmodel::Cluster& c, int64_t gpus, int64_t global_batch,
                                 int64_t seq) {
  if (gpus < 1 || gpus > kMaxGpus) {
    throw Error("--gpus", "must be in [1, " + std::to_string(kMaxGpus) + "], got " +
                              std::to_string(gpus));
  }
  const int64_t gpn = c.node.gpus_per_node;
  if (gpus > gpn && gpus % gpn != 0) {
    throw Error("--gpus", "must be a multiple of the cluster's " + std::to_string(gpn) +
                              " GPUs per node when it spans nodes, got " + std::to_string(gpus));
  }
  if (global_batch < 1 || global_batch > kMaxBatch) {
    throw Error("--global-batch", "must be in [1, " + std::to_string(kMaxBatch) + "], got " +
                                      std::to_string(global_batch));
  }
  if (seq < 1 || seq > (int64_t{1} << 24)) {
    throw Error("--seq", "must be in [1, 16777216], got " + std::to_string(seq));
  }
  if (m.position == costmodel::Position::kLearned && seq > m.max_seq) {
    throw Error("--seq", "model " + m.name + " has learned positions for at most " +
                             std::to_string(m.max_seq) + " tokens, got " + std::to_string(seq));
  }
  costmodel::Workload w;
  w.gpus = gpus;
  w.global_batch = global_batch;
  w.seq = seq;
  w.flash_attention = !o.no_flash_attention;
  w.reduce_dtype = costmodel::ParseDtype(o.reduce_dtype, "--reduce-dtype");
  w.allow_cross_node_tp = o.allow_cross_node_tp;
  return w;
}

Resolved Resolve(const WorkloadOptions& o) {
  Resolved r;
  r.model = costmodel::ResolveModel(o.model, "--model");
  r.cluster = ResolveCalibratedCluster(o);
  if (!o.recipe.empty()) costmodel::ParseRecipe(o.recipe, "--recipe");
  r.workload = MakeWorkload(o, r.model, r.cluster, o.gpus, o.global_batch, o.seq);
  return r;
}

void WriteFileAtomic(const std::string& path, const std::string& content, const std::string& flag) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.parent_path();
  if (!dir.empty() && !fs::is_directory(dir)) {
    throw Error(flag, "directory '" + dir.string() + "' does not exist");
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(flag, "cannot write '" + tmp + "'");
    out << content;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(flag, "cannot write '" + tmp + "'", ErrorKind::kRuntime);
    }
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(flag, "cannot rename into '" + path + "': " + ec.message(), ErrorKind::kRuntime);
  }
}

}  // namespace meshplan::tools
