#include "tools/cli_common.h"

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "costmodel/compute.h"
#include "costmodel/error.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::tools {

CLI::Validator IntegerIn(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        int64_t v = 0;
        const char* end = text.data() + text.size();
        const auto res = std::from_chars(text.data(), end, v);
        if (res.ptr != end || (res.ec != std::errc() && res.ec != std::errc::result_out_of_range) ||
            text.empty()) {
          return "must be an integer, got '" + text + "'";
        }
        if (res.ec == std::errc::result_out_of_range || v < min || v > max) {
          return "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + text;
        }
        return "";
      },
      "INT in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
}

void AddWorkloadFlags(CLI::App* app, WorkloadOptions& o, bool gpus_required, bool batch_required) {
  app->add_option("--model", o.model, "built-in model name, meshplan model JSON or HF config.json")
      ->required();
  app->add_option("--cluster", o.cluster, "built-in cluster name or cluster JSON")->required();
  if (gpus_required) {
    app->add_option("--gpus", o.gpus, "number of GPUs")->required()->check(IntegerIn(1, kMaxGpus));
  }
  if (batch_required) {
    app->add_option("--global-batch", o.global_batch, "sequences per optimizer step")
        ->required()
        ->check(IntegerIn(1, kMaxGlobalBatch));
    app->add_option("--seq", o.seq, "tokens per sequence")->required()->check(IntegerIn(1, kMaxSeq));
  }
  app->add_option("--recipe", o.recipe, "megatron | fsdp2");
  app->add_option("--reduce-dtype", o.reduce_dtype, "gradient reduction dtype: fp32 | bf16");
  app->add_flag("--no-flash-attention", o.no_flash_attention,
                "unfused attention (keeps the s^2 scores, as Megatron did in 2022)");
  AddKernelFlags(app, o);
  app->add_flag("--allow-cross-node-tp", o.allow_cross_node_tp,
                "let tensor parallelism span nodes");
  app->add_option("--calibration", o.calibration,
                  "calibration profile (a data/calibration name or a profile JSON from 'meshplan calibrate')");
}

void AddKernelFlags(CLI::App* app, WorkloadOptions& o) {
  CLI::Option* version =
      app->add_option("--flash-version", o.flash_version,
                      "FlashAttention generation: 1 (or its Triton port), 2 (default), 3 (Hopper)")
          ->check(IntegerIn(1, 3));
  if (CLI::Option* unfused = app->get_option_no_throw("--no-flash-attention")) version->excludes(unfused);
  app->add_flag("--eager-elementwise", o.eager_elementwise,
                "PyTorch eager RMSNorm, SwiGLU and RoPE (no torch.compile, no fused kernels)");
}

costmodel::Cluster ResolveCalibratedCluster(const std::string& cluster, const std::string& calibration) {
  costmodel::Cluster c = costmodel::ResolveCluster(cluster, "--cluster");
  if (!calibration.empty()) {
    costmodel::ApplyCalibration(costmodel::ResolveCalibration(calibration, "--calibration"), c,
                                "--calibration");
  }
  return c;
}

costmodel::Cluster ResolveCalibratedCluster(const WorkloadOptions& o) {
  return ResolveCalibratedCluster(o.cluster, o.calibration);
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
  if (global_batch < 1 || global_batch > kMaxGlobalBatch) {
    throw Error("--global-batch", "must be in [1, " + std::to_string(kMaxGlobalBatch) + "], got " +
                                      std::to_string(global_batch));
  }
  if (seq < 1 || seq > kMaxSeq) {
    throw Error("--seq", "must be in [1, " + std::to_string(kMaxSeq) + "], got " + std::to_string(seq));
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
  w.flash_version = o.flash_version;
  w.eager_elementwise = o.eager_elementwise;
  if (!costmodel::AttentionRunsOn(w, c.gpu.name)) {
    throw Error("--flash-version", "FlashAttention-3 runs only on Hopper GPUs (H100/H200), cluster " +
                                       c.name + " has " + c.gpu.name);
  }
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

void WriteFilesAtomic(const std::vector<OutputFile>& files) {
  namespace fs = std::filesystem;
  std::vector<std::string> tmps;
  auto discard = [&] {
    for (const auto& t : tmps) std::remove(t.c_str());
  };
  // Stage every file first, so a failure on the second leaves not even the first behind.
  for (const auto& f : files) {
    if (f.path.empty()) {
      discard();
      throw Error(f.flag, "must name a file, got ''");
    }
    const fs::path target(f.path);
    const fs::path dir = target.parent_path();
    std::error_code ec;
    if (!dir.empty() && !fs::is_directory(dir, ec)) {
      discard();
      throw Error(f.flag, "directory '" + dir.string() + "' does not exist");
    }
    const std::string tmp = f.path + ".tmp." + std::to_string(::getpid());
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      discard();
      throw Error(f.flag, "cannot write '" + tmp + "'");
    }
    tmps.push_back(tmp);
    out << f.content;
    out.flush();
    if (!out) {
      discard();
      throw Error(f.flag, "cannot write '" + tmp + "'", ErrorKind::kRuntime);
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    std::error_code ec;
    fs::rename(tmps[i], files[i].path, ec);
    if (ec) {
      tmps.erase(tmps.begin(), tmps.begin() + static_cast<long>(i));
      discard();
      throw Error(files[i].flag, "cannot rename into '" + files[i].path + "': " + ec.message(),
                  ErrorKind::kRuntime);
    }
  }
}

void WriteFileAtomic(const std::string& path, const std::string& content, const std::string& flag) {
  WriteFilesAtomic({{path, content, flag}});
}

}  // namespace meshplan::tools
