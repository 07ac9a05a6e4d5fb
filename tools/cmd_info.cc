// meshplan models | clusters | inspect: what is built in, and what a model is made of.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/params.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/report.h"
#include "tools/cli_common.h"

namespace meshplan::tools {
namespace {

void RunModels() {
  std::printf("%-14s %-7s %6s %7s %6s %5s %7s %7s %-8s %-9s %16s\n", "name", "family", "layers",
              "hidden", "heads", "kv", "ffn", "vocab", "act", "norm", "params");
  for (const auto& name : costmodel::ListZoo("models")) {
    const costmodel::Model m = costmodel::ResolveModel(name);
    std::printf("%-14s %-7s %6lld %7lld %6lld %5lld %7lld %7lld %-8s %-9s %16lld\n", name.c_str(),
                m.family.c_str(), static_cast<long long>(m.layers),
                static_cast<long long>(m.hidden), static_cast<long long>(m.heads),
                static_cast<long long>(m.kv_heads), static_cast<long long>(m.ffn),
                static_cast<long long>(m.vocab), std::string(costmodel::ToString(m.activation)).c_str(),
                std::string(costmodel::ToString(m.norm)).c_str(),
                static_cast<long long>(costmodel::CountParams(m).total));
  }
}

/// The commented starting file for a user's cluster (data/templates/cluster.json).
std::string ClusterTemplatePath() {
  return (std::filesystem::path(costmodel::DataDir()) / "templates" / "cluster.json").string();
}

void RunClusters(const std::string& template_out) {
  if (!template_out.empty()) {
    const std::string path = ClusterTemplatePath();
    const std::string text = costmodel::ReadFileText(path, "--template");
    costmodel::ParseClusterJson(text, path);  // the template itself must stay a valid cluster
    WriteFileAtomic(template_out, text, "--template");
    std::printf("wrote %s: a DGX H100 starting point; every field is explained in its \"_doc\" keys and in "
                "data/clusters/README.md\n",
                template_out.c_str());
    return;
  }
  std::printf("%-14s %-16s %9s %8s %9s %4s %9s %-5s %s\n", "name", "gpu", "bf16_TF", "HBM_GiB",
              "HBM_GBps", "gpn", "NVL_GBps", "nvls", "network");
  for (const auto& name : costmodel::ListZoo("clusters")) {
    const costmodel::Cluster c = costmodel::ResolveCluster(name);
    char net[64];
    std::snprintf(net, sizeof net, "%lldx%g Gb/s %s", static_cast<long long>(c.fabric.nics_per_node),
                  c.fabric.nic_Gbps, std::string(costmodel::ToString(c.fabric.transport)).c_str());
    std::printf("%-14s %-16s %9g %8g %9g %4lld %9g %-5s %s\n", name.c_str(), c.gpu.name.c_str(),
                c.gpu.peak_tflops.bf16, c.gpu.hbm_gib, c.gpu.hbm_GBps,
                static_cast<long long>(c.node.gpus_per_node), c.node.intra.GBps_per_gpu,
                c.node.intra.nvls ? "yes" : "no", net);
  }
}

struct InspectOptions {
  std::string model;
  int64_t seq = 0;
  std::string json_path;
};

void RunInspect(const InspectOptions& o) {
  const costmodel::Model m = costmodel::ResolveModel(o.model, "--model");
  const int64_t seq = o.seq > 0 ? o.seq : m.max_seq;
  if (o.seq < 0 || seq > (int64_t{1} << 24)) {
    throw meshplan::Error("--seq", "must be in [1, 16777216], got " + std::to_string(o.seq));
  }
  const costmodel::ParamCounts p = costmodel::CountParams(m);
  const double flops = costmodel::ModelFlopsPerToken(m, seq);
  std::printf("model %s (%s): %lld layers, hidden %lld, %lld heads (%lld KV, head dim %lld), "
              "ffn %lld, vocab %lld\n",
              m.name.c_str(), m.family.c_str(), static_cast<long long>(m.layers),
              static_cast<long long>(m.hidden), static_cast<long long>(m.heads),
              static_cast<long long>(m.kv_heads), static_cast<long long>(m.head_dim),
              static_cast<long long>(m.ffn), static_cast<long long>(m.vocab));
  std::printf("params total      %16lld\n", static_cast<long long>(p.total));
  std::printf("  embedding       %16lld\n", static_cast<long long>(p.embedding));
  std::printf("  per layer       %16lld  (x %lld layers)\n", static_cast<long long>(p.per_layer),
              static_cast<long long>(m.layers));
  std::printf("  final norm      %16lld\n", static_cast<long long>(p.final_norm));
  std::printf("  output head     %16lld%s\n", static_cast<long long>(p.output_head),
              m.tied_embeddings ? "  (tied to the embedding)" : "");
  if (m.params_published) {
    std::printf("  published       %16lld  (%s)\n", static_cast<long long>(*m.params_published),
                *m.params_published == p.total ? "matches" : "DIFFERS");
  }
  std::printf("model FLOPs/token %16.6g  at seq %lld (6N + 12*L*h*s, no recompute)\n", flops,
              static_cast<long long>(seq));
  // The MFU conventions (--mfu-convention): noncausal counts all of 12 L a d s, causal half.
  const double causal = flops - 0.5 * costmodel::AttentionFlopsPerToken(m, seq);
  std::printf("  causal          %16.6g  (attention halved: --mfu-convention causal)\n", causal);
  if (!o.json_path.empty()) {
    nlohmann::json j;
    j["schema_version"] = plans::kReportSchemaVersion;
    j["tool"] = plans::ToolVersion();
    j["model"] = costmodel::ToJson(m);
    j["params"] = {{"total", p.total},
                   {"embedding", p.embedding},
                   {"per_layer", p.per_layer},
                   {"final_norm", p.final_norm},
                   {"output_head", p.output_head}};
    j["seq"] = seq;
    j["flops_per_token"] = flops;
    j["flops_per_token_causal"] = causal;
    WriteFileAtomic(o.json_path, plans::DumpReport(j), "--json");
  }
}

}  // namespace

void SetupInfo(CLI::App& app) {
  app.add_subcommand("models", "list the built-in models")->callback(RunModels);
  {
    auto out = std::make_shared<std::string>();
    CLI::App* clusters = app.add_subcommand("clusters", "list the built-in clusters");
    clusters->add_option("--template", *out,
                         "write a commented starting file for your own cluster to this path");
    clusters->callback([out] { RunClusters(*out); });
  }
  auto opt = std::make_shared<InspectOptions>();
  CLI::App* sub = app.add_subcommand("inspect", "parameter counts and FLOPs of a model");
  sub->add_option("--model", opt->model, "built-in name, meshplan model JSON or HF config.json")
      ->required();
  sub->add_option("--seq", opt->seq, "sequence length for FLOPs (default: the model's max_seq)")
      ->check(IntegerIn(1, kMaxSeq));
  sub->add_option("--json", opt->json_path, "write the JSON to this file");
  sub->callback([opt] { RunInspect(*opt); });
}

}  // namespace meshplan::tools
