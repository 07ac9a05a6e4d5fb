#include "costmodel/collectives.h"

#include <algorithm>
#include <cmath>

#include "costmodel/error.h"

namespace meshplan::costmodel {

std::string_view ToString(Coll c) {
  switch (c) {
    case Coll::kAllGather: return "all_gather";
    case Coll::kReduceScatter: return "reduce_scatter";
    case Coll::kAllReduce: return "all_reduce";
    case Coll::kSendRecv: return "send_recv";
    case Coll::kAllToAll: return "all_to_all";
  }
  return "?";
}
std::string_view ToString(Algo a) {
  switch (a) {
    case Algo::kRing: return "ring";
    case Algo::kTree: return "tree";
    case Algo::kNvls: return "nvls";
    case Algo::kPat: return "pat";
    case Algo::kNvlsTree: return "nvls_tree";
  }
  return "?";
}
std::string_view ToString(Proto p) {
  switch (p) {
    case Proto::kLL: return "LL";
    case Proto::kLL128: return "LL128";
    case Proto::kSimple: return "Simple";
  }
  return "?";
}

LinkParams LinkParamsFor(const Cluster& c) {
  LinkParams p;
  p.intra_busbw_GBps = c.node.intra.GBps_per_gpu * c.efficiency.nvlink_fraction;
  p.node_net_GBps = c.fabric.nics_per_node * c.fabric.nic_Gbps / 8.0 *
                    c.efficiency.network_fraction / c.fabric.oversubscription;
  p.gpus_per_node = c.node.gpus_per_node;
  p.nvlink_domain = c.node.intra.NvlinkDomain(c.node.gpus_per_node);
  p.pcie_busbw_GBps = c.node.intra.pcie_busbw_GBps;
  p.intra_extra_latency_us = c.node.intra.latency_us;
  p.net_extra_latency_us = c.fabric.latency_us;
  p.net_bulk_latency_us = c.fabric.bulk_latency_us;
  p.net_bulk_saturation_bytes = c.fabric.bulk_saturation_mib * 1048576.0;
  p.intra_bulk_latency_us = c.node.intra.bulk_latency_us;
  p.intra_bulk_saturation_bytes = c.node.intra.bulk_saturation_mib * 1048576.0;
  p.launch_us = c.efficiency.collective_launch_us;
  p.nvls_fraction = c.efficiency.nvls_fraction;
  p.nvls_tree_fraction = c.efficiency.nvls_tree_fraction;
  p.reduce_scatter_fraction = c.efficiency.reduce_scatter_fraction;
  p.all_reduce_fraction = c.efficiency.all_reduce_fraction;
  p.intra_line_GBps = c.node.intra.GBps_per_gpu;
  p.p2p_channel_GBps = c.efficiency.p2p_channel_GBps;
  p.p2p_part_mib = c.efficiency.p2p_part_mib;
  p.alltoall_fraction = c.efficiency.alltoall_fraction;
  p.nvls = c.node.intra.nvls;
  p.ampere = c.gpu.name.rfind("A100", 0) == 0;
  return p;
}

int64_t RingSteps(Coll c, int64_t ranks) {
  return c == Coll::kAllReduce ? 2 * (ranks - 1) : ranks - 1;
}
int64_t RingInterSteps(Coll c, int64_t nodes) {
  return c == Coll::kAllReduce ? 2 * (nodes - 1) : nodes - 1;
}

double BusBwFactor(Coll c, int64_t ranks) {
  const double n = static_cast<double>(ranks);
  if (c == Coll::kSendRecv) return 1.0;
  return c == Coll::kAllReduce ? 2.0 * (n - 1) / n : (n - 1) / n;
}

CollectiveTable BuildTable(const LinkParams& p, const Group& g) {
  CollectiveTable t;
  t.group = g;
  t.launch_us = p.launch_us;
  t.bulk_latency_us = p.net_bulk_latency_us;
  t.bulk_saturation_bytes = p.net_bulk_saturation_bytes;
  t.intra_bulk_latency_us = p.intra_bulk_latency_us;
  t.intra_bulk_saturation_bytes = p.intra_bulk_saturation_bytes;
  const NcclConstants& k = p.nccl;
  const int64_t n = g.ranks, nodes = g.nodes, ppn = g.ranks_per_node();
  if (n <= 1) return t;
  const bool multi = nodes > 1;
  // Bus bandwidth: NVLink inside a node; across nodes the ring leaves each node once per
  // channel, so the node's NICs bound it, shared by the gpus_per_node / ppn groups that run
  // at the same time (a 1-rank-per-node group gets one NIC's share).
  // Past the NVLink domain (no NVSwitch: a bridged group, or PCIe alone) NCCL's graph is PCI:
  // its ring takes the PCI bandwidth and hwLat row (tuning.cc: intraHw = typeIntra == LINK_NVL ?
  // NVLINK : PCI).
  const bool pci = ppn > p.nvlink_domain;
  // NCCL's busBw is nChannels x a per-channel bandwidth (src/graph/tuning.cc ncclTopoTuneModel,
  // "busBw = graphs[a]->nChannels * speed", NVIDIA/nccl@01afd20a77b5804e0ecf1042509dd9d20ebf9e93):
  // the user's NCCL_MIN/MAX_CTAS scale what the default channels reach, up to the link's line
  // rate (more channels cannot beat NVLink or the NICs). NCCL's own per-size channel reduction
  // (src/enqueue.cc topoGetAlgoInfo, NVIDIA/nccl@01e6dd915fdd2627a7205f5aa1c7f14d46990226: fewer
  // channels while nBytes < nc x nThreads x threadThreshold, 64 B for Simple, comm.h) touches
  // only latency-bound sizes and is not modelled.
  const bool neutral = p.env.Neutral();  // the default settings: nothing below to apply
  const double ch_scale =
      neutral ? 1.0 : static_cast<double>(p.env.Channels(p.channels)) / static_cast<double>(p.channels);
  double busbw = (pci ? p.pcie_busbw_GBps : p.intra_busbw_GBps) * ch_scale;
  if (!pci && ch_scale > 1.0 && p.intra_line_GBps > 0) {
    busbw = std::min(busbw, std::max(p.intra_busbw_GBps, p.intra_line_GBps));
  }
  if (multi) {
    const double share = static_cast<double>(ppn) / static_cast<double>(p.gpus_per_node);
    busbw = std::min(busbw, p.node_net_GBps * std::min(1.0, share) * std::min(1.0, ch_scale));
  }
  const double nvls_ch = static_cast<double>(neutral ? k.nvls_channels : p.env.Channels(k.nvls_channels));
  const double log2_nodes = std::log2(static_cast<double>(nodes));
  const auto& ll_caps = p.ampere ? k.ll_max_ampere : k.ll_max_hopper;
  const double ll_max = ll_caps[nodes == 1 ? 0 : nodes == 2 ? 1 : 2];
  for (int pi = 0; pi < kNumProto; ++pi) {
    const bool simple = pi == static_cast<int>(Proto::kSimple);
    const double net_overhead = k.net_overhead_us * (simple ? 3.0 : 1.0);
    // latencyInter, and again for Simple (the flush).
    const double extra_inter = p.net_extra_latency_us * (simple ? 2.0 : 1.0);
    // Inter-node hops that pay the calibrated bulk latency (LL128 and Simple; TimeOf adds it).
    const bool bulk = pi != static_cast<int>(Proto::kLL);
    // Ring. NCCL takes the tree's NET latency when there is one rank per node.
    double intra_ring = (pci ? k.pci_ring[pi] : k.nvlink_ring[pi]) + p.intra_extra_latency_us;
    if (multi) intra_ring = std::max(intra_ring, net_overhead);
    const double inter_ring = (ppn == 1 ? k.net_tree[pi] : k.net_ring[pi]) + extra_inter;
    const double proto_bw = pi == 0 ? k.ll_fraction : pi == 1 ? k.ll128_fraction : 1.0;
    for (int ci = 0; ci < kNumColl; ++ci) {
      const Coll c = static_cast<Coll>(ci);
      const int64_t steps = RingSteps(c, n), inter = RingInterSteps(c, nodes);
      AlgoEntry& ring = t.e[ci][static_cast<int>(Algo::kRing)][pi];
      ring.latency_us = k.base_ring[pi] + static_cast<double>(steps - inter) * intra_ring +
                        static_cast<double>(inter) * inter_ring;
      ring.bulk_hops = bulk ? static_cast<double>(inter) : 0.0;
      ring.intra_bulk_hops = bulk && !pci ? static_cast<double>(steps - inter) : 0.0;
      double proto_busbw = busbw * proto_bw;
      if (pi == 0) proto_busbw = std::min(proto_busbw, ll_max);
      ring.algbw_GBps = proto_busbw * static_cast<double>(n) / static_cast<double>(steps);
    }
    // Tree all-reduce (double binary tree across nodes, chain inside).
    if (multi) {
      // The tree's intra-node hops do not take the NET overhead (NCCL applies it to rings only).
      const double intra_tree = (pci ? k.pci_tree[pi] : k.nvlink_tree[pi]) + p.intra_extra_latency_us;
      const double inter_tree = k.net_tree[pi] + extra_inter;
      AlgoEntry& tree = t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kTree)][pi];
      tree.latency_us = k.base_tree[pi] + 2.0 * (static_cast<double>(ppn - 1) * intra_tree +
                                                 log2_nodes * inter_tree);
      tree.bulk_hops = bulk ? 2.0 * log2_nodes : 0.0;
      tree.intra_bulk_hops = bulk && !pci ? 2.0 * static_cast<double>(ppn - 1) : 0.0;
      const double tree_bus = pi == 0   ? std::min(busbw / k.tree_ll_divisor, ll_max)
                              : pi == 1 ? busbw * k.tree_fraction * k.tree_ll128_multinode
                                        : busbw * k.tree_fraction;
      tree.algbw_GBps = tree_bus * 0.5;
    }
    if (simple) {
      // NVLS all-reduce inside one NVSwitch node.
      if (!multi && p.nvls && n > 2) {
        AlgoEntry& nv = t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kNvls)][pi];
        nv.latency_us = k.nvls_simple + p.intra_extra_latency_us;
        nv.algbw_GBps = p.intra_busbw_GBps * p.nvls_fraction * (nvls_ch - 1.0) / nvls_ch;
      }
      // NVLS-tree all-reduce across nodes (NCCL >= 2.18 on NVSwitch systems): NVLS reduces
      // inside each node, each GPU then all-reduces its 1/ppn slice with its peers on the other
      // nodes over its own NIC share, and NVLS broadcasts back. Latency as NCCL's tuner:
      // intraLat + 2 log2(nNodes) interLat. Bandwidth: the hierarchical bound, a node moving
      // 2 (nodes - 1) / nodes of S through its NICs at a calibrated efficiency, or the NVLS
      // all-reduce inside the node, whichever is slower (our model, not NCCL's busBw conversion,
      // which does not fall with the node count as measured).
      if (multi && p.nvls && ppn == p.gpus_per_node && ppn > 2) {
        AlgoEntry& nt = t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kNvlsTree)][pi];
        nt.latency_us = k.nvls_simple + p.intra_extra_latency_us +
                        2.0 * log2_nodes * (k.nvls_tree_net + extra_inter);
        nt.bulk_hops = 2.0 * log2_nodes;
        // Past two nodes the inter-node part is a real tree: a node's NICs carry its two
        // children's data as well as its own, so NCCL's tuner halves bwInter there
        // (tuning.cc: bwInter / 2 when nNodes > 2).
        const double tree_share = nodes <= 2 ? 1.0 : 0.5;
        const double net_bound = p.node_net_GBps * tree_share * static_cast<double>(nodes) /
                                 (2.0 * static_cast<double>(nodes - 1));
        const double intra_bound = p.intra_busbw_GBps * p.nvls_fraction * (nvls_ch - 1.0) / nvls_ch;
        nt.algbw_GBps = std::min(net_bound * p.nvls_tree_fraction, intra_bound);
      }
      // PAT all-gather / reduce-scatter with one rank per node.
      if (multi && ppn == 1) {
        for (Coll c : {Coll::kAllGather, Coll::kReduceScatter}) {
          AlgoEntry& pat = t.e[static_cast<int>(c)][static_cast<int>(Algo::kPat)][pi];
          pat.latency_us = k.base_pat + log2_nodes * inter_ring / k.pat_net_divisor +
                           k.pat_per_rank_us * static_cast<double>(n);
          pat.bulk_hops = log2_nodes / k.pat_net_divisor;
          pat.algbw_GBps = busbw * k.pat_fraction * static_cast<double>(n) /
                           static_cast<double>(n - 1);
        }
      }
    }
  }
  // Per-collective bandwidth relative to all-gather (calibrated; 1 uncalibrated): where the
  // reduction itself costs, as on CPUs, reduce-scatter and all-reduce move bytes slower.
  for (int a = 0; a < kNumAlgo; ++a) {
    for (int pi = 0; pi < kNumProto; ++pi) {
      t.e[static_cast<int>(Coll::kReduceScatter)][a][pi].algbw_GBps *= p.reduce_scatter_fraction;
      t.e[static_cast<int>(Coll::kAllReduce)][a][pi].algbw_GBps *= p.all_reduce_fraction;
    }
  }
  // The user's NCCL_ALGO / NCCL_PROTO / NCCL_NVLS_ENABLE: a disabled pair has bandwidth 0, as in
  // NCCL's tuning table, so the argmin never picks it.
  for (int a = 0; a < (neutral ? 0 : kNumAlgo); ++a) {
    const bool nvls_algo = a == static_cast<int>(Algo::kNvls) || a == static_cast<int>(Algo::kNvlsTree);
    for (int pi = 0; pi < kNumProto; ++pi) {
      const bool off = !(p.env.algo_mask & (1u << a)) || !(p.env.proto_mask & (1u << pi)) ||
                       (nvls_algo && p.env.nvls_enable == 0);
      if (!off) continue;
      for (int ci = 0; ci < kNumColl; ++ci) t.e[ci][a][pi] = AlgoEntry{};
    }
  }
  return t;
}

CollectiveCost TimeOf(const CollectiveTable& t, Coll c, Algo a, Proto p, double bytes) {
  CollectiveCost out;
  out.algo = a;
  out.proto = p;
  const AlgoEntry& e = t.e[static_cast<int>(c)][static_cast<int>(a)][static_cast<int>(p)];
  if (e.algbw_GBps <= 0) {
    out.time_s = -1;
    return out;
  }
  // The bulk latency of each LL128/Simple hop: a pipeline step's chunk in flight, which grows
  // with the bytes it is sized by until the chunk reaches its largest size (0: at any size).
  const auto ramp = [](double sized_by, double saturation) {
    return saturation > 0 ? std::min(1.0, sized_by / saturation) : 1.0;
  };
  const Group& g = t.group;
  // Inter-node hops by the message; NVLink hops by each rank's share of it.
  const double share = bytes / static_cast<double>(std::max<int64_t>(g.ranks, 1));
  double latency_us = e.latency_us + e.bulk_hops * t.bulk_latency_us * ramp(bytes, t.bulk_saturation_bytes) +
                      e.intra_bulk_hops * t.intra_bulk_latency_us * ramp(share, t.intra_bulk_saturation_bytes);
  // NCCL's "plateau effect of ring": a multi-node Simple ring all-reduce whose per-channel,
  // per-rank share reaches 64 bytes pays 1.4x its latency (x1.9 before Ampere; GetAlgoTime).
  // Channels taken at NCCL's default maximum of 32, the earliest the threshold can be reached.
  if (c == Coll::kAllReduce && a == Algo::kRing && p == Proto::kSimple && g.nodes > 1 &&
      bytes / (32.0 * static_cast<double>(g.ranks)) >= 64.0) {
    latency_us *= NcclConstants::kRingPlateau;
  }
  out.latency_s = (latency_us + t.launch_us) * 1e-6;
  out.bandwidth_s = bytes / (e.algbw_GBps * 1e9);
  if (c == Coll::kAllReduce && a == Algo::kTree && bytes >= 64.0) {
    // NCCL's log2i(nBytes >> 6): the floor of log2 of whole 64-byte units.
    const int log_size = std::ilogb(std::floor(bytes / 64.0));
    if (log_size >= 0 && log_size < 24) {
      out.bandwidth_s /=
          NcclConstants::kTreeCorrection[static_cast<size_t>(p)][static_cast<size_t>(log_size)];
    }
  }
  out.time_s = out.latency_s + out.bandwidth_s;
  if (a == Algo::kRing) {
    out.inter_steps = RingInterSteps(c, g.nodes);
    out.intra_steps = RingSteps(c, g.ranks) - out.inter_steps;
  }
  return out;
}

int P2pChannelsPerPeer(const LinkParams& p, double peer_bytes, bool inter_node) {
  // addP2pToPlan: the channel count doubles while a part is above the largest part, up to the
  // p2p channels per peer (comm->p2pnChannelsPerPeer, here the communicator's channels).
  const int most = std::max(1, p.env.Channels(p.channels));
  const double part = p.p2p_part_mib * 1048576.0 / (inter_node ? NcclConstants::kP2pNetPartRatio : 1.0);
  int n = 1;
  while (part > 0 && peer_bytes / n > part && n * 2 <= most) n *= 2;
  return n;
}

CollectiveCost P2pTime(const LinkParams& p, const Group& g, Coll c, double bytes) {
  MESHPLAN_CHECK(c == Coll::kSendRecv || c == Coll::kAllToAll);
  CollectiveCost out;
  out.algo = Algo::kRing;
  out.proto = Proto::kSimple;
  if (g.ranks <= 1) return out;
  const bool a2a = c == Coll::kAllToAll;
  const int64_t n = g.ranks, ppn = g.ranks_per_node();
  // Peers over NVLink and over the network, and what each one gets.
  const double intra_peers = a2a ? static_cast<double>(ppn - 1) : (g.nodes > 1 ? 0.0 : 1.0);
  const double inter_peers = a2a ? static_cast<double>(n - ppn) : (g.nodes > 1 ? 1.0 : 0.0);
  const double peer_bytes = a2a ? bytes / static_cast<double>(n) : bytes;
  const double frac = a2a ? p.alltoall_fraction : 1.0;
  const double channels = static_cast<double>(std::max(1, p.env.Channels(p.channels)));
  auto capped = [&](double link_GBps, double peers, bool inter) {
    if (p.p2p_channel_GBps <= 0) return link_GBps;
    const double ch = std::min(channels, peers * P2pChannelsPerPeer(p, peer_bytes, inter));
    return std::min(link_GBps, ch * p.p2p_channel_GBps);
  };
  const int simple = static_cast<int>(Proto::kSimple);
  double latency_us = p.nccl.base_ring[static_cast<size_t>(simple)] + p.launch_us;
  double bw_s = 0;
  if (intra_peers > 0) {
    const double GBps = capped(p.intra_busbw_GBps, intra_peers, false) * frac;
    if (GBps > 0) bw_s = std::max(bw_s, intra_peers * peer_bytes / (GBps * 1e9));
  }
  if (inter_peers > 0) {
    // A node's NICs shared by all its GPUs, each running its own traffic.
    const double net = p.node_net_GBps / static_cast<double>(std::max<int64_t>(1, p.gpus_per_node));
    const double GBps = capped(net, inter_peers, true) * frac;
    if (GBps > 0) bw_s = std::max(bw_s, inter_peers * peer_bytes / (GBps * 1e9));
    latency_us += p.nccl.net_ring[static_cast<size_t>(simple)] + p.net_extra_latency_us + p.net_bulk_latency_us;
    out.inter_steps = 1;
  } else {
    latency_us += p.nccl.nvlink_ring[static_cast<size_t>(simple)] + p.intra_extra_latency_us;
    out.intra_steps = 1;
  }
  out.latency_s = latency_us * 1e-6;
  out.bandwidth_s = bw_s;
  out.time_s = out.latency_s + out.bandwidth_s;
  return out;
}

CollectiveCost SendRecvTime(const LinkParams& p, bool inter_node, double bytes) {
  return P2pTime(p, Group{2, inter_node ? 2 : 1}, Coll::kSendRecv, bytes);
}

CollectiveCost AllToAllTime(const LinkParams& p, const Group& g, double bytes) {
  return P2pTime(p, g, Coll::kAllToAll, bytes);
}

CollectiveCost Time(const CollectiveTable& t, Coll c, double bytes) {
  CollectiveCost best;
  if (t.group.ranks <= 1) return best;
  best.time_s = -1;
  for (int a = 0; a < kNumAlgo; ++a) {
    for (int p = 0; p < kNumProto; ++p) {
      CollectiveCost cand = TimeOf(t, c, static_cast<Algo>(a), static_cast<Proto>(p), bytes);
      if (cand.time_s >= 0 && (best.time_s < 0 || cand.time_s < best.time_s)) best = cand;
    }
  }
  return best;
}

}  // namespace meshplan::costmodel
