// meshplan models | clusters | inspect: what is built in, and what a model is made of.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "costmodel/costable.h"
#include "costmodel/error.h"
#include "costmodel/params.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/report.h"
#include "tools/cli_common.h"

namespace meshplan::tools {
namespace {

void RunModels() {
  std::printf("%-14s %-11s %6s %7s %6s %5s %7s %7s %-8s %-9s %16s %16s %s\n", "name", "family", "layers",
              "hidden", "heads", "kv", "ffn", "vocab", "act", "norm", "params", "active", "experts");
  for (const auto& name : costmodel::ListZoo("models")) {
    const costmodel::Model m = costmodel::ResolveModel(name);
    const costmodel::ParamCounts p = costmodel::CountParams(m);
    const std::string experts =
        m.moe.dense() ? "-"
                      : "top-" + std::to_string(m.moe.experts_per_token) + " of " +
                            std::to_string(m.moe.experts) +
                            (m.moe.shared_experts > 0 ? " +" + std::to_string(m.moe.shared_experts) + " shared" : "");
    std::printf("%-14s %-11s %6lld %7lld %6lld %5lld %7lld %7lld %-8s %-9s %16lld %16lld %s\n", name.c_str(),
                m.family.c_str(), static_cast<long long>(m.layers),
                static_cast<long long>(m.hidden), static_cast<long long>(m.heads),
                static_cast<long long>(m.kv_heads), static_cast<long long>(m.ffn),
                static_cast<long long>(m.vocab), std::string(costmodel::ToString(m.activation)).c_str(),
                std::string(costmodel::ToString(m.norm)).c_str(), static_cast<long long>(p.total),
                static_cast<long long>(p.active), experts.c_str());
  }
}

/// The commented starting file for a user's cluster (data/templates/cluster.json).
std::string ClusterTemplatePath() {
  return (std::filesystem::path(costmodel::DataDir()) / "templates" / "cluster.json").string();
}

void RunClusters(const std::string& template_out) {
  if (!template_out.empty()) {
    const std::string path = ClusterTemplatePath();
    // The template is read as well as written: by identity, as PreflightFiles does for flags.
    if (costmodel::OutputIsInput(costmodel::CheckOutputTarget(template_out, "--template"), path)) {
      throw Error("--template", "'" + template_out + "' is meshplan's own template (" + path +
                                    "): refusing to overwrite an input");
    }
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

/// The MoE, MLA and sliding-window lines of `inspect` (none for a plain dense model).
void PrintArchitecture(const costmodel::Model& m, const costmodel::ParamCounts& p) {
  const costmodel::Moe& e = m.moe;
  if (!e.dense()) {
    std::printf("experts           %lld routed of ffn %lld, top-%lld per token", static_cast<long long>(e.experts),
                static_cast<long long>(e.expert_ffn), static_cast<long long>(e.experts_per_token));
    if (e.shared_experts > 0) {
      std::printf("; %lld shared of ffn %lld%s", static_cast<long long>(e.shared_experts),
                  static_cast<long long>(e.shared_expert_ffn), e.shared_expert_gate ? " (gated)" : "");
    } else {
      std::printf("; no shared experts");
    }
    std::printf("%s\n", e.router_bias ? "; router with bias" : "");
    std::printf("layers            %lld MoE, %lld dense", static_cast<long long>(p.moe_layers),
                static_cast<long long>(p.dense_layers));
    if (!e.dense_layers.empty()) {
      std::printf(" (ffn %lld)", static_cast<long long>(m.ffn));
      std::string list;
      for (size_t i = 0; i < e.dense_layers.size() && i < 8; ++i) {
        list += (i ? "," : "") + std::to_string(e.dense_layers[i]);
      }
      if (e.dense_layers.size() > 8) list += ",...";
      std::printf(": layers %s", list.c_str());
    }
    std::printf("\n");
  }
  if (m.mla.enabled()) {
    const costmodel::Mla& x = m.mla;
    std::printf("attention         MLA: q_lora_rank %lld, kv_lora_rank %lld, qk head %lld nope + %lld rope, "
                "v head %lld\n", static_cast<long long>(x.q_lora_rank), static_cast<long long>(x.kv_lora_rank),
                static_cast<long long>(x.qk_nope_head_dim), static_cast<long long>(x.qk_rope_head_dim),
                static_cast<long long>(x.v_head_dim));
  }
  if (m.qk_norm) std::printf("attention         RMSNorm on each head's query and key (qk_norm)\n");
  if (m.sliding_window > 0) {
    std::printf("sliding window    %lld tokens (longer sequences are not modelled)\n",
                static_cast<long long>(m.sliding_window));
  }
}

void RunInspect(const InspectOptions& o) {
  const costmodel::Model m = costmodel::ResolveModel(o.model, "--model");
  if (o.seq < 0 || o.seq > (int64_t{1} << 24)) {
    throw meshplan::Error("--seq", "must be in [1, 16777216], got " + std::to_string(o.seq));
  }
  // Without --seq, the model's max_seq; for a windowed model, at most the window (attention over
  // a longer sequence is not modelled: an explicit longer --seq is an error).
  int64_t seq = o.seq > 0 ? o.seq : m.max_seq;
  const bool window_default = o.seq == 0 && m.sliding_window > 0 && m.sliding_window < seq;
  if (window_default) seq = m.sliding_window;
  if (const std::string w = costmodel::SlidingWindowProblem(m, seq); !w.empty()) {
    throw meshplan::Error("--seq", w);
  }
  const costmodel::ParamCounts p = costmodel::CountParams(m);
  const double flops = costmodel::ModelFlopsPerToken(m, seq);
  const bool moe = !m.moe.dense();
  std::printf("model %s (%s): %lld layers, hidden %lld, %lld heads (%lld KV, head dim %lld), "
              "ffn %lld, vocab %lld\n",
              m.name.c_str(), m.family.c_str(), static_cast<long long>(m.layers),
              static_cast<long long>(m.hidden), static_cast<long long>(m.heads),
              static_cast<long long>(m.kv_heads), static_cast<long long>(m.head_dim),
              static_cast<long long>(m.ffn), static_cast<long long>(m.vocab));
  PrintArchitecture(m, p);
  std::printf("params total      %16lld\n", static_cast<long long>(p.total));
  std::printf("  embedding       %16lld\n", static_cast<long long>(p.embedding));
  if (moe) {
    std::printf("  per MoE layer   %16lld  (x %lld layers)\n", static_cast<long long>(p.per_layer),
                static_cast<long long>(p.moe_layers));
    if (p.dense_layers > 0) {
      std::printf("  per dense layer %16lld  (x %lld layers)\n", static_cast<long long>(p.dense_per_layer),
                  static_cast<long long>(p.dense_layers));
    }
  } else {
    std::printf("  per layer       %16lld  (x %lld layers)\n", static_cast<long long>(p.per_layer),
                static_cast<long long>(m.layers));
  }
  std::printf("  final norm      %16lld\n", static_cast<long long>(p.final_norm));
  std::printf("  output head     %16lld%s\n", static_cast<long long>(p.output_head),
              m.tied_embeddings ? "  (tied to the embedding)" : "");
  if (m.params_published) {
    std::printf("  published       %16lld  (%s)\n", static_cast<long long>(*m.params_published),
                *m.params_published == p.total ? "matches" : "DIFFERS");
  }
  if (moe) {
    std::printf("params active     %16lld  per token (top-%lld of %lld routed experts)\n",
                static_cast<long long>(p.active), static_cast<long long>(m.moe.experts_per_token),
                static_cast<long long>(m.moe.experts));
    std::printf("  less embedding  %16lld\n", static_cast<long long>(p.active_non_embedding));
  }
  if (m.mtp_layers > 0) {
    std::printf("  not counted: %lld multi-token-prediction layer(s) (num_nextn_predict_layers)\n",
                static_cast<long long>(m.mtp_layers));
  }
  if (moe || m.mla.enabled()) {
    std::printf("model FLOPs/token %16.6g  at seq %lld (6 x active matmul weights + attention, no recompute)\n",
                flops, static_cast<long long>(seq));
  } else {
    std::printf("model FLOPs/token %16.6g  at seq %lld (6N + 12*L*h*s, no recompute)\n", flops,
                static_cast<long long>(seq));
  }
  // The MFU conventions (--mfu-convention): noncausal counts all of the attention term, causal half.
  const double causal = flops - 0.5 * costmodel::AttentionFlopsPerToken(m, seq);
  std::printf("  causal          %16.6g  (attention halved: --mfu-convention causal)\n", causal);
  if (window_default) {
    std::printf("  seq is the sliding window: longer sequences are not modelled (--seq sets it)\n");
  }
  if (const costmodel::Unmodelled u = costmodel::WhyNotCostable(m, seq); !u.ok()) {
    std::printf("not costed: %s\n", u.reason.c_str());
  }
  if (!o.json_path.empty()) {
    nlohmann::json j;
    j["schema_version"] = plans::kReportSchemaVersion;
    j["tool"] = plans::ToolVersion();
    j["model"] = costmodel::ToJson(m);
    j["params"] = {{"total", p.total},
                   {"embedding", p.embedding},
                   {"per_layer", p.per_layer},
                   {"final_norm", p.final_norm},
                   {"output_head", p.output_head},
                   {"active", p.active},
                   {"active_non_embedding", p.active_non_embedding}};
    if (moe) {
      j["params"]["moe_layers"] = p.moe_layers;
      j["params"]["dense_layers"] = p.dense_layers;
      j["params"]["per_dense_layer"] = p.dense_per_layer;
    }
    j["seq"] = seq;
    j["flops_per_token"] = flops;
    j["flops_per_token_causal"] = causal;
    const costmodel::Unmodelled u = costmodel::WhyNotCostable(m, seq);
    j["costed"] = u.ok();
    if (!u.ok()) j["not_costed_reason"] = u.reason;
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
