// The NCCL collective model against hand calculations from NCCL v2.30.7's tuning constants
// (shared/notes/nccl-cost-model.md) on the dgx-h100 cluster.
#include <gtest/gtest.h>

#include "costmodel/collectives.h"
#include "costmodel/error.h"
#include "costmodel/nccl_env.h"
#include "costmodel/evaluate.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

LinkParams H100() { return LinkParamsFor(ResolveCluster("dgx-h100")); }

TEST(RingAllGather, LatencyTermOf2048RanksSplitsNvlinkAndNetworkHops) {
  // 2048 ranks, 8 per node over 256 nodes: 2047 steps, of which nNodes - 1 = 255 cross the
  // network. Simple: base 8.4 + 1792 x max(NVLink 3.4, net overhead 3 x 1.0) + 255 x NET 14.0.
  const CollectiveTable t = BuildTable(H100(), Group{2048, 256});
  const CollectiveCost c = TimeOf(t, Coll::kAllGather, Algo::kRing, Proto::kSimple, 0);
  EXPECT_EQ(c.intra_steps, 1792);
  EXPECT_EQ(c.inter_steps, 255);
  EXPECT_NEAR(c.latency_s * 1e6, 8.4 + 1792 * 3.4 + 255 * 14.0, 1e-9);
}

TEST(RingAllGather, AfterTp8TheGroupHas255NetworkHops) {
  // 256 ranks, one per node (FSDP group strided across nodes): every one of the 255 steps is a
  // network hop, priced with NCCL's tree NET latency when there is one rank per node (14.0).
  const CollectiveTable t = BuildTable(H100(), Group{256, 256});
  const CollectiveCost c = TimeOf(t, Coll::kAllGather, Algo::kRing, Proto::kSimple, 0);
  EXPECT_EQ(c.intra_steps, 0);
  EXPECT_EQ(c.inter_steps, 255);
  EXPECT_NEAR(c.latency_s * 1e6, 8.4 + 255 * 14.0, 1e-9);
}

TEST(RingAllGather, Tp8CutsLatencyLessThanTheSlogan) {
  // "TP=8 cuts the FSDP latency by 8" holds only if every hop costs the same: 2047/255 = 8.03.
  // With NVLink hops at 3.4 us and network hops at 14 us the real cut is 9671.2/3578.4 = 2.70.
  const double before = TimeOf(BuildTable(H100(), Group{2048, 256}), Coll::kAllGather, Algo::kRing,
                               Proto::kSimple, 0).latency_s;
  const double after = TimeOf(BuildTable(H100(), Group{256, 256}), Coll::kAllGather, Algo::kRing,
                              Proto::kSimple, 0).latency_s;
  EXPECT_NEAR(before / after, (8.4 + 1792 * 3.4 + 255 * 14.0) / (8.4 + 255 * 14.0), 1e-12);
  EXPECT_LT(before / after, 2047.0 / 255.0 / 2.5);
}

TEST(RingAllGather, BandwidthTermIsNMinus1OverNTimesSOverB) {
  // Inside a node: busbw = 450 GB/s x 0.8134 NVLink efficiency; AG time = (n-1)/n S / busbw.
  const CollectiveTable t = BuildTable(H100(), Group{8, 1});
  const double S = 1 << 30;
  const CollectiveCost c = TimeOf(t, Coll::kAllGather, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(c.bandwidth_s, 7.0 / 8.0 * S / (450e9 * 0.8134), 1e-15);
  // Across nodes with one rank per node, each rank has one NIC: 400 Gb/s x 0.9817.
  const CollectiveTable t2 = BuildTable(H100(), Group{16, 16});
  const CollectiveCost c2 = TimeOf(t2, Coll::kAllGather, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(c2.bandwidth_s, 15.0 / 16.0 * S / (50e9 * 0.9817), 1e-15);
}

TEST(AllReduce, InsideOneNvswitchNodeNvlsWinsAtOneGiB) {
  // Ring: 8.4 + 14 x 3.4 us + 2 x 7/8 S / 366.03 GB/s = 5.186 ms (the together-ring log:
  // 5206.0 us at 1 GiB). NVLS: 25 us + S / (366.03 x 0.85 x 15/16) = 3.707 ms (the NVLS log
  // reaches busbw 480, i.e. 3.91 ms).
  const CollectiveTable t = BuildTable(H100(), Group{8, 1});
  const double S = 1 << 30, bus = 450e9 * 0.8134;
  const CollectiveCost ring = TimeOf(t, Coll::kAllReduce, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(ring.time_s, (8.4 + 14 * 3.4) * 1e-6 + 2.0 * 7.0 / 8.0 * S / bus, 1e-12);
  EXPECT_NEAR(ring.time_s, 5206.0e-6, 0.02 * 5206.0e-6);
  const CollectiveCost best = Time(t, Coll::kAllReduce, S);
  EXPECT_EQ(best.algo, Algo::kNvls);
  EXPECT_NEAR(best.time_s, 25e-6 + S / (bus * 0.85 * 15.0 / 16.0), 1e-12);
}


TEST(AllReduce, BlackwellNvlsTakesNcclsBlackwellEfficiencyAndReachesNvidiasPlateau) {
  // dgx-b200: NVLink5 900 GB/s x 0.7778 (GTC25's 8-GPU ring plateau, 700 GB/s bus bandwidth);
  // NVLS at NCCL's Blackwell nvlsEfficiency 0.74 (src/tuning/model.h), not Hopper's 0.85.
  // At 16 GiB: bus bandwidth = S / t x 2 x 7/8 = 900 x 0.7778 x 0.74 x 15/16 x 1.75 = 850.0 GB/s,
  // the bar GTC25 shows for NVLink5 SHARP on 8 B200 (Hopper's efficiency would give 976).
  const CollectiveTable t = BuildTable(LinkParamsFor(ResolveCluster("dgx-b200")), Group{8, 1});
  const double S = 16.0 * (1 << 30);
  const CollectiveCost best = Time(t, Coll::kAllReduce, S);
  EXPECT_EQ(best.algo, Algo::kNvls);
  EXPECT_NEAR(best.time_s, 25e-6 + S / (900e9 * 0.7778 * 0.74 * 15.0 / 16.0), 1e-12);
  EXPECT_NEAR(S / best.time_s * 2.0 * 7.0 / 8.0 / 1e9, 850.0, 1.0);
  // The ring: 8.4 + 14 x 3.4 us + 2 x 7/8 S / (900 x 0.7778 = 700 GB/s), the plateau it was
  // read from (699.1 GB/s at 16 GiB, its 56 us of latency included).
  const CollectiveCost ring = TimeOf(t, Coll::kAllReduce, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(ring.time_s, (8.4 + 14 * 3.4) * 1e-6 + 2.0 * 7.0 / 8.0 * S / (900e9 * 0.7778), 1e-12);
  EXPECT_NEAR(S / ring.time_s * 2.0 * 7.0 / 8.0 / 1e9, 700.0, 1.0);
}
TEST(AllReduce, SmallMessageAcrossNodesPicksLowLatency) {
  // 8 bytes over 32 nodes x 8: the tree's log2 latency beats the ring's 2(n-1) hops.
  const CollectiveCost c = Time(BuildTable(H100(), Group{256, 32}), Coll::kAllReduce, 8);
  EXPECT_EQ(c.algo, Algo::kTree);
  EXPECT_EQ(c.proto, Proto::kLL);
  // Tree LL (tuning.cc): 6.8 + 2 x (7 x 0.6 + 5 x 5.0) us. The NET overhead floors only the
  // ring's intra-node hops, not the tree's.
  EXPECT_NEAR(c.latency_s * 1e6, 6.8 + 2 * (7 * 0.6 + 5 * 5.0), 1e-9);
}

TEST(AllReduce, UncalibratedTreeLatencyMatchesMeasuredSmallMessageFloors) {
  // NCCL's own constants against the per-process InfiniBand logs (nccl-tests#309, NCCL 2.26.2,
  // in-place column, 8 B): 2 x 8 XE9680 measured 24.70 us, 4 x 8 VMware 34.75 us. Tree LL:
  // 6.8 + 2 x (7 x 0.6 + log2(nodes) x 5.0) = 25.2 and 35.2 us, within 2%.
  const double two = Time(BuildTable(H100(), Group{16, 2}), Coll::kAllReduce, 8).latency_s * 1e6;
  const double four = Time(BuildTable(H100(), Group{32, 4}), Coll::kAllReduce, 8).latency_s * 1e6;
  EXPECT_NEAR(two, 25.2, 1e-9);
  EXPECT_NEAR(four, 35.2, 1e-9);
  EXPECT_NEAR(two / 24.70, 1.0, 0.025);
  EXPECT_NEAR(four / 34.75, 1.0, 0.015);
}

TEST(AllReduce, NvlsTreeHalvesTheNetworkPastTwoNodes) {
  // NVLS-tree's network bound: a node moves 2 (nodes - 1) / nodes of S through its NICs; past two
  // nodes the inter-node tree's inner nodes carry their children's data too, which NCCL's tuner
  // models as bwInter / 2 (tuning.cc). 8 x 400 Gb/s = 400 GB/s a node at network_fraction f:
  // 2 nodes: 400 f x 1 x 2/2; 4 nodes: 400 f x 1/2 x 4/6; 8 nodes: 400 f x 1/2 x 8/14.
  const LinkParams p = H100();
  const double node = p.node_net_GBps, f = p.nvls_tree_fraction;
  auto bw = [&](int64_t nodes) {
    return BuildTable(p, Group{8 * nodes, nodes})
        .e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kNvlsTree)][2].algbw_GBps;
  };
  const double intra = p.intra_busbw_GBps * p.nvls_fraction * 15.0 / 16.0;
  EXPECT_NEAR(bw(2), std::min(node * f, intra), 1e-9);
  EXPECT_NEAR(bw(4), node * f * 0.5 * 4.0 / 6.0, 1e-9);
  EXPECT_NEAR(bw(8), node * f * 0.5 * 8.0 / 14.0, 1e-9);
}

TEST(AllReduce, BulkLatencyGrowsWithTheMessageOnEveryInterNodeHopOfLl128AndSimple) {
  // Calibrated: bulk_latency_us per inter-node hop of the LL128 and Simple protocols, reached in
  // proportion to the message up to bulk_saturation_mib. 4 nodes: the tree crosses 2 log2(4) = 4
  // network hops, the ring 2 (4 - 1) = 6; LL pays nothing. 10 us, saturating at 4 MiB.
  LinkParams p = H100();
  const CollectiveTable plain = BuildTable(p, Group{32, 4});
  p.net_bulk_latency_us = 10.0;
  p.net_bulk_saturation_bytes = 4.0 * 1048576;
  const CollectiveTable t = BuildTable(p, Group{32, 4});
  auto extra_us = [&](Algo a, Proto pr, double bytes) {
    return (TimeOf(t, Coll::kAllReduce, a, pr, bytes).latency_s -
            TimeOf(plain, Coll::kAllReduce, a, pr, bytes).latency_s) * 1e6;
  };
  const double mib = 1048576;
  EXPECT_NEAR(extra_us(Algo::kTree, Proto::kLL128, 1 * mib), 4 * 10.0 * 0.25, 1e-9);
  EXPECT_NEAR(extra_us(Algo::kTree, Proto::kLL128, 8 * mib), 4 * 10.0, 1e-9);
  EXPECT_NEAR(extra_us(Algo::kTree, Proto::kLL, 8 * mib), 0.0, 1e-9);
  EXPECT_NEAR(extra_us(Algo::kRing, Proto::kLL128, 2 * mib), 6 * 10.0 * 0.5, 1e-9);
  EXPECT_NEAR(extra_us(Algo::kNvlsTree, Proto::kSimple, 64 * mib), 4 * 10.0, 1e-9);
  // A ring Simple all-reduce this large also pays NCCL's 1.4x plateau, on the whole latency.
  EXPECT_NEAR(extra_us(Algo::kRing, Proto::kSimple, 64 * mib), 1.4 * 6 * 10.0, 1e-9);
  // One node has no network hop.
  EXPECT_EQ(BuildTable(p, Group{8, 1}).e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kRing)][2].bulk_hops, 0.0);
}

TEST(AllReduce, NvlinkBulkLatencyGrowsWithEachRanksShareOnEveryNvlinkHopOfLl128AndSimple) {
  // Calibrated: intra_bulk_latency_us per NVLink hop of the LL128 and Simple protocols, reached
  // in proportion to each rank's share of the message (bytes / ranks) up to
  // intra_bulk_saturation_bytes. 10 us, saturating at 4 MiB a rank. One node of 8: the ring
  // all-reduce crosses 2 (8 - 1) = 14 NVLink hops, the all-gather 7; LL pays nothing.
  LinkParams p = H100();
  const CollectiveTable plain1 = BuildTable(p, Group{8, 1}), plain4 = BuildTable(p, Group{32, 4});
  p.intra_bulk_latency_us = 10.0;
  p.intra_bulk_saturation_bytes = 4.0 * 1048576;
  const CollectiveTable t1 = BuildTable(p, Group{8, 1}), t4 = BuildTable(p, Group{32, 4});
  auto extra_us = [](const CollectiveTable& t, const CollectiveTable& plain, Coll c, Algo a, Proto pr, double bytes) {
    return (TimeOf(t, c, a, pr, bytes).latency_s - TimeOf(plain, c, a, pr, bytes).latency_s) * 1e6;
  };
  const double mib = 1048576;
  // 8 MiB over 8 ranks is 1 MiB a rank: a quarter of the way.
  EXPECT_NEAR(extra_us(t1, plain1, Coll::kAllReduce, Algo::kRing, Proto::kLL128, 8 * mib), 14 * 10.0 * 0.25, 1e-9);
  EXPECT_NEAR(extra_us(t1, plain1, Coll::kAllReduce, Algo::kRing, Proto::kSimple, 64 * mib), 14 * 10.0, 1e-9);
  EXPECT_NEAR(extra_us(t1, plain1, Coll::kAllReduce, Algo::kRing, Proto::kLL, 64 * mib), 0.0, 1e-9);
  EXPECT_NEAR(extra_us(t1, plain1, Coll::kAllGather, Algo::kRing, Proto::kSimple, 16 * mib), 7 * 10.0 * 0.5, 1e-9);
  // 4 nodes of 8: the ring all-reduce's 62 steps cross 6 network hops and 56 NVLink ones; the
  // tree's chain inside each node, 2 (8 - 1) = 14. 128 MiB is 4 MiB a rank: all of it.
  EXPECT_NEAR(extra_us(t4, plain4, Coll::kAllReduce, Algo::kRing, Proto::kLL128, 128 * mib), 56 * 10.0, 1e-9);
  EXPECT_NEAR(extra_us(t4, plain4, Coll::kAllReduce, Algo::kTree, Proto::kLL128, 32 * mib), 14 * 10.0 * 0.25, 1e-9);
  // NVLS has no ring of hops; a ring past the NVLink domain runs over PCIe, not NVLink.
  EXPECT_EQ(t1.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kNvls)][2].intra_bulk_hops, 0.0);
  p.nvlink_domain = 2;
  EXPECT_EQ(BuildTable(p, Group{8, 1}).e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kRing)][2].intra_bulk_hops,
            0.0);
}

TEST(AllReduce, RingSimplePaysNcclsPlateauLatencyAcrossNodes) {
  // GetAlgoTime: a multi-node Simple ring all-reduce with nBytes / (nChannels x nRanks) >= 64
  // pays 1.4x its latency on Ampere and later; one node, or a smaller message, does not.
  const CollectiveTable t = BuildTable(H100(), Group{32, 4});
  const double lat = t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kRing)][2].latency_us;
  auto latency_us = [&](double bytes) {
    return TimeOf(t, Coll::kAllReduce, Algo::kRing, Proto::kSimple, bytes).latency_s * 1e6;
  };
  EXPECT_NEAR(latency_us(64.0 * 32 * 32), 1.4 * lat, 1e-9);      // the threshold: 32 channels
  EXPECT_NEAR(latency_us(64.0 * 32 * 32 - 1), lat, 1e-9);
  EXPECT_NEAR(TimeOf(t, Coll::kAllGather, Algo::kRing, Proto::kSimple, 1e9).latency_s * 1e6,
              t.e[static_cast<int>(Coll::kAllGather)][static_cast<int>(Algo::kRing)][2].latency_us, 1e-9);
  const CollectiveTable one = BuildTable(H100(), Group{8, 1});
  EXPECT_NEAR(TimeOf(one, Coll::kAllReduce, Algo::kRing, Proto::kSimple, 1e9).latency_s * 1e6,
              one.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kRing)][2].latency_us, 1e-9);
}

TEST(AllReduce, TreeBandwidthTakesNcclsMediumSizeCorrection) {
  // NCCL's treeCorrectionFactor, indexed by log2i(bytes >> 6): 2 MiB = 2^15 units of 64 B ->
  // LL128 0.6, Simple 0.6; 64 B (index 0) -> LL128 1.0, Simple 0.9; 512 MiB = 2^23 -> 1.0 / 0.9.
  // The latency term is untouched; only the bandwidth term is divided by the factor.
  const CollectiveTable t = BuildTable(H100(), Group{32, 4});
  const AlgoEntry& ll128 = t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kTree)][1];
  const AlgoEntry& simple = t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kTree)][2];
  auto bw_s = [&](Proto p, double bytes) {
    return TimeOf(t, Coll::kAllReduce, Algo::kTree, p, bytes).bandwidth_s;
  };
  const double mib2 = 2.0 * 1024 * 1024;
  EXPECT_NEAR(bw_s(Proto::kLL128, mib2), mib2 / (ll128.algbw_GBps * 1e9) / 0.6, 1e-15);
  EXPECT_NEAR(bw_s(Proto::kSimple, mib2), mib2 / (simple.algbw_GBps * 1e9) / 0.6, 1e-15);
  EXPECT_NEAR(bw_s(Proto::kSimple, mib2 / 2), mib2 / 2 / (simple.algbw_GBps * 1e9) / 0.5, 1e-15);  // index 14
  EXPECT_NEAR(bw_s(Proto::kLL128, 64), 64 / (ll128.algbw_GBps * 1e9), 1e-18);
  EXPECT_NEAR(bw_s(Proto::kSimple, 127), 127 / (simple.algbw_GBps * 1e9) / 0.9, 1e-18);
  const double mib512 = 512.0 * 1024 * 1024;
  EXPECT_NEAR(bw_s(Proto::kSimple, mib512), mib512 / (simple.algbw_GBps * 1e9) / 0.9, 1e-12);
  // Beyond the table (1 GiB = index 24): no correction.
  EXPECT_NEAR(bw_s(Proto::kSimple, 2 * mib512), 2 * mib512 / (simple.algbw_GBps * 1e9), 1e-12);
  // Ring and NVLS-tree are not corrected.
  const AlgoEntry& ring = t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kRing)][2];
  EXPECT_NEAR(TimeOf(t, Coll::kAllReduce, Algo::kRing, Proto::kSimple, mib2).bandwidth_s,
              mib2 / (ring.algbw_GBps * 1e9), 1e-15);
}

TEST(AllGather, OneRankPerNodeUsesPatForSmallMessages) {
  // PAT: 8.0 + log2(256) x 14.0 / 3.5 + 2.8 x 256 = 756.8 us < ring LL's 6.6 + 255 x 5.0.
  const CollectiveCost c = Time(BuildTable(H100(), Group{256, 256}), Coll::kAllGather, 1024);
  EXPECT_EQ(c.algo, Algo::kPat);
  EXPECT_NEAR(c.latency_s * 1e6, 8.0 + 8 * 14.0 / 3.5 + 2.8 * 256, 1e-9);
}

TEST(BusBw, NcclTestsFactors) {
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAllReduce, 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAllGather, 16), 15.0 / 16);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kReduceScatter, 32), 31.0 / 32);
}

// --- The user's NCCL knobs (nccl_env.h) as inputs of the model.

NcclEnv Env(std::vector<std::pair<std::string, std::string>> vars) { return ParseNcclEnv(vars, "t.meta.json"); }

TEST(NcclEnv, MinCtasRaisesRingBandwidthUpToTheLinksLineRate) {
  // 2 nodes x 8 ranks, ring Simple, 8 GiB. Default 16 channels: busbw = min(NVLink 450 x 0.8134
  // = 366.03, NICs 8 x 400 Gb/s x 0.9817 = 392.68) = 366.03. NCCL_MIN_CTAS=24: NVLink side
  // 366.03 x 24/16 = 549.0, capped at the 450 GB/s line rate; the NICs bind: 392.68 (the
  // tuned log, h100-2x8-all_reduce-ncclt309-gjaion-ring.txt, reaches busbw 392.69).
  const double S = 8589934592.0;
  LinkParams p = H100();
  const double ring_algbw = 16.0 / 30.0;  // algbw = busbw x n / (2 (n - 1))
  const CollectiveCost base = TimeOf(BuildTable(p, Group{16, 2}), Coll::kAllReduce, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(base.bandwidth_s, S / (450e9 * 0.8134 * ring_algbw), 1e-12);
  p.env = Env({{"NCCL_MIN_CTAS", "24"}});
  const CollectiveCost tuned = TimeOf(BuildTable(p, Group{16, 2}), Coll::kAllReduce, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(tuned.bandwidth_s, S / (400e9 * 0.9817 * ring_algbw), 1e-12);
  // Inside one node the line rate binds: 450 GB/s, not 549.
  const CollectiveCost one = TimeOf(BuildTable(p, Group{8, 1}), Coll::kAllGather, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(one.bandwidth_s, 7.0 / 8.0 * S / 450e9, 1e-12);
}

TEST(NcclEnv, MaxCtasScalesBandwidthDownWithTheChannels) {
  // NCCL_MAX_CTAS=4 of the default 16: busBw = nChannels x per-channel bw, a quarter.
  LinkParams p = H100();
  p.env = Env({{"NCCL_MAX_CTAS", "4"}});
  const double S = 1 << 30;
  const CollectiveCost c = TimeOf(BuildTable(p, Group{8, 1}), Coll::kAllGather, Algo::kRing, Proto::kSimple, S);
  EXPECT_NEAR(c.bandwidth_s, 7.0 / 8.0 * S / (450e9 * 0.8134 * 4.0 / 16.0), 1e-12);
  // The deprecated names read the same; NCCL_NCHANNELS pins both bounds.
  EXPECT_EQ(Env({{"NCCL_MAX_NCHANNELS", "4"}}).Channels(16), 4);
  EXPECT_EQ(Env({{"NCCL_MIN_NCHANNELS", "20"}}).Channels(16), 20);
  EXPECT_EQ(Env({{"NCCL_NCHANNELS", "8"}}).Channels(16), 8);
  EXPECT_EQ(Env({{"NCCL_NCHANNELS", "8"}}).Channels(4), 8);
}

TEST(NcclEnv, AlgoProtoAndNvlsSwitchesDisableWhatNcclDisables) {
  const double S = 1 << 30;
  LinkParams p = H100();
  EXPECT_EQ(Time(BuildTable(p, Group{8, 1}), Coll::kAllReduce, S).algo, Algo::kNvls);
  p.env = Env({{"NCCL_ALGO", "Ring"}});
  EXPECT_EQ(Time(BuildTable(p, Group{8, 1}), Coll::kAllReduce, S).algo, Algo::kRing);
  p.env = Env({{"NCCL_NVLS_ENABLE", "0"}});
  EXPECT_EQ(Time(BuildTable(p, Group{8, 1}), Coll::kAllReduce, S).algo, Algo::kRing);
  p.env = Env({{"NCCL_ALGO", "^NVLS"}});
  EXPECT_EQ(Time(BuildTable(p, Group{8, 1}), Coll::kAllReduce, S).algo, Algo::kRing);
  // Small messages take LL by default; NCCL_PROTO=Simple leaves only Simple.
  p.env = NcclEnv{};
  EXPECT_EQ(Time(BuildTable(p, Group{8, 1}), Coll::kAllGather, 1024).proto, Proto::kLL);
  p.env = Env({{"NCCL_PROTO", "simple"}});
  EXPECT_EQ(Time(BuildTable(p, Group{8, 1}), Coll::kAllGather, 1024).proto, Proto::kSimple);
  // Masks key the table: equal settings, equal keys; "(unset)" is NCCL's default.
  EXPECT_EQ(Env({{"NCCL_ALGO", "(unset)"}}).Key(), NcclEnv{}.Key());
  EXPECT_EQ(Env({{"NCCL_ALGO", "ring,tree,nvls,nvlstree,pat"}}).Key(), NcclEnv{}.Key());
  EXPECT_TRUE(Env({{"NCCL_IB_QPS_PER_CONNECTION", "2"}}).Neutral());
  EXPECT_EQ(Env({{"NCCL_IB_QPS_PER_CONNECTION", "2"}}).not_modelled, std::vector<std::string>{"NCCL_IB_QPS_PER_CONNECTION"});
  EXPECT_EQ(Env({{"NCCL_ALGO", "Ring"}, {"NCCL_MIN_CTAS", "24"}}).Describe(), "NCCL_ALGO=ring NCCL_MIN_CTAS=24");
}

TEST(NcclEnv, BadValuesAreOneLineErrorsNamingTheVariable) {
  auto err = [](std::vector<std::pair<std::string, std::string>> v) {
    try {
      ParseNcclEnv(v, "x.meta.json");
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err({{"NCCL_MIN_CTAS", "0"}}), "x.meta.json: env.NCCL_MIN_CTAS: must be an integer in [1, 64], got '0'");
  EXPECT_EQ(err({{"NCCL_MAX_CTAS", "8x"}}), "x.meta.json: env.NCCL_MAX_CTAS: must be an integer in [1, 64], got '8x'");
  EXPECT_EQ(err({{"NCCL_MIN_CTAS", "32"}, {"NCCL_MAX_CTAS", "8"}}),
            "x.meta.json: env: NCCL_MIN_CTAS 32 is above NCCL_MAX_CTAS 8");
  EXPECT_EQ(err({{"NCCL_ALGO", "Rings"}}),
            "x.meta.json: env.NCCL_ALGO: unknown name 'Rings' (NCCL's are Ring, Tree, NVLS, NVLSTree, PAT, "
            "CollNetDirect, CollNetChain, CollNet)");
  EXPECT_EQ(err({{"NCCL_ALGO", "allreduce:tree"}}),
            "x.meta.json: env.NCCL_ALGO: per-collective settings ('allreduce:tree') are not modelled; give one list");
  EXPECT_EQ(err({{"NCCL_ALGO", "CollNetDirect"}}),
            "x.meta.json: env.NCCL_ALGO: enables none of the modelled algorithms (Ring, Tree, NVLS, NVLSTree, PAT); "
            "CollNet is not modelled");
  EXPECT_EQ(err({{"NCCL_PROTO", ""}}), "x.meta.json: env.NCCL_PROTO: empty list");
  EXPECT_EQ(err({{"NCCL_NVLS_ENABLE", "yes"}}), "x.meta.json: env.NCCL_NVLS_ENABLE: must be 0, 1 or 2, got 'yes'");
}

// --- Point-to-point: send/recv and all-to-all (P2pTime).

TEST(P2p, UncalibratedSendRecvIsOneSimpleRingStep) {
  // NCCL's Simple base 8.4 us + one NVLink Simple hop 3.4 us; bandwidth the NVLink ring busbw.
  const LinkParams p = H100();
  const double S = 1 << 26;
  const CollectiveCost c = SendRecvTime(p, false, S);
  EXPECT_NEAR(c.latency_s * 1e6, 8.4 + 3.4, 1e-9);
  EXPECT_NEAR(c.bandwidth_s, S / (450e9 * 0.8134), 1e-15);
  // Across nodes: + the NET Simple hop 14 us; a GPU's share of the node's NICs, 50 x 0.9817 GB/s.
  const CollectiveCost x = SendRecvTime(p, true, S);
  EXPECT_NEAR(x.latency_s * 1e6, 8.4 + 14.0, 1e-9);
  EXPECT_NEAR(x.bandwidth_s, S / (50e9 * 0.9817), 1e-15);
}

TEST(P2p, SendRecvChannelsDoubleWithTheMessageAsNcclSplitsParts) {
  // With a calibrated 80 GB/s per p2p channel and 64 MiB parts: up to 64 MiB one channel
  // (80 GB/s), 128 MiB two (160), 256 MiB four (320), 512 MiB eight, capped by NVLink (366.03).
  // The sendrecv log measures 79.5, 81.8, 162.5, 299.5 and 355.8 GB/s at these sizes.
  LinkParams p = H100();
  p.p2p_channel_GBps = 80;
  p.p2p_part_mib = 64;
  const double MiB = 1048576.0;
  EXPECT_EQ(P2pChannelsPerPeer(p, 64 * MiB, false), 1);
  EXPECT_EQ(P2pChannelsPerPeer(p, 128 * MiB, false), 2);
  EXPECT_EQ(P2pChannelsPerPeer(p, 256 * MiB, false), 4);
  EXPECT_EQ(P2pChannelsPerPeer(p, 1e12, false), 16);  // the communicator's 16 channels at most
  // Across nodes NCCL's part is 128 times smaller (stepSize vs 32 x stepSize, 128 KiB vs 512 KiB).
  EXPECT_EQ(P2pChannelsPerPeer(p, 1 * MiB, true), 2);
  for (const auto& [mib, GBps] : std::vector<std::pair<double, double>>{{32, 80}, {64, 80}, {128, 160}, {256, 320}, {512, 450 * 0.8134}}) {
    EXPECT_NEAR(SendRecvTime(p, false, mib * MiB).bandwidth_s, mib * MiB / (GBps * 1e9), 1e-12) << mib;
  }
}

TEST(P2p, AllToAllSendsEachPeerItsShareOverNvlinkAndTheNicsAtOnce) {
  // 16 ranks on 2 nodes, S = 1 GiB: each rank sends S/16 to each of 15 peers, 7 over NVLink
  // (7/16 S at 366.03 GB/s) and 8 through the NICs (8/16 S at 50 x 0.9817 GB/s per GPU); the
  // slower side decides. Latency: NCCL's Simple base + the NET Simple hop.
  const LinkParams p = H100();
  const double S = 1 << 30;
  const CollectiveCost c = P2pTime(p, Group{16, 2}, Coll::kAllToAll, S);
  EXPECT_NEAR(c.bandwidth_s, std::max(7.0 / 16.0 * S / (450e9 * 0.8134), 8.0 / 16.0 * S / (50e9 * 0.9817)), 1e-12);
  EXPECT_NEAR(c.latency_s * 1e6, 8.4 + 14.0, 1e-9);
  // One node: (n-1)/n S over NVLink, the inverse of nccl-tests' busbw factor.
  const CollectiveCost one = P2pTime(p, Group{8, 1}, Coll::kAllToAll, S);
  EXPECT_NEAR(one.bandwidth_s, 7.0 / 8.0 * S / (450e9 * 0.8134), 1e-12);
  EXPECT_NEAR(BusBwFactor(Coll::kAllToAll, 8), 7.0 / 8.0, 1e-15);
  EXPECT_EQ(BusBwFactor(Coll::kSendRecv, 8), 1.0);
  // A calibrated all-to-all fraction scales the links.
  LinkParams q = p;
  q.alltoall_fraction = 0.9;
  EXPECT_NEAR(P2pTime(q, Group{8, 1}, Coll::kAllToAll, S).bandwidth_s, one.bandwidth_s / 0.9, 1e-12);
}

TEST(Placement, TpContiguousFsdpStridedAcrossNodes) {
  Workload w;
  w.gpus = 2048;
  w.global_batch = 1024;
  w.seq = 4096;
  const Evaluator ev(ResolveModel("llama2-70b"), ResolveCluster("dgx-h100"), w);
  EXPECT_EQ(ev.PlaceGroup(8, 1).nodes, 1);       // TP=8: one node
  EXPECT_EQ(ev.PlaceGroup(256, 8).nodes, 256);   // FSDP after TP=8: one rank per node
  EXPECT_EQ(ev.PlaceGroup(2048, 1).nodes, 256);  // FSDP alone: 8 per node
  EXPECT_EQ(ev.PlaceGroup(1024, 2).nodes, 256);  // after TP=2: 4 per node
  EXPECT_EQ(ev.PlaceGroup(512, 2).nodes, 128);
  EXPECT_EQ(ev.PlaceGroup(4, 512).nodes, 4);     // replicas of 512-rank shard groups
}

}  // namespace
}  // namespace meshplan::costmodel

namespace meshplan::costmodel {
namespace {

Cluster H100Variant(IntraTopology topology, int64_t bridge_gpus, double pcie_busbw, int64_t nics) {
  Cluster c = ResolveCluster("dgx-h100");
  c.node.intra.topology = topology;
  c.node.intra.bridge_gpus = bridge_gpus;
  c.node.intra.pcie_busbw_GBps = pcie_busbw;
  c.node.intra.nvls = topology == IntraTopology::kNvSwitch;
  c.fabric.nics_per_node = nics;
  return c;
}

TEST(NoNvswitch, APcieNodeRingsAtItsPcieBandwidthWithNcclsPciLatency) {
  // 8 ranks in one PCIe node: 7 hops at NCCL's hwLat[PCI] ring Simple 5.7 us (tuning.cc), on top
  // of the Simple base 8.4; bandwidth the given 20 GB/s ring busbw: algbw = 20 x 8/7.
  const LinkParams p = LinkParamsFor(H100Variant(IntraTopology::kPcie, 0, 20.0, 8));
  const CollectiveCost c = TimeOf(BuildTable(p, Group{8, 1}), Coll::kAllGather, Algo::kRing, Proto::kSimple, 1e9);
  EXPECT_NEAR(c.latency_s * 1e6, 8.4 + 7 * 5.7, 1e-9);
  EXPECT_NEAR(c.bandwidth_s, 1e9 / (20.0 * 8 / 7 * 1e9), 1e-12);
  // No NVLS without NVSwitch.
  const CollectiveTable t = BuildTable(p, Group{8, 1});
  EXPECT_EQ(t.e[static_cast<int>(Coll::kAllReduce)][static_cast<int>(Algo::kNvls)][2].algbw_GBps, 0.0);
}

TEST(NoNvswitch, ABridgedPairStaysOnNvlinkAndFourRanksCrossPcie) {
  const LinkParams p = LinkParamsFor(H100Variant(IntraTopology::kNvlinkBridge, 2, 20.0, 8));
  // TP=2 inside a bridged pair: one NVLink hop (ring Simple 3.4 us) at NVLink busbw 450 x 0.8134.
  const CollectiveCost two = TimeOf(BuildTable(p, Group{2, 1}), Coll::kAllGather, Algo::kRing, Proto::kSimple, 1e9);
  EXPECT_NEAR(two.latency_s * 1e6, 8.4 + 1 * 3.4, 1e-9);
  EXPECT_NEAR(two.bandwidth_s, 1e9 / (450 * 0.8134 * 2 / 1 * 1e9), 1e-12);
  // TP=4 spans two pairs: NCCL's graph is PCI, so 3 hops at 5.7 us and the PCIe busbw.
  const CollectiveCost four = TimeOf(BuildTable(p, Group{4, 1}), Coll::kAllGather, Algo::kRing, Proto::kSimple, 1e9);
  EXPECT_NEAR(four.latency_s * 1e6, 8.4 + 3 * 5.7, 1e-9);
  EXPECT_NEAR(four.bandwidth_s, 1e9 / (20.0 * 4 / 3 * 1e9), 1e-12);
}

TEST(SharedNics, TwoNicsPerEightGpusGiveEachGpuAQuarterOfTheNetwork) {
  // An FSDP group of one rank per node over 4 nodes: the node's NICs are shared by the 8 groups
  // that run at once. 8 NICs: 8 x 400/8 x 0.9817 / 8 = 49.085 GB/s per GPU; 2 NICs: 12.271.
  const LinkParams eight = LinkParamsFor(H100Variant(IntraTopology::kNvSwitch, 0, 0, 8));
  const LinkParams two = LinkParamsFor(H100Variant(IntraTopology::kNvSwitch, 0, 0, 2));
  const double bytes = 1e9;
  const CollectiveCost a = TimeOf(BuildTable(eight, Group{4, 4}), Coll::kAllGather, Algo::kRing, Proto::kSimple, bytes);
  const CollectiveCost b = TimeOf(BuildTable(two, Group{4, 4}), Coll::kAllGather, Algo::kRing, Proto::kSimple, bytes);
  EXPECT_NEAR(a.bandwidth_s, bytes / (8 * 50.0 * 0.9817 / 8 * 4 / 3 * 1e9), 1e-12);
  EXPECT_NEAR(b.bandwidth_s, bytes / (2 * 50.0 * 0.9817 / 8 * 4 / 3 * 1e9), 1e-12);
  EXPECT_NEAR(b.bandwidth_s / a.bandwidth_s, 4.0, 1e-12);
}

}  // namespace
}  // namespace meshplan::costmodel
