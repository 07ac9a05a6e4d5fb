// GEMM time: tile and wave quantisation worked by hand (NVIDIA "Matrix Multiplication
// Background" guide), roofline against HBM, launch overhead.
#include <gtest/gtest.h>

#include "costmodel/compute.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

TEST(GemmShape, WaveQuantisationOn132Sms) {
  // 4096 x 4096 output: 32 x 32 = 1024 tiles of 128x128 -> 8 waves of 132 -> 1024 / 1056.
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(4096, 4096, 132), 1024.0 / 1056.0);
  // 132 tiles exactly fill one wave.
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(128 * 12, 128 * 11, 132), 1.0);
  // 133 tiles need a second, nearly empty wave.
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(128 * 133, 128, 132), 133.0 / 264.0);
}

TEST(GemmShape, TileQuantisation) {
  // m = 129 pads to 256 rows: half the first tile row is waste (one wave either way).
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(129, 128, 132), 129.0 / 256.0 * 2.0 / 132.0);
}

TEST(GemmTime, ComputeBoundLargeGemm) {
  const ComputeParams p = ComputeParamsFor(ResolveCluster("dgx-h100"));
  // 8192^3 on H100: 2 * 8192^3 FLOPs at 989 TF * 0.8033 * (4096 tiles / (32 waves * 132)) + 4 us.
  const double flops = 2.0 * 8192.0 * 8192.0 * 8192.0;
  const double eff = 0.8033 * 4096.0 / (32.0 * 132.0);
  const KernelTime t = GemmTime(p, 8192, 8192, 8192);
  EXPECT_DOUBLE_EQ(t.flops, flops);
  EXPECT_DOUBLE_EQ(t.time_s, flops / (989e12 * eff) + 4e-6);
}

TEST(GemmTime, MemoryBoundSkinnyGemm) {
  const ComputeParams p = ComputeParamsFor(ResolveCluster("dgx-h100"));
  // m = 1 (a GEMV): reads 2*k*n bytes of weights; HBM 3350 GB/s * 0.9 = 178 us, while the
  // FLOPs at 1/128 tile efficiency would take 89 us: bandwidth bound.
  const KernelTime t = GemmTime(p, 1, 16384, 16384);
  const double bytes = 2.0 * (16384.0 + 16384.0 * 16384.0 + 16384.0);
  EXPECT_DOUBLE_EQ(t.time_s, bytes / (3350e9 * 0.9) + 4e-6);
}

}  // namespace
}  // namespace meshplan::costmodel
