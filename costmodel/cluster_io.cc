// File: costmodel/cluster_io.cc
// meshplan cluster JSON: every problem of a file is collected and reported in one error (a copy
// of dgx-h100.json once took four runs, one error each); fields with declared defaults may be
// left out and are listed in Cluster::defaulted.
#include "costmodel/cluster_io.h"

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/spec_io.h"

namespace meshplan::costmodel {

const std::vector<ClusterDefault>& ClusterDefaults() {
  // The measured DGX H100 values of data/clusters/dgx-h100.json, where each is sourced in full;
  // the latencies are NCCL's own (its tuner constants carry the per-hop latency).
  static const std::vector<ClusterDefault> kDefaults = {
      {"node.intra.latency_us", 0.0,
       "0: NVLink per-hop latency is in NCCL's tuner constants (hwLat, src/graph/tuning.cc)"},
      {"fabric.latency_us", 0.0,
       "0: NCCL's IB plugin reports no extra net latency (ncclNetProperties.latency unset), as dgx-h100"},
      {"efficiency.gemm_peak_fraction", 0.8033,
       "H100 mamf-finder best bf16 torch.mm 794.5 / 989 TFLOPS (data/reference/published.json)"},
      {"efficiency.attention_peak_fraction", 0.3387,
       "FlashAttention-2 paper Sec. 4.1: up to 335 TFLOPS fwd+bwd on H100, 335 / 989"},
      {"efficiency.hbm_fraction", 0.9, "best kernels reach ~90% of peak DRAM bandwidth (NVIDIA GTC, as dgx-h100)"},
      {"efficiency.nvlink_fraction", 0.8134,
       "nccl-tests ring all_gather busbw 366.03 GB/s of 450 on 8x H100 (data/nccl-tests)"},
      {"efficiency.network_fraction", 0.9817,
       "nccl-tests forced-Ring all_reduce 2x8 H100 over 8x IB 400G: 392.69 of 400 GB/s per node"},
      {"efficiency.kernel_launch_us", 4.0,
       "NVIDIA 'Getting Started with CUDA Graphs': a 2.9 us kernel costs ~3.8 us back to back"},
      {"efficiency.overlap_slowdown", 2.0,
       "H100: cuBLAS's persistent matmuls take 2x as long beside an NCCL kernel (pytorch/pytorch #143988, as dgx-h100)"},
      {"overhead.cuda_context_gib", 0.8, "CUDA context ~0.7-0.8 GB plus cuBLAS workspace (PyTorch forums)"},
      {"overhead.nccl_gib", 1.5, "NCCL buffers, ~0.5 GiB per communicator x 2-3 plus NVLS buffers (NCCL defaults)"},
      {"overhead.allocator_fraction", 0.15,
       "GMLake (ASPLOS 2024): PyTorch's caching allocator loses 15% to fragmentation on average"},
      {"overhead.reserve_gib", 1.86, "H100: 80 GiB less the 79.14 GiB PyTorch can allocate, plus a 1 GiB margin"},
  };
  return kDefaults;
}

namespace {

const ClusterDefault& DefaultOf(std::string_view field) {
  for (const ClusterDefault& d : ClusterDefaults()) {
    if (d.field == field) return d;
  }
  MESHPLAN_CHECK(false && "no such cluster default");
  return ClusterDefaults().front();
}

/// Collects the user errors of a file instead of stopping at the first.
class Problems {
 public:
  void Try(const std::function<void()>& read) {
    try {
      read();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kUserInput) throw;
      errors_.push_back(e);
    }
  }
  /// One problem: its own error, word for word; more: "<origin>: N problems: a; b; ...".
  void ThrowIfAny(const std::string& origin) const {
    if (errors_.empty()) return;
    if (errors_.size() == 1) throw errors_.front();
    std::string all;
    const std::string prefix = origin + ": ";
    for (const Error& e : errors_) {
      std::string one = e.what();
      if (one.rfind(prefix, 0) == 0) one.erase(0, prefix.size());
      all += (all.empty() ? "" : "; ") + one;
    }
    throw Error(origin, std::to_string(errors_.size()) + " problems: " + all);
  }

 private:
  std::vector<Error> errors_;
};

/// `block.key` from `o`, or its declared default (recorded in c.defaulted) when absent.
double NumberOrDefault(JsonObject& o, const std::string& block, const std::string& key, double min, double max,
                       Cluster& c) {
  if (o.Has(key)) return o.Number(key, min, max);
  const ClusterDefault& d = DefaultOf(block + "." + key);
  c.defaulted.push_back(block + "." + key);
  c.sources.push_back({block + "." + key, "default " + std::to_string(d.value) + ": " + std::string(d.source)});
  return d.value;
}

}  // namespace

std::string_view ToString(IntraTopology t) {
  switch (t) {
    case IntraTopology::kNvSwitch: return "nvswitch";
    case IntraTopology::kNvlinkBridge: return "nvlink_bridge";
    case IntraTopology::kPcie: return "pcie";
  }
  return "?";
}

std::string_view ToString(Transport t) { return t == Transport::kInfiniband ? "infiniband" : "roce"; }

Cluster ParseClusterJson(std::string_view text, std::string_view origin_view) {
  const std::string origin(origin_view);
  const nlohmann::json j = ParseJsonText(text, origin);
  JsonObject o(j, origin, "");
  CheckSchemaVersion(o, kSchemaVersion);
  o.Ignore("_doc");  // templates explain themselves in "_doc" keys (JSON has no comments)
  Cluster c;
  Problems pr;
  pr.Try([&] {
    c.name = o.Name("name");
  });
  pr.Try([&] {
    JsonObject g = o.Object("gpu");
    g.Ignore("_doc");
    pr.Try([&] { c.gpu.name = g.Name("name"); });
    pr.Try([&] {
      JsonObject p = g.Object("peak_tflops");
      constexpr double kMaxTflops = 1e6;
      pr.Try([&] { c.gpu.peak_tflops.fp32 = p.Number("fp32", 1e-3, kMaxTflops); });
      pr.Try([&] { c.gpu.peak_tflops.tf32 = p.Number("tf32", 1e-3, kMaxTflops); });
      pr.Try([&] { c.gpu.peak_tflops.bf16 = p.Number("bf16", 1e-3, kMaxTflops); });
      pr.Try([&] { c.gpu.peak_tflops.fp16 = p.Number("fp16", 1e-3, kMaxTflops); });
      pr.Try([&] {  // 0: no fp8 tensor cores (A100); otherwise as bounded as the others
        c.gpu.peak_tflops.fp8 = p.Number("fp8", 0, kMaxTflops);
        if (c.gpu.peak_tflops.fp8 > 0 && c.gpu.peak_tflops.fp8 < 1e-3) {
          p.Fail("fp8", "must be 0 (no FP8 tensor cores) or at least 0.001 TFLOPS");
        }
      });
      pr.Try([&] { p.Finish(); });
    });
    pr.Try([&] { c.gpu.hbm_gib = g.Number("hbm_gib", 1e-3, 1e6); });
    pr.Try([&] { c.gpu.hbm_GBps = g.Number("hbm_GBps", 1e-3, 1e9); });
    pr.Try([&] { c.gpu.sms = g.Int("sms", 1, 1 << 20); });
    pr.Try([&] { g.Finish(); });
  });
  pr.Try([&] {
    JsonObject n = o.Object("node");
    n.Ignore("_doc");
    pr.Try([&] { c.node.gpus_per_node = n.Int("gpus_per_node", 1, 1 << 16); });
    pr.Try([&] {
      if (n.Has("host_GBps_per_gpu")) c.node.host_GBps_per_gpu = n.Number("host_GBps_per_gpu", 1e-3, 1e9);
    });
    pr.Try([&] {
      if (n.Has("host_gib_per_gpu")) c.node.host_gib_per_gpu = n.Number("host_gib_per_gpu", 1e-3, 1e9);
    });
    pr.Try([&] {
      JsonObject in = n.Object("intra");
      in.Ignore("_doc");
      IntraLink& l = c.node.intra;
      pr.Try([&] { l.name = in.String("name"); });
      pr.Try([&] { l.GBps_per_gpu = in.Number("GBps_per_gpu", 1e-3, 1e9); });
      pr.Try([&] { l.latency_us = NumberOrDefault(in, "node.intra", "latency_us", 0, 1e6, c); });
      pr.Try([&] {
        if (in.Has("bulk_latency_us")) l.bulk_latency_us = in.Number("bulk_latency_us", 0, 1e6);
      });
      pr.Try([&] {
        if (in.Has("bulk_saturation_mib")) l.bulk_saturation_mib = in.Number("bulk_saturation_mib", 0, 1e6);
      });
      pr.Try([&] { l.nvls = in.Bool("nvls"); });
      pr.Try([&] {
        if (!in.Has("topology")) return;  // an NVSwitch node, as every DGX/HGX system
        const std::string t = in.Enum("topology", {"nvswitch", "nvlink_bridge", "pcie"});
        l.topology = t == "nvswitch"        ? IntraTopology::kNvSwitch
                     : t == "nvlink_bridge" ? IntraTopology::kNvlinkBridge
                                            : IntraTopology::kPcie;
      });
      pr.Try([&] {
        if (l.topology == IntraTopology::kNvlinkBridge) {
          l.bridge_gpus = in.Int("bridge_gpus", 2, 1 << 16);
        } else if (in.Has("bridge_gpus")) {
          in.Ignore("bridge_gpus");
          in.Fail("bridge_gpus", "applies only to topology \"nvlink_bridge\"");
        }
      });
      pr.Try([&] {
        if (l.topology != IntraTopology::kNvSwitch) {
          l.pcie_busbw_GBps = in.Number("pcie_busbw_GBps", 1e-3, 1e9);
        } else if (in.Has("pcie_busbw_GBps")) {
          in.Ignore("pcie_busbw_GBps");
          in.Fail("pcie_busbw_GBps", "applies only without NVSwitch (topology \"nvlink_bridge\" or \"pcie\")");
        }
      });
      pr.Try([&] {
        if (l.nvls && l.topology != IntraTopology::kNvSwitch) {
          in.Fail("nvls", "NVLink SHARP needs NVSwitch; topology \"" + std::string(ToString(l.topology)) +
                              "\" has none: set it false");
        }
      });
      pr.Try([&] { in.Finish(); });
    });
    pr.Try([&] { n.Finish(); });
  });
  pr.Try([&] {
    if (c.node.intra.topology == IntraTopology::kNvlinkBridge && c.node.intra.bridge_gpus > 0 &&
        c.node.gpus_per_node % c.node.intra.bridge_gpus != 0) {
      throw Error(origin + ": node.intra.bridge_gpus",
                  "must divide node.gpus_per_node (" + std::to_string(c.node.gpus_per_node) + "), got " +
                      std::to_string(c.node.intra.bridge_gpus));
    }
  });
  pr.Try([&] {
    JsonObject f = o.Object("fabric");
    f.Ignore("_doc");
    pr.Try([&] { c.fabric.name = f.String("name"); });
    pr.Try([&] {
      if (f.Has("transport")) {
        c.fabric.transport =
            f.Enum("transport", {"infiniband", "roce"}) == "roce" ? Transport::kRoce : Transport::kInfiniband;
      }
    });
    pr.Try([&] {
      // NICs per node, or GPUs per NIC ("8 GPUs share 2 NICs": gpus_per_nic 4).
      if (f.Has("gpus_per_nic")) {
        if (f.Has("nics_per_node")) {
          f.Ignore("gpus_per_nic");
          f.Ignore("nics_per_node");
          f.Fail("gpus_per_nic", "give it or nics_per_node, not both");
        }
        const int64_t per = f.Int("gpus_per_nic", 1, 1 << 16);
        if (c.node.gpus_per_node > 0 && c.node.gpus_per_node % per != 0) {
          f.Fail("gpus_per_nic", "must divide node.gpus_per_node (" + std::to_string(c.node.gpus_per_node) +
                                     "), got " + std::to_string(per));
        }
        c.fabric.nics_per_node = c.node.gpus_per_node > 0 ? c.node.gpus_per_node / per : 1;
      } else {
        c.fabric.nics_per_node = f.Int("nics_per_node", 1, 1 << 16);
      }
    });
    pr.Try([&] { c.fabric.nic_Gbps = f.Number("nic_Gbps", 1e-3, 1e9); });
    pr.Try([&] { c.fabric.latency_us = NumberOrDefault(f, "fabric", "latency_us", 0, 1e6, c); });
    pr.Try([&] {
      if (f.Has("bulk_latency_us")) c.fabric.bulk_latency_us = f.Number("bulk_latency_us", 0, 1e6);
    });
    pr.Try([&] {
      if (f.Has("bulk_saturation_mib")) c.fabric.bulk_saturation_mib = f.Number("bulk_saturation_mib", 0, 1e6);
    });
    pr.Try([&] { c.fabric.oversubscription = f.Number("oversubscription", 1.0, 1e6); });
    pr.Try([&] { f.Finish(); });
  });
  pr.Try([&] {
    // Every key optional: the seven main fractions default (ClusterDefaults), the rest are
    // calibration's and start at Efficiency's own values.
    const nlohmann::json empty = nlohmann::json::object();
    const bool has = o.Has("efficiency");
    JsonObject e = has ? o.Object("efficiency") : JsonObject(empty, origin, "efficiency");
    e.Ignore("_doc");
    Efficiency& x = c.efficiency;
    pr.Try([&] { x.gemm_peak_fraction = NumberOrDefault(e, "efficiency", "gemm_peak_fraction", 1e-3, 1.0, c); });
    pr.Try([&] {
      x.attention_peak_fraction = NumberOrDefault(e, "efficiency", "attention_peak_fraction", 1e-3, 1.0, c);
    });
    pr.Try([&] { x.hbm_fraction = NumberOrDefault(e, "efficiency", "hbm_fraction", 1e-3, 1.0, c); });
    pr.Try([&] { x.nvlink_fraction = NumberOrDefault(e, "efficiency", "nvlink_fraction", 1e-3, 1.0, c); });
    pr.Try([&] { x.network_fraction = NumberOrDefault(e, "efficiency", "network_fraction", 1e-3, 1.0, c); });
    pr.Try([&] { x.kernel_launch_us = NumberOrDefault(e, "efficiency", "kernel_launch_us", 0, 1e6, c); });
    pr.Try([&] { x.overlap_slowdown = NumberOrDefault(e, "efficiency", "overlap_slowdown", 1.0, 10.0, c); });
    const auto optional = [&](const char* key, double& v, double min, double max) {
      pr.Try([&] {
        if (e.Has(key)) v = e.Number(key, min, max);
      });
    };
    optional("collective_launch_us", x.collective_launch_us, 0, 1e6);
    // 0: not measured (what a cluster without it writes back); --precision fp8 is then refused.
    optional("gemm_fp8_peak_fraction", x.gemm_fp8_peak_fraction, 0, 1.0);
    pr.Try([&] {
      if (x.gemm_fp8_peak_fraction > 0 && x.gemm_fp8_peak_fraction < 1e-3) {
        e.Fail("gemm_fp8_peak_fraction", "must be 0 (not measured) or at least 0.001, as gemm_peak_fraction");
      }
    });
    optional("group_launch_us", x.group_launch_us, 0, 1e6);
    optional("torch_call_us", x.torch_call_us, 0, 1e6);
    optional("nvls_fraction", x.nvls_fraction, 1e-3, 1.0);
    optional("nvls_tree_fraction", x.nvls_tree_fraction, 1e-3, 1.0);
    optional("reduce_scatter_fraction", x.reduce_scatter_fraction, 1e-3, 1.0);
    optional("all_reduce_fraction", x.all_reduce_fraction, 1e-3, 1.0);
    optional("gemm_sustained_fraction", x.gemm_sustained_fraction, 1e-3, 1.0);
    optional("gemm_gpu_spread", x.gemm_gpu_spread, 0, 0.2);
    optional("step_sync_us", x.step_sync_us, 0, 1e6);
    optional("p2p_channel_GBps", x.p2p_channel_GBps, 0, 1e4);
    // 0 is "no per-channel cap"; a cap must be a bandwidth (collectives.h P2pTime divides by it).
    pr.Try([&] {
      if (const std::string bad = P2pChannelCapProblem(x.p2p_channel_GBps); !bad.empty()) e.Fail("p2p_channel_GBps", bad);
    });
    optional("p2p_part_mib", x.p2p_part_mib, 1.0 / 64, 1e4);
    optional("alltoall_fraction", x.alltoall_fraction, 1e-3, 1.0);
    pr.Try([&] { e.Finish(); });
  });
  pr.Try([&] {
    const nlohmann::json empty = nlohmann::json::object();
    JsonObject ov = o.Has("overhead") ? o.Object("overhead") : JsonObject(empty, origin, "overhead");
    ov.Ignore("_doc");
    Overhead& h = c.overhead;
    pr.Try([&] { h.cuda_context_gib = NumberOrDefault(ov, "overhead", "cuda_context_gib", 0, 1e6, c); });
    pr.Try([&] { h.nccl_gib = NumberOrDefault(ov, "overhead", "nccl_gib", 0, 1e6, c); });
    pr.Try([&] { h.allocator_fraction = NumberOrDefault(ov, "overhead", "allocator_fraction", 0, 1.0, c); });
    pr.Try([&] { h.reserve_gib = NumberOrDefault(ov, "overhead", "reserve_gib", 0, 1e6, c); });
    pr.Try([&] { ov.Finish(); });
  });
  pr.Try([&] {
    const auto& sources = o.Array("sources");
    for (size_t i = 0; i < sources.size(); ++i) {
      pr.Try([&] {
        JsonObject s(sources[i], origin, "sources[" + std::to_string(i) + "]");
        c.sources.push_back({s.String("field"), s.String("source")});
        s.Finish();
      });
    }
    if (sources.empty()) o.Fail("sources", "must name at least one source");
  });
  pr.Try([&] {
    // A cluster a report embeds (ToJson) lists the defaults it was given; read back, they stay listed.
    if (!o.Has("defaulted")) return;
    const auto& d = o.Array("defaulted");
    for (size_t i = 0; i < d.size(); ++i) {
      if (!d[i].is_string()) o.Fail("defaulted", "must be an array of field names");
      c.defaulted.push_back(d[i].get<std::string>());
    }
  });
  pr.Try([&] { o.Finish(); });
  pr.Try([&] {
    if (c.gpu.hbm_gib > 0 && c.gpu.hbm_gib <= c.overhead.reserve_gib) {
      throw Error(origin + ": overhead.reserve_gib",
                  "must be smaller than gpu.hbm_gib (" + std::to_string(c.gpu.hbm_gib) + ")");
    }
  });
  pr.ThrowIfAny(origin);
  return c;
}

}  // namespace meshplan::costmodel
