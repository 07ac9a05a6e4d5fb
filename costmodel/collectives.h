// File: costmodel/collectives.h
// Alpha-beta cost of NCCL collectives, in the shape of NCCL's own tuner (src/graph/tuning.cc,
// v2.30.7; facts in shared/notes/nccl-cost-model.md): a versioned constants struct, a table
// {latency_us, algbw_GBps}[collective][algorithm][protocol] built once per communicator shape,
// a pure Time(table, bytes) = latency + bytes / algbw, and the choice an argmin over the
// enabled (algorithm, protocol) pairs. Calibration overwrites the link parameters.
//
// bytes is nccl-tests' S: the whole output of an all-gather, the whole input of a
// reduce-scatter, the buffer of an all-reduce. GB = 1e9 bytes.
#ifndef MESHPLAN_COSTMODEL_COLLECTIVES_H_
#define MESHPLAN_COSTMODEL_COLLECTIVES_H_

#include <array>
#include <cstdint>
#include <string_view>

#include "costmodel/nccl_env.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

// kSendRecv (point-to-point, pipeline stages) and kAllToAll (NCCL runs it as grouped
// ncclSend/ncclRecv to every peer) have no tuning table in NCCL: P2pTime prices them.
enum class Coll { kAllGather = 0, kReduceScatter = 1, kAllReduce = 2, kSendRecv = 3, kAllToAll = 4 };
enum class Algo { kRing = 0, kTree = 1, kNvls = 2, kPat = 3, kNvlsTree = 4 };
enum class Proto { kLL = 0, kLL128 = 1, kSimple = 2 };
inline constexpr int kNumColl = 3, kNumAlgo = 5, kNumProto = 3;

std::string_view ToString(Coll c);
std::string_view ToString(Algo a);
std::string_view ToString(Proto p);

/// NCCL v2.30.7 tuning constants, in µs (src/graph/tuning.cc). Rows are {LL, LL128, Simple}.
struct NcclConstants {
  static constexpr std::string_view kVersion = "2.30.7";
  // baseLat[algo][proto]
  std::array<double, 3> base_tree{6.8, 14.0, 8.4};
  std::array<double, 3> base_ring{6.6, 14.0, 8.4};
  double base_pat = 8.0;
  // hwLat[link][algo][proto]
  std::array<double, 3> nvlink_tree{0.6, 1.25, 4.0};
  std::array<double, 3> nvlink_ring{0.6, 1.9, 3.4};
  std::array<double, 3> pci_tree{1.0, 1.9, 4.0};  // NCCL_HW_PCI: rings whose graph is PCI (typeIntra)
  std::array<double, 3> pci_ring{1.0, 2.5, 5.7};
  std::array<double, 3> net_tree{5.0, 8.5, 14.0};
  std::array<double, 3> net_ring{2.7, 4.0, 14.0};
  double nvls_simple = 25.0;
  double nvls_tree_net = 20.9;  // hwLat[NET][NVLS_TREE][Simple]
  double net_overhead_us = 1.0;  // per inter-node step on Intel hosts; x3 for Simple
  // Bandwidth refinements.
  double ll_fraction = 0.5;          // Ring LL: 0.5 * busBw
  double ll128_fraction = 0.92;      // Ring LL128 on Hopper
  double tree_fraction = 0.92;       // Tree AllReduce Simple
  double tree_ll_divisor = 3.8;      // Tree LL: busBw / 3.8
  double tree_ll128_multinode = 120.0 / 128.0;
  int nvls_channels = 16;            // (nCh - 1) / nCh
  double pat_fraction = 0.75;
  double pat_per_rank_us = 2.8;
  // llMaxBws[arch][nodes 1, 2, >2] in GB/s: caps LL bandwidth (Ampere, Hopper rows).
  std::array<double, 3> ll_max_ampere{87.7, 22.5, 19.0};
  std::array<double, 3> ll_max_hopper{141.0, 45.0, 35.0};
  double pat_net_divisor = 3.5;
  static constexpr double kRingPlateau = 1.4;  // Ampere and later
  // Channels (CTAs) of a communicator when no NCCL_MIN/MAX_CTAS is set: 16 on Hopper NVSwitch
  // nodes, as NCCL reports it ("16 coll channels, 0 nvls channels, 16 p2p channels, 16 p2p
  // channels per peer", NVIDIA/nccl#892, H800 8-GPU node, NCCL 2.18). Its p2p channels follow
  // comm->nChannels (ncclTopoComputeP2pChannels, src/graph/paths.cc, quoted in NVIDIA/nccl#1198).
  // The NCCL_MIN_CTAS=24 nccl-tests log (2 H100 nodes, ring) runs faster than the default-channel
  // ones at large sizes, which a default of 24 or more could not explain.
  static constexpr int kDefaultChannels = 16;
  // Point-to-point: one peer's message is split over more channels while a part is larger than
  // the largest part, stepSize x 32 inside a node and stepSize across nodes, with stepSize
  // NCCL_P2P_NVL_CHUNKSIZE (512 KiB) or NCCL_P2P_NET_CHUNKSIZE (128 KiB) (src/enqueue.cc
  // addP2pToPlan, NVIDIA/nccl@01e6dd915fdd2627a7205f5aa1c7f14d46990226; src/init.cc defaults).
  static constexpr double kP2pMaxPartMiB = 16.0;
  static constexpr double kP2pNetPartRatio = 128.0;  // (32 x 512 KiB) / 128 KiB
  // treeCorrectionFactor[proto][log2(bytes / 64)], 64 B to 512 MiB (src/tuning/cost_model.cc):
  // "Trees are not perfectly sticking to the model for medium sizes. Applying a static
  // correction factor is not ideal but works quite well." Tree all-reduce bandwidth x this.
  static constexpr std::array<std::array<double, 24>, 3> kTreeCorrection{{
      {1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0, 1.0},
      {1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0, 1.0},
      {.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9, .9},
  }};
};

/// The link parameters of one cluster: what calibration fits.
struct LinkParams {
  double intra_busbw_GBps = 0;       // ring busbw over NVLink/NVSwitch inside a node
  double node_net_GBps = 0;          // a node's aggregate achievable network bandwidth
  int64_t gpus_per_node = 1;
  // GPUs that reach each other over NVLink (cluster IntraLink::NvlinkDomain): a group with more
  // ranks on a node runs its intra-node hops over PCIe, at pcie_busbw_GBps and NCCL's PCI latency.
  int64_t nvlink_domain = int64_t{1} << 40;
  double pcie_busbw_GBps = 0;
  double intra_extra_latency_us = 0;
  double net_extra_latency_us = 0;   // NCCL's graph latencyInter
  double net_bulk_latency_us = 0;    // extra per inter-node hop, LL128 and Simple only ...
  double net_bulk_saturation_bytes = 0;  // ... reached at this message size (0: at any size)
  double intra_bulk_latency_us = 0;        // extra per NVLink hop, LL128 and Simple only ...
  double intra_bulk_saturation_bytes = 0;  // ... reached at this share per rank (0: at any size)
  double launch_us = 0;              // fixed cost of every call (calibrated; 0 uncalibrated)
  double nvls_fraction = 0.85;       // NVLS all-reduce bandwidth efficiency (NCCL: 0.85 Hopper)
  double nvls_tree_fraction = 0.85;  // NVLS-tree, of the hierarchical network bound
  double reduce_scatter_fraction = 1.0;  // bandwidth relative to all-gather (calibrated)
  double all_reduce_fraction = 1.0;
  // Channels: NCCL's busBw is nChannels x the per-channel bandwidth (src/graph/tuning.cc
  // ncclTopoTuneModel: busBw = graph->nChannels * bw). The link figures above are what the
  // default `channels` reach; the user's NCCL_MIN/MAX_CTAS (env) scale them by the channels
  // they leave, up to the link's line rate (intra_line_GBps, the NICs' for the network).
  int channels = NcclConstants::kDefaultChannels;
  double intra_line_GBps = 0;  // NVLink per GPU, datasheet (0: no ceiling)
  // Point-to-point channels (P2pTime): the per-channel cap (0: none) and the largest part one
  // channel carries before NCCL splits a peer's message over twice the channels.
  double p2p_channel_GBps = 0;
  double p2p_part_mib = NcclConstants::kP2pMaxPartMiB;
  double alltoall_fraction = 1.0;  // all-to-all bandwidth of the link's (calibrated)
  NcclEnv env;  // the user's NCCL_* settings (nccl_env.h); neutral by default
  bool nvls = false;
  bool ampere = false;  // selects NCCL's Ampere LL caps (GPU name starting "A100")
  NcclConstants nccl;
};

LinkParams LinkParamsFor(const Cluster& c);

/// A communicator: `ranks` spread evenly over `nodes`, the ranks of one node contiguous.
/// Groups of the same kind run concurrently on every node and share its NICs.
struct Group {
  int64_t ranks = 1;
  int64_t nodes = 1;
  int64_t ranks_per_node() const { return ranks / nodes; }
};

struct AlgoEntry {
  double latency_us = 0;
  double algbw_GBps = 0;  // 0 means disabled
  double bulk_hops = 0;   // inter-node hops that pay LinkParams' bulk latency
  double intra_bulk_hops = 0;  // NVLink hops that pay LinkParams' intra-node bulk latency
};

struct CollectiveTable {
  Group group;
  double launch_us = 0;  // added to every enabled entry's latency
  double bulk_latency_us = 0, bulk_saturation_bytes = 0;  // per bulk hop, scaled by the size
  double intra_bulk_latency_us = 0, intra_bulk_saturation_bytes = 0;  // per NVLink bulk hop, by the share per rank
  std::array<std::array<std::array<AlgoEntry, kNumProto>, kNumAlgo>, kNumColl> e{};
};

/// Fills the table for one communicator shape (NCCL's ncclTopoTuneModel).
CollectiveTable BuildTable(const LinkParams& p, const Group& g);

struct CollectiveCost {
  Algo algo = Algo::kRing;
  Proto proto = Proto::kSimple;
  double latency_s = 0;
  double bandwidth_s = 0;
  double time_s = 0;
  int64_t intra_steps = 0;  // latency hops over NVLink (ring) ...
  int64_t inter_steps = 0;  // ... and over the network, as NCCL counts them
};

/// Cheapest enabled (algorithm, protocol) for `bytes`, as NCCL's topoGetAlgoInfo picks.
/// A group of one rank costs nothing.
CollectiveCost Time(const CollectiveTable& t, Coll c, double bytes);
/// One (algorithm, protocol) pair; time_s < 0 when it is disabled.
CollectiveCost TimeOf(const CollectiveTable& t, Coll c, Algo a, Proto p, double bytes);

/// Point-to-point traffic as NCCL runs it, on the Simple protocol with no tuning model of its
/// own (src/enqueue.cc p2p path): kSendRecv sends `bytes` to one peer (a group of 2 ranks, on one
/// node or two); kAllToAll sends bytes / ranks to each of the other ranks (nccl-tests' S, the
/// whole send buffer), the node's peers over NVLink and the others through the node's NICs at
/// the same time (the slower of the two bounds). Each peer's message takes as many channels as
/// its size asks for (LinkParams::p2p_part_mib, doubling as NCCL does), and the channels of all
/// peers together, at p2p_channel_GBps each, cap the NVLink side. Latency: NCCL's Simple base and
/// one hop of the slowest link the traffic crosses. Not modelled: the per-peer scheduling rounds
/// of large groups (NCCL_MAX_DEV_WORK_P2P_PER_BATCH peers per channel batch), PXN routing.
CollectiveCost P2pTime(const LinkParams& p, const Group& g, Coll c, double bytes);
/// Channels NCCL gives one peer's `peer_bytes` (a power of two, at most the p2p channels).
int P2pChannelsPerPeer(const LinkParams& p, double peer_bytes, bool inter_node);

/// One point-to-point send/recv of `bytes` between two ranks (pipeline stage neighbours), on
/// NVLink inside a node or over the network between nodes. NCCL runs p2p on the Simple protocol
/// with no tuning model of its own (src/enqueue.cc p2p path): priced as one ring step, NCCL's
/// Simple base latency + the link's Simple hop latency + the fitted extras, at the link's
/// per-GPU bandwidth (NVLink ring busbw; a node's network bandwidth shared by its GPUs).
/// P2pTime of kSendRecv on a group of 2.
CollectiveCost SendRecvTime(const LinkParams& p, bool inter_node, double bytes);

/// One all-to-all over group g, `bytes` = nccl-tests' S (each rank's whole send buffer, its
/// own slice included; S/n to each peer): P2pTime of kAllToAll (ncclAllToAll is a group of
/// ncclSend/ncclRecv to every peer, nccl-tests src/alltoall.cu).
CollectiveCost AllToAllTime(const LinkParams& p, const Group& g, double bytes);

/// Ring step counts as NCCL's tuner counts them: total steps and the inter-node ones.
int64_t RingSteps(Coll c, int64_t ranks);
int64_t RingInterSteps(Coll c, int64_t nodes);

/// nccl-tests busbw = algbw * factor (src/*.cu *GetBw): the one place these factors live.
double BusBwFactor(Coll c, int64_t ranks);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_COLLECTIVES_H_
