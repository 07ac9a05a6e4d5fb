// File: costmodel/specs.h
// The plain value types every part of meshplan computes on: a transformer Model, a GPU Cluster,
// a parallel Layout and the Workload (GPU count, global batch, sequence length, precision
// choices). Parsing and validation live in spec_io.h; these are just validated data.
// Units are in the field names: _gib (2^30 bytes), _GBps (1e9 B/s), _Gbps (1e9 bit/s), _us.
#ifndef MESHPLAN_COSTMODEL_SPECS_H_
#define MESHPLAN_COSTMODEL_SPECS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshplan::costmodel {

enum class Activation { kGelu, kSwiglu, kRelu };
enum class Norm { kLayerNorm, kRmsNorm };
enum class Position { kLearned, kRope, kAlibi };

struct Biases {
  bool qkv = false;       // bias on the Q, K, V projections
  bool attn_out = false;  // bias on the attention output projection
  bool mlp = false;       // biases on the MLP matmuls
};

/// Mixture of experts. experts == 0 means a dense MLP (the other fields are then 0 or empty).
/// An MoE layer holds `experts` routed experts (each a gated or plain MLP of expert_ffn), of
/// which a token uses experts_per_token (top-k), plus `shared_experts` experts of
/// shared_expert_ffn that every token uses (DeepSeek n_shared_experts, Qwen2-MoE's shared
/// expert), and a router h x experts (+ a bias of `experts` when router_bias: DeepSeek-V3's
/// e_score_correction_bias). Layers listed in dense_layers have a dense MLP of Model::ffn instead
/// (DeepSeek first_k_dense_replace, Qwen mlp_only_layers / decoder_sparse_step).
struct Moe {
  int64_t experts = 0;
  int64_t experts_per_token = 0;
  int64_t expert_ffn = 0;
  int64_t shared_experts = 0;
  int64_t shared_expert_ffn = 0;    // each shared expert's FFN size (0 when shared_experts is 0)
  bool shared_expert_gate = false;  // Qwen2-MoE: sigmoid(h x 1 gate) scales the shared expert
  bool router_bias = false;
  std::vector<int64_t> dense_layers;  // 0-based, ascending
  bool dense() const { return experts == 0; }
  int64_t moe_layers(int64_t layers) const {
    return dense() ? 0 : layers - static_cast<int64_t>(dense_layers.size());
  }
  bool operator==(const Moe&) const = default;
};

/// Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434 section 2.1; HF transformers
/// modeling_deepseek_v2.py / modeling_deepseek_v3.py DeepseekV3Attention): queries through a
/// rank-q_lora_rank bottleneck (0: a full q_proj), keys and values through a shared latent of
/// kv_lora_rank plus one decoupled RoPE key of qk_rope_head_dim shared by all heads. A head's
/// query/key is qk_nope_head_dim + qk_rope_head_dim wide, its value v_head_dim.
/// kv_lora_rank == 0 means ordinary multi-head / grouped-query attention.
struct Mla {
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool enabled() const { return kv_lora_rank > 0; }
  bool operator==(const Mla&) const = default;
};

struct Model {
  std::string name;
  std::string family;
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn = 0;
  int64_t vocab = 0;
  int64_t max_seq = 0;
  Activation activation = Activation::kGelu;
  Norm norm = Norm::kLayerNorm;
  bool norm_bias = false;
  bool tied_embeddings = false;
  Biases biases;
  Position position = Position::kRope;
  bool dropout = false;
  Moe moe;
  Mla mla;
  bool qk_norm = false;        // RMSNorm over each head's query and key (Qwen3 q_norm / k_norm)
  // A learned sink logit per head in every layer's softmax (gpt-oss GptOssAttention.sinks).
  bool attention_sinks = false;
  // Sliding-window attention (Mistral, Phi-3, Qwen use_sliding_window): keys further back than
  // this many tokens are masked in some or all layers; 0: none. Not costed: a sequence longer
  // than the window is refused where a cost is asked for (see costable.h).
  int64_t sliding_window = 0;
  // DeepSeek-V3 multi-token-prediction modules (num_nextn_predict_layers): not part of the
  // published total (DeepSeek README_WEIGHTS.md: 671B main model + MTP), not counted.
  int64_t mtp_layers = 0;
  std::optional<int64_t> params_published;  // exact published total, when one exists
  std::vector<std::string> sources;
};

struct PeakTflops {
  double fp32 = 0, tf32 = 0, bf16 = 0, fp16 = 0, fp8 = 0;  // dense, per GPU
};

struct Gpu {
  std::string name;
  PeakTflops peak_tflops;
  double hbm_gib = 0;
  double hbm_GBps = 0;
  int64_t sms = 0;
};

/// How a node's GPUs reach each other: all through NVSwitch (one NVLink domain: DGX, HGX,
/// GB200 NVL72), in NVLink-bridged groups (bridge_gpus each, PCIe between groups), or over PCIe
/// alone. Past its NVLink domain a ring inside the node runs over PCIe, as NCCL's graph does.
enum class IntraTopology { kNvSwitch, kNvlinkBridge, kPcie };

struct IntraLink {
  std::string name;
  double GBps_per_gpu = 0;  // unidirectional NVLink bandwidth of one GPU
  double latency_us = 0;    // extra per-hop latency beyond NCCL's protocol constants
  // Extra per NVLink hop of a ring or tree for the LL128 and Simple protocols (calibrated; 0
  // uncalibrated), the NVLink side of Fabric::bulk_latency_us: each hop holds a pipeline chunk
  // in flight, which grows with each rank's share of the message (bytes / ranks) until the
  // protocol's chunk reaches its largest size at bulk_saturation_mib (0: at any size; NVIDIA/nccl
  // src/collectives/device/all_reduce.h @5d3ab08 runRing: realChunkSize = min(chunkSize,
  // divUp(size, nChannels*nranks)), chunkSize = bytes per step x ALLREDUCE_CHUNKSTEPS). NCCL's
  // tuner prices a hop at a fixed latency (hwLat), so its alpha-beta line, fitted to one node's
  // nccl-tests, is too fast at mid sizes and too slow at large ones (README, "Pipeline chunks
  // on NVLink").
  double bulk_latency_us = 0;
  double bulk_saturation_mib = 0;
  bool nvls = false;        // NVLink SHARP (NVSwitch reductions) available
  IntraTopology topology = IntraTopology::kNvSwitch;
  int64_t bridge_gpus = 0;        // kNvlinkBridge: GPUs per bridged group
  double pcie_busbw_GBps = 0;     // kNvlinkBridge, kPcie: ring busbw across the node over PCIe
  /// GPUs that reach each other over NVLink: the node, a bridged group, or 1 over PCIe alone.
  int64_t NvlinkDomain(int64_t gpus_per_node) const {
    return topology == IntraTopology::kNvSwitch ? gpus_per_node
           : topology == IntraTopology::kNvlinkBridge ? bridge_gpus : 1;
  }
};

/// The inter-node transport. NCCL drives InfiniBand and RoCE through the same IB-verbs plugin
/// (src/transport/net_ib.cc) and its tuner has one NET row for both (src/graph/tuning.cc), so
/// they are priced alike; what differs on a real fabric goes through network_fraction and
/// latency_us (calibrate).
enum class Transport { kInfiniband, kRoce };

struct Node {
  int64_t gpus_per_node = 0;
  IntraLink intra;
  // Achievable host <-> GPU copy bandwidth of one GPU, per direction (PCIe or NVLink-C2C);
  // 0: not given (activation offload is then refused). Prices Layout::cpu_offload_layers.
  double host_GBps_per_gpu = 0;
  // System memory of the node per GPU, GiB (the datasheet's total / gpus_per_node): where
  // offloaded activations live. 0: not given (offload is not checked against it).
  double host_gib_per_gpu = 0;
};

struct Fabric {
  std::string name;
  Transport transport = Transport::kInfiniband;
  int64_t nics_per_node = 0;  // shared by the node's GPUs: 2 NICs per 8 GPUs give each a quarter
  double nic_Gbps = 0;
  double latency_us = 0;          // extra per inter-node hop (NCCL's graph latencyInter)
  // Extra per inter-node hop for the LL128 and Simple protocols (calibrated; 0 uncalibrated):
  // NCCL's hwLat NET rows undershoot what mid-size messages measure on these fabrics. A hop's
  // share grows in proportion to the message up to bulk_saturation_mib, as a pipeline chunk
  // does until it reaches its largest size.
  double bulk_latency_us = 0;
  double bulk_saturation_mib = 0;  // message size from which a hop pays all of it (0: any size)
  double oversubscription = 1.0;  // >= 1; divides inter-node bandwidth
};

/// The smallest per-channel point-to-point cap a cluster or profile may give (0: no cap).
inline constexpr double kMinP2pChannelGBps = 1.0;
/// What is wrong with `GBps` as a per-channel point-to-point cap (collectives.h P2pTime divides
/// by it), for the cluster reader and the profile reader alike; empty when it is one.
inline std::string P2pChannelCapProblem(double GBps) {
  if (GBps <= 0 || GBps >= kMinP2pChannelGBps) return "";
  return "must be 0 (no per-channel cap) or at least 1 GB/s, got " + std::to_string(GBps);
}

/// Achieved fractions of peak: uncalibrated defaults, each with a source in the cluster file.
struct Efficiency {
  double gemm_peak_fraction = 0;
  double attention_peak_fraction = 0;
  double hbm_fraction = 0;
  double nvlink_fraction = 0;
  double network_fraction = 0;
  double kernel_launch_us = 0;
  double overlap_slowdown = 1.0;
  // Optional: achieved fraction of the FP8 dense peak for the best GEMM shape (0: not measured
  // for this GPU, and FP8 runs are refused rather than priced at the BF16 fraction).
  double gemm_fp8_peak_fraction = 0;
  // Optional in cluster files; calibration fits them.
  double collective_launch_us = 0;  // fixed cost of every collective call (launch, sync)
  // Benchmark harnesses only, never a training step (calibration fits them so that they do not
  // leak into collective_launch_us): one thread that drives N GPUs in an NCCL group (nccl-tests
  // -g N) spends N x group_launch_us of host time issuing a call, a floor under its time as the
  // GPUs run meanwhile; a torch.distributed timing loop adds torch_call_us (Python, dispatch,
  // the work object).
  double group_launch_us = 0;
  double torch_call_us = 0;
  double nvls_fraction = 0.85;      // NVLS all-reduce: NCCL's Hopper nvlsEfficiency
  double nvls_tree_fraction = 0.85; // NVLS-tree all-reduce across nodes, of the hierarchical bound
  double reduce_scatter_fraction = 1.0;  // reduce-scatter bandwidth relative to all-gather's
  double all_reduce_fraction = 1.0;      // all-reduce bandwidth relative to the ring model's
  // GEMMs (BF16 and FP8) run back to back for many seconds (a training step) over the same
  // shapes timed in short bursts (the GEMM table, gemm_peak_fraction, gemm_fp8_peak_fraction):
  // below 1 where a long chain runs into the GPU's power limit and its clocks drop. Measured by
  // meshplan-validate --sustain-s, or published as mamf-finder's MSMF over its MAMF
  // (data/reference/sustained-gemm.json); 1 where neither exists.
  double gemm_sustained_fraction = 1.0;
  // The spread of that sustained rate between GPUs of one part: its standard deviation over the
  // median GPU's (the silicon lottery: at the same power cap a better chip holds a higher clock).
  // A synchronous job runs at its slowest GPU's pace (compute.h SlowestGpuFraction); 0 where no
  // node of the GPU has been measured GPU by GPU.
  double gemm_gpu_spread = 0;
  double step_sync_us = 0;               // skew a blocking TP collective waits in a real step
  // NCCL point-to-point (collectives.h P2pTime; calibrated, optional in cluster files): the
  // bandwidth one p2p channel carries (0: no per-channel cap), the largest part of a peer's
  // message on one channel, and all-to-all's share of the links.
  double p2p_channel_GBps = 0;
  double p2p_part_mib = 16.0;  // NCCL: stepSize 512 KiB x 32 (src/enqueue.cc addP2pToPlan)
  double alltoall_fraction = 1.0;
};

/// Framework memory overhead, shown as its own line in every report.
struct Overhead {
  double cuda_context_gib = 0;
  double nccl_gib = 0;
  double allocator_fraction = 0;
  double reserve_gib = 0;
};

/// A measured GEMM: achieved fraction of the bf16 dense peak for one shape (calibration).
struct GemmEfficiency {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  double efficiency = 0;
  bool operator<(const GemmEfficiency& o) const {
    return m != o.m ? m < o.m : n != o.n ? n < o.n : k != o.k ? k < o.k : batch < o.batch;
  }
};

struct SourceNote {
  std::string field;
  std::string source;
};

struct Cluster {
  std::string name;
  Gpu gpu;
  Node node;
  Fabric fabric;
  Efficiency efficiency;
  Overhead overhead;
  std::vector<SourceNote> sources;
  std::string calibration;                  // profile applied, empty when uncalibrated
  std::vector<std::string> defaulted;       // fields the cluster file left out (defaults applied)
  std::vector<GemmEfficiency> gemm_table;   // sorted; measured shapes override the shape model
};

/// Activation recompute. kSelective: the attention core (Korthikanti et al. 2022; Megatron-LM
/// --recompute-granularity selective). kFull: whole layers, all of them or some (Layout::ac_freq,
/// Layout::recompute_num_layers). kOp: torchtitan's op-level selective AC
/// (torchtitan/models/llama3/infra/parallelize.py _apply_ac_to_transformer_block, "op"): per
/// layer the outputs of the attention kernel, the reduce-scatters and every other matmul (the
/// 1st, 3rd, 5th, 7th: wq, wv, w1, w2) are saved and the rest is recomputed (memory.h).
enum class Recompute { kNone, kSelective, kFull, kOp };
/// Megatron-Core's --recompute-modules, with recompute=selective (megatron/core/transformer/
/// transformer_config.py recompute_modules, transformer_layer.py and moe/moe_layer.py @002526d):
/// the submodules whose activations are dropped in forward and recomputed in backward. Bits of
/// Layout::recompute_modules; memory.cc and kernels.cc say what each drops and re-runs.
enum RecomputeModule : uint8_t {
  kRecomputeCoreAttn = 1,        // "core_attn" (Megatron's default): the attention core
  kRecomputeLayernorm = 2,       // "layernorm": the norms that are modules of their own (TE fuses
                                 // a dense layer's two into its linears: the MoE layers' pre-MLP norm)
  kRecomputeMlp = 4,             // "mlp": a dense layer's MLP
  kRecomputeMoeAct = 8,          // "moe_act": the experts' activation function (output discarded)
  kRecomputeMoe = 16,            // "moe": the MoE layer (router, dispatch, experts, combine, shared experts)
  kRecomputeSharedExperts = 32,  // "shared_experts"
};
inline constexpr uint8_t kDefaultRecomputeModules = kRecomputeCoreAttn;
inline constexpr int kNumRecomputeModules = 6;
/// Megatron's name of module bit i (1 << i), in bit order.
std::string_view RecomputeModuleName(int i);
/// The bits' names in bit order, joined by `sep` ("core_attn+mlp" in the layout text).
std::string RecomputeModulesText(uint8_t modules, std::string_view sep);
enum class Recipe { kMegatron, kFsdp2 };
/// Pipeline schedule (costmodel/pipeline.h): 1F1B (PipeDream-Flush, Narayanan et al. SC21),
/// Megatron's interleaved 1F1B (vpp > 1 model chunks per rank) and ZB-H1 (Qi et al. 2023,
/// "Zero Bubble Pipeline Parallelism", arXiv 2401.10241: 1F1B's memory, the weight-gradient
/// GEMMs moved into the drain).
enum class Schedule { k1F1B, kInterleaved, kZeroBubble };
/// How context parallelism exchanges keys and values (costmodel/context.h), named as
/// Megatron-Core's --cp-comm-type (megatron/core/transformer/custom_layers/
/// transformer_engine.py, TransformerEngine attention.py AttnFuncWithCPAndKVP2P /
/// AttnFuncWithCPAndKVAllGather / AttnFuncWithCPAndQKVOA2A): p2p is ring attention (KV blocks
/// passed round the CP ring, overlapped with blockwise attention; torchtitan's "alltoall" rotate
/// method is this ring too), all_gather gathers K and V before attention (torchtitan's
/// "allgather" rotate method), a2a is Ulysses (all-to-all of q, k, v and of the output).
enum class CpComm { kP2p, kAllGather, kA2a };

/// A parallel layout. fsdp == 0 means "fill in from the GPU count" (see ResolveLayout).
struct Layout {
  int64_t tp = 1;
  bool sp = false;
  int64_t fsdp = 0;
  int64_t replicate = 1;
  int zero = 3;  // ZeRO stage over the FSDP shard group: 1, 2 or 3
  int64_t mbs = 1;
  Recompute recompute = Recompute::kNone;
  // Full recompute of some layers only (0: every layer). ac_freq: torchtitan's layer-level
  // selective AC (selective_ac_option = N: every N-th layer of the rank is checkpointed).
  // recompute_num_layers: Megatron-LM --recompute-method block --recompute-num-layers N (the
  // first N layers of each pipeline stage). At most one of them, with recompute=full.
  int64_t ac_freq = 0;
  int64_t recompute_num_layers = 0;
  // recompute=selective: the RecomputeModule bits (Megatron's --recompute-modules; default core_attn).
  uint8_t recompute_modules = kDefaultRecomputeModules;
  // Activation offload (Megatron-Core --cpu-offloading --cpu-offloading-num-layers N,
  // transformer_config.py cpu_offloading_num_layers @002526d): the saved activations of N
  // layers are copied to host memory after their forward and back before their backward,
  // overlapped with the neighbouring layers' compute (memory.cc, evaluate.cc). 0: none.
  int64_t cpu_offload_layers = 0;
  // Micro-batch-level recompute (Korthikanti et al. 2022, Appendix C; Megatron-Core
  // num_microbatches_with_partial_activation_checkpoints, NeMo
  // num_micro_batches_with_partial_activation_checkpoints; pipeline_parallel/schedules.py
  // @002526d): in each window of a pipeline rank's outstanding backward passes (its warm-up
  // forwards + 1; pipeline.h PartialCheckpointWindow) the first N micro-batches keep all their
  // activations and skip recomputation, the rest recompute as `recompute` says. pp > 1 with
  // recompute=selective or full (every layer). 0: off.
  int64_t partial_ckpt_mbs = 0;
  Recipe recipe = Recipe::kFsdp2;
  int64_t pp = 1;   // pipeline stages (outermost mesh dimension)
  int64_t vpp = 1;  // virtual stages (model chunks) per pipeline rank; > 1 only interleaved
  Schedule schedule = Schedule::k1F1B;
  // Uneven split: transformer layers of the first / last stage (Megatron
  // --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers); 0: even split.
  int64_t pp_first_layers = 0;
  int64_t pp_last_layers = 0;
  int64_t cp = 1;  // context-parallel degree (costmodel/context.h); inside fsdp, outside tp
  CpComm cp_comm = CpComm::kP2p;  // Megatron-Core's default --cp-comm-type
  // Causal load balancing: each rank holds chunks i and 2cp-1-i of 2cp (Megatron-Core
  // get_batch_on_this_cp_rank, torchtitan's _HeadTailLoadBalancer). Off: contiguous chunks, the
  // last rank does 2 - 1/cp times the average causal attention work.
  bool cp_balance = true;
  // Expert-parallel degree of an MoE model's expert layers (costmodel/experts.h): carved out of
  // fsdp x cp (Megatron-Core's expert_model_parallel_size inside the data x context group,
  // torchtitan's ep mesh borrowed from dp_shard x cp): each rank of an ep group holds
  // experts / ep routed experts, and the experts' states shard over the remaining
  // fsdp x cp / ep ranks (the expert-data-parallel group).
  int64_t ep = 1;
  int64_t dp() const { return fsdp * replicate; }
  /// The group parameters, gradients and optimizer states shard over: fsdp x cp (torchtitan
  /// parallel_dims.py dp_shard_cp; Megatron's distributed optimizer uses the dp x cp group).
  int64_t shard() const { return fsdp * cp; }
  int64_t gpus() const { return tp * pp * cp * fsdp * replicate; }
  bool operator==(const Layout&) const = default;
};

/// Whether `l` recomputes Megatron module `mod` (recompute=selective with that module).
inline bool Recomputes(const Layout& l, RecomputeModule mod) {
  return l.recompute == Recompute::kSelective && (l.recompute_modules & mod) != 0;
}

enum class Dtype { kFp32, kBf16 };

/// The precision of the linear layers' GEMMs (the attention core and the output head stay BF16).
enum class Precision { kBf16, kFp8 };
/// How FP8 scaling factors are computed and where the casts run. kTeDelayed: TransformerEngine's
/// DelayedScaling (Megatron-LM --fp8-format hybrid --fp8-recipe delayed, NeMo's default);
/// scales come from the amax history, so each cast is one fused cast(+transpose) kernel.
/// kTeTensorwise: TransformerEngine's Float8CurrentScaling (Megatron-LM --fp8-recipe tensorwise,
/// "per tensor current scaling"; megatron/core/transformer/transformer_config.py fp8_recipe
/// @002526d): each tensor's amax is computed before its cast (a second read), the norm before a
/// linear cannot write FP8 itself, and under sequence parallelism the column-parallel inputs'
/// and row-parallel output gradients' amax are all-reduced over the TP group
/// (TransformerEngine module/layernorm_linear.py, linear.py set_quantizer_amax_reduction_group).
/// kTorchaoTensorwise: torchao's Float8Linear with dynamic tensorwise scaling, as torchtitan runs
/// it (model.converters ["float8"], [float8] recipe_name "tensorwise", under torch.compile):
/// the high-precision input and weight are saved and cast again in backward
/// (torchao/float8/float8_linear.py matmul_with_hp_or_float8_args), the weight every
/// micro-batch unless FSDP gathers it in FP8 (enable_fsdp_float8_all_gather), no FP8 weight
/// copy is kept.
/// kTorchaoRowwise and kTorchaoRowwiseGwHp: torchao's rowwise recipes, as torchtitan names them
/// ([float8] recipe_name "rowwise", "rowwise_with_gw_hp"; pytorch/ao torchao/float8/config.py
/// @c6c388b Float8LinearConfig.from_recipe_name). rowwise: every operand scaled along the axis
/// its GEMM reduces over (AXISWISE), so the input, the weight and the output gradient are each
/// cast once per GEMM they feed, the output gradient twice; the forward GEMM runs PyTorch's
/// CUTLASS rowwise kernel (use_fast_accum), the two backward GEMMs cuBLAS's tensorwise kernel
/// with unit scales and the row and column scales applied to their outputs afterwards
/// (torchao/float8/float8_python_api.py addmm_float8_unwrapped: "The rowwise CUTLASS-based
/// kernel is so slow without fast-accum that we'd rather use the tensorwise cuBLAS-based kernel
/// and do the scaling manually afterwards"). rowwise_with_gw_hp: the weight-gradient GEMM in
/// bf16 on the saved bf16 input and output gradient, the data-gradient GEMM an FP8 one with
/// the weight scaled tensorwise. Neither gathers in FP8: FSDP's float8 all-gather "only supports
/// tensorwise scaling granularity" (config.py __post_init__), and torchtitan's float8 TP is
/// tensorwise only (parallelize.py enable_float8_tensorwise_tp).
enum class Fp8Recipe { kTeDelayed, kTeTensorwise, kTorchaoTensorwise, kTorchaoRowwise, kTorchaoRowwiseGwHp };
/// torchao's Float8Linear (any of its recipes) rather than TransformerEngine.
inline bool TorchaoFp8(Fp8Recipe r) {
  return r == Fp8Recipe::kTorchaoTensorwise || r == Fp8Recipe::kTorchaoRowwise || r == Fp8Recipe::kTorchaoRowwiseGwHp;
}
/// torchao's rowwise recipes: no FP8 gathers (FSDP or TP), casts per GEMM operand.
inline bool RowwiseFp8(Fp8Recipe r) { return r == Fp8Recipe::kTorchaoRowwise || r == Fp8Recipe::kTorchaoRowwiseGwHp; }

/// Framework behaviours that framework files (data/frameworks/*.json, "workload"), plan files and
/// reports ("inputs") spell alike: kWorkloadSwitches names each one's key and its two values, and
/// every reader and writer goes through that table (ReadWorkloadSwitches, WriteWorkloadSwitches).
struct WorkloadSwitches {
  // The framework's attention is TransformerEngine's fused attention (Megatron-Core, NeMo), which
  // runs cuDNN's kernel on Hopper and later: on Hopper priced at cuDNN's measured speed over
  // FlashAttention-2 (kernels.h TeFusedAttentionSpeed), elsewhere as FlashAttention of
  // flash_version, and the reports say which.
  bool te_attention = false;
  // The per-step data-parallel gradient reduction (the replicas' all-reduce, ZeRO-1's
  // reduce-scatter) runs after the whole backward of the last micro-batch, none of it behind
  // the backward: DeepSpeed's engine (engine.py backward: loss.backward(), then
  // allreduce_gradients), Megatron-LM without --overlap-grad-reduce. false: bucketed behind the
  // backward as layers finish (PyTorch DDP, Megatron-Core's overlap_grad_reduce), one layer's
  // bucket exposed.
  bool dp_reduce_after_backward = false;
  // ZeRO-1's parameter all-gather runs whole before the next forward (DeepSpeed's ZeRO-1 in its
  // optimizer step, Megatron-LM without --overlap-param-gather). false: bucket by bucket behind
  // the first forward (Megatron-Core's overlap_param_gather), one layer's bucket exposed.
  bool dp_gather_after_step = false;
  // How those per-step collectives are split into calls (costmodel/data_parallel.h DpBucketsFor).
  // true: Megatron-Core's DDP buckets, max(40,000,000, 1,000,000 x data-parallel size) parameters
  // each and one call per bucket, one bucket when the reduction is not overlapped. false: one
  // call, its bandwidth spread over the layers as they finish.
  bool dp_buckets_megatron_core = false;
  // Context parallelism runs PyTorch's context_parallel (torchtitan; context.h): cp ring steps
  // whichever way K and V arrive, partial outputs merged in fp32, dK and dV passed round the
  // ring in fp32. false: TransformerEngine's (Megatron-Core, NeMo).
  bool cp_torch = false;
  // A rank's local experts run one after another (Megatron-Core's SequentialMLP, which it builds
  // unless --moe-grouped-gemm is given: moe_grouped_gemm defaults to False) rather than as one
  // grouped GEMM (GroupedMLP / TEGroupedMLP, torchtitan's grouped_mm): each expert's GEMMs and
  // activation launch on their own, and its outputs are concatenated (kernels.cc moe_sequential).
  bool moe_sequential = false;
  // The data-parallel wrapper zeroes one contiguous gradient buffer at the start of every step
  // (Megatron-Core's DistributedDataParallel.zero_grad_buffer, "called at the beginning of each
  // training iteration": _ParamAndGradBuffer.reset, grad_data.zero_()): a write of every
  // parameter the rank holds, unsharded by data parallelism, in the gradient-reduce dtype
  // (memory.h GradBufferZeroBytes). false: gradients freed (PyTorch's zero_grad(set_to_none=True),
  // FSDP, DeepSpeed), nothing written.
  bool grad_buffer_zeroed = false;
  // Adam runs as separate elementwise kernels, one per operation, rather than one fused kernel
  // per tensor list: Composer's DecoupledAdamW (composer/optim/decoupled_weight_decay.py adamw,
  // a Python loop over the parameters: exp_avg.mul_().add_(), exp_avg_sq.mul_().addcmul_(),
  // sqrt, divide, add eps, param.addcdiv_()). Each reads and writes its operands through HBM
  // (memory.h OptimizerStepBytesPerParam). PyTorch's for-each AdamW runs nearly the same ops
  // over tensor lists (its first moment one lerp_), not priced: no framework file sets it.
  // false: a fused Adam (Apex / TransformerEngine FusedAdam, DeepSpeed's, torch fused=True).
  bool optimizer_per_op = false;
  // Every linear layer with a bias reduces its output gradient over the tokens in a kernel of its
  // own in backward, to form the bias's gradient: torch.nn.Linear (F.linear is addmm, whose
  // gradient for the broadcast bias autograd sums to the bias's shape: addmm's `self: grad` in
  // tools/autograd/derivatives.yaml, then sum_to in the engine's validate_outputs), a read of the
  // whole [tokens, out] gradient per layer (kernels.cc bias_grad). false: no separate pass
  // (TransformerEngine forms bias gradients in the kernels that already read the gradient: its
  // cast-transpose or the GEMM's epilogue), or the model has no biases.
  bool bias_grad_reduce = false;
  // The pipeline's stage-to-stage exchanges block (costmodel/pipeline.h BlockingProgram): each
  // one batch_isend_irecv + wait + torch.cuda.synchronize, so the rank computes nothing until it
  // is done and a send waits for its receiver to post. pp_p2p_blocking: under the 1F1B schedule
  // (Megatron-Core, megatron/core/pipeline_parallel/p2p_communication.py _communicate at
  // NVIDIA/Megatron-LM@00c2c0ad: batch_p2p_comm, which is `not overlap_p2p_comm`, and
  // overlap_p2p_comm is forced off without virtual stages; batch_p2p_sync defaults on; and
  // Megatron-LM 2022, megatron/p2p_communication.py @46c74b4, which always synchronizes).
  // pp_interleaved_blocking: under the interleaved one too (Megatron-LM 2022, the code of
  // Korthikanti et al. 2022; Megatron-Core with --no-overlap-p2p-communication). false: sends on
  // their own stream, waited for by their consumer only (torch.distributed.pipelining;
  // Megatron-Core's interleaved schedule with overlap_p2p_comm, its default).
  bool pp_p2p_blocking = false;
  bool pp_interleaved_blocking = false;
  // Without sequence parallelism each rank of a TP group sends 1/t of the stage's activation and
  // the receivers all-gather it over TP after the exchange (Megatron-LM 2022's
  // --scatter-gather-tensors-in-pipeline, on by default, skipped under sequence parallelism,
  // whose tensor is already the sequence shard: megatron/p2p_communication.py
  // split_tensor_into_1d_equal_chunks / gather_split_1d_tensor). Megatron-Core has no such option.
  bool pp_scatter_gather = false;
};

/// One switch of WorkloadSwitches as the JSON files spell it: `key` with `off` (false, the
/// default, never written) or `on` (true).
struct WorkloadSwitch {
  std::string_view key, off, on;
  bool WorkloadSwitches::*field;
};
inline constexpr WorkloadSwitch kWorkloadSwitches[] = {
    {"attention_kernel", "flash", "te-fused", &WorkloadSwitches::te_attention},
    {"dp_grad_reduce", "overlapped", "after_backward", &WorkloadSwitches::dp_reduce_after_backward},
    {"dp_param_gather", "overlapped", "before_forward", &WorkloadSwitches::dp_gather_after_step},
    {"dp_buckets", "per_layer", "megatron_core", &WorkloadSwitches::dp_buckets_megatron_core},
    {"cp_attention", "te", "torch", &WorkloadSwitches::cp_torch},
    {"moe_experts", "grouped", "sequential", &WorkloadSwitches::moe_sequential},
    {"grad_buffer", "set_to_none", "zeroed", &WorkloadSwitches::grad_buffer_zeroed},
    {"optimizer", "fused", "per_op", &WorkloadSwitches::optimizer_per_op},
    {"bias_grad", "fused", "reduce", &WorkloadSwitches::bias_grad_reduce},
    {"pp_p2p", "async", "blocking", &WorkloadSwitches::pp_p2p_blocking},
    {"pp_p2p_interleaved", "overlapped", "blocking", &WorkloadSwitches::pp_interleaved_blocking},
    {"pp_scatter_gather", "off", "on", &WorkloadSwitches::pp_scatter_gather},
};

struct Workload : WorkloadSwitches {
  int64_t gpus = 0;
  int64_t global_batch = 0;  // sequences per optimizer step
  int64_t seq = 0;           // tokens per sequence
  bool flash_attention = true;
  // FlashAttention generation when flash_attention: 1 (Dao et al. 2022, and its Triton port),
  // 2 (Dao 2023) or 3 (Shah et al. 2024, Hopper only). Prices the fused core (compute.h).
  int flash_version = 2;
  // PyTorch eager elementwise ops (no torch.compile, no fused kernels): RMSNorm, SwiGLU and
  // rotary embedding run as chains of separate ops (kernels.h EagerOp). false: fused kernels.
  bool eager_elementwise = false;
  // FSDP2's copies on the compute stream around each per-layer all-gather and reduce-scatter
  // (fully_shard: foreach_all_gather_copy_out, foreach_reduce_scatter_copy_in; evaluate.cc).
  // false: FSDP1, which gathers into the flat parameter its views read (llm-foundry).
  bool fsdp2_copies = true;
  Dtype reduce_dtype = Dtype::kFp32;  // gradient reduction dtype (FSDP2 MixedPrecisionPolicy)
  Precision precision = Precision::kBf16;
  Fp8Recipe fp8_recipe = Fp8Recipe::kTeDelayed;
  // Megatron-LM --fp8-param-gather (NeMo fp8_params=True): parameters kept in FP8, so the
  // distributed optimizer's parameter all-gather moves 1 byte per parameter, not 2.
  bool fp8_param_gather = false;
  bool allow_cross_node_tp = false;
  // MFU convention: false counts attention as non-causal (12 L a d s FLOPs per token: PaLM App.
  // B, torchtitan get_num_flop_per_token, meshplan's default); true halves it for causal masks
  // (the convention NVIDIA's performance tables use).
  bool mfu_causal = false;
  // Mixture of experts (costmodel/experts.h). Capacity factor: 0 is dropless (Megatron-Core's
  // default --moe-expert-capacity-factor None); > 0 caps each expert at capacity_factor x its
  // even share of the routed tokens, and with moe_pad_to_capacity every expert computes (and the
  // all-to-all carries) exactly that many (--moe-pad-expert-input-to-capacity).
  double moe_capacity_factor = 0;
  bool moe_pad_to_capacity = false;
  // Dropless routing: the busiest expert-parallel rank's routed tokens over the even share
  // (experts.h kDefaultMoeImbalance for its source). It sets the grouped GEMMs and the
  // all-to-all, which wait for the busiest rank.
  double moe_imbalance = 0;  // 0: the default
};

/// The precision policy: the bytes per element of each tensor role (issue 18). The memory
/// account, the model states of each recipe, FSDP's buffers, the optimizer step, every
/// collective's and send's payload, the fused kernels' and the FP8 casts' traffic and the
/// validation skeleton's sizes take their factor from here (PrecisionOf), so a new dtype for a
/// role changes this table. Left as literals: the eager PyTorch op chains (kernels.h EagerOp),
/// whose fp32 intermediates are each op's own, counted op by op where they are defined.
struct PrecisionPolicy {
  double activation = 2;  // activations: saved for backward, exchanged by TP, CP, EP and PP (bf16)
  double weight = 2;      // the weight a GEMM reads, what FSDP and ZeRO all-gather (bf16)
  double grad = 2;        // a gradient as backward writes it, before any reduction (bf16)
  double reduce = 4;      // a gradient as the data-parallel reduction moves it (Workload.reduce_dtype)
  double fp32 = 4;        // master weights, main gradients, Adam moments, softmax statistics,
                          // router probabilities, logits
  double mask = 1;        // a dropout mask element
  double fp8 = 1;         // an FP8 element (TransformerEngine's casts, --fp8-param-gather)
};
/// The policy of a workload: bf16 compute, fp32 states and statistics, its reduce dtype.
PrecisionPolicy PrecisionOf(const Workload& w);

std::string_view ToString(Activation a);
std::string_view ToString(Norm n);
std::string_view ToString(Position p);
std::string_view ToString(Recompute r);
std::string_view ToString(Recipe r);
std::string_view ToString(Schedule s);
std::string_view ToString(CpComm c);
std::string_view ToString(Dtype d);
std::string_view ToString(Precision p);
std::string_view ToString(Fp8Recipe r);
std::string_view ToString(IntraTopology t);
std::string_view ToString(Transport t);

/// Sequence parallelism's column-parallel inputs (QKV, FC1, the head): Megatron-LM (recipe
/// megatron) keeps their shards and all-gathers them again in backward (tensor.h); torchtitan's
/// DTensor plan (recipe fsdp2) keeps them gathered, whole (memory.h ActivationShape).
inline bool SpGathersInputAgain(const Layout& l) { return l.sp && l.recipe == Recipe::kMegatron; }
inline bool SpKeepsGatheredInput(const Layout& l) { return l.sp && l.tp > 1 && l.recipe == Recipe::kFsdp2; }
/// Megatron-LM's linears (recipe megatron, TP > 1) issue the input gradient's all-reduce (the
/// reduce-scatter under SP) asynchronously and run the weight-gradient GEMM beside it
/// (megatron/core/tensor_parallel/layers.py @000c4ac, LinearWithGradAccumulationAndAsyncCommunication
/// .backward; TransformerEngine's linears the same), an overlap meshplan does not price: it
/// counts those collectives exposed (tensor.h). A measured backward of such a layer holds
/// something the model leaves out, so calibration scores it and fits nothing on it.
inline bool TpBackwardOverlapsWgrad(const Layout& l) { return l.tp > 1 && l.recipe == Recipe::kMegatron; }
/// Compact text form: "tp=8,sp=on,fsdp=32,replicate=1,zero=3,mbs=1,recompute=selective,recipe=fsdp2".
std::string LayoutToText(const Layout& l);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_SPECS_H_
