// File: costmodel/compute.h
// Time of one kernel on one GPU: max(FLOPs / (peak * efficiency), bytes / (HBM * efficiency))
// plus a launch overhead. GEMM efficiency by shape: the achievable fraction of peak (measured
// best-case, from the cluster file) times tile quantisation (the m x n output padded to whole
// 128 x 128 tiles) times wave quantisation (whole waves of tiles over the GPU's SMs) - the
// uncalibrated default of NVIDIA's "Matrix Multiplication Background User's Guide" - except
// where CUTLASS's stream-K scheduler would spread a short tail wave's K loops over every SM
// (GemmTileSchedule). A calibration profile replaces it with a measured table.
#ifndef MESHPLAN_COSTMODEL_COMPUTE_H_
#define MESHPLAN_COSTMODEL_COMPUTE_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

inline constexpr int64_t kGemmTile = 128;
// Bytes of each operand row one main-loop iteration reads: a 128 x 128 x 64 bf16 tile, 128 x 128
// x 128 in FP8 (CUTLASS's SM80/SM90 default tile shapes).
inline constexpr int64_t kGemmTileKBytes = 128;
// CUTLASS's PersistentTileSchedulerSm90StreamKParams::min_iters_per_sk_unit_: a stream-K CTA gets
// at least 8 main-loop iterations, and a GEMM of at most 8 per tile is never split.
inline constexpr int64_t kStreamKMinIters = 8;

struct ComputeParams {
  double peak_flops = 0;       // bf16 dense FLOP/s
  double hbm_Bps = 0;          // achievable HBM bytes/s (peak * hbm_fraction)
  double gemm_fraction = 0;    // best achievable GEMM fraction of peak
  double gemm_sustained = 1;   // GEMMs (BF16, FP8) in a long chain over the same in bursts (specs.h)
  // The job's slowest GPU's sustained GEMM rate over the median GPU's (SlowestGpuFraction): the
  // rate every synchronous step runs its GEMMs at. 1 for one GPU or an unmeasured spread.
  double slowest_gpu = 1;
  double attention_fraction = 0;
  double launch_s = 0;
  int64_t sms = 1;
  double fp8_peak_flops = 0;   // FP8 dense FLOP/s (0: no FP8 tensor cores)
  double gemm_fp8_fraction = 0;  // best achievable FP8 GEMM fraction of the FP8 peak (0: unknown)
  // cuDNN's fused attention (TransformerEngine's FusedAttention) has a measured speed here:
  // Hopper (CudnnAttentionSpeedOverFa2). Elsewhere a te-fused workload is priced as FA2.
  bool cudnn_attention_measured = false;
  // GEMM tails go to CUTLASS's stream-K scheduler (GemmTileSchedule): Hopper, where it was
  // measured. Elsewhere whole waves, as NVIDIA's guide measures cuBLAS on A100.
  bool stream_k = false;
  // Measured shapes (calibration), sorted; null when uncalibrated.
  std::shared_ptr<const std::vector<GemmEfficiency>> gemm_table;
};

/// The achieved fraction of peak for one GEMM: the measured value when the calibration table
/// has the shape, else gemm_fraction x the tile/wave quantisation model; either x gemm_sustained
/// (both are burst measurements) x slowest_gpu (both are a median GPU's).
double GemmEfficiencyFor(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch);

/// The compute parameters of one GPU of `c` in a job of `gpus` GPUs (slowest_gpu).
ComputeParams ComputeParamsFor(const Cluster& c, int64_t gpus = 1);

/// E[max of n independent standard normals] (0 for n <= 1): 1/sqrt(pi) for 2, 3/(2 sqrt(pi))
/// for 3, 1.5388 for 10, 3.2414 for 1000 (Harter 1961, "Expected values of normal order
/// statistics", Biometrika 48). By quadrature of n x phi(x) Phi(x)^(n-1).
double ExpectedMaxOfStandardNormals(int64_t n);

/// The slowest of `gpus` GPUs' sustained GEMM rate over the median GPU's, the GPUs' rates drawn
/// from a normal distribution of relative standard deviation `spread` (efficiency.gemm_gpu_spread):
///   1 - spread x E[max of gpus standard normals]
/// A synchronous training step runs at its slowest GPU's pace: every GPU waits for it at each
/// blocking collective (mamf-finder-all-gpus.py, stas00/ml-engineering @0359db8: "the slowest GPU,
/// which synchronous training runs at"). The sustained fraction and the GEMM table price a median
/// GPU (mamf-finder's table reports the node's median GPU). Measured GPU by GPU on one node
/// (compute/accelerator/README.md @0359db8, "How precise these numbers are"): 8 H200 at the same
/// 685-688 W sustained 745-765 TFLOPS, median 755; 8 B200 1421-1460, median 1439. The spread is
/// the one that makes the slowest of 8 the measured slowest: (1 - 745/755) / E[max of 8] for
/// H200. Clamped at 0.5: a spread that large is not a lottery.
double SlowestGpuFraction(double spread, int64_t gpus);

/// Tile x wave quantisation efficiency of `batch` m x n outputs on `sms` SMs, in (0, 1].
double GemmShapeEfficiency(int64_t m, int64_t n, int64_t sms, int64_t batch = 1);

/// How the tiles of a GEMM are spread over the SMs. Data-parallel (one CTA per output tile, whole
/// waves) unless CUTLASS's stream-K heuristic takes the tail (CUTLASS v3.4
/// include/cutlass/gemm/kernel/tile_scheduler_params.h, PersistentTileSchedulerSm90StreamKParams::
/// get_num_sk_tiles / get_num_sk_units; Osama et al., "Stream-K", PPoPP 2023): the last wave is
/// partial and under half full and a tile has more than kStreamKMinIters K iterations. Then the
/// last full wave and the tail (all tiles when there is no full wave) are stream-K tiles whose
/// K iterations are split evenly over min(SMs, iterations / 8) CTAs after the data-parallel
/// waves. Measured on the lent H100 (data/measurements, 2026-12-05): the weight-gradient GEMMs
/// of hidden 768-896 with 36-266 output tiles and K 4096-8192 ran at 0.55-0.99 of the full-wave
/// rate where whole waves priced them at 0.27-0.67; over its 54 GEMMs the shape model's error
/// went from 16.9% MAPE (bias +6.6%) to 9.2% (+0.8%). `stream_k` false: whole waves only.
struct GemmTiling {
  double efficiency = 1.0;  // useful MACs over SMs x time, tile padding included, in (0, 1]
  double stream_k_units = 0;  // CTAs sharing the stream-K tiles' K loops; 0: data-parallel
};
GemmTiling GemmTileSchedule(int64_t m, int64_t n, int64_t k, int64_t sms, int64_t batch = 1,
                            int64_t element_bytes = 2, bool stream_k = true);

/// What a stream-K schedule adds to a GEMM's time: CUTLASS's initialize_workspace zeroes the
/// tiles' barrier workspace (one more launch), and each stream-K CTA writes one partial fp32
/// accumulator tile that its tile's finishing CTA reads back (priced at HBM bandwidth, an upper
/// bound: partials may stay in L2). 0 for a data-parallel schedule.
double StreamKFixupTime(const ComputeParams& p, const GemmTiling& t);

struct KernelTime {
  double time_s = 0;
  double flops = 0;
};

/// C[m,n] = A[m,k] B[k,n] in bf16, `batch` independent copies (batched GEMM).
KernelTime GemmTime(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch = 1);
/// The same GEMM with FP8 inputs (BF16 output): the FP8 dense peak x gemm_fp8_fraction x the same
/// tile/wave quantisation x gemm_sustained (mamf-finder's FP8 MSMF/MAMF on H200 and B200 match
/// its BF16 ones within 0.5%: one power limit); 1-byte operands for the bandwidth floor. The
/// calibration table holds BF16 shapes and is not used. Requires fp8_peak_flops and
/// gemm_fp8_fraction > 0.
KernelTime Fp8GemmTime(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch = 1);
/// Throughput of a FlashAttention generation relative to FlashAttention-2 on the same GPU (a
/// cluster's attention_peak_fraction is FA2's, fwd+bwd). 1: 0.5, the FA2 paper's "around 2x
/// speedup compared to FlashAttention" (Dao 2023, arXiv 2307.08691, abstract; Sec. 4.1 gives
/// 1.7-3.0x over FlashAttention and 1.3-2.5x over its Triton port, which llm-foundry used).
/// 3: 1.5, the lower bound FA3 reports over FA2 on H100 for both forward (1.5-2.0x) and
/// backward (1.5-1.75x) (Shah et al. 2024, arXiv 2407.08608). 2 (and anything else): 1.
double FlashSpeedRelativeToFa2(int version);
/// The head dim FlashAttention's kernel runs for a head of `d`: FlashAttention-2 is compiled for
/// 32, 64, 96, 128, 160, 192, 224 and 256 and a call takes the smallest that holds its head
/// (FWD_HEADDIM_SWITCH, pytorch/pytorch aten/src/ATen/native/transformers/cuda/flash_attn/
/// static_switch.h @1383ac0, PyTorch's copy of flash-attn 2), computing the padded width and
/// discarding it. FlashAttention-1 (32, 64, 128) and the Triton port (the next power of two) round
/// MPT-30B's 112 to 128 the same way; FlashAttention-3's coarser set (64, 96, 128, 192, 256) is
/// not modelled apart. `d` itself above 256 (no kernel).
int64_t FlashKernelHeadDim(int64_t d);
/// The share of a FlashAttention kernel's work that its FLOP count covers: d / FlashKernelHeadDim(d).
double FlashHeadDimEfficiency(int64_t d);
/// FlashAttention's tiling at finite sequence length, against its long-sequence rate (a
/// cluster's attention_peak_fraction). A kernel walks each (micro-batch, head) in 128-row query
/// blocks over 128-column key blocks and pays a fixed cost per query block it visits (loading
/// the block, writing the output and the softmax statistics, the backward's epilogues), worth
/// k0 = kFlashQueryBlockOverhead key-block iterations; a causal kernel also runs its diagonal
/// blocks whole though the FLOP count takes half of each. In 128 x 128 blocks: `useful` the
/// blocks the FLOP count covers, `diagonal` the halves run beyond it, `visits` the query blocks
/// visited:
///   efficiency = useful / (useful + diagonal + k0 x visits)
/// One causal pass over n = seq / 128 blocks: n^2/2, n/2, n, i.e. n / (n + 1 + 2 k0); a
/// non-causal one: n^2, 0, n, i.e. n / (n + k0). (Context parallelism: context.h.)
/// k0 is least squares on NVIDIA's cudnn-frontend benchmark of PyTorch's FlashAttention-2 on
/// GH100 (benchmark/benchmark_results.csv @505fcfe: head dim 128, 16 heads, 16384 tokens per
/// call, seq 4096-65536, causal and not, forward + backward) with the asymptote fitted beside it:
/// 3.55 key blocks, the asymptote 331.7 TFLOPS (the FA2 paper's 335 within 1%), every row
/// within 2.5% (tests/costmodel/compute_test.cc holds the rows).
inline constexpr double kFlashBlock = 128.0;
inline constexpr double kFlashQueryBlockOverhead = 3.55;
double FlashTileEfficiency(double useful, double diagonal, double visits);
/// One causal (or non-causal) pass over `seq` keys per query.
double FlashPassEfficiency(double seq, bool causal);
/// Whether `gpu_name` is a Hopper part (H100, H200, H800, H20, GH200): FlashAttention-3 runs
/// only there.
bool IsHopperGpu(std::string_view gpu_name);
/// Whether the workload's attention kernel runs on `gpu_name` (FlashAttention-3: Hopper only).
bool AttentionRunsOn(const Workload& w, std::string_view gpu_name);

/// cuDNN's fused attention (what TransformerEngine's DotProductAttention runs on Hopper:
/// `get_attention_backend` prefers FusedAttention on compute capability 9.0+, transformer_engine/
/// pytorch/attention/dot_product_attention/utils.py @002a3e5) over PyTorch's FlashAttention-2 at
/// the same sequence length, forward + backward TFLOPS, from NVIDIA's cudnn-frontend benchmark on
/// GH100 at 1980 MHz, head dim 128, 16 heads, 16384 tokens per call (benchmark/
/// benchmark_results.csv @505fcfe, the rows FlashTileEfficiency is fitted on): causal 1.77x at
/// 4096 keys falling to 1.58x at 65536, non-causal 1.81x to 1.67x. Interpolated in log(keys)
/// between the measured lengths, held at the ends (a shorter call takes 4096's ratio).
double CudnnAttentionSpeedOverFa2(double keys, bool causal);
inline constexpr double kCudnnBenchSeq[] = {4096, 8192, 16384, 32768, 65536};
// cudnn BF16 (TFlops/s fwd + bwd) over pytorch BF16 (TFlops/s fwd + bwd), per row of the CSV.
inline constexpr double kCudnnOverFa2Causal[] = {467.9392251734923 / 264.4746092756496,
                                                 490.27251570807965 / 289.5800342073893,
                                                 520.2583778032041 / 310.5321955338218,
                                                 519.6405324459428 / 324.81276931149955,
                                                 520.3824870851007 / 328.50319349561096};
inline constexpr double kCudnnOverFa2NonCausal[] = {550.1484627007782 / 303.74170280246364,
                                                    563.6834495118723 / 316.55274512148907,
                                                    564.4501969340928 / 321.27920765691954,
                                                    556.0288630093239 / 322.17920925495895,
                                                    552.920447817744 / 330.2480740982632};

/// A bandwidth-bound kernel moving `bytes` through HBM.
double MemoryBoundTime(const ComputeParams& p, double bytes);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_COMPUTE_H_
